//! What the running kernel's io_uring offers (IORING_REGISTER_PROBE).

use model::OpKind;
use serde::Serialize;

/// Opcode names by number, as in include/uapi/linux/io_uring.h (6.19).
pub const OPCODE_NAMES: [&str; 65] = [
    "NOP",
    "READV",
    "WRITEV",
    "FSYNC",
    "READ_FIXED",
    "WRITE_FIXED",
    "POLL_ADD",
    "POLL_REMOVE",
    "SYNC_FILE_RANGE",
    "SENDMSG",
    "RECVMSG",
    "TIMEOUT",
    "TIMEOUT_REMOVE",
    "ACCEPT",
    "ASYNC_CANCEL",
    "LINK_TIMEOUT",
    "CONNECT",
    "FALLOCATE",
    "OPENAT",
    "CLOSE",
    "FILES_UPDATE",
    "STATX",
    "READ",
    "WRITE",
    "FADVISE",
    "MADVISE",
    "SEND",
    "RECV",
    "OPENAT2",
    "EPOLL_CTL",
    "SPLICE",
    "PROVIDE_BUFFERS",
    "REMOVE_BUFFERS",
    "TEE",
    "SHUTDOWN",
    "RENAMEAT",
    "UNLINKAT",
    "MKDIRAT",
    "SYMLINKAT",
    "LINKAT",
    "MSG_RING",
    "FSETXATTR",
    "SETXATTR",
    "FGETXATTR",
    "GETXATTR",
    "SOCKET",
    "URING_CMD",
    "SEND_ZC",
    "SENDMSG_ZC",
    "READ_MULTISHOT",
    "WAITID",
    "FUTEX_WAIT",
    "FUTEX_WAKE",
    "FUTEX_WAITV",
    "FIXED_FD_INSTALL",
    "FTRUNCATE",
    "BIND",
    "LISTEN",
    "RECV_ZC",
    "EPOLL_WAIT",
    "READV_FIXED",
    "WRITEV_FIXED",
    "PIPE",
    "NOP128",
    "URING_CMD128",
];

/// The mainline opcode that runs an op kind, if one exists. copy_file_range,
/// getdents64 and mknodat have none (their proposed numbers are configuration).
pub fn mainline_opcode(kind: OpKind) -> Option<u8> {
    Some(match kind {
        OpKind::Open => 18,
        OpKind::Close => 19,
        OpKind::Read => 22,
        OpKind::Write => 23,
        OpKind::Fsync => 3,
        OpKind::Stat | OpKind::Fstat => 21,
        OpKind::Mkdir => 37,
        OpKind::Unlink => 36,
        OpKind::Rename => 35,
        OpKind::Link => 39,
        OpKind::Symlink => 38,
        OpKind::Ftruncate => 55,
        OpKind::Pipe => 62,
        OpKind::Splice => 30,
        OpKind::Tee => 33,
        OpKind::Fadvise => 24,
        OpKind::Fallocate => 17,
        OpKind::Lseek
        | OpKind::SeekDirent
        | OpKind::Umask
        | OpKind::CopyFileRange
        | OpKind::Getdents
        | OpKind::Mknod => return None,
    })
}

/// One row of the probe.
#[derive(Debug, Clone, Serialize)]
pub struct OpcodeSupport {
    /// The opcode number.
    pub opcode: u8,
    /// Its name, or "UNKNOWN_<n>" past the table.
    pub name: String,
    /// IO_URING_OP_SUPPORTED.
    pub supported: bool,
}

/// The probe result.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    /// The kernel release (uname -r).
    pub kernel: String,
    /// One past the highest opcode the kernel knows (IORING_OP_LAST).
    pub last_op: u8,
    /// Every opcode up to `last_op` (and the known names past it).
    pub opcodes: Vec<OpcodeSupport>,
}

/// Why probing failed.
#[derive(Debug)]
pub struct ProbeError(pub String);

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Probes the running kernel.
pub fn probe() -> Result<Probe, ProbeError> {
    let ring = io_uring::IoUring::new(2).map_err(|e| {
        let hint = match e.raw_os_error() {
            Some(libc::EPERM) => " (io_uring disabled: see sysctl kernel.io_uring_disabled)",
            Some(libc::ENOSYS) => " (kernel built without io_uring)",
            _ => "",
        };
        ProbeError(format!("io_uring_setup failed: {e}{hint}"))
    })?;
    let mut p = io_uring::Probe::new();
    ring.submitter()
        .register_probe(&mut p)
        .map_err(|e| ProbeError(format!("IORING_REGISTER_PROBE failed: {e}")))?;
    let mut opcodes = Vec::new();
    let mut last_op = 0u8;
    for op in 0..=255u8 {
        let supported = p.is_supported(op);
        if supported {
            last_op = op + 1;
        }
        if (op as usize) < OPCODE_NAMES.len() || supported {
            opcodes.push(OpcodeSupport {
                opcode: op,
                name: OPCODE_NAMES
                    .get(op as usize)
                    .map_or(format!("UNKNOWN_{op}"), |s| s.to_string()),
                supported,
            });
        }
    }
    let kernel = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    // Past this version's mainline table, the configured proposed opcodes are
    // named as such (on a patched 6.12, 58 is COPY_FILE_RANGE, not RECV_ZC).
    let mainline_last =
        model::Profile::parse_release(&kernel).and_then(crate::proposed::mainline_last_op);
    if let (Some(last), Ok(proposed)) = (mainline_last, crate::sqe::ProposedOpcodes::from_env()) {
        for (name, n) in proposed.numbers() {
            if let Some(o) = opcodes.iter_mut().find(|o| o.opcode == n && n > last) {
                o.name = format!("{}(proposed)", name.to_uppercase());
            }
        }
    }
    Ok(Probe {
        kernel,
        last_op,
        opcodes,
    })
}

impl Probe {
    /// Whether an opcode is supported.
    pub fn supports(&self, opcode: u8) -> bool {
        self.opcodes
            .iter()
            .any(|o| o.opcode == opcode && o.supported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_line_up_with_the_notes() {
        assert_eq!(OPCODE_NAMES[30], "SPLICE");
        assert_eq!(OPCODE_NAMES[33], "TEE");
        assert_eq!(OPCODE_NAMES[55], "FTRUNCATE");
        assert_eq!(OPCODE_NAMES[62], "PIPE");
        for k in OpKind::ALL {
            if let Some(op) = mainline_opcode(k) {
                assert!((op as usize) < OPCODE_NAMES.len());
            }
        }
    }

    #[test]
    fn this_kernel_has_splice() {
        let p = probe().expect("io_uring available on the test machine");
        assert!(p.supports(30) && p.supports(22), "{p:?}");
    }
}
