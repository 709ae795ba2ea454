//! `ringspec`: the differential check of Linux filesystem ops (model vs
//! synchronous syscalls vs io_uring) on the running kernel.
//!
//! Exit codes: 0 everything agreed; 1 a divergence or a failed scenario or
//! replay (a finding); 2 bad input (arguments, corrupt files); 3 the
//! environment cannot run the check (no scratch, io_uring unusable);
//! 130 interrupted.

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use model::OpKind;
use oracle::campaign::{self, CampaignConfig, Stats, Target};
use oracle::regression::Regression;
use oracle::scenario::{load_dir, matches_filter, ScenarioResult};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;
use sys::scratch::Scratch;

const EXIT_FINDING: u8 = 1;
const EXIT_BAD_INPUT: u8 = 2;
const EXIT_ENVIRONMENT: u8 = 3;
const EXIT_INTERRUPTED: u8 = 130;

#[derive(Parser)]
#[command(
    name = "ringspec",
    version,
    about = "Differential conformance checks for io_uring filesystem opcodes"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// List the io_uring opcodes the running kernel supports.
    Probe {
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        report: Format,
    },
    /// Run random op sequences through the model and the kernel and diff them.
    Run {
        /// Seed of the campaign, decimal or 0x-hex (default: RINGSPEC_SEED, else
        /// 0x5eed2026; printed; the same seed replays it).
        #[arg(long, value_parser = parse_seed)]
        seed: Option<u64>,
        /// Number of sequences, 1 or more (default: RINGSPEC_CASES, else 1000
        /// unless --duration is given).
        #[arg(long, value_parser = parse_cases)]
        cases: Option<u64>,
        /// Time budget, e.g. 90s, 5m, 2h (more than 0, at most 30 days).
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Comma-separated op kinds to draw from (default: all).
        #[arg(long, value_delimiter = ',')]
        ops: Vec<String>,
        /// Longest generated sequence body (1 to 100000 ops).
        #[arg(long, default_value_t = 40, value_parser = parse_max_len)]
        max_len: usize,
        /// io_uring submission paths: all, none, or a list of single, async,
        /// fixed, sqpoll, batch, linked (default: RINGSPEC_MODES, else all).
        #[arg(long)]
        mode: Option<String>,
        /// Output format of the final report.
        #[arg(long, value_enum, default_value = "text")]
        report: Format,
        /// Where to save a minimized finding (default: corpus/regressions when
        /// run from the repository, else the current directory).
        #[arg(long)]
        save_dir: Option<PathBuf>,
        /// Scratch filesystem: tmpfs, ext4, xfs, btrfs or all (default:
        /// RINGSPEC_FS, else tmpfs).
        #[arg(long)]
        fs: Option<String>,
    },
    /// Replay regression files: each on the filesystem it records (`fs`),
    /// unless --fs or RINGSPEC_FS says otherwise, through the syscalls and
    /// every io_uring mode (--mode, RINGSPEC_MODES). Exit 0 only when
    /// something was replayed and every replay concluded as its file expects.
    Replay {
        /// Files to replay.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Scratch filesystem: tmpfs, ext4, xfs, btrfs or all.
        #[arg(long)]
        fs: Option<String>,
        /// io_uring submission paths (as for `run`).
        #[arg(long)]
        mode: Option<String>,
    },
    /// Write a standalone C reproducer of a regression file (or, with
    /// --sqe-fields, of an sqe_fields input): one C file that
    /// runs the sequence through raw system calls and io_uring (no
    /// liburing), prints each op's expected and actual outcome and exits 1
    /// on the bug, 0 when fixed, 2 when it cannot judge. Made from a traced
    /// run on this machine (root: it makes its scratch filesystems).
    Repro {
        /// The regression file (or sqe_fields input, with --sqe-fields).
        #[arg(required_unless_present = "sqe_probe")]
        file: Option<PathBuf>,
        /// The target: syscalls, or uring/ and a submission path (single,
        /// async, fixed, sqpoll, batch, linked); default: the file's
        /// `target`, else syscalls.
        #[arg(long)]
        target: Option<String>,
        /// The filesystem (default: the file's `fs`, else its first
        /// `only_fs`, else tmpfs).
        #[arg(long)]
        fs: Option<String>,
        /// Where to write the C file (default: standard output).
        #[arg(long, short)]
        output: Option<PathBuf>,
        /// FILE is an sqe_fields input (a corpus entry or a crash artifact
        /// of `cargo fuzz run sqe_fields`), not a regression file.
        #[arg(long, conflicts_with_all = ["target", "fs"])]
        sqe_fields: bool,
        /// Instead of a file, an SQE rule sweep probe as a gate row or
        /// `ringspec sqe-check` names it: OPCODE:FIELD=VALUE (FIELD `flags`
        /// for sqe->flags), or OPCODE:valid for the valid template.
        #[arg(long, conflicts_with_all = ["file", "target", "fs", "sqe_fields"])]
        sqe_probe: Option<String>,
    },
    /// Sweep every SQE rule of the model's table on the running kernel: each
    /// must-be-zero field at 1, its top bit and all ones, each undefined flag
    /// bit alone (rejected, nothing changed), each defined one (accepted). Root
    /// only (private tmpfs sandbox). Exit 0 all agree, 1 a disagreement, 3 the
    /// sandbox cannot run here.
    SqeCheck {
        /// JSON instead of the text table.
        #[arg(long)]
        json: bool,
    },
    /// Run the scenario corpus through the model and the kernel.
    Scenarios {
        /// Comma-separated name filter (`-x` excludes; default:
        /// RINGSPEC_SCENARIOS, else every scenario).
        #[arg(long)]
        filter: Option<String>,
        /// The scenarios directory.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Scratch filesystem: tmpfs, ext4, xfs, btrfs or all.
        #[arg(long)]
        fs: Option<String>,
        /// io_uring submission paths (as for `run`).
        #[arg(long)]
        mode: Option<String>,
    },
    /// Run the whole conformance suite on the running kernel (what `gate` runs
    /// inside the guest) and write a machine-readable result. Exit 0 all rows
    /// pass, are unsupported or are not judged (the model cannot judge them
    /// on this kernel), 1 a row failed, 2 bad input (checked before the run)
    /// or no verdict possible (io_uring unusable, a filesystem unavailable;
    /// the result says why).
    Suite {
        /// Where to write the result (JSON; its directory must exist and be
        /// writable, checked before the run).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        suite: Box<SuiteArgs>,
    },
    /// Gate a kernel: boot IMAGE under QEMU with virtme-ng (or gate the running
    /// kernel in place with `--kernel host`), run the suite, write report.json,
    /// results.ktap, junit.xml and summary.md, compare with a baseline. Exit 0
    /// passed, 1 a regression or divergence, 2 infrastructure failure or bad
    /// arguments (never mixed).
    /// Recompute the diff coverage of a finished `gate --coverage` run from
    /// the counters its guest left in OUT/vm/gcov (coverage.info,
    /// coverage-html/, the coverage section printed): for a report that
    /// failed or after lcov was installed, without booting again.
    #[command(hide = true)]
    GateCoverage {
        /// The gate's --out directory.
        #[arg(long)]
        out: PathBuf,
        /// The kernel's build directory (make O=, with the .gcno files):
        /// `~/.cache/ringspec/build/<slot>/obj`.
        #[arg(long)]
        build_dir: PathBuf,
        /// The patched source tree it was built from (default: the slot's src/
        /// beside the build directory).
        #[arg(long)]
        tree: Option<PathBuf>,
        /// The --patches directory of the gate.
        #[arg(long)]
        patches: Option<PathBuf>,
    },
    Gate {
        /// A kernel image, a directory from scripts/fetch-kernels.sh (its
        /// vmlinuz and modules), or "host" for the running kernel.
        #[arg(long, default_value = "host")]
        kernel: String,
        /// Build the kernel to gate from this git work tree instead (x86_64;
        /// its HEAD plus uncommitted changes to tracked files): tinyconfig
        /// plus kernel/gate.config, everything built in, `make O=... bzImage`
        /// into ~/.cache/ringspec/build (RINGSPEC_BUILD_CACHE); an unchanged
        /// build is reused. A failed build is exit 2.
        #[arg(long, value_name = "SRC_DIR", conflicts_with_all = ["kernel", "modules"])]
        build_kernel: Option<PathBuf>,
        /// With --build-kernel: apply DIR's git format-patch files (*.patch,
        /// *.diff, in name order, `git apply`) first; one that does not apply
        /// exactly is exit 2. SRC_DIR itself is left untouched.
        #[arg(long, value_name = "DIR", requires = "build_kernel")]
        patches: Option<PathBuf>,
        /// With --build-kernel: merge kernel/gate-debug.config too (KASAN,
        /// lockdep, kmemleak, UBSAN, hung tasks; uname -r ends in
        /// -gate-debug). Built in a cache slot of its own.
        #[arg(long, requires = "build_kernel")]
        debug_kernel: bool,
        /// With --build-kernel: diff coverage. Merge kernel/gate-coverage.config
        /// too (GCOV_KERNEL; io_uring/*.c, the mission's fs/ and mm/ files
        /// and the patched .c files profiled; a cache slot of its own), copy
        /// the guest's gcov counters back after the suite, and write
        /// coverage.info, coverage-html/ and a coverage section in
        /// summary.md listing the patch's added lines the suite never ran.
        /// Needs lcov (apt-get install lcov).
        #[arg(long, requires = "build_kernel")]
        coverage: bool,
        /// With --build-kernel: build (or find in the cache) the kernel,
        /// print its image path on stdout and stop: no boot, no suite, no
        /// reports (a failed build still writes them). For CI steps that
        /// cache kernels, and for timing builds.
        #[arg(long, requires = "build_kernel", conflicts_with = "coverage")]
        build_only: bool,
        /// Baseline to compare with (default: `corpus/baselines/<release>.json`
        /// when it exists).
        #[arg(long, conflicts_with = "no_baseline")]
        baseline: Option<PathBuf>,
        /// Compare with no baseline: every failing row fails the gate.
        #[arg(long)]
        no_baseline: bool,
        /// Directory for the reports (created).
        #[arg(long, default_value = "gate-out")]
        out: PathBuf,
        /// Unpacked modules of the image (DIR/lib/modules/RELEASE) to modprobe
        /// the filesystems from in the guest.
        #[arg(long)]
        modules: Option<PathBuf>,
        /// Kill the VM after this long (e.g. 30m).
        #[arg(long, default_value = "30m", value_parser = parse_duration)]
        timeout: Duration,
        /// Guest memory.
        #[arg(long, default_value = "2G")]
        memory: String,
        /// Guest CPUs.
        #[arg(long, default_value_t = 2)]
        cpus: u32,
        /// Use KVM instead of TCG.
        #[arg(long)]
        kvm: bool,
        /// The virtme-ng command.
        #[arg(long, default_value = "vng")]
        vng: PathBuf,
        /// Extra guest kernel command line.
        #[arg(long)]
        append: Option<String>,
        #[command(flatten)]
        suite: Box<SuiteArgs>,
    },
}

/// The longest accepted `--duration` or `--timeout`: 30 days.
const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

// The parsers' errors are one line each, without a source: clap prints an
// error's outermost message only.

fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| anyhow::anyhow!("bad duration {s:?} (use 90s, 5m, 1h)"))?;
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        _ => anyhow::bail!("bad duration unit in {s:?} (use s, m or h)"),
    };
    let secs = n
        .checked_mul(scale)
        .filter(|&x| x <= MAX_DURATION.as_secs())
        .ok_or_else(|| anyhow::anyhow!("duration {s:?} is longer than 30 days"))?;
    if secs == 0 {
        anyhow::bail!("duration {s:?} is zero: give at least 1s");
    }
    Ok(Duration::from_secs(secs))
}

/// A seed: decimal or 0x-hex.
fn parse_seed(s: &str) -> anyhow::Result<u64> {
    let t = s.trim();
    let r = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse(),
    };
    r.map_err(|_| anyhow::anyhow!("bad seed {s:?}: give a number below 2^64, decimal or 0x-hex"))
}

/// The most sequences one `run` may ask for.
const MAX_CASES: u64 = 1_000_000_000;

fn parse_cases(s: &str) -> anyhow::Result<u64> {
    match s.trim().parse::<u64>() {
        Ok(0) => anyhow::bail!("0 sequences would test nothing: give 1 or more"),
        Ok(n) if n <= MAX_CASES => Ok(n),
        _ => anyhow::bail!("bad number of sequences {s:?}: give 1 to {MAX_CASES}"),
    }
}

/// The longest sequence body `--max-len` accepts.
const MAX_LEN: usize = 100_000;

fn parse_max_len(s: &str) -> anyhow::Result<usize> {
    match s.trim().parse::<usize>() {
        Ok(n) if (1..=MAX_LEN).contains(&n) => Ok(n),
        _ => anyhow::bail!("bad sequence length {s:?}: give 1 to {MAX_LEN} ops"),
    }
}

/// A knob from the environment, parsed with the flag's own parser; the
/// error names the variable.
fn env_knob<T>(var: &str, parse: fn(&str) -> anyhow::Result<T>) -> anyhow::Result<Option<T>> {
    match std::env::var(var) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => parse(&v).map(Some).context(var.to_string()),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(e) => Err(anyhow::Error::new(e).context(var.to_string())),
    }
}

/// println! that records a failed write to stdout (a full disk behind a
/// redirect) for [`finish`], which turns it into exit 3; a closed pipe
/// (`ringspec probe | head`) is the reader's choice and is ignored. The
/// process ignores SIGPIPE so that EPIPE is observable in ops.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write;
        note_write(writeln!(std::io::stdout(), $($t)*));
    }};
}

/// print! counterpart of [`say!`].
macro_rules! say_raw {
    ($($t:tt)*) => {{
        use std::io::Write;
        note_write(write!(std::io::stdout(), $($t)*));
    }};
}

/// The first failed write to stdout, other than a closed pipe.
static STDOUT_ERROR: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

fn note_write(r: std::io::Result<()>) {
    if let Err(e) = r {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            let mut slot = STDOUT_ERROR.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert_with(|| e.to_string());
        }
    }
}

/// The exit status after flushing stdout: a report that could not be
/// written is not a pass (exit 3, unless a worse status is already set).
fn finish(code: ExitCode) -> ExitCode {
    use std::io::Write;
    note_write(std::io::stdout().flush());
    let err = STDOUT_ERROR
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    match err {
        Some(e) if code == ExitCode::SUCCESS => fail(
            EXIT_ENVIRONMENT,
            format!("cannot write the report to stdout: {e}"),
        ),
        Some(e) => {
            eprintln!("ringspec: cannot write the report to stdout: {e}");
            code
        }
        None => code,
    }
}

fn fail(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    // `{:#}`: an anyhow error with its whole context chain.
    eprintln!("ringspec: {msg:#}");
    ExitCode::from(code)
}

/// Exit for an interrupted command: 130 (SIGINT) or 143 (SIGTERM), never a
/// pass.
fn interrupted(what: &str) -> ExitCode {
    fail(
        sys::interrupt::exit_code(),
        format!(
            "interrupted by {}; {what} (not a pass)",
            sys::interrupt::signal_name()
        ),
    )
}

/// Set in the per-filesystem children of `--fs all` (and of a replay whose
/// files name several filesystems): the parent's pid. The child asks to be
/// sent SIGTERM when that parent dies, so no child outlives it.
const PARENT_ENV: &str = "RINGSPEC_PARENT_PID";

/// The scratch filesystem of this process (`--fs`, else RINGSPEC_FS).
static FS: std::sync::OnceLock<sys::scratch::FsChoice> = std::sync::OnceLock::new();

/// Parses `--fs` (else RINGSPEC_FS): `Ok(None)` for "all", else one
/// filesystem.
fn fs_choice(fs: Option<&str>) -> anyhow::Result<Option<sys::scratch::FsChoice>> {
    use sys::scratch::FsChoice;
    match fs {
        Some("all") => Ok(None),
        Some(text) => Ok(Some(text.parse::<FsChoice>()?)),
        None => Ok(Some(FsChoice::from_env()?)),
    }
}

/// This command's arguments with `--fs` replaced by `--fs=<fs>`.
fn args_with_fs(fs: &str) -> Vec<String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut out = Vec::new();
    let mut it = args.iter();
    let mut replaced = false;
    while let Some(a) = it.next() {
        if a == "--fs" {
            it.next();
            out.push(format!("--fs={fs}"));
            replaced = true;
        } else if a.starts_with("--fs=") {
            out.push(format!("--fs={fs}"));
            replaced = true;
        } else {
            out.push(a.clone());
        }
    }
    if !replaced {
        out.push(format!("--fs={fs}"));
    }
    out
}

/// Runs this program once per (label, arguments), one after the other, each
/// child in its own mount namespace with its own cleanup, and returns the
/// most severe exit status: an interruption over a finding over the
/// environment over bad input. A SIGINT or SIGTERM to this process is
/// passed on to the running child, and no further child starts; a child
/// that was interrupted stops the rest too.
fn run_children(runs: Vec<(String, Vec<String>)>) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return fail(EXIT_ENVIRONMENT, e),
    };
    let rank = |c: u8| match c {
        0 => 0,
        EXIT_BAD_INPUT => 1,
        EXIT_ENVIRONMENT => 2,
        EXIT_FINDING => 3,
        _ => 4,
    };
    let mut worst = 0u8;
    for (label, args) in runs {
        if sys::interrupt::requested() {
            break;
        }
        eprintln!("=== ringspec on {label}");
        let mut child = match std::process::Command::new(&exe)
            .args(&args)
            .env(PARENT_ENV, std::process::id().to_string())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                return fail(
                    EXIT_ENVIRONMENT,
                    format!("cannot start {}: {e}", exe.display()),
                )
            }
        };
        let mut relayed = false;
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) => {}
                Err(e) => return fail(EXIT_ENVIRONMENT, format!("waiting for the child: {e}")),
            }
            if sys::interrupt::requested() && !relayed {
                let sig = sys::interrupt::signal().unwrap_or(libc::SIGINT);
                // SAFETY: kill on our own child's pid.
                unsafe { libc::kill(child.id() as libc::pid_t, sig) };
                relayed = true;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        use std::os::unix::process::ExitStatusExt;
        let code = match (status.code(), status.signal()) {
            (Some(c), _) => c as u8,
            (None, Some(sig)) => 128 + sig as u8,
            _ => EXIT_INTERRUPTED,
        };
        if code == 130 || code == 143 {
            sys::interrupt::request(code as i32 - 128);
        }
        if rank(code) > rank(worst) {
            worst = code;
        }
    }
    if sys::interrupt::requested() {
        return interrupted("the remaining runs did not start");
    }
    ExitCode::from(worst)
}

/// Handles `--fs`: one filesystem is recorded for [`scratch`]; `all` reruns
/// this very command once per filesystem in child processes
/// ([`run_children`]).
fn select_fs(fs: Option<String>) -> Option<ExitCode> {
    use sys::scratch::FsChoice;
    match fs_choice(fs.as_deref()) {
        Err(e) => Some(fail(EXIT_BAD_INPUT, e)),
        Ok(Some(c)) => {
            let _ = FS.set(c);
            None
        }
        Ok(None) => Some(run_children(
            FsChoice::ALL
                .iter()
                .map(|c| (c.name().to_string(), args_with_fs(c.name())))
                .collect(),
        )),
    }
}

/// Checks the io_uring configuration knobs before any work starts:
/// `RINGSPEC_MODES` (or `--mode`) and `RINGSPEC_PROPOSED` (its syntax, and
/// numbers that would collide with this kernel's mainline opcodes).
fn check_uring_knobs(mode: Option<&str>) -> anyhow::Result<()> {
    let text = match mode {
        Some(m) => m.to_string(),
        None => std::env::var("RINGSPEC_MODES").unwrap_or_else(|_| "all".into()),
    };
    let modes = campaign::Submission::parse_list(&text).context(if mode.is_some() {
        "--mode"
    } else {
        "RINGSPEC_MODES"
    })?;
    let _ = MODES.set(modes);
    let proposed = backends::sqe::ProposedOpcodes::from_env().map_err(anyhow::Error::msg)?;
    if let Ok(p) = backends::probe::probe() {
        proposed
            .check_collisions(backends::proposed::mainline_last_op_running(
                p.last_op.saturating_sub(1),
            ))
            .map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// Prints the libraries' progress and warnings (the `log` records of the gate
/// and the suite) on stderr, one line each, as they come.
struct StderrLog;

impl log::Log for StderrLog {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("{}", record.args());
        }
    }

    fn flush(&self) {}
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    static LOGGER: StderrLog = StderrLog;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    sys::interrupt::install();
    if let Some(parent) = std::env::var(PARENT_ENV)
        .ok()
        .and_then(|p| p.parse::<libc::pid_t>().ok())
    {
        if !sys::interrupt::die_with_parent(parent) {
            return fail(
                EXIT_INTERRUPTED,
                "the parent ringspec is gone; not starting",
            );
        }
    }
    // An inherited `ulimit -f` is part of the profile (the model predicts
    // EFBIG); without this, the first write past it would kill the process.
    sys::rlimit::ignore_sigxfsz();
    finish(dispatch(cli.command))
}

fn dispatch(command: Command) -> ExitCode {
    match command {
        Command::Probe { report } => probe(report),
        Command::Run {
            seed,
            cases,
            duration,
            ops,
            max_len,
            mode,
            report,
            save_dir,
            fs,
        } => {
            let cfg = match run_config(seed, cases, duration, &ops, max_len, mode.as_deref()) {
                Ok(c) => c,
                Err(e) => return fail(EXIT_BAD_INPUT, e),
            };
            if let Some(dir) = &save_dir {
                if !dir.is_dir() {
                    return fail(
                        EXIT_BAD_INPUT,
                        format!("--save-dir {}: not a directory", dir.display()),
                    );
                }
            }
            if let Some(code) = select_fs(fs) {
                return code;
            }
            run(cfg, report, save_dir)
        }
        Command::Replay { files, fs, mode } => replay_cmd(&files, fs, mode),
        Command::Repro {
            sqe_probe: Some(probe),
            output,
            ..
        } => match sqefuzz::sqe_fuzz::probe_input(&probe) {
            Ok(input) => repro_sqe_input(
                &input,
                &format!("probe {probe}"),
                &format!("ringspec repro --sqe-probe '{probe}'"),
                output.as_deref(),
            ),
            Err(e) => fail(EXIT_BAD_INPUT, format!("--sqe-probe {e}")),
        },
        Command::Repro {
            file: Some(file),
            output,
            sqe_fields: true,
            ..
        } => repro_sqe_cmd(&file, output.as_deref()),
        Command::Repro {
            file: Some(file),
            target,
            fs,
            output,
            ..
        } => repro_cmd(&file, target.as_deref(), fs.as_deref(), output.as_deref()),
        Command::Repro { file: None, .. } => fail(EXIT_BAD_INPUT, "repro: a FILE or --sqe-probe"),
        Command::Scenarios {
            filter,
            dir,
            fs,
            mode,
        } => {
            let filter = match filter {
                Some(f) => f,
                None => std::env::var("RINGSPEC_SCENARIOS").unwrap_or_default(),
            };
            if let Err(e) = check_uring_knobs(mode.as_deref()) {
                return fail(EXIT_BAD_INPUT, e);
            }
            select_fs(fs).unwrap_or_else(|| scenarios(&filter, dir))
        }
        Command::Suite { out, suite } => suite_cmd(&out, &suite),
        Command::SqeCheck { json } => {
            if let Err(e) = check_uring_knobs(None) {
                return fail(EXIT_BAD_INPUT, e);
            }
            sqe_check(json)
        }
        Command::GateCoverage {
            out,
            build_dir,
            tree,
            patches,
        } => {
            use gate::coverage;
            if let Err(e) = coverage::check_tools() {
                return fail(gate::EXIT_INFRA, e);
            }
            let tree = tree.unwrap_or_else(|| build_dir.with_file_name("src"));
            let opts = coverage::CoverageOptions {
                build_dir,
                tree,
                patches,
            };
            match coverage::report(&opts, &out.join("vm"), &out) {
                Ok(c) => {
                    say_raw!("{}", c.markdown);
                    for f in &c.files {
                        eprintln!("ringspec gate-coverage: wrote {}", f.display());
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(gate::EXIT_INFRA, e),
            }
        }
        Command::Gate {
            kernel,
            build_kernel,
            patches,
            debug_kernel,
            coverage,
            build_only,
            baseline,
            no_baseline,
            out,
            modules,
            timeout,
            memory,
            cpus,
            kvm,
            vng,
            append,
            suite,
        } => gate_cmd(GateArgs {
            kernel,
            build_kernel,
            patches,
            debug_kernel,
            coverage,
            build_only,
            baseline,
            no_baseline,
            out,
            modules,
            timeout,
            memory,
            cpus,
            kvm,
            vng,
            append,
            suite: *suite,
        }),
    }
}

/// The campaign configuration of `run`, every knob checked before any work
/// starts: flags first, then RINGSPEC_SEED, RINGSPEC_CASES, RINGSPEC_MODES,
/// RINGSPEC_PROPOSED and RINGSPEC_FS.
fn run_config(
    seed: Option<u64>,
    cases: Option<u64>,
    duration: Option<Duration>,
    ops: &[String],
    max_len: usize,
    mode: Option<&str>,
) -> anyhow::Result<CampaignConfig> {
    let seed = match seed {
        Some(s) => s,
        None => env_knob("RINGSPEC_SEED", parse_seed)?.unwrap_or(0x5eed_2026),
    };
    let cases = match cases {
        Some(c) => Some(c),
        None => env_knob("RINGSPEC_CASES", parse_cases)?,
    };
    let kinds = if ops.is_empty() {
        oracle::gen::default_kinds()
    } else {
        let mut kinds = Vec::new();
        for name in ops {
            match OpKind::from_name(name) {
                Some(k) => kinds.push(k),
                None => {
                    let all: Vec<&str> = OpKind::ALL.iter().map(|k| k.name()).collect();
                    anyhow::bail!("unknown op kind {name:?}; known: {}", all.join(", "));
                }
            }
        }
        kinds
    };
    check_uring_knobs(mode)?;
    Ok(CampaignConfig {
        seed,
        // The main job's default budget: about 40 seconds here.
        cases: cases.or(if duration.is_none() { Some(1000) } else { None }),
        duration,
        kinds,
        max_len,
    })
}

fn probe(report: Format) -> ExitCode {
    let p = match backends::probe::probe() {
        Ok(p) => p,
        Err(e) => return fail(EXIT_ENVIRONMENT, e),
    };
    match report {
        Format::Json => say!("{}", serde_json::to_string_pretty(&p).expect("json")),
        Format::Text => {
            say!(
                "kernel {}: io_uring knows opcodes 0..{}",
                p.kernel,
                p.last_op
            );
            for o in &p.opcodes {
                let status = if o.supported {
                    "supported"
                } else {
                    "unsupported on this kernel"
                };
                say!("{:>3} {:<18} {status}", o.opcode, o.name);
            }
            for k in [OpKind::CopyFileRange, OpKind::Getdents, OpKind::Mknod] {
                say!(
                    "    {:<18} no mainline opcode (configure a patched kernel's number)",
                    k.name()
                );
            }
        }
    }
    ExitCode::SUCCESS
}

fn scratch() -> Result<Scratch, ExitCode> {
    let choice = match FS.get() {
        Some(c) => *c,
        None => match sys::scratch::FsChoice::from_env() {
            Ok(c) => c,
            Err(e) => return Err(fail(EXIT_BAD_INPUT, e)),
        },
    };
    Scratch::with_fs(choice).map_err(|e| {
        fail(
            EXIT_ENVIRONMENT,
            format!("cannot create the scratch roots: {e}"),
        )
    })
}

/// The io_uring submission paths to drive (`--mode`, else `RINGSPEC_MODES`,
/// else all); empty = syscalls only.
static MODES: std::sync::OnceLock<Vec<campaign::Submission>> = std::sync::OnceLock::new();

/// Set when io_uring could not be used: the command still checks the
/// syscalls but must not exit 0.
static URING_UNAVAILABLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn modes() -> &'static [campaign::Submission] {
    MODES.get_or_init(|| {
        let text = std::env::var("RINGSPEC_MODES").unwrap_or_else(|_| "all".into());
        campaign::Submission::parse_list(&text).unwrap_or_else(|e| {
            eprintln!("ringspec: RINGSPEC_MODES: {e}");
            std::process::exit(EXIT_BAD_INPUT.into());
        })
    })
}

/// The backends every command drives: the syscalls, then io_uring in each
/// mode; a mode that cannot be set up here is left out, said once on stderr
/// and recorded (the command must not exit 0).
fn targets(scratch: &Scratch) -> anyhow::Result<Vec<Target>> {
    let mut out = all_targets(scratch)?;
    out.retain(|t| match &t.unavailable {
        Some(why) => {
            eprintln!("ringspec: {}: {why}; not tested", t.name);
            URING_UNAVAILABLE.store(true, Ordering::SeqCst);
            false
        }
        None => true,
    });
    Ok(out)
}

/// The syscalls target and one io_uring target per requested mode, the
/// modes that cannot be set up here included (with their reason).
fn all_targets(scratch: &Scratch) -> anyhow::Result<Vec<Target>> {
    let mut out = vec![campaign::syscalls_target(scratch)];
    if !modes().is_empty() {
        match campaign::uring_targets_or_unavailable(scratch, modes()) {
            Ok(t) => out.extend(t),
            // Bad input: refuse before anything runs.
            Err(campaign::TargetError::Config(e)) => anyhow::bail!(e),
            Err(campaign::TargetError::Unavailable(e)) => {
                eprintln!("ringspec: io_uring unavailable, checking the syscalls only: {e}");
                URING_UNAVAILABLE.store(true, Ordering::SeqCst);
            }
        }
    }
    Ok(out)
}

/// Exit 0, unless io_uring was requested but unavailable (exit 3: not a pass).
fn success() -> ExitCode {
    if URING_UNAVAILABLE.load(Ordering::SeqCst) {
        fail(
            EXIT_ENVIRONMENT,
            "io_uring was not tested in every requested mode (see above); use --mode to choose the modes this machine can serve",
        )
    } else {
        ExitCode::SUCCESS
    }
}

/// The scratch area for `run` and `replay`: made fresh (stale ones of dead
/// runs removed first), or exit 3 (130/143 when interrupted while making
/// it, e.g. during mkfs).
fn scratch_or_exit() -> Result<Scratch, ExitCode> {
    let s = scratch();
    if sys::interrupt::requested() {
        return Err(interrupted(
            "stopped while setting up the scratch filesystem",
        ));
    }
    s
}

fn run(cfg: CampaignConfig, report: Format, save_dir: Option<PathBuf>) -> ExitCode {
    let scratch = match scratch_or_exit() {
        Ok(s) => s,
        Err(c) => return c,
    };
    let targets = match targets(&scratch) {
        Ok(t) => t,
        Err(e) => return fail(EXIT_BAD_INPUT, e),
    };
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    eprintln!(
        "ringspec run: seed {} on {} (kernel {:?}); targets: model vs {}",
        cfg.seed,
        scratch.describe(),
        oracle::profile::kernel_version(),
        names.join(", ")
    );
    let tty = std::io::stderr().is_terminal();
    let bar = match (tty, cfg.cases) {
        (true, Some(n)) => indicatif::ProgressBar::new(n),
        (true, None) => indicatif::ProgressBar::new_spinner(),
        (false, _) => indicatif::ProgressBar::hidden(),
    };
    let mut last_line = std::time::Instant::now();
    let mut progress = |s: &Stats| {
        bar.set_position(s.sequences);
        bar.set_message(format!(
            "{} agree, {} poisoned, {} diverged",
            s.agree, s.poisoned, s.diverged
        ));
        if !tty && last_line.elapsed() > Duration::from_secs(10) {
            eprintln!(
                "... {} sequences, {} agree, {} poisoned",
                s.sequences, s.agree, s.poisoned
            );
            last_line = std::time::Instant::now();
        }
    };
    let result = campaign::run(&cfg, &scratch, &targets, &mut progress);
    bar.finish_and_clear();
    match report {
        Format::Json => say!(
            "{}",
            serde_json::to_string_pretty(&result).expect("the result serializes")
        ),
        Format::Text => say_raw!("{}", campaign::table(&result.stats, &names)),
    }
    let origin = Origin::of(&cfg, &scratch);
    for f in &result.unconfirmed {
        let saved = save_finding(f, &origin, &std::env::temp_dir(), "unconfirmed");
        eprintln!(
            "UNCONFIRMED divergence on {} (0 of {} replays of its {}-op minimal sequence \
             diverged again; not a finding): {}",
            f.target,
            f.replays,
            f.ops.len(),
            first_line(&f.divergence.to_string())
        );
        match saved {
            Ok(path) => eprintln!("  sequence kept in {}", path.display()),
            Err(e) => eprintln!("  {e:#}"),
        }
    }
    if let Some(why) = &result.environment {
        return fail(
            EXIT_ENVIRONMENT,
            format!("the environment failed, not the kernel: {why}"),
        );
    }
    if let Some(f) = &result.finding {
        let dir = save_dir.unwrap_or_else(|| {
            let corpus = PathBuf::from("corpus/regressions");
            if corpus.is_dir() {
                corpus
            } else {
                PathBuf::from(".")
            }
        });
        eprintln!(
            "DIVERGENCE on {} (confirmed: {} of {} replays of the saved minimal sequence \
             diverged again): {}",
            f.target, f.reproduced, f.replays, f.divergence
        );
        eprintln!(
            "minimal sequence: {} ops (the failing sequence had {}; {} runs to minimize)",
            f.ops.len(),
            f.generated_len,
            f.minimize_tests
        );
        match save_finding(f, &origin, &dir, "found") {
            Ok(path) => eprintln!(
                "saved: {}\nreplay: ringspec replay {}\nC:      {}\nrerun:  {}",
                path.display(),
                path.display(),
                repro_hint(&path, &f.target, scratch.choice().name()),
                origin.rerun(f)
            ),
            Err(e) => eprintln!("{e:#}\nrerun:  {}", origin.rerun(f)),
        }
        return ExitCode::from(EXIT_FINDING);
    }
    if result.interrupted {
        return interrupted("nothing diverged before that");
    }
    if result.stats.sequences == 0 {
        return fail(EXIT_ENVIRONMENT, "no sequence ran");
    }
    success()
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

/// Where and how a campaign ran: what a saved finding records so that its
/// printed commands reproduce it.
struct Origin {
    fs: String,
    kernel: String,
    modes: Vec<&'static str>,
    kinds: Option<Vec<&'static str>>,
    max_len: usize,
    seed: u64,
}

impl Origin {
    fn of(cfg: &CampaignConfig, scratch: &Scratch) -> Origin {
        let all = oracle::gen::default_kinds();
        Origin {
            fs: scratch.choice().name().to_string(),
            kernel: backends::proposed::running_release(),
            modes: modes().iter().map(|m| m.name()).collect(),
            kinds: (cfg.kinds != all).then(|| cfg.kinds.iter().map(|k| k.name()).collect()),
            max_len: cfg.max_len,
            seed: cfg.seed,
        }
    }

    /// The `ringspec run` command that finds `f` again: same seed, enough
    /// sequences to reach its chunk, the same filesystem, modes, op kinds
    /// and longest sequence.
    fn rerun(&self, f: &campaign::Finding) -> String {
        let modes = if self.modes.is_empty() {
            "none".to_string()
        } else {
            self.modes.join(",")
        };
        let mut cmd = format!(
            "ringspec run --seed {} --cases {} --fs {} --mode {} --max-len {}",
            self.seed,
            f.after_sequences + campaign::CHUNK,
            self.fs,
            modes,
            self.max_len
        );
        if let Some(k) = &self.kinds {
            cmd.push_str(&format!(" --ops {}", k.join(",")));
        }
        cmd
    }
}

/// Writes `f` as a regression file `<prefix>-<fs>-<target>-<seed>-<n>.toml`
/// in `dir` (a `-2`, `-3`... suffix rather than overwriting an existing
/// file), recording the filesystem, target, kernel and the campaign command.
fn save_finding(
    f: &campaign::Finding,
    origin: &Origin,
    dir: &std::path::Path,
    prefix: &str,
) -> anyhow::Result<PathBuf> {
    let base = format!(
        "{prefix}-{}-{}-{}-{}",
        origin.fs,
        f.target.replace('/', "-"),
        f.seed,
        f.after_sequences
    );
    let (name, path) = (1..)
        .map(|n| match n {
            1 => base.clone(),
            n => format!("{base}-{n}"),
        })
        .map(|name| {
            let path = dir.join(format!("{name}.toml"));
            (name, path)
        })
        .find(|(_, path)| !path.exists())
        .expect("an unused name");
    let mut reg = Regression::from_finding(&name, Some(f.seed), &f.ops, &f.divergence);
    reg.fs = Some(origin.fs.clone());
    reg.target = Some(f.target.clone());
    reg.kernel = Some(origin.kernel.clone());
    reg.found_by = Some(origin.rerun(f));
    std::fs::write(&path, reg.to_toml())
        .with_context(|| format!("could not save {}", path.display()))?;
    Ok(path)
}

/// `ringspec replay`: loads every file first (a bad one is exit 2), then
/// runs each on its filesystem: `--fs`/RINGSPEC_FS for all of them when
/// given, else the one each file records (tmpfs when none); files of
/// several filesystems run in one child process per filesystem.
fn replay_cmd(files: &[PathBuf], fs: Option<String>, mode: Option<String>) -> ExitCode {
    let mut regs = Vec::new();
    for f in files {
        match Regression::load(f) {
            Ok(r) => regs.push((f.clone(), r)),
            Err(e) => return fail(EXIT_BAD_INPUT, e),
        }
    }
    if let Err(e) = check_uring_knobs(mode.as_deref()) {
        return fail(EXIT_BAD_INPUT, e);
    }
    let overridden =
        fs.is_some() || std::env::var("RINGSPEC_FS").is_ok_and(|v| !v.trim().is_empty());
    if overridden {
        return select_fs(fs).unwrap_or_else(|| replay(&regs));
    }
    // Group by the recorded filesystem.
    let mut groups: std::collections::BTreeMap<String, Vec<PathBuf>> = Default::default();
    for (path, r) in &regs {
        let fs = r.fs.clone().unwrap_or_else(|| "tmpfs".into());
        groups.entry(fs).or_default().push(path.clone());
    }
    if groups.len() == 1 {
        let fs = groups.into_keys().next().expect("one group");
        return select_fs(Some(fs)).unwrap_or_else(|| replay(&regs));
    }
    let mut runs = Vec::new();
    for (fs, paths) in groups {
        let mut args = vec!["replay".to_string(), format!("--fs={fs}")];
        if let Some(m) = &mode {
            args.push(format!("--mode={m}"));
        }
        args.extend(paths.iter().map(|p| p.display().to_string()));
        runs.push((fs, args));
    }
    run_children(runs)
}

/// Writes `text` to `output` (standard output when None) and says so.
fn write_repro(text: &str, output: Option<&std::path::Path>, what: &str) -> ExitCode {
    match output {
        None => print!("{text}"),
        Some(path) => {
            if let Err(e) = std::fs::write(path, text) {
                return fail(
                    EXIT_ENVIRONMENT,
                    format!("cannot write {}: {e}", path.display()),
                );
            }
            eprintln!(
                "ringspec: wrote {} ({what}); build and run as root: cc {} -o repro && ./repro",
                path.display(),
                path.display()
            );
        }
    }
    success()
}

fn repro_sqe_cmd(file: &std::path::Path, output: Option<&std::path::Path>) -> ExitCode {
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => return fail(EXIT_BAD_INPUT, format!("{}: {e}", file.display())),
    };
    let input = sqefuzz::sqe_fuzz::FuzzInput::from_bytes(&bytes);
    let command = format!("ringspec repro --sqe-fields {}", file.display());
    let name = file
        .file_name()
        .map_or("input".into(), |n| n.to_string_lossy().into_owned());
    repro_sqe_input(&input, &name, &command, output)
}

fn repro_sqe_input(
    input: &sqefuzz::sqe_fuzz::FuzzInput,
    name: &str,
    command: &str,
    output: Option<&std::path::Path>,
) -> ExitCode {
    if let Err(e) = sqefuzz::sqe_fuzz::sandbox_ready() {
        return fail(
            EXIT_ENVIRONMENT,
            format!("the sqe_fields sandbox cannot run here: {e}"),
        );
    }
    let trace = match sqefuzz::sqe_fuzz::trace(input) {
        Ok(t) => t,
        Err(e) => return fail(EXIT_ENVIRONMENT, e),
    };
    let text = repro::render_sqe_fields(&trace, name, command);
    let what = match &trace.verdict {
        Some(Ok(())) => "this run: as the table allows".to_string(),
        Some(Err(f)) => format!("this run: a finding [{}]", f.kind),
        None => "this run: no verdict".to_string(),
    };
    write_repro(&text, output, &what)
}

fn repro_cmd(
    file: &std::path::Path,
    target: Option<&str>,
    fs: Option<&str>,
    output: Option<&std::path::Path>,
) -> ExitCode {
    let reg = match Regression::load(file) {
        Ok(r) => r,
        Err(e) => return fail(EXIT_BAD_INPUT, e),
    };
    let plan = match repro::plan(&reg, &file.display().to_string(), target, fs) {
        Ok(p) => p,
        Err(e @ repro::PlanError::Environment(_)) => return fail(EXIT_ENVIRONMENT, e),
        Err(e @ repro::PlanError::Trace(_)) => return fail(EXIT_ENVIRONMENT, e),
        Err(e) => return fail(EXIT_BAD_INPUT, e),
    };
    let text = repro::render(&plan);
    let what = format!(
        "{} on {}; this run: {}",
        plan.target,
        plan.fs.name(),
        match &plan.verdict {
            oracle::differential::Verdict::Agree => "agrees".to_string(),
            oracle::differential::Verdict::Poisoned(_) => "poisoned".to_string(),
            oracle::differential::Verdict::Diverged(d) => format!("diverged: {d}"),
        }
    );
    write_repro(&text, output, &what)
}

/// The command that writes the C reproducer of a regression file.
fn repro_hint(file: &std::path::Path, target: &str, fs: &str) -> String {
    format!(
        "{} && cc repro.c -o repro && sudo ./repro",
        oracle::regression::repro_command(&file.display().to_string(), target, Some(fs))
    )
}

/// Writes a failed scenario case (its setup and run op) as a regression file
/// in the temp dir, so `ringspec replay` and `ringspec repro` take it.
fn save_scenario_case(
    sc: &oracle::scenario::Scenario,
    file: &str,
    target: &str,
    scratch: &Scratch,
    problems: &[String],
) -> anyhow::Result<PathBuf> {
    let mut ops = sc.setup.clone();
    ops.push(sc.run.clone());
    let fs = scratch.choice().name().to_string();
    let reg = Regression {
        name: format!("scenario_{}", sc.name),
        note: format!(
            "Scenario {} ({file}) failed on {target}: {}",
            sc.name,
            problems.join("; ")
        ),
        seed: None,
        only_fs: vec![],
        fs: Some(fs.clone()),
        target: Some(target.to_string()),
        kernel: Some(backends::proposed::running_release()),
        found_by: Some(format!("ringspec scenarios --filter {} (on {fs})", sc.name)),
        expect: Default::default(),
        agree_on: vec![],
        ops,
    };
    let path = std::env::temp_dir().join(format!(
        "ringspec-scenario-{}-{}.toml",
        sc.name,
        target.replace('/', "-")
    ));
    std::fs::write(&path, reg.to_toml())
        .map_err(|e| anyhow::anyhow!("cannot save {}: {e}", path.display()))?;
    Ok(path)
}

fn replay(regs: &[(PathBuf, Regression)]) -> ExitCode {
    let scratch = match scratch_or_exit() {
        Ok(s) => s,
        Err(c) => return c,
    };
    let targets = match targets(&scratch) {
        Ok(t) => t,
        Err(e) => return fail(EXIT_BAD_INPUT, e),
    };
    let kernel = backends::proposed::running_release();
    let fs_name = scratch.choice().name();
    let (mut failed, mut ran, mut skipped) = (0, 0, Vec::new());
    for (i, (path, r)) in regs.iter().enumerate() {
        if let Some(k) = r.kernel.as_deref().filter(|k| *k != kernel) {
            eprintln!(
                "ringspec: {} was found on kernel {k}; replaying on {kernel}",
                path.display()
            );
        }
        if let Some(t) = &r.target {
            if !targets.iter().any(|x| &x.name == t) {
                eprintln!(
                    "ringspec: {} diverged on {t}, which this replay does not run (see --mode)",
                    path.display()
                );
            }
        }
        for t in &targets {
            if sys::interrupt::requested() {
                return interrupted("the replay stopped");
            }
            if !r.only_fs.is_empty() && !r.only_fs.iter().any(|f| f == fs_name) {
                say!(
                    "SKIP {} on {} ({fs_name}): only on {}",
                    path.display(),
                    t.name,
                    r.only_fs.join(", ")
                );
                skipped.push(format!(
                    "{} is only for {}",
                    path.display(),
                    r.only_fs.join(", ")
                ));
                continue;
            }
            match campaign::run_one(&scratch, &format!("replay{i}"), t, &r.ops) {
                Err(e) => return fail(EXIT_ENVIRONMENT, e),
                Ok(res) => {
                    ran += 1;
                    match r.judge(&t.name, &res.verdict) {
                        Ok(()) => say!("ok   {} on {} ({fs_name})", path.display(), t.name),
                        Err(e) => {
                            failed += 1;
                            say!("FAIL {} on {} ({fs_name}): {e}", path.display(), t.name);
                            say!("  C reproducer: {}", repro_hint(path, &t.name, fs_name));
                        }
                    }
                }
            }
        }
    }
    if failed > 0 {
        if let Err(why) = scratch.health() {
            return fail(
                EXIT_ENVIRONMENT,
                format!("the environment failed, not the kernel: {why}"),
            );
        }
        return ExitCode::from(EXIT_FINDING);
    }
    if ran == 0 {
        skipped.dedup();
        return fail(
            EXIT_ENVIRONMENT,
            format!(
                "nothing was replayed on {fs_name}: {} (use --fs)",
                skipped.join("; ")
            ),
        );
    }
    success()
}

fn scenarios(filter: &str, dir: Option<PathBuf>) -> ExitCode {
    let dir = dir.unwrap_or_else(|| oracle::corpus_dir().join("scenarios"));
    let all = match load_dir(&dir) {
        Ok(a) => a,
        Err(e) => return fail(EXIT_BAD_INPUT, e),
    };
    let scratch = match scratch() {
        Ok(s) => s,
        Err(c) => return c,
    };
    let targets = match targets(&scratch) {
        Ok(t) => t,
        Err(e) => return fail(EXIT_BAD_INPUT, e),
    };
    let (mut pass, mut failed, mut skipped, mut known, mut not_judged) = (0, 0, 0, 0, 0);
    for (i, (file, sc)) in all.iter().enumerate() {
        if !matches_filter(&sc.name, filter) {
            continue;
        }
        for t in &targets {
            let roots = match scratch.roots(&format!("sc{i}")) {
                Ok(r) => r,
                Err(e) => return fail(EXIT_ENVIRONMENT, e),
            };
            let result = match sc.under_fsize_limit(|| t.run_scenario(sc, roots)) {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => return fail(EXIT_ENVIRONMENT, e),
                Err(e) => return fail(EXIT_ENVIRONMENT, e),
            };
            match result {
                ScenarioResult::Pass => pass += 1,
                ScenarioResult::Skipped(why) => {
                    skipped += 1;
                    say!("SKIP {file}.toml {} on {}: {why}", sc.name, t.name);
                }
                ScenarioResult::KnownBug(why) => {
                    known += 1;
                    say!("KNOWN BUG {file}.toml {} on {}: {why}", sc.name, t.name);
                }
                // Neither a pass nor a failure: the model cannot judge it here.
                ScenarioResult::NotJudged(why) => {
                    not_judged += 1;
                    say!("NOT JUDGED {file}.toml {} on {}: {why}", sc.name, t.name);
                }
                ScenarioResult::Fail(problems) => {
                    failed += 1;
                    say!(
                        "FAIL {file}.toml {} on {}:\n    {}",
                        sc.name,
                        t.name,
                        problems.join("\n    ")
                    );
                    if sc.fsize_limit.is_some() {
                        say!(
                            "  no sequence file: the case runs under an RLIMIT_FSIZE, \
                             which regression files do not carry"
                        );
                        continue;
                    }
                    match save_scenario_case(
                        sc,
                        &format!("{file}.toml"),
                        &t.name,
                        &scratch,
                        &problems,
                    ) {
                        Ok(path) => say!(
                            "  as a sequence: {}\n  C reproducer (judged by the model): {}",
                            path.display(),
                            repro_hint(&path, &t.name, scratch.choice().name())
                        ),
                        Err(e) => say!("  {e:#}"),
                    }
                }
            }
        }
    }
    say!("scenarios: {pass} passed, {failed} failed, {skipped} skipped, {known} hit a known kernel bug, {not_judged} not judged by the model");
    if failed > 0 {
        ExitCode::from(EXIT_FINDING)
    } else if pass + not_judged == 0 {
        fail(EXIT_BAD_INPUT, "no scenario matched")
    } else {
        success()
    }
}

/// The suite's knobs, shared by `suite` and `gate`.
#[derive(clap::Args, Clone)]
struct SuiteArgs {
    /// Campaign seed.
    #[arg(long, default_value_t = 0x5eed_2026)]
    seed: u64,
    /// Campaign sequences per target and filesystem (0: scenarios only; at
    /// most 1000000).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    cases: u64,
    /// Longest generated sequence body (1 to 10000).
    #[arg(long, default_value_t = 40, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    max_len: usize,
    /// Comma-separated filesystems: tmpfs, ext4, xfs, btrfs, or all.
    #[arg(long, value_delimiter = ',', default_value = "tmpfs")]
    fs: Vec<String>,
    /// The scenarios directory (default: the repository's corpus/scenarios).
    #[arg(long)]
    scenarios: Option<PathBuf>,
    /// Scenario name filter (`-x` excludes).
    #[arg(long, default_value = "")]
    filter: String,
    /// Instead of the scenarios, the campaign and the SQE sweep: run the
    /// libFuzzer target TARGET (sqe_fields or sequences) from its seed
    /// corpus (corpus/fuzz/TARGET) for DURATION twice, with kernel coverage
    /// fed to libFuzzer and without, and report the kernel edges each
    /// reached over time (the kernel needs KCOV: gate --build-kernel
    /// --fuzz merges kernel/gate-kcov.config). Repeatable.
    #[arg(long, value_name = "TARGET:DURATION")]
    fuzz: Vec<String>,
    /// With --fuzz: the directory of the fuzz binaries (default: the gate
    /// builds them with `cargo fuzz build -O` into $CARGO_TARGET_DIR or
    /// fuzz/target; `suite` expects them there).
    #[arg(long, value_name = "DIR", requires = "fuzz")]
    fuzz_bin: Option<PathBuf>,
    /// With --fuzz: start both runs from an empty corpus instead of the
    /// committed seeds (under TCG a run of minutes does not get through
    /// the seeds, and while they replay feedback changes nothing).
    #[arg(long, requires = "fuzz")]
    fuzz_empty_corpus: bool,
}

impl SuiteArgs {
    fn config(&self) -> anyhow::Result<gate::suite::SuiteConfig> {
        let mut filesystems = Vec::new();
        for name in &self.fs {
            if name == "all" {
                filesystems.extend(sys::scratch::FsChoice::ALL);
                continue;
            }
            let choice: sys::scratch::FsChoice = name.parse().map_err(|_| {
                anyhow::anyhow!("unknown filesystem {name:?} (tmpfs, ext4, xfs, btrfs or all)")
            })?;
            filesystems.push(choice);
        }
        let mut seen = Vec::new();
        filesystems.retain(|f| {
            let first = !seen.contains(f);
            seen.push(*f);
            first
        });
        let fuzz = self
            .fuzz
            .iter()
            .map(|s| {
                gate::fuzz::FuzzSpec::parse(s, |d| parse_duration(d).map_err(|e| e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!(e))?;
        // Absolute: the guest runs them from its own working directory.
        let fuzz_bin = match &self.fuzz_bin {
            Some(d) => {
                std::fs::canonicalize(d).with_context(|| format!("--fuzz-bin {}", d.display()))?
            }
            None => gate::fuzz::bin_dir(&gate::fuzz::default_target_dir()),
        };
        let scenarios_dir = self
            .scenarios
            .clone()
            .unwrap_or_else(|| oracle::corpus_dir().join("scenarios"));
        // Absolute: the guest resolves it from its own working directory.
        let scenarios_dir = std::fs::canonicalize(&scenarios_dir)
            .with_context(|| format!("scenarios directory {}", scenarios_dir.display()))?;
        Ok(gate::suite::SuiteConfig {
            seed: self.seed,
            cases: self.cases,
            max_len: self.max_len,
            filesystems,
            scenarios_dir,
            filter: self.filter.clone(),
            // RINGSPEC_SQE_SWEEP=0 leaves the SQE rule sweep out.
            sqe_sweep: std::env::var("RINGSPEC_SQE_SWEEP").map_or(true, |v| v != "0"),
            checkpoint: None,
            fuzz,
            fuzz_bin,
            fuzz_empty_corpus: self.fuzz_empty_corpus,
        })
    }
}

fn suite_cmd(out: &std::path::Path, args: &SuiteArgs) -> ExitCode {
    use gate::{Status, EXIT_FAIL, EXIT_INFRA};
    // Bad input is refused before the suite runs (one line, exit 2).
    let mut cfg = match args.config() {
        Ok(c) => c,
        Err(e) => return fail(EXIT_INFRA, e),
    };
    cfg.checkpoint = Some(out.to_path_buf());
    if let Err(e) = gate::suite::check_out_file(out) {
        return fail(EXIT_INFRA, e);
    }
    let result = gate::suite::run_suite(&cfg, &gate_targets);
    if let Err(e) = gate::suite::write_result(&result, out) {
        return fail(EXIT_INFRA, format!("cannot write {}: {e}", out.display()));
    }
    let totals = result.totals();
    let n = |s: Status| totals.get(&s).copied().unwrap_or(0);
    eprintln!(
        "ringspec suite: {} rows: {} pass, {} fail, {} unsupported, {} not judged ({:.1} s); \
         result in {}",
        result.rows.len(),
        n(Status::Pass),
        n(Status::Fail),
        n(Status::Unsupported),
        n(Status::NotJudged),
        result.seconds,
        out.display()
    );
    if !result.problems.is_empty() {
        return fail(EXIT_INFRA, result.problems.join("; "));
    }
    if n(Status::Fail) > 0 {
        return ExitCode::from(EXIT_FAIL);
    }
    ExitCode::SUCCESS
}

/// `ringspec sqe-check`: the SQE rule sweep ([`sqefuzz::sqe_sweep`]).
fn sqe_check(json: bool) -> ExitCode {
    let report = match sqefuzz::sqe_fuzz::sweep() {
        Ok(r) => r,
        Err(e) => return fail(EXIT_ENVIRONMENT, format!("sqe-check cannot run: {e}")),
    };
    if json {
        say!(
            "{}",
            serde_json::to_string_pretty(&report).expect("the report serializes")
        );
    } else {
        say_raw!("{}", report.text());
    }
    if report.failing().next().is_some() {
        return ExitCode::from(EXIT_FINDING);
    }
    ExitCode::SUCCESS
}

/// [`targets`] for the suite: every requested mode, those the kernel cannot
/// serve included (the suite reports them as unavailable, never drops them).
fn gate_targets(scratch: &Scratch) -> Result<Vec<Target>, gate::suite::TargetsError> {
    // The suite records the error's text: the whole chain, on one line.
    let t = all_targets(scratch).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    if URING_UNAVAILABLE.load(Ordering::SeqCst) {
        return Err(anyhow::anyhow!(
            "the io_uring targets could not be set up (see the message above)"
        )
        .into());
    }
    Ok(t)
}

struct GateArgs {
    kernel: String,
    build_kernel: Option<PathBuf>,
    patches: Option<PathBuf>,
    debug_kernel: bool,
    coverage: bool,
    build_only: bool,
    baseline: Option<PathBuf>,
    no_baseline: bool,
    out: PathBuf,
    modules: Option<PathBuf>,
    timeout: Duration,
    memory: String,
    cpus: u32,
    kvm: bool,
    vng: PathBuf,
    append: Option<String>,
    suite: SuiteArgs,
}

fn gate_cmd(a: GateArgs) -> ExitCode {
    use gate::{self, BaselineChoice, KernelChoice, EXIT_INFRA};
    // Bad input is refused before any work (a kernel build, a boot, the
    // suite): one line, exit 2, no report.
    let suite = match a.suite.config() {
        Ok(c) => c,
        Err(e) => return fail(EXIT_INFRA, e),
    };
    let baseline = match (a.baseline, a.no_baseline) {
        (Some(p), _) => BaselineChoice::File(p),
        (None, true) => BaselineChoice::Off,
        (None, false) => BaselineChoice::Auto,
    };
    if let Err(e) = baseline.load() {
        return fail(EXIT_INFRA, e);
    }
    if a.coverage {
        // Before the build: a missing tool must not cost a kernel build.
        if let Err(e) = gate::coverage::check_tools() {
            return fail(EXIT_INFRA, e);
        }
    }
    let mut suite = suite;
    let mut baseline = baseline;
    if !suite.fuzz.is_empty() {
        // The fuzz rows are no baseline's: an automatic one would call the
        // suite's missing rows regressions.
        if baseline == BaselineChoice::Auto {
            baseline = BaselineChoice::Off;
        }
        let needed = gate::fuzz::total_time(&suite.fuzz) + Duration::from_secs(600);
        if needed > a.timeout {
            return fail(
                EXIT_INFRA,
                format!(
                    "--fuzz needs up to {} s in the guest (two runs of each target with their \
                     grace, plus boot) but --timeout is {} s: raise --timeout",
                    needed.as_secs(),
                    a.timeout.as_secs()
                ),
            );
        }
    }
    let mut modules = a.modules;
    let image = match (&a.build_kernel, a.kernel.as_str()) {
        (Some(_), _) | (None, "host") => None,
        (None, k) => {
            let p = PathBuf::from(k);
            if p.is_dir() {
                // A directory from scripts/fetch-kernels.sh: its image and modules.
                if modules.is_none() && p.join("lib/modules").is_dir() {
                    modules = Some(p.clone());
                }
                Some(p.join("vmlinuz"))
            } else {
                Some(p)
            }
        }
    };
    let vm = gate::vm::VmConfig {
        modules,
        timeout: a.timeout,
        memory: a.memory,
        cpus: a.cpus,
        kvm: a.kvm,
        vng: a.vng,
        append: a.append,
        ..gate::vm::VmConfig::default()
    };
    let in_vm = a.build_kernel.is_some() || image.is_some();
    if let Err(e) = gate::check_out_dir(&a.out, in_vm) {
        return fail(EXIT_INFRA, e);
    }
    if in_vm {
        if let Err(e) = vm.check() {
            return fail(EXIT_INFRA, e);
        }
    }
    if let Some(image) = &image {
        if let Err(e) = gate::vm::check_image(image) {
            return fail(EXIT_INFRA, e);
        }
    }
    if let Some(dir) = a
        .build_kernel
        .iter()
        .chain(&a.patches)
        .find(|d| !d.is_dir())
    {
        return fail(
            EXIT_INFRA,
            format!(
                "{}: not a directory (--build-kernel takes a kernel source tree, \
                 scripts/build-gate-kernel.sh prints one; --patches a directory of *.patch)",
                dir.display()
            ),
        );
    }
    let mut coverage = None;
    let kernel = if let Some(src) = &a.build_kernel {
        let started = std::time::Instant::now();
        let mut build = gate::build::BuildOptions::new(src.clone());
        build.patches = a.patches.clone();
        if a.debug_kernel {
            build.fragments.push(gate::build::debug_fragment());
        }
        if !suite.fuzz.is_empty() {
            build.fragments.push(gate::build::kcov_fragment());
        }
        if a.coverage {
            build.fragments.push(gate::build::coverage_fragment());
            let mut touched = Vec::new();
            if let Some(dir) = &a.patches {
                for p in gate::build::list_patches(dir).unwrap_or_default() {
                    if let Ok(text) = std::fs::read_to_string(&p) {
                        touched.extend(gate::build::touched_files(&text));
                    }
                }
            }
            build.make_vars = gate::coverage::profile_make_vars(src, &touched);
        }
        match gate::build::build_kernel(&build) {
            Ok(built) => {
                if a.coverage {
                    coverage = Some(gate::coverage::CoverageOptions {
                        tree: built.tree.clone(),
                        build_dir: built.build_dir.clone(),
                        patches: a.patches.clone(),
                    });
                }
                eprintln!(
                    "ringspec gate: kernel {} {} in {:.1} s",
                    built.release,
                    if built.cached {
                        "from the cache"
                    } else {
                        "built"
                    },
                    built.seconds
                );
                if a.build_only {
                    say_raw!("{}\n", built.image.display());
                    return ExitCode::SUCCESS;
                }
                KernelChoice::Image(built.image)
            }
            Err(e) => {
                match gate::build::write_failure_reports(&a.out, src, &e, started.elapsed()) {
                    Ok(summary) => say_raw!("{summary}"),
                    Err(w) => eprintln!("ringspec gate: {w}"),
                }
                return fail(EXIT_INFRA, e);
            }
        }
    } else {
        match image {
            Some(p) => KernelChoice::Image(p),
            None => KernelChoice::Host,
        }
    };
    if !suite.fuzz.is_empty() && a.suite.fuzz_bin.is_none() {
        match gate::fuzz::build(&gate::fuzz::default_target_dir()) {
            Ok(dir) => suite.fuzz_bin = dir,
            Err(e) => return fail(EXIT_INFRA, e),
        }
    }
    let opts = gate::GateOptions {
        kernel,
        baseline,
        out: a.out,
        suite,
        vm,
        coverage,
    };
    match gate::run_gate(&opts, &gate_targets) {
        Err(e) => fail(EXIT_INFRA, e),
        Ok(outcome) => {
            say_raw!("{}", outcome.summary);
            for f in &outcome.files {
                eprintln!("ringspec gate: wrote {}", f.display());
            }
            ExitCode::from(outcome.report.exit_code)
        }
    }
}
