//! The differential check: one op sequence through the model and a real backend,
//! op by op, then the whole resulting state.

use crate::backend::Backend;
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
}

/// Runs `ops` through a fresh model and `backend` (whose scratch roots must be
/// empty and whose slots must be free), comparing every outcome with the model's
/// allowed set and, at the end, the whole state.
pub fn check_sequence(profile: &Profile, ops: &[Op], backend: &mut dyn Backend) -> SeqResult {
    let mut res = check_ops(profile, ops, backend);
    res.ring = backend.ring_counts().unwrap_or_default();
    res
}

fn check_ops(profile: &Profile, ops: &[Op], backend: &mut dyn Backend) -> SeqResult {
    let mut fs = Fs::new(profile.clone());
    let mut res = SeqResult {
        verdict: Verdict::Agree,
        executed: BTreeMap::new(),
        skipped_blocking: 0,
        outcomes: Vec::new(),
        ring: BTreeMap::new(),
    };
    for (i, op) in ops.iter().enumerate() {
        let allowed = fs.step(op);
        if allowed == Allowed::Blocks {
            res.skipped_blocking += 1;
            continue;
        }
        let out = backend.exec(op);
        *res.executed.entry(op.kind()).or_default() += 1;
        res.outcomes.push((i, out.clone()));
        match allowed {
            Allowed::Unmodelled(why) => {
                res.verdict = Verdict::Poisoned(format!("op #{i} {}: {why}", op.kind()));
                return res;
            }
            Allowed::KnownBug(why) => {
                res.verdict =
                    Verdict::Poisoned(format!("op #{i} {}: known kernel bug: {why}", op.kind()));
                return res;
            }
            _ => {}
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
    let want = fs.snapshot();
    let got = backend.snapshot();
    let d = diff("model", &want, backend.name(), &got);
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
