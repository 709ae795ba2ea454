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
    /// The model cannot judge the case here (neither a pass nor a failure),
    /// one entry per (case, target) with the reason.
    pub not_judged: Vec<String>,
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
            ScenarioResult::NotJudged(why) => self
                .not_judged
                .push(format!("{file}.toml: {} on {target}: {why}", sc.name)),
            ScenarioResult::Fail(p) => self.failures.push(format!(
                "{file}.toml: {} on {target}\n    {}",
                sc.name,
                p.join("\n    ")
            )),
        }
    }

    /// "N passed, N failed, N hit a known kernel bug, N not judged, N skipped".
    pub fn summary(&self) -> String {
        format!(
            "{} passed, {} failed, {} hit a known kernel bug, {} not judged, {} skipped",
            self.pass,
            self.failures.len(),
            self.known_bug,
            self.not_judged.len(),
            self.skipped
        )
    }
}

/// Prints the campaign's per-opcode table and fails on a divergence (with the
/// seed and the minimized sequence, one op per line) or on a run that was
/// mostly poisoned (it would then check little). `label` names the campaign.
pub fn assert_campaign_agrees(
    label: &str,
    result: &oracle::campaign::CampaignResult,
    targets: &[oracle::campaign::Target],
) {
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    eprint!("{}", oracle::campaign::table(&result.stats, &names));
    if let Some(f) = &result.finding {
        let ops: Vec<String> = f
            .ops
            .iter()
            .map(|o| serde_json::to_string(o).unwrap_or_default())
            .collect();
        panic!(
            "{label}: {} diverged (RINGSPEC_SEED={}): {}\nsequence:\n  {}",
            f.target,
            f.seed,
            f.divergence,
            ops.join("\n  ")
        );
    }
    assert!(
        result.stats.agree > result.stats.poisoned,
        "{label}: mostly poisoned"
    );
}
