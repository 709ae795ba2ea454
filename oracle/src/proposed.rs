//! The default configuration of the proposed opcodes, and the mainline opcode
//! table they must not collide with.
//!
//! The patches in kernel/patches/ (against Linux 6.12) append
//! IORING_OP_COPY_FILE_RANGE, IORING_OP_GETDENTS64 and IORING_OP_MKNODAT after
//! the last 6.12 opcode (IORING_OP_LISTEN = 57): 58, 59 and 60. Those numbers
//! mean something else in mainline from 6.15 on (RECV_ZC, EPOLL_WAIT,
//! READV_FIXED), and a 6.18 kernel probes them as supported, so the default is
//! tied to the kernel version: it applies only where the mainline table ends at
//! LISTEN, 6.11 to 6.14 (from `uname -r`). Everywhere else nothing is configured
//! by default. `RINGSPEC_PROPOSED` overrides the default (an empty value
//! configures nothing), see [`crate::sqe::ProposedOpcodes::from_env`].
//!
//! On an unpatched 6.11..=6.14 kernel the default numbers are past the probe's
//! last opcode, so the ops run synchronously and are reported as unsupported on
//! this kernel, as before.

use crate::sqe::{Proposed, ProposedOpcodes};

/// The numbers the patches in kernel/patches/ give the proposed opcodes.
pub const PATCH_NUMBERS: ProposedOpcodes = ProposedOpcodes::NONE
    .with(Proposed::CopyFileRange, 58)
    .with(Proposed::Getdents64, 59)
    .with(Proposed::Mknodat, 60);

/// The first and last (major, minor) versions whose mainline opcode table ends
/// at IORING_OP_LISTEN (57): where [`PATCH_NUMBERS`] is the default.
pub const DEFAULT_VERSIONS: ((u32, u32), (u32, u32)) = ((6, 11), (6, 14));

/// The last mainline opcode of a kernel version (IORING_OP_LAST - 1), for the
/// versions whose table this crate knows: from 6.11 (BIND, LISTEN) on. `None`
/// for older or unknown versions (then the probe's own last opcode is used).
pub fn mainline_last_op(version: (u32, u32)) -> Option<u8> {
    match version {
        (6, 11..=14) => Some(57),
        // RECV_ZC, EPOLL_WAIT, READV_FIXED, WRITEV_FIXED.
        (6, 15) => Some(61),
        // PIPE.
        (6, 16..=18) => Some(62),
        // NOP128, URING_CMD128.
        (6, 19) => Some(64),
        _ => None,
    }
}

/// The default proposed-opcode configuration for a kernel release string
/// (`uname -r`): [`PATCH_NUMBERS`] within [`DEFAULT_VERSIONS`], else nothing.
pub fn defaults_for_release(release: &str) -> ProposedOpcodes {
    match model::Profile::parse_release(release) {
        Some(v) if v >= DEFAULT_VERSIONS.0 && v <= DEFAULT_VERSIONS.1 => PATCH_NUMBERS,
        _ => ProposedOpcodes::default(),
    }
}

/// The running kernel's release (`uname -r`), empty if uname fails.
pub fn running_release() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// [`defaults_for_release`] of the running kernel.
pub fn defaults_for_running_kernel() -> ProposedOpcodes {
    defaults_for_release(&running_release())
}

/// The highest opcode number that is a mainline opcode on the running kernel:
/// [`mainline_last_op`] of its version where known, else `probe_last_op` (a
/// patched kernel's probe also lists the proposed opcodes, so the table, not the
/// probe, decides where mainline ends).
pub fn mainline_last_op_running(probe_last_op: u8) -> u8 {
    model::Profile::parse_release(&running_release())
        .and_then(mainline_last_op)
        .map_or(probe_last_op, |m| m.min(probe_last_op))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_only_where_mainline_ends_at_listen() {
        for r in ["6.11.0", "6.12.117-gate", "6.12.100+deb12-amd64", "6.14.2"] {
            assert_eq!(defaults_for_release(r), PATCH_NUMBERS, "{r}");
        }
        for r in [
            "6.10.3",
            "6.15.0",
            "6.18.44-fc-v669",
            "6.1.0-50-amd64",
            "",
            "x",
        ] {
            assert_eq!(defaults_for_release(r), ProposedOpcodes::default(), "{r}");
        }
    }

    #[test]
    fn patch_numbers_follow_the_6_12_table() {
        // IORING_OP_LISTEN is 57 in 6.12: the patches append 58, 59, 60.
        assert_eq!(model::opcode::NAMES[57], "LISTEN");
        let last = mainline_last_op((6, 12)).unwrap();
        assert!(PATCH_NUMBERS.check_collisions(last).is_ok());
        // On 6.15+ the same numbers are mainline opcodes and are refused.
        assert!(PATCH_NUMBERS
            .check_collisions(mainline_last_op((6, 15)).unwrap())
            .is_err());
        assert!(PATCH_NUMBERS
            .check_collisions(mainline_last_op((6, 18)).unwrap())
            .is_err());
    }
}
