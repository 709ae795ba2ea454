//! ringspec's conformance suite: `cargo test -p conformance`.
//!
//! - `boundaries`: a bug only at 2^32 is found and shrinks to exactly 2^32.
//! - `scenarios`: every case of corpus/scenarios/*.toml through the model and the
//!   real syscalls (`RINGSPEC_SCENARIOS=cfr_,-getdents` selects by name).
//! - `sequences`: random op sequences, model vs syscalls, op by op and final state
//!   (`RINGSPEC_CASES` sets the number of sequences, `RINGSPEC_SEED` the seed).
//! - `sqe_fields`: the sqe_fields fuzzer's committed corpus replayed without
//!   libFuzzer, and the model's SQE table verified field by field on this kernel.
//! - `sqe_sweep`: every rejection rule of the SQE table at its boundary values,
//!   every flag bit alone, with the sandbox's state compared before and after.
//! - `knobs`: every `RINGSPEC_*` variable the sources read is in the README.
//! - `minimize`: findings in long sequences are minimized below their first
//!   divergence and confirmed by replay before they are reported.
//! - `reproducers`: C reproducers of the regressions are compiled and run, and
//!   reproduce exactly when their replay fails; random sequences' reproducers
//!   agree with their runs; the sqe_fields regressions' reproducers judge as
//!   the harness; a wrong expectation is reported as the bug.

mod boundaries;
mod faults;
mod knobs;
mod large_dirs;
mod minimize;
mod proposed;
mod regressions;
mod reproducers;
mod scenarios;
mod sequences;
mod sqe_fields;
mod sqe_sweep;
mod uring;
