//! A failed system call, named: the error type of the harness's own setup
//! calls (not of the calls under test, whose errno is a result).

/// System call `call` failed with `source`.
#[derive(Debug, thiserror::Error)]
#[error("{call}: {source}")]
pub struct CallFailed {
    /// The call ("mknodat", "io_uring_setup", "fork"...).
    pub call: &'static str,
    /// Its error.
    #[source]
    pub source: std::io::Error,
}

impl CallFailed {
    /// `call` failed with `source`.
    pub fn new(call: &'static str, source: std::io::Error) -> CallFailed {
        CallFailed { call, source }
    }

    /// `call` failed with the calling thread's errno (read right after it).
    pub fn last(call: &'static str) -> CallFailed {
        CallFailed::new(call, std::io::Error::last_os_error())
    }
}
