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
        /// Output format of the final report.
        #[arg(long, value_enum, default_value = "text")]
        report: Format,
        /// Where to save a minimized finding (default: corpus/regressions when
        /// run from the repository, else the current directory).
        #[arg(long)]
        save_dir: Option<PathBuf>,
    },
    /// Replay regression files.
    Replay {
        /// Files to replay.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run the scenario corpus through the model and the kernel.
    Scenarios {
        /// Comma-separated name filter (`-x` excludes).
        #[arg(long, default_value = "")]
        filter: String,
        /// The scenarios directory.
        #[arg(long)]
        dir: Option<PathBuf>,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(
            libc::SIGINT,
            on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t,
        );
    }
    match cli.command {
        Command::Probe { report } => probe(report),
        Command::Run {
            seed,
            cases,
            duration,
            ops,
            max_len,
            report,
            save_dir,
        } => {
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
                // The main job's default budget: about ten seconds here.
                cases: cases.or(if duration.is_none() { Some(2000) } else { None }),
                duration,
                kinds,
                max_len,
            };
            run(cfg, report, save_dir)
        }
        Command::Replay { files } => replay(&files),
        Command::Scenarios { filter, dir } => scenarios(&filter, dir),
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
    Scratch::new().map_err(|e| {
        fail(
            EXIT_ENVIRONMENT,
            format!("cannot create the scratch roots: {e}"),
        )
    })
}

fn targets(scratch: &Scratch) -> Vec<Target> {
    vec![campaign::syscalls_target(scratch)]
}

fn run(cfg: CampaignConfig, report: Format, save_dir: Option<PathBuf>) -> ExitCode {
    let scratch = match scratch() {
        Ok(s) => s,
        Err(c) => return c,
    };
    let targets = targets(&scratch);
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
    ExitCode::SUCCESS
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
    let targets = targets(&scratch);
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
    ExitCode::SUCCESS
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
    let targets = targets(&scratch);
    let (mut pass, mut failed, mut skipped) = (0, 0, 0);
    for (i, (file, sc)) in all.iter().enumerate() {
        if !matches_filter(&sc.name, filter) {
            continue;
        }
        for t in &targets {
            let roots = match scratch.roots(&format!("sc{i}")) {
                Ok(r) => r,
                Err(e) => return fail(EXIT_ENVIRONMENT, e),
            };
            let mut backend = match (t.make)(roots) {
                Ok(b) => b,
                Err(e) => return fail(EXIT_ENVIRONMENT, e),
            };
            match sc.run(&t.profile, backend.as_mut()) {
                ScenarioResult::Pass => pass += 1,
                ScenarioResult::Skipped(why) => {
                    skipped += 1;
                    say!("SKIP {file}.toml {} on {}: {why}", sc.name, t.name);
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
    say!("scenarios: {pass} passed, {failed} failed, {skipped} skipped");
    if failed > 0 {
        ExitCode::from(EXIT_FINDING)
    } else if pass == 0 {
        fail(EXIT_BAD_INPUT, "no scenario matched")
    } else {
        ExitCode::SUCCESS
    }
}
