//! The gate's verdict on a suite result, with or without a baseline.

use crate::baseline::{self, Baseline, Comparison};
use crate::result::{Status, SuiteResult, EXIT_FAIL, EXIT_INFRA, EXIT_PASS, FORMAT};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// The gate's conclusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Exit 0.
    Passed,
    /// Exit 1: regressions or unaccepted failures.
    Failed,
    /// Exit 2: no verdict.
    Infrastructure,
}

impl Verdict {
    /// The process exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Passed => EXIT_PASS,
            Verdict::Failed => EXIT_FAIL,
            Verdict::Infrastructure => EXIT_INFRA,
        }
    }

    /// "PASSED", "FAILED", "INFRASTRUCTURE FAILURE".
    pub fn title(self) -> &'static str {
        match self {
            Verdict::Passed => "PASSED",
            Verdict::Failed => "FAILED",
            Verdict::Infrastructure => "INFRASTRUCTURE FAILURE",
        }
    }
}

/// The gate's report (report.json): the verdict, how it was reached, and the
/// suite result it judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    /// [`FORMAT`].
    pub format: u32,
    /// The conclusion.
    pub verdict: Verdict,
    /// Its exit code.
    pub exit_code: u8,
    /// "host", or the image booted.
    pub kernel_image: String,
    /// Why there is no verdict (infrastructure failures only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure: Option<String>,
    /// Failing rows (and findings) that decided a failed verdict, one line each.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Wall time of the whole gate (boot included) in seconds.
    pub wall_seconds: f64,
    /// What a reader should know about the run that is not a verdict (a guest
    /// that had to be killed after its suite finished).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The baseline file compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// The comparison with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    /// The suite's result, when one came back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<SuiteResult>,
}

impl GateReport {
    /// Judges a result (or an infrastructure failure) against an optional
    /// baseline. Infrastructure: a missing result or one with `problems`.
    /// Failed: regressions or new failures against the baseline; without a
    /// baseline, any failing row. Passed otherwise.
    pub fn judge(
        kernel_image: &str,
        outcome: Result<SuiteResult, String>,
        baseline: Option<(&Path, &Baseline)>,
        wall: Duration,
    ) -> GateReport {
        let mut report = GateReport {
            format: FORMAT,
            verdict: Verdict::Infrastructure,
            exit_code: EXIT_INFRA,
            kernel_image: kernel_image.to_string(),
            infrastructure: None,
            reasons: Vec::new(),
            wall_seconds: wall.as_secs_f64(),
            notes: Vec::new(),
            baseline: baseline.map(|(p, _)| p.display().to_string()),
            comparison: None,
            result: None,
        };
        let result = match outcome {
            Err(why) => {
                report.infrastructure = Some(why);
                return report;
            }
            Ok(r) => r,
        };
        if !result.problems.is_empty() {
            report.infrastructure = Some(result.problems.join("; "));
            report.result = Some(result);
            return report;
        }
        let mut reasons = Vec::new();
        if let Some((_, b)) = baseline {
            let cmp = baseline::compare_result(b, &result);
            for c in cmp.failing() {
                reasons.push(c.to_string());
            }
            report.comparison = Some(cmp);
        } else {
            for r in result.rows.iter().filter(|r| r.status == Status::Fail) {
                let first = r.failures.first().map(String::as_str).unwrap_or("failed");
                reasons.push(format!("{}: {first}", r.key()));
            }
        }
        report.verdict = if reasons.is_empty() {
            Verdict::Passed
        } else {
            Verdict::Failed
        };
        report.exit_code = report.verdict.exit_code();
        report.reasons = reasons;
        report.result = Some(result);
        report
    }
}
