//! The differential campaign behind `ringspec run` and the conformance suite:
//! random sequences (seeded, shrinking) through the model and every target
//! backend, with per-opcode counts.

use crate::differential::{
    check_sequence, check_sequence_grouped, Divergence, Grouping, SeqResult, Verdict,
};
use crate::gen;
use backends::backend::Backend;
use backends::uring::Mode;
use model::{Op, OpKind, Profile};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use sys::scratch::{Roots, Scratch};

/// One backend the campaign drives, with the model profile it is judged by.
pub struct Target {
    /// Report name ("syscalls", "uring/async", ...).
    pub name: String,
    /// The profile the model uses for this backend (interface included).
    pub profile: Profile,
    /// Builds a fresh backend on fresh roots for one sequence.
    #[allow(clippy::type_complexity)]
    pub make: Box<dyn Fn(Roots) -> Result<Box<dyn Backend>, MakeError> + Send + Sync>,
    /// Submit consecutive ops as batches or linked chains (io_uring only).
    pub group: Option<Grouping>,
    /// Per op kind: `Some(false)` if this backend runs that kind but the kernel
    /// lacks its opcode (it then runs synchronously and is reported
    /// unsupported), `None` if the kind has no opcode at all.
    pub supported: BTreeMap<OpKind, bool>,
    /// Set when the kernel or the filesystem cannot serve this submission
    /// mode here (SQPOLL refused, io_uring disabled...): why. `make` then
    /// fails with the same text ([`MakeError::Unavailable`]); the suite
    /// reports every op kind of the target as `"unavailable: <why>"` instead
    /// of running it.
    pub unavailable: Option<String>,
}

/// Why a [`Target`]'s backend could not be made ([`Target::make`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MakeError {
    /// The scratch roots a target was probed on could not be made (only
    /// inside [`MakeError::Unavailable`]: `make` itself is given its roots).
    #[error("scratch roots: {0}")]
    Roots(#[source] sys::scratch::ScratchError),
    /// io_uring could not be set up in the target's submission mode.
    #[error("io_uring ({mode}): {source}")]
    Uring {
        /// The submission mode.
        mode: Mode,
        /// The error.
        #[source]
        source: backends::uring::UringError,
    },
    /// The target was found unavailable when the targets were probed
    /// ([`Target::unavailable`] holds the same text): why.
    #[error("unavailable: {0}")]
    Unavailable(#[source] Box<MakeError>),
}

/// Why a sequence or a scenario could not be run on a target: the run could
/// not be set up, an environment failure, never a verdict.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The run's scratch roots could not be made.
    #[error(transparent)]
    Roots(#[from] sys::scratch::ScratchError),
    /// The target's backend could not be made.
    #[error(transparent)]
    Make(#[from] MakeError),
    /// The thread running the scenario panicked.
    #[error("{target}: the scenario thread panicked")]
    Panicked {
        /// The target's name.
        target: String,
    },
}

impl Target {
    /// Builds a fresh backend on fresh roots named `label` in `scratch`.
    pub fn backend(&self, scratch: &Scratch, label: &str) -> Result<Box<dyn Backend>, RunError> {
        let roots = scratch.roots(label)?;
        Ok((self.make)(roots)?)
    }

    /// Runs one scenario on a fresh backend built on `roots`, on a thread of
    /// its own that ends with the scenario.
    ///
    /// Why a thread: closing an io_uring instance queues task work
    /// (`TWA_SIGNAL`) on every task that used it, from the ring's exit worker,
    /// at a moment of the kernel's choosing. While that work is pending,
    /// `signal_pending()` holds, and syscalls that check it end early with a
    /// legitimate short result: getdents64 stops after its first record,
    /// splice after its first page. The model allows that in random sequences,
    /// but a scenario states one exact outcome, so a ring closed by the
    /// previous scenario must not be able to reach this one. A thread's exit
    /// tears down its io_uring context synchronously, so nothing is left over.
    pub fn run_scenario(
        &self,
        scenario: &crate::scenario::Scenario,
        roots: Roots,
    ) -> Result<crate::scenario::ScenarioResult, RunError> {
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut backend = (self.make)(roots)?;
                Ok(scenario.run(&self.profile, backend.as_mut()))
            })
            .join()
            .unwrap_or_else(|_| {
                Err(RunError::Panicked {
                    target: self.name.clone(),
                })
            })
        })
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub struct CampaignConfig {
    /// The seed; every run prints it.
    pub seed: u64,
    /// Stop after this many sequences...
    pub cases: Option<u64>,
    /// ...or after this much time (whichever comes first; neither: 300 cases).
    pub duration: Option<Duration>,
    /// Op kinds the generator may draw from (swarm subsets of these).
    pub kinds: Vec<OpKind>,
    /// Longest generated body (after the fixed prelude).
    pub max_len: usize,
}

impl Default for CampaignConfig {
    fn default() -> CampaignConfig {
        CampaignConfig {
            seed: 0x5eed_2026,
            cases: None,
            duration: None,
            kinds: gen::default_kinds(),
            max_len: 40,
        }
    }
}

/// Counts for one op kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KindStats {
    /// Sequences that contained the kind.
    pub sequences: u64,
    /// Ops executed per target.
    pub executed: BTreeMap<String, u64>,
    /// Divergences at an op of this kind.
    pub divergences: u64,
    /// Sequences poisoned at an op of this kind.
    pub poisoned: u64,
    /// Targets on which the kind's opcode is missing (ran synchronously).
    pub unsupported: Vec<String>,
    /// Ops of this kind submitted through io_uring (all io_uring targets).
    pub via_ring: u64,
    /// Ops of this kind submitted through io_uring, per target (submission
    /// mode); the rest of `executed` ran synchronously.
    pub ring: BTreeMap<String, u64>,
}

/// Campaign totals.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Sequences run (each through every target).
    pub sequences: u64,
    /// Sequence runs (sequence x target) that agreed.
    pub agree: u64,
    /// Sequence runs poisoned by behaviour the model does not pin down.
    pub poisoned: u64,
    /// Sequence runs that diverged (before shrinking: shrinking reruns count too).
    pub diverged: u64,
    /// Ops not run because the model says they would block forever.
    pub skipped_blocking: u64,
    /// Ops submitted inside batches or linked chains of two or more.
    pub grouped_ops: u64,
    /// Linked chains a member broke (the cancellations were checked).
    pub broken_chains: u64,
    /// io_uring runs whose outcomes equalled the syscalls' op for op, so their
    /// final states (holes included) were compared with the syscalls' too.
    pub cross_compared: u64,
    /// io_uring runs not cross-compared: their outcomes differed from the
    /// syscalls' in ways both models allowed (short counts, cancellations...).
    pub cross_skipped: u64,
    /// Per op kind.
    pub per_kind: BTreeMap<OpKind, KindStats>,
    /// Why runs were poisoned, with counts.
    pub poison_reasons: BTreeMap<String, u64>,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// A divergence, minimized.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The target that diverged.
    pub target: String,
    /// The campaign seed.
    pub seed: u64,
    /// Sequences run before the chunk that found it (rerun the campaign with
    /// `--cases` past this to find it again).
    pub after_sequences: u64,
    /// The minimal sequence.
    pub ops: Vec<Op>,
    /// What diverged.
    pub divergence: Divergence,
    /// Ops in the failing sequence as generated.
    pub generated_len: usize,
    /// Where the generated sequence first diverged (`None`: only its final
    /// state differed): the minimal sequence is never longer than this + 1.
    pub generated_index: Option<usize>,
    /// Runs the minimization spent.
    pub minimize_tests: u32,
    /// Replays of the saved minimal sequence that diverged again.
    pub reproduced: u32,
    /// Replays tried ([`CONFIRM_REPLAYS`]).
    pub replays: u32,
}

/// The outcome of a campaign.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignResult {
    /// Counts.
    pub stats: Stats,
    /// The first confirmed divergence, minimized; `None` if every run agreed.
    pub finding: Option<Finding>,
    /// Divergences that did not come back when their minimal sequence was
    /// replayed (nondeterministic: printed and counted, not a finding).
    pub unconfirmed: Vec<Finding>,
    /// Why the campaign could not go on (the scratch area's backing store
    /// full, its filesystem read-only, a run that could not be set up): an
    /// environment failure, never a verdict on the kernel.
    pub environment: Option<String>,
    /// True if the campaign was interrupted (Ctrl-C) before its budget.
    pub interrupted: bool,
}

/// Set by the SIGINT/SIGTERM handler ([`sys::interrupt`]): the campaign
/// stops after the current sequence.
pub use crate::submission::Submission;
pub use sys::interrupt::STOP;

/// Sequences per proptest runner chunk; chunk k draws from [`chunk_seed`].
pub const CHUNK: u64 = 50;

/// The RNG seed of chunk `k` of a campaign (splitmix64, so campaigns with
/// nearby seeds share no chunks).
pub fn chunk_seed(seed: u64, k: u64) -> u64 {
    let mut z = seed ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Runs one sequence through one target on fresh roots.
pub fn run_one(
    scratch: &Scratch,
    label: &str,
    target: &Target,
    ops: &[Op],
) -> Result<SeqResult, RunError> {
    let mut backend = target.backend(scratch, label)?;
    let res = match target.group {
        None => check_sequence(&target.profile, ops, backend.as_mut()),
        Some(g) => check_sequence_grouped(&target.profile, ops, backend.as_mut(), g),
    };
    drop(backend);
    wait_for_space(scratch);
    Ok(res)
}

/// After a run, waits (up to 3 s) until the scratch filesystem has half of
/// its space back: a ring releases its files (registered ones included) in
/// asynchronous teardown work, so a run that filled the filesystem would
/// otherwise leave the next run an ENOSPC it did not cause.
fn wait_for_space(scratch: &Scratch) {
    // Only the private mounts are ours to wait for; a host directory's
    // free space is somebody else's business.
    if !scratch.fs().private_mount {
        return;
    }
    let main = scratch.path().join("main");
    let free_fraction = || {
        nix::sys::statvfs::statvfs(&main)
            .ok()
            .map(|s| s.blocks_available() as f64 / s.blocks().max(1) as f64)
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    while free_fraction().is_some_and(|f| f < 0.5) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs the campaign. `progress` is called after every sequence.
///
/// A divergence is minimized ([`crate::minimize`] on top of proptest's value
/// shrinking), written out as a regression file text and parsed back, and the
/// parsed sequence is replayed [`CONFIRM_REPLAYS`] times on fresh roots: only
/// a divergence that comes back is reported as the [`CampaignResult::finding`].
/// One that does not is kept in [`CampaignResult::unconfirmed`] and the
/// campaign goes on with the next chunk. Before either, the scratch area's
/// health is checked ([`Scratch::health`]): a full backing store or a
/// filesystem gone read-only ends the campaign as an environment failure,
/// never as a finding.
pub fn run(
    cfg: &CampaignConfig,
    scratch: &Scratch,
    targets: &[Target],
    progress: &mut dyn FnMut(&Stats),
) -> CampaignResult {
    let started = Instant::now();
    let budget_cases = match (cfg.cases, cfg.duration) {
        (None, None) => Some(300),
        (c, _) => c,
    };
    let stats = RefCell::new(Stats::default());
    for t in targets {
        for (k, ok) in &t.supported {
            if !ok {
                let mut s = stats.borrow_mut();
                s.per_kind
                    .entry(*k)
                    .or_default()
                    .unsupported
                    .push(t.name.clone());
            }
        }
    }
    let all: Vec<&Target> = targets.iter().collect();
    let counter = RefCell::new(0u64);
    let progress = RefCell::new(progress);
    let mut finding = None;
    let mut unconfirmed = Vec::new();
    let mut environment = None;
    let mut chunk = 0u64;
    let out_of_budget = |n: u64| {
        budget_cases.is_some_and(|c| n >= c)
            || cfg.duration.is_some_and(|d| started.elapsed() >= d)
            || STOP.load(Ordering::SeqCst)
    };
    while !out_of_budget(*counter.borrow()) {
        let chunk_seed = chunk_seed(cfg.seed, chunk);
        chunk += 1;
        let left = budget_cases.map_or(CHUNK, |c| (c - *counter.borrow()).min(CHUNK));
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases: left as u32,
                failure_persistence: None,
                // Minimization is ours ([`settle`]): proptest's shrinking
                // of long sequences is slow, and when it stops at its
                // limits it prints to stderr.
                max_shrink_iters: 0,
                ..Config::default()
            },
            gen::seeded_rng(chunk_seed),
        );
        let first_failure: RefCell<Option<(String, Divergence)>> = RefCell::new(None);
        let before = *counter.borrow();
        let shrinking = std::cell::Cell::new(false);
        let result = runner.run(&gen::sequence(cfg.kinds.clone(), cfg.max_len), |ops| {
            if STOP.load(Ordering::SeqCst) {
                return Ok(());
            }
            let mut st = stats.borrow_mut();
            if !shrinking.get() {
                *counter.borrow_mut() += 1;
                st.sequences += 1;
                let mut kinds: Vec<OpKind> = ops.iter().map(|o| o.kind()).collect();
                kinds.sort();
                kinds.dedup();
                for k in kinds {
                    st.per_kind.entry(k).or_default().sequences += 1;
                }
            }
            let label = format!("c{}", *counter.borrow());
            match check_one(scratch, &all, &label, &ops, &mut st)
                .map_err(|e| TestCaseError::fail(e.to_string()))?
            {
                None => {}
                Some((target, div)) => {
                    shrinking.set(true);
                    let text = div.to_string();
                    *first_failure.borrow_mut() = Some((target, div));
                    return Err(TestCaseError::fail(text));
                }
            }
            drop(st);
            if !shrinking.get() {
                (progress.borrow_mut())(&stats.borrow());
            }
            Ok(())
        });
        match result {
            Err(proptest::test_runner::TestError::Fail(why, ops)) => {
                let Some((target, divergence)) = first_failure.into_inner() else {
                    // A run that could not be set up (an environment error,
                    // not a divergence).
                    environment = Some(why.to_string());
                    break;
                };
                if let Err(why) = scratch.health() {
                    environment = Some(format!(
                        "{why} (a run diverged on {target} at the same time: {})",
                        first_line(&divergence.to_string())
                    ));
                    break;
                }
                let f = settle(scratch, targets, &target, divergence, ops, cfg.seed, before);
                if let Err(why) = scratch.health() {
                    environment = Some(why.to_string());
                    break;
                }
                if f.reproduced > 0 {
                    finding = Some(f);
                    break;
                }
                unconfirmed.push(f);
                // The rest of this chunk is skipped; chunks are seeded
                // independently, so the next one is what it would have been.
                *counter.borrow_mut() = before + left;
            }
            Err(proptest::test_runner::TestError::Abort(why)) => {
                environment = Some(format!("the generator gave up: {why}"));
                break;
            }
            Ok(()) => {}
        }
    }
    let mut stats = stats.into_inner();
    stats.seconds = started.elapsed().as_secs_f64();
    CampaignResult {
        stats,
        finding,
        unconfirmed,
        environment,
        interrupted: STOP.load(Ordering::SeqCst),
    }
}

/// Times a minimized divergence is replayed (from its regression file text)
/// to confirm it.
pub const CONFIRM_REPLAYS: u32 = 3;

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// What "the same failure" means while minimizing: the same target (and
/// the reference target, for a cross-compared state), diverging at an op
/// of the same kind, or in the final state.
fn signature(d: &Divergence) -> String {
    match &d.op {
        Some(op) => format!("op {}", op.kind().name()),
        None => "final state".into(),
    }
}

/// Smaller values to try for the integer `v` at `key` of an op while
/// minimizing: a generator boundary value ([`gen::BOUNDARY_OFFSETS`]) only
/// the boundaries listed before it (so a failure at 2^32 + 1 that also
/// shows at 2^32 is reported at 2^32), any other value 0, 1, half of it and
/// one less. Descriptors, slots, modes and flags are left alone: a smaller
/// one is a different op, not a simpler one.
fn smaller_values(key: &str, v: i64) -> Vec<i64> {
    const KEPT: &[&str] = &[
        "slot",
        "read_slot",
        "write_slot",
        "fd",
        "fd_in",
        "fd_out",
        "mode",
        "flags",
        "advice",
        "dev",
        "major",
        "minor",
        "entry",
    ];
    if KEPT.contains(&key) {
        return Vec::new();
    }
    if let Some(i) = gen::BOUNDARY_OFFSETS.iter().position(|&b| b == v) {
        return gen::BOUNDARY_OFFSETS[..i].to_vec();
    }
    let mut c = vec![0, 1, v / 2, v.saturating_sub(1)];
    c.retain(|x| x.unsigned_abs() < v.unsigned_abs());
    c.dedup();
    c
}

/// Minimizes a divergence found on `target_name`, round-trips the minimal
/// sequence through the regression file format and replays it to confirm.
fn settle(
    scratch: &Scratch,
    targets: &[Target],
    target_name: &str,
    divergence: Divergence,
    ops: Vec<Op>,
    seed: u64,
    before: u64,
) -> Finding {
    let generated_len = ops.len();
    let first_index = divergence.index;
    // The targets the failure needs: the diverging one, and the reference
    // (first) target when the failure was a cross-comparison of states.
    let mut subset: Vec<&Target> = Vec::new();
    let cross = divergence.op.is_none() && divergence.why.starts_with("same outcomes as");
    if cross {
        subset.push(&targets[0]);
    }
    if let Some(t) = targets.iter().find(|t| t.name == target_name) {
        if !subset.iter().any(|s| s.name == t.name) {
            subset.push(t);
        }
    }
    let sig = signature(&divergence);
    let mut scratch_stats = Stats::default();
    let mut latest: Option<Divergence> = None;
    let mut fails = |candidate: &[Op], latest: &mut Option<Divergence>| -> bool {
        match check_one(scratch, &subset, "min", candidate, &mut scratch_stats) {
            Ok(Some((t, d))) if t == target_name && signature(&d) == sig => {
                *latest = Some(d);
                true
            }
            _ => false,
        }
    };
    // An op-level divergence needs nothing after its op.
    let mut start = ops.clone();
    if let Some(i) = divergence.index {
        if i + 1 < start.len() && fails(&start[..=i], &mut latest) {
            start.truncate(i + 1);
        }
    }
    let m = crate::minimize::ddmin(start, crate::minimize::Budget::default(), |c| {
        fails(c, &mut latest)
    });
    let v = crate::minimize::shrink_integers(
        m.items,
        crate::minimize::Budget::default(),
        smaller_values,
        |op: &Op| op.validate().is_ok(),
        |c| fails(c, &mut latest),
    );
    let mut minimal = v.items;
    let mut divergence = divergence;
    // The divergence as the minimal sequence shows it.
    if fails(&minimal, &mut latest) {
        if let Some(d) = latest.take() {
            divergence = d;
        }
    } else {
        minimal = ops.clone();
    }
    // Confirm through the file format: what is saved is what is replayed.
    let reg =
        crate::regression::Regression::from_finding("confirm", Some(seed), &minimal, &divergence);
    let parsed = crate::regression::Regression::parse(&reg.to_toml())
        .map(|r| r.ops)
        .unwrap_or_else(|_| minimal.clone());
    let mut reproduced = 0;
    for _ in 0..CONFIRM_REPLAYS {
        if fails(&parsed, &mut latest) {
            reproduced += 1;
        }
    }
    Finding {
        target: target_name.to_string(),
        seed,
        after_sequences: before,
        ops: parsed,
        divergence,
        generated_len,
        generated_index: first_index,
        minimize_tests: m.tests + v.tests,
        reproduced,
        replays: CONFIRM_REPLAYS,
    }
}

/// Runs `ops` through `targets` on fresh roots (the first target is the
/// reference for cross-checks) and, on a divergence, minimizes it and
/// replays the minimal sequence from its regression file text
/// [`CONFIRM_REPLAYS`] times, as the campaign does: the check of
/// `cargo fuzz run sequences` ([`crate::seqfuzz`]). Err when a run could not
/// be set up or the scratch area is unhealthy (an environment failure,
/// never a finding).
pub fn check_and_settle(
    scratch: &Scratch,
    targets: &[Target],
    ops: &[Op],
) -> Result<Option<Finding>, String> {
    let refs: Vec<&Target> = targets.iter().collect();
    let mut stats = Stats::default();
    let found = check_one(scratch, &refs, "fz", ops, &mut stats).map_err(|e| e.to_string())?;
    let Some((target, divergence)) = found else {
        return Ok(None);
    };
    scratch.health().map_err(|why| why.to_string())?;
    Ok(Some(settle(
        scratch,
        targets,
        &target,
        divergence,
        ops.to_vec(),
        0,
        0,
    )))
}

/// A run of [`check_one`] that could not be set up on a target.
#[derive(Debug, thiserror::Error)]
#[error("{target}: {source}")]
struct CheckError {
    /// The target's name.
    target: String,
    /// Why.
    #[source]
    source: RunError,
}

/// Runs one sequence through `targets` in order on fresh roots, adding to
/// `st`; returns the first divergence (target name and what diverged), or
/// `Err` if a run could not be set up.
fn check_one(
    scratch: &Scratch,
    targets: &[&Target],
    label: &str,
    ops: &[Op],
    st: &mut Stats,
) -> Result<Option<(String, Divergence)>, CheckError> {
    // The first target's outcomes and final state, for cross-checks.
    let mut reference: Option<(Vec<(usize, model::Outcome)>, model::State)> = None;
    for t in targets {
        let res = run_one(scratch, label, t, ops).map_err(|source| CheckError {
            target: t.name.clone(),
            source,
        })?;
        if let (Verdict::Agree, Some(state)) = (&res.verdict, &res.state) {
            let outcomes = comparable(&res.outcomes);
            match &reference {
                None => reference = Some((outcomes, state.clone())),
                Some((ref_out, ref_state)) if *ref_out == outcomes => {
                    st.cross_compared += 1;
                    let d = model::diff(&targets[0].name, ref_state, &t.name, state);
                    if !d.is_empty() {
                        st.diverged += 1;
                        let div = Divergence {
                            index: None,
                            op: None,
                            backend: t.name.clone(),
                            actual: None,
                            allowed: String::new(),
                            why: format!(
                                "same outcomes as {} op for op, different final state",
                                targets[0].name
                            ),
                            state_diff: d,
                        };
                        return Ok(Some((t.name.clone(), div)));
                    }
                }
                Some(_) => st.cross_skipped += 1,
            }
        }
        st.skipped_blocking += res.skipped_blocking;
        st.grouped_ops += res.grouped;
        st.broken_chains += res.broken_chains;
        for (k, (ring, _)) in &res.ring {
            let ks = st.per_kind.entry(*k).or_default();
            ks.via_ring += ring;
            *ks.ring.entry(t.name.clone()).or_default() += ring;
        }
        for (k, c) in &res.executed {
            *st.per_kind
                .entry(*k)
                .or_default()
                .executed
                .entry(t.name.clone())
                .or_default() += c;
        }
        match res.verdict {
            Verdict::Agree => st.agree += 1,
            Verdict::Poisoned(why) => {
                st.poisoned += 1;
                let kind = why.split_whitespace().nth(2).unwrap_or("?").to_string();
                if let Some(k) = OpKind::from_name(kind.trim_end_matches(':')) {
                    st.per_kind.entry(k).or_default().poisoned += 1;
                }
                let reason = why.split_once(": ").map_or(why.as_str(), |x| x.1);
                *st.poison_reasons.entry(reason.to_string()).or_default() += 1;
            }
            Verdict::Diverged(d) => {
                st.diverged += 1;
                if let Some(op) = &d.op {
                    st.per_kind.entry(op.kind()).or_default().divergences += 1;
                }
                return Ok(Some((t.name.clone(), *d)));
            }
        }
    }
    Ok(None)
}

/// Outcomes as two real backends can be compared: io_uring does not write
/// explicit offsets back, so the syscalls' written-back offsets are dropped.
fn comparable(outcomes: &[(usize, model::Outcome)]) -> Vec<(usize, model::Outcome)> {
    outcomes
        .iter()
        .map(|(i, o)| (*i, backends::compare::comparable(o)))
        .collect()
}

/// The synchronous-syscall target on a scratch area.
pub fn syscalls_target(scratch: &Scratch) -> Target {
    Target {
        name: "syscalls".into(),
        profile: crate::profile::detect(scratch, model::Interface::Syscall),
        make: Box::new(|roots| Ok(Box::new(backends::syscalls::Syscalls::new(roots)))),
        group: None,
        supported: BTreeMap::new(),
        unavailable: None,
    }
}

/// The per-opcode table printed at the end of a run.
pub fn table(stats: &Stats, targets: &[String]) -> String {
    let mut out = format!("{:<16} {:>9}", "op", "sequences");
    for t in targets {
        out.push_str(&format!(" {:>14}", t));
    }
    out.push_str(&format!(
        " {:>9} {:>11} {:>9}  {}\n",
        "via-ring", "divergences", "poisoned", "unsupported"
    ));
    for (k, s) in &stats.per_kind {
        out.push_str(&format!("{:<16} {:>9}", k.name(), s.sequences));
        for t in targets {
            let ops = s.executed.get(t).copied().unwrap_or(0);
            let cell = match s.ring.get(t) {
                Some(&ring) if ring != ops => format!("{ops} ({ring})"),
                _ => ops.to_string(),
            };
            out.push_str(&format!(" {cell:>14}"));
        }
        let unsupported = if s.unsupported.is_empty() {
            "-".to_string()
        } else {
            format!(
                "unsupported on this kernel via {}",
                s.unsupported.join(", ")
            )
        };
        out.push_str(&format!(
            " {:>9} {:>11} {:>9}  {}\n",
            s.via_ring, s.divergences, s.poisoned, unsupported
        ));
    }
    let runs = (stats.agree + stats.poisoned + stats.diverged).max(1) as f64;
    out.push_str(&format!(
        "{} sequences, {} runs: {} agree, {} poisoned ({:.2}%), {} diverged; {} ops skipped as blocking; {:.1} s\n",
        stats.sequences,
        stats.agree + stats.poisoned + stats.diverged,
        stats.agree,
        stats.poisoned,
        100.0 * stats.poisoned as f64 / runs,
        stats.diverged,
        stats.skipped_blocking,
        stats.seconds
    ));
    if stats.cross_compared + stats.cross_skipped > 0 {
        out.push_str(&format!(
            "{} io_uring runs matched the syscalls op for op and had their final states (holes included) compared; {} differed in allowed ways\n",
            stats.cross_compared, stats.cross_skipped
        ));
    }
    if stats.grouped_ops > 0 {
        out.push_str(&format!(
            "{} ops ran inside batches or linked chains; {} linked chains were broken by a failing or short member\n",
            stats.grouped_ops, stats.broken_chains
        ));
    }
    out.push_str(
        "ops per target; \"N (R)\": N ops, R of them through the ring (the rest had no \
         opcode on this kernel and ran synchronously)\n",
    );
    for (why, n) in &stats.poison_reasons {
        out.push_str(&format!("  poisoned {n}x: {why}\n"));
    }
    out
}

/// One io_uring target per mode, each judged by the model with the io_uring
/// interface except for the op kinds it runs synchronously (no opcode, or an
/// opcode the kernel lacks: those are listed as unsupported). The proposed
/// opcodes come from `RINGSPEC_PROPOSED`.
/// Why io_uring targets could not be made.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TargetError {
    /// The configuration is wrong (RINGSPEC_PROPOSED malformed, or a proposed
    /// opcode number collides with a mainline opcode): bad input.
    #[error("{0}")]
    Config(String),
    /// io_uring cannot be used here (disabled by sysctl, not built in, no
    /// SQPOLL permission...): the environment.
    #[error("{0}")]
    Unavailable(String),
}

/// The io_uring targets for the given submission paths (see [`Submission`]);
/// the first mode that cannot be set up here is an error
/// ([`TargetError::Unavailable`]).
pub fn uring_targets(
    scratch: &Scratch,
    submissions: &[Submission],
) -> Result<Vec<Target>, TargetError> {
    let all = uring_targets_or_unavailable(scratch, submissions)?;
    if let Some(why) = all.iter().find_map(|t| t.unavailable.clone()) {
        return Err(TargetError::Unavailable(why));
    }
    Ok(all)
}

/// The io_uring targets for the given submission paths, one per path in
/// order; a path the kernel or filesystem cannot serve here is a target with
/// [`Target::unavailable`] set (never left out). Only bad configuration is
/// an error.
pub fn uring_targets_or_unavailable(
    scratch: &Scratch,
    submissions: &[Submission],
) -> Result<Vec<Target>, TargetError> {
    let proposed = backends::sqe::ProposedOpcodes::from_env()
        .map_err(|e| TargetError::Config(e.to_string()))?;
    let mut out = Vec::new();
    for &sub in submissions {
        let (mode, group) = match sub {
            Submission::Mode(m) => (m, None),
            Submission::Grouped(g) => (Mode::Single, Some(g)),
        };
        let made = scratch
            .roots(&format!("probe-{}", sub.name()))
            .map_err(MakeError::Roots)
            .and_then(|roots| make_uring(roots, mode, proposed));
        let probe = match made {
            Ok(p) => p,
            Err(
                e @ MakeError::Uring {
                    source: backends::uring::UringError::Proposed(_),
                    ..
                },
            ) => return Err(TargetError::Config(e.to_string())),
            Err(e) => {
                let e = MakeError::Unavailable(Box::new(e));
                let why = e.to_string();
                out.push(Target {
                    name: sub.target_name(),
                    profile: crate::profile::detect(scratch, model::Interface::Uring),
                    make: Box::new(move |_| Err(e.clone())),
                    group,
                    supported: BTreeMap::new(),
                    unavailable: Some(why),
                });
                continue;
            }
        };
        let mut supported = BTreeMap::new();
        let mut sync_kinds = Vec::new();
        for k in OpKind::ALL {
            match probe.supported(k) {
                Some(true) => {
                    supported.insert(k, true);
                }
                Some(false) => {
                    supported.insert(k, false);
                    sync_kinds.push(k);
                }
                None => {
                    // The proposed opcodes are "unsupported on this kernel" when
                    // no number is configured; lseek/umask/seek_dirent have none.
                    if matches!(k, OpKind::CopyFileRange | OpKind::Getdents | OpKind::Mknod) {
                        supported.insert(k, false);
                    }
                    sync_kinds.push(k);
                }
            }
        }
        drop(probe);
        let mut profile = crate::profile::detect(scratch, model::Interface::Uring);
        profile.sync_kinds = sync_kinds;
        profile.uring_async = mode == backends::uring::Mode::Async;
        profile.uring_fixed = mode == backends::uring::Mode::Fixed;
        out.push(Target {
            name: sub.target_name(),
            profile,
            group,
            make: Box::new(move |roots| {
                make_uring(roots, mode, proposed).map(|u| Box::new(u) as Box<dyn Backend>)
            }),
            supported,
            unavailable: None,
        });
    }
    Ok(out)
}

/// An io_uring backend in `mode` on `roots`.
fn make_uring(
    roots: Roots,
    mode: Mode,
    proposed: backends::sqe::ProposedOpcodes,
) -> Result<backends::uring::Uring, MakeError> {
    backends::uring::Uring::new(roots, mode, proposed)
        .map_err(|source| MakeError::Uring { mode, source })
}
