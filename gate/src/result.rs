//! What `ringspec suite` writes and the gate reads: the rows, the kernel
//! facts, the filesystems run, the findings, and the exit codes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Exit code: the gate passed (no regression, no unaccepted failure).
pub const EXIT_PASS: u8 = 0;
/// Exit code: a regression against the baseline, or a divergence (a failing row
/// the baseline does not accept; without a baseline, any failing row).
pub const EXIT_FAIL: u8 = 1;
/// Exit code: infrastructure failure; no verdict on the kernel.
pub const EXIT_INFRA: u8 = 2;

/// Version of the result and baseline JSON layout.
pub const FORMAT: u32 = 1;

pub use oracle::rows::{Counts, Row, RowKey, Status, MAX_FAILURES};

/// One opcode of the io_uring probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpcodeFact {
    /// The number.
    pub opcode: u8,
    /// The name (IORING_OP_ without the prefix).
    pub name: String,
    /// IO_URING_OP_SUPPORTED.
    pub supported: bool,
}

/// Whether io_uring is usable, and what it offers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoUringFacts {
    /// io_uring_setup and IORING_REGISTER_PROBE worked.
    pub usable: bool,
    /// Why not, when not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// /proc/sys/kernel/io_uring_disabled (absent before 6.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_sysctl: Option<String>,
    /// One past the highest supported opcode.
    #[serde(default)]
    pub last_op: u8,
    /// Every known opcode and whether it is supported.
    #[serde(default)]
    pub opcodes: Vec<OpcodeFact>,
}

/// The facts about the gated kernel that the verdict depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelFacts {
    /// uname -r.
    pub release: String,
    /// (major, minor) as the model's profile reads it.
    pub version: (u32, u32),
    /// The io_uring probe.
    pub io_uring: IoUringFacts,
    /// Where the config facts come from (/proc/config.gz, /boot/config-R, the
    /// config file beside the image), if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_source: Option<String>,
    /// The config options that matter (CONFIG_IO_URING, the filesystems, loop):
    /// "y", "m", or "n" when the config says it is not set.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

/// One filesystem the suite ran on (or could not set up).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsRun {
    /// What was asked for ("tmpfs", "ext4", ...).
    pub requested: String,
    /// What the scratch roots are on (statfs), empty when unavailable.
    #[serde(default)]
    pub name: String,
    /// The scratch's own description, or why it could not be made.
    pub describe: String,
    /// True when the scratch area could be set up.
    pub available: bool,
}

/// A campaign divergence, minimized, ready to be saved as a regression file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingReport {
    /// The target that diverged.
    pub target: String,
    /// The filesystem.
    pub filesystem: String,
    /// The op kind it diverged at ("final_state" for a state-only divergence).
    pub opcode: String,
    /// The divergence, as `ringspec run` prints it.
    pub divergence: String,
    /// File name to save it under (`found-...toml`).
    pub file: String,
    /// The regression file's text (`ringspec replay` reads it).
    pub regression_toml: String,
}

/// What the suite was asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuiteSettings {
    /// Campaign seed.
    pub seed: u64,
    /// Campaign sequences per target and filesystem.
    pub cases: u64,
    /// Longest generated body.
    pub max_len: usize,
    /// Scenario name filter (`RINGSPEC_SCENARIOS` syntax).
    #[serde(default)]
    pub filter: String,
    /// The scenario directory.
    pub scenarios: String,
}

/// Everything `ringspec suite` found; the file the guest hands back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteResult {
    /// [`FORMAT`].
    pub format: u32,
    /// The kernel.
    pub kernel: KernelFacts,
    /// What was run.
    pub settings: SuiteSettings,
    /// The filesystems.
    pub filesystems: Vec<FsRun>,
    /// The targets that ran (names, in `targets()` order).
    #[serde(default)]
    pub targets: Vec<String>,
    /// Rows, sorted by key.
    pub rows: Vec<Row>,
    /// Campaign divergences, minimized.
    #[serde(default)]
    pub findings: Vec<FindingReport>,
    /// Problems that make the run unusable as a verdict (io_uring unusable, a
    /// filesystem that could not be set up, an unreadable corpus, interrupted).
    #[serde(default)]
    pub problems: Vec<String>,
    /// The fuzz runs of `--fuzz` ([`crate::fuzz`]), each with its kernel
    /// coverage over time.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fuzz: Vec<crate::fuzz::FuzzCampaign>,
    /// Wall time of the suite in seconds.
    pub seconds: f64,
}

impl SuiteResult {
    /// Rows per status.
    pub fn totals(&self) -> BTreeMap<Status, usize> {
        let mut t = BTreeMap::new();
        for r in &self.rows {
            *t.entry(r.status).or_default() += 1;
        }
        t
    }
}
