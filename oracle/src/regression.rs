//! Minimized failing sequences kept as readable files under corpus/regressions/,
//! replayed by `ringspec replay` and by `cargo test -p conformance`.

use crate::differential::{Divergence, Verdict};
use model::Op;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a replay must conclude.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectVerdict {
    /// Model and kernel agree (the bug that produced the file is fixed).
    #[default]
    Agree,
    /// The model declares the behaviour outside what it pins down (the fix was
    /// to recognise it); the replay must still reach that point, not diverge.
    Poisoned,
}

/// One regression file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Regression {
    /// A unique name (the file stem by convention).
    pub name: String,
    /// The root cause and the fix, in a sentence or two.
    pub note: String,
    /// The campaign seed that found it, if a campaign did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Filesystems it applies to (empty: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only_fs: Vec<String>,
    /// The filesystem a campaign found it on: `ringspec replay` runs it there
    /// unless `--fs` or `RINGSPEC_FS` says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs: Option<String>,
    /// The target that diverged ("syscalls", "uring/linked"): `ringspec
    /// replay` runs the syscalls and this target unless `--mode` or
    /// `RINGSPEC_MODES` says otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The kernel release it was found on (the model's kernel profile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
    /// The campaign command that found it (seed, cases, filesystem, modes,
    /// op kinds, longest sequence).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub found_by: Option<String>,
    /// Expected verdict of the replay.
    #[serde(default)]
    pub expect: ExpectVerdict,
    /// Targets ("syscalls", "uring/async") where the replay must agree even
    /// though `expect` is "poisoned": a kernel bug that only some submission
    /// paths hit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agree_on: Vec<String>,
    /// The minimal sequence.
    pub ops: Vec<Op>,
}

/// Why a regression file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("{path}: {1}", path = .0.display())]
    Io(PathBuf, #[source] std::io::Error),
    /// The file is not a valid regression (TOML or op vocabulary).
    #[error("{path}: not a valid regression file: {1}", path = .0.display())]
    Parse(PathBuf, #[source] ParseError),
}

/// Why a file's text is not a valid regression ([`Regression::parse`]); one
/// line.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// Not TOML, or not the fields of a regression.
    #[error("{}", one_line_toml_error(.0))]
    Toml(#[source] toml::de::Error),
    /// The file has no op.
    #[error("no ops")]
    NoOps,
    /// An op fails [`Op::validate`].
    #[error("op #{index}: {source}")]
    Op {
        /// Its position in `ops`.
        index: usize,
        /// Why.
        #[source]
        source: model::InvalidOp,
    },
    /// A filesystem name (`fs`, `only_fs`) that is not one of tmpfs, ext4,
    /// xfs, btrfs.
    #[error("unknown filesystem {0:?} (tmpfs, ext4, xfs or btrfs)")]
    UnknownFs(String),
    /// A `target` that names no submission path.
    #[error("target {target:?}: {source}")]
    Target {
        /// The target.
        target: String,
        /// Why.
        #[source]
        source: crate::submission::UnknownMode,
    },
}

/// Why a replay did not conclude as its file expects
/// ([`Regression::judge`]).
#[derive(Debug, thiserror::Error)]
pub enum Unexpected {
    /// The replay diverged.
    #[error("{0}")]
    Diverged(Box<Divergence>),
    /// The replay agreed where the file expects poisoned, or the other way
    /// round.
    #[error("expected {want:?}, got {got:?}")]
    Verdict {
        /// What the file expects.
        want: ExpectVerdict,
        /// What the replay concluded.
        got: Verdict,
    },
}

/// The command that writes the C reproducer of the regression file `file`
/// (`ringspec repro`) for `target` (on `fs` when given; else the file's).
pub fn repro_command(file: &str, target: &str, fs: Option<&str>) -> String {
    let fs = fs.map_or(String::new(), |f| format!(" --fs {f}"));
    format!("ringspec repro {file} --target {target}{fs} -o repro.c")
}

impl Regression {
    /// Reads and validates one file (every op must pass [`Op::validate`]).
    pub fn load(path: &Path) -> Result<Regression, LoadError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| LoadError::Io(path.to_path_buf(), e))?;
        Regression::parse(&text).map_err(|e| LoadError::Parse(path.to_path_buf(), e))
    }

    /// Parses and validates a file's text: the TOML, every op
    /// ([`Op::validate`]) and every filesystem name. The error is one line
    /// with the position and the reason.
    pub fn parse(text: &str) -> Result<Regression, ParseError> {
        let r: Regression = toml::from_str(text).map_err(ParseError::Toml)?;
        if r.ops.is_empty() {
            return Err(ParseError::NoOps);
        }
        for (index, op) in r.ops.iter().enumerate() {
            op.validate()
                .map_err(|source| ParseError::Op { index, source })?;
        }
        for fs in r.only_fs.iter().chain(&r.fs) {
            fs.parse::<sys::scratch::FsChoice>()
                .map_err(|_| ParseError::UnknownFs(fs.clone()))?;
        }
        if let Some(t) = &r.target {
            if t != "syscalls" {
                let mode = t.strip_prefix("uring/").unwrap_or(t);
                crate::submission::Submission::parse_list(mode).map_err(|source| {
                    ParseError::Target {
                        target: t.clone(),
                        source,
                    }
                })?;
            }
        }
        Ok(r)
    }

    /// Every `*.toml` under `dir`, sorted.
    pub fn load_dir(dir: &Path) -> Result<Vec<(PathBuf, Regression)>, LoadError> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| LoadError::Io(dir.to_path_buf(), e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        files.sort();
        files
            .into_iter()
            .map(|p| Regression::load(&p).map(|r| (p, r)))
            .collect()
    }

    /// Whether a replay verdict on `target` is what the file expects; `Err`
    /// explains.
    pub fn judge(&self, target: &str, verdict: &Verdict) -> Result<(), Unexpected> {
        let expect = if self.agree_on.iter().any(|t| t == target) {
            ExpectVerdict::Agree
        } else {
            self.expect
        };
        match (expect, verdict) {
            (ExpectVerdict::Agree, Verdict::Agree) => Ok(()),
            (ExpectVerdict::Poisoned, Verdict::Poisoned(_)) => Ok(()),
            (_, Verdict::Diverged(d)) => Err(Unexpected::Diverged(d.clone())),
            (want, got) => Err(Unexpected::Verdict {
                want,
                got: got.clone(),
            }),
        }
    }

    /// Builds a file for a new finding (the note says it awaits a diagnosis).
    pub fn from_finding(name: &str, seed: Option<u64>, ops: &[Op], d: &Divergence) -> Regression {
        Regression {
            name: name.to_string(),
            note: format!(
                "UNDIAGNOSED: {}",
                d.to_string().lines().next().unwrap_or("")
            ),
            seed,
            only_fs: vec![],
            fs: None,
            target: None,
            kernel: None,
            found_by: None,
            expect: ExpectVerdict::Agree,
            agree_on: vec![],
            ops: ops.to_vec(),
        }
    }

    /// The file text: TOML with one op per line.
    pub fn to_toml(&self) -> String {
        let mut out = String::new();
        let head = Regression {
            ops: vec![],
            ..self.clone()
        };
        let mut head_text = toml::to_string(&head).unwrap_or_default();
        head_text = head_text.replace("ops = []\n", "");
        out.push_str(&head_text);
        out.push_str("ops = [\n");
        for op in &self.ops {
            let v = toml::Value::try_from(op).expect("ops serialize");
            out.push_str(&format!("  {},\n", inline(&v)));
        }
        out.push_str("]\n");
        out
    }
}

/// toml's error as one line: "line 12, column 10: invalid type: ..." (its
/// Display spreads the position, a source excerpt and the reason over
/// several lines).
fn one_line_toml_error(e: &toml::de::Error) -> String {
    let reason = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let full = e.to_string();
            let pos = full
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("TOML parse error at "))
                .map(str::to_string)
                .unwrap_or_else(|| format!("bytes {}..{}", span.start, span.end));
            format!("{pos}: {reason}")
        }
        None => reason,
    }
}

/// A TOML value as one line (inline tables and arrays).
fn inline(v: &toml::Value) -> String {
    match v {
        toml::Value::Table(t) => {
            let parts: Vec<String> = t
                .iter()
                .map(|(k, v)| format!("{k} = {}", inline(v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }
        toml::Value::Array(a) => {
            let parts: Vec<String> = a.iter().map(inline).collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{Dir, FdRef, Off, OpenFlag, Payload};

    #[test]
    fn round_trip() {
        let r = Regression {
            name: "x".into(),
            note: "n".into(),
            seed: Some(7),
            only_fs: vec![],
            fs: Some("ext4".into()),
            target: Some("uring/linked".into()),
            kernel: Some("6.18.0".into()),
            found_by: Some("ringspec run --seed 7".into()),
            expect: ExpectVerdict::Poisoned,
            agree_on: vec!["syscalls".into()],
            ops: vec![
                Op::Open {
                    slot: 0,
                    dir: Dir::Root,
                    path: "a".into(),
                    flags: vec![OpenFlag::Rdwr, OpenFlag::Creat],
                    mode: 0o644,
                },
                Op::Write {
                    fd: FdRef::Slot(0),
                    data: Payload::Text("hi".into()),
                    offset: Off::Pos,
                },
            ],
        };
        let text = r.to_toml();
        let back: Regression = toml::from_str(&text).unwrap();
        assert_eq!(back.ops, r.ops);
        assert_eq!(back.expect, ExpectVerdict::Poisoned);
        assert_eq!(back.agree_on, vec!["syscalls".to_string()]);
        let poisoned = Verdict::Poisoned("op #1 write: known kernel bug".into());
        assert!(back.judge("uring/single", &poisoned).is_ok());
        assert!(back.judge("syscalls", &poisoned).is_err());
        assert!(back.judge("syscalls", &Verdict::Agree).is_ok());
        assert_eq!(text.lines().filter(|l| l.starts_with("  {")).count(), 2);
    }

    #[test]
    fn corrupt_files_give_one_line_errors() {
        let dir = std::env::temp_dir().join(format!("ringspec-reg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("bad.toml");
        std::fs::write(
            &f,
            "name = \"x\"\nnote = \"\"\nops = [ { op = \"frobnicate\" } ]\n",
        )
        .unwrap();
        let e = Regression::load(&f).unwrap_err().to_string();
        assert!(e.contains("not a valid regression file"), "{e}");
        assert_eq!(e.lines().count(), 1);
        std::fs::write(
            &f,
            "name = \"x\"\nnote = \"\"\nops = [ { op = \"open\", slot = 0, path = \"../etc\" } ]\n",
        )
        .unwrap();
        assert!(Regression::load(&f)
            .unwrap_err()
            .to_string()
            .contains("unsafe"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
