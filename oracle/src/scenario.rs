//! The scenario tables under corpus/scenarios/: hand-written cases with the
//! outcome the kernel gives, run through the model and every backend.

use model::{Data, Errno, FileType, Op, Outcome};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One scenario file: `[[case]]` entries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    #[serde(rename = "case", default)]
    pub cases: Vec<Scenario>,
}

/// One named case: setup ops (their outcomes are compared model vs kernel too),
/// then the op under test with its expected outcome and, optionally, state.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Unique across the corpus.
    pub name: String,
    /// Where the fact comes from (kernel source, man page, test suite).
    #[serde(default)]
    pub see: Option<String>,
    #[serde(default)]
    pub setup: Vec<Op>,
    pub run: Op,
    /// The expected outcome through the synchronous syscalls.
    pub expect: Expect,
    /// The expected outcome through io_uring where it differs from `expect`.
    #[serde(default)]
    pub uring: Option<Expect>,
    /// Expected nodes after `run` (path under the main root -> node, or "absent").
    #[serde(default)]
    pub state: BTreeMap<String, NodeExpect>,
    /// Filesystems the case applies to (empty: all).
    #[serde(default)]
    pub only_fs: Vec<String>,
}

/// An expected outcome. Every field given must match; `any_of` matches if one
/// alternative does.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// Exact success value.
    pub ok: Option<i64>,
    /// Success value within [lo, hi] (where the kernel may return a short count).
    pub ok_in: Option<(i64, i64)>,
    /// The errno.
    pub err: Option<Errno>,
    /// Bytes read (read) as text.
    pub data: Option<String>,
    /// getdents64 names as a set (order is the filesystem's choice).
    pub names: Option<Vec<String>>,
    /// getdents64 record lengths in name order of `names` sorted, as a check of layout.
    pub reclens: Option<Vec<u16>>,
    /// statx fields to check.
    pub stat: Option<StatExpect>,
    pub any_of: Option<Vec<Expect>>,
}

/// Expected statx fields (each optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatExpect {
    #[serde(rename = "type")]
    pub file_type: Option<FileType>,
    pub perm: Option<u32>,
    pub size: Option<u64>,
    pub nlink: Option<u32>,
    pub rdev: Option<(u32, u32)>,
}

/// An expected node in the resulting state.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum NodeExpect {
    /// "absent": the path must not exist.
    Absent(String),
    Present {
        #[serde(rename = "type")]
        file_type: Option<FileType>,
        perm: Option<u32>,
        size: Option<u64>,
        /// Full contents as text (holes read as NUL).
        data: Option<String>,
        nlink: Option<u32>,
    },
}

impl Expect {
    /// Checks an outcome; returns why it does not match.
    pub fn check(&self, o: &Outcome) -> Result<(), String> {
        if let Some(alts) = &self.any_of {
            let errs: Vec<String> = alts.iter().filter_map(|a| a.check(o).err()).collect();
            return if errs.len() < alts.len() {
                Ok(())
            } else {
                Err(format!("none of any_of matched: {}", errs.join("; ")))
            };
        }
        if let Some(e) = self.err {
            return match o.result {
                Err(got) if got == e => Ok(()),
                _ => Err(format!("expected -{e}, got {o}")),
            };
        }
        let v = match o.result {
            Ok(v) => v,
            Err(_) => return Err(format!("expected success, got {o}")),
        };
        if let Some(want) = self.ok {
            if v != want {
                return Err(format!("expected {want}, got {o}"));
            }
        }
        if let Some((lo, hi)) = self.ok_in {
            if v < lo || v > hi {
                return Err(format!("expected a value in [{lo}, {hi}], got {o}"));
            }
        }
        if let Some(text) = &self.data {
            match &o.data {
                Data::Bytes(b) if b == text.as_bytes() => {}
                _ => return Err(format!("expected data {text:?}, got {o}")),
            }
        }
        if self.names.is_some() || self.reclens.is_some() {
            let Data::Dirents(d) = &o.data else {
                return Err(format!("expected dirents, got {o}"));
            };
            let mut got: Vec<&Dirent> = d.iter().collect();
            got.sort_by(|a, b| a.name.cmp(&b.name));
            if let Some(names) = &self.names {
                let mut want = names.clone();
                want.sort();
                let have: Vec<String> = got.iter().map(|e| e.name.clone()).collect();
                if have != want {
                    return Err(format!("expected names {want:?}, got {o}"));
                }
            }
            if let Some(r) = &self.reclens {
                let have: Vec<u16> = got.iter().map(|e| e.reclen).collect();
                if &have != r {
                    return Err(format!("expected reclens {r:?} (by name), got {o}"));
                }
            }
        }
        if let Some(s) = &self.stat {
            let Data::Stat(st) = &o.data else {
                return Err(format!("expected stat data, got {o}"));
            };
            let bad = s.file_type.is_some_and(|t| t != st.file_type)
                || s.perm.is_some_and(|p| p != st.perm)
                || s.size.is_some_and(|z| z != st.size)
                || s.nlink.is_some_and(|n| n != st.nlink)
                || s.rdev.is_some_and(|r| r != st.rdev);
            if bad {
                return Err(format!("expected stat {s:?}, got {o}"));
            }
        }
        Ok(())
    }
}

use model::Dirent;

/// Loads every `*.toml` under `dir`, sorted by file name, as (file stem, scenario).
pub fn load_dir(dir: &Path) -> Result<Vec<(String, Scenario)>, String> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let parsed: ScenarioFile =
            toml::from_str(&text).map_err(|e| format!("{}: {e}", f.display()))?;
        let stem = f.file_stem().unwrap_or_default().to_string_lossy().to_string();
        for c in parsed.cases {
            if !names.insert(c.name.clone()) {
                return Err(format!("{}: duplicate scenario name {}", f.display(), c.name));
            }
            for op in c.setup.iter().chain(std::iter::once(&c.run)) {
                op.validate()
                    .map_err(|e| format!("{}: scenario {}: {e}", f.display(), c.name))?;
            }
            out.push((stem.clone(), c));
        }
    }
    Ok(out)
}
