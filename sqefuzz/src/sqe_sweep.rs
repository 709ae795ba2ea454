//! The SQE rule sweep (`ringspec sqe-check`, the gate's `sqe:` rows, the
//! conformance test `sqe_sweep`): every rejection rule of the model's SQE table
//! ([`model::sqe_rules::TABLE`], the one the `sqe_fields` fuzzer checks)
//! exercised deterministically on the running kernel.
//!
//! # What is probed ([`plan`])
//! For every opcode of the table that the kernel supports (the probe, and the
//! table's `since` for the kernel version the model's profile reads from the
//! release), starting from the fuzzer's valid template of that opcode
//! ([`crate::sqe_fuzz::template`]):
//! - every field whose rule is `Zero(errno)` on this kernel version, set to each
//!   value of its boundary set: 1, the field's top bit and all ones; a flags word
//!   (`op_flags`) also each bit alone. Each must complete with `-errno`;
//! - every flags word the op checks against a mask (`Check::Flags`,
//!   `Check::FlagsByVersion` at this kernel's version): each
//!   undefined bit alone and all ones must give the check's errno, each defined
//!   bit alone must be accepted (a result the table allows, not the rejection);
//! - the generic checks of `io_init_req`: an unregistered `personality` (1, top
//!   bit, all ones: EINVAL); `sqe->flags` with the undefined bit 7 (EINVAL),
//!   IOSQE_BUFFER_SELECT on an op without buffer selection (EOPNOTSUPP), and
//!   IO_DRAIN, IO_LINK, IO_HARDLINK, ASYNC alone (accepted).
//!
//! A rejected SQE must change nothing: the sandbox's files (names, types, modes,
//! sizes, bytes, link counts, mtime/ctime, xattrs), the positions of its
//! descriptors, the bytes in its pipes, the arena's writable part and the
//! process's descriptor table are compared before and after each probe
//! (`crate::sqe_fuzz` runs the probes in its sandbox: private tmpfs in a private
//! mount namespace, pre-opened descriptors, guard-paged arena). Each probe is
//! judged by [`crate::sqe_verify::judge`], the verifier the fuzzer's rule
//! verification and the named check `check:sqe_fields` use too (the latter
//! runs [`probes_of`] of the proposed opcodes plus a few of its own through
//! [`crate::sqe_fuzz::sweep_probes`]).
//!
//! # Rows
//! One [`SweepRow`] per (opcode, field): `field` is an SQE field name,
//! `flags` for `sqe->flags`. An opcode the kernel lacks gets one row with field
//! `-` and status unsupported ("unsupported on this kernel").

use model::sqe_rules::{self as rules, errno, sqe_flags, Code, Field, OpRules, RingProfile, Rule};
use serde::Serialize;
use std::fmt::Write as _;

/// What a probe must give ([`crate::sqe_verify`] judges it).
pub use crate::sqe_verify::Expect;

/// Where a probe puts its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// An SQE field, set to the value.
    Field(Field),
    /// `sqe->flags`, or-ed with the value.
    SqeFlags,
    /// Nothing: the valid template as it is (the value is unused).
    Template,
}

impl Target {
    /// Applies the probe's value to `sqe`.
    pub fn apply(self, sqe: &mut model::sqe_rules::Sqe, value: u64) {
        match self {
            Target::Field(f) => sqe.set(f, value),
            Target::SqeFlags => sqe.flags |= value as u8,
            Target::Template => {}
        }
    }

    /// The row's field name.
    pub fn name(self) -> &'static str {
        match self {
            Target::Field(f) => f.name(),
            Target::SqeFlags => "flags",
            Target::Template => "valid",
        }
    }
}

/// One SQE of the sweep: the template of `opcode` with `target` set to `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// The table entry.
    pub op: &'static str,
    /// Its number.
    pub opcode: u8,
    /// The field.
    pub target: Target,
    /// The value.
    pub value: u64,
    /// What the table says.
    pub expect: Expect,
    /// The rule, for the report ("must be zero: EINVAL", ...).
    pub rule: &'static str,
}

/// An opcode of the table the kernel does not offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    /// The table entry.
    pub op: &'static str,
    /// Why ("unsupported on this kernel (IORING_OP_LAST 52)", ...).
    pub why: String,
}

fn all_ones(bits: u32) -> u64 {
    if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// The boundary set of a must-be-zero field: 1, the top bit, all ones, and for
/// the flags word every bit alone. Sorted, no duplicates.
pub fn boundary_values(f: Field) -> Vec<u64> {
    let w = f.width();
    let mut v = vec![1, 1u64 << (w - 1), all_ones(w)];
    if f == Field::OpFlags {
        v.extend((0..w).map(|b| 1u64 << b));
    }
    v.sort_unstable();
    v.dedup();
    v
}

/// The probes of one table entry on `kernel`.
pub fn probes_of(r: &'static OpRules, opcode: u8, kernel: (u32, u32)) -> Vec<Probe> {
    let mut out = Vec::new();
    let mut push = |target, value, expect, rule| {
        out.push(Probe {
            op: r.name(),
            opcode,
            target,
            value,
            expect,
            rule,
        })
    };
    for f in Field::ALL {
        if let Rule::Zero(e) = r.rule(f, kernel) {
            for v in boundary_values(f) {
                push(Target::Field(f), v, Expect::Reject(e), "must be zero");
            }
        }
    }
    for c in r.prep {
        if let Some((field, valid, e)) = c.flags_at(kernel) {
            let w = field.width();
            for b in 0..w {
                let bit = 1u64 << b;
                if valid & bit == 0 {
                    push(
                        Target::Field(field),
                        bit,
                        Expect::Reject(e),
                        "undefined flag bit",
                    );
                } else {
                    push(
                        Target::Field(field),
                        bit,
                        Expect::Accept,
                        "defined flag bit",
                    );
                }
            }
            push(
                Target::Field(field),
                all_ones(w),
                Expect::Reject(e),
                "undefined flag bit",
            );
        }
    }
    for v in boundary_values(Field::Personality) {
        push(
            Target::Field(Field::Personality),
            v,
            Expect::Reject(errno::EINVAL),
            "unregistered personality",
        );
    }
    push(
        Target::SqeFlags,
        0x80,
        Expect::Reject(errno::EINVAL),
        "undefined IOSQE bit",
    );
    if !r.buffer_select {
        push(
            Target::SqeFlags,
            sqe_flags::BUFFER_SELECT as u64,
            Expect::Reject(errno::EOPNOTSUPP),
            "BUFFER_SELECT without buffer selection",
        );
    }
    for bit in [
        sqe_flags::IO_DRAIN,
        sqe_flags::IO_LINK,
        sqe_flags::IO_HARDLINK,
        sqe_flags::ASYNC,
    ] {
        push(
            Target::SqeFlags,
            bit as u64,
            Expect::Accept,
            "defined IOSQE bit",
        );
    }
    out
}

/// Every probe for `profile` (its kernel version and proposed numbers);
/// `supported` says whether the kernel's probe offers an opcode number. Table
/// entries the kernel lacks come back as [`Missing`].
pub fn plan(profile: &RingProfile, supported: &dyn Fn(u8) -> bool) -> (Vec<Probe>, Vec<Missing>) {
    let mut probes = Vec::new();
    let mut missing = Vec::new();
    for r in rules::TABLE {
        let number = match r.code {
            Code::Mainline(n) => n,
            Code::Proposed(p) => match profile.proposed.number(p) {
                Some(n) => n,
                None => {
                    missing.push(Missing {
                        op: r.name(),
                        why: "unsupported on this kernel (no mainline opcode; \
                              RINGSPEC_PROPOSED names none)"
                            .into(),
                    });
                    continue;
                }
            },
        };
        if rules::rules_for(profile, number).is_none() || !supported(number) {
            let why = if matches!(r.code, Code::Mainline(_)) && profile.kernel < r.since {
                format!(
                    "unsupported on this kernel (since {}.{}, kernel {}.{})",
                    r.since.0, r.since.1, profile.kernel.0, profile.kernel.1
                )
            } else {
                format!("unsupported on this kernel (opcode {number} not offered by the probe)")
            };
            missing.push(Missing { op: r.name(), why });
            continue;
        }
        probes.extend(probes_of(r, number, profile.kernel));
    }
    (probes, missing)
}

/// A probe whose result disagreed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Disagreement {
    /// The value set.
    pub value: String,
    /// What the table says.
    pub want: String,
    /// What the kernel gave (result, and what changed if anything did).
    pub got: String,
    /// A reproducer: the SQE as submitted (hex words of the 64 bytes).
    pub sqe: String,
}

/// The status of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RowStatus {
    /// Every probe agreed.
    Pass,
    /// At least one disagreed.
    Fail,
    /// The kernel lacks the opcode.
    Unsupported,
}

/// One (opcode, field) row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepRow {
    /// The opcode's name (IORING_OP_ without the prefix).
    pub op: String,
    /// Its number (None when unsupported and proposed).
    pub opcode: Option<u8>,
    /// The field ("op_flags", "flags" for sqe->flags, "-" when unsupported).
    pub field: String,
    /// The rules probed, with their errnos ("must be zero: EINVAL").
    pub rules: Vec<String>,
    /// Probes run.
    pub probes: u32,
    /// Probes expecting a rejection.
    pub rejections: u32,
    /// Probes expecting acceptance.
    pub acceptances: u32,
    /// Probes that agreed with the table.
    pub agreed: u32,
    /// The verdict.
    pub status: RowStatus,
    /// Every disagreement.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disagreements: Vec<Disagreement>,
    /// Why unsupported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The sweep's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepReport {
    /// uname -r.
    pub release: String,
    /// The kernel version the table was read at.
    pub kernel: (u32, u32),
    /// IORING_OP_LAST - 1 from the probe.
    pub last_op: u8,
    /// Rows, in table order then field order.
    pub rows: Vec<SweepRow>,
    /// Probes run.
    pub probes: u64,
    /// Wall time in seconds.
    pub seconds: f64,
}

impl SweepReport {
    /// Rows that failed.
    pub fn failing(&self) -> impl Iterator<Item = &SweepRow> {
        self.rows.iter().filter(|r| r.status == RowStatus::Fail)
    }

    /// (pass, fail, unsupported) row counts.
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |s| self.rows.iter().filter(|r| r.status == s).count();
        (
            n(RowStatus::Pass),
            n(RowStatus::Fail),
            n(RowStatus::Unsupported),
        )
    }

    /// The text report: a row per (opcode, field), every disagreement with
    /// its reproducer, counts at the end.
    pub fn text(&self) -> String {
        let mut out = format!(
            "ringspec sqe-check: kernel {} (table read at {}.{}), opcodes 0..={}\n",
            self.release, self.kernel.0, self.kernel.1, self.last_op
        );
        let _ = writeln!(
            out,
            "{:<16} {:>3} {:<13} {:>6} {:>7} {:>7}  {:<11} rules",
            "op", "#", "field", "probes", "reject", "accept", "status"
        );
        for r in &self.rows {
            let status = match r.status {
                RowStatus::Pass => "pass".to_string(),
                RowStatus::Fail => format!("FAIL {}/{}", r.probes - r.agreed, r.probes),
                RowStatus::Unsupported => "unsupported".to_string(),
            };
            let _ = writeln!(
                out,
                "{:<16} {:>3} {:<13} {:>6} {:>7} {:>7}  {:<11} {}",
                r.op,
                r.opcode.map_or("-".to_string(), |n| n.to_string()),
                r.field,
                r.probes,
                r.rejections,
                r.acceptances,
                status,
                r.note.clone().unwrap_or_else(|| r.rules.join("; "))
            );
            for d in &r.disagreements {
                let _ = writeln!(
                    out,
                    "    {}={}: table {}, kernel {}\n      sqe {}",
                    r.field, d.value, d.want, d.got, d.sqe
                );
            }
        }
        let (p, f, u) = self.counts();
        let ops = self
            .rows
            .iter()
            .filter(|r| r.status != RowStatus::Unsupported)
            .map(|r| &r.op)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        let _ = writeln!(
            out,
            "{} rows over {ops} opcodes: {p} pass, {f} fail, {u} unsupported; {} probes \
             ({} rejections, {} acceptances) in {:.2} s",
            self.rows.len(),
            self.probes,
            self.rows.iter().map(|r| r.rejections as u64).sum::<u64>(),
            self.rows.iter().map(|r| r.acceptances as u64).sum::<u64>(),
            self.seconds
        );
        out
    }
}

/// Shows a value in hex (decimal for small ones).
pub fn show_value(v: u64) -> String {
    if v < 10 {
        v.to_string()
    } else {
        format!("{v:#x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::sqe_rules::{op, ProposedNumbers, TASK_SIZE_4LEVEL};

    fn profile(kernel: (u32, u32), last_op: u8) -> RingProfile {
        RingProfile {
            kernel,
            last_op,
            proposed: ProposedNumbers::NONE,
            task_size: TASK_SIZE_4LEVEL,
        }
    }

    #[test]
    fn boundary_sets() {
        assert_eq!(boundary_values(Field::BufIndex), vec![1, 0x8000, 0xffff]);
        assert_eq!(boundary_values(Field::Addr), vec![1, 1 << 63, u64::MAX]);
        let f = boundary_values(Field::OpFlags);
        assert_eq!(f.len(), 33, "32 single bits and all ones");
        assert!(f.contains(&0xffff_ffff) && f.contains(&(1 << 31)));
    }

    #[test]
    fn every_zero_field_and_flag_bit_is_probed() {
        let p = profile((6, 18), 62);
        let (probes, missing) = plan(&p, &|_| true);
        let proposed = missing.len();
        assert_eq!(proposed, 3, "the three proposed opcodes: {missing:?}");
        // FALLOCATE: buf_index, op_flags, splice_fd_in, ioprio must be zero.
        let fields: std::collections::BTreeSet<&str> = probes
            .iter()
            .filter(|x| x.opcode == op::FALLOCATE && matches!(x.expect, Expect::Reject(_)))
            .map(|x| x.target.name())
            .collect();
        for f in [
            "buf_index",
            "op_flags",
            "splice_fd_in",
            "ioprio",
            "personality",
            "flags",
        ] {
            assert!(fields.contains(f), "{f} in {fields:?}");
        }
        // FSYNC: bit 0 of fsync_flags accepted, the 31 others rejected.
        let fsync: Vec<_> = probes
            .iter()
            .filter(|x| x.opcode == op::FSYNC && x.target == Target::Field(Field::OpFlags))
            .collect();
        assert_eq!(
            fsync.iter().filter(|x| x.expect == Expect::Accept).count(),
            1
        );
        assert_eq!(
            fsync
                .iter()
                .filter(|x| x.expect == Expect::Reject(errno::EINVAL))
                .count(),
            32
        );
    }

    #[test]
    fn versions_and_missing_opcodes() {
        // FADVISE's addr must be zero before 6.11 only.
        let addr = |k| {
            plan(&profile(k, 62), &|_| true)
                .0
                .iter()
                .filter(|x| x.opcode == op::FADVISE && x.target == Target::Field(Field::Addr))
                .count()
        };
        assert_eq!(addr((6, 1)), 3);
        assert_eq!(addr((6, 18)), 0);
        // 6.1 lacks FTRUNCATE and PIPE; a probe without STATX drops it.
        let (_, missing) = plan(&profile((6, 1), 52), &|n| n != op::STATX);
        let names: Vec<&str> = missing.iter().map(|m| m.op).collect();
        for n in ["FTRUNCATE", "PIPE", "STATX"] {
            assert!(names.contains(&n), "{n} missing in {names:?}");
        }
        assert!(missing
            .iter()
            .all(|m| m.why.starts_with("unsupported on this kernel")));
    }
}
