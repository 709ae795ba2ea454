//! `ringspec`: the differential check of Linux filesystem ops (model vs
//! synchronous syscalls vs io_uring) on the running kernel.
//!
//! Exit codes: 0 everything agreed; 1 a divergence or a failed scenario or
//! replay (a finding); 2 bad input (arguments, corrupt files); 3 the
//! environment cannot run the check (no scratch, io_uring unusable);
//! 130 interrupted.

use clap::{Parser, Subcommand, ValueEnum};
use model::OpKind;
use oracle::campaign::{self, CampaignConfig, Stats, Target};
use oracle::regression::Regression;
use oracle::scenario::{load_dir, matches_filter, ScenarioResult};
use oracle::scratch::Scratch;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

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
        /// Seed of the campaign (printed; the same seed replays it).
        #[arg(long, default_value_t = 0x5eed_2026)]
        seed: u64,
        /// Number of sequences.
        #[arg(long)]
        cases: Option<u64>,
        /// Time budget, e.g. 90s, 5m.
        #[arg(long, value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Comma-separated op kinds to draw from (default: all).
        #[arg(long, value_delimiter = ',')]
        ops: Vec<String>,
        /// Longest generated sequence body.
        #[arg(long, default_value_t = 40)]
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
    /// Replay regression files.
    Replay {
        /// Files to replay.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Scratch filesystem: tmpfs, ext4, xfs, btrfs or all.
        #[arg(long)]
        fs: Option<String>,
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
        /// Comma-separated name filter (`-x` excludes).
        #[arg(long, default_value = "")]
        filter: String,
        /// The scenarios directory.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Scratch filesystem: tmpfs, ext4, xfs, btrfs or all.
        #[arg(long)]
        fs: Option<String>,
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
        suite: SuiteArgs,
    },
    /// Gate a kernel: boot IMAGE under QEMU with virtme-ng (or gate the running
    /// kernel in place with `--kernel host`), run the suite, write report.json,
    /// results.ktap, junit.xml and summary.md, compare with a baseline. Exit 0
    /// passed, 1 a regression or divergence, 2 infrastructure failure or bad
    /// arguments (never mixed).
    Gate {
        /// A kernel image, a directory from scripts/fetch-kernels.sh (its
        /// vmlinuz and modules), or "host" for the running kernel.
        #[arg(long, default_value = "host")]
        kernel: String,
        /// Build the kernel to gate from this source tree instead (x86_64):
        /// tinyconfig plus kernel/gate.config, everything built in, `make
        /// bzImage` into ~/.cache/ringspec/build (RINGSPEC_BUILD_CACHE); an
        /// unchanged build is reused. A failed build is exit 2.
        #[arg(long, value_name = "SRC_DIR", conflicts_with_all = ["kernel", "modules"])]
        build_kernel: Option<PathBuf>,
        /// With --build-kernel: apply DIR's git format-patch files (*.patch,
        /// *.diff, in name order, `patch -p1`) first; one that does not apply
        /// is exit 2. SRC_DIR itself is left untouched.
        #[arg(long, value_name = "DIR", requires = "build_kernel")]
        patches: Option<PathBuf>,
        /// Baseline to compare with (default: corpus/baselines/<release>.json
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
        suite: SuiteArgs,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("bad duration {s:?} (use 90s, 5m, 1h)"))?;
    match unit {
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!("bad duration unit in {s:?} (use s, m or h)")),
    }
}

/// println! that ignores a closed stdout (`ringspec probe | head`) instead of
/// panicking: the process ignores SIGPIPE so that EPIPE is observable in ops.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// print! counterpart of [`say!`].
macro_rules! say_raw {
    ($($t:tt)*) => {{
        use std::io::Write;
        let _ = write!(std::io::stdout(), $($t)*);
    }};
}

fn fail(code: u8, msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("ringspec: {msg}");
    ExitCode::from(code)
}

extern "C" fn on_sigint(_: libc::c_int) {
    campaign::STOP.store(true, Ordering::SeqCst);
}

/// The scratch filesystem of this process (`--fs`, else RINGSPEC_FS).
static FS: std::sync::OnceLock<oracle::scratch::FsChoice> = std::sync::OnceLock::new();

/// Handles `--fs`: one filesystem is recorded for [`scratch`]; `all` reruns
/// this very command once per filesystem in child processes (each gets its
/// own mount namespace and cleanup) and returns the most severe exit code:
/// a finding over the environment over bad input.
fn select_fs(fs: Option<String>) -> Option<ExitCode> {
    use oracle::scratch::FsChoice;
    let text = fs?;
    if text != "all" {
        match text.parse::<FsChoice>() {
            Ok(c) => {
                let _ = FS.set(c);
                return None;
            }
            Err(e) => return Some(fail(EXIT_BAD_INPUT, e)),
        }
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return Some(fail(EXIT_ENVIRONMENT, e)),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut worst = 0u8;
    for choice in FsChoice::ALL {
        eprintln!("=== ringspec on {}", choice.name());
        let mut child_args = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            if a == "--fs" {
                it.next();
                child_args.push(format!("--fs={}", choice.name()));
            } else if a.starts_with("--fs=") {
                child_args.push(format!("--fs={}", choice.name()));
            } else {
                child_args.push(a.clone());
            }
        }
        let code = match std::process::Command::new(&exe).args(&child_args).status() {
            Ok(st) => st.code().unwrap_or(EXIT_INTERRUPTED as i32) as u8,
            Err(e) => return Some(fail(EXIT_ENVIRONMENT, e)),
        };
        let rank = |c: u8| match c {
            0 => 0,
            EXIT_BAD_INPUT => 1,
            EXIT_ENVIRONMENT => 2,
            EXIT_INTERRUPTED => 3,
            _ => 4,
        };
        if rank(code) > rank(worst) {
            worst = code;
        }
    }
    Some(ExitCode::from(worst))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    // An inherited `ulimit -f` is part of the profile (the model predicts
    // EFBIG); without this, the first write past it would kill the process.
    oracle::rlimit::ignore_sigxfsz();
    match cli.command {
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
            if let Some(code) = select_fs(fs) {
                return code;
            }
            if let Some(m) = mode {
                match campaign::Submission::parse_list(&m) {
                    Ok(v) => {
                        let _ = MODES.set(v);
                    }
                    Err(e) => return fail(EXIT_BAD_INPUT, e),
                }
            }
            let kinds = if ops.is_empty() {
                oracle::gen::default_kinds()
            } else {
                let mut kinds = Vec::new();
                for name in &ops {
                    match OpKind::from_name(name) {
                        Some(k) => kinds.push(k),
                        None => {
                            let all: Vec<&str> = OpKind::ALL.iter().map(|k| k.name()).collect();
                            return fail(
                                EXIT_BAD_INPUT,
                                format!("unknown op kind {name:?}; known: {}", all.join(", ")),
                            );
                        }
                    }
                }
                kinds
            };
            let cfg = CampaignConfig {
                seed,
                // The main job's default budget: about 40 seconds here.
                cases: cases.or(if duration.is_none() { Some(1000) } else { None }),
                duration,
                kinds,
                max_len,
            };
            run(cfg, report, save_dir)
        }
        Command::Replay { files, fs } => select_fs(fs).unwrap_or_else(|| replay(&files)),
        Command::Scenarios { filter, dir, fs } => {
            select_fs(fs).unwrap_or_else(|| scenarios(&filter, dir))
        }
        Command::Suite { out, suite } => suite_cmd(&out, &suite),
        Command::SqeCheck { json } => sqe_check(json),
        Command::Gate {
            kernel,
            build_kernel,
            patches,
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
        }),
    }
}

fn probe(report: Format) -> ExitCode {
    let p = match oracle::probe::probe() {
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
        None => match oracle::scratch::FsChoice::from_env() {
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
fn targets(scratch: &Scratch) -> Result<Vec<Target>, String> {
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
fn all_targets(scratch: &Scratch) -> Result<Vec<Target>, String> {
    let mut out = vec![campaign::syscalls_target(scratch)];
    if !modes().is_empty() {
        match campaign::uring_targets_or_unavailable(scratch, modes()) {
            Ok(t) => out.extend(t),
            // Bad input: refuse before anything runs.
            Err(campaign::TargetError::Config(e)) => return Err(e),
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

fn run(cfg: CampaignConfig, report: Format, save_dir: Option<PathBuf>) -> ExitCode {
    let scratch = match scratch() {
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
        Format::Json => say!("{}", serde_json::to_string_pretty(&result).expect("json")),
        Format::Text => say_raw!("{}", campaign::table(&result.stats, &names)),
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
        let name = format!(
            "found-{}-{}-{}",
            f.target.replace('/', "-"),
            f.seed,
            f.after_sequences
        );
        let path = dir.join(format!("{name}.toml"));
        let reg = Regression::from_finding(&name, Some(f.seed), &f.ops, &f.divergence);
        let saved = std::fs::write(&path, reg.to_toml());
        eprintln!("DIVERGENCE on {}: {}", f.target, f.divergence);
        match saved {
            Ok(()) => eprintln!(
                "minimal sequence saved: {}\nreplay: ringspec replay {}\nrerun:  ringspec run --seed {} --cases {}",
                path.display(),
                path.display(),
                f.seed,
                f.after_sequences + 50
            ),
            Err(e) => eprintln!("could not save {}: {e}", path.display()),
        }
        return ExitCode::from(EXIT_FINDING);
    }
    if result.interrupted {
        return fail(
            EXIT_INTERRUPTED,
            "interrupted; nothing diverged before that (not a pass)",
        );
    }
    if result.stats.sequences == 0 {
        return fail(EXIT_ENVIRONMENT, "no sequence ran");
    }
    success()
}

fn replay(files: &[PathBuf]) -> ExitCode {
    let mut regs = Vec::new();
    for f in files {
        match Regression::load(f) {
            Ok(r) => regs.push((f, r)),
            Err(e) => return fail(EXIT_BAD_INPUT, e),
        }
    }
    let scratch = match scratch() {
        Ok(s) => s,
        Err(c) => return c,
    };
    let targets = match targets(&scratch) {
        Ok(t) => t,
        Err(e) => return fail(EXIT_BAD_INPUT, e),
    };
    let mut failed = 0;
    for (i, (path, r)) in regs.iter().enumerate() {
        for t in &targets {
            if !r.only_fs.is_empty() && !r.only_fs.iter().any(|f| f == t.profile.fs.kind.name()) {
                say!(
                    "SKIP {} on {}: only on {}",
                    path.display(),
                    t.name,
                    r.only_fs.join(", ")
                );
                continue;
            }
            match campaign::run_one(&scratch, &format!("replay{i}"), t, &r.ops) {
                Err(e) => return fail(EXIT_ENVIRONMENT, e),
                Ok(res) => match r.judge(&res.verdict) {
                    Ok(()) => say!("ok   {} on {}", path.display(), t.name),
                    Err(e) => {
                        failed += 1;
                        say!("FAIL {} on {}: {e}", path.display(), t.name);
                    }
                },
            }
        }
    }
    if failed > 0 {
        return ExitCode::from(EXIT_FINDING);
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
            let result = match sc
                .under_fsize_limit(|| t.run_scenario(sc, roots))
                .and_then(|r| r)
            {
                Ok(r) => r,
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
}

impl SuiteArgs {
    fn config(&self) -> Result<oracle::gate::suite::SuiteConfig, String> {
        let mut filesystems = Vec::new();
        for name in &self.fs {
            if name == "all" {
                filesystems.extend(oracle::scratch::FsChoice::ALL);
                continue;
            }
            let choice: oracle::scratch::FsChoice = name.parse().map_err(|_| {
                format!("unknown filesystem {name:?} (tmpfs, ext4, xfs, btrfs or all)")
            })?;
            filesystems.push(choice);
        }
        let mut seen = Vec::new();
        filesystems.retain(|f| {
            let first = !seen.contains(f);
            seen.push(*f);
            first
        });
        let scenarios_dir = self
            .scenarios
            .clone()
            .unwrap_or_else(|| oracle::corpus_dir().join("scenarios"));
        // Absolute: the guest resolves it from its own working directory.
        let scenarios_dir = std::fs::canonicalize(&scenarios_dir)
            .map_err(|e| format!("scenarios directory {}: {e}", scenarios_dir.display()))?;
        Ok(oracle::gate::suite::SuiteConfig {
            seed: self.seed,
            cases: self.cases,
            max_len: self.max_len,
            filesystems,
            scenarios_dir,
            filter: self.filter.clone(),
            // RINGSPEC_SQE_SWEEP=0 leaves the SQE rule sweep out.
            sqe_sweep: std::env::var("RINGSPEC_SQE_SWEEP").map_or(true, |v| v != "0"),
        })
    }
}

fn suite_cmd(out: &std::path::Path, args: &SuiteArgs) -> ExitCode {
    use oracle::gate::{Status, EXIT_FAIL, EXIT_INFRA};
    // Bad input is refused before the suite runs (one line, exit 2).
    let cfg = match args.config() {
        Ok(c) => c,
        Err(e) => return fail(EXIT_INFRA, e),
    };
    if let Err(e) = oracle::gate::suite::check_out_file(out) {
        return fail(EXIT_INFRA, e);
    }
    let result = oracle::gate::suite::run_suite(&cfg, &gate_targets);
    if let Err(e) = oracle::gate::suite::write_result(&result, out) {
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

/// `ringspec sqe-check`: the SQE rule sweep ([`oracle::sqe_sweep`]).
fn sqe_check(json: bool) -> ExitCode {
    let report = match oracle::sqe_fuzz::sweep() {
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
fn gate_targets(scratch: &Scratch) -> Result<Vec<Target>, String> {
    let t = all_targets(scratch)?;
    if URING_UNAVAILABLE.load(Ordering::SeqCst) {
        return Err("the io_uring targets could not be set up (see the message above)".into());
    }
    Ok(t)
}

struct GateArgs {
    kernel: String,
    build_kernel: Option<PathBuf>,
    patches: Option<PathBuf>,
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
    use oracle::gate::{self, BaselineChoice, KernelChoice, EXIT_INFRA};
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
    let kernel = if let Some(src) = &a.build_kernel {
        let started = std::time::Instant::now();
        let mut build = gate::build::BuildOptions::new(src.clone());
        build.patches = a.patches.clone();
        match gate::build::build_kernel(&build) {
            Ok(built) => {
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
    let opts = gate::GateOptions {
        kernel,
        baseline,
        out: a.out,
        suite,
        vm,
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
