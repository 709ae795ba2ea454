//! The differential check: one op sequence through the model and a real backend,
//! op by op, then the whole resulting state.

use backends::backend::Backend;
use model::{diff, Allowed, Fs, Op, OpKind, Outcome, Profile};
use serde::Serialize;
use std::collections::BTreeMap;

/// Where and how a backend left the model's allowed set.
#[derive(Debug, Clone, Serialize)]
pub struct Divergence {
    /// Index of the diverging op, or `None` when only the final state differs.
    pub index: Option<usize>,
    /// The diverging op.
    pub op: Option<Op>,
    /// The backend that diverged.
    pub backend: String,
    /// What the backend returned.
    pub actual: Option<Outcome>,
    /// What the model allowed.
    pub allowed: String,
    /// Why the outcome is outside the allowed set.
    pub why: String,
    /// Differences between the model's and the backend's final state.
    pub state_diff: Vec<String>,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.index, &self.op, &self.actual) {
            (Some(i), Some(op), Some(a)) => write!(
                f,
                "op #{i} {}: {} returned {a}; model allowed {}: {}",
                serde_json::to_string(op).unwrap_or_default(),
                self.backend,
                self.allowed,
                self.why
            ),
            _ => write!(
                f,
                "final state differs between model and {}:\n  {}",
                self.backend,
                self.state_diff.join("\n  ")
            ),
        }
    }
}

/// The three-valued result of one sequence.
#[derive(Debug, Clone, Serialize)]
pub enum Verdict {
    /// Every outcome was allowed and the final states match.
    Agree,
    /// The run reached behaviour the model does not pin down (the reason); it is
    /// counted, not failed, and not compared further.
    Poisoned(String),
    /// A backend left the model's allowed set: a finding.
    Diverged(Box<Divergence>),
}

/// What running one sequence did.
#[derive(Debug, Clone, Serialize)]
pub struct SeqResult {
    /// Agree, poisoned or diverged.
    pub verdict: Verdict,
    /// Ops executed through the backend, per kind.
    pub executed: BTreeMap<OpKind, u64>,
    /// Ops not run because the model says they would block forever.
    pub skipped_blocking: u64,
    /// The outcome of every op that ran (index, outcome), for reports.
    pub outcomes: Vec<(usize, Outcome)>,
    /// io_uring backends: per kind, (through the ring, synchronous fallback).
    pub ring: BTreeMap<OpKind, (u64, u64)>,
    /// Ops submitted as members of a batch or linked chain of two or more.
    pub grouped: u64,
    /// Linked chains in which a member failed or came up short (the rest
    /// were checked to be cancelled).
    pub broken_chains: u64,
    /// The backend's final state, when the run reached the end.
    #[serde(skip)]
    pub state: Option<model::State>,
}

/// Runs `ops` through a fresh model and `backend` (whose scratch roots must be
/// empty and whose slots must be free), comparing every outcome with the model's
/// allowed set and, at the end, the whole state.
pub fn check_sequence(profile: &Profile, ops: &[Op], backend: &mut dyn Backend) -> SeqResult {
    check(profile, ops, backend, None, &mut None)
}

/// One run, one op at a time or in groups, with the ring counts.
fn check(
    profile: &Profile,
    ops: &[Op],
    backend: &mut dyn Backend,
    grouping: Option<Grouping>,
    events: &mut Events<'_>,
) -> SeqResult {
    let mut res = match grouping {
        None => check_ops(profile, ops, backend, events),
        Some(g) => check_grouped(profile, ops, backend, g, events),
    };
    res.ring = backend.ring_counts().unwrap_or_default();
    res
}

/// One step of a traced run ([`check_traced`]), in the order it happened.
#[derive(Debug, Clone)]
pub enum TraceEvent {
    /// An op ran: what the model allowed when it was judged (for a member
    /// of a broken linked chain, ECANCELED) and what the backend returned.
    Op {
        /// Its position in the sequence.
        index: usize,
        /// The allowed set it was judged against.
        allowed: Allowed,
        /// What the backend returned.
        actual: Outcome,
    },
    /// The model says the op would block forever: it was not run.
    Skipped {
        /// Its position in the sequence.
        index: usize,
    },
    /// From this op on the model does not pin the run down (the verdict is
    /// poisoned); nothing after it was compared.
    Poisoned {
        /// The op's position.
        index: usize,
        /// Why.
        why: String,
    },
    /// The run reached its end: the model's final state, which the
    /// backend's was compared with.
    Final {
        /// The model's state.
        model: model::State,
    },
}

/// [`check_sequence`] or, with a grouping, [`check_sequence_grouped`], also
/// returning every step as judged ([`TraceEvent`]): what a C reproducer
/// checks, in the order it must check it.
pub fn check_traced(
    profile: &Profile,
    ops: &[Op],
    backend: &mut dyn Backend,
    grouping: Option<Grouping>,
) -> (SeqResult, Vec<TraceEvent>) {
    let mut events = Vec::new();
    let res = check(profile, ops, backend, grouping, &mut Some(&mut events));
    (res, events)
}

/// Where a traced run keeps its events; `None` when not tracing.
type Events<'a> = Option<&'a mut Vec<TraceEvent>>;

/// Adds an event when tracing (built only then).
fn note(events: &mut Events<'_>, event: impl FnOnce() -> TraceEvent) {
    if let Some(e) = events.as_mut() {
        e.push(event());
    }
}

/// Ends a run as poisoned at op `index` (noted when tracing).
fn poisoned(mut res: SeqResult, events: &mut Events<'_>, index: usize, why: String) -> SeqResult {
    note(events, || TraceEvent::Poisoned {
        index,
        why: why.clone(),
    });
    res.verdict = Verdict::Poisoned(why);
    res
}

impl SeqResult {
    /// Nothing run yet: agreeing, every count zero.
    fn empty() -> SeqResult {
        SeqResult {
            verdict: Verdict::Agree,
            executed: BTreeMap::new(),
            skipped_blocking: 0,
            outcomes: Vec::new(),
            ring: BTreeMap::new(),
            grouped: 0,
            broken_chains: 0,
            state: None,
        }
    }
}

fn check_ops(
    profile: &Profile,
    ops: &[Op],
    backend: &mut dyn Backend,
    events: &mut Events<'_>,
) -> SeqResult {
    let mut fs = Fs::new(profile.clone());
    let mut res = SeqResult::empty();
    for (i, op) in ops.iter().enumerate() {
        let allowed = fs.step(op);
        if allowed == Allowed::Blocks {
            res.skipped_blocking += 1;
            note(events, || TraceEvent::Skipped { index: i });
            continue;
        }
        let out = backend.exec(op);
        *res.executed.entry(op.kind()).or_default() += 1;
        res.outcomes.push((i, out.clone()));
        note(events, || TraceEvent::Op {
            index: i,
            allowed: allowed.clone(),
            actual: out.clone(),
        });
        let poison = match allowed {
            Allowed::Unmodelled(why) => Some(format!("op #{i} {}: {why}", op.kind())),
            Allowed::KnownBug(why) => {
                Some(format!("op #{i} {}: known kernel bug: {why}", op.kind()))
            }
            _ => None,
        };
        if let Some(why) = poison {
            return poisoned(res, events, i, why);
        }
        if let Err(m) = fs.commit(op, &out) {
            res.verdict = Verdict::Diverged(Box::new(Divergence {
                index: Some(i),
                op: Some(op.clone()),
                backend: backend.name().to_string(),
                actual: Some(out),
                allowed: m.allowed,
                why: m.why,
                state_diff: vec![],
            }));
            return res;
        }
    }
    finish(&fs, backend, res, events)
}

/// The end of a run that reached its last op: the model's and the backend's
/// final states must match (the backend's is kept for cross-checks).
fn finish(
    fs: &Fs,
    backend: &mut dyn Backend,
    mut res: SeqResult,
    events: &mut Events<'_>,
) -> SeqResult {
    let want = fs.snapshot();
    note(events, || TraceEvent::Final {
        model: want.clone(),
    });
    let got = backend.snapshot();
    let d = diff("model", &want, backend.name(), &got);
    res.state = Some(got);
    if !d.is_empty() {
        res.verdict = Verdict::Diverged(Box::new(Divergence {
            index: None,
            op: None,
            backend: backend.name().to_string(),
            actual: None,
            allowed: String::new(),
            why: "final state differs".into(),
            state_diff: d,
        }));
    }
    res
}

/// How a grouped target submits consecutive ops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Grouping {
    /// Independent ops in flight together (no shared slot, inode or path).
    Batch,
    /// A chain with IOSQE_IO_LINK: each op starts after the previous one, and a
    /// failed or short member cancels the rest with ECANCELED.
    Linked,
}

/// Longest group submitted at once.
pub const MAX_GROUP: usize = 8;

/// Whether a linked chain breaks after this outcome (io_uring marks the
/// request failed, so the rest of the chain completes with ECANCELED).
///
/// Observed on 6.18 and contrary to io_uring_enter(2) ("if a request fails,
/// the rest of the chain is cancelled"): only some opcodes mark their own
/// errors as failures (req_set_fail). Each row of the op table says which
/// (its `link` column): READ, WRITE (any error, or a short count), SPLICE and
/// TEE (a result other than the length), OPENAT, CLOSE and FADVISE do; FSYNC,
/// FTRUNCATE and FALLOCATE only when the descriptor cannot be looked up;
/// STATX, MKDIRAT, UNLINKAT, RENAMEAT, LINKAT and SYMLINKAT never.
pub fn breaks_chain(fs: &Fs, op: &Op, out: &Outcome) -> bool {
    model::op_table!(link (fs, out) op)
}

/// Measured on 6.18: on xfs without IOSQE_ASYNC, a WRITE to a regular file
/// that comes up short (the file size limit) sometimes completes as a plain
/// success, so a linked chain goes on (a write from offset 0 of an empty
/// file), and sometimes, as on every other filesystem, is retried for the
/// rest, fails and cancels the chain (a write that starts past EOF). The model
/// does not predict which.
fn xfs_short_write_link_unknown(fs: &Fs, op: &Op, out: &Outcome) -> bool {
    let Op::Write { fd, data, .. } = op else {
        return false;
    };
    fs.profile.fs.kind == model::FsKind::Xfs
        && !fs.profile.uring_async
        && fs
            .desc(*fd)
            .is_ok_and(|d| fs.inodes[d.ino].file_type() == model::FileType::Reg)
        && out.result.is_ok_and(|v| (v as u64) < data.len())
}

/// The slots and inodes an op reads or changes, for batch independence; `None`
/// if the op touches the namespace or the fd table (it must run alone).
fn footprint(fs: &Fs, op: &Op) -> Option<Vec<usize>> {
    use model::FdRef;
    match op.kind().footprint() {
        model::Footprint::Fds => {
            let mut out = Vec::new();
            for s in op.slots() {
                let d = fs.desc(FdRef::Slot(s)).ok()?;
                out.push(d.ino);
            }
            Some(out)
        }
        model::Footprint::Alone => None,
    }
}

/// Whether an op may go into a group at all: it runs through the ring, and
/// nothing in it can wait (no pipe or FIFO operand, no FIFO open), since a
/// group is submitted and reaped as a whole.
fn groupable(fs: &Fs, profile: &Profile, op: &Op) -> bool {
    use model::fs::Kind;
    use model::FdRef;
    if profile.sync_kinds.contains(&op.kind()) || matches!(op.kind(), OpKind::Close | OpKind::Pipe)
    {
        return false;
    }
    for s in op.slots() {
        if let Ok(d) = fs.desc_any(FdRef::Slot(s)) {
            if matches!(fs.inodes[d.ino].kind, Kind::Fifo(_)) {
                return false;
            }
        }
    }
    if let Op::Open { dir, path, .. } = op {
        if let Ok(l) = fs.lookup(*dir, path, true) {
            if l.ino
                .is_some_and(|i| matches!(fs.inodes[i].kind, Kind::Fifo(_)))
            {
                return false;
            }
        }
    }
    !matches!(fs.step(op), Allowed::Blocks)
}

/// Like [`check_sequence`], but consecutive groupable ops are submitted
/// together through [`Backend::exec_group`]: as independent batches, or as
/// linked chains whose cancellation rule the check applies (after a member
/// fails or comes up short, the rest must be ECANCELED and change nothing).
pub fn check_sequence_grouped(
    profile: &Profile,
    ops: &[Op],
    backend: &mut dyn Backend,
    grouping: Grouping,
) -> SeqResult {
    check(profile, ops, backend, Some(grouping), &mut None)
}

fn check_grouped(
    profile: &Profile,
    ops: &[Op],
    backend: &mut dyn Backend,
    grouping: Grouping,
    events: &mut Events<'_>,
) -> SeqResult {
    let mut fs = Fs::new(profile.clone());
    let mut res = SeqResult::empty();
    let diverge = |i: usize, op: &Op, out: Outcome, allowed: String, why: String, name: &str| {
        Verdict::Diverged(Box::new(Divergence {
            index: Some(i),
            op: Some(op.clone()),
            backend: format!("{name} ({grouping:?} group)"),
            actual: Some(out),
            allowed,
            why,
            state_diff: vec![],
        }))
    };
    let mut i = 0;
    // Set when the backend refused a group starting here: run that op alone.
    let mut refused_at = None;
    while i < ops.len() {
        // Build the longest group starting at i.
        let mut group = vec![i];
        if refused_at != Some(i) && groupable(&fs, profile, &ops[i]) {
            let mut seen: Vec<usize> = match grouping {
                Grouping::Batch => footprint(&fs, &ops[i]).unwrap_or_default(),
                Grouping::Linked => vec![],
            };
            let alone = grouping == Grouping::Batch && footprint(&fs, &ops[i]).is_none();
            let mut j = i + 1;
            while !alone && j < ops.len() && group.len() < MAX_GROUP {
                let op = &ops[j];
                let ok = match grouping {
                    // A chain member's state depends on the earlier members:
                    // only ops that cannot wait, judged after those before.
                    Grouping::Linked => groupable(&fs, profile, op) && footprint(&fs, op).is_some(),
                    Grouping::Batch => {
                        groupable(&fs, profile, op)
                            && footprint(&fs, op)
                                .is_some_and(|f| f.iter().all(|x| !seen.contains(x)))
                    }
                };
                if !ok {
                    break;
                }
                if let Some(f) = footprint(&fs, op) {
                    seen.extend(f);
                }
                group.push(j);
                j += 1;
            }
        }
        if group.len() == 1 {
            // Not groupable, or alone: the ordinary path.
            let op = &ops[i];
            let allowed = fs.step(op);
            if allowed == Allowed::Blocks {
                res.skipped_blocking += 1;
                note(events, || TraceEvent::Skipped { index: i });
                i += 1;
                continue;
            }
            let out = backend.exec(op);
            *res.executed.entry(op.kind()).or_default() += 1;
            res.outcomes.push((i, out.clone()));
            note(events, || TraceEvent::Op {
                index: i,
                allowed: allowed.clone(),
                actual: out.clone(),
            });
            if let Allowed::Unmodelled(why) | Allowed::KnownBug(why) = allowed {
                let why = format!("op #{i} {}: {why}", op.kind());
                return poisoned(res, events, i, why);
            }
            if let Err(m) = fs.commit(op, &out) {
                res.verdict = diverge(i, op, out, m.allowed, m.why, backend.name());
                return res;
            }
            i += 1;
            continue;
        }
        let group_ops: Vec<Op> = group.iter().map(|&k| ops[k].clone()).collect();
        let Some(outs) = backend.exec_group(&group_ops, grouping == Grouping::Linked) else {
            refused_at = Some(i);
            continue;
        };
        res.grouped += group.len() as u64;
        let prep: Vec<Option<model::Errno>> = group
            .iter()
            .map(|&k| fs.uring_prep_error(&ops[k]))
            .collect();
        if grouping == Grouping::Linked && prep.iter().any(Option::is_some) {
            // A member failed at submission: nothing in the chain runs; it
            // gets its error and every other member ECANCELED.
            res.broken_chains += 1;
            for ((&k, out), p) in group.iter().zip(outs).zip(&prep) {
                let op = &ops[k];
                *res.executed.entry(op.kind()).or_default() += 1;
                res.outcomes.push((k, out.clone()));
                let want = Outcome::err(p.unwrap_or(model::Errno::ECANCELED));
                note(events, || TraceEvent::Op {
                    index: k,
                    allowed: Allowed::Exact(want.clone()),
                    actual: out.clone(),
                });
                if out != want {
                    res.verdict = diverge(
                        k,
                        op,
                        out,
                        want.to_string(),
                        "a member of the linked chain fails at submission: the whole chain is cancelled".into(),
                        backend.name(),
                    );
                    return res;
                }
            }
            i = group.last().expect("non-empty") + 1;
            continue;
        }
        let mut broken = false;
        for (&k, out) in group.iter().zip(outs) {
            let op = &ops[k];
            *res.executed.entry(op.kind()).or_default() += 1;
            res.outcomes.push((k, out.clone()));
            if broken {
                note(events, || TraceEvent::Op {
                    index: k,
                    allowed: Allowed::err(model::Errno::ECANCELED),
                    actual: out.clone(),
                });
                if out != Outcome::err(model::Errno::ECANCELED) {
                    res.verdict = diverge(
                        k,
                        op,
                        out,
                        "-ECANCELED".into(),
                        "an earlier member of the linked chain failed or came up short".into(),
                        backend.name(),
                    );
                    return res;
                }
                continue;
            }
            let allowed = fs.step(op);
            note(events, || TraceEvent::Op {
                index: k,
                allowed: allowed.clone(),
                actual: out.clone(),
            });
            if let Allowed::Unmodelled(why) | Allowed::KnownBug(why) = allowed {
                let why = format!("op #{k} {}: {why}", op.kind());
                return poisoned(res, events, k, why);
            }
            if grouping == Grouping::Linked
                && k != *group.last().expect("non-empty")
                && xfs_short_write_link_unknown(&fs, op, &out)
            {
                let why = format!(
                    "op #{k} {}: xfs: a short io_uring write to a file may complete as a \
                     success (the chain goes on) or fail (the chain is cancelled)",
                    op.kind()
                );
                return poisoned(res, events, k, why);
            }
            let breaks = grouping == Grouping::Linked && breaks_chain(&fs, op, &out);
            if let Err(m) = fs.commit(op, &out) {
                res.verdict = diverge(k, op, out, m.allowed, m.why, backend.name());
                return res;
            }
            if breaks && !broken && k != *group.last().expect("non-empty") {
                res.broken_chains += 1;
            }
            broken = breaks;
        }
        i = group.last().expect("non-empty") + 1;
    }
    finish(&fs, backend, res, events)
}
