//! Building the kernel `ringspec gate --build-kernel SRC_DIR [--patches DIR]`
//! gates.
//!
//! The kernel is configured from `make tinyconfig` plus the repository's config
//! fragment (kernel/gate.config, merged with scripts/kconfig/merge_config.sh,
//! then `make olddefconfig`), patched with the git format-patch files of
//! `--patches` (sorted by name, `patch -p1`), and built with `make bzImage` into
//! a cache outside the repository; the image is then gated like `--kernel
//! IMAGE`. x86_64 only.
//!
//! The cache (`$RINGSPEC_BUILD_CACHE`, else `~/.cache/ringspec/build`) holds
//! one slot per source directory, `<cache>/<hash of the source path>/`:
//! - `src/`: a hard-link copy of SRC_DIR (a full copy across filesystems) with
//!   the patches applied: SRC_DIR itself is never modified. `patch` writes new
//!   files, so the links to SRC_DIR's files break where a patch changes them;
//! - `obj/`: the `make O=` build directory;
//! - `listing.txt`: SRC_DIR's entries (path, mode, size, mtime, inode) when
//!   `src/` was last brought up to date; its hash is the source's fingerprint;
//! - `state.json`: that fingerprint, the files the patches touched, the
//!   inputs of the last configuration and of the last successful build;
//! - `build.log`: the configuration, patch and make output of the last build;
//! - `lock`: held while a build runs (builds of one source wait for each other).
//!
//! A build whose inputs (the source's fingerprint: every file's path, size and
//! mtime; the fragment; the patches' names and contents) match the last
//! successful one is skipped. Otherwise the files the previous patches touched
//! are restored from SRC_DIR as fresh copies (new mtimes, so make rebuilds what
//! they feed), files changed in SRC_DIR since the last build (edits, a
//! checkout) are copied over the same way, the new patches are applied, the
//! kernel is reconfigured only when the fragment, a Kconfig file or a patch
//! touching one changed, and make rebuilds incrementally. Every failure is an
//! infrastructure failure of the gate (exit 2).

use super::{GateReport, EXIT_INFRA};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The image make builds, relative to the build directory.
pub const IMAGE: &str = "arch/x86/boot/bzImage";

/// The repository's config fragment: `<repo>/kernel/gate.config`.
pub fn default_fragment() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernel/gate.config")
}

/// The debug fragment merged after [`default_fragment`] by `--debug-kernel`:
/// `<repo>/kernel/gate-debug.config` (KASAN, lockdep, kmemleak, UBSAN...).
pub fn debug_fragment() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernel/gate-debug.config")
}

/// The coverage fragment merged after the others by `--coverage`:
/// `<repo>/kernel/gate-coverage.config` (debugfs and GCOV_KERNEL; which
/// objects are profiled is chosen on make's command line, see
/// [`BuildOptions::make_vars`]).
pub fn coverage_fragment() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernel/gate-coverage.config")
}

/// The build cache: `$RINGSPEC_BUILD_CACHE`, else
/// `${XDG_CACHE_HOME:-$HOME/.cache}/ringspec/build`.
pub fn default_cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("RINGSPEC_BUILD_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/tmp".into())).join(".cache")
        });
    base.join("ringspec/build")
}

/// What to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The kernel source tree (clean: never configured or built in place).
    pub source: PathBuf,
    /// A directory of git format-patch files (`*.patch`, `*.diff`) to apply in
    /// name order.
    pub patches: Option<PathBuf>,
    /// The config fragments merged over tinyconfig, in order (a later one
    /// wins). Each set of fragment file names has a cache slot of its own,
    /// so a debug build does not throw away the plain one.
    pub fragments: Vec<PathBuf>,
    /// Variables set on make's command line for the build (`NAME=value`,
    /// e.g. `GCOV_PROFILE_fs.o=y`): they reach every sub-make and override
    /// the Makefiles' own assignments. Part of the build's inputs.
    pub make_vars: Vec<String>,
    /// The cache the slots live in.
    pub cache: PathBuf,
    /// make -j.
    pub jobs: usize,
}

impl BuildOptions {
    /// Building `source` with the repository's fragment into the default cache
    /// with one job per CPU.
    pub fn new(source: PathBuf) -> BuildOptions {
        BuildOptions {
            source,
            patches: None,
            fragments: vec![default_fragment()],
            make_vars: Vec::new(),
            cache: default_cache(),
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// A built (or cached) kernel.
#[derive(Debug, Clone)]
pub struct BuiltKernel {
    /// The bzImage to boot.
    pub image: PathBuf,
    /// The build directory (make O=), with .config (and, in a coverage
    /// build, the .gcno files).
    pub build_dir: PathBuf,
    /// The patched source tree it was built from (the slot's `src/`).
    pub tree: PathBuf,
    /// uname -r of the image (include/config/kernel.release).
    pub release: String,
    /// True when nothing had to be done (same inputs as the last build).
    pub cached: bool,
    /// The patches applied, in order (file names).
    pub patches: Vec<String>,
    /// Wall time of this step (fingerprint, patches, configure, make).
    pub seconds: f64,
    /// The log of the last build.
    pub log: PathBuf,
}

/// Why no kernel came out. All are infrastructure failures of the gate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// SRC_DIR is not a kernel source tree.
    #[error("kernel source: {0}")]
    BadSource(String),
    /// The --patches directory is unusable (missing, unreadable, no patch).
    #[error("patches: {0}")]
    BadPatches(String),
    /// A tool the build needs is missing.
    #[error("cannot build a kernel: {0}")]
    MissingTools(String),
    /// A patch did not apply.
    #[error("patch {patch} does not apply:\n{}", output.trim_end())]
    PatchFailed {
        /// The patch file.
        patch: String,
        /// patch's output.
        output: String,
    },
    /// Configuring failed, or the final .config lacks options of the fragment.
    #[error("kernel configuration: {0}")]
    Config(String),
    /// make failed.
    #[error("kernel build failed: {what} (log: {})\n--- last lines ---\n{log_tail}", log.display())]
    Build {
        /// What failed ("make bzImage exited 2").
        what: String,
        /// The end of the build log.
        log_tail: String,
        /// The build log.
        log: PathBuf,
    },
    /// A cache file could not be read or written.
    #[error("build cache: {0}")]
    Io(String),
    /// Interrupted (SIGINT) while building.
    #[error("interrupted while building the kernel")]
    Interrupted,
}

fn io_err(what: &Path, e: std::io::Error) -> BuildError {
    BuildError::Io(format!("{}: {e}", what.display()))
}

/// FNV-1a, 64 bits: a hash that stays the same across Rust releases (the cache
/// keys outlive the binary).
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    /// Hashes `bytes` in, followed by their length (so that ("ab", "c") and
    /// ("a", "bc") differ).
    pub fn field(&mut self, bytes: &[u8]) -> &mut Fnv {
        for b in bytes
            .iter()
            .chain((bytes.len() as u64).to_le_bytes().iter())
        {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
        self
    }

    /// The hash as 16 hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

/// What the fragment asks for: `(CONFIG_X, value)` with "n" for
/// `# CONFIG_X is not set`; values as written (strings keep their quotes).
pub fn parse_fragment(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("# CONFIG_") {
            if let Some(name) = rest.strip_suffix(" is not set") {
                out.push((format!("CONFIG_{name}"), "n".to_string()));
            }
        } else if line.starts_with("CONFIG_") {
            if let Some((k, v)) = line.split_once('=') {
                out.push((k.to_string(), v.to_string()));
            }
        }
    }
    out
}

/// The fragment's options that the final .config does not have as asked, one
/// line each ("CONFIG_XFS_FS=y: is not set", "...: absent (dependencies not
/// met, or no such option in this kernel)").
pub fn config_mismatches(fragment: &[(String, String)], config: &str) -> Vec<String> {
    let have = parse_fragment(config);
    let get = |k: &str| have.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mut out = Vec::new();
    for (k, want) in fragment {
        match (get(k), want.as_str()) {
            (Some(v), w) if v == w => {}
            (None, "n") => {}
            (Some(v), w) => out.push(format!(
                "{}: is {}",
                show_option(k, w),
                if v == "n" {
                    "not set".to_string()
                } else {
                    format!("{k}={v}")
                }
            )),
            (None, w) => out.push(format!(
                "{}: absent (dependencies not met, or no such option in this kernel)",
                show_option(k, w)
            )),
        }
    }
    out
}

fn show_option(k: &str, v: &str) -> String {
    if v == "n" {
        format!("# {k} is not set")
    } else {
        format!("{k}={v}")
    }
}

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
fn affects_config(path: &str) -> bool {
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

/// A patch file read in.
struct PatchFile {
    path: PathBuf,
    name: String,
    text: Vec<u8>,
    touched: Vec<String>,
}

/// Reads the patches, leaving out those without a diff (a format-patch cover
/// letter) with a note.
fn read_patches(files: &[PathBuf]) -> Result<Vec<PatchFile>, BuildError> {
    let mut out = Vec::new();
    for path in files {
        let text = std::fs::read(path)
            .map_err(|e| BuildError::BadPatches(format!("{}: {e}", path.display())))?;
        let touched = touched_files(&String::from_utf8_lossy(&text));
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        if touched.is_empty() {
            log::info!("ringspec gate: {name} has no diff (a cover letter?): skipped");
            continue;
        }
        out.push(PatchFile {
            path: path.clone(),
            name,
            text,
            touched,
        });
    }
    Ok(out)
}

/// What the slot remembers between builds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct SlotState {
    /// SRC_DIR, canonical.
    source: String,
    /// Fingerprint of SRC_DIR when `src/` was made from it.
    source_fingerprint: String,
    /// Files of `src/` the patches touched (to restore before the next build).
    touched: Vec<String>,
    /// Inputs of the configuration in `obj/.config`.
    config_key: String,
    /// Inputs of the last successful build (empty: none, or one under way).
    build_key: String,
    /// Its release.
    release: String,
}

/// Visits every file of `root` (not `.git`, not the unpack marker `.complete`
/// at the top) in a stable order: `f(relative path, metadata)`.
fn walk(
    root: &Path,
    f: &mut dyn FnMut(&Path, &std::fs::Metadata) -> Result<(), BuildError>,
) -> Result<(), BuildError> {
    fn inner(
        root: &Path,
        rel: &Path,
        f: &mut dyn FnMut(&Path, &std::fs::Metadata) -> Result<(), BuildError>,
    ) -> Result<(), BuildError> {
        let dir = root.join(rel);
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .map_err(|e| io_err(&dir, e))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .map_err(|e| io_err(&dir, e))?;
        names.sort();
        for name in names {
            if rel.as_os_str().is_empty() && (name == ".git" || name == ".complete") {
                continue;
            }
            let r = rel.join(&name);
            let p = root.join(&r);
            let md = std::fs::symlink_metadata(&p).map_err(|e| io_err(&p, e))?;
            f(&r, &md)?;
            if md.is_dir() {
                inner(root, &r, f)?;
            }
        }
        Ok(())
    }
    inner(root, Path::new(""), f)
}

/// The source tree's listing: one line per entry, sorted by path,
/// "`<mode> <size> <mtime> <inode>\t<path>`". Its hash is the source's
/// fingerprint; the difference between two listings is what changed.
fn listing(src: &Path) -> Result<String, BuildError> {
    let mut out = String::new();
    walk(src, &mut |rel, md| {
        let path = rel
            .to_str()
            .filter(|p| !p.contains(['\n', '\t']))
            .ok_or_else(|| {
                BuildError::BadSource(format!(
                    "{}: a path that is not UTF-8 or holds a newline or tab",
                    src.join(rel).display()
                ))
            })?;
        out.push_str(&format!(
            "{:o} {} {}.{:09} {}\t{path}\n",
            md.mode(),
            md.size(),
            md.mtime(),
            md.mtime_nsec(),
            md.ino()
        ));
        Ok(())
    })?;
    Ok(out)
}

/// A listing as path -> metadata.
fn parse_listing(text: &str) -> std::collections::BTreeMap<&str, &str> {
    text.lines()
        .filter_map(|l| l.split_once('\t').map(|(meta, path)| (path, meta)))
        .collect()
}

/// Removes whatever is at `p` (nothing there is fine).
fn remove_any(p: &Path) -> Result<(), BuildError> {
    let Ok(md) = std::fs::symlink_metadata(p) else {
        return Ok(());
    };
    let r = if md.is_dir() {
        std::fs::remove_dir_all(p)
    } else {
        std::fs::remove_file(p)
    };
    r.map_err(|e| io_err(p, e))
}

/// Brings `tree` (made from `src` when its listing was `old`) up to `src`'s
/// listing `new`: entries gone are removed, new and changed files copied
/// (fresh mtimes, so make rebuilds what they feed). Returns how many files and
/// links were copied or removed.
fn sync_tree(src: &Path, tree: &Path, old: &str, new: &str) -> Result<usize, BuildError> {
    let (old, new) = (parse_listing(old), parse_listing(new));
    let mut changed = 0;
    // Children before parents, so that removing a directory finds it whole.
    for path in old.keys().rev().filter(|p| !new.contains_key(*p)) {
        remove_any(&tree.join(path))?;
        changed += 1;
    }
    // Parents before children.
    for (path, meta) in &new {
        if old.get(path) == Some(meta) {
            continue;
        }
        let (from, to) = (src.join(path), tree.join(path));
        let md = std::fs::symlink_metadata(&from).map_err(|e| io_err(&from, e))?;
        if md.is_dir() {
            if !std::fs::symlink_metadata(&to).is_ok_and(|m| m.is_dir()) {
                remove_any(&to)?;
                std::fs::create_dir_all(&to).map_err(|e| io_err(&to, e))?;
            }
            continue;
        }
        remove_any(&to)?;
        if md.file_type().is_symlink() {
            let target = std::fs::read_link(&from).map_err(|e| io_err(&from, e))?;
            std::os::unix::fs::symlink(target, &to).map_err(|e| io_err(&to, e))?;
        } else {
            std::fs::copy(&from, &to).map_err(|e| io_err(&to, e))?;
        }
        changed += 1;
    }
    Ok(changed)
}

/// Makes `dst` a copy of `src` whose files are hard links (copies when linking
/// fails, e.g. across filesystems).
fn link_tree(src: &Path, dst: &Path) -> Result<(), BuildError> {
    std::fs::create_dir_all(dst).map_err(|e| io_err(dst, e))?;
    let mut copied = 0u64;
    walk(src, &mut |rel, md| {
        let (from, to) = (src.join(rel), dst.join(rel));
        if md.is_dir() {
            std::fs::create_dir(&to).map_err(|e| io_err(&to, e))?;
        } else if md.file_type().is_symlink() {
            let target = std::fs::read_link(&from).map_err(|e| io_err(&from, e))?;
            std::os::unix::fs::symlink(target, &to).map_err(|e| io_err(&to, e))?;
        } else if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).map_err(|e| io_err(&to, e))?;
            copied += 1;
        }
        Ok(())
    })?;
    if copied > 0 {
        log::info!(
            "ringspec gate: {copied} files copied (not hard-linked) into {}",
            dst.display()
        );
    }
    Ok(())
}

/// Puts `rel` of `tree` back as it is in `src`, as a fresh file (a new mtime, so
/// make rebuilds what it feeds), or removes it when `src` lacks it.
fn restore(src: &Path, tree: &Path, rel: &str) -> Result<(), BuildError> {
    let (from, to) = (src.join(rel), tree.join(rel));
    if let Ok(md) = std::fs::symlink_metadata(&to) {
        if md.is_dir() {
            std::fs::remove_dir_all(&to).map_err(|e| io_err(&to, e))?;
        } else {
            std::fs::remove_file(&to).map_err(|e| io_err(&to, e))?;
        }
    }
    let Ok(md) = std::fs::symlink_metadata(&from) else {
        return Ok(());
    };
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
    }
    if md.file_type().is_symlink() {
        let target = std::fs::read_link(&from).map_err(|e| io_err(&from, e))?;
        std::os::unix::fs::symlink(target, &to).map_err(|e| io_err(&to, e))?;
    } else if md.is_file() {
        std::fs::copy(&from, &to).map_err(|e| io_err(&to, e))?;
    }
    Ok(())
}

/// Holds the slot's lock while alive.
struct SlotLock(File);

impl SlotLock {
    fn take(path: &Path) -> Result<SlotLock, BuildError> {
        let f = File::create(path).map_err(|e| io_err(path, e))?;
        // SAFETY: flock on an fd we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            log::info!(
                "ringspec gate: waiting for another build in {}",
                path.parent().unwrap_or(path).display()
            );
            // SAFETY: as above.
            if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
                return Err(io_err(path, std::io::Error::last_os_error()));
            }
        }
        Ok(SlotLock(f))
    }
}

impl Drop for SlotLock {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

fn load_state(path: &Path) -> SlotState {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn save_state(path: &Path, state: &SlotState) -> Result<(), BuildError> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(state).expect("json") + "\n";
    std::fs::write(&tmp, text).map_err(|e| io_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io_err(path, e))
}

/// Checks the tools a kernel build needs.
fn check_tools() -> Result<(), BuildError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let have = |tool: &str| std::env::split_paths(&path).any(|d| d.join(tool).is_file());
    let mut missing: Vec<&str> = Vec::new();
    for (tool, package) in [
        ("make", "make"),
        ("gcc", "build-essential"),
        ("bc", "bc"),
        ("bison", "bison"),
        ("flex", "flex"),
        ("perl", "perl"),
        ("patch", "patch"),
    ] {
        if !have(tool) && !missing.contains(&package) {
            missing.push(package);
        }
    }
    // objtool (x86_64) needs libelf.
    if !Path::new("/usr/include/gelf.h").is_file() {
        missing.push("libelf-dev");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(BuildError::MissingTools(format!(
            "missing {} (apt-get install {})",
            missing.join(", "),
            missing.join(" ")
        )))
    }
}

/// Appends a header line to the build log.
fn log_line(log: &Path, line: &str) {
    use std::io::Write as _;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
    {
        let _ = writeln!(f, "### {line}");
    }
}

/// Runs `cmd` with its output appended to `log`, in its own process group
/// (killed on SIGINT), printing a progress line every minute. Ok when it exits 0.
fn run_logged(mut cmd: Command, what: &str, log: &Path) -> Result<(), BuildError> {
    log_line(log, what);
    let out = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(log)
        .map_err(|e| io_err(log, e))?;
    let err = out.try_clone().map_err(|e| io_err(log, e))?;
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .process_group(0);
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| BuildError::Build {
        what: format!("cannot run {what}: {e}"),
        log_tail: String::new(),
        log: log.to_path_buf(),
    })?;
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let mut last_note = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) => {}
            Err(e) => {
                let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                return Err(io_err(log, e));
            }
        }
        if oracle::campaign::STOP.load(Ordering::SeqCst) {
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGTERM);
            let _ = child.wait();
            return Err(BuildError::Interrupted);
        }
        if last_note.elapsed() >= Duration::from_secs(60) {
            log::info!(
                "ringspec gate: {what}: {:.0} s",
                started.elapsed().as_secs_f64()
            );
            last_note = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if status.success() {
        return Ok(());
    }
    let how = match status.code() {
        Some(code) => format!("exited {code}"),
        None => format!("was killed ({status})"),
    };
    Err(BuildError::Build {
        what: format!("{what} {how}"),
        log_tail: super::vm::log_tail(log, 40),
        log: log.to_path_buf(),
    })
}

/// `make -C tree O=obj LOCALVERSION= ...targets` (LOCALVERSION set empty: no
/// "+" for a tree that is not a clean git checkout).
fn make(tree: &Path, obj: &Path, jobs: usize, targets: &[&str]) -> Command {
    let mut cmd = Command::new("make");
    cmd.arg("-C")
        .arg(tree)
        .arg(format!("O={}", obj.display()))
        .arg(format!("-j{jobs}"))
        .arg("LOCALVERSION=")
        .args(targets);
    cmd
}

/// Configures `obj` from tinyconfig and the fragment, and checks the result.
fn configure(
    tree: &Path,
    obj: &Path,
    fragments: &[PathBuf],
    wanted: &[(String, String)],
    log: &Path,
) -> Result<(), BuildError> {
    let mut tiny = make(tree, obj, 1, &["tinyconfig"]);
    tiny.env_remove("KCONFIG_CONFIG");
    run_logged(tiny, "make tinyconfig", log).map_err(config_err)?;
    let mut merge = Command::new(tree.join("scripts/kconfig/merge_config.sh"));
    merge
        .current_dir(tree)
        .arg("-m")
        .arg("-O")
        .arg(obj)
        .arg(obj.join(".config"))
        .args(fragments);
    run_logged(merge, "merge_config.sh", log).map_err(config_err)?;
    run_logged(
        make(tree, obj, 1, &["olddefconfig"]),
        "make olddefconfig",
        log,
    )
    .map_err(config_err)?;
    let config_path = obj.join(".config");
    let config = std::fs::read_to_string(&config_path).map_err(|e| io_err(&config_path, e))?;
    let bad = config_mismatches(wanted, &config);
    if !bad.is_empty() {
        // Next time configure again, whatever the keys say.
        let _ = std::fs::remove_file(&config_path);
        return Err(BuildError::Config(format!(
            "{} ask for options the configured kernel does not have:\n  {}",
            show_paths(fragments),
            bad.join("\n  ")
        )));
    }
    Ok(())
}

fn show_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" + ")
}

fn config_err(e: BuildError) -> BuildError {
    match e {
        BuildError::Build { what, log_tail, .. } => {
            BuildError::Config(format!("{what}\n--- last lines ---\n{log_tail}"))
        }
        e => e,
    }
}

/// Applies `p` to `tree` with `patch -p1`, echoing fuzz and offset notes.
fn apply(tree: &Path, p: &PatchFile, log: &Path) -> Result<(), BuildError> {
    log_line(log, &format!("patch -p1 -i {}", p.path.display()));
    let out = Command::new("patch")
        .arg("-p1")
        .arg("--batch")
        .arg("--forward")
        .arg("--no-backup-if-mismatch")
        .arg("--reject-file=-")
        .arg("-d")
        .arg(tree)
        .arg("-i")
        .arg(&p.path)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| BuildError::MissingTools(format!("cannot run patch: {e}")))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(log) {
            let _ = f.write_all(text.as_bytes());
        }
    }
    if !out.status.success() {
        return Err(BuildError::PatchFailed {
            patch: p.path.display().to_string(),
            output: text,
        });
    }
    for line in text.lines().filter(|l| l.contains("with fuzz")) {
        log::info!("ringspec gate: {}: {line}", p.name);
    }
    Ok(())
}

/// Builds (or finds in the cache) the kernel of `opts`; see the module
/// documentation.
pub fn build_kernel(opts: &BuildOptions) -> Result<BuiltKernel, BuildError> {
    let started = Instant::now();
    if !cfg!(target_arch = "x86_64") {
        return Err(BuildError::MissingTools(
            "--build-kernel builds x86_64 kernels only".to_string(),
        ));
    }
    let src = std::fs::canonicalize(&opts.source)
        .map_err(|e| BuildError::BadSource(format!("{}: {e}", opts.source.display())))?;
    for f in [
        "Makefile",
        "Kconfig",
        "scripts/kconfig/merge_config.sh",
        "arch/x86",
    ] {
        if !src.join(f).exists() {
            return Err(BuildError::BadSource(format!(
                "{} has no {f}: not a kernel source tree (scripts/build-gate-kernel.sh unpacks one)",
                src.display()
            )));
        }
    }
    if src.join(".config").exists() || src.join("include/config").exists() {
        return Err(BuildError::BadSource(format!(
            "{} has been configured in place; out-of-tree builds need a clean tree (make mrproper)",
            src.display()
        )));
    }
    let mut fragment_text = Vec::new();
    let mut wanted: Vec<(String, String)> = Vec::new();
    for f in &opts.fragments {
        let text = std::fs::read(f)
            .map_err(|e| BuildError::Config(format!("fragment {}: {e}", f.display())))?;
        let asked = parse_fragment(&String::from_utf8_lossy(&text));
        if asked.is_empty() {
            return Err(BuildError::Config(format!(
                "fragment {} sets no CONFIG_ option",
                f.display()
            )));
        }
        // A later fragment overrides an earlier one's value.
        for (k, v) in asked {
            wanted.retain(|(n, _)| *n != k);
            wanted.push((k, v));
        }
        fragment_text.extend_from_slice(&text);
    }
    let patches = match &opts.patches {
        None => Vec::new(),
        Some(dir) => read_patches(&list_patches(dir)?)?,
    };
    if !patches.is_empty() {
        log::info!(
            "ringspec gate: {} patches: {}",
            patches.len(),
            patches
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let mut slot_key = Fnv::default();
    slot_key.field(src.as_os_str().as_encoded_bytes());
    if opts.fragments != [default_fragment()] {
        for f in &opts.fragments {
            slot_key.field(f.file_name().unwrap_or_default().as_encoded_bytes());
        }
    }
    let slot = opts.cache.join(slot_key.hex());
    std::fs::create_dir_all(&slot).map_err(|e| io_err(&slot, e))?;
    let _lock = SlotLock::take(&slot.join("lock"))?;
    let (tree, obj) = (slot.join("src"), slot.join("obj"));
    let (state_path, log) = (slot.join("state.json"), slot.join("build.log"));
    let image = obj.join(IMAGE);
    let mut state = load_state(&state_path);

    let listing_path = slot.join("listing.txt");
    let source_listing = listing(&src)?;
    let source_fp = Fnv::default().field(source_listing.as_bytes()).hex();
    // Reconfigure when the fragment, a Kconfig file or a tiny.config changes.
    let mut config_key = Fnv::default();
    config_key.field(&fragment_text);
    for line in source_listing.lines() {
        if line
            .split_once('\t')
            .is_some_and(|(_, p)| affects_config(p))
        {
            config_key.field(line.as_bytes());
        }
    }
    for p in patches
        .iter()
        .filter(|p| p.touched.iter().any(|t| affects_config(t)))
    {
        config_key.field(p.name.as_bytes()).field(&p.text);
    }
    let config_key = config_key.hex();
    let mut build_key = Fnv::default();
    build_key
        .field(source_fp.as_bytes())
        .field(&fragment_text)
        .field(IMAGE.as_bytes());
    for v in &opts.make_vars {
        build_key.field(v.as_bytes());
    }
    for p in &patches {
        build_key.field(p.name.as_bytes()).field(&p.text);
    }
    let build_key = build_key.hex();
    let names: Vec<String> = patches.iter().map(|p| p.name.clone()).collect();

    if state.build_key == build_key && image.is_file() && !state.release.is_empty() {
        log::info!(
            "ringspec gate: kernel {} unchanged, not rebuilt ({})",
            state.release,
            image.display()
        );
        return Ok(BuiltKernel {
            image,
            build_dir: obj,
            tree,
            release: state.release,
            cached: true,
            patches: names,
            seconds: started.elapsed().as_secs_f64(),
            log,
        });
    }

    check_tools()?;
    std::fs::write(&log, "").map_err(|e| io_err(&log, e))?;
    state.build_key.clear();
    let old_listing = std::fs::read_to_string(&listing_path).ok();
    if state.source != src.display().to_string()
        || state.source_fingerprint.is_empty()
        || old_listing.is_none()
        || !tree.join("Makefile").exists()
    {
        // A new slot (or a damaged one): link the tree, build from scratch.
        log::info!(
            "ringspec gate: preparing {} from {}",
            slot.display(),
            src.display()
        );
        for d in [&tree, &obj] {
            if d.exists() {
                std::fs::remove_dir_all(d).map_err(|e| io_err(d, e))?;
            }
        }
        state = SlotState {
            source: src.display().to_string(),
            ..SlotState::default()
        };
        save_state(&state_path, &state)?;
        link_tree(&src, &tree)?;
    } else {
        if state.source_fingerprint != source_fp {
            // SRC_DIR changed (edits, a checkout): carry the changes over.
            let old = old_listing.as_deref().unwrap_or_default();
            let n = sync_tree(&src, &tree, old, &source_listing)?;
            log_line(&log, &format!("{n} changed source files copied"));
            log::info!(
                "ringspec gate: {n} files changed in {} since the last build",
                src.display()
            );
        }
        if !state.touched.is_empty() {
            log_line(&log, &format!("restoring {} files", state.touched.len()));
            for rel in &state.touched {
                restore(&src, &tree, rel)?;
            }
        }
    }
    std::fs::write(&listing_path, &source_listing).map_err(|e| io_err(&listing_path, e))?;
    state.source_fingerprint = source_fp.clone();
    // Record what the patches will touch before touching it: a failed or
    // interrupted apply is undone next time.
    state.touched = patches
        .iter()
        .flat_map(|p| p.touched.iter().cloned())
        .collect();
    state.touched.sort();
    state.touched.dedup();
    save_state(&state_path, &state)?;
    for p in &patches {
        apply(&tree, p, &log)?;
    }

    std::fs::create_dir_all(&obj).map_err(|e| io_err(&obj, e))?;
    if state.config_key != config_key || !obj.join(".config").is_file() {
        log::info!(
            "ringspec gate: configuring (tinyconfig + {})",
            show_paths(&opts.fragments)
        );
        state.config_key.clear();
        save_state(&state_path, &state)?;
        configure(&tree, &obj, &opts.fragments, &wanted, &log)?;
        state.config_key = config_key;
        save_state(&state_path, &state)?;
    }

    log::info!(
        "ringspec gate: make -j{} bzImage in {} (log: {})",
        opts.jobs,
        obj.display(),
        log.display()
    );
    let build_started = Instant::now();
    let mut make_image = make(&tree, &obj, opts.jobs, &["bzImage"]);
    make_image.args(&opts.make_vars);
    if !opts.make_vars.is_empty() {
        log_line(
            &log,
            &format!("make variables: {}", opts.make_vars.join(" ")),
        );
    }
    run_logged(make_image, "make bzImage", &log)?;
    if !image.is_file() {
        return Err(BuildError::Build {
            what: format!("make bzImage succeeded but {} is missing", image.display()),
            log_tail: super::vm::log_tail(&log, 40),
            log,
        });
    }
    let release_path = obj.join("include/config/kernel.release");
    let release = std::fs::read_to_string(&release_path)
        .map_err(|e| io_err(&release_path, e))?
        .trim()
        .to_string();
    // The config beside the image, where the gate looks for it.
    let beside = obj.join(format!("arch/x86/boot/config-{release}"));
    std::fs::copy(obj.join(".config"), &beside).map_err(|e| io_err(&beside, e))?;
    log::info!(
        "ringspec gate: built {release} in {:.0} s (make {:.0} s): {}",
        started.elapsed().as_secs_f64(),
        build_started.elapsed().as_secs_f64(),
        image.display()
    );
    state.build_key = build_key;
    state.release = release.clone();
    save_state(&state_path, &state)?;
    Ok(BuiltKernel {
        image,
        build_dir: obj,
        tree,
        release,
        cached: false,
        patches: names,
        seconds: started.elapsed().as_secs_f64(),
        log,
    })
}

/// Writes the gate's reports (report.json, results.ktap, junit.xml, summary.md)
/// for a kernel that could not be built: an infrastructure failure, no verdict.
/// Returns the markdown summary.
pub fn write_failure_reports(
    out: &Path,
    source: &Path,
    error: &BuildError,
    wall: Duration,
) -> Result<String, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let label = format!("build of {}", source.display());
    let report = GateReport::judge(&label, Err(error.to_string()), None, wall);
    debug_assert_eq!(report.exit_code, EXIT_INFRA);
    let summary = super::report::markdown(&report);
    let files = [
        (
            "report.json",
            serde_json::to_string_pretty(&report).expect("json") + "\n",
        ),
        ("results.ktap", super::report::ktap(&report)),
        ("junit.xml", super::report::junit(&report)),
        ("summary.md", summary.clone()),
    ];
    for (name, text) in files {
        let p = out.join(name);
        std::fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fragment_parses_and_is_checked() {
        let frag = parse_fragment(
            "# comment\nCONFIG_IO_URING=y\n# CONFIG_MODULES is not set\n\
             CONFIG_LOCALVERSION=\"-gate\"\nCONFIG_XFS_FS=y\nCONFIG_NOPE=y\n",
        );
        assert_eq!(frag.len(), 5);
        assert_eq!(frag[1], ("CONFIG_MODULES".into(), "n".into()));
        assert_eq!(frag[2].1, "\"-gate\"");
        let config = "CONFIG_IO_URING=y\nCONFIG_LOCALVERSION=\"-gate\"\n\
                      # CONFIG_XFS_FS is not set\n";
        assert_eq!(
            config_mismatches(&frag, config),
            vec![
                "CONFIG_XFS_FS=y: is not set".to_string(),
                "CONFIG_NOPE=y: absent (dependencies not met, or no such option in this kernel)"
                    .to_string(),
            ]
        );
        let modules_on = "CONFIG_MODULES=y\n";
        assert_eq!(
            config_mismatches(&frag[1..2], modules_on),
            vec!["# CONFIG_MODULES is not set: is CONFIG_MODULES=y".to_string()]
        );
    }

    #[test]
    fn patches_name_the_files_they_touch() {
        let p = "From abc Mon Sep 17 00:00:00 2001\nSubject: [PATCH] x\n---\n\
                 diff --git a/io_uring/rw.c b/io_uring/rw.c\nindex 1..2 100644\n\
                 --- a/io_uring/rw.c\n+++ b/io_uring/rw.c\n@@ -1 +1 @@\n-a\n+b\n\
                 diff --git a/fs/new.c b/fs/new.c\nnew file mode 100644\n\
                 --- /dev/null\n+++ b/fs/new.c\t2024-01-01\n@@ -0,0 +1 @@\n+x\n\
                 diff --git a/fs/Kconfig b/fs/Kconfig2\nrename from fs/Kconfig\n\
                 rename to fs/Kconfig2\n--- a/../etc/passwd\n";
        assert_eq!(
            touched_files(p),
            vec!["fs/Kconfig", "fs/Kconfig2", "fs/new.c", "io_uring/rw.c"]
        );
        assert!(affects_config("fs/Kconfig2"));
        assert!(affects_config("arch/x86/configs/tiny.config"));
        assert!(!affects_config("io_uring/rw.c"));
        assert!(touched_files("cover letter, no diff\n").is_empty());
    }

    #[test]
    fn fnv_is_stable_and_separates_fields() {
        assert_eq!(Fnv::default().hex(), "cbf29ce484222325");
        let ab_c = Fnv::default().field(b"ab").field(b"c").hex();
        let a_bc = Fnv::default().field(b"a").field(b"bc").hex();
        assert_ne!(ab_c, a_bc);
        assert_eq!(ab_c, Fnv::default().field(b"ab").field(b"c").hex());
    }

    #[test]
    fn patch_directories_are_listed_in_order() {
        let dir = std::env::temp_dir().join(format!("ringspec-patches-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert!(matches!(list_patches(&dir), Err(BuildError::BadPatches(_))));
        for n in ["0002-b.patch", "0001-a.patch", "series", "0003-c.diff"] {
            std::fs::write(dir.join(n), "").unwrap();
        }
        let names: Vec<String> = list_patches(&dir)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["0001-a.patch", "0002-b.patch", "0003-c.diff"]);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(list_patches(&dir).is_err());
    }

    #[test]
    fn a_tree_is_linked_patched_and_restored() {
        let base = std::env::temp_dir().join(format!("ringspec-tree-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (src, tree) = (base.join("src"), base.join("tree"));
        std::fs::create_dir_all(src.join("fs")).unwrap();
        std::fs::create_dir_all(src.join(".git")).unwrap();
        std::fs::write(src.join("fs/a.c"), "one\ntwo\n").unwrap();
        std::os::unix::fs::symlink("a.c", src.join("fs/l.c")).unwrap();
        let before = listing(&src).unwrap();
        assert!(!before.contains(".git"), "{before}");
        link_tree(&src, &tree).unwrap();
        assert!(!tree.join(".git").exists());
        let ino = |p: &Path| std::fs::metadata(p).unwrap().ino();
        assert_eq!(ino(&src.join("fs/a.c")), ino(&tree.join("fs/a.c")));
        assert_eq!(
            std::fs::read_link(tree.join("fs/l.c")).unwrap(),
            Path::new("a.c")
        );
        // A patched file and a new one, then restored: SRC_DIR never changes.
        std::fs::remove_file(tree.join("fs/a.c")).unwrap();
        std::fs::write(tree.join("fs/a.c"), "patched\n").unwrap();
        std::fs::write(tree.join("fs/new.c"), "new\n").unwrap();
        restore(&src, &tree, "fs/a.c").unwrap();
        restore(&src, &tree, "fs/new.c").unwrap();
        assert_eq!(
            std::fs::read_to_string(tree.join("fs/a.c")).unwrap(),
            "one\ntwo\n"
        );
        assert_ne!(ino(&src.join("fs/a.c")), ino(&tree.join("fs/a.c")));
        assert!(!tree.join("fs/new.c").exists());
        assert_eq!(listing(&src).unwrap(), before);
        // SRC_DIR edited in place, a file and a directory added, one removed:
        // the tree follows, with fresh copies.
        std::fs::write(src.join("fs/a.c"), "changed!\n").unwrap();
        std::fs::create_dir_all(src.join("mm/sub")).unwrap();
        std::fs::write(src.join("mm/sub/b.c"), "b\n").unwrap();
        std::fs::remove_file(src.join("fs/l.c")).unwrap();
        let after = listing(&src).unwrap();
        assert_ne!(after, before);
        let n = sync_tree(&src, &tree, &before, &after).unwrap();
        assert_eq!(n, 3, "{before}\n{after}");
        assert_eq!(
            std::fs::read_to_string(tree.join("fs/a.c")).unwrap(),
            "changed!\n"
        );
        assert_eq!(
            std::fs::read_to_string(tree.join("mm/sub/b.c")).unwrap(),
            "b\n"
        );
        assert!(std::fs::symlink_metadata(tree.join("fs/l.c")).is_err());
        assert_eq!(sync_tree(&src, &tree, &after, &after).unwrap(), 0);
        // A directory gone with its files.
        std::fs::remove_dir_all(src.join("mm")).unwrap();
        let gone = listing(&src).unwrap();
        sync_tree(&src, &tree, &after, &gone).unwrap();
        assert!(!tree.join("mm").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn a_bad_source_or_patch_dir_is_infrastructure() {
        let mut opts = BuildOptions::new(PathBuf::from("/nonexistent/linux"));
        assert!(matches!(build_kernel(&opts), Err(BuildError::BadSource(_))));
        opts.source = std::env::temp_dir();
        let e = build_kernel(&opts).unwrap_err();
        assert!(e.to_string().contains("not a kernel source tree"), "{e}");
    }

    #[test]
    fn the_repository_fragment_asks_for_what_the_gate_needs() {
        let text = std::fs::read_to_string(default_fragment()).unwrap();
        let frag = parse_fragment(&text);
        for k in [
            "CONFIG_64BIT",
            "CONFIG_IO_URING",
            "CONFIG_TMPFS",
            "CONFIG_EXT4_FS",
            "CONFIG_XFS_FS",
            "CONFIG_BTRFS_FS",
            "CONFIG_BLK_DEV_LOOP",
            "CONFIG_9P_FS",
            "CONFIG_NET_9P_VIRTIO",
            "CONFIG_VIRTIO_PCI",
            "CONFIG_ACPI",
        ] {
            assert!(
                frag.iter().any(|(n, v)| n == k && v == "y"),
                "{k}=y missing from kernel/gate.config"
            );
        }
        assert!(frag.contains(&("CONFIG_MODULES".to_string(), "n".to_string())));
        assert!(
            !frag.iter().any(|(_, v)| v == "m"),
            "modules in the fragment"
        );
    }

    #[test]
    fn the_coverage_fragment_asks_for_gcov_only_where_told() {
        let text = std::fs::read_to_string(coverage_fragment()).unwrap();
        let frag = parse_fragment(&text);
        for k in ["CONFIG_DEBUG_FS", "CONFIG_GCOV_KERNEL"] {
            assert!(
                frag.iter().any(|(n, v)| n == k && v == "y"),
                "{k}=y missing from kernel/gate-coverage.config"
            );
        }
        // Profiling is chosen per object on make's command line.
        assert!(frag.contains(&("CONFIG_GCOV_PROFILE_ALL".to_string(), "n".to_string())));
    }

    #[test]
    fn the_debug_fragment_asks_for_every_alarm() {
        let text = std::fs::read_to_string(debug_fragment()).unwrap();
        let frag = parse_fragment(&text);
        for k in [
            "CONFIG_KASAN",
            "CONFIG_KASAN_GENERIC",
            "CONFIG_PROVE_LOCKING",
            "CONFIG_DEBUG_ATOMIC_SLEEP",
            "CONFIG_DEBUG_LIST",
            "CONFIG_DEBUG_KMEMLEAK",
            "CONFIG_DEBUG_FS",
            "CONFIG_UBSAN",
            "CONFIG_UBSAN_BOUNDS",
            "CONFIG_UBSAN_SHIFT",
            "CONFIG_DETECT_HUNG_TASK",
        ] {
            assert!(
                frag.iter().any(|(n, v)| n == k && v == "y"),
                "{k}=y missing from kernel/gate-debug.config"
            );
        }
        assert!(
            !frag.iter().any(|(_, v)| v == "m"),
            "modules in the fragment"
        );
    }
}
