//! `ringspec gate --fuzz TARGET:DURATION` (and `ringspec suite --fuzz`): the
//! fuzz targets run inside the gated kernel, each twice for DURATION from
//! its committed seed corpus (corpus/fuzz/TARGET): once with kernel coverage
//! fed to libFuzzer (`RINGSPEC_KCOV=feedback`) and once with it only counted
//! (`measure`), so that the report shows the kernel edges each reached over
//! time side by side (`sys::kcov`).
//!
//! `--fuzz-empty-corpus` starts both runs from nothing instead (with
//! `-len_control=0`): under TCG a run of minutes does not get through the
//! seeds, and while libFuzzer replays them feedback cannot make a
//! difference.
//!
//! The binaries are libFuzzer builds (`cargo fuzz build -O`, [`build`]),
//! made on the host before the boot; the guest sees the host's files, so it
//! runs them where they are. Each run's directory (log, corpus, crash
//! artifacts) is `fuzz/TARGET-MODE/` beside the suite's result.
//!
//! Verdict rows (`TARGET libfuzzer/MODE fuzz`): pass when the run lasted its
//! time without a crash; fail when it crashed and the crash input crashes
//! the binary again (confirmed), with the command that replays it; not
//! judged when the crash did not come back. A kernel without KCOV, or a
//! binary that refuses to run, is a problem: no verdict.

use crate::result::{Counts, Row, Status};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use sys::kcov::{KcovLine, Mode};

/// The fuzz targets of fuzz/Cargo.toml.
pub const TARGETS: [&str; 2] = ["sqe_fields", "sequences"];

/// The two runs of every target, in the order they run.
pub const MODES: [Mode; 2] = [Mode::Feedback, Mode::Measure];

/// One `--fuzz TARGET:DURATION`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuzzSpec {
    /// One of [`TARGETS`].
    pub target: &'static str,
    /// How long each of its two runs lasts (libFuzzer's `-max_total_time`).
    pub duration: Duration,
}

impl FuzzSpec {
    /// `TARGET:DURATION`, the duration read by `parse_duration`.
    pub fn parse(
        s: &str,
        parse_duration: impl Fn(&str) -> Result<Duration, String>,
    ) -> Result<FuzzSpec, String> {
        let (name, d) = s
            .split_once(':')
            .ok_or_else(|| format!("--fuzz {s:?}: give TARGET:DURATION, e.g. sqe_fields:5m"))?;
        let target = TARGETS.iter().find(|t| **t == name.trim()).ok_or_else(|| {
            format!(
                "--fuzz {s:?}: unknown fuzz target {name:?} (one of {})",
                TARGETS.join(", ")
            )
        })?;
        let duration = parse_duration(d.trim()).map_err(|e| format!("--fuzz {s:?}: {e}"))?;
        Ok(FuzzSpec { target, duration })
    }

    /// As [`FuzzSpec::parse`] reads it (whole seconds).
    pub fn arg(&self) -> String {
        format!("{}:{}s", self.target, self.duration.as_secs())
    }
}

/// How long the campaigns of `specs` keep a guest busy at most: both runs
/// of each, plus each run's grace ([`grace`]).
pub fn total_time(specs: &[FuzzSpec]) -> Duration {
    specs
        .iter()
        .map(|s| (s.duration + grace(s.duration)) * MODES.len() as u32)
        .sum()
}

/// How long past its `-max_total_time` a run may take before it is killed:
/// libFuzzer checks its time between inputs, and an ASan binary under TCG
/// starts slowly.
pub fn grace(duration: Duration) -> Duration {
    Duration::from_secs(120).max(duration / 2)
}

/// The repository (the gate crate's parent).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The committed seed corpus of `target`: corpus/fuzz/TARGET.
pub fn seed_corpus(target: &str) -> PathBuf {
    repo().join("corpus/fuzz").join(target)
}

/// Where `cargo fuzz build -O --target-dir DIR` puts the binaries.
pub fn bin_dir(target_dir: &Path) -> PathBuf {
    target_dir.join("x86_64-unknown-linux-gnu/release")
}

/// The default `--target-dir` of [`build`]: `$CARGO_TARGET_DIR`, else the
/// repository's fuzz/target (cargo fuzz's own default).
pub fn default_target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| repo().join("fuzz/target"), PathBuf::from)
}

/// Builds every fuzz target with `cargo fuzz build -O` (ASan, libFuzzer;
/// `RUSTC_BOOTSTRAP=1` lets a stable toolchain take cargo fuzz's nightly
/// flags) into `target_dir`, and returns the directory of the binaries.
/// Needs cargo-fuzz (`cargo install cargo-fuzz`) and a C++ compiler.
pub fn build(target_dir: &Path) -> Result<PathBuf, String> {
    let started = Instant::now();
    log::info!(
        "ringspec gate: building the fuzz targets (cargo fuzz build -O --target-dir {})",
        target_dir.display()
    );
    let out = Command::new("cargo")
        .args(["fuzz", "build", "-O", "--target-dir"])
        .arg(target_dir)
        .current_dir(repo())
        .env("RUSTC_BOOTSTRAP", "1")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run cargo fuzz build: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "cargo fuzz build -O failed ({}; cargo install cargo-fuzz, and a C++ compiler, are needed):\n{}",
            out.status,
            tail.join("\n")
        ));
    }
    let dir = bin_dir(target_dir);
    for t in TARGETS {
        if !dir.join(t).is_file() {
            return Err(format!(
                "cargo fuzz build -O did not make {}",
                dir.join(t).display()
            ));
        }
    }
    log::info!(
        "ringspec gate: fuzz targets built in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(dir)
}

/// One point of a run's kernel coverage over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KcovPoint {
    /// Seconds since the run's first input.
    pub seconds: f64,
    /// Inputs run.
    pub inputs: u64,
    /// Distinct kernel PCs so far.
    pub pcs: u64,
    /// Distinct kernel edges so far.
    pub edges: u64,
}

/// A crash of a fuzz run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FuzzCrash {
    /// The input libFuzzer saved (crash-*, leak-*, timeout-*, oom-*).
    pub artifact: String,
    /// Whether running the binary on it again crashed again.
    pub confirmed: bool,
    /// The first lines of the run's report about it.
    pub excerpt: String,
    /// The command that replays it (in the gated kernel).
    pub replay: String,
}

/// One fuzz run: a target in one [`Mode`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FuzzCampaign {
    /// The target.
    pub target: String,
    /// "feedback" or "measure".
    pub mode: String,
    /// `-max_total_time`, seconds.
    pub duration: u64,
    /// Wall time of the run, seconds.
    pub seconds: f64,
    /// libFuzzer's `stat::number_of_executed_units`.
    #[serde(default)]
    pub execs: u64,
    /// libFuzzer's `stat::average_exec_per_sec`.
    #[serde(default)]
    pub exec_per_sec: u64,
    /// libFuzzer's `stat::new_units_added`.
    #[serde(default)]
    pub new_units: u64,
    /// The kernel coverage over time (the target's `ringspec-kcov:` lines).
    #[serde(default)]
    pub kcov: Vec<KcovPoint>,
    /// Why the run had no kernel coverage, when it had none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kcov_unavailable: Option<String>,
    /// Its crash, if it crashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash: Option<FuzzCrash>,
    /// How the binary ended ("exit status: 0", ...).
    pub exit: String,
    /// The run's log (stderr).
    pub log: String,
}

impl FuzzCampaign {
    /// The last kernel edges count, 0 without coverage.
    pub fn edges(&self) -> u64 {
        self.kcov.last().map_or(0, |p| p.edges)
    }

    /// The edges count at `t` seconds: the last point at or before it.
    pub fn edges_at(&self, t: f64) -> Option<u64> {
        self.kcov
            .iter()
            .take_while(|p| p.seconds <= t + 1e-9)
            .last()
            .map(|p| p.edges)
    }

    /// The verdict row (see the module documentation).
    pub fn row(&self) -> Row {
        let (status, failures, note) = match &self.crash {
            Some(c) if c.confirmed => (
                Status::Fail,
                vec![format!("{}\nreplay: {}", c.excerpt, c.replay)],
                None,
            ),
            Some(c) => (
                Status::NotJudged,
                Vec::new(),
                Some(format!(
                    "crashed once ({}), but not again on a replay: not reported as a finding",
                    c.artifact
                )),
            ),
            None => (
                Status::Pass,
                Vec::new(),
                Some(format!(
                    "{} inputs in {:.0} s ({} exec/s), {} kernel edges",
                    self.execs,
                    self.seconds,
                    self.exec_per_sec,
                    self.edges()
                )),
            ),
        };
        Row {
            opcode: self.target.clone(),
            property: "fuzz".into(),
            filesystem: "tmpfs".into(),
            target: format!("libfuzzer/{}", self.mode),
            status,
            counts: Counts::default(),
            failures,
            note,
        }
    }
}

/// What a run's log says: the kcov points, why there was no kernel
/// coverage, and libFuzzer's final stats (execs, exec/s, new units).
pub fn read_log(text: &str) -> (Vec<KcovPoint>, Option<String>, [u64; 3]) {
    let mut points = Vec::new();
    let mut unavailable = None;
    let mut stats = [0u64; 3];
    for line in text.lines() {
        match KcovLine::parse(line) {
            Some(KcovLine::Progress(p)) => points.push(KcovPoint {
                seconds: p.seconds,
                inputs: p.inputs,
                pcs: p.pcs,
                edges: p.edges,
            }),
            Some(KcovLine::Unavailable(why)) => unavailable = Some(why),
            None => {
                let stat = |name: &str| {
                    line.trim()
                        .strip_prefix(name)
                        .and_then(|v| v.trim().parse::<u64>().ok())
                };
                for (i, name) in [
                    "stat::number_of_executed_units:",
                    "stat::average_exec_per_sec:",
                    "stat::new_units_added:",
                ]
                .iter()
                .enumerate()
                {
                    if let Some(v) = stat(name) {
                        stats[i] = v;
                    }
                }
            }
        }
    }
    (points, unavailable, stats)
}

/// The lines of a crash report worth a row: from libFuzzer's "==N==" or
/// the panic, at most 12.
fn crash_excerpt(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains("panicked at") || l.starts_with("==") && l.contains("ERROR"))
        .unwrap_or(lines.len().saturating_sub(12));
    lines[start..]
        .iter()
        .take(12)
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs both campaigns of every spec, one after the other, with the binaries
/// of `bin_dir`, each in `work/TARGET-MODE/`; returns them and the
/// problems that leave no verdict.
pub fn run_campaigns(
    specs: &[FuzzSpec],
    bin_dir: &Path,
    work: &Path,
    seed: u64,
    from_seeds: bool,
) -> (Vec<FuzzCampaign>, Vec<String>) {
    let mut campaigns = Vec::new();
    let mut problems = Vec::new();
    for spec in specs {
        for mode in MODES {
            match run_one(spec, mode, bin_dir, work, seed, from_seeds) {
                Ok(c) => {
                    if let Some(why) = &c.kcov_unavailable {
                        problems.push(format!(
                            "fuzz {} ({}): no kernel coverage: {why}; gate a kernel built with \
                             --fuzz (kernel/gate-kcov.config)",
                            c.target, c.mode
                        ));
                    } else if c.kcov.is_empty() && c.crash.is_none() {
                        problems.push(format!(
                            "fuzz {} ({}): the run printed no kernel coverage ({}; see {})",
                            c.target, c.mode, c.exit, c.log
                        ));
                    }
                    campaigns.push(c);
                }
                Err(e) => problems.push(format!("fuzz {} ({}): {e}", spec.target, mode.name())),
            }
        }
    }
    (campaigns, problems)
}

/// Copies the seed corpus's files into `dir`.
fn seed(target: &str, dir: &Path) -> Result<usize, String> {
    let from = seed_corpus(target);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut n = 0;
    let entries = std::fs::read_dir(&from).map_err(|e| format!("{}: {e}", from.display()))?;
    for e in entries.flatten() {
        if e.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::copy(e.path(), dir.join(e.file_name()))
                .map_err(|err| format!("{}: {err}", e.path().display()))?;
            n += 1;
        }
    }
    Ok(n)
}

/// Spawns the binary with the kcov mode's environment, output to `log`.
fn fuzz_command(bin: &Path, mode: Mode, dir: &Path, log: &Path) -> Result<Command, String> {
    let file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let file2 = file
        .try_clone()
        .map_err(|e| format!("{}: {e}", log.display()))?;
    let mut cmd = Command::new(bin);
    cmd.current_dir(dir)
        .env(sys::kcov::MODE_ENV, mode.name())
        .env("RINGSPEC_SQE_CEILING", "0")
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(file2);
    Ok(cmd)
}

/// How a fuzz run ended.
enum Ended {
    /// The binary exited.
    Exited(std::process::ExitStatus),
    /// Killed past its limit; whether its log had grown within the last
    /// [`ALIVE`] (a run still working, e.g. libFuzzer still replaying its
    /// seed corpus, which it finishes before it looks at
    /// `-max_total_time`), or not (a hung harness or kernel).
    Stopped { alive: bool },
}

/// How recently a killed run's log must have grown for it to count as
/// still working.
const ALIVE: Duration = Duration::from_secs(60);

/// Waits for `child` until `limit`, logging its last kcov line every 30 s;
/// kills it past the limit.
fn wait_logged(child: &mut std::process::Child, limit: Duration, log: &Path, what: &str) -> Ended {
    let started = Instant::now();
    let mut noted = Instant::now();
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            return Ended::Exited(st);
        }
        if started.elapsed() > limit
            || oracle::campaign::STOP.load(std::sync::atomic::Ordering::SeqCst)
        {
            let alive = std::fs::metadata(log)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age < ALIVE);
            let _ = child.kill();
            let _ = child.wait();
            return Ended::Stopped { alive };
        }
        if noted.elapsed() >= Duration::from_secs(30) {
            noted = Instant::now();
            let text = std::fs::read_to_string(log).unwrap_or_default();
            let last = text
                .lines()
                .rev()
                .find(|l| l.starts_with(sys::kcov::LINE_PREFIX))
                .unwrap_or("no kernel coverage line yet");
            log::info!(
                "ringspec suite: fuzz {what}: {:.0} s: {last}",
                started.elapsed().as_secs_f64()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn run_one(
    spec: &FuzzSpec,
    mode: Mode,
    bin_dir: &Path,
    work: &Path,
    seed_value: u64,
    from_seeds: bool,
) -> Result<FuzzCampaign, String> {
    let bin = bin_dir.join(spec.target);
    if !bin.is_file() {
        return Err(format!(
            "{} does not exist (cargo fuzz build -O, or gate --fuzz, builds it)",
            bin.display()
        ));
    }
    let what = format!("{} {}", spec.target, mode.name());
    let dir = work.join(format!("{}-{}", spec.target, mode.name()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let corpus = dir.join("corpus");
    let seeds = if from_seeds {
        seed(spec.target, &corpus)?
    } else {
        std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
        0
    };
    let log_path = dir.join("log.txt");
    log::info!(
        "ringspec suite: fuzz {what}: {} s from {seeds} seeds",
        spec.duration.as_secs()
    );
    crate::kernel_log::mark(&format!("fuzz {what}"));
    let mut cmd = fuzz_command(&bin, mode, &dir, &log_path)?;
    cmd.arg(&corpus)
        .arg(format!("-max_total_time={}", spec.duration.as_secs()))
        .arg(format!("-seed={}", (seed_value % u32::MAX as u64).max(1)))
        .arg(format!("-artifact_prefix={}/", dir.display()))
        .arg("-print_final_stats=1");
    if !from_seeds {
        // From nothing, libFuzzer would raise its length limit from 4 bytes
        // only as new units come, slowly at TCG's tens of inputs a second:
        // every length from the start instead.
        cmd.arg("-len_control=0");
    }
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let limit = spec.duration + grace(spec.duration);
    let ended = wait_logged(&mut child, limit, &log_path, &what);
    let seconds = started.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let (kcov, kcov_unavailable, [execs, exec_per_sec, new_units]) = read_log(&text);
    let status = match ended {
        Ended::Exited(st) => Some(st),
        Ended::Stopped { .. } => None,
    };
    let exit = match ended {
        Ended::Exited(st) => st.to_string(),
        Ended::Stopped { alive: true } => format!(
            "stopped by the gate after {seconds:.0} s, still working (libFuzzer finishes \
             replaying its corpus before it looks at -max_total_time)"
        ),
        Ended::Stopped { alive: false } => {
            return Err(format!(
                "killed after {seconds:.0} s, its log silent for over {} s: no verdict (a hung \
                 harness or kernel); see {}",
                ALIVE.as_secs(),
                log_path.display()
            ))
        }
    };
    if status.is_some_and(|s| s.code() == Some(3)) {
        return Err(format!(
            "the target refused to run ({exit}): {}",
            text.lines().rev().take(3).collect::<Vec<_>>().join(" | ")
        ));
    }
    let artifact = std::fs::read_dir(&dir).ok().and_then(|entries| {
        entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                ["crash-", "leak-", "timeout-", "oom-"]
                    .iter()
                    .any(|k| name.starts_with(k))
            })
            .min()
    });
    let crash = match artifact {
        Some(a) => Some(confirm(&bin, mode, &dir, &a, &text)?),
        None if status.is_some_and(|s| !s.success()) => {
            return Err(format!(
                "the run ended badly ({exit}) without a crash input; see {}",
                log_path.display()
            ))
        }
        None => None,
    };
    Ok(FuzzCampaign {
        target: spec.target.to_string(),
        mode: mode.name().to_string(),
        duration: spec.duration.as_secs(),
        seconds,
        execs,
        exec_per_sec,
        new_units,
        kcov,
        kcov_unavailable,
        crash,
        exit,
        log: log_path.display().to_string(),
    })
}

/// Runs the binary on its crash input once more: a finding is reported only
/// when it comes back.
fn confirm(
    bin: &Path,
    mode: Mode,
    dir: &Path,
    artifact: &Path,
    log: &str,
) -> Result<FuzzCrash, String> {
    let replay_log = dir.join("replay.txt");
    let mut cmd = fuzz_command(bin, mode, dir, &replay_log)?;
    cmd.arg(artifact);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    let ended = wait_logged(&mut child, Duration::from_secs(300), &replay_log, "replay");
    let confirmed = matches!(ended, Ended::Exited(s) if !s.success() && s.code() != Some(3));
    Ok(FuzzCrash {
        artifact: artifact.display().to_string(),
        confirmed,
        excerpt: crash_excerpt(log),
        replay: format!(
            "{}={} {} {}",
            sys::kcov::MODE_ENV,
            mode.name(),
            bin.display(),
            artifact.display()
        ),
    })
}

/// The report's section: for each target, the kernel edges of its
/// feedback run next to its measure run at tenths of its duration, then
/// each run's totals. Empty without campaigns.
pub fn markdown_section(campaigns: &[FuzzCampaign]) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    if campaigns.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\n### Kernel coverage under fuzzing\n");
    let mut targets: Vec<&str> = campaigns.iter().map(|c| c.target.as_str()).collect();
    targets.dedup();
    for t in targets {
        let run = |m: Mode| {
            campaigns
                .iter()
                .find(|c| c.target == t && c.mode == m.name())
        };
        let (fed, measured) = (run(Mode::Feedback), run(Mode::Measure));
        let _ = writeln!(
            out,
            "`{t}`: distinct kernel edges reached (KCOV, the fuzzing thread's own kernel \
             context), with kernel feedback and without:\n"
        );
        let _ = writeln!(out, "| seconds | with feedback | without | ratio |");
        let _ = writeln!(out, "|---:|---:|---:|---:|");
        let duration = fed.or(measured).map_or(0, |c| c.duration).max(10);
        // Past the last point of a run that crashed its cell says so
        // instead of carrying the last count on (a run that lasted its time
        // keeps its last count: its clock starts at its first input).
        let ended = |c: &FuzzCampaign, at: f64| {
            c.crash.is_some() && c.kcov.last().is_some_and(|p| at > p.seconds + 1.0)
        };
        let cell = |c: Option<&FuzzCampaign>, at: f64| match c {
            Some(c) if ended(c, at) => "ended".to_string(),
            _ => c
                .and_then(|c| c.edges_at(at))
                .map_or("-".to_string(), |e| e.to_string()),
        };
        for k in 1..=10u64 {
            let at = (duration * k) as f64 / 10.0;
            let (a, b) = (
                fed.and_then(|c| c.edges_at(at)),
                measured.and_then(|c| c.edges_at(at)),
            );
            let running = |c: Option<&FuzzCampaign>| c.is_some_and(|c| !ended(c, at));
            let ratio = match (a, b) {
                (Some(a), Some(b)) if b > 0 && running(fed) && running(measured) => {
                    format!("{:.2}", a as f64 / b as f64)
                }
                _ => "-".into(),
            };
            let _ = writeln!(
                out,
                "| {at:.0} | {} | {} | {ratio} |",
                cell(fed, at),
                cell(measured, at)
            );
        }
        let _ = writeln!(out);
        for c in [fed, measured].into_iter().flatten() {
            let last = c.kcov.last();
            let _ = writeln!(
                out,
                "- {}: {} inputs in {:.0} s ({} exec/s), {} new corpus units, {} kernel PCs, \
                 {} kernel edges{}; log {}",
                c.mode,
                c.execs,
                c.seconds,
                c.exec_per_sec,
                c.new_units,
                last.map_or(0, |p| p.pcs),
                c.edges(),
                match &c.crash {
                    Some(x) if x.confirmed => format!("; CRASHED (confirmed): {}", x.replay),
                    Some(x) => format!("; crashed once, not again: {}", x.artifact),
                    None => String::new(),
                },
                c.log
            );
        }
        let _ = writeln!(out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: &str) -> Result<Duration, String> {
        s.trim_end_matches('s')
            .parse()
            .map(Duration::from_secs)
            .map_err(|_| format!("bad duration {s:?}"))
    }

    #[test]
    fn specs_parse_and_refuse() {
        let s = FuzzSpec::parse("sqe_fields:90s", secs).unwrap();
        assert_eq!(s.target, "sqe_fields");
        assert_eq!(s.duration, Duration::from_secs(90));
        assert_eq!(s.arg(), "sqe_fields:90s");
        assert!(FuzzSpec::parse("sqe_fields", secs)
            .unwrap_err()
            .contains("TARGET:DURATION"));
        assert!(FuzzSpec::parse("nope:1s", secs)
            .unwrap_err()
            .contains("unknown fuzz target"));
        assert!(FuzzSpec::parse("sequences:x", secs)
            .unwrap_err()
            .contains("bad duration"));
        // Both runs, each with its grace.
        assert_eq!(total_time(&[s]), Duration::from_secs(2 * (90 + 120)));
    }

    #[test]
    fn a_log_gives_points_and_stats() {
        let log = "\
INFO: Seed: 1
ringspec-kcov: target=sqe_fields mode=feedback seconds=0.0 inputs=1 pcs=100 edges=150
#2\tINITED cov: 10 ft: 20 corp: 5/100b exec/s: 0 rss: 50Mb
ringspec-kcov: target=sqe_fields mode=feedback seconds=10.0 inputs=500 pcs=900 edges=2100
Done 900 runs in 20 second(s)
stat::number_of_executed_units: 900
stat::average_exec_per_sec:     45
stat::new_units_added:          12
ringspec-kcov: target=sqe_fields mode=feedback seconds=20.1 inputs=900 pcs=950 edges=2300
";
        let (points, unavailable, stats) = read_log(log);
        assert_eq!(points.len(), 3);
        assert_eq!(unavailable, None);
        assert_eq!(stats, [900, 45, 12]);
        let c = FuzzCampaign {
            target: "sqe_fields".into(),
            mode: "feedback".into(),
            duration: 20,
            seconds: 21.0,
            execs: stats[0],
            exec_per_sec: stats[1],
            new_units: stats[2],
            kcov: points,
            kcov_unavailable: None,
            crash: None,
            exit: "exit status: 0".into(),
            log: "log.txt".into(),
        };
        assert_eq!(c.edges(), 2300);
        assert_eq!(c.edges_at(15.0), Some(2100));
        assert_eq!(c.edges_at(20.0), Some(2100));
        let row = c.row();
        assert_eq!(row.status, Status::Pass);
        assert_eq!(row.target, "libfuzzer/feedback");
        // A crash that came back fails the row and says how to replay it;
        // one that did not is not judged.
        let mut crashed = c.clone();
        crashed.crash = Some(FuzzCrash {
            artifact: "crash-1".into(),
            confirmed: true,
            excerpt: "panicked at ...".into(),
            replay: "RINGSPEC_KCOV=feedback sqe_fields crash-1".into(),
        });
        let row = crashed.row();
        assert_eq!(row.status, Status::Fail);
        assert!(row.failures[0].contains("replay: RINGSPEC_KCOV=feedback"));
        crashed.crash.as_mut().unwrap().confirmed = false;
        assert_eq!(crashed.row().status, Status::NotJudged);
        let mut measured = c.clone();
        measured.mode = "measure".into();
        measured.kcov.iter_mut().for_each(|p| p.edges /= 2);
        let md = markdown_section(&[c.clone(), measured]);
        assert!(md.contains("| 10 | 2100 | 1050 | 2.00 |"), "{md}");
        assert!(md.contains("| 20 | 2100 | 1050 | 2.00 |"), "{md}");
        // A run that ended early (a crash at 10 s) says so past its end.
        let mut short = crashed.clone();
        short.kcov.truncate(2);
        let mut full = c.clone();
        full.mode = "measure".into();
        let md = markdown_section(&[short, full]);
        assert!(md.contains("| 10 | 2100 | 2100 | 1.00 |"), "{md}");
        assert!(md.contains("| 12 | ended | 2100 | - |"), "{md}");
        let (_, why, _) = read_log("ringspec-kcov: unavailable: no device\n");
        assert_eq!(why.as_deref(), Some("no device"));
    }
}
