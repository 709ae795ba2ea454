//! Named conformance checks of the proposed io_uring opcodes (COPY_FILE_RANGE,
//! GETDENTS64, MKNODAT; kernel/patches/): the answers, as tests, to the
//! objections recorded against earlier proposals (docs: kernel/patches/README.md).
//!
//! Two families, both run by `ringspec suite` (so by the gate, inside the
//! guest) and by `cargo test -p conformance` (tests/proposed.rs):
//! - model-checked sequences ([`sequences`]), run through every target of the
//!   suite (syscalls and each io_uring submission path: single, IOSQE_ASYNC,
//!   fixed files, SQPOLL, batches, linked chains) and judged op by op and by
//!   final state;
//! - direct ring checks ([`ring`]): SQE field validation, getdents64 racing
//!   itself and lseek on one description, crossed copies A->B and B->A from
//!   the positions in flight at once, mknodat without CAP_MKNOD, MKNODAT
//!   failing at prep and cancelled after it.
//!
//! A check whose opcode this kernel lacks (or that is not configured, see
//! [`backends::proposed`]) is [`CheckOutcome::Unsupported`], never a pass.

pub mod ring;
pub mod sequences;

use crate::campaign::{self, MakeError, Target};
use crate::differential::{check_sequence, check_sequence_grouped, Verdict};
use crate::rows::{Counts, Row, Status};
use backends::sqe::ProposedOpcodes;
use model::OpKind;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use sys::scratch::Scratch;

/// What one check concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// It ran and everything agreed; the text says how much ran.
    Pass(String),
    /// It ran and found these problems.
    Fail(Vec<String>),
    /// The opcode it needs is missing on this kernel: nothing was judged.
    Unsupported(String),
}

/// A direct ring check: problems found in a scratch directory (an fd), given
/// the opcode numbers.
pub type RingCheck = fn(RawFd, &ProposedOpcodes) -> Vec<String>;

/// The direct ring checks: (name, the opcodes it needs, the op kind its row is
/// about, the check).
pub fn ring_checks() -> Vec<(&'static str, Vec<OpKind>, OpKind, RingCheck)> {
    use OpKind::*;
    vec![
        (
            "sqe_fields",
            vec![CopyFileRange, Getdents, Mknod],
            Getdents,
            ring::sqe_fields as RingCheck,
        ),
        (
            "getdents_concurrent",
            vec![Getdents],
            Getdents,
            ring::getdents_concurrent,
        ),
        (
            "cfr_crossed_positions",
            vec![CopyFileRange],
            CopyFileRange,
            ring::cfr_crossed_positions,
        ),
        ("mknod_eperm", vec![Mknod], Mknod, ring::mknod_eperm),
        (
            "mknod_prep_failures",
            vec![Mknod],
            Mknod,
            ring::mknod_prep_failures,
        ),
    ]
}

/// Why a proposed opcode cannot be used here ([`opcode_number`]).
#[derive(Debug, thiserror::Error)]
pub enum OpcodeError {
    /// The op kind has no proposed opcode.
    #[error("{0} is not a proposed opcode")]
    NotProposed(OpKind),
    /// No number is configured for the kind's proposed opcode.
    #[error(
        "unsupported on this kernel: no io_uring opcode for {0} (none configured; \
         RINGSPEC_PROPOSED, or the kernel/patches default on 6.11..=6.14)"
    )]
    NotConfigured(OpKind),
    /// The running kernel's opcodes could not be probed.
    #[error("io_uring probe: {0}")]
    Probe(#[source] backends::probe::ProbeError),
    /// The running kernel's probe does not list the configured number.
    #[error("unsupported on this kernel: {kind}'s proposed opcode {number} is not in the probe")]
    NotInProbe {
        /// The op kind.
        kind: OpKind,
        /// Its configured opcode number.
        number: u8,
    },
}

/// The configured number of `kind`'s proposed opcode, if the running kernel's
/// probe supports it; else why not ("unsupported on this kernel: ...").
pub fn opcode_number(kind: OpKind, p: &ProposedOpcodes) -> Result<u8, OpcodeError> {
    let model::opcode::UringOpcode::Proposed(op) = kind.uring_opcode() else {
        return Err(OpcodeError::NotProposed(kind));
    };
    let Some(n) = p.number(op) else {
        return Err(OpcodeError::NotConfigured(kind));
    };
    let probe = backends::probe::probe().map_err(OpcodeError::Probe)?;
    if probe.opcodes.iter().any(|o| o.opcode == n && o.supported) {
        Ok(n)
    } else {
        Err(OpcodeError::NotInProbe { kind, number: n })
    }
}

static LABELS: AtomicU64 = AtomicU64::new(0);

fn label(name: &str) -> String {
    format!("chk-{name}-{}", LABELS.fetch_add(1, Ordering::Relaxed))
}

/// Runs one ring check on fresh roots of `scratch`, on a thread of its own.
pub fn run_ring_check(
    scratch: &Scratch,
    name: &str,
    needs: &[OpKind],
    f: RingCheck,
) -> CheckOutcome {
    let p = match ProposedOpcodes::from_env() {
        Ok(p) => p,
        Err(e) => return CheckOutcome::Fail(vec![e.to_string()]),
    };
    for k in needs {
        if let Err(why) = opcode_number(*k, &p) {
            return CheckOutcome::Unsupported(why.to_string());
        }
    }
    let roots = match scratch.roots(&label(name)) {
        Ok(r) => r,
        Err(e) => return CheckOutcome::Fail(vec![format!("scratch: {e}")]),
    };
    let dir = roots.main.as_raw_fd();
    let problems = std::thread::scope(|s| {
        s.spawn(|| f(dir, &p))
            .join()
            .unwrap_or_else(|_| vec![format!("{name}: the check panicked")])
    });
    drop(roots);
    if problems.is_empty() {
        CheckOutcome::Pass(name.to_string())
    } else {
        CheckOutcome::Fail(problems)
    }
}

/// How many ops of the row's kind ran, and how many of them through io_uring.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpCounts {
    /// Ops of the kind executed on the target.
    pub ops: u64,
    /// Of those, through an io_uring opcode.
    pub ring: u64,
}

/// Runs one named sequence on `target` (fresh roots, a thread of its own):
/// unsupported when the target lacks `kind`'s opcode. Also returns how many
/// ops of `kind` ran, and how many through the ring.
pub fn run_sequence_check(
    scratch: &Scratch,
    target: &Target,
    name: &str,
    kind: OpKind,
    ops: &[model::Op],
) -> (CheckOutcome, OpCounts) {
    if target.supported.get(&kind) == Some(&false) {
        return (
            CheckOutcome::Unsupported(format!(
                "unsupported on this kernel: no io_uring opcode for {kind} on {}",
                target.name
            )),
            OpCounts::default(),
        );
    }
    let roots = match scratch.roots(&label(name)) {
        Ok(r) => r,
        Err(e) => {
            return (
                CheckOutcome::Fail(vec![format!("scratch: {e}")]),
                OpCounts::default(),
            )
        }
    };
    // A thread of its own, as for scenarios (see Target::run_scenario).
    let res = std::thread::scope(|s| {
        s.spawn(|| {
            let mut backend = (target.make)(roots)?;
            Ok::<_, MakeError>(match target.group {
                None => check_sequence(&target.profile, ops, backend.as_mut()),
                Some(g) => check_sequence_grouped(&target.profile, ops, backend.as_mut(), g),
            })
        })
        .join()
    });
    match res {
        Err(_) => (
            CheckOutcome::Fail(vec![format!("{name}: the check panicked")]),
            OpCounts::default(),
        ),
        Ok(Err(e)) => (CheckOutcome::Fail(vec![e.to_string()]), OpCounts::default()),
        Ok(Ok(r)) => {
            let n = OpCounts {
                ops: r.executed.get(&kind).copied().unwrap_or(0),
                ring: r.ring.get(&kind).map_or(0, |c| c.0),
            };
            let out = match r.verdict {
                Verdict::Agree => CheckOutcome::Pass(format!(
                    "{} ops; {kind}: {} ran, {} through io_uring",
                    ops.len(),
                    n.ops,
                    n.ring
                )),
                Verdict::Poisoned(why) => {
                    CheckOutcome::Fail(vec![format!("poisoned (the model cannot judge): {why}")])
                }
                Verdict::Diverged(d) => CheckOutcome::Fail(vec![d.to_string()]),
            };
            (out, n)
        }
    }
}

fn row(fs: &str, target: &str, kind: OpKind, name: &str, out: CheckOutcome, n: OpCounts) -> Row {
    let (status, failures, note) = match out {
        CheckOutcome::Pass(_) => (Status::Pass, vec![], None),
        CheckOutcome::Fail(p) => (
            Status::Fail,
            p.into_iter()
                .take(crate::rows::MAX_FAILURES)
                .map(|s| s.lines().take(3).collect::<Vec<_>>().join(" "))
                .collect(),
            None,
        ),
        CheckOutcome::Unsupported(why) => (Status::Unsupported, vec![], Some(why)),
    };
    Row {
        opcode: kind.name().to_string(),
        property: format!("check:{name}"),
        filesystem: fs.to_string(),
        target: target.to_string(),
        status,
        counts: Counts {
            ops: n.ops,
            ring: n.ring,
            ..Counts::default()
        },
        failures,
        note,
    }
}

/// The target name of the direct ring checks' rows.
pub const RING_TARGET: &str = "uring/direct";

/// Every check as suite rows on one filesystem: the sequences through each of
/// `targets`, then the ring checks when an io_uring target is among them (a
/// syscalls-only run has no ring to judge). Progress goes to stderr.
pub fn suite_rows(scratch: &Scratch, fs_name: &str, targets: &[Target]) -> Vec<Row> {
    let mut rows = Vec::new();
    let started = std::time::Instant::now();
    for (name, kind, ops) in sequences::all() {
        for t in targets {
            if campaign::STOP.load(Ordering::SeqCst) {
                return rows;
            }
            let (out, n) = run_sequence_check(scratch, t, name, kind, &ops);
            rows.push(row(fs_name, &t.name, kind, name, out, n));
        }
    }
    let with_ring = targets.iter().any(|t| t.name.starts_with("uring/"));
    for (name, needs, kind, f) in ring_checks().into_iter().filter(|_| with_ring) {
        if campaign::STOP.load(Ordering::SeqCst) {
            return rows;
        }
        // A kernel report during a ring check names it (the console's
        // timestamps on the markers also time each check).
        sys::kmsg::mark(&format!("{fs_name} check {name}"));
        let out = run_ring_check(scratch, name, &needs, f);
        rows.push(row(
            fs_name,
            RING_TARGET,
            kind,
            name,
            out,
            OpCounts::default(),
        ));
    }
    let failing = rows.iter().filter(|r| r.status == Status::Fail).count();
    log::info!(
        "ringspec suite: {fs_name}: {} proposed-opcode check rows, {failing} failing ({:.1} s)",
        rows.len(),
        started.elapsed().as_secs_f64()
    );
    rows
}
