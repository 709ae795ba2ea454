//! Baselines (`corpus/baselines/<kernel-release>.json`) and the comparison of a
//! run with one.
//!
//! A baseline is the status of every row of an accepted run. Comparing a new
//! run with it:
//! - a regression is pass -> fail, supported (pass or fail) -> unsupported, or a
//!   passing row that is gone (coverage lost); it fails the gate;
//! - a new failure is a failing row the baseline does not have as failing
//!   (unsupported -> fail, or a row the baseline lacks); it fails the gate too
//!   (a divergence nobody accepted);
//! - an improvement is fail -> pass or unsupported -> pass; reported, never fails;
//! - new rows that pass or are unsupported, and non-passing rows that are gone,
//!   are notes; fail -> fail is a known failure (accepted by the baseline);
//! - a row the model cannot judge ([`Status::NotJudged`]) never fails the gate:
//!   pass, fail or unsupported -> not judged is reported as "now not judged"
//!   (a baseline that recorded such a row as a known failure keeps working),
//!   not judged -> pass is an improvement, not judged -> fail a new failure,
//!   and not judged -> unsupported a regression (coverage lost).

use super::{Row, RowKey, Status, SuiteResult, FORMAT};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// One row of a baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineRow {
    /// See [`RowKey::opcode`].
    pub opcode: String,
    /// See [`RowKey::property`].
    pub property: String,
    /// See [`RowKey::filesystem`].
    pub filesystem: String,
    /// See [`RowKey::target`].
    pub target: String,
    /// The accepted status.
    pub status: Status,
}

impl BaselineRow {
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

/// A baseline file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    /// [`super::FORMAT`].
    pub format: u32,
    /// The kernel release it was made on.
    pub release: String,
    /// The suite settings it was made with, one line ("seed S, N cases, fs tmpfs").
    #[serde(default)]
    pub made_with: String,
    /// The rows, sorted by key.
    pub rows: Vec<BaselineRow>,
}

impl Baseline {
    /// The baseline of a run: its rows' statuses.
    pub fn from_result(r: &SuiteResult) -> Baseline {
        let mut rows: Vec<BaselineRow> = r
            .rows
            .iter()
            .map(|row| BaselineRow {
                opcode: row.opcode.clone(),
                property: row.property.clone(),
                filesystem: row.filesystem.clone(),
                target: row.target.clone(),
                status: row.status,
            })
            .collect();
        rows.sort_by_key(BaselineRow::key);
        let fs: Vec<&str> = r.filesystems.iter().map(|f| f.requested.as_str()).collect();
        Baseline {
            format: FORMAT,
            release: r.kernel.release.clone(),
            made_with: format!(
                "seed {}, {} cases, max_len {}, fs {}, targets {}",
                r.settings.seed,
                r.settings.cases,
                r.settings.max_len,
                fs.join(","),
                r.targets.join(",")
            ),
            rows,
        }
    }

    /// Pretty JSON, one row per line (small diffs when committed).
    pub fn to_json(&self) -> String {
        let mut out = format!(
            "{{\n  \"format\": {},\n  \"release\": {},\n  \"made_with\": {},\n  \"rows\": [\n",
            self.format,
            serde_json::to_string(&self.release).expect("json"),
            serde_json::to_string(&self.made_with).expect("json"),
        );
        for (i, r) in self.rows.iter().enumerate() {
            out.push_str("    ");
            out.push_str(&serde_json::to_string(r).expect("json"));
            if i + 1 < self.rows.len() {
                out.push(',');
            }
            out.push('\n');
        }
        out.push_str("  ]\n}\n");
        out
    }

    /// Reads a baseline: a baseline file, a suite result (`ringspec suite
    /// --out`) or a gate report (report.json) all work.
    pub fn load(path: &Path) -> Result<Baseline, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Baseline::parse(&text).map_err(|source| LoadError::Parse {
            path: path.to_path_buf(),
            source,
        })
    }

    /// [`Baseline::load`] from text.
    pub fn parse(text: &str) -> Result<Baseline, ParseError> {
        let v: serde_json::Value = serde_json::from_str(text).map_err(ParseError::NotJson)?;
        if v.get("rows").is_some() && v.get("release").is_some() {
            return serde_json::from_value(v).map_err(ParseError::NotBaseline);
        }
        // A suite result, or a gate report holding one.
        let result = v.get("result").unwrap_or(&v);
        let r: SuiteResult =
            serde_json::from_value(result.clone()).map_err(ParseError::NotResult)?;
        if !r.problems.is_empty() {
            return Err(ParseError::Problems(r.problems));
        }
        Ok(Baseline::from_result(&r))
    }
}

/// Why a baseline file cannot be used ([`Baseline::load`]); each names the
/// file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a baseline ([`ParseError`]).
    #[error("{}: {source}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: ParseError,
    },
}

/// Why a text is not a baseline ([`Baseline::parse`]).
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not JSON at all.
    #[error("not JSON: {0}")]
    NotJson(#[source] serde_json::Error),
    /// It has a baseline's `rows` and `release` but is not one.
    #[error("not a baseline: {0}")]
    NotBaseline(#[source] serde_json::Error),
    /// Neither a baseline, nor a suite result, nor a report holding one.
    #[error("neither a baseline nor a suite result: {0}")]
    NotResult(#[source] serde_json::Error),
    /// A suite result of a run that had problems (listed): no baseline.
    #[error("the run had problems, not a baseline: {}", .0.join("; "))]
    Problems(Vec<String>),
}

/// How a row changed against the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// pass -> fail, supported -> unsupported, pass -> gone. Fails the gate.
    Regression,
    /// A failing row the baseline does not have as failing. Fails the gate.
    NewFailure,
    /// fail -> pass, unsupported -> pass.
    Improvement,
    /// A row the baseline lacks that passes or is unsupported.
    New,
    /// A row of the baseline that is gone (and did not pass there).
    Gone,
    /// A row the model cannot judge any more (pass, fail or unsupported ->
    /// not judged): reported, never fails the gate.
    NotJudged,
}

impl ChangeKind {
    /// True for the kinds that fail the gate.
    pub fn fails_gate(self) -> bool {
        matches!(self, ChangeKind::Regression | ChangeKind::NewFailure)
    }
}

/// One changed row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The row.
    pub key: RowKey,
    /// What kind of change.
    pub kind: ChangeKind,
    /// The baseline's status (None: not in the baseline).
    pub before: Option<Status>,
    /// This run's status (None: not in this run).
    pub after: Option<Status>,
    /// The row's first failure or note, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

fn show(s: Option<Status>) -> &'static str {
    s.map_or("absent", Status::name)
}

impl fmt::Display for Change {
    /// `regression tmpfs syscalls splice scenarios:splice: pass -> fail: <detail>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ChangeKind::Regression => "regression",
            ChangeKind::NewFailure => "new failure",
            ChangeKind::Improvement => "improvement",
            ChangeKind::New => "new row",
            ChangeKind::Gone => "gone",
            ChangeKind::NotJudged => "now not judged",
        };
        write!(
            f,
            "{kind} {}: {} -> {}",
            self.key,
            show(self.before),
            show(self.after)
        )?;
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

/// The comparison of a run with a baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    /// The baseline's kernel release.
    pub baseline_release: String,
    /// Every changed row, sorted by kind then key.
    pub changes: Vec<Change>,
    /// Rows failing in both (accepted by the baseline).
    pub known_failures: Vec<RowKey>,
    /// Baseline rows of filesystems or targets this run did not include (not
    /// compared: a run on tmpfs alone says nothing about the baseline's ext4).
    #[serde(default)]
    pub not_compared: usize,
}

impl Comparison {
    /// The changes that fail the gate.
    pub fn failing(&self) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(|c| c.kind.fails_gate())
    }

    /// The changes of one kind.
    pub fn of_kind(&self, kind: ChangeKind) -> impl Iterator<Item = &Change> {
        self.changes.iter().filter(move |c| c.kind == kind)
    }
}

/// Compares a run with a baseline, within the run's scope: baseline rows of
/// filesystems or targets the run did not include are counted in
/// [`Comparison::not_compared`], not reported as gone.
pub fn compare_result(baseline: &Baseline, result: &SuiteResult) -> Comparison {
    let fs_run: Vec<&str> = result
        .filesystems
        .iter()
        .filter(|f| f.available)
        .map(|f| f.name.as_str())
        .chain(["-"])
        .collect();
    let in_scope = |r: &BaselineRow| {
        fs_run.contains(&r.filesystem.as_str())
            && (r.filesystem == "-" || result.targets.contains(&r.target))
    };
    let scoped = Baseline {
        rows: baseline
            .rows
            .iter()
            .filter(|r| in_scope(r))
            .cloned()
            .collect(),
        ..baseline.clone()
    };
    let mut c = compare(&scoped, &result.rows);
    c.not_compared = baseline.rows.len() - scoped.rows.len();
    c
}

/// Compares a run's rows with a baseline (every baseline row in scope).
pub fn compare(baseline: &Baseline, rows: &[Row]) -> Comparison {
    let before: BTreeMap<RowKey, Status> =
        baseline.rows.iter().map(|r| (r.key(), r.status)).collect();
    let after: BTreeMap<RowKey, &Row> = rows.iter().map(|r| (r.key(), r)).collect();
    let mut changes = Vec::new();
    let mut known_failures = Vec::new();
    let keys: std::collections::BTreeSet<&RowKey> = before.keys().chain(after.keys()).collect();
    for key in keys {
        let b = before.get(key).copied();
        let row = after.get(key);
        let a = row.map(|r| r.status);
        use Status::*;
        let kind = match (b, a) {
            (Some(Pass), Some(Fail)) => ChangeKind::Regression,
            (Some(Pass | Fail | NotJudged), Some(Unsupported)) => ChangeKind::Regression,
            (Some(Pass), None) => ChangeKind::Regression,
            (Some(Unsupported | NotJudged), Some(Fail)) | (None, Some(Fail)) => {
                ChangeKind::NewFailure
            }
            (Some(Fail | Unsupported | NotJudged), Some(Pass)) => ChangeKind::Improvement,
            (Some(Pass | Fail | Unsupported), Some(NotJudged)) => ChangeKind::NotJudged,
            (None, Some(_)) => ChangeKind::New,
            (Some(_), None) => ChangeKind::Gone,
            (Some(Fail), Some(Fail)) => {
                known_failures.push(key.clone());
                continue;
            }
            (Some(_), Some(_)) | (None, None) => continue,
        };
        let detail = row.and_then(|r| {
            r.failures.first().cloned().or_else(|| {
                matches!(r.status, Unsupported | NotJudged)
                    .then(|| r.note.clone())
                    .flatten()
            })
        });
        let detail = match (kind, b, a) {
            (ChangeKind::Regression, Some(Pass), None) => {
                Some("the row is gone (coverage lost)".to_string())
            }
            _ => detail,
        };
        changes.push(Change {
            key: key.clone(),
            kind,
            before: b,
            after: a,
            detail,
        });
    }
    changes.sort_by(|x, y| (x.kind, &x.key).cmp(&(y.kind, &y.key)));
    Comparison {
        baseline_release: baseline.release.clone(),
        changes,
        known_failures,
        not_compared: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Counts;

    fn row(opcode: &str, status: Status) -> Row {
        Row {
            opcode: opcode.into(),
            property: "sequences".into(),
            filesystem: "tmpfs".into(),
            target: "uring/single".into(),
            status,
            counts: Counts::default(),
            failures: if status == Status::Fail {
                vec![format!("{opcode} diverged")]
            } else {
                Vec::new()
            },
            note: None,
        }
    }

    fn baseline(rows: &[Row]) -> Baseline {
        Baseline {
            format: FORMAT,
            release: "6.12.0".into(),
            made_with: String::new(),
            rows: rows
                .iter()
                .map(|r| BaselineRow {
                    opcode: r.opcode.clone(),
                    property: r.property.clone(),
                    filesystem: r.filesystem.clone(),
                    target: r.target.clone(),
                    status: r.status,
                })
                .collect(),
        }
    }

    fn kinds(c: &Comparison) -> Vec<(String, ChangeKind)> {
        c.changes
            .iter()
            .map(|c| (c.key.opcode.clone(), c.kind))
            .collect()
    }

    #[test]
    fn pass_to_fail_is_a_regression() {
        let b = baseline(&[row("splice", Status::Pass)]);
        let c = compare(&b, &[row("splice", Status::Fail)]);
        assert_eq!(kinds(&c), [("splice".into(), ChangeKind::Regression)]);
        assert_eq!(c.failing().count(), 1);
        let line = c.changes[0].to_string();
        assert_eq!(
            line,
            "regression tmpfs uring/single splice sequences: pass -> fail: splice diverged"
        );
    }

    #[test]
    fn supported_to_unsupported_is_a_regression() {
        let b = baseline(&[row("tee", Status::Pass), row("pipe", Status::Fail)]);
        let c = compare(
            &b,
            &[
                row("tee", Status::Unsupported),
                row("pipe", Status::Unsupported),
            ],
        );
        assert_eq!(
            kinds(&c),
            [
                ("pipe".into(), ChangeKind::Regression),
                ("tee".into(), ChangeKind::Regression)
            ]
        );
    }

    #[test]
    fn fail_to_pass_is_an_improvement_that_does_not_fail() {
        let b = baseline(&[
            row("fadvise", Status::Fail),
            row("pipe", Status::Unsupported),
        ]);
        let c = compare(
            &b,
            &[row("fadvise", Status::Pass), row("pipe", Status::Pass)],
        );
        assert_eq!(
            kinds(&c),
            [
                ("fadvise".into(), ChangeKind::Improvement),
                ("pipe".into(), ChangeKind::Improvement)
            ]
        );
        assert_eq!(c.failing().count(), 0);
    }

    #[test]
    fn known_failures_pass_new_failures_do_not() {
        let b = baseline(&[row("read", Status::Fail), row("write", Status::Unsupported)]);
        let c = compare(
            &b,
            &[
                row("read", Status::Fail),
                row("write", Status::Fail),
                row("tee", Status::Fail),
                row("open", Status::Pass),
            ],
        );
        assert_eq!(c.known_failures.len(), 1);
        assert_eq!(
            kinds(&c),
            [
                ("tee".into(), ChangeKind::NewFailure),
                ("write".into(), ChangeKind::NewFailure),
                ("open".into(), ChangeKind::New)
            ]
        );
        assert_eq!(c.failing().count(), 2);
    }

    #[test]
    fn a_passing_row_that_vanished_is_a_regression() {
        let b = baseline(&[row("splice", Status::Pass), row("tee", Status::Fail)]);
        let c = compare(&b, &[]);
        assert_eq!(
            kinds(&c),
            [
                ("splice".into(), ChangeKind::Regression),
                ("tee".into(), ChangeKind::Gone)
            ]
        );
    }

    #[test]
    fn rows_of_filesystems_and_targets_not_run_are_not_compared() {
        let mut ext4 = row("splice", Status::Pass);
        ext4.filesystem = "ext4".into();
        let mut sqpoll = row("splice", Status::Pass);
        sqpoll.target = "uring/sqpoll".into();
        let b = baseline(&[row("splice", Status::Pass), ext4, sqpoll]);
        let result = SuiteResult {
            fuzz: Vec::new(),
            format: FORMAT,
            kernel: Default::default(),
            settings: crate::SuiteSettings {
                seed: 1,
                cases: 1,
                max_len: 1,
                filter: String::new(),
                scenarios: String::new(),
            },
            filesystems: vec![crate::FsRun {
                requested: "tmpfs".into(),
                name: "tmpfs".into(),
                describe: String::new(),
                available: true,
            }],
            targets: vec!["uring/single".into()],
            rows: vec![row("splice", Status::Fail)],
            findings: Vec::new(),
            problems: Vec::new(),
            seconds: 0.0,
        };
        let c = compare_result(&b, &result);
        assert_eq!(c.not_compared, 2);
        assert_eq!(kinds(&c), [("splice".into(), ChangeKind::Regression)]);
    }

    #[test]
    fn rows_the_model_cannot_judge_never_fail_the_gate() {
        // A baseline that recorded them as known failures (corpus/baselines/
        // 6.12.*: the uring/async EPIPE scenarios) or as passing.
        let b = baseline(&[
            row("splice", Status::Fail),
            row("tee", Status::Pass),
            row("lseek", Status::NotJudged),
            row("read", Status::NotJudged),
            row("write", Status::NotJudged),
            row("pipe", Status::NotJudged),
        ]);
        let c = compare(
            &b,
            &[
                row("splice", Status::NotJudged),
                row("tee", Status::NotJudged),
                row("lseek", Status::NotJudged),
                row("read", Status::Pass),
                row("write", Status::Fail),
                row("pipe", Status::Unsupported),
                row("open", Status::NotJudged),
            ],
        );
        assert_eq!(
            kinds(&c),
            [
                ("pipe".into(), ChangeKind::Regression),
                ("write".into(), ChangeKind::NewFailure),
                ("read".into(), ChangeKind::Improvement),
                ("open".into(), ChangeKind::New),
                ("splice".into(), ChangeKind::NotJudged),
                ("tee".into(), ChangeKind::NotJudged),
            ]
        );
        assert!(c.known_failures.is_empty());
        let failing: Vec<String> = c.failing().map(|c| c.key.opcode.clone()).collect();
        assert_eq!(failing, ["pipe", "write"]);
        assert!(c.changes[4]
            .to_string()
            .starts_with("now not judged tmpfs uring/single splice sequences: fail -> not_judged"));
        // The status is written and read back as "not_judged".
        assert!(b.to_json().contains("\"status\":\"not_judged\""));
        assert_eq!(Baseline::parse(&b.to_json()).unwrap(), b);
    }

    #[test]
    fn baseline_round_trips_and_loads_from_results() {
        let b = baseline(&[row("splice", Status::Pass), row("tee", Status::Unsupported)]);
        assert_eq!(Baseline::parse(&b.to_json()).unwrap(), b);
        assert!(Baseline::parse("{\"x\": 1}").is_err());
        assert!(Baseline::parse("nope").is_err());
    }
}
