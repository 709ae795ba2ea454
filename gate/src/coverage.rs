//! Diff coverage of `ringspec gate --build-kernel SRC --patches DIR --coverage`.
//!
//! The kernel is built with kernel/gate-coverage.config (GCOV_KERNEL) and
//! with gcov profiling for the code under test only
//! ([`profile_make_vars`]). After the suite the guest copies the counters
//! (`/sys/kernel/debug/gcov/<build dir>/**.gcda`) into the shared directory;
//! the host stages them beside links to the build's `.gcno` files, runs
//! geninfo (with the gcov of the gcc that built the kernel) into
//! `coverage.info`, genhtml into `coverage-html/`, and reports in summary.md:
//! line and function coverage of the files the patches touch and of the
//! files behind the mission ops ([`MISSION_FILES`], `io_uring/*.c`), then the
//! lines the patch series adds that the suite never executed.
//!
//! The pure parts (patch hunks to added lines, lcov records, their
//! intersection, the markdown) are functions of text, tested here; the rest
//! only runs the tools.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The fs/ and mm/ files behind the mission ops, always reported (with
/// `io_uring/*.c` and the files the patches touch).
pub const MISSION_FILES: &[&str] = &[
    "fs/read_write.c",
    "fs/splice.c",
    "fs/readdir.c",
    "fs/namei.c",
    "fs/open.c",
    "fs/libfs.c",
    "mm/fadvise.c",
];

/// The tools the host side needs, with the Debian package that has them.
const TOOLS: &[(&str, &str)] = &[
    ("lcov", "lcov"),
    ("geninfo", "lcov"),
    ("genhtml", "lcov"),
    ("gcov", "gcc"),
];

/// Why diff coverage cannot be had: a missing tool, or which step failed
/// (and where its log is).
#[derive(Debug, thiserror::Error)]
pub enum CoverageError {
    /// Tools are not on PATH ([`check_tools`]).
    #[error(
        "--coverage needs {} (not on PATH): apt-get install {}",
        tools.join(", "),
        packages.join(" ")
    )]
    MissingTools {
        /// The tools.
        tools: Vec<&'static str>,
        /// The Debian packages that have them.
        packages: Vec<&'static str>,
    },
    /// A tool could not be started.
    #[error("cannot run {tool}: {source} (apt-get install lcov)")]
    Spawn {
        /// The step ("geninfo", "genhtml").
        tool: &'static str,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// A tool failed.
    #[error("{tool} failed ({status}; log: {}): {last_lines}", log.display())]
    Failed {
        /// The step ("geninfo", "genhtml").
        tool: &'static str,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The log holding its output.
        log: PathBuf,
        /// The last three lines of its output, newest first, joined by " / ".
        last_lines: String,
    },
    /// The guest left no counters for the build directory.
    #[error(
        "the guest left no counters in {} (a kernel without CONFIG_GCOV_KERNEL, or built in \
         another directory than {})",
        counters.display(),
        build_dir.display()
    )]
    NoCounters {
        /// Where they should be.
        counters: PathBuf,
        /// The build directory.
        build_dir: PathBuf,
    },
    /// No counter of the guest matches a .gcno file of the build.
    #[error(
        "no .gcda file of the guest matches a .gcno file of {}",
        .0.display()
    )]
    NoMatch(PathBuf),
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The patches could not be listed.
    #[error(transparent)]
    Patches(#[from] super::build::BuildError),
}

/// A `map_err` for an I/O error on `path`.
fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> CoverageError {
    let path = path.to_path_buf();
    move |source| CoverageError::Io { path, source }
}

/// Checks that lcov, geninfo, genhtml and gcov are on PATH: run before the
/// build, so a missing tool costs no kernel build. The error is one line
/// telling what to install.
pub fn check_tools() -> Result<(), CoverageError> {
    let missing: Vec<&'static str> = TOOLS
        .iter()
        .filter(|(t, _)| !on_path(t))
        .map(|(t, _)| *t)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut packages: Vec<&'static str> = TOOLS
        .iter()
        .filter(|(t, _)| missing.contains(t))
        .map(|(_, p)| *p)
        .collect();
    packages.dedup();
    Err(CoverageError::MissingTools {
        tools: missing,
        packages,
    })
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|d| {
            let p = d.join(tool);
            p.is_file()
                && std::fs::metadata(&p).is_ok_and(|m| {
                    std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
                })
        })
    })
}

/// The make variables that turn gcov profiling on for the code under test:
/// `GCOV_PROFILE_<stem>.o=y` for every `io_uring/*.c` of `source`, every
/// [`MISSION_FILES`] entry and every `.c` file in `touched` (what the
/// patches touch). Kbuild keys these on the object's file name alone, so a
/// file of the same name in another directory is profiled too (harmless:
/// the report names its files). Sorted, deduplicated.
pub fn profile_make_vars(source: &Path, touched: &[String]) -> Vec<String> {
    let mut files: Vec<String> = MISSION_FILES.iter().map(|s| s.to_string()).collect();
    if let Ok(rd) = std::fs::read_dir(source.join("io_uring")) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".c") {
                files.push(format!("io_uring/{name}"));
            }
        }
    }
    files.extend(touched.iter().cloned());
    let mut vars: Vec<String> = files
        .iter()
        .filter_map(|f| f.strip_suffix(".c"))
        .map(|f| f.rsplit('/').next().unwrap_or(f))
        .map(|stem| format!("GCOV_PROFILE_{stem}.o=y"))
        .collect();
    vars.sort();
    vars.dedup();
    vars
}

/// True for a file the coverage table shows: `io_uring/*.c` (not in a
/// subdirectory), a [`MISSION_FILES`] entry, or a file of `touched`.
pub fn is_reported(file: &str, touched: &BTreeSet<String>) -> bool {
    touched.contains(file)
        || MISSION_FILES.contains(&file)
        || file
            .strip_prefix("io_uring/")
            .is_some_and(|f| f.ends_with(".c") && !f.contains('/'))
}

/// Lines a patch series adds, per file (relative to the tree): new-file line
/// number (after the whole series) to the line's text.
pub type AddedLines = BTreeMap<String, BTreeMap<u32, String>>;

/// One hunk of a unified diff.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hunk {
    old_start: u32,
    old_len: u32,
    /// Old line number to new line number for context lines; `None` for a
    /// removed line.
    old_map: Vec<(u32, Option<u32>)>,
    /// New line number and text of each added line.
    added: Vec<(u32, String)>,
    new_len: u32,
}

/// "@@ -a,b +c,d @@ ..." to (a, b, c, d); a missing length is 1.
fn parse_hunk_header(line: &str) -> Option<(u32, u32, u32, u32)> {
    let rest = line.strip_prefix("@@ -")?;
    let (old, rest) = rest.split_once(" +")?;
    let (new, _) = rest.split_once(" @@")?;
    let range = |r: &str| -> Option<(u32, u32)> {
        match r.split_once(',') {
            Some((s, l)) => Some((s.parse().ok()?, l.parse().ok()?)),
            None => Some((r.parse().ok()?, 1)),
        }
    };
    let (a, b) = range(old)?;
    let (c, d) = range(new)?;
    Some((a, b, c, d))
}

/// The hunks of one patch file, per file (`-p1` paths; `None` for a
/// deleted file).
fn parse_patch(text: &str) -> Vec<(Option<String>, Vec<Hunk>)> {
    let mut out: Vec<(Option<String>, Vec<Hunk>)> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(p) = line.strip_prefix("+++ ") {
            // Only after a "--- " line: a "+++ " inside a hunk is content.
            if i > 0 && lines[i - 1].starts_with("--- ") {
                let p = p.split('\t').next().unwrap_or(p).trim_end();
                let file =
                    (p != "/dev/null").then(|| p.split_once('/').map_or(p, |(_, r)| r).to_string());
                out.push((file, Vec::new()));
            }
            i += 1;
            continue;
        }
        if let Some((os, ol, ns, nl)) = parse_hunk_header(line) {
            let (mut old, mut new) = (os, ns);
            let (mut old_left, mut new_left) = (ol, nl);
            let mut hunk = Hunk {
                old_start: os,
                old_len: ol,
                old_map: Vec::new(),
                added: Vec::new(),
                new_len: nl,
            };
            i += 1;
            while i < lines.len() && (old_left > 0 || new_left > 0) {
                let l = lines[i];
                if l.starts_with('\\') {
                    i += 1;
                    continue;
                }
                match l.as_bytes().first() {
                    Some(b'+') => {
                        hunk.added.push((new, l[1..].to_string()));
                        new += 1;
                        new_left = new_left.saturating_sub(1);
                    }
                    Some(b'-') => {
                        hunk.old_map.push((old, None));
                        old += 1;
                        old_left = old_left.saturating_sub(1);
                    }
                    _ => {
                        // Context (" text", or an empty line some mailers
                        // leave for an empty context line).
                        hunk.old_map.push((old, Some(new)));
                        old += 1;
                        new += 1;
                        old_left = old_left.saturating_sub(1);
                        new_left = new_left.saturating_sub(1);
                    }
                }
                i += 1;
            }
            if let Some((_, hunks)) = out.last_mut() {
                hunks.push(hunk);
            }
            continue;
        }
        i += 1;
    }
    out
}

/// Where old line `l` of a file is after `hunks` (`None`: removed).
fn remap(l: u32, hunks: &[Hunk]) -> Option<u32> {
    let mut delta: i64 = 0;
    for h in hunks {
        // A zero-length old range "-a,0" inserts after line a.
        let first = if h.old_len == 0 {
            h.old_start + 1
        } else {
            h.old_start
        };
        if l < first {
            break;
        }
        if l < first + h.old_len {
            return h
                .old_map
                .iter()
                .find(|(o, _)| *o == l)
                .and_then(|(_, n)| *n);
        }
        delta += i64::from(h.new_len) - i64::from(h.old_len);
    }
    u32::try_from(i64::from(l) + delta).ok()
}

/// The lines a series of patches (in order) adds, numbered as in the tree
/// after the last one: a line added by an earlier patch moves with the later
/// patches' hunks, and is dropped when a later patch removes it.
pub fn added_lines<S: AsRef<str>>(patches: &[S]) -> AddedLines {
    let mut out: AddedLines = BTreeMap::new();
    for text in patches {
        for (file, hunks) in parse_patch(text.as_ref()) {
            let Some(file) = file else {
                continue;
            };
            let entry = out.entry(file).or_default();
            let moved: BTreeMap<u32, String> = std::mem::take(entry)
                .into_iter()
                .filter_map(|(l, t)| remap(l, &hunks).map(|n| (n, t)))
                .collect();
            *entry = moved;
            for h in &hunks {
                for (n, t) in &h.added {
                    entry.insert(*n, t.clone());
                }
            }
        }
    }
    out.retain(|_, lines| !lines.is_empty());
    out
}

/// Coverage of one source file from an lcov tracefile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileCoverage {
    /// Instrumented line to execution count (DA records).
    pub lines: BTreeMap<u32, u64>,
    /// Function name to (first line, execution count) (FN and FNDA records).
    pub functions: BTreeMap<String, (u32, u64)>,
}

impl FileCoverage {
    /// (lines hit, lines instrumented).
    pub fn line_counts(&self) -> (usize, usize) {
        let hit = self.lines.values().filter(|c| **c > 0).count();
        (hit, self.lines.len())
    }

    /// (functions hit, functions).
    pub fn function_counts(&self) -> (usize, usize) {
        let hit = self.functions.values().filter(|(_, c)| *c > 0).count();
        (hit, self.functions.len())
    }
}

/// Parses an lcov tracefile (SF, FN, FNDA, DA, end_of_record) into coverage
/// per source file, keyed by the SF path as written. Records of one file
/// (a header seen from several objects) are merged, counts added.
pub fn parse_lcov(text: &str) -> BTreeMap<String, FileCoverage> {
    let mut out: BTreeMap<String, FileCoverage> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim_end();
        if let Some(p) = line.strip_prefix("SF:") {
            current = Some(p.to_string());
            out.entry(p.to_string()).or_default();
            continue;
        }
        if line == "end_of_record" {
            current = None;
            continue;
        }
        let Some(file) = current.as_ref().and_then(|f| out.get_mut(f)) else {
            continue;
        };
        if let Some(r) = line.strip_prefix("DA:") {
            let mut it = r.split(',');
            if let (Some(Ok(l)), Some(Ok(c))) = (
                it.next().map(str::parse::<u32>),
                it.next().map(str::parse::<u64>),
            ) {
                *file.lines.entry(l).or_insert(0) += c;
            }
        } else if let Some(r) = line.strip_prefix("FN:") {
            if let Some((l, name)) = r.split_once(',') {
                if let Ok(l) = l.parse::<u32>() {
                    file.functions.entry(name.to_string()).or_insert((l, 0)).0 = l;
                }
            }
        } else if let Some(r) = line.strip_prefix("FNDA:") {
            if let Some((c, name)) = r.split_once(',') {
                if let Ok(c) = c.parse::<u64>() {
                    file.functions.entry(name.to_string()).or_insert((0, 0)).1 += c;
                }
            }
        }
    }
    out
}

/// `path` relative to the first of `roots` it is under (a tracefile's SF
/// paths are absolute: the build's source tree, or its object directory for
/// generated files); `None` when under none.
pub fn relative_to(path: &str, roots: &[PathBuf]) -> Option<String> {
    let p = Path::new(path);
    roots.iter().find_map(|r| {
        p.strip_prefix(r)
            .ok()
            .map(|rel| rel.to_string_lossy().into_owned())
    })
}

/// Added lines of one file that the suite never ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissedRange {
    /// File, relative to the tree.
    pub file: String,
    /// First line of the range.
    pub first: u32,
    /// Last line of the range.
    pub last: u32,
    /// The added lines in the range: (line, text); lines of the range that
    /// are not instrumented (braces, declarations) are included for
    /// readability.
    pub lines: Vec<(u32, String)>,
}

/// Per file: the patch's added lines, how many are instrumented and hit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddedCoverage {
    /// Lines the series adds.
    pub added: usize,
    /// Of those, lines with a DA record (code gcc instrumented).
    pub instrumented: usize,
    /// Of those, lines executed at least once.
    pub hit: usize,
}

/// The added lines never executed: added lines whose DA count is 0, grouped
/// into ranges (two missed lines are one range when every line between them
/// is an added line without a DA record). Also the per-file tally. `cov` is
/// keyed by tree-relative path. A file with added lines but no coverage
/// record at all (not profiled, or a header) has no instrumented lines.
pub fn missed_added_lines(
    added: &AddedLines,
    cov: &BTreeMap<String, FileCoverage>,
) -> (Vec<MissedRange>, BTreeMap<String, AddedCoverage>) {
    let mut ranges = Vec::new();
    let mut tally = BTreeMap::new();
    for (file, lines) in added {
        let empty = FileCoverage::default();
        let fc = cov.get(file).unwrap_or(&empty);
        let mut t = AddedCoverage {
            added: lines.len(),
            ..AddedCoverage::default()
        };
        let mut cur: Option<MissedRange> = None;
        for (l, text) in lines {
            match fc.lines.get(l) {
                Some(0) => {
                    t.instrumented += 1;
                    match cur.as_mut() {
                        Some(r) => {
                            r.last = *l;
                            r.lines.push((*l, text.clone()));
                        }
                        None => {
                            cur = Some(MissedRange {
                                file: file.clone(),
                                first: *l,
                                last: *l,
                                lines: vec![(*l, text.clone())],
                            })
                        }
                    }
                }
                Some(_) => {
                    t.instrumented += 1;
                    t.hit += 1;
                    ranges.extend(cur.take());
                }
                None => {
                    // Not instrumented: joins a range only if a missed line
                    // follows directly (held until then).
                    if let Some(r) = cur.as_mut() {
                        if *l == r.lines.last().map_or(0, |x| x.0) + 1 {
                            r.lines.push((*l, text.clone()));
                        } else {
                            ranges.extend(cur.take());
                        }
                    }
                }
            }
        }
        ranges.extend(cur.take());
        tally.insert(file.clone(), t);
    }
    // Trailing uninstrumented lines belong to no missed line: trim them.
    for r in &mut ranges {
        while r.lines.last().is_some_and(|(l, _)| *l > r.last) {
            r.lines.pop();
        }
    }
    (ranges, tally)
}

fn pct(hit: usize, total: usize) -> String {
    if total == 0 {
        "-".to_string()
    } else {
        format!("{:.1}%", 100.0 * hit as f64 / total as f64)
    }
}

/// The coverage section of summary.md: per reported file, lines hit /
/// instrumented and functions hit / total, and the patch's own lines; then
/// the added lines never executed, as `file:first-last` with their source.
/// `touched` are the files the patches touch (listed even without data).
pub fn render_markdown(
    cov: &BTreeMap<String, FileCoverage>,
    touched: &BTreeSet<String>,
    added: &AddedLines,
    html: Option<&str>,
) -> String {
    let (missed, tally) = missed_added_lines(added, cov);
    let mut s = String::from("\n## Coverage\n\n");
    if let Some(h) = html {
        s.push_str(&format!(
            "gcov of the whole suite (lcov: coverage.info; HTML: {h}/index.html, \
             the patch's added lines alone: {h}/added/index.html).\n\n"
        ));
    }
    s.push_str(
        "| file | lines hit / instrumented | functions hit / total | patch lines hit / instrumented (added) |\n\
         |---|---|---|---|\n",
    );
    let files: BTreeSet<&String> = cov
        .keys()
        .filter(|f| is_reported(f, touched))
        .chain(touched.iter())
        .collect();
    let mut total = (0, 0, 0, 0);
    for f in files {
        let patch = tally.get(f).map_or("-".to_string(), |t| {
            format!(
                "{} / {} ({}) {}",
                t.hit,
                t.instrumented,
                t.added,
                pct(t.hit, t.instrumented)
            )
        });
        match cov.get(f) {
            Some(fc) => {
                let (lh, lf) = fc.line_counts();
                let (fh, ff) = fc.function_counts();
                total = (total.0 + lh, total.1 + lf, total.2 + fh, total.3 + ff);
                s.push_str(&format!(
                    "| {f} | {lh} / {lf} {} | {fh} / {ff} {} | {patch} |\n",
                    pct(lh, lf),
                    pct(fh, ff)
                ));
            }
            None => s.push_str(&format!("| {f} | not instrumented | - | {patch} |\n")),
        }
    }
    s.push_str(&format!(
        "| **total** | {} / {} {} | {} / {} {} | |\n",
        total.0,
        total.1,
        pct(total.0, total.1),
        total.2,
        total.3,
        pct(total.2, total.3)
    ));
    let (ah, ai) = tally
        .values()
        .fold((0, 0), |(h, i), t| (h + t.hit, i + t.instrumented));
    s.push_str(&format!(
        "\nLines added by the patches: {} instrumented, {} executed ({}).\n",
        ai,
        ah,
        pct(ah, ai)
    ));
    s.push_str("\n### Added lines never executed\n\n");
    if missed.is_empty() {
        s.push_str("None: the suite ran every instrumented line the patches add.\n");
        return s;
    }
    for r in &missed {
        if r.first == r.last {
            s.push_str(&format!("- {}:{}\n", r.file, r.first));
        } else {
            s.push_str(&format!("- {}:{}-{}\n", r.file, r.first, r.last));
        }
        s.push_str("  ```c\n");
        for (l, t) in &r.lines {
            s.push_str(&format!("  {l:>5} {t}\n"));
        }
        s.push_str("  ```\n");
    }
    s
}

/// A tracefile restricted to the added lines: DA records of other lines,
/// and functions not starting on an added line, are dropped; LF/LH and
/// FNF/FNH are recounted. Fed to genhtml, it shows the patch's lines alone
/// as instrumented (green when run, red when not) in the full source: the
/// HTML "marking" of the added lines (lcov 1.x has no diff mode).
pub fn restrict_to_added(info: &str, added: &AddedLines, roots: &[PathBuf]) -> String {
    let mut out = String::new();
    let mut keep: Option<&BTreeMap<u32, String>> = None;
    let mut record: Vec<String> = Vec::new();
    let mut fn_lines: BTreeMap<String, u32> = BTreeMap::new();
    for line in info.lines() {
        if let Some(p) = line.strip_prefix("SF:") {
            keep = relative_to(p, roots).and_then(|rel| added.get(&rel));
            record = vec![line.to_string()];
            fn_lines.clear();
            continue;
        }
        let Some(lines) = keep else {
            continue;
        };
        if line == "end_of_record" {
            let da: Vec<u64> = record
                .iter()
                .filter_map(|l| l.strip_prefix("DA:"))
                .filter_map(|r| r.split(',').nth(1)?.parse().ok())
                .collect();
            let fnda: Vec<u64> = record
                .iter()
                .filter_map(|l| l.strip_prefix("FNDA:"))
                .filter_map(|r| r.split_once(',')?.0.parse().ok())
                .collect();
            keep = None;
            if record.len() == 1 {
                // Nothing of the file on an added line.
                continue;
            }
            for l in &record {
                out.push_str(l);
                out.push('\n');
            }
            out.push_str(&format!(
                "FNF:{}\nFNH:{}\nLF:{}\nLH:{}\nend_of_record\n",
                fnda.len(),
                fnda.iter().filter(|c| **c > 0).count(),
                da.len(),
                da.iter().filter(|c| **c > 0).count()
            ));
            continue;
        }
        let on_added = |l: &str| l.parse::<u32>().is_ok_and(|l| lines.contains_key(&l));
        if let Some(r) = line.strip_prefix("DA:") {
            if r.split(',').next().is_some_and(on_added) {
                record.push(line.to_string());
            }
        } else if let Some(r) = line.strip_prefix("FN:") {
            if let Some((l, name)) = r.split_once(',') {
                if on_added(l) {
                    fn_lines.insert(name.to_string(), 0);
                    record.push(line.to_string());
                }
            }
        } else if let Some(r) = line.strip_prefix("FNDA:") {
            if r.split_once(',')
                .is_some_and(|(_, n)| fn_lines.contains_key(n))
            {
                record.push(line.to_string());
            }
        }
    }
    out
}

/// Where the gate's coverage comes from and goes.
#[derive(Debug, Clone)]
pub struct CoverageOptions {
    /// The build's object directory (make O=), with the `.gcno` files.
    pub build_dir: PathBuf,
    /// The patched source tree the kernel was built from.
    pub tree: PathBuf,
    /// The `--patches` directory, if any.
    pub patches: Option<PathBuf>,
}

/// What [`report`] made.
#[derive(Debug, Clone)]
pub struct CoverageOutcome {
    /// The summary.md section.
    pub markdown: String,
    /// The files written (coverage.info, coverage-added.info, the HTML index).
    pub files: Vec<PathBuf>,
}

/// The gcov matching the gcc that built the kernel: `gcov-<major>` when
/// gcc's major version has one on PATH, else `gcov`.
fn gcov_tool() -> String {
    let major = Command::new("gcc")
        .arg("-dumpversion")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .and_then(|v| v.split('.').next().map(str::to_string))
        .unwrap_or_default();
    let versioned = format!("gcov-{major}");
    if !major.is_empty() && on_path(&versioned) {
        versioned
    } else {
        "gcov".to_string()
    }
}

fn run(cmd: &mut Command, tool: &'static str, log: &Path) -> Result<(), CoverageError> {
    let out = cmd
        .output()
        .map_err(|source| CoverageError::Spawn { tool, source })?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(f, "### {cmd:?}\n{text}");
        }
    }
    if out.status.success() {
        Ok(())
    } else {
        Err(CoverageError::Failed {
            tool,
            status: out.status,
            log: log.to_path_buf(),
            last_lines: text.lines().rev().take(3).collect::<Vec<_>>().join(" / "),
        })
    }
}

/// Stages the guest's `.gcda` files (`shared/gcov/<build dir>/...`) under
/// `stage/` beside symbolic links to the build's `.gcno` files. Returns
/// how many were staged. The build directory itself is left alone (it is a
/// shared cache, and counters of an earlier run must not mix in).
fn stage(gcov_root: &Path, build_dir: &Path, stage: &Path) -> Result<usize, CoverageError> {
    // The kernel names objects by the real path of the build directory.
    let real = std::fs::canonicalize(build_dir).unwrap_or(build_dir.to_path_buf());
    let rel_build = real.strip_prefix("/").unwrap_or(&real);
    let from = gcov_root.join(rel_build);
    if !from.is_dir() {
        return Err(CoverageError::NoCounters {
            counters: from,
            build_dir: build_dir.to_path_buf(),
        });
    }
    if stage.exists() {
        std::fs::remove_dir_all(stage).map_err(io_error(stage))?;
    }
    let mut n = 0;
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        let dir = from.join(&rel);
        let rd = std::fs::read_dir(&dir).map_err(io_error(&dir))?;
        for e in rd.flatten() {
            let r = rel.join(e.file_name());
            let ft = e.file_type().map_err(io_error(&r))?;
            if ft.is_dir() {
                todo.push(r);
            } else if r.extension().is_some_and(|x| x == "gcda") {
                let dst = stage.join(&r);
                if let Some(p) = dst.parent() {
                    std::fs::create_dir_all(p).map_err(io_error(p))?;
                }
                std::fs::copy(e.path(), &dst).map_err(io_error(&dst))?;
                let gcno = build_dir.join(&r).with_extension("gcno");
                if gcno.is_file() {
                    std::os::unix::fs::symlink(&gcno, dst.with_extension("gcno"))
                        .map_err(io_error(&dst))?;
                    n += 1;
                }
            }
        }
    }
    Ok(n)
}

/// The host side: stages the counters the guest copied to `shared/gcov`,
/// runs geninfo into `out/coverage.info`, genhtml into `out/coverage-html/`
/// (and the added lines alone into `out/coverage-html/added/`), and returns
/// the summary.md section. Errors say which step failed and where its log is.
pub fn report(
    opts: &CoverageOptions,
    shared: &Path,
    out: &Path,
) -> Result<CoverageOutcome, CoverageError> {
    let started = std::time::Instant::now();
    let log = out.join("coverage.log");
    let _ = std::fs::remove_file(&log);
    let staged_dir = out.join("gcov-data");
    let n = stage(&shared.join("gcov"), &opts.build_dir, &staged_dir)?;
    if n == 0 {
        return Err(CoverageError::NoMatch(opts.build_dir.clone()));
    }
    let info = out.join("coverage.info");
    let gcov = gcov_tool();
    // Relative source paths in the .gcno files are relative to the build
    // directory (make compiles there); the sources sit in the slot's src/,
    // outside it, so no --no-external.
    run(
        Command::new("geninfo")
            .arg(&staged_dir)
            .arg("--base-directory")
            .arg(&opts.build_dir)
            .arg("--gcov-tool")
            .arg(&gcov)
            .arg("--quiet")
            .arg("--output-filename")
            .arg(&info),
        "geninfo",
        &log,
    )?;
    let info_text = std::fs::read_to_string(&info).map_err(io_error(&info))?;
    let roots = vec![
        std::fs::canonicalize(&opts.tree).unwrap_or(opts.tree.clone()),
        opts.tree.clone(),
        std::fs::canonicalize(&opts.build_dir).unwrap_or(opts.build_dir.clone()),
        opts.build_dir.clone(),
    ];
    let cov: BTreeMap<String, FileCoverage> = parse_lcov(&info_text)
        .into_iter()
        .filter_map(|(p, c)| relative_to(&p, &roots).map(|r| (r, c)))
        .collect();

    let mut touched = BTreeSet::new();
    let mut texts = Vec::new();
    if let Some(dir) = &opts.patches {
        let files = super::build::list_patches(dir)?;
        for f in files {
            let t = std::fs::read_to_string(&f).map_err(io_error(&f))?;
            touched.extend(super::build::touched_files(&t));
            texts.push(t);
        }
    }
    let added = added_lines(&texts);

    let html = out.join("coverage-html");
    let mut files = vec![info.clone()];
    run(
        Command::new("genhtml")
            .arg(&info)
            .arg("--output-directory")
            .arg(&html)
            .arg("--prefix")
            .arg(&roots[0])
            .arg("--title")
            .arg("ringspec gate: suite coverage")
            .arg("--quiet"),
        "genhtml",
        &log,
    )?;
    files.push(html.join("index.html"));
    let added_info = out.join("coverage-added.info");
    let restricted = restrict_to_added(&info_text, &added, &roots);
    if !restricted.is_empty() {
        std::fs::write(&added_info, &restricted).map_err(io_error(&added_info))?;
        files.push(added_info.clone());
        run(
            Command::new("genhtml")
                .arg(&added_info)
                .arg("--output-directory")
                .arg(html.join("added"))
                .arg("--prefix")
                .arg(&roots[0])
                .arg("--title")
                .arg("ringspec gate: lines added by the patches")
                .arg("--quiet"),
            "genhtml (added lines)",
            &log,
        )?;
        files.push(html.join("added/index.html"));
    }
    let markdown = render_markdown(&cov, &touched, &added, Some("coverage-html"));
    log::info!(
        "ringspec gate: coverage of {n} objects in {:.1} s (gcov tool {gcov}): {}",
        started.elapsed().as_secs_f64(),
        html.join("index.html").display()
    );
    Ok(CoverageOutcome { markdown, files })
}

#[cfg(test)]
mod tests {
    use super::*;

    const P1: &str = "\
From 1 Mon Sep 17 00:00:00 2001
Subject: [PATCH 1/2] one

---
 a.c | 3 +++
diff --git a/io_uring/a.c b/io_uring/a.c
index 1..2 100644
--- a/io_uring/a.c
+++ b/io_uring/a.c
@@ -2,3 +2,5 @@ ctx
 two
+new3
+new4
 three
 four
@@ -10,2 +12,3 @@
 ten
-eleven
+ELEVEN
+twelve
diff --git a/fs/gone.c b/fs/gone.c
deleted file mode 100644
--- a/fs/gone.c
+++ /dev/null
@@ -1 +0,0 @@
-x
-- 
2.39.5
";

    const P2: &str = "\
diff --git a/io_uring/a.c b/io_uring/a.c
--- a/io_uring/a.c
+++ b/io_uring/a.c
@@ -1,3 +1,4 @@
 one
+zero
 two
 new3
@@ -12,2 +13,2 @@
 ten
-ELEVEN
+eleven2
diff --git a/fs/new.c b/fs/new.c
new file mode 100644
--- /dev/null
+++ b/fs/new.c
@@ -0,0 +1,2 @@
+int a;
+int b;
";

    #[test]
    fn hunks_give_new_line_numbers_of_added_lines() {
        let a = added_lines(&[P1]);
        let lines: Vec<(u32, &str)> = a["io_uring/a.c"]
            .iter()
            .map(|(l, t)| (*l, t.as_str()))
            .collect();
        assert_eq!(
            lines,
            vec![(3, "new3"), (4, "new4"), (13, "ELEVEN"), (14, "twelve")]
        );
        assert!(!a.contains_key("fs/gone.c"));
    }

    #[test]
    fn a_later_patch_moves_and_removes_earlier_added_lines() {
        let a = added_lines(&[P1, P2]);
        let lines: Vec<(u32, &str)> = a["io_uring/a.c"]
            .iter()
            .map(|(l, t)| (*l, t.as_str()))
            .collect();
        // "zero" shifts everything after line 1; ELEVEN is replaced.
        assert_eq!(
            lines,
            vec![
                (2, "zero"),
                (4, "new3"),
                (5, "new4"),
                (14, "eleven2"),
                (15, "twelve")
            ]
        );
        assert_eq!(a["fs/new.c"].len(), 2);
        assert_eq!(a["fs/new.c"][&1], "int a;");
    }

    #[test]
    fn remap_handles_pure_insertions() {
        let hunks = parse_patch("--- a/x\n+++ b/x\n@@ -5,0 +6,2 @@\n+a\n+b\n");
        let h = &hunks[0].1;
        assert_eq!(remap(5, h), Some(5));
        assert_eq!(remap(6, h), Some(8));
    }

    const INFO: &str = "\
TN:
SF:/b/src/io_uring/a.c
FN:2,io_a
FN:14,io_b
FNDA:5,io_a
FNDA:0,io_b
FNF:2
FNH:1
DA:3,5
DA:4,5
DA:13,0
DA:14,0
DA:20,1
LF:5
LH:3
end_of_record
SF:/b/src/fs/other.c
DA:1,0
end_of_record
SF:/b/src/io_uring/a.c
DA:20,2
end_of_record
";

    #[test]
    fn lcov_records_are_parsed_and_merged() {
        let c = parse_lcov(INFO);
        let a = &c["/b/src/io_uring/a.c"];
        assert_eq!(a.line_counts(), (3, 5));
        assert_eq!(a.lines[&20], 3);
        assert_eq!(a.function_counts(), (1, 2));
        assert_eq!(a.functions["io_b"], (14, 0));
        assert_eq!(c["/b/src/fs/other.c"].line_counts(), (0, 1));
    }

    fn cov() -> BTreeMap<String, FileCoverage> {
        let roots = [PathBuf::from("/b/src")];
        parse_lcov(INFO)
            .into_iter()
            .filter_map(|(p, c)| relative_to(&p, &roots).map(|r| (r, c)))
            .collect()
    }

    #[test]
    fn missed_added_lines_are_the_instrumented_ones_never_run() {
        let mut added = added_lines(&[P1]);
        // 12 is an uninstrumented added line between two missed ones.
        added
            .get_mut("io_uring/a.c")
            .unwrap()
            .insert(12, "{".into());
        let (missed, tally) = missed_added_lines(&added, &cov());
        assert_eq!(missed.len(), 1);
        assert_eq!((missed[0].first, missed[0].last), (13, 14));
        assert_eq!(
            missed[0].lines,
            vec![(13, "ELEVEN".to_string()), (14, "twelve".to_string())]
        );
        assert_eq!(
            tally["io_uring/a.c"],
            AddedCoverage {
                added: 5,
                instrumented: 4,
                hit: 2
            }
        );
    }

    #[test]
    fn the_summary_lists_files_and_missed_lines() {
        let added = added_lines(&[P1]);
        let touched: BTreeSet<String> = ["io_uring/a.c", "include/x.h"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let md = render_markdown(&cov(), &touched, &added, Some("coverage-html"));
        assert!(
            md.contains("| io_uring/a.c | 3 / 5 60.0% | 1 / 2 50.0% | 2 / 4 (4) 50.0% |"),
            "{md}"
        );
        assert!(md.contains("| include/x.h | not instrumented |"), "{md}");
        assert!(!md.contains("fs/other.c"), "not a reported file: {md}");
        assert!(md.contains("- io_uring/a.c:13-14\n"), "{md}");
        assert!(md.contains("     13 ELEVEN\n"), "{md}");
    }

    #[test]
    fn the_restricted_tracefile_keeps_only_added_lines() {
        let added = added_lines(&[P1]);
        let r = restrict_to_added(INFO, &added, &[PathBuf::from("/b/src")]);
        assert!(r.contains("DA:3,5\nDA:4,5\nDA:13,0\nDA:14,0\n"), "{r}");
        assert!(!r.contains("DA:20"), "{r}");
        assert!(!r.contains("other.c"), "{r}");
        assert!(r.contains("FN:14,io_b\n") && !r.contains("io_a"), "{r}");
        assert!(r.contains("LF:4\nLH:2\n"), "{r}");
        assert_eq!(r.matches("SF:").count(), 1, "no empty record: {r}");
    }

    #[test]
    fn profiling_covers_io_uring_mission_files_and_the_patches() {
        let dir = std::env::temp_dir().join(format!("ringspec-cov-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("io_uring")).unwrap();
        std::fs::write(dir.join("io_uring/rw.c"), "").unwrap();
        std::fs::write(dir.join("io_uring/rw.h"), "").unwrap();
        let v = profile_make_vars(&dir, &["fs/ext4/new.c".into(), "io_uring/rw.h".into()]);
        std::fs::remove_dir_all(&dir).unwrap();
        for want in [
            "GCOV_PROFILE_rw.o=y",
            "GCOV_PROFILE_read_write.o=y",
            "GCOV_PROFILE_fadvise.o=y",
            "GCOV_PROFILE_new.o=y",
        ] {
            assert!(v.contains(&want.to_string()), "{want}: {v:?}");
        }
        assert!(!v.iter().any(|x| x.contains("rw.h")));
    }

    #[test]
    fn reported_files() {
        let t: BTreeSet<String> = ["fs/internal.h".to_string()].into();
        assert!(is_reported("io_uring/fs.c", &t));
        assert!(!is_reported("io_uring/sub/x.c", &t));
        assert!(is_reported("fs/internal.h", &t));
        assert!(is_reported("mm/fadvise.c", &t));
        assert!(!is_reported("fs/ext4/namei.c", &t));
    }
}
