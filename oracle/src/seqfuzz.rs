//! `cargo fuzz run sequences`: libFuzzer's bytes as op sequences for the
//! differential runner (model vs the synchronous syscalls vs io_uring in
//! its submission modes), and its divergences as regression files.
//!
//! # Input
//! Byte 0 says how the rest reads:
//! - even: the campaign generator's own draws, one 8-byte chunk each: the
//!   prelude, then up to [`MAX_OPS`] ops, each chunk's first byte the kind
//!   (of [`crate::gen::default_kinds`]) and the rest the seed of that op's
//!   draw, so a mutation of a chunk changes one op. (Proptest's pass-through
//!   RNG, the bytes as the draws themselves, halves what is left of them at
//!   every nested strategy, and rand's uniform sampling rejects the zeros
//!   it then gives for ever.)
//! - odd: a JSON array of ops (the model's serde form, the one regression
//!   files hold), each validated ([`model::Op::validate`]): the seeds from
//!   corpus/scenarios and corpus/regressions ([`seeds`]).
//!
//! Bytes that decode to no valid sequence are no input ([`ops_from_bytes`]
//! gives None; the target returns at once).
//!
//! # Verdict
//! [`SequenceChecker::check`] runs a sequence through every target on fresh
//! roots ([`crate::campaign::check_and_settle`]); a divergence is minimized
//! and replayed from its regression file text [`crate::campaign::CONFIRM_REPLAYS`]
//! times, and only one that comes back every time is a finding.

use crate::campaign::{self, Finding, Submission, Target};
use crate::regression::Regression;
use model::Op;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::path::Path;
use sys::scratch::Scratch;

/// Most ops an input's generator chunks draw after the prelude.
pub const MAX_OPS: usize = 16;

/// Longest sequence of either form (a prelude and [`MAX_OPS`] ops fit).
pub const MAX_LEN: usize = 40;

/// The op sequence `bytes` stand for (see the module documentation), or
/// None when they decode to none.
pub fn ops_from_bytes(bytes: &[u8]) -> Option<Vec<Op>> {
    let (&tag, rest) = bytes.split_first()?;
    let ops: Vec<Op> = if tag & 1 == 0 {
        generated(rest)?
    } else {
        let ops: Vec<Op> = serde_json::from_slice(rest).ok()?;
        if ops.len() > MAX_LEN || ops.iter().any(|o| o.validate().is_err()) {
            return None;
        }
        ops
    };
    (!ops.is_empty()).then_some(ops)
}

/// The campaign generator's draws, one 8-byte chunk each: the first seeds
/// the prelude ([`crate::gen::prelude`]); each next one is an op, its first
/// byte the kind (of [`crate::gen::default_kinds`]), the other seven the
/// seed of that op's own draw ([`crate::gen::one_op`]). A mutation of a
/// chunk changes that op alone.
fn generated(rest: &[u8]) -> Option<Vec<Op>> {
    fn draw<S: Strategy>(strategy: S, seed: &[u8]) -> Option<S::Value> {
        let mut x = seed.iter().fold(0x9e37_79b9_7f4a_7c15u64, |h, &b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        });
        let mut key = [0u8; 16];
        for half in key.chunks_mut(8) {
            x = crate::campaign::chunk_seed(x, 1);
            half.copy_from_slice(&x.to_le_bytes());
        }
        let rng = TestRng::from_seed(RngAlgorithm::XorShift, &key);
        let mut runner = TestRunner::new_with_rng(Config::default(), rng);
        Some(strategy.new_tree(&mut runner).ok()?.current())
    }
    let kinds = crate::gen::default_kinds();
    let mut chunks = rest.chunks(8);
    let mut ops = draw(crate::gen::prelude(), chunks.next()?)?;
    for c in chunks.take(MAX_OPS) {
        let kind = kinds[c[0] as usize % kinds.len()];
        ops.push(draw(crate::gen::one_op(kind), &c[1..])?);
    }
    Some(ops)
}

/// The input bytes of an explicit sequence (odd tag, JSON).
pub fn bytes_of(ops: &[Op]) -> Vec<u8> {
    let mut out = vec![1u8];
    out.extend(serde_json::to_vec(ops).expect("ops serialize"));
    out
}

/// Why the seeds could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// A regression file.
    #[error(transparent)]
    Regression(#[from] crate::regression::LoadError),
    /// A scenario table.
    #[error(transparent)]
    Scenario(#[from] crate::scenario::LoadError),
}

/// The seed inputs: every regression's sequence and every scenario's setup
/// and op, named `regression-<name>` and `scenario-<name>`, sequences
/// longer than [`MAX_LEN`] left out.
pub fn seeds(corpus: &Path) -> Result<Vec<(String, Vec<u8>)>, SeedError> {
    let mut out = Vec::new();
    for (_, r) in Regression::load_dir(&corpus.join("regressions"))? {
        if r.ops.len() <= MAX_LEN {
            out.push((format!("regression-{}", r.name), bytes_of(&r.ops)));
        }
    }
    for (_, s) in crate::scenario::load_dir(&corpus.join("scenarios"))? {
        let mut ops = s.setup.clone();
        ops.push(s.run.clone());
        if ops.len() <= MAX_LEN {
            out.push((format!("scenario-{}", s.name), bytes_of(&ops)));
        }
    }
    Ok(out)
}

/// What one sequence came to.
pub enum Checked {
    /// Every target agreed with the model (or the model declared the
    /// outcome outside what it pins down).
    Agree,
    /// A confirmed divergence: the finding and its regression file text.
    Diverged(Box<Finding>, String),
    /// A divergence that did not come back on every replay: not reported
    /// as a finding.
    Unconfirmed(Box<Finding>),
}

/// The scratch area and targets the fuzz target runs its inputs on. Bound
/// to the thread that made it (as its [`Scratch`] is).
pub struct SequenceChecker {
    scratch: Scratch,
    targets: Vec<Target>,
}

impl SequenceChecker {
    /// A private tmpfs scratch area (or `RINGSPEC_FS`'s filesystem), the
    /// syscalls target and io_uring in each of `submissions`; a submission
    /// path this kernel cannot serve is left out and named in the returned
    /// list.
    pub fn new(submissions: &[Submission]) -> Result<(SequenceChecker, Vec<String>), String> {
        let choice = sys::scratch::FsChoice::from_env().map_err(|e| e.to_string())?;
        let scratch = Scratch::with_fs(choice).map_err(|e| e.to_string())?;
        let mut targets = vec![campaign::syscalls_target(&scratch)];
        let mut left_out = Vec::new();
        for t in campaign::uring_targets_or_unavailable(&scratch, submissions)
            .map_err(|e| e.to_string())?
        {
            match &t.unavailable {
                Some(why) => left_out.push(format!("{}: {why}", t.name)),
                None => targets.push(t),
            }
        }
        Ok((SequenceChecker { scratch, targets }, left_out))
    }

    /// The targets' names, the reference first.
    pub fn target_names(&self) -> Vec<String> {
        self.targets.iter().map(|t| t.name.clone()).collect()
    }

    /// Runs `ops` through every target (see the module documentation). Err
    /// is an environment failure (a run could not be set up, the scratch
    /// area is full or broken), never a verdict.
    pub fn check(&self, ops: &[Op]) -> Result<Checked, String> {
        let Some(f) = campaign::check_and_settle(&self.scratch, &self.targets, ops)? else {
            return Ok(Checked::Agree);
        };
        if f.reproduced < f.replays {
            return Ok(Checked::Unconfirmed(Box::new(f)));
        }
        let name = format!("fuzz_{}", f.target.replace('/', "_"));
        let mut reg = Regression::from_finding(&name, None, &f.ops, &f.divergence);
        reg.target = Some(f.target.clone());
        reg.fs = Some(self.scratch.fs().name.to_string());
        reg.found_by = Some("cargo fuzz run sequences".into());
        let text = reg.to_toml();
        Ok(Checked::Diverged(Box::new(f), text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_sequences_round_trip_through_the_explicit_form() {
        let mut decoded = 0;
        for k in 0u8..32 {
            let bytes: Vec<u8> = (0..256u32)
                .map(|i| (i as u8).wrapping_mul(k | 1) ^ k)
                .collect();
            let mut input = vec![0u8];
            input.extend(bytes);
            if let Some(ops) = ops_from_bytes(&input) {
                decoded += 1;
                assert!(ops.len() <= MAX_LEN);
                assert_eq!(ops_from_bytes(&bytes_of(&ops)), Some(ops));
            }
        }
        assert!(decoded > 16, "only {decoded} of 32 streams decoded");
    }

    #[test]
    fn the_corpus_gives_seeds() {
        let seeds = seeds(&crate::corpus_dir()).expect("the corpus loads");
        assert!(seeds.iter().any(|(n, _)| n.starts_with("regression-")));
        assert!(
            seeds
                .iter()
                .filter(|(n, _)| n.starts_with("scenario-"))
                .count()
                > 50
        );
        for (name, bytes) in &seeds {
            assert!(
                ops_from_bytes(bytes).is_some(),
                "{name} decodes to no sequence"
            );
        }
    }
}
