//! ringspec's oracle: backends that run ops (model, syscalls, io_uring), scratch
//! roots, scenario tables and the differential runner.

pub mod backend;
pub mod campaign;
pub mod checks;
pub mod deadline;
pub mod differential;
pub mod dirent;
pub mod faults;
pub mod gate;
pub mod gen;
pub mod interrupt;
pub mod loopdev;
pub mod minimize;
pub mod opbench;
pub mod probe;
pub mod profile;
pub mod proposed;
pub mod regression;
pub mod rlimit;
pub mod scenario;
pub mod scratch;
pub mod sqe;
pub mod sqe_fuzz;
pub mod sqe_sweep;
pub mod sqe_verify;
pub mod syscalls;
pub mod uring;

/// The repository's corpus/ directory (scenarios, regressions, seeds).
pub fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus")
}
