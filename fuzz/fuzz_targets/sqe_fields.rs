//! `cargo fuzz run sqe_fields`: arbitrary SQE batches against the running kernel
//! in a private sandbox, judged by the model's SQE table and security oracles.
//! Everything lives in `sqefuzz::sqe_fuzz` (the same harness replays the
//! committed corpus in `cargo test -p conformance`); this file only glues it to
//! libFuzzer.
//!
//! The sandbox runs in a child process forked at initialization
//! (`sqefuzz::sqe_fuzz::process`): libFuzzer sees none of the harness's own
//! code coverage, only the features of what the kernel did, which the child
//! reports and this file adds to libFuzzer's extra counters.
//!
//! Refuses to run (exit 3) outside its sandbox: not root, no private mounts.
//! Before fuzzing it measures the ceiling (NOP-only batches through the same
//! process and ring, 0.5 s, `RINGSPEC_SQE_CEILING=0` skips it) and prints it
//! next to which libFuzzer's exec/s lines read. `RINGSPEC_SQE_STATS=N` prints
//! the harness's counters and time per phase every N inputs.
//!
//! Kernel coverage: on a kernel with KCOV (`/sys/kernel/debug/kcov`, as
//! `ringspec gate --fuzz` builds it) the child collects the kernel edges of
//! each input's submission and wait, and this file sets them in extra
//! counters of their own (`RINGSPEC_KCOV=feedback`, the default), or only
//! counts them (`measure`); `off` leaves KCOV alone. Either way it prints
//! `ringspec-kcov:` progress lines (`sys::kcov::ProgressLine`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sqefuzz::sqe_fuzz::process::{SandboxProcess, Verdict};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

static RUNS: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds spent waiting for the sandbox process's verdicts.
static IN_SANDBOX: AtomicU64 = AtomicU64::new(0);
/// When the first input came.
static STARTED: OnceLock<Instant> = OnceLock::new();
static SANDBOX: OnceLock<Mutex<SandboxProcess>> = OnceLock::new();

/// libFuzzer's extra counters (the linker names the section's bounds, which
/// libFuzzer reads after every input and clears before the next).
const COUNTERS: usize = 1 << 15;
#[used]
#[unsafe(link_section = "__libfuzzer_extra_counters")]
static mut EXTRA: [u8; COUNTERS] = [0; COUNTERS];
/// The kernel edges' extra counters (`RINGSPEC_KCOV=feedback`).
#[used]
#[unsafe(link_section = "__libfuzzer_extra_counters")]
static mut KERNEL: [u8; sys::kcov::FEATURE_SPACE] = [0; sys::kcov::FEATURE_SPACE];
/// The kernel coverage mode, once KCOV runs in the sandbox process.
static KCOV: OnceLock<sys::kcov::Mode> = OnceLock::new();

fuzz_target!(
    init: {
        let mut sandbox = match SandboxProcess::start() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("sqe_fields refuses to run: {e}");
                std::process::exit(3);
            }
        };
        let mode = sys::kcov::Mode::from_env().unwrap_or_else(|e| {
            eprintln!("sqe_fields: {e}");
            std::process::exit(2);
        });
        if mode != sys::kcov::Mode::Off {
            match sandbox.enable_kcov() {
                Ok(None) => {
                    let _ = KCOV.set(mode);
                    sys::kcov::start_progress("sqe_fields", mode);
                }
                Ok(Some(why)) => eprintln!("{}", sys::kcov::unavailable_line(&why)),
                Err(e) => {
                    eprintln!("sqe_fields refuses to run: kernel coverage: {e}");
                    std::process::exit(3);
                }
            }
        }
        if std::env::var("RINGSPEC_SQE_CEILING").as_deref() != Ok("0") {
            match sandbox.ceiling(4, Duration::from_millis(500)) {
                Ok(c) => eprintln!("sqe_fields ceiling: {c}"),
                Err(e) => eprintln!("sqe_fields ceiling not measured: {e}"),
            }
        }
        let _ = SANDBOX.set(Mutex::new(sandbox));
    },
    |data: &[u8]| {
        let mut sandbox = SANDBOX
            .get()
            .expect("initialized")
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        STARTED.get_or_init(Instant::now);
        let asked = Instant::now();
        let verdict = sandbox.check(data);
        IN_SANDBOX.fetch_add(asked.elapsed().as_nanos() as u64, Ordering::Relaxed);
        match verdict {
            Ok(Verdict::Passed(features)) => {
                let counters = &raw mut EXTRA;
                for &f in features {
                    // Set, not counted: libFuzzer would make each count
                    // bucket a feature of its own.
                    // SAFETY: libFuzzer reads and clears the counters only
                    // between inputs, on this thread.
                    unsafe { (*counters)[f as usize % COUNTERS] = 1 };
                }
                if let Some(&mode) = KCOV.get() {
                    let k = sandbox.kernel_coverage();
                    if mode == sys::kcov::Mode::Feedback {
                        let counters = &raw mut KERNEL;
                        for &f in k.features {
                            // SAFETY: as above.
                            unsafe { (*counters)[f as usize % sys::kcov::FEATURE_SPACE] = 1 };
                        }
                    }
                    let n = RUNS.load(Ordering::Relaxed) + 1;
                    sys::kcov::note_progress(n, k.pcs, k.edges);
                }
            }
            Ok(Verdict::Finding(text)) => panic!(
                "{text}\nC reproducer: ringspec repro --sqe-fields <the crash file libFuzzer \
                 names below> -o repro.c"
            ),
            Err(e) => panic!("{e}"),
        }
        let every = std::env::var("RINGSPEC_SQE_STATS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let n = RUNS.fetch_add(1, Ordering::Relaxed) + 1;
        if every > 0 && n.is_multiple_of(every) {
            let wall = STARTED.get().map_or(0.0, |t| t.elapsed().as_secs_f64() * 1e6);
            let waited = IN_SANDBOX.load(Ordering::Relaxed) as f64 / 1e3;
            match sandbox.stats() {
                Ok(s) => eprintln!(
                    "sqe_fields stats after {n} inputs: {:.1} us/input, of which {:.1} waiting \
                     for the sandbox process and {:.1} in libFuzzer; sandbox: {s}",
                    wall / n as f64,
                    waited / n as f64,
                    (wall - waited) / n as f64
                ),
                Err(e) => eprintln!("sqe_fields stats not read: {e}"),
            }
        }
    }
);
