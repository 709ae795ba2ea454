//! `cargo fuzz run sqe_fields`: arbitrary SQE batches against the running kernel
//! in a private sandbox, judged by the model's SQE table and security oracles.
//! Everything lives in `sqefuzz::sqe_fuzz` (the same `check` replays the committed
//! corpus in `cargo test -p conformance`); this file only glues it to libFuzzer.
//!
//! Refuses to run (exit 3) outside its sandbox: not root, no private mounts.
//! Before fuzzing it measures the ceiling (NOP-only batches through the same
//! thread and ring, 0.5 s, `RINGSPEC_SQE_CEILING=0` skips it) and prints it
//! next to which libFuzzer's exec/s lines read. `RINGSPEC_SQE_STATS=N` prints
//! the harness's counters and time per phase every N inputs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sqefuzz::sqe_fuzz::{ceiling, check, sandbox_ready, stats, FuzzInput};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static RUNS: AtomicU64 = AtomicU64::new(0);

fuzz_target!(
    init: {
        if let Err(e) = sandbox_ready() {
            eprintln!("sqe_fields refuses to run: {e}");
            std::process::exit(3);
        }
        if std::env::var("RINGSPEC_SQE_CEILING").as_deref() != Ok("0") {
            match ceiling(4, Duration::from_millis(500)) {
                Ok(c) => eprintln!("sqe_fields ceiling: {c}"),
                Err(e) => eprintln!("sqe_fields ceiling not measured: {e}"),
            }
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
