//! Random sequences: model vs the synchronous syscalls on the scratch tmpfs.

use backends::syscalls::Syscalls;
use model::Interface;
use oracle::differential::{check_sequence, Verdict};
use oracle::gen;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::cell::Cell;
use sys::scratch::Scratch;

pub(crate) fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

#[test]
fn sequences_model_vs_syscalls() {
    let cases = env_u64("RINGSPEC_CASES", 300) as u32;
    let seed = env_u64("RINGSPEC_SEED", 0x5eed_2026);
    eprintln!("sequences: {cases} cases, seed {seed} (RINGSPEC_SEED={seed} to replay)");
    let Some(scratch) = Scratch::from_env_or_skip("sequences_model_vs_syscalls") else {
        return;
    };
    let profile = oracle::profile::detect(&scratch, Interface::Syscall);
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        gen::seeded_rng(seed),
    );
    let counter = Cell::new(0u64);
    let (agree, poisoned) = (Cell::new(0u64), Cell::new(0u64));
    let executed = Cell::new(0u64);
    let succeeded =
        std::cell::RefCell::new(std::collections::BTreeMap::<String, (u64, u64)>::new());
    let started = std::time::Instant::now();
    let result = runner.run(&gen::sequence(gen::default_kinds(), 40), |ops| {
        let n = counter.get();
        counter.set(n + 1);
        let roots = scratch
            .roots(&format!("q{n}"))
            .map_err(|e| TestCaseError::fail(format!("roots: {e}")))?;
        let mut backend = Syscalls::new(roots);
        let res = check_sequence(&profile, &ops, &mut backend);
        executed.set(executed.get() + res.executed.values().sum::<u64>());
        for (i, out) in &res.outcomes {
            let mut m = succeeded.borrow_mut();
            let e = m.entry(ops[*i].kind().to_string()).or_default();
            e.0 += out.result.is_ok() as u64;
            e.1 += 1;
        }
        match res.verdict {
            Verdict::Agree => agree.set(agree.get() + 1),
            Verdict::Poisoned(_) => poisoned.set(poisoned.get() + 1),
            Verdict::Diverged(d) => {
                let ops_text: Vec<String> = ops
                    .iter()
                    .map(|o| serde_json::to_string(o).unwrap_or_default())
                    .collect();
                return Err(TestCaseError::fail(format!(
                    "{d}\nsequence:\n  {}",
                    ops_text.join("\n  ")
                )));
            }
        }
        Ok(())
    });
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "sequences: {} run ({} agree, {} poisoned), {} ops, {:.0} sequences/s",
        counter.get(),
        agree.get(),
        poisoned.get(),
        executed.get(),
        counter.get() as f64 / secs
    );
    // A generator whose ops mostly fail tests only error paths: print the rate.
    let rates: Vec<String> = succeeded
        .borrow()
        .iter()
        .map(|(k, (ok, n))| format!("{k} {ok}/{n}"))
        .collect();
    eprintln!("succeeded/executed per op: {}", rates.join(", "));
    if let Err(e) = result {
        panic!("model and syscalls diverged (seed {seed}; minimal sequence below):\n{e}");
    }
    assert!(
        agree.get() > poisoned.get(),
        "most sequences were poisoned: the generator is wasting runs"
    );
}

/// The seeds of `cargo fuzz run sequences` (corpus/fuzz/sequences, which
/// fuzz/corpus/sequences links to) are every regression's and scenario's
/// sequence (`oracle::seqfuzz::seeds`): committed, current, and each
/// decoding to its sequence. `RINGSPEC_WRITE_SEEDS=1 cargo test -p
/// conformance sequences_fuzz_seeds` rewrites them.
#[test]
fn sequences_fuzz_seeds_are_committed() {
    let corpus = oracle::corpus_dir();
    let dir = corpus.join("fuzz/sequences");
    let seeds = oracle::seqfuzz::seeds(&corpus).expect("the corpus loads");
    assert!(seeds.len() > 50, "only {} seeds", seeds.len());
    let write = std::env::var("RINGSPEC_WRITE_SEEDS").is_ok_and(|v| v == "1");
    if write {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut stale = vec![];
    for (name, bytes) in &seeds {
        let path = dir.join(name);
        if write {
            std::fs::write(&path, bytes).unwrap();
        } else if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
            stale.push(path.display().to_string());
        }
        assert!(
            oracle::seqfuzz::ops_from_bytes(bytes).is_some(),
            "{name} decodes to no sequence"
        );
    }
    let committed = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    assert!(
        stale.is_empty() && committed == seeds.len(),
        "fuzz seeds missing or stale ({committed} files for {} seeds; RINGSPEC_WRITE_SEEDS=1 \
         cargo test -p conformance sequences_fuzz_seeds rewrites them): {stale:?}",
        seeds.len()
    );
}
