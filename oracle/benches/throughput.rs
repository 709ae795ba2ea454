//! `cargo bench -p oracle --bench throughput`: what the oracle costs next to the
//! kernel work it checks, in one run on a private tmpfs. Everything runs twice,
//! each time on a fresh thread with its own scratch area: unpinned (as `ringspec
//! run` does) and pinned to one CPU, because on this 2-vCPU VM an io-wq punt that
//! wakes the idle vCPU costs 20-50 us instead of about 6 us.
//!
//! 1. Raw cost: a fixed set of generated sequences (fixed seed) executed straight
//!    through `Syscalls` and `Uring`, exactly the ops (and groups) the oracle runs
//!    for them and nothing else, with the setup (roots + backend), the final
//!    snapshot and the teardown timed apart.
//! 2. The oracle: `campaign::run_one` on the same sequences for the syscalls,
//!    uring/single, uring/batch and uring/linked targets: sequences/s, ops/s, the
//!    ratio to the raw cost and where the time goes (the model side is timed by
//!    running the same check against the recorded outcomes).
//! 3. Batching: `Uring::exec_batch` of independent ops at batch sizes 1, 8 and 32
//!    (single and async modes) next to the kernel's own limit, measured in the same
//!    run with the io-uring crate directly (no harness) for the same opcodes and
//!    NOP.
//!
//! Knobs: `RINGSPEC_BENCH_SEQS` (sequences, default 300), `RINGSPEC_BENCH_REPS`
//! (timed repetitions, medians reported, default 5), `RINGSPEC_BENCH_OPS` (ops per
//! batching point, default 4096), `RINGSPEC_SEED`.

use backends::backend::Backend;
use backends::uring::{Mode, Uring};
use io_uring::{opcode, squeue, types, IoUring};
use model::{Advice, FdRef, Off, Op, OpenFlag, Outcome, Payload, State};
use oracle::campaign::{self, Submission, Target};
use oracle::differential::{self, Grouping, Verdict};
use oracle::gen;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, TestRunner};
use std::collections::BTreeMap;
use std::fs::File;
use std::hint::black_box;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use sys::scratch::Scratch;

const PAGE: u64 = 4096;
/// Distinct 4 KiB offsets the batched ops cycle through.
const PAGES: u64 = 32;
/// Batch sizes measured; 0 stands for `Backend::exec`, one op at a time.
const SIZES: [usize; 4] = [0, 1, 8, 32];

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn label(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

fn secs(t: Instant) -> f64 {
    t.elapsed().as_secs_f64()
}

fn sequences(n: u64, seed: u64) -> Vec<Vec<Op>> {
    let mut runner = TestRunner::new_with_rng(
        Config {
            failure_persistence: None,
            ..Config::default()
        },
        gen::seeded_rng(seed),
    );
    let strategy = gen::sequence(gen::default_kinds(), 40);
    (0..n)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("the generator never rejects")
                .current()
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Agree,
    Poisoned,
    Diverged,
}

fn kind(v: &Verdict) -> Kind {
    match v {
        Verdict::Agree => Kind::Agree,
        Verdict::Poisoned(_) => Kind::Poisoned,
        Verdict::Diverged(_) => Kind::Diverged,
    }
}

fn verdict_counts(kinds: impl Iterator<Item = Kind>) -> String {
    let mut c: BTreeMap<Kind, u64> = BTreeMap::new();
    for k in kinds {
        *c.entry(k).or_default() += 1;
    }
    let g = |k| c.get(&k).copied().unwrap_or(0);
    format!(
        "{} agree, {} poisoned, {} diverged",
        g(Kind::Agree),
        g(Kind::Poisoned),
        g(Kind::Diverged)
    )
}

/// How the oracle handed ops to the backend: one at a time, or as a group.
#[derive(Debug, Clone)]
enum Chunk {
    One(Op),
    Group(Vec<Op>, bool),
}

impl Chunk {
    fn len(&self) -> usize {
        match self {
            Chunk::One(_) => 1,
            Chunk::Group(ops, _) => ops.len(),
        }
    }
}

/// What the oracle did with one sequence on one target: the ops it ran (in order,
/// as it submitted them), their outcomes and whether it reached the final snapshot.
struct Plan {
    chunks: Vec<Chunk>,
    ops: u64,
    outcomes: Vec<Outcome>,
    snapshot: bool,
    state: State,
    verdict: Kind,
}

/// Runs one sequence the way `run_one` does, through a recording wrapper: the plan
/// the raw and model-only passes replay.
fn record(scratch: &Scratch, t: &Target, ops: &[Op]) -> Plan {
    let roots = scratch.roots(&label("w")).expect("roots");
    let mut c = Counting {
        inner: (t.make)(roots).expect("backend"),
        chunks: Vec::new(),
        refused: 0,
    };
    let res = match t.group {
        None => differential::check_sequence(&t.profile, ops, &mut c),
        Some(g) => differential::check_sequence_grouped(&t.profile, ops, &mut c, g),
    };
    let snapshot = match &res.verdict {
        Verdict::Agree => true,
        Verdict::Poisoned(_) => false,
        Verdict::Diverged(d) => d.index.is_none(),
    };
    Plan {
        ops: c.chunks.iter().map(|c| c.len() as u64).sum(),
        chunks: c.chunks,
        outcomes: res.outcomes.iter().map(|(_, o)| o.clone()).collect(),
        snapshot,
        state: State::default(),
        verdict: kind(&res.verdict),
    }
}

/// A backend that answers with recorded outcomes and a recorded final state,
/// taking exactly the groups the real backend took: the differential check run
/// against it costs what the model side of the oracle costs (step, commit,
/// grouping decisions, model snapshot, diff).
struct Replay {
    outs: std::vec::IntoIter<Outcome>,
    /// Per submission: `None` for one op alone, `Some(n)` for a group of n.
    shape: std::collections::VecDeque<Option<usize>>,
    state: State,
}

impl Replay {
    fn new(p: &Plan) -> Replay {
        Replay {
            outs: p.outcomes.clone().into_iter(),
            shape: p
                .chunks
                .iter()
                .map(|c| match c {
                    Chunk::One(_) => None,
                    Chunk::Group(ops, _) => Some(ops.len()),
                })
                .collect(),
            state: p.state.clone(),
        }
    }
}

impl Backend for Replay {
    fn name(&self) -> &str {
        "replay"
    }
    fn exec(&mut self, _op: &Op) -> Outcome {
        self.shape.pop_front();
        self.outs
            .next()
            .expect("one recorded outcome per executed op")
    }
    fn snapshot(&mut self) -> State {
        std::mem::take(&mut self.state)
    }
    fn exec_group(&mut self, ops: &[Op], _linked: bool) -> Option<Vec<Outcome>> {
        if self.shape.front() != Some(&Some(ops.len())) {
            return None;
        }
        self.shape.pop_front();
        Some(
            ops.iter()
                .map(|_| self.outs.next().expect("recorded"))
                .collect(),
        )
    }
}

/// Records how the check submits: ops one by one, and the groups the backend took.
struct Counting {
    inner: Box<dyn Backend>,
    chunks: Vec<Chunk>,
    refused: u64,
}

impl Backend for Counting {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn exec(&mut self, op: &Op) -> Outcome {
        self.chunks.push(Chunk::One(op.clone()));
        self.inner.exec(op)
    }
    fn snapshot(&mut self) -> State {
        self.inner.snapshot()
    }
    fn ring_counts(&self) -> Option<BTreeMap<model::OpKind, (u64, u64)>> {
        self.inner.ring_counts()
    }
    fn exec_group(&mut self, ops: &[Op], linked: bool) -> Option<Vec<Outcome>> {
        let r = self.inner.exec_group(ops, linked);
        if r.is_some() {
            self.chunks.push(Chunk::Group(ops.to_vec(), linked));
        } else {
            self.refused += 1;
        }
        r
    }
}

/// One timed pass of the oracle (`campaign::run_one`) over every sequence: seconds.
fn oracle_pass(scratch: &Scratch, t: &Target, seqs: &[Vec<Op>]) -> f64 {
    let mut total = 0.0;
    for ops in seqs {
        let start = Instant::now();
        let res = campaign::run_one(scratch, &label("o"), t, ops).expect("run_one");
        total += secs(start);
        black_box(res);
    }
    total
}

/// Seconds spent in each part of running the planned ops straight through a backend.
#[derive(Debug, Clone, Copy, Default)]
struct RawTimes {
    roots: f64,
    backend: f64,
    exec: f64,
    snapshot: f64,
    teardown: f64,
    via_ring: u64,
    fallback: u64,
    mismatched: u64,
}

impl RawTimes {
    fn setup(&self) -> f64 {
        self.roots + self.backend
    }
    fn all(&self) -> f64 {
        self.roots + self.backend + self.exec + self.snapshot + self.teardown
    }
}

/// Runs the planned ops (no model) on fresh roots and a fresh backend per
/// sequence, as the oracle submitted them. With `record`, keeps the final states
/// and counts outcomes that differ from the oracle's run.
fn raw_pass(scratch: &Scratch, t: &Target, plans: &mut [Plan], record: bool) -> RawTimes {
    let mut r = RawTimes::default();
    for p in plans.iter_mut() {
        let t0 = Instant::now();
        let roots = scratch.roots(&label("r")).expect("roots");
        let t1 = Instant::now();
        let mut b = (t.make)(roots).expect("backend");
        let t2 = Instant::now();
        let mut outs = Vec::with_capacity(if record { p.outcomes.len() } else { 0 });
        for c in &p.chunks {
            match c {
                Chunk::One(op) => {
                    let o = b.exec(op);
                    if record {
                        outs.push(o);
                    } else {
                        black_box(o);
                    }
                }
                Chunk::Group(ops, linked) => {
                    let o = b
                        .exec_group(ops, *linked)
                        .expect("the group was taken before");
                    if record {
                        outs.extend(o);
                    } else {
                        black_box(o);
                    }
                }
            }
        }
        let t3 = Instant::now();
        if p.snapshot {
            let s = b.snapshot();
            if record {
                p.state = s;
            } else {
                black_box(s);
            }
        }
        let t4 = Instant::now();
        if let Some(c) = b.ring_counts() {
            for (ring, sync) in c.values() {
                r.via_ring += ring;
                r.fallback += sync;
            }
        }
        let t5 = Instant::now();
        drop(b);
        let t6 = Instant::now();
        r.roots += (t1 - t0).as_secs_f64();
        r.backend += (t2 - t1).as_secs_f64();
        r.exec += (t3 - t2).as_secs_f64();
        r.snapshot += (t4 - t3).as_secs_f64();
        r.teardown += (t6 - t5).as_secs_f64();
        if record {
            r.mismatched += outs.iter().zip(&p.outcomes).filter(|(a, b)| a != b).count() as u64;
        }
    }
    r
}

/// The model side alone: the differential check (serial or grouped, as the
/// target does it) against the recorded outcomes and final state.
fn model_pass(t: &Target, seqs: &[Vec<Op>], plans: &[Plan]) -> (f64, u64) {
    let mut replays: Vec<Replay> = plans.iter().map(Replay::new).collect();
    let mut total = 0.0;
    let mut mismatched = 0;
    for ((ops, p), r) in seqs.iter().zip(plans).zip(replays.iter_mut()) {
        let start = Instant::now();
        let res = match t.group {
            None => differential::check_sequence(&t.profile, ops, r),
            Some(g) => differential::check_sequence_grouped(&t.profile, ops, r, g),
        };
        total += secs(start);
        if kind(&res.verdict) != p.verdict {
            mismatched += 1;
        }
    }
    (total, mismatched)
}

/// Independent ops of one family for a batch: distinct 4 KiB pages of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Pread,
    Pwrite,
    Fallocate,
    /// fadvise(NORMAL) with length 0: issued inline, the cheapest op with an opcode.
    Fadvise0,
    /// IORING_OP_NOP (kernel limit only: no op kind has it).
    Nop,
}

impl Family {
    const HARNESS: [Family; 4] = [
        Family::Pread,
        Family::Pwrite,
        Family::Fallocate,
        Family::Fadvise0,
    ];
    const KERNEL: [Family; 5] = [
        Family::Pread,
        Family::Pwrite,
        Family::Fallocate,
        Family::Fadvise0,
        Family::Nop,
    ];

    fn name(self) -> &'static str {
        match self {
            Family::Pread => "pread 4K",
            Family::Pwrite => "pwrite 4K",
            Family::Fallocate => "fallocate 4K",
            Family::Fadvise0 => "fadvise len 0",
            Family::Nop => "NOP",
        }
    }

    fn op(self, k: u64) -> Op {
        let fd = FdRef::Slot(0);
        let at = ((k % PAGES) * PAGE) as i64;
        match self {
            Family::Pread => Op::Read {
                fd,
                len: PAGE,
                offset: Off::At(at),
            },
            Family::Pwrite => Op::Write {
                fd,
                data: Payload::Fill {
                    fill: "w".into(),
                    len: PAGE,
                },
                offset: Off::At(at),
            },
            Family::Fallocate => Op::Fallocate {
                fd,
                mode: vec![],
                offset: at,
                len: PAGE as i64,
            },
            Family::Fadvise0 | Family::Nop => Op::Fadvise {
                fd,
                offset: 0,
                len: 0,
                advice: Advice::Normal,
            },
        }
    }
}

/// A `Uring` with slot 0 open on a 32-page file.
fn batch_backend(scratch: &Scratch, mode: Mode) -> Uring {
    let roots = scratch.roots(&label("b")).expect("roots");
    let mut u =
        Uring::new(roots, mode, Default::default()).unwrap_or_else(|e| panic!("io_uring: {e}"));
    let open = Op::Open {
        slot: 0,
        dir: model::Dir::Root,
        path: "f".into(),
        flags: vec![OpenFlag::Rdwr, OpenFlag::Creat],
        mode: 0o644,
    };
    assert_eq!(u.exec(&open).result, Ok(0), "open");
    let fill = Op::Write {
        fd: FdRef::Slot(0),
        data: Payload::Fill {
            fill: "x".into(),
            len: PAGES * PAGE,
        },
        offset: Off::At(0),
    };
    assert_eq!(u.exec(&fill).result, Ok((PAGES * PAGE) as i64), "fill");
    u
}

/// ns per op of `exec_batch` with batches of `b` (`b == 0`: `Backend::exec`, one
/// op at a time, the oracle's serial path).
fn harness_rate(u: &mut Uring, family: Family, b: usize, total: u64) -> f64 {
    let size = b.max(1);
    let ops: Vec<Op> = (0..size as u64).map(|k| family.op(k)).collect();
    // Warm up and check that the ops succeed.
    let outs = u.exec_batch(&ops, false).expect("exec_batch");
    for (op, o) in ops.iter().zip(&outs) {
        assert!(o.result.is_ok(), "{op:?} gave {o}");
    }
    let rounds = (total / size as u64).max(1);
    let start = Instant::now();
    for _ in 0..rounds {
        if b == 0 {
            black_box(u.exec(&ops[0]));
        } else {
            black_box(u.exec_batch(&ops, false).expect("exec_batch"));
        }
    }
    secs(start) * 1e9 / (rounds * size as u64) as f64
}

/// ns per op of the same opcodes submitted straight through the io-uring crate,
/// `depth` SQEs per io_uring_enter; the faster of two ways to wait (min_complete
/// = all of them, or 1 at a time with a timeout as the harness does: the second
/// is often faster with io-wq punts, as the woken submitter reaps while the
/// workers finish the rest).
fn kernel_rate(file: &File, family: Family, depth: usize, async_: bool, total: u64) -> f64 {
    let mut ring = IoUring::new(256).expect("io_uring");
    let fd = types::Fd(file.as_raw_fd());
    let mut bufs = vec![vec![0u8; PAGE as usize]; depth];
    let flags = if async_ {
        squeue::Flags::ASYNC
    } else {
        squeue::Flags::empty()
    };
    let entries: Vec<squeue::Entry> = bufs
        .iter_mut()
        .enumerate()
        .map(|(k, buf)| {
            let at = (k as u64 % PAGES) * PAGE;
            let e = match family {
                Family::Pread => opcode::Read::new(fd, buf.as_mut_ptr(), PAGE as u32)
                    .offset(at)
                    .build(),
                Family::Pwrite => opcode::Write::new(fd, buf.as_ptr(), PAGE as u32)
                    .offset(at)
                    .build(),
                Family::Fallocate => opcode::Fallocate::new(fd, PAGE).offset(at).build(),
                Family::Fadvise0 => opcode::Fadvise::new(fd, 0, libc::POSIX_FADV_NORMAL).build(),
                Family::Nop => opcode::Nop::new().build(),
            };
            e.flags(flags).user_data(k as u64)
        })
        .collect();
    let ts = types::Timespec::new().sec(2);
    let mut run = |rounds: u64, wait_all: bool| {
        for _ in 0..rounds {
            // SAFETY: the buffers outlive every request: each round is reaped in full.
            unsafe { ring.submission().push_multiple(&entries) }.expect("room in the SQ");
            let mut got = 0;
            while got < depth {
                if wait_all {
                    ring.submit_and_wait(depth - got).expect("io_uring_enter");
                } else {
                    let args = types::SubmitArgs::new().timespec(&ts);
                    match ring.submitter().submit_with_args(1, &args) {
                        Ok(_) => {}
                        Err(e) if e.raw_os_error() == Some(libc::ETIME) => {}
                        Err(e) => panic!("io_uring_enter: {e}"),
                    }
                }
                for c in ring.completion() {
                    assert!(c.result() >= 0, "{family:?}: {}", c.result());
                    got += 1;
                }
            }
        }
    };
    let rounds = (total / depth as u64).max(1);
    let mut best = f64::INFINITY;
    for wait_all in [true, false] {
        run(2, wait_all);
        let start = Instant::now();
        run(rounds, wait_all);
        best = best.min(secs(start) * 1e9 / (rounds * depth as u64) as f64);
    }
    best
}

fn kernel_file(scratch: &Scratch) -> (sys::scratch::Roots, File) {
    let roots = scratch.roots(&label("k")).expect("roots");
    let fd = nix::fcntl::openat(
        Some(roots.main.as_raw_fd()),
        "f",
        nix::fcntl::OFlag::O_RDWR | nix::fcntl::OFlag::O_CREAT | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .expect("open");
    // SAFETY: openat just returned this descriptor; nothing else owns it.
    let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    file.write_all_at(&vec![b'x'; (PAGES * PAGE) as usize], 0)
        .expect("fill");
    (roots, file)
}

fn us(s: f64, n: u64) -> f64 {
    s * 1e6 / n.max(1) as f64
}

fn ns(s: f64, n: u64) -> f64 {
    s * 1e9 / n.max(1) as f64
}

#[derive(Debug, Clone, Copy)]
struct Knobs {
    n_seqs: u64,
    reps: u64,
    batch_ops: u64,
    seed: u64,
}

/// One line of the final table: a measure, its value, and the target it is held
/// to (if any) with whether it was met.
struct Row {
    measure: String,
    value: String,
    target: Option<(&'static str, bool)>,
}

fn row(rows: &mut Vec<Row>, measure: impl Into<String>, value: String) {
    rows.push(Row {
        measure: measure.into(),
        value,
        target: None,
    });
}

fn row_target(
    rows: &mut Vec<Row>,
    measure: impl Into<String>,
    value: String,
    target: &'static str,
    met: bool,
) {
    rows.push(Row {
        measure: measure.into(),
        value,
        target: Some((target, met)),
    });
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

/// The whole measurement on this thread (its own scratch area); `pin`: first
/// restrict the thread to that CPU (io-wq workers created for it follow).
fn suite(k: Knobs, pin: Option<usize>) -> Vec<Row> {
    let condition = match pin {
        Some(cpu) => {
            let mut set = nix::sched::CpuSet::new();
            set.set(cpu).expect("cpu index");
            nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
                .expect("sched_setaffinity");
            format!("thread pinned to CPU {cpu}")
        }
        None => "thread not pinned (as ringspec runs)".to_string(),
    };
    let Knobs {
        n_seqs,
        reps,
        batch_ops,
        seed,
    } = k;
    let scratch = match Scratch::new() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("throughput: no scratch area: {e}");
            std::process::exit(3);
        }
    };
    // Other work on the machine keeps the other vCPU awake, which makes io-wq
    // wakeups cheap: say how busy it was.
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    println!(
        "######## {condition}; load average {load}; {}\n",
        scratch.describe()
    );

    let seqs = sequences(n_seqs, seed);
    let mut targets = vec![campaign::syscalls_target(&scratch)];
    let subs = [
        Submission::Mode(Mode::Single),
        Submission::Grouped(Grouping::Batch),
        Submission::Grouped(Grouping::Linked),
    ];
    match campaign::uring_targets(&scratch, &subs) {
        Ok(t) => targets.extend(t),
        Err(e) => {
            eprintln!("throughput: io_uring unavailable: {e}");
            std::process::exit(3);
        }
    }
    let (sys, single) = (0, 1);
    let nt = targets.len();

    // Warm-up: each target runs every sequence once through a recording wrapper
    // (what it executes, how it groups, the outcomes); a raw pass records the final
    // states (for the model-only pass) and checks that rerunning the same ops gives
    // the same outcomes.
    let mut plans: Vec<Vec<Plan>> = Vec::new();
    println!(
        "{:<14} {:>7} {:>8} {:>8} {:>6} {:>8}  verdicts",
        "target", "ops", "groups", "grouped", "mean", "rerun!="
    );
    for t in &targets {
        let mut p: Vec<Plan> = seqs.iter().map(|ops| record(&scratch, t, ops)).collect();
        let rec = raw_pass(&scratch, t, &mut p, true);
        let (groups, grouped) = p
            .iter()
            .flat_map(|x| &x.chunks)
            .filter_map(|c| match c {
                Chunk::Group(ops, _) => Some(ops.len() as u64),
                Chunk::One(_) => None,
            })
            .fold((0u64, 0u64), |(g, n), l| (g + 1, n + l));
        let ops: u64 = p.iter().map(|x| x.ops).sum();
        println!(
            "{:<14} {:>7} {:>8} {:>7.1}% {:>6.2} {:>8}  {}",
            t.name,
            ops,
            groups,
            100.0 * grouped as f64 / ops.max(1) as f64,
            grouped as f64 / groups.max(1) as f64,
            rec.mismatched,
            verdict_counts(p.iter().map(|x| x.verdict)),
        );
        plans.push(p);
    }
    let total_seq_ops: usize = seqs.iter().map(Vec::len).sum();
    println!(
        "({total_seq_ops} ops generated; ops the model says block, and ops after a poisoning \
         one, do not run. groups: submissions of 2+ ops through exec_group; mean: ops per \
         group; rerun!=: outcomes that differ when the same ops run again)\n"
    );

    // Timed reps, interleaved.
    let mut oracle_s = vec![Vec::new(); nt];
    let mut raw: Vec<Vec<RawTimes>> = vec![Vec::new(); nt];
    let mut model_s = vec![Vec::new(); nt];
    let mut model_mismatch = vec![0u64; nt];
    for _ in 0..reps {
        for (i, t) in targets.iter().enumerate() {
            raw[i].push(raw_pass(&scratch, t, &mut plans[i], false));
            oracle_s[i].push(oracle_pass(&scratch, t, &seqs));
            let (m, mm) = model_pass(t, &seqs, &plans[i]);
            model_s[i].push(m);
            model_mismatch[i] += mm;
        }
    }
    let med_raw = |i: usize, f: fn(&RawTimes) -> f64| median(raw[i].iter().map(f).collect());
    let ops_of = |i: usize| plans[i].iter().map(|p| p.ops).sum::<u64>();
    let oracle = |i: usize| median(oracle_s[i].clone());
    let model_t = |i: usize| median(model_s[i].clone());
    let exec_t = |i: usize| med_raw(i, |r| r.exec);

    println!("== 1. raw cost: the ops the oracle runs, straight through the backend, no model ==");
    println!(
        "{:<14} {:>7} {:>8} {:>10} | us per sequence: {:>6} {:>6} {:>7} {:>6} {:>6}",
        "backend", "ops", "ns/op", "ops/s", "roots", "new", "ops", "snap", "drop"
    );
    for (i, t) in targets.iter().enumerate() {
        println!(
            "{:<14} {:>7} {:>8.0} {:>10.0} | {:>23.1} {:>6.1} {:>7.1} {:>6.1} {:>6.1}",
            t.name,
            ops_of(i),
            ns(exec_t(i), ops_of(i)),
            ops_of(i) as f64 / exec_t(i),
            us(med_raw(i, |r| r.roots), n_seqs),
            us(med_raw(i, |r| r.backend), n_seqs),
            us(exec_t(i), n_seqs),
            us(med_raw(i, |r| r.snapshot), n_seqs),
            us(med_raw(i, |r| r.teardown), n_seqs),
        );
    }
    let r0 = raw[single][0];
    println!(
        "roots: mkdir + open of the two label directories; new: Syscalls::new / Uring::new \
         (ring, probe, FADVISE probe); snap: the backend's final snapshot; drop: closing the \
         backend and removing its trees. uring/single ran {} ops through the ring and {} \
         through the synchronous fallback (no opcode on this kernel).\n",
        r0.via_ring, r0.fallback
    );

    println!(
        "== 2. the oracle: campaign::run_one (roots + backend + model + ops + snapshot compare) =="
    );
    println!(
        "{:<14} {:>7} {:>9} {:>8} {:>7} {:>9} {:>9}",
        "target", "seq/s", "ops/s", "us/seq", "ns/op", "/raw ops", "/raw all"
    );
    for (i, t) in targets.iter().enumerate() {
        println!(
            "{:<14} {:>7.0} {:>9.0} {:>8.1} {:>7.0} {:>9.2} {:>9.2}",
            t.name,
            n_seqs as f64 / oracle(i),
            ops_of(i) as f64 / oracle(i),
            us(oracle(i), n_seqs),
            ns(oracle(i), ops_of(i)),
            oracle(i) / exec_t(i),
            oracle(i) / med_raw(i, RawTimes::all),
        );
    }
    let oracle_both = oracle(sys) + oracle(single);
    let raw_both = exec_t(sys) + exec_t(single);
    let raw_all_both = med_raw(sys, RawTimes::all) + med_raw(single, RawTimes::all);
    let ratio = oracle_both / raw_both;
    let ratio_all = oracle_both / raw_all_both;
    println!(
        "serial oracle, syscalls + uring/single: {:.1} ms; raw syscall + io_uring ops {:.1} ms: \
         ratio {ratio:.2} (target <= 2.00: {}); raw ops + setup + snapshot + teardown {:.1} ms: \
         ratio {ratio_all:.2}",
        oracle_both * 1e3,
        raw_both * 1e3,
        met(ratio <= 2.0),
        raw_all_both * 1e3,
    );
    println!(
        "where the oracle's time goes (us per sequence; model: the same check against recorded \
         outcomes; other: oracle - the rest):"
    );
    println!(
        "{:<14} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8}",
        "target", "roots", "new", "ops", "model", "snap", "drop", "other", "oracle"
    );
    for (i, t) in targets.iter().enumerate() {
        let parts = med_raw(i, RawTimes::all) + model_t(i);
        println!(
            "{:<14} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>8.1}",
            t.name,
            us(med_raw(i, |r| r.roots), n_seqs),
            us(med_raw(i, |r| r.backend), n_seqs),
            us(exec_t(i), n_seqs),
            us(model_t(i), n_seqs),
            us(med_raw(i, |r| r.snapshot), n_seqs),
            us(med_raw(i, |r| r.teardown), n_seqs),
            us(oracle(i) - parts, n_seqs),
            us(oracle(i), n_seqs),
        );
        if model_mismatch[i] > 0 {
            println!(
                "  (warning: {} model-only runs of {} reached another verdict than the oracle)",
                model_mismatch[i], t.name
            );
        }
    }
    let grouped_fraction = |i: usize| {
        let g: u64 = plans[i]
            .iter()
            .flat_map(|p| &p.chunks)
            .filter(|c| matches!(c, Chunk::Group(..)))
            .map(|c| c.len() as u64)
            .sum();
        g as f64 / ops_of(i).max(1) as f64
    };
    // If the grouped ops cost nothing at all, the serial oracle would save their
    // share of its raw op time and no more.
    let ceiling = |i: usize| {
        oracle(single)
            / (oracle(single) - grouped_fraction(i) * exec_t(single)).max(f64::MIN_POSITIVE)
    };
    for (i, t) in targets.iter().enumerate().skip(2) {
        println!(
            "{}: {:.2}x the serial uring/single oracle in seq/s; its raw ops {:.2}x the serial \
             raw ops; {:.1}% of ops go in groups, so {:.2}x is the ceiling even if grouped ops \
             cost nothing",
            t.name,
            oracle(single) / oracle(i),
            exec_t(single) / exec_t(i),
            100.0 * grouped_fraction(i),
            ceiling(i),
        );
    }
    println!();

    println!(
        "== 3. batching: Uring::exec_batch of independent ops (distinct pages of one file) =="
    );
    let (_kroots, kfile) = kernel_file(&scratch);
    let mut backends = [
        batch_backend(&scratch, Mode::Single),
        batch_backend(&scratch, Mode::Async),
    ];
    // [async?][family][size] -> ns/op per rep; harness sizes: exec, 1, 8, 32.
    let nf = Family::KERNEL.len();
    let mut harness = vec![vec![vec![Vec::new(); 4]; nf]; 2];
    let mut kernel = vec![vec![vec![Vec::new(); 3]; nf]; 2];
    for _ in 0..reps {
        for (fi, f) in Family::KERNEL.iter().enumerate() {
            for a in 0..2 {
                for (si, b) in SIZES.into_iter().enumerate() {
                    if Family::HARNESS.contains(f) {
                        let total = if b == 0 { batch_ops / 2 } else { batch_ops };
                        harness[a][fi][si].push(harness_rate(&mut backends[a], *f, b, total));
                    }
                    if si > 0 {
                        kernel[a][fi][si - 1].push(kernel_rate(&kfile, *f, b, a == 1, batch_ops));
                    }
                }
            }
        }
    }
    drop(backends);
    let h = |a: usize, f: Family, si: usize| {
        median(harness[a][Family::KERNEL.iter().position(|x| *x == f).expect("family")][si].clone())
    };
    let kr = |a: usize, f: Family, si: usize| {
        median(kernel[a][Family::KERNEL.iter().position(|x| *x == f).expect("family")][si].clone())
    };
    println!(
        "{:<7} {:<14} {:>7} | {:>7} {:>7} {:>7} {:>6} | {:>6} {:>6} {:>6} {:>6} | {:>7}",
        "mode", "op", "exec", "b=1", "b=8", "b=32", "x32", "k1", "k8", "k32", "kx32", "reached"
    );
    for a in 0..2 {
        for f in Family::KERNEL {
            let kx = kr(a, f, 0) / kr(a, f, 2);
            let has = Family::HARNESS.contains(&f);
            let cell = |si: usize| {
                if has {
                    format!("{:.0}", h(a, f, si))
                } else {
                    "-".to_string()
                }
            };
            let hx = has.then(|| h(a, f, 1) / h(a, f, 3));
            println!(
                "{:<7} {:<14} {:>7} | {:>7} {:>7} {:>7} {:>6} | {:>6.0} {:>6.0} {:>6.0} {:>5.2}x | {:>7}",
                if a == 1 { "async" } else { "single" },
                f.name(),
                cell(0),
                cell(1),
                cell(2),
                cell(3),
                hx.map_or("-".into(), |x| format!("{x:.2}x")),
                kr(a, f, 0),
                kr(a, f, 1),
                kr(a, f, 2),
                kx,
                if has {
                    format!("{:.0}%", 100.0 * kr(a, f, 2) / h(a, f, 3))
                } else {
                    "-".into()
                },
            );
        }
    }
    println!(
        "ns per op. exec: Backend::exec, one op at a time; b=N: exec_batch of N unlinked ops; \
         x32: b=1 / b=32. kN: the same opcode through the io-uring crate directly, N SQEs per \
         io_uring_enter, the faster of waiting for all N or for 1 at a time (async rows: \
         Mode::Async / IOSQE_ASYNC on every SQE); kx32: k1 / k32. reached: k32 / b=32, the \
         fraction of the kernel's batched throughput the harness gets (x32 can pass kx32 \
         because b=1 carries the harness's per-submission overhead).\n"
    );

    let mut rows = Vec::new();
    for i in [sys, single] {
        row(
            &mut rows,
            format!("raw {} ns/op (ops/s)", targets[i].name),
            format!(
                "{:.0} ({:.0})",
                ns(exec_t(i), ops_of(i)),
                ops_of(i) as f64 / exec_t(i)
            ),
        );
    }
    for i in [sys, single] {
        row(
            &mut rows,
            format!("{} setup/snapshot/drop us per seq", targets[i].name),
            format!(
                "{:.0}/{:.0}/{:.0}",
                us(med_raw(i, RawTimes::setup), n_seqs),
                us(med_raw(i, |r| r.snapshot), n_seqs),
                us(med_raw(i, |r| r.teardown), n_seqs)
            ),
        );
    }
    for (i, t) in targets.iter().enumerate() {
        row(
            &mut rows,
            format!("oracle {} seq/s (ops/s)", t.name),
            format!(
                "{:.0} ({:.0})",
                n_seqs as f64 / oracle(i),
                ops_of(i) as f64 / oracle(i)
            ),
        );
    }
    row_target(
        &mut rows,
        "serial oracle / (raw syscall + io_uring ops)",
        format!("{ratio:.2}"),
        "<= 2.00",
        ratio <= 2.0,
    );
    row(
        &mut rows,
        "  same, raw incl. setup/snapshot/drop",
        format!("{ratio_all:.2}"),
    );
    for (i, t) in targets.iter().enumerate().skip(2) {
        let x = oracle(single) / oracle(i);
        row_target(
            &mut rows,
            format!("oracle {} vs uring/single seq/s", t.name),
            format!("{x:.2}x"),
            ">= 4x",
            x >= 4.0,
        );
        row(
            &mut rows,
            format!(
                "  ceiling with {:.1}% of ops grouped",
                100.0 * grouped_fraction(i)
            ),
            format!("{:.2}x", ceiling(i)),
        );
    }
    for f in [Family::Pread, Family::Fallocate, Family::Fadvise0] {
        let hx = h(0, f, 1) / h(0, f, 3);
        row_target(
            &mut rows,
            format!("exec_batch 32 vs 1: {}", f.name()),
            format!("{hx:.2}x"),
            ">= 4x",
            hx >= 4.0,
        );
        let kx = kr(0, f, 0) / kr(0, f, 2);
        row(
            &mut rows,
            "  kernel depth 32 vs 1 (k32 / b=32)",
            format!("{kx:.2}x ({:.0}%)", 100.0 * kr(0, f, 2) / h(0, f, 3)),
        );
    }
    for f in [Family::Pread, Family::Fallocate] {
        row(
            &mut rows,
            format!("async exec_batch 32 vs 1: {} (kernel)", f.name()),
            format!(
                "{:.2}x ({:.2}x)",
                h(1, f, 1) / h(1, f, 3),
                kr(1, f, 0) / kr(1, f, 2)
            ),
        );
    }
    row(
        &mut rows,
        "kernel READ 4K depth 1 / 32 ns/op",
        format!(
            "{:.0} / {:.0}",
            kr(0, Family::Pread, 0),
            kr(0, Family::Pread, 2)
        ),
    );
    row(
        &mut rows,
        "kernel NOP depth 1 / 32 ns/op",
        format!(
            "{:.0} / {:.0}",
            kr(0, Family::Nop, 0),
            kr(0, Family::Nop, 2)
        ),
    );
    rows
}

fn main() {
    // cargo bench passes --bench (and filters); there is nothing to filter.
    let start = Instant::now();
    let k = Knobs {
        n_seqs: env_num("RINGSPEC_BENCH_SEQS", 300),
        reps: env_num("RINGSPEC_BENCH_REPS", 5).max(1),
        batch_ops: env_num("RINGSPEC_BENCH_OPS", 4096),
        seed: env_num("RINGSPEC_SEED", 0x5eed_2026),
    };
    println!("ringspec throughput benchmark");
    println!(
        "kernel {}, {} CPUs; {} sequences (seed {:#x}, gen::sequence(all kinds, 40)), {} timed \
         reps (medians), {} ops per batching point; everything runs twice: unpinned, then \
         pinned to one CPU\n",
        nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        k.n_seqs,
        k.seed,
        k.reps,
        k.batch_ops
    );
    // The scratch area, the backends and the mount namespace are bound to the
    // thread that makes them: each run gets its own thread.
    let run = |pin: Option<usize>| {
        std::thread::spawn(move || suite(k, pin))
            .join()
            .unwrap_or_else(|_| std::process::exit(1))
    };
    let cpu = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
        .ok()
        .and_then(|set| {
            (0..nix::sched::CpuSet::count())
                .rev()
                .find(|&c| set.is_set(c).unwrap_or(false))
        })
        .unwrap_or(0);
    let free = run(None);
    let pinned = run(Some(cpu));

    println!("== summary ==");
    println!(
        "{:<44} {:>17} {:>17}  target",
        "measure",
        "unpinned",
        format!("pinned (CPU {cpu})")
    );
    for (a, b) in free.iter().zip(&pinned) {
        let target = match (a.target, b.target) {
            (Some((t, x)), Some((_, y))) => format!("{t}: {} / {}", met(x), met(y)),
            _ => String::new(),
        };
        println!(
            "{:<44} {:>17} {:>17}  {target}",
            a.measure, a.value, b.value
        );
    }
    println!("\n{:.1} s in all", secs(start));
}
