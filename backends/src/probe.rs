//! What the running kernel's io_uring offers (IORING_REGISTER_PROBE).

use serde::Serialize;

use model::opcode::NAMES as OPCODE_NAMES;

/// One row of the probe.
#[derive(Debug, Clone, Serialize)]
pub struct OpcodeSupport {
    /// The opcode number.
    pub opcode: u8,
    /// Its name, or `"UNKNOWN_<n>"` past the table.
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
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProbeError(pub String);

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
        for k in model::OpKind::ALL {
            if let Some(op) = k.mainline_opcode() {
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
