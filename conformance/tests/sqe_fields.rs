//! The `sqe_fields` fuzzer without libFuzzer: the committed corpus
//! (corpus/fuzz/sqe_fields/) replayed through the same `sqefuzz::sqe_fuzz::check`,
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

use sqefuzz::sqe_fuzz::{self, FuzzInput};
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
        Err(e) => {
            let required =
                std::env::var("RINGSPEC_REQUIRE_FS").is_ok_and(|v| !v.is_empty() && v != "0");
            if required {
                panic!("{test}: {e} (RINGSPEC_REQUIRE_FS is set)");
            }
            say(&format!("SKIPPED: {test}: {e}"));
            None
        }
    }
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
    if ready("sqe_fields_corpus_replays").is_none() {
        return;
    }
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
    for f in &files {
        let input = FuzzInput::from_bytes(&std::fs::read(f).unwrap());
        if let Err(finding) = sqe_fuzz::check(&input) {
            failures.push(format!("{}:\n{finding}", f.display()));
        }
    }
    say(&format!(
        "sqe_fields: replayed {} inputs: {}",
        files.len(),
        sqe_fuzz::stats()
    ));
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
fn run_child(child: &str, mode: &str) {
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
    if std::env::var(CHILD_ENV).as_deref() != Ok("rules") {
        return;
    }
    if ready("sqe_rules_hold_on_this_kernel").is_none() {
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
