//! Conformance suite for ringspec: see tests/.

use oracle::scenario::{Scenario, ScenarioResult};

/// Scenario results tallied across targets: counts by result and every
/// failure in full. A known io_uring bug reported off io_uring is a failure.
#[derive(Debug, Default)]
pub struct ScenarioTally {
    /// Kernel, table and model agreed.
    pub pass: u64,
    /// The case hit the kernel bug its table names (never a pass).
    pub known_bug: u64,
    /// Not applicable to this filesystem, kernel or limit.
    pub skipped: u64,
    /// One entry per failed (case, target), with every problem.
    pub failures: Vec<String>,
}

impl ScenarioTally {
    /// Counts `result` of case `sc` from `file` on the target named `target`.
    pub fn record(&mut self, file: &str, sc: &Scenario, target: &str, result: ScenarioResult) {
        match result {
            ScenarioResult::Pass => self.pass += 1,
            ScenarioResult::Skipped(_) => self.skipped += 1,
            ScenarioResult::KnownBug(_) if target.starts_with("uring") => self.known_bug += 1,
            ScenarioResult::KnownBug(why) => self.failures.push(format!(
                "{file}.toml: {} on {target}: a known io_uring bug off io_uring: {why}",
                sc.name
            )),
            ScenarioResult::Fail(p) => self.failures.push(format!(
                "{file}.toml: {} on {target}\n    {}",
                sc.name,
                p.join("\n    ")
            )),
        }
    }

    /// "N passed, N failed, N hit a known kernel bug, N skipped".
    pub fn summary(&self) -> String {
        format!(
            "{} passed, {} failed, {} hit a known kernel bug, {} skipped",
            self.pass,
            self.failures.len(),
            self.known_bug,
            self.skipped
        )
    }
}
