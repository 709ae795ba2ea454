//! The one SQE-rule verifier: what the kernel did with one probe SQE, judged
//! against the model's SQE table ([`model::sqe_rules`]). The sweep
//! ([`crate::sqe_sweep`], `ringspec sqe-check`, the gate's `sqe:` rows), the
//! fuzzer's rule verification ([`crate::sqe_fuzz::verify_rules`]) and the named
//! check `check:sqe_fields` (`oracle::checks::ring::sqe_fields`) generate
//! their probes differently, submit each one the same way (in the fuzzer's
//! sandbox: a fresh run directory, fresh descriptors, the opcode's valid
//! template with the probe's change, the sandbox's observable state before and
//! after; `crate::sqe_fuzz` does it) and judge it here.
//!
//! A probe says what it expects ([`Expect`]); the submission gives an
//! [`Observed`] (the kernel's result, the table's [`AllowedSet`] for the SQE in
//! its context, what changed); [`judge`] says whether they agree and, either
//! way, what the table wanted and what the kernel gave.

use model::sqe_rules::AllowedSet;
use model::sqe_rules::{errno, Sqe};
use serde::Serialize;

/// What a probe expects of the kernel and the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// Prep fails with this errno: the kernel gives -errno, the table's
    /// evaluation agrees that it is the only result (a certain rejection),
    /// and nothing observed changed.
    Reject(i32),
    /// Passes the check: the table's evaluation does not reject the SQE and
    /// allows what the kernel gave.
    Accept,
    /// Fails with this errno, which the table allows (the table need not be
    /// certain: the errno may come after prep, or from a check it cannot
    /// decide).
    Fails(i32),
    /// Whatever the table allows for the SQE in its context.
    Allowed,
    /// A valid SQE: a non-negative result.
    Succeed,
    /// An ignored field: the same result as the valid SQE gave (`base`); any
    /// two descriptors count as the same when `fd_result`.
    AsBaseline {
        /// The valid SQE's result.
        base: i32,
        /// The op returns a new descriptor.
        fd_result: bool,
    },
}

/// What one probe gave.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The SQE as submitted.
    pub sqe: Sqe,
    /// The CQE's result.
    pub res: i32,
    /// What the table allows for the SQE in its context.
    pub allowed: AllowedSet,
    /// Lines of observed state that differ (before -> after); empty when
    /// nothing changed.
    pub changed: Vec<String>,
}

/// The verdict on one probe: whether the kernel agreed with the table, what
/// the table wanted and what the kernel gave (with what changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    /// The kernel and the table agree.
    pub ok: bool,
    /// What the table wants.
    pub want: String,
    /// What the kernel gave.
    pub got: String,
}

/// The text of an expectation; `why` names the rule ("must be zero", ...).
pub fn want_text(e: Expect, why: &str) -> String {
    match e {
        Expect::Reject(n) => format!("-{} and no change ({why})", errno::name(n)),
        Expect::Accept => format!("accepted ({why})"),
        Expect::Fails(n) => format!("-{}, allowed by the table ({why})", errno::name(n)),
        Expect::Allowed => format!("a result the table allows ({why})"),
        Expect::Succeed => format!(">= 0 ({why})"),
        Expect::AsBaseline { base, fd_result } => {
            format!("as the valid SQE: {} ({why})", class(base, fd_result))
        }
    }
}

fn class(v: i32, fd_result: bool) -> String {
    if v >= 0 && fd_result {
        "fd".to_string()
    } else {
        model::Errno::format_result(v)
    }
}

/// Judges one probe: `expect` (for the rule `why`) against what the kernel
/// and the table gave.
pub fn judge(expect: Expect, why: &str, o: &Observed) -> Judgement {
    let (res, a) = (o.res, &o.allowed);
    let ok = match expect {
        Expect::Reject(e) => {
            res == -e && a.rejected && a.values == [-e].into() && o.changed.is_empty()
        }
        Expect::Accept => !a.rejected && a.allows(res),
        Expect::Fails(e) => res == -e && a.allows(res),
        Expect::Allowed => a.allows(res),
        Expect::Succeed => res >= 0,
        Expect::AsBaseline { base, fd_result } => class(res, fd_result) == class(base, fd_result),
    };
    let mut got = model::Errno::format_result(res);
    if !o.changed.is_empty() {
        got += &format!("; changed: {}", o.changed.join(" | "));
    }
    Judgement {
        ok,
        want: format!("{} [table: {a}]", want_text(expect, why)),
        got,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::sqe_rules::errno::{EBADF, EINVAL};

    fn observed(res: i32, values: &[i32], rejected: bool, changed: &[&str]) -> Observed {
        Observed {
            sqe: Sqe::nop(),
            res,
            allowed: AllowedSet {
                values: values.iter().copied().collect(),
                range: (!rejected).then_some((0, 10)),
                rejected,
                why: "test".into(),
            },
            changed: changed.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn verdicts() {
        let j = |e, o: &Observed| judge(e, "rule", o).ok;
        let rejected = observed(-EINVAL, &[-EINVAL], true, &[]);
        assert!(j(Expect::Reject(EINVAL), &rejected));
        assert!(!j(Expect::Reject(EBADF), &rejected));
        assert!(!j(Expect::Accept, &rejected));
        assert!(j(Expect::Fails(EINVAL), &rejected));
        // A rejection that changed something, or that the table is not sure of.
        assert!(!j(
            Expect::Reject(EINVAL),
            &observed(-EINVAL, &[-EINVAL], true, &["+ run/x"])
        ));
        let maybe = observed(-EINVAL, &[-EINVAL, -EBADF], false, &[]);
        assert!(!j(Expect::Reject(EINVAL), &maybe));
        assert!(j(Expect::Fails(EINVAL), &maybe));
        assert!(j(Expect::Allowed, &maybe));
        let ok = observed(5, &[], false, &["- f: size 0"]);
        assert!(j(Expect::Accept, &ok) && j(Expect::Succeed, &ok));
        let as_base = |base, fd_result| Expect::AsBaseline { base, fd_result };
        assert!(j(as_base(7, true), &ok) && !j(as_base(7, false), &ok));
        let g = judge(Expect::Reject(EINVAL), "must be zero", &ok);
        assert_eq!(g.got, "5; changed: - f: size 0");
        assert!(g
            .want
            .starts_with("-EINVAL and no change (must be zero) [table: "));
    }
}
