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

use model::opcode::{Proposed, ProposedNumbers};
use model::sqe::DevField;

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

/// A `RINGSPEC_PROPOSED` setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProposedError {
    /// An item without `=`.
    #[error("{PROPOSED_ENV}: {0:?} is not name=value")]
    NotNameValue(String),
    /// A number outside 0..=255.
    #[error("{PROPOSED_ENV}: {key}={value:?} is not an opcode number 0..=255")]
    BadNumber {
        /// The key.
        key: String,
        /// What was given.
        value: String,
    },
    /// `mknod_dev` other than off, addr3 or op_flags.
    #[error("{PROPOSED_ENV}: mknod_dev={0:?}: use off, addr3 or op_flags")]
    BadDevField(String),
    /// A key that is not a proposed opcode or `mknod_dev`.
    #[error("{PROPOSED_ENV}: unknown key {0:?} (copy_file_range, getdents64, mknodat, mknod_dev)")]
    UnknownKey(String),
    /// Two opcodes configured with one number.
    #[error("{PROPOSED_ENV}: {a} and {b} both have number {number}")]
    SameNumber {
        /// The first opcode.
        a: &'static str,
        /// The second.
        b: &'static str,
        /// Their number.
        number: u8,
    },
    /// The variable is not valid Unicode.
    #[error("{PROPOSED_ENV}: {0}")]
    Env(#[source] std::env::VarError),
    /// A number that is a mainline opcode of the running kernel.
    #[error(
        "proposed opcode {name}={number} collides with a mainline opcode: this kernel's \
         opcodes are 0..={last_op} (IORING_OP_LAST = {}); pick {} or above",
        *last_op as u32 + 1,
        *last_op as u32 + 1
    )]
    Collides {
        /// The opcode.
        name: &'static str,
        /// Its configured number.
        number: u8,
        /// The kernel's last mainline opcode.
        last_op: u8,
    },
}

/// The proposed opcodes' numbers and encodings: there are no mainline
/// COPY_FILE_RANGE, GETDENTS64 or MKNODAT opcodes, so a patched kernel's numbers
/// come from configuration. `None` means "this kernel has no such opcode"; a
/// configured number is used only if the ring's probe lists it as supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProposedOpcodes {
    /// Each proposed opcode's number (encodings: [`crate::sqe::Sqe::copy_file_range`],
    /// [`crate::sqe::Sqe::getdents64`], [`crate::sqe::Sqe::mknodat`]).
    pub numbers: ProposedNumbers,
    /// The field MKNODAT's dev goes in.
    pub mknod_dev: DevField,
}

/// The environment variable [`ProposedOpcodes::from_env`] reads.
pub const PROPOSED_ENV: &str = "RINGSPEC_PROPOSED";

impl ProposedOpcodes {
    /// No proposed opcode configured.
    pub const NONE: ProposedOpcodes = ProposedOpcodes {
        numbers: ProposedNumbers::NONE,
        mknod_dev: DevField::Off,
    };

    /// This configuration with `p` at number `n`.
    pub const fn with(mut self, p: Proposed, n: u8) -> ProposedOpcodes {
        self.numbers = self.numbers.with(p, n);
        self
    }

    /// The number configured for `p`, if any.
    pub fn number(&self, p: Proposed) -> Option<u8> {
        self.numbers.number(p)
    }

    /// Parses `copy_file_range=70,getdents64=71,mknodat=72,mknod_dev=off` (every
    /// key optional; `mknod_dev` is `off`, `addr3` or `op_flags`; an empty string
    /// configures nothing). Numbers are 0..=255.
    pub fn parse(text: &str) -> Result<ProposedOpcodes, ProposedError> {
        let mut p = ProposedOpcodes::default();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| ProposedError::NotNameValue(item.to_string()))?;
            let (k, v) = (k.trim(), v.trim());
            let num = || {
                v.parse::<u8>().map_err(|_| ProposedError::BadNumber {
                    key: k.to_string(),
                    value: v.to_string(),
                })
            };
            match k {
                _ if Proposed::from_name(k).is_some() => {
                    let op = Proposed::from_name(k).expect("checked");
                    p.numbers.set(op, Some(num()?));
                }
                "mknod_dev" => {
                    p.mknod_dev = match v {
                        "off" => DevField::Off,
                        "addr3" => DevField::Addr3,
                        "op_flags" | "rw_flags" => DevField::OpFlags,
                        _ => return Err(ProposedError::BadDevField(v.to_string())),
                    }
                }
                _ => return Err(ProposedError::UnknownKey(k.to_string())),
            }
        }
        let nums = p.numbers();
        for (i, (a, x)) in nums.iter().enumerate() {
            for (b, y) in &nums[i + 1..] {
                if x == y {
                    return Err(ProposedError::SameNumber { a, b, number: *x });
                }
            }
        }
        Ok(p)
    }

    /// [`ProposedOpcodes::parse`] of `$RINGSPEC_PROPOSED`; unset: the default
    /// for the running kernel ([`defaults_for_running_kernel`]:
    /// the numbers of kernel/patches/ on 6.11..=6.14, else nothing).
    pub fn from_env() -> Result<ProposedOpcodes, ProposedError> {
        match std::env::var(PROPOSED_ENV) {
            Ok(s) => ProposedOpcodes::parse(&s),
            Err(std::env::VarError::NotPresent) => Ok(defaults_for_running_kernel()),
            Err(e) => Err(ProposedError::Env(e)),
        }
    }

    /// The configured (name, number) pairs.
    pub fn numbers(&self) -> Vec<(&'static str, u8)> {
        self.numbers.iter().map(|(p, n)| (p.name(), n)).collect()
    }

    /// Rejects a number that is a mainline opcode of the running kernel: below its
    /// IORING_OP_LAST (`last_op` + 1, as IORING_REGISTER_PROBE reports `last_op`).
    /// Sending such a number would run that mainline opcode instead.
    pub fn check_collisions(&self, last_op: u8) -> Result<(), ProposedError> {
        for (name, n) in self.numbers() {
            if n <= last_op {
                return Err(ProposedError::Collides {
                    name,
                    number: n,
                    last_op,
                });
            }
        }
        Ok(())
    }
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
