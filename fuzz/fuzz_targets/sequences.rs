//! `cargo fuzz run sequences`: op sequences through the differential runner
//! (the model vs the synchronous syscalls vs io_uring in its submission
//! modes) on a private tmpfs (or `RINGSPEC_FS`). Everything lives in
//! `oracle::seqfuzz`; this file only glues it to libFuzzer.
//!
//! - Modes: `RINGSPEC_MODES` (default `single,async,fixed,batch,linked`:
//!   SQPOLL costs twenty times the others per sequence).
//! - Seeds: `cargo fuzz run sequences` starts from fuzz/corpus/sequences,
//!   which `RINGSPEC_WRITE_SEEDS=1 cargo test -p conformance
//!   sequences_fuzz_seeds` writes from corpus/scenarios and
//!   corpus/regressions.
//! - A crash is a confirmed divergence: minimized, replayed from its
//!   regression file text, printed and written to
//!   fuzz/artifacts/sequences/<name>-<hash>.toml, ready for corpus/regressions
//!   and `ringspec replay`. An unconfirmed one is printed and not a crash.
//! - `RINGSPEC_SEQ_STATS=N` prints the counts every N inputs.
//! - Kernel coverage: on a kernel with KCOV (`/sys/kernel/debug/kcov`, as
//!   `ringspec gate --fuzz` builds it), the kernel edges of each input's
//!   check on libFuzzer's thread (the syscalls target, the io_uring targets'
//!   submissions and waits, and the runner's own setup, snapshots and
//!   teardown; not io-wq or SQPOLL threads) go to extra counters of their
//!   own (`RINGSPEC_KCOV=feedback`, the default), or are only counted
//!   (`measure`); `off` leaves KCOV alone. `ringspec-kcov:` lines report them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use oracle::campaign::Submission;
use oracle::seqfuzz::{ops_from_bytes, Checked, SequenceChecker};
use std::cell::RefCell;
use std::time::Instant;
use sys::kcov::{Kcov, KernelCoverage, Mode, FEATURE_SPACE};

thread_local! {
    /// The checker, bound to libFuzzer's thread (its scratch area is).
    static CHECKER: RefCell<Option<SequenceChecker>> = const { RefCell::new(None) };
    /// KCOV on libFuzzer's thread, the coverage so far, and whether it is
    /// fed to libFuzzer.
    static KCOV: RefCell<Option<(Kcov, KernelCoverage, bool)>> = const { RefCell::new(None) };
}

/// The kernel edges' extra counters (`RINGSPEC_KCOV=feedback`).
#[used]
#[unsafe(link_section = "__libfuzzer_extra_counters")]
static mut KERNEL: [u8; FEATURE_SPACE] = [0; FEATURE_SPACE];

/// Inputs, decoded sequences and unconfirmed divergences so far.
static COUNTS: std::sync::Mutex<(u64, u64, u64)> = std::sync::Mutex::new((0, 0, 0));

fuzz_target!(
    init: {
        let text = std::env::var("RINGSPEC_MODES")
            .unwrap_or_else(|_| "single,async,fixed,batch,linked".into());
        let modes = match Submission::parse_list(&text) {
            Ok(m) => m,
            Err(e) => {
                eprintln!("sequences: RINGSPEC_MODES: {e}");
                std::process::exit(2);
            }
        };
        match SequenceChecker::new(&modes) {
            Ok((c, left_out)) => {
                for why in left_out {
                    eprintln!("sequences: not tested: {why}");
                }
                eprintln!("sequences: targets {}", c.target_names().join(", "));
                CHECKER.with(|cell| *cell.borrow_mut() = Some(c));
            }
            Err(e) => {
                eprintln!("sequences refuses to run: {e}");
                std::process::exit(3);
            }
        }
        let mode = Mode::from_env().unwrap_or_else(|e| {
            eprintln!("sequences: {e}");
            std::process::exit(2);
        });
        if mode != Mode::Off {
            match Kcov::enable_for_this_thread(sys::kcov::DEFAULT_WORDS) {
                Ok(Some(k)) => {
                    let fed = mode == Mode::Feedback;
                    KCOV.with(|c| *c.borrow_mut() = Some((k, KernelCoverage::default(), fed)));
                    sys::kcov::start_progress("sequences", mode);
                }
                Ok(None) => eprintln!("{}", sys::kcov::unavailable_line(&sys::kcov::no_device())),
                Err(e) => {
                    eprintln!("sequences refuses to run: kernel coverage: {e}");
                    std::process::exit(3);
                }
            }
        }
    },
    |data: &[u8]| {
        let Some(ops) = ops_from_bytes(data) else {
            count(false, false);
            return;
        };
        KCOV.with(|c| {
            if let Some((k, _, _)) = c.borrow().as_ref() {
                k.reset();
            }
        });
        let checked = CHECKER.with(|cell| {
            let cell = cell.borrow();
            let checker = cell.as_ref().expect("initialized");
            checker.check(&ops)
        });
        KCOV.with(|c| {
            if let Some((k, seen, fed)) = c.borrow_mut().as_mut() {
                seen.add(&k.pcs());
                if *fed {
                    let counters = &raw mut KERNEL;
                    for &f in seen.features() {
                        // SAFETY: libFuzzer reads and clears the counters
                        // only between inputs, on this thread.
                        unsafe { (*counters)[f as usize % FEATURE_SPACE] = 1 };
                    }
                }
                sys::kcov::note_progress(seen.inputs(), seen.pcs_seen(), seen.edges_seen());
            }
        });
        match checked {
            Ok(Checked::Agree) => count(true, false),
            Ok(Checked::Unconfirmed(f)) => {
                eprintln!(
                    "sequences: a divergence on {} came back {}/{} times: not reported\n{}",
                    f.target, f.reproduced, f.replays, f.divergence
                );
                count(true, true);
            }
            Ok(Checked::Diverged(f, toml)) => {
                let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/artifacts/sequences");
                let hash = toml.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                    (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
                });
                let path = format!("{dir}/fuzz_{}-{hash:016x}.toml", f.target.replace('/', "_"));
                let saved = std::fs::create_dir_all(dir)
                    .and_then(|()| std::fs::write(&path, &toml))
                    .map(|()| {
                        format!(
                            "saved as {path}; replay: ringspec replay {path}; C: {}",
                            oracle::regression::repro_command(&path, &f.target, None)
                        )
                    })
                    .unwrap_or_else(|e| format!("not saved ({path}: {e})"));
                panic!(
                    "sequences: confirmed divergence on {} ({}/{} replays), {saved}\n{}\n{toml}",
                    f.target, f.reproduced, f.replays, f.divergence
                );
            }
            Err(e) => panic!("sequences: environment failure (not a finding): {e}"),
        }
    }
);

/// Counts an input; prints the counts every `RINGSPEC_SEQ_STATS` inputs.
fn count(decoded: bool, unconfirmed: bool) {
    static STARTED: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let started = STARTED.get_or_init(Instant::now);
    let mut c = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
    c.0 += 1;
    c.1 += decoded as u64;
    c.2 += unconfirmed as u64;
    let every: u64 = std::env::var("RINGSPEC_SEQ_STATS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if every > 0 && c.0.is_multiple_of(every) {
        eprintln!(
            "sequences: {} inputs in {:.0} s, {} decoded to sequences, {} unconfirmed divergences",
            c.0,
            started.elapsed().as_secs_f64(),
            c.1,
            c.2
        );
    }
}
