//! Every `RINGSPEC_*` environment variable named anywhere in the repository's
//! sources (Rust, shell scripts, .ci/run, TOML inputs, the gate's guest script,
//! which vm.rs writes) has a row in README.md's "## Knobs" table, so a new knob
//! cannot go undocumented. Needs no root and no scratch filesystem.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const PREFIX: &str = "RINGSPEC_";

/// Every `RINGSPEC_[A-Z0-9_]+` name in `text` (a bare `RINGSPEC_`, as in a
/// `starts_with` test, is no name).
fn names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(PREFIX) {
        let tail = &rest[at + PREFIX.len()..];
        let len = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let suffix = tail[..len].trim_end_matches('_');
        let preceded_by_word = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !suffix.is_empty() && !preceded_by_word {
            out.push(format!("{PREFIX}{suffix}"));
        }
        rest = &tail[len..];
    }
    out
}

/// The names in the first column of README.md's "## Knobs" table.
fn documented(readme: &str) -> BTreeSet<String> {
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Knobs\n"))
        .expect("README.md has no \"## Knobs\" section");
    section
        .lines()
        .filter(|l| l.starts_with('|'))
        .filter_map(|l| l.split('|').nth(1))
        .flat_map(names)
        .collect()
}

/// Whether `path` is a source the scan reads: Rust, shell, TOML, Python, and
/// the extension-less scripts of scripts/ and .ci/.
fn is_source(path: &Path) -> bool {
    match path.extension().and_then(|e| e.to_str()) {
        Some("rs" | "sh" | "toml" | "py") => true,
        Some(_) => false,
        None => path
            .parent()
            .and_then(|p| p.file_name())
            .is_some_and(|d| d == "scripts" || d == ".ci"),
    }
}

/// Source files under `dir`, leaving out build output, git metadata and other
/// hidden directories except .ci/.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let kind = entry
            .file_type()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if kind.is_dir() {
            if name == "target" || (name.starts_with('.') && name != ".ci") {
                continue;
            }
            walk(&path, out);
        } else if kind.is_file() && is_source(&path) {
            out.push(path);
        }
    }
}

/// Each undocumented name with the files that use it.
fn undocumented(root: &Path, readme: &str) -> BTreeMap<String, Vec<String>> {
    let known = documented(readme);
    let mut files = Vec::new();
    walk(root, &mut files);
    files.sort();
    let mut missing: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in &files {
        // Non-UTF-8 files (fuzz corpora) are data, not sources.
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let rel = file
            .strip_prefix(root)
            .unwrap_or(file)
            .display()
            .to_string();
        for name in names(&text) {
            if !known.contains(&name) {
                let users = missing.entry(name).or_default();
                if !users.contains(&rel) {
                    users.push(rel.clone());
                }
            }
        }
    }
    missing
}

#[test]
fn every_ringspec_variable_is_in_the_readme_knobs_table() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let missing = undocumented(root, &readme);
    let list: Vec<String> = missing
        .iter()
        .map(|(name, users)| format!("  {name} (used in {})", users.join(", ")))
        .collect();
    assert!(
        missing.is_empty(),
        "RINGSPEC_* variables missing from README.md's \"## Knobs\" table:\n{}",
        list.join("\n")
    );
    let documented = documented(&readme);
    assert!(
        documented.len() >= 20,
        "the Knobs table looks unparsed: {documented:?}"
    );
}

#[test]
fn knob_names_are_found_where_they_are_and_nowhere_else() {
    // Built from PREFIX so that the scan of this file finds no made-up names.
    let p = PREFIX;
    assert_eq!(
        names(&format!("a {p}FS=ext4 `{p}BENCH_OPS` {p} x_{p}NOT")),
        [format!("{p}FS"), format!("{p}BENCH_OPS")]
    );
    let readme = format!(
        "# x\n## Knobs\n| variable | b |\n|---|---|\n| `{p}A`, `{p}B` | see {p}C |\n\
         ## Next\n| `{p}D` | |\n"
    );
    assert_eq!(
        documented(&readme).into_iter().collect::<Vec<_>>(),
        [format!("{p}A"), format!("{p}B")]
    );
}
