//! ringspec's differential harness: the generator, the runner that diffs the
//! model against the kernel backends, campaigns, scenario tables, regressions,
//! the minimizer, the named checks and the rows of a suite result.

pub mod campaign;
pub mod checks;
pub mod differential;
pub mod gen;
pub mod minimize;
pub mod opbench;
pub mod profile;
pub mod regression;
pub mod rows;
pub mod scenario;
pub mod seqfuzz;
pub mod submission;

/// The repository's corpus/ directory (scenarios, regressions, seeds).
pub fn corpus_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../corpus")
}
