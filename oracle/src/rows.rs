//! The rows of a suite result: (opcode, property, filesystem, target) with a
//! status and counts. The named checks, the suite and the gate's reports
//! share them.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The status of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Everything run agreed with the model and the tables.
    Pass,
    /// At least one case or sequence failed.
    Fail,
    /// The kernel lacks what the row needs (an io_uring opcode): nothing was
    /// judged. Never counted as a pass.
    Unsupported,
    /// The kernel ran the row, but the model cannot judge (some of) its cases
    /// here: it answers "not modelled" for them (e.g. a pipe closed through
    /// io-wq before 6.18, `model::pipe::LAZY_RELEASE`); the row's note says
    /// which and why. Not a failure of the kernel and never a pass: reported
    /// as a skip, and it fails the gate neither with nor without a baseline.
    /// A row with a failing case is [`Status::Fail`] all the same.
    #[serde(rename = "not_judged")]
    NotJudged,
}

impl Status {
    /// "pass", "fail", "unsupported" or "not_judged" (as in the JSON).
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Unsupported => "unsupported",
            Status::NotJudged => "not_judged",
        }
    }

    /// True for pass, fail and not judged: the kernel ran the thing.
    pub fn supported(self) -> bool {
        self != Status::Unsupported
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Counts behind a row. Scenario rows fill `pass`, `fail`, `unsupported` and
/// `skipped` (cases); sequence rows fill `sequences`, `ops`, `divergences` and
/// `poisoned`. Zero fields are left out of the JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    /// Scenario cases that passed.
    #[serde(skip_serializing_if = "is_zero")]
    pub pass: u64,
    /// Scenario cases that failed.
    #[serde(skip_serializing_if = "is_zero")]
    pub fail: u64,
    /// Scenario cases not run because the target lacks the opcode.
    #[serde(skip_serializing_if = "is_zero")]
    pub unsupported: u64,
    /// Scenario cases not applicable here (another filesystem's, or needing two
    /// filesystems).
    #[serde(skip_serializing_if = "is_zero")]
    pub skipped: u64,
    /// Scenario cases the model cannot judge here (see [`Status::NotJudged`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub not_judged: u64,
    /// Generated sequences that contained the op kind.
    #[serde(skip_serializing_if = "is_zero")]
    pub sequences: u64,
    /// Ops of the kind executed on the target.
    #[serde(skip_serializing_if = "is_zero")]
    pub ops: u64,
    /// Of those, ops submitted through the ring (the rest ran synchronously:
    /// no opcode, or the kernel lacks it).
    #[serde(skip_serializing_if = "is_zero")]
    pub ring: u64,
    /// Divergences at an op of the kind (shrinking reruns included).
    #[serde(skip_serializing_if = "is_zero")]
    pub divergences: u64,
    /// Sequences poisoned at an op of the kind (behaviour the model leaves open).
    #[serde(skip_serializing_if = "is_zero")]
    pub poisoned: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a row is about: the key baselines compare by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RowKey {
    /// The filesystem of the scratch roots ("tmpfs", "ext4", ...), "-" for
    /// rows about the kernel rather than a filesystem (the probe).
    pub filesystem: String,
    /// The target ("syscalls", "uring/async", ...; "io_uring" for probe rows).
    pub target: String,
    /// The op kind ("splice", "read", ...), or "final_state" for a divergence
    /// of the whole state at the end of a sequence.
    pub opcode: String,
    /// `scenarios:<file stem>`, "sequences" or "probe".
    pub property: String,
}

impl fmt::Display for RowKey {
    /// "tmpfs syscalls splice scenarios:splice": the KTAP test name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.filesystem, self.target, self.opcode, self.property
        )
    }
}

/// One (opcode, property, filesystem, target) result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The op kind (see [`RowKey::opcode`]).
    pub opcode: String,
    /// See [`RowKey::property`].
    pub property: String,
    /// See [`RowKey::filesystem`].
    pub filesystem: String,
    /// See [`RowKey::target`].
    pub target: String,
    /// The verdict.
    pub status: Status,
    /// The counts behind it.
    #[serde(default)]
    pub counts: Counts,
    /// The first failure messages (at most [`MAX_FAILURES`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// Why unsupported or not judged, or what else a reader needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How many failure messages a row keeps.
pub const MAX_FAILURES: usize = 3;

impl Row {
    /// The comparison key.
    pub fn key(&self) -> RowKey {
        RowKey {
            filesystem: self.filesystem.clone(),
            target: self.target.clone(),
            opcode: self.opcode.clone(),
            property: self.property.clone(),
        }
    }
}
