//! The `sqe_fields` fuzzer without libFuzzer: the committed corpus
//! (corpus/fuzz/sqe_fields/) replayed through the same sandbox process the
//! fuzz target checks its inputs with (`sqefuzz::sqe_fuzz::process`),
//! the seeds kept in sync with their generator, and the model's SQE table
//! verified field by field on the running kernel.
//!
//! The replay and the table check run in child processes (this test binary
//! re-run with one test): the sandbox counts, scans and closes the whole
//! process's descriptors, which other tests running on other threads own.
//!
//! - `RINGSPEC_WRITE_SEEDS=1` rewrites the seed files from `sqe_fuzz::seeds()`.
//! - Without root (no private mounts) the sandbox refuses to run and these tests
//!   say SKIPPED; `RINGSPEC_REQUIRE_FS=1` makes that a failure.

use model::sqe_rules::Field;
use sqefuzz::sqe_fuzz::process::{SandboxProcess, Verdict};
use sqefuzz::sqe_fuzz::{self, FuzzInput, Word};
use std::io::Write as _;
use std::path::PathBuf;

const CHILD_ENV: &str = "RINGSPEC_SQE_CHILD";

fn corpus() -> PathBuf {
    oracle::corpus_dir().join("fuzz/sqe_fields")
}

fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// None (after saying SKIPPED) when the sandbox cannot run here.
fn ready(test: &str) -> Option<()> {
    match sqe_fuzz::sandbox_ready() {
        Ok(()) => Some(()),
        Err(e) => skipped(test, e),
    }
}

/// Whether this process is the child run for `mode` ([`run_child`]) and the
/// sandbox can run here (otherwise SKIPPED is said for `test`).
pub(crate) fn in_child(mode: &str, test: &str) -> bool {
    is_child(mode) && ready(test).is_some()
}

/// Whether this process is the child run for `mode` ([`run_child`]).
pub(crate) fn is_child(mode: &str) -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok(mode)
}

/// Says SKIPPED for `test` (or fails when RINGSPEC_REQUIRE_FS is set).
fn skipped(test: &str, e: impl std::fmt::Display) -> Option<()> {
    let required = std::env::var("RINGSPEC_REQUIRE_FS").is_ok_and(|v| !v.is_empty() && v != "0");
    if required {
        panic!("{test}: {e} (RINGSPEC_REQUIRE_FS is set)");
    }
    say(&format!("SKIPPED: {test}: {e}"));
    None
}

#[test]
fn sqe_fields_seeds_are_committed() {
    let dir = corpus();
    let write = std::env::var("RINGSPEC_WRITE_SEEDS").is_ok_and(|v| v == "1");
    if write {
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut missing = vec![];
    for (name, input) in sqe_fuzz::seeds() {
        let path = dir.join(format!("seed-{name}"));
        let bytes = input.to_bytes();
        if write {
            std::fs::write(&path, &bytes).unwrap();
        } else if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
            missing.push(path.display().to_string());
        }
    }
    assert!(
        missing.is_empty(),
        "seed files missing or stale (RINGSPEC_WRITE_SEEDS=1 cargo test -p conformance \
         sqe_fields_seeds rewrites them): {missing:?}"
    );
}

#[test]
fn sqe_fields_corpus_replays() {
    run_child("sqe_fields::sqe_fields_replay_child", "replay");
}

#[test]
fn sqe_fields_replay_child() {
    if std::env::var(CHILD_ENV).as_deref() != Ok("replay") {
        return;
    }
    let mut sandbox = match SandboxProcess::start() {
        Ok(s) => s,
        Err(e) => {
            skipped("sqe_fields_corpus_replays", e);
            return;
        }
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus())
        .expect("corpus/fuzz/sqe_fields")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no committed inputs in {}",
        corpus().display()
    );
    let mut failures = vec![];
    let mut featureless = vec![];
    for f in &files {
        match sandbox.check(&std::fs::read(f).unwrap()) {
            // What guides libFuzzer: every input that ran reports features.
            Ok(Verdict::Passed(features)) => {
                if features.is_empty() {
                    featureless.push(f.display().to_string());
                }
            }
            Ok(Verdict::Finding(finding)) => failures.push(format!("{}:\n{finding}", f.display())),
            Err(e) => panic!("{}: {e}", f.display()),
        }
    }
    say(&format!(
        "sqe_fields: replayed {} inputs: {}",
        files.len(),
        sandbox.stats().expect("the sandbox process answers")
    ));
    assert!(
        featureless.is_empty(),
        "inputs that reported no feature to the fuzzer: {featureless:?}"
    );
    assert!(
        failures.is_empty(),
        "{} of {} inputs give findings:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// Runs the test `child` of this binary alone in a child process with
/// CHILD_ENV=`mode`, prints its report lines, and fails if it failed or ran
/// nothing. The sandbox scans and closes descriptors of the whole process, so
/// it must never share one with tests running on other threads.
pub(crate) fn run_child(child: &str, mode: &str) {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([child, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .output()
        .expect("run the child test");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    for line in text.lines().filter(|l| {
        l.starts_with("SKIPPED")
            || l.starts_with("sqe_")
            || l.starts_with("  ")
            || l.starts_with("the kernel disagrees")
    }) {
        say(line);
    }
    assert!(out.status.success(), "{child} failed:\n{text}");
    assert!(text.contains("1 passed"), "{child} ran no test:\n{text}");
}

#[test]
fn sqe_rules_hold_on_this_kernel() {
    run_child("sqe_fields::sqe_rules_child", "rules");
}

#[test]
fn sqe_rules_child() {
    if !in_child("rules", "sqe_rules_hold_on_this_kernel") {
        return;
    }
    let rows = sqe_fuzz::verify_rules().expect("verification runs");
    say(&model::sqe_rules::summary(oracle::profile::kernel_version()));
    let bad: Vec<String> = rows
        .iter()
        .filter(|r| !r.ok)
        .map(|r| format!("{} {}: table {}, kernel {}", r.op, r.probe, r.want, r.got))
        .collect();
    let zero = rows
        .iter()
        .filter(|r| r.probe.contains("must be zero"))
        .count();
    say(&format!(
        "sqe_rules: {} probes ({zero} must-be-zero fields, the rest ignored fields, generic \
         checks and baselines), {} disagree",
        rows.len(),
        bad.len()
    ));
    assert!(
        bad.is_empty(),
        "the kernel disagrees with the table:\n{}",
        bad.join("\n")
    );
}

/// Random inputs without libFuzzer (`RINGSPEC_CASES`, default 2000;
/// `RINGSPEC_SEED`): a quick smoke of the harness and the table. Ignored by
/// default; run it alone (the descriptor oracle counts the whole process):
/// `cargo test -p conformance sqe_fields_random -- --ignored --test-threads=1`.
#[test]
#[ignore]
fn sqe_fields_random_inputs() {
    if ready("sqe_fields_random_inputs").is_none() {
        return;
    }
    let cases: u64 = std::env::var("RINGSPEC_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let mut x: u64 = std::env::var("RINGSPEC_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed);
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let seeds = sqe_fuzz::seeds();
    let mut failures = vec![];
    for case in 0..cases {
        // Half mutated seeds, half random bytes.
        let mut bytes = if case % 2 == 0 {
            seeds[(next() % seeds.len() as u64) as usize].1.to_bytes()
        } else {
            let n = (next() % 2000) as usize;
            (0..n).map(|_| next() as u8).collect()
        };
        for _ in 0..(next() % 16) {
            if bytes.is_empty() {
                break;
            }
            let i = (next() % bytes.len() as u64) as usize;
            bytes[i] = next() as u8;
        }
        if let Err(f) = sqe_fuzz::check(&FuzzInput::from_bytes(&bytes)) {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            failures.push(format!("case {case} ({hex}):\n{f}"));
            if failures.len() >= 5 {
                break;
            }
        }
    }
    say(&format!("sqe_fields: {}", sqe_fuzz::stats()));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn sqe_fields_fixture_kept_only_when_unchanged() {
    run_child("sqe_fields::sqe_fixture_child", "fixture");
}

/// The sandbox keeps an input's fixture for the next one only when nothing
/// in it changed: every seed below that succeeds changes a file, a name, an
/// attribute, a position or the pipe, and must not be kept; a NOP must be
/// (where fixtures are kept at all: multigrain timestamps, 6.13 on).
#[test]
fn sqe_fixture_child() {
    if !in_child("fixture", "sqe_fields_fixture_kept_only_when_unchanged") {
        return;
    }
    // A read at the file position (off = -1) of `r` (role 1, at offset 0 of
    // its 100 bytes) moves it; the seeds read `f` at offset 0 and change
    // nothing (and `f`'s position is at its end, where a read moves nothing).
    let seed = |name: &str| {
        let (file, at_position) = match name.strip_suffix("-at-position") {
            Some(op) => (format!("seed-{op}-valid"), true),
            None => (format!("seed-{name}"), false),
        };
        let mut input = FuzzInput::from_bytes(&std::fs::read(corpus().join(file)).unwrap());
        if at_position {
            input.sqes[0] = input.sqes[0]
                .clone()
                .with(Field::Off, Word::Raw(u64::MAX))
                .with(Field::Fd, Word::Fd(1));
        }
        input
    };
    let changers = [
        "fallocate-valid",
        "fsetxattr-valid",
        "setxattr-valid",
        "ftruncate-valid",
        "write-valid",
        "writev-valid",
        "read-at-position",
        "readv-at-position",
        "mkdirat-valid",
        "unlinkat-valid",
        "renameat-valid",
        "symlinkat-valid",
        "linkat-valid",
        "splice-valid",
    ];
    let mut changed = 0;
    for name in changers {
        let before = sqe_fuzz::stats();
        if let Err(f) = sqe_fuzz::check(&seed(name)) {
            panic!("seed-{name}: {f}");
        }
        let after = sqe_fuzz::stats();
        if after.succeeded > before.succeeded {
            changed += 1;
            assert_eq!(
                after.fixtures_kept, before.fixtures_kept,
                "seed-{name} succeeded, so it changed the fixture, yet the fixture was kept"
            );
        }
    }
    assert!(
        changed >= 10,
        "only {changed} of the {} changing seeds succeeded: the test shows little",
        changers.len()
    );
    let before = sqe_fuzz::stats();
    sqe_fuzz::check(&seed("nop-valid")).expect("a NOP passes");
    let after = sqe_fuzz::stats();
    let keeps = oracle::profile::kernel_version() >= (6, 13);
    assert_eq!(
        after.fixtures_kept - before.fixtures_kept,
        keeps as u64,
        "a NOP leaves the fixture unchanged: kept where fixtures are kept (6.13 on)"
    );
    say(&format!(
        "sqe_fields: {changed} changing seeds succeeded and were not kept; a NOP's fixture was {}",
        if keeps {
            "kept"
        } else {
            "not kept (kernel before 6.13)"
        }
    ));
}
