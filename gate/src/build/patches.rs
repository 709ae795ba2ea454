//! The `--patches` series: its files, in order, and the files each touches.

use super::BuildError;
use std::path::{Path, PathBuf};

/// The files a patch (unified or git diff) touches, relative to the tree
/// (`-p1`: the a/ and b/ prefixes removed), sorted and deduplicated.
pub fn touched_files(patch: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let strip = |p: &str| -> Option<String> {
        // "--- a/fs/x.c\t2024-01-01 ..." -> "fs/x.c"
        let p = p.split('\t').next().unwrap_or(p).trim_end();
        if p == "/dev/null" || p.is_empty() {
            return None;
        }
        let rest = p.split_once('/').map_or(p, |(_, r)| r);
        (!rest.is_empty()).then(|| rest.to_string())
    };
    for line in patch.lines() {
        if let Some(p) = line
            .strip_prefix("--- ")
            .or_else(|| line.strip_prefix("+++ "))
        {
            out.extend(strip(p));
        } else if let Some(rest) = line.strip_prefix("diff --git ") {
            if let Some((a, b)) = rest.split_once(' ') {
                out.extend(strip(a));
                out.extend(strip(b));
            }
        } else if let Some(p) = ["rename from ", "rename to ", "copy from ", "copy to "]
            .iter()
            .find_map(|pre| line.strip_prefix(pre))
        {
            out.push(p.to_string());
        }
    }
    out.retain(|p| !p.starts_with('/') && !p.split('/').any(|c| c == ".."));
    out.sort();
    out.dedup();
    out
}

/// True for a file whose change means reconfiguring: a Kconfig file or one of
/// the config fragments tinyconfig reads.
pub(super) fn affects_config(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with("Kconfig") || path.ends_with(".config")
}

/// The patch files of `dir`: `*.patch` and `*.diff`, sorted by name. Errors when
/// the directory cannot be read or holds none. The paths are absolute (`patch`
/// runs in the build's copy of the tree, so a relative one would not be found).
pub fn list_patches(dir: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let dir = &std::fs::canonicalize(dir)
        .map_err(|e| BuildError::BadPatches(format!("{}: {e}", dir.display())))?;
    let entries = std::fs::read_dir(dir)
        .map_err(|e| BuildError::BadPatches(format!("{}: {e}", dir.display())))?;
    let mut out = Vec::new();
    for e in entries {
        let e = e.map_err(|e| BuildError::BadPatches(format!("{}: {e}", dir.display())))?;
        let p = e.path();
        let is_patch = p.extension().is_some_and(|x| x == "patch" || x == "diff");
        if is_patch && p.is_file() {
            out.push(p);
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(BuildError::BadPatches(format!(
            "{} has no *.patch or *.diff files",
            dir.display()
        )));
    }
    Ok(out)
}

/// A patch file of the series.
pub(super) struct PatchFile {
    /// Its path (absolute).
    pub path: PathBuf,
    /// Its file name, as reports show it.
    pub name: String,
}

/// Reads the patches, leaving out those without a diff (a format-patch cover
/// letter) with a note.
pub(super) fn read_patches(files: &[PathBuf]) -> Result<Vec<PatchFile>, BuildError> {
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read(path)
            .map_err(|e| BuildError::BadPatches(format!("{}: {e}", path.display())))?;
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        if touched_files(&String::from_utf8_lossy(&text)).is_empty() {
            log::info!("ringspec gate: {name} has no diff (a cover letter?): skipped");
            continue;
        }
        out.push(PatchFile {
            path: path.clone(),
            name,
        });
    }
    Ok(out)
}
