//! `cargo fuzz run sqe_fields`: arbitrary SQE batches against the running kernel
//! in a private sandbox, judged by the model's SQE table and security oracles.
//! Everything lives in `sqefuzz::sqe_fuzz` (the same `check` replays the committed
//! corpus in `cargo test -p conformance`); this file only glues it to libFuzzer.
//!
//! Refuses to run (exit 3) outside its sandbox: not root, no private mounts.
//! `RINGSPEC_SQE_STATS=N` prints the harness's counters every N inputs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sqefuzz::sqe_fuzz::{check, sandbox_ready, stats, FuzzInput};
use std::sync::atomic::{AtomicU64, Ordering};

static RUNS: AtomicU64 = AtomicU64::new(0);

fuzz_target!(
    init: {
        if let Err(e) = sandbox_ready() {
            eprintln!("sqe_fields refuses to run: {e}");
            std::process::exit(3);
        }
    },
    |input: FuzzInput| {
        if let Err(finding) = check(&input) {
            panic!("{finding}");
        }
        let every = std::env::var("RINGSPEC_SQE_STATS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let n = RUNS.fetch_add(1, Ordering::Relaxed) + 1;
        if every > 0 && n.is_multiple_of(every) {
            eprintln!("sqe_fields stats after {n} inputs: {}", stats());
        }
    }
);
