//! Building the kernel `ringspec gate --build-kernel SRC_DIR [--patches DIR]`
//! gates.
//!
//! The kernel is configured from `make tinyconfig` plus the repository's config
//! fragments (kernel/gate.config, merged with scripts/kconfig/merge_config.sh,
//! then `make olddefconfig`), patched with the git format-patch files of
//! `--patches` (sorted by name, `git apply`), and built with `make O=...
//! bzImage` into a cache outside the repository; the image is then gated like
//! `--kernel IMAGE`. x86_64 only.
//!
//! SRC_DIR is a git work tree (scripts/build-gate-kernel.sh imports Debian's
//! source into one); what is built is its HEAD with its uncommitted changes,
//! see the `tree` module. SRC_DIR's files, index and refs are never changed.
//!
//! The cache (`$RINGSPEC_BUILD_CACHE`, else `~/.cache/ringspec/build`) holds
//! one slot per source directory and set of fragments, named after both:
//! - `src/`: a `git clone --shared` of SRC_DIR, checked out at the patched
//!   source of the last build;
//! - `obj/`: the `make O=` build directory;
//! - `state.json`: which source the clone is of, the inputs of the
//!   configuration in `obj/.config` and of the last successful build;
//! - `patched.index`: the scratch index the series is applied in;
//! - `build.log`: the configuration and make output of the last build;
//! - `lock`: locked (flock) while a build runs: builds of one slot wait for
//!   each other.
//!
//! A build's inputs are the patched source's git tree id, the fragments'
//! contents (git blob ids) and the make variables. When they match the last
//! successful build's the build is skipped. Otherwise git moves `src/` to the
//! new tree (only the files that differ get new mtimes), the kernel is
//! reconfigured only when the fragments or a Kconfig file or tiny.config
//! changed, and make rebuilds incrementally. Every failure is an
//! infrastructure failure of the gate (exit 2).

mod fragment;
mod patches;
mod tree;

pub use fragment::{config_mismatches, parse_fragment};
pub use patches::{list_patches, touched_files};

use super::{GateReport, EXIT_INFRA};
use patches::{affects_config, read_patches};
use serde::{Deserialize, Serialize};
use std::fs::File;
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

/// The KCOV fragment merged after the others by `--fuzz`:
/// `<repo>/kernel/gate-kcov.config` (debugfs and KCOV for the whole kernel:
/// the fuzz targets' kernel feedback).
pub fn kcov_fragment() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../kernel/gate-kcov.config")
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
    /// Wall time of this step (git, patches, configure, make).
    pub seconds: f64,
    /// The log of the last build.
    pub log: PathBuf,
}

/// Why no kernel came out. All are infrastructure failures of the gate.
#[derive(Debug, thiserror::Error)]
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
    /// A git command failed (other than applying a patch).
    #[error("{command} failed: {output}")]
    Git {
        /// The command line.
        command: String,
        /// Its output, or why it could not run.
        output: String,
    },
    /// A file of the cache or of the reports could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: std::io::Error,
    },
    /// Interrupted (SIGINT) while building.
    #[error("interrupted while building the kernel")]
    Interrupted,
}

impl BuildError {
    fn io(path: &Path, source: std::io::Error) -> BuildError {
        BuildError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What the slot remembers between builds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct SlotState {
    /// SRC_DIR, canonical: what `src/` is a clone of.
    source: String,
    /// What `obj/.config` was made from (none: no usable configuration).
    configured: Option<ConfigInputs>,
    /// The inputs of the last successful build (none: none yet, or one under
    /// way).
    built: Option<BuildInputs>,
    /// The release of that build.
    release: String,
}

/// What a configuration depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct ConfigInputs {
    /// The patched source's tree id (its Kconfig files and tiny.config).
    tree: String,
    /// The fragments' blob ids, in merge order.
    fragments: Vec<String>,
}

/// What a build depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct BuildInputs {
    /// The patched source's tree id.
    tree: String,
    /// The fragments' blob ids, in merge order.
    fragments: Vec<String>,
    /// make's command-line variables.
    make_vars: Vec<String>,
}

/// The slot's directory name: SRC_DIR's path with `/` as `-`, and the
/// fragments' file stems unless they are the default one.
fn slot_name(src: &Path, fragments: &[PathBuf]) -> String {
    let mut name = src.to_string_lossy().trim_matches('/').replace('/', "-");
    if fragments != [default_fragment()] {
        for f in fragments {
            name.push('+');
            name.push_str(&f.file_stem().unwrap_or_default().to_string_lossy());
        }
    }
    // A file name has at most 255 bytes; the end of a path says most.
    let cut = name.len().saturating_sub(200);
    let cut = (cut..name.len())
        .find(|i| name.is_char_boundary(*i))
        .unwrap_or(0);
    name.split_off(cut)
}

/// Takes the slot's lock (an exclusive flock on `path`), saying so when it
/// has to wait for another build. Released when the file is dropped.
fn lock_slot(path: &Path) -> Result<File, BuildError> {
    let f = File::create(path).map_err(|e| BuildError::io(path, e))?;
    match f.try_lock() {
        Ok(()) => return Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => log::info!(
            "ringspec gate: waiting for another build in {}",
            path.parent().unwrap_or(path).display()
        ),
        Err(std::fs::TryLockError::Error(e)) => return Err(BuildError::io(path, e)),
    }
    f.lock().map_err(|e| BuildError::io(path, e))?;
    Ok(f)
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
    std::fs::write(&tmp, text).map_err(|e| BuildError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| BuildError::io(path, e))
}

/// Something a build needs from the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// A command on PATH.
    Command(&'static str),
    /// A file, e.g. a library's header.
    File(&'static str),
}

/// What reading the source needs: git, from the Debian package of that name.
const SOURCE_NEEDS: [(Need, &str); 1] = [(Need::Command("git"), "git")];

/// What a kernel build needs, with the Debian package that provides each.
const BUILD_NEEDS: [(Need, &str); 8] = [
    (Need::Command("make"), "make"),
    (Need::Command("gcc"), "build-essential"),
    (Need::Command("bc"), "bc"),
    (Need::Command("bison"), "bison"),
    (Need::Command("flex"), "flex"),
    (Need::Command("perl"), "perl"),
    (Need::Command("git"), "git"),
    // objtool (x86_64) needs libelf.
    (Need::File("/usr/include/gelf.h"), "libelf-dev"),
];

/// Checks that the machine has `needs`; the error names the packages to
/// install.
fn check_tools(needs: &[(Need, &str)]) -> Result<(), BuildError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let have = |need: Need| match need {
        Need::Command(tool) => std::env::split_paths(&path).any(|d| d.join(tool).is_file()),
        Need::File(file) => Path::new(file).is_file(),
    };
    let mut missing: Vec<&str> = Vec::new();
    for &(need, package) in needs {
        if !have(need) && !missing.contains(&package) {
            missing.push(package);
        }
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
        .map_err(|e| BuildError::io(log, e))?;
    let err = out.try_clone().map_err(|e| BuildError::io(log, e))?;
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
                return Err(BuildError::io(log, e));
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
    let config =
        std::fs::read_to_string(&config_path).map_err(|e| BuildError::io(&config_path, e))?;
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
    check_tools(&SOURCE_NEEDS)?;
    let mut wanted: Vec<(String, String)> = Vec::new();
    for f in &opts.fragments {
        let text = std::fs::read_to_string(f)
            .map_err(|e| BuildError::Config(format!("fragment {}: {e}", f.display())))?;
        let asked = parse_fragment(&text);
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
    }
    let fragments = tree::content_ids(&opts.fragments)?;
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
    let source = tree::source(&src)?;
    if source.dirty {
        log::info!(
            "ringspec gate: building {}'s uncommitted changes too",
            src.display()
        );
    }
    if source.untracked > 0 {
        log::info!(
            "ringspec gate: {} untracked files of {} are not built (git add them)",
            source.untracked,
            src.display()
        );
    }

    let slot = opts.cache.join(slot_name(&src, &opts.fragments));
    std::fs::create_dir_all(&slot).map_err(|e| BuildError::io(&slot, e))?;
    let _lock = lock_slot(&slot.join("lock"))?;
    let (work, obj) = (slot.join("src"), slot.join("obj"));
    let (state_path, log) = (slot.join("state.json"), slot.join("build.log"));
    let image = obj.join(IMAGE);
    let mut state = load_state(&state_path);
    if state.source != src.display().to_string() || !tree::is_clone(&work) {
        // A new slot (or one of another source, or damaged): build from scratch.
        log::info!(
            "ringspec gate: cloning {} into {}",
            src.display(),
            work.display()
        );
        if obj.exists() {
            std::fs::remove_dir_all(&obj).map_err(|e| BuildError::io(&obj, e))?;
        }
        state = SlotState::default();
        save_state(&state_path, &state)?;
        tree::clone(&src, &work)?;
        state.source = src.display().to_string();
        save_state(&state_path, &state)?;
    }
    let patched = tree::patched_tree(&work, &slot.join("patched.index"), &source.commit, &patches)?;
    let inputs = BuildInputs {
        tree: patched.clone(),
        fragments: fragments.clone(),
        make_vars: opts.make_vars.clone(),
    };
    let names: Vec<String> = patches.iter().map(|p| p.name.clone()).collect();
    if state.built.as_ref() == Some(&inputs) && image.is_file() && !state.release.is_empty() {
        log::info!(
            "ringspec gate: kernel {} unchanged, not rebuilt ({})",
            state.release,
            image.display()
        );
        return Ok(BuiltKernel {
            image,
            build_dir: obj,
            tree: work,
            release: state.release,
            cached: true,
            patches: names,
            seconds: started.elapsed().as_secs_f64(),
            log,
        });
    }

    check_tools(&BUILD_NEEDS)?;
    std::fs::write(&log, "").map_err(|e| BuildError::io(&log, e))?;
    state.built = None;
    save_state(&state_path, &state)?;
    log_line(&log, &format!("git read-tree --reset -u {patched}"));
    tree::check_out(&work, &patched)?;

    let config_changed = match &state.configured {
        Some(c) if c.fragments == fragments => tree::changed_paths(&work, &c.tree, &patched)?
            .iter()
            .any(|p| affects_config(p)),
        _ => true,
    };
    std::fs::create_dir_all(&obj).map_err(|e| BuildError::io(&obj, e))?;
    if config_changed || !obj.join(".config").is_file() {
        log::info!(
            "ringspec gate: configuring (tinyconfig + {})",
            show_paths(&opts.fragments)
        );
        state.configured = None;
        save_state(&state_path, &state)?;
        configure(&work, &obj, &opts.fragments, &wanted, &log)?;
        state.configured = Some(ConfigInputs {
            tree: patched.clone(),
            fragments,
        });
        save_state(&state_path, &state)?;
    }

    log::info!(
        "ringspec gate: make -j{} bzImage in {} (log: {})",
        opts.jobs,
        obj.display(),
        log.display()
    );
    let build_started = Instant::now();
    let mut make_image = make(&work, &obj, opts.jobs, &["bzImage"]);
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
        .map_err(|e| BuildError::io(&release_path, e))?
        .trim()
        .to_string();
    // The config beside the image, where the gate looks for it.
    let beside = obj.join(format!("arch/x86/boot/config-{release}"));
    std::fs::copy(obj.join(".config"), &beside).map_err(|e| BuildError::io(&beside, e))?;
    log::info!(
        "ringspec gate: built {release} in {:.0} s (make {:.0} s): {}",
        started.elapsed().as_secs_f64(),
        build_started.elapsed().as_secs_f64(),
        image.display()
    );
    state.built = Some(inputs);
    state.release = release.clone();
    save_state(&state_path, &state)?;
    Ok(BuiltKernel {
        image,
        build_dir: obj,
        tree: work,
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
) -> Result<String, BuildError> {
    std::fs::create_dir_all(out).map_err(|e| BuildError::io(out, e))?;
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
        std::fs::write(&p, text).map_err(|e| BuildError::io(&p, e))?;
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
    fn slots_are_named_after_the_source_and_fragments() {
        let src = Path::new("/root/.cache/ringspec/src/linux-source-6.12");
        assert_eq!(
            slot_name(src, &[default_fragment()]),
            "root-.cache-ringspec-src-linux-source-6.12"
        );
        assert_eq!(
            slot_name(src, &[default_fragment(), debug_fragment()]),
            "root-.cache-ringspec-src-linux-source-6.12+gate+gate-debug"
        );
        let deep = PathBuf::from(format!("/{}", "directory/".repeat(40)));
        let name = slot_name(&deep, &[default_fragment()]);
        assert_eq!(name.len(), 200);
        assert!(name.ends_with("directory-directory"), "{name}");
    }

    #[test]
    fn a_bad_source_or_patch_dir_is_infrastructure() {
        let mut opts = BuildOptions::new(PathBuf::from("/nonexistent/linux"));
        assert!(matches!(build_kernel(&opts), Err(BuildError::BadSource(_))));
        opts.source = std::env::temp_dir();
        let e = build_kernel(&opts).unwrap_err();
        assert!(e.to_string().contains("not a kernel source tree"), "{e}");
    }

    /// The fragment file's options, after checking that it sets each of
    /// `keys` to y.
    fn sets_y(path: PathBuf, keys: &[&str]) -> Vec<(String, String)> {
        let frag = parse_fragment(&std::fs::read_to_string(&path).unwrap());
        for k in keys {
            assert!(
                frag.iter().any(|(n, v)| n == k && v == "y"),
                "{k}=y missing from {}",
                path.display()
            );
        }
        frag
    }

    #[test]
    fn the_repository_fragment_asks_for_what_the_gate_needs() {
        let frag = sets_y(
            default_fragment(),
            &[
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
            ],
        );
        assert!(frag.contains(&("CONFIG_MODULES".to_string(), "n".to_string())));
        assert!(
            !frag.iter().any(|(_, v)| v == "m"),
            "modules in the fragment"
        );
    }

    #[test]
    fn the_coverage_fragment_asks_for_gcov_only_where_told() {
        let frag = sets_y(
            coverage_fragment(),
            &["CONFIG_DEBUG_FS", "CONFIG_GCOV_KERNEL"],
        );
        // Profiling is chosen per object on make's command line.
        assert!(frag.contains(&("CONFIG_GCOV_PROFILE_ALL".to_string(), "n".to_string())));
    }

    #[test]
    fn the_debug_fragment_asks_for_every_alarm() {
        let frag = sets_y(
            debug_fragment(),
            &[
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
            ],
        );
        assert!(
            !frag.iter().any(|(_, v)| v == "m"),
            "modules in the fragment"
        );
    }
}
