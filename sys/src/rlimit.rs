//! RLIMIT_FSIZE, the process-wide file size limit some scenarios run under.
//!
//! The limit belongs to the whole process (threads and io-wq workers share it),
//! so it is set only around work that owns the process: the `ringspec` command
//! and the dedicated `fsize_limit` test binary, never a test sharing a process
//! with others.

/// The soft RLIMIT_FSIZE of this process, `None` when unlimited.
pub fn fsize_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid rlimit to write to.
    if unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim) } != 0 {
        return None;
    }
    (lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur)
}

/// Ignores SIGXFSZ, so that a write past RLIMIT_FSIZE fails with EFBIG (what
/// the model predicts) instead of killing the process. Call it before any
/// limit is in force, inherited or set.
pub fn ignore_sigxfsz() {
    // SAFETY: SIG_IGN is a valid disposition for SIGXFSZ.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
}

/// Why RLIMIT_FSIZE could not be set.
#[derive(Debug, thiserror::Error)]
pub enum RlimitError {
    /// getrlimit(2) failed.
    #[error("getrlimit(RLIMIT_FSIZE): {0}")]
    Get(#[source] std::io::Error),
    /// The wanted soft limit is above the hard limit.
    #[error("RLIMIT_FSIZE {wanted} is above the hard limit {hard}")]
    AboveHard {
        /// The wanted soft limit.
        wanted: u64,
        /// The hard limit.
        hard: u64,
    },
    /// setrlimit(2) failed.
    #[error("setrlimit(RLIMIT_FSIZE): {0}")]
    Set(#[source] std::io::Error),
}

/// A soft RLIMIT_FSIZE in force while this guard lives; the previous limit is
/// restored when it drops. SIGXFSZ is ignored from the first guard on.
#[derive(Debug)]
pub struct FsizeLimit {
    previous: libc::rlimit,
}

impl FsizeLimit {
    /// Sets the soft limit to `bytes` (`None`: unlimited, up to the hard limit).
    pub fn set(bytes: Option<u64>) -> Result<FsizeLimit, RlimitError> {
        ignore_sigxfsz();
        let mut previous = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: previous is a valid rlimit to write to.
        if unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut previous) } != 0 {
            return Err(RlimitError::Get(std::io::Error::last_os_error()));
        }
        let want = libc::rlimit {
            rlim_cur: bytes.unwrap_or(libc::RLIM_INFINITY).min(previous.rlim_max),
            rlim_max: previous.rlim_max,
        };
        if bytes.is_some_and(|b| b > previous.rlim_max) {
            return Err(RlimitError::AboveHard {
                wanted: bytes.unwrap_or(0),
                hard: previous.rlim_max,
            });
        }
        // SAFETY: want is a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &want) } != 0 {
            return Err(RlimitError::Set(std::io::Error::last_os_error()));
        }
        Ok(FsizeLimit { previous })
    }
}

impl Drop for FsizeLimit {
    fn drop(&mut self) {
        // SAFETY: previous came from getrlimit.
        unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &self.previous) };
    }
}
