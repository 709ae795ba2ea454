//! The conformance suite as one run (`ringspec suite`): probe, scenarios and a
//! campaign per target and filesystem, folded into [`Row`]s.

use super::kernel_log;
use super::{
    Counts, FindingReport, FsRun, IoUringFacts, KernelFacts, OpcodeFact, Row, Status, SuiteResult,
    SuiteSettings, FORMAT, MAX_FAILURES,
};
use model::OpKind;
use oracle::campaign::{self, CampaignConfig, Target};
use oracle::regression::Regression;
use oracle::scenario::{load_dir, matches_filter, Scenario, ScenarioResult};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;
use sys::scratch::{FsChoice, Scratch};

/// Builds the targets for a scratch area; an error (a target that should be
/// there but cannot be set up) is recorded as a problem of the run.
pub type TargetsFn<'a> = &'a dyn Fn(&Scratch) -> Result<Vec<Target>, TargetsError>;

/// Why a [`TargetsFn`] could not build the targets: the caller's own error,
/// recorded (as text) as a problem of the run.
pub type TargetsError = Box<dyn std::error::Error + Send + Sync>;

/// Why the scenarios could not run on a target (a problem of the run, not a
/// verdict).
#[derive(Debug, thiserror::Error)]
pub enum ScenarioRunError {
    /// A scenario's scratch roots could not be made.
    #[error("{fs}: scratch roots: {source}")]
    Roots {
        /// The filesystem.
        fs: String,
        /// The error.
        #[source]
        source: sys::scratch::ScratchError,
    },
    /// A scenario's RLIMIT_FSIZE could not be set.
    #[error("{fs} {target}: {source}")]
    FsizeLimit {
        /// The filesystem.
        fs: String,
        /// The target.
        target: String,
        /// The error.
        #[source]
        source: sys::rlimit::RlimitError,
    },
    /// A scenario could not be run on the target (its backend could not be
    /// made, or its thread panicked).
    #[error("{fs} {target}: {source}")]
    Run {
        /// The filesystem.
        fs: String,
        /// The target.
        target: String,
        /// Why.
        #[source]
        source: campaign::RunError,
    },
}

/// What the suite runs.
#[derive(Debug, Clone)]
pub struct SuiteConfig {
    /// Campaign seed (the same seed replays the same sequences).
    pub seed: u64,
    /// Campaign sequences per target and filesystem (0: no campaign).
    pub cases: u64,
    /// Longest generated body.
    pub max_len: usize,
    /// Filesystems, each on its own scratch area (tmpfs by default).
    pub filesystems: Vec<FsChoice>,
    /// The scenario directory (corpus/scenarios).
    pub scenarios_dir: PathBuf,
    /// Scenario name filter (`RINGSPEC_SCENARIOS` syntax; empty: all).
    pub filter: String,
    /// Run the SQE rule sweep ([`super::sqe_rows`]) first.
    pub sqe_sweep: bool,
    /// Where to write the result so far after each target (the suite's
    /// `--out`): a guest whose kernel dies mid-run still yields the rows up
    /// to the crash.
    pub checkpoint: Option<PathBuf>,
    /// `--fuzz`: instead of the scenarios, the campaign and the SQE sweep,
    /// run these fuzz targets with and without kernel feedback
    /// ([`crate::fuzz`]), in `fuzz/` beside the checkpoint.
    pub fuzz: Vec<crate::fuzz::FuzzSpec>,
    /// The directory of the fuzz binaries (`cargo fuzz build -O`'s).
    pub fuzz_bin: PathBuf,
    /// Start every fuzz run from an empty corpus instead of the committed
    /// seeds: under TCG a run of minutes does not get through the seeds, so
    /// feedback could not make a difference before it ends.
    pub fuzz_empty_corpus: bool,
}

impl Default for SuiteConfig {
    fn default() -> SuiteConfig {
        SuiteConfig {
            seed: 0x5eed_2026,
            cases: 500,
            max_len: 40,
            filesystems: vec![FsChoice::Tmpfs],
            scenarios_dir: oracle::corpus_dir().join("scenarios"),
            filter: String::new(),
            sqe_sweep: true,
            checkpoint: None,
            fuzz: Vec::new(),
            fuzz_bin: crate::fuzz::bin_dir(&crate::fuzz::default_target_dir()),
            fuzz_empty_corpus: false,
        }
    }
}

/// The config options the report shows.
pub const CONFIG_KEYS: [&str; 7] = [
    "CONFIG_IO_URING",
    "CONFIG_TMPFS",
    "CONFIG_SHMEM",
    "CONFIG_BLK_DEV_LOOP",
    "CONFIG_EXT4_FS",
    "CONFIG_XFS_FS",
    "CONFIG_BTRFS_FS",
];

/// Reads [`CONFIG_KEYS`] from kernel config text ("# CONFIG_X is not set" gives "n").
pub fn parse_config(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("# ") {
            if let Some(key) = rest.strip_suffix(" is not set") {
                if CONFIG_KEYS.contains(&key) {
                    out.insert(key.to_string(), "n".to_string());
                }
            }
        } else if let Some((k, v)) = line.split_once('=') {
            if CONFIG_KEYS.contains(&k) {
                out.insert(k.to_string(), v.trim_matches('"').to_string());
            }
        }
    }
    out
}

/// The first readable config among `files` (plain text, or gzip through
/// `gzip -dc` for names ending in .gz): (the file, its facts).
pub fn config_from_files(files: &[PathBuf]) -> Option<(String, BTreeMap<String, String>)> {
    for f in files {
        let text = if f.extension().is_some_and(|e| e == "gz") {
            let Ok(out) = std::process::Command::new("gzip")
                .arg("-dc")
                .arg(f)
                .stderr(std::process::Stdio::null())
                .output()
            else {
                continue;
            };
            if !out.status.success() {
                continue;
            }
            String::from_utf8_lossy(&out.stdout).into_owned()
        } else {
            match std::fs::read_to_string(f) {
                Ok(t) => t,
                Err(_) => continue,
            }
        };
        let cfg = parse_config(&text);
        if !cfg.is_empty() {
            return Some((f.display().to_string(), cfg));
        }
    }
    None
}

/// The running kernel's facts: release, version, io_uring probe, sysctl, config.
pub fn kernel_facts() -> KernelFacts {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut io_uring = IoUringFacts {
        disabled_sysctl: std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
            .ok()
            .map(|s| s.trim().to_string()),
        ..IoUringFacts::default()
    };
    match backends::probe::probe() {
        Ok(p) => {
            io_uring.usable = true;
            io_uring.last_op = p.last_op;
            io_uring.opcodes = p
                .opcodes
                .iter()
                .map(|o| OpcodeFact {
                    opcode: o.opcode,
                    name: o.name.clone(),
                    supported: o.supported,
                })
                .collect();
        }
        Err(e) => io_uring.error = Some(e.to_string()),
    }
    let (config_source, config) = config_from_files(&[
        PathBuf::from("/proc/config.gz"),
        PathBuf::from(format!("/boot/config-{release}")),
        PathBuf::from(format!("/lib/modules/{release}/config")),
    ])
    .map_or((None, BTreeMap::new()), |(s, c)| (Some(s), c));
    KernelFacts {
        version: model::Profile::parse_release(&release).unwrap_or((0, 0)),
        release,
        io_uring,
        config_source,
        config,
    }
}

/// Rows for the io_uring opcodes of the op kinds: (kind, "probe", "-",
/// "io_uring"), pass when the kernel supports the opcode, unsupported otherwise.
/// Kinds without a mainline opcode get no row.
pub fn probe_rows(facts: &IoUringFacts) -> Vec<Row> {
    let mut rows = Vec::new();
    for kind in OpKind::ALL {
        let Some(op) = kind.mainline_opcode() else {
            continue;
        };
        let name = model::opcode::name(op).unwrap_or("?");
        let supported = facts.opcodes.iter().any(|o| o.opcode == op && o.supported);
        rows.push(Row {
            opcode: kind.name().to_string(),
            property: "probe".to_string(),
            filesystem: "-".to_string(),
            target: "io_uring".to_string(),
            status: if supported {
                Status::Pass
            } else {
                Status::Unsupported
            },
            counts: Counts::default(),
            failures: Vec::new(),
            note: Some(format!("IORING_OP_{name} ({op})")),
        });
    }
    rows
}

/// Runs the suite on the running kernel: probe; unless io_uring is unusable,
/// for each filesystem: every scenario through every target (an op kind whose
/// opcode the target lacks is unsupported, not run), then a campaign of
/// `cfg.cases` sequences per target. Progress goes to stderr. Never fails:
/// what prevents a verdict is listed in [`SuiteResult::problems`].
pub fn run_suite(cfg: &SuiteConfig, targets: TargetsFn<'_>) -> SuiteResult {
    let started = Instant::now();
    let kernel = kernel_facts();
    let mut result = SuiteResult {
        fuzz: Vec::new(),
        format: FORMAT,
        settings: SuiteSettings {
            seed: cfg.seed,
            cases: cfg.cases,
            max_len: cfg.max_len,
            filter: cfg.filter.clone(),
            scenarios: cfg.scenarios_dir.display().to_string(),
        },
        filesystems: Vec::new(),
        targets: Vec::new(),
        rows: Vec::new(),
        findings: Vec::new(),
        problems: Vec::new(),
        seconds: 0.0,
        kernel,
    };
    log::info!(
        "ringspec suite: kernel {}, io_uring {}",
        result.kernel.release,
        if result.kernel.io_uring.usable {
            format!("usable (opcodes 0..{})", result.kernel.io_uring.last_op)
        } else {
            format!(
                "UNUSABLE: {}",
                result.kernel.io_uring.error.as_deref().unwrap_or("?")
            )
        }
    );
    if !result.kernel.io_uring.usable {
        result.problems.push(format!(
            "io_uring unusable on {}: {}",
            result.kernel.release,
            result.kernel.io_uring.error.as_deref().unwrap_or("?")
        ));
        result.seconds = started.elapsed().as_secs_f64();
        return result;
    }
    result.rows = probe_rows(&result.kernel.io_uring);
    if !cfg.fuzz.is_empty() {
        let work = cfg
            .checkpoint
            .as_ref()
            .and_then(|p| p.parent())
            .unwrap_or(Path::new("."))
            .join("fuzz");
        let (campaigns, problems) = crate::fuzz::run_campaigns(
            &cfg.fuzz,
            &cfg.fuzz_bin,
            &work,
            cfg.seed,
            !cfg.fuzz_empty_corpus,
        );
        result.rows.extend(campaigns.iter().map(|c| c.row()));
        result.rows.sort_by_key(|r| r.key());
        result.fuzz = campaigns;
        result.problems.extend(problems);
        result.seconds = started.elapsed().as_secs_f64();
        return result;
    }
    if cfg.sqe_sweep {
        kernel_log::mark("sqe sweep");
        match super::sqe_rows::sweep_rows() {
            Ok(rows) => result.rows.extend(rows),
            Err(e) => result.problems.push(e.to_string()),
        }
    }
    let scenarios = match load_dir(&cfg.scenarios_dir) {
        Ok(all) => all
            .into_iter()
            .filter(|(_, s)| matches_filter(&s.name, &cfg.filter))
            .collect::<Vec<_>>(),
        Err(e) => {
            result.problems.push(format!("scenarios: {e}"));
            Vec::new()
        }
    };
    for (fi, choice) in cfg.filesystems.iter().enumerate() {
        let scratch = match Scratch::with_fs(*choice) {
            Ok(s) => s,
            Err(e) => {
                log::warn!("ringspec suite: {choice}: {e}");
                result.problems.push(format!("{choice}: {e}"));
                result.filesystems.push(FsRun {
                    requested: choice.name().to_string(),
                    name: String::new(),
                    describe: e.to_string(),
                    available: false,
                });
                continue;
            }
        };
        let fs_name = scratch.fs().name.clone();
        result.filesystems.push(FsRun {
            requested: choice.name().to_string(),
            name: fs_name.clone(),
            describe: scratch.describe(),
            available: true,
        });
        log::info!("ringspec suite: on {}", scratch.describe());
        let ts = match targets(&scratch) {
            Ok(ts) => ts,
            Err(e) => {
                result.problems.push(format!("{fs_name}: {e}"));
                continue;
            }
        };
        for t in &ts {
            if !result.targets.contains(&t.name) {
                result.targets.push(t.name.clone());
            }
        }
        for (ti, t) in ts.iter().enumerate() {
            if let Some(why) = &t.unavailable {
                log::warn!("ringspec suite: {fs_name} {}: {why}", t.name);
                result.rows.extend(unavailable_rows(&fs_name, t, why));
                continue;
            }
            // A target that cannot even be built is an environment problem.
            let probe_label = format!("gate-probe-{fi}-{ti}");
            if let Err(e) = t.backend(&scratch, &probe_label) {
                result
                    .problems
                    .push(format!("{fs_name}: target {}: {e}", t.name));
                continue;
            }
            let t0 = Instant::now();
            kernel_log::mark(&format!("{fs_name} {} scenarios", t.name));
            match scenario_rows(&scratch, &fs_name, t, &scenarios, fi, ti) {
                Ok(rows) => {
                    let (p, f, u, n) = rows.iter().fold((0, 0, 0, 0), |(p, f, u, n), r| {
                        (
                            p + r.counts.pass,
                            f + r.counts.fail,
                            u + r.counts.unsupported,
                            n + r.counts.not_judged,
                        )
                    });
                    log::info!(
                        "ringspec suite: {fs_name} {}: scenario cases {p} pass, {f} fail, \
                         {u} unsupported, {n} not judged ({:.1} s)",
                        t.name,
                        t0.elapsed().as_secs_f64()
                    );
                    result.rows.extend(rows);
                }
                Err(e) => result.problems.push(e.to_string()),
            }
            if cfg.cases > 0 {
                let t0 = Instant::now();
                kernel_log::mark(&format!("{fs_name} {} sequences", t.name));
                let (rows, finding, environment) = sequence_rows(cfg, &scratch, &fs_name, t);
                if let Some(why) = environment {
                    result.problems.push(format!(
                        "{fs_name} {}: the environment failed, not the kernel: {why}",
                        t.name
                    ));
                }
                let failed = rows.iter().filter(|r| r.status == Status::Fail).count();
                log::info!(
                    "ringspec suite: {fs_name} {}: {} sequences, {failed} op kinds failing \
                     ({:.1} s)",
                    t.name,
                    cfg.cases,
                    t0.elapsed().as_secs_f64()
                );
                result.rows.extend(rows);
                result.findings.extend(finding);
            }
            end_of_target(cfg, &result, &format!("{fs_name} {}", t.name));
            if campaign::STOP.load(Ordering::SeqCst) {
                break;
            }
        }
        // The named checks of the proposed opcodes (oracle::checks).
        if !campaign::STOP.load(Ordering::SeqCst) {
            kernel_log::mark(&format!("{fs_name} checks"));
            let rows = oracle::checks::suite_rows(&scratch, &fs_name, &ts);
            for r in &rows {
                if !result.targets.contains(&r.target) {
                    result.targets.push(r.target.clone());
                }
            }
            result.rows.extend(rows);
            end_of_target(cfg, &result, &format!("{fs_name} checks"));
        }
        if campaign::STOP.load(Ordering::SeqCst) {
            break;
        }
    }
    kernel_log::mark("suite finished");
    if campaign::STOP.load(Ordering::SeqCst) {
        result
            .problems
            .push("interrupted before the suite finished".to_string());
    }
    result.rows.sort_by_key(Row::key);
    result.seconds = started.elapsed().as_secs_f64();
    result
}

/// After a target: a kmemleak scan whose reports land in the kernel log
/// under a marker naming `what` (debug kernels, in the gate's guest), and
/// the result so far written to the checkpoint.
fn end_of_target(cfg: &SuiteConfig, result: &SuiteResult, what: &str) {
    let leaks = kernel_log::kmemleak_scan(what);
    if leaks > 0 {
        log::info!("ringspec suite: kmemleak: {leaks} unreferenced objects after {what}");
    }
    if let Some(p) = &cfg.checkpoint {
        let mut so_far = result.clone();
        so_far.rows.sort_by_key(Row::key);
        so_far.problems.push(format!(
            "checkpoint after {what}: the suite had not finished"
        ));
        let _ = write_result(&so_far, p);
    }
}

/// The rows of a submission mode the kernel or filesystem cannot serve: one
/// unsupported "sequences" row per op kind, noted `"unavailable: <why>"` (a
/// baseline that had them passing sees a regression).
pub fn unavailable_rows(fs_name: &str, t: &Target, why: &str) -> Vec<Row> {
    oracle::gen::default_kinds()
        .into_iter()
        .map(|k| Row {
            opcode: k.name().to_string(),
            property: "sequences".to_string(),
            filesystem: fs_name.to_string(),
            target: t.name.clone(),
            status: Status::Unsupported,
            counts: Counts::default(),
            failures: Vec::new(),
            note: Some(why.to_string()),
        })
        .collect()
}

/// Accumulates scenario cases into one row.
#[derive(Default)]
struct Acc {
    counts: Counts,
    failures: Vec<String>,
    unsupported_note: Option<String>,
    /// "case: why" of the first cases the model could not judge.
    not_judged: Vec<String>,
}

/// The scenario rows of one target: one per (run op kind, file).
fn scenario_rows(
    scratch: &Scratch,
    fs_name: &str,
    t: &Target,
    scenarios: &[(String, Scenario)],
    fi: usize,
    ti: usize,
) -> Result<Vec<Row>, ScenarioRunError> {
    let mut acc: BTreeMap<(String, String), Acc> = BTreeMap::new();
    for (i, (file, sc)) in scenarios.iter().enumerate() {
        if campaign::STOP.load(Ordering::SeqCst) {
            break;
        }
        let kind = sc.run.kind();
        let a = acc
            .entry((kind.name().to_string(), file.clone()))
            .or_default();
        if t.supported.get(&kind) == Some(&false) {
            a.counts.unsupported += 1;
            a.unsupported_note
                .get_or_insert_with(|| unsupported_note(t, kind));
            continue;
        }
        let roots = scratch
            .roots(&format!("gate-{fi}-{ti}-{i}"))
            .map_err(|source| ScenarioRunError::Roots {
                fs: fs_name.to_string(),
                source,
            })?;
        let result = sc
            .under_fsize_limit(|| t.run_scenario(sc, roots))
            .map_err(|source| ScenarioRunError::FsizeLimit {
                fs: fs_name.to_string(),
                target: t.name.clone(),
                source,
            })?
            .map_err(|source| ScenarioRunError::Run {
                fs: fs_name.to_string(),
                target: t.name.clone(),
                source,
            })?;
        match result {
            ScenarioResult::Pass => a.counts.pass += 1,
            // A known kernel bug is not a pass; the gate counts it with the
            // cases that did not run to a verdict.
            ScenarioResult::Skipped(_) | ScenarioResult::KnownBug(_) => a.counts.skipped += 1,
            ScenarioResult::NotJudged(why) => {
                a.counts.not_judged += 1;
                if a.not_judged.len() < MAX_FAILURES {
                    a.not_judged.push(format!("{}: {why}", sc.name));
                }
            }
            ScenarioResult::Fail(problems) => {
                a.counts.fail += 1;
                if a.failures.len() < MAX_FAILURES {
                    a.failures
                        .push(format!("{}: {}", sc.name, problems.join("; ")));
                }
            }
        }
    }
    Ok(acc
        .into_iter()
        .filter_map(|((opcode, file), a)| {
            let status = row_status(&a.counts)?;
            let note = not_judged_note(&a.counts, &a.not_judged).or(a.unsupported_note);
            Some(Row {
                opcode,
                property: format!("scenarios:{file}"),
                filesystem: fs_name.to_string(),
                target: t.name.clone(),
                status,
                counts: a.counts,
                failures: a.failures,
                note,
            })
        })
        .collect())
}

/// The status of a scenario row from its case counts: fail if a case failed;
/// else not judged if the model could not judge a case (a row is a pass only
/// when every case that ran was judged and passed); else pass if a case
/// passed; else unsupported if the target lacks the opcode. `None`: only cases
/// for other filesystems, nothing to say here.
pub fn row_status(c: &Counts) -> Option<Status> {
    if c.fail > 0 {
        Some(Status::Fail)
    } else if c.not_judged > 0 {
        Some(Status::NotJudged)
    } else if c.pass > 0 {
        Some(Status::Pass)
    } else if c.unsupported > 0 {
        Some(Status::Unsupported)
    } else {
        None
    }
}

/// "not judged: N of M cases the model cannot judge here: case: why; ...".
fn not_judged_note(c: &Counts, first: &[String]) -> Option<String> {
    if c.not_judged == 0 {
        return None;
    }
    let mut note = format!(
        "not judged: {} of {} cases the model cannot judge here: {}",
        c.not_judged,
        c.pass + c.fail + c.not_judged,
        first.join("; ")
    );
    if c.not_judged > first.len() as u64 {
        note.push_str("; ...");
    }
    Some(note)
}

fn unsupported_note(t: &Target, kind: OpKind) -> String {
    match kind.mainline_opcode() {
        Some(op) => format!(
            "IORING_OP_{} ({op}) unsupported by this kernel (via {})",
            model::opcode::name(op).unwrap_or("?"),
            t.name
        ),
        None => format!("no io_uring opcode for {} on {}", kind.name(), t.name),
    }
}

/// One campaign on one target: a row per op kind it drew, the minimized and
/// confirmed divergence if it found one ([`campaign::run`] confirms by
/// replay), and why the environment failed if it did. An op kind whose only
/// divergences did not come back on replay is `not_judged`, never a pass.
fn sequence_rows(
    cfg: &SuiteConfig,
    scratch: &Scratch,
    fs_name: &str,
    t: &Target,
) -> (Vec<Row>, Option<FindingReport>, Option<String>) {
    let ccfg = CampaignConfig {
        seed: cfg.seed,
        cases: Some(cfg.cases),
        duration: None,
        kinds: oracle::gen::default_kinds(),
        max_len: cfg.max_len,
    };
    let res = campaign::run(&ccfg, scratch, std::slice::from_ref(t), &mut |_| {});
    let finding_kind = res.finding.as_ref().map(|f| {
        f.divergence
            .op
            .as_ref()
            .map_or("final_state".to_string(), |o| o.kind().name().to_string())
    });
    let mut rows = Vec::new();
    for (k, ks) in &res.stats.per_kind {
        let ops = ks.executed.get(&t.name).copied().unwrap_or(0);
        let counts = Counts {
            sequences: ks.sequences,
            ops,
            ring: ks.via_ring,
            divergences: ks.divergences,
            poisoned: ks.poisoned,
            ..Counts::default()
        };
        let is_finding = finding_kind.as_deref() == Some(k.name());
        let (status, note) = if t.supported.get(k) == Some(&false) {
            (Status::Unsupported, Some(unsupported_note(t, *k)))
        } else if is_finding {
            (Status::Fail, None)
        } else if ks.divergences > 0 {
            let kind = k.name();
            let unconfirmed: Vec<String> = res
                .unconfirmed
                .iter()
                .filter(|f| f.divergence.op.as_ref().map(|o| o.kind().name()) == Some(kind))
                .map(|f| first_line(&f.divergence.to_string()))
                .collect();
            (
                Status::NotJudged,
                Some(format!(
                    "{} divergence(s) did not come back in {} replays of the minimal sequence: {}",
                    ks.divergences,
                    campaign::CONFIRM_REPLAYS,
                    unconfirmed.join("; ")
                )),
            )
        } else if ops > 0 {
            (Status::Pass, None)
        } else {
            continue;
        };
        let failures = match (&res.finding, is_finding) {
            (Some(f), true) => vec![first_line(&f.divergence.to_string())],
            _ => Vec::new(),
        };
        rows.push(Row {
            opcode: k.name().to_string(),
            property: "sequences".to_string(),
            filesystem: fs_name.to_string(),
            target: t.name.clone(),
            status,
            counts,
            failures,
            note,
        });
    }
    let finding = res.finding.map(|f| {
        let opcode = finding_kind.unwrap_or_default();
        if opcode == "final_state" {
            rows.push(Row {
                opcode: opcode.clone(),
                property: "sequences".to_string(),
                filesystem: fs_name.to_string(),
                target: t.name.clone(),
                status: Status::Fail,
                counts: Counts {
                    divergences: 1,
                    ..Counts::default()
                },
                failures: vec![first_line(&f.divergence.to_string())],
                note: None,
            });
        }
        let name = format!(
            "found-{}-{}-{}-{}",
            fs_name,
            f.target.replace('/', "-"),
            f.seed,
            f.after_sequences
        );
        let mut reg = Regression::from_finding(&name, Some(f.seed), &f.ops, &f.divergence);
        reg.fs = Some(fs_name.to_string());
        reg.target = Some(f.target.clone());
        reg.kernel = Some(backends::proposed::running_release());
        reg.found_by = Some(format!(
            "ringspec suite --seed {} --cases {} --max-len {} --fs {fs_name} (target {}; \
             confirmed in {} of {} replays)",
            cfg.seed, cfg.cases, cfg.max_len, f.target, f.reproduced, f.replays
        ));
        FindingReport {
            target: f.target.clone(),
            filesystem: fs_name.to_string(),
            opcode,
            divergence: f.divergence.to_string(),
            file: format!("{name}.toml"),
            regression_toml: reg.to_toml(),
        }
    });
    if let Some(f) = &finding {
        for r in rows.iter_mut() {
            if r.opcode == f.opcode {
                r.note = Some(format!(
                    "the campaign stopped at this confirmed divergence; minimized sequence in {}",
                    f.file
                ));
            }
        }
    }
    (rows, finding, res.environment)
}

fn first_line(s: &str) -> String {
    let mut lines = s.lines();
    let first = lines.next().unwrap_or("").to_string();
    match lines.next() {
        Some(second) => format!("{first} {}", second.trim()),
        None => first,
    }
}

/// Checks, before the suite runs, that a result can be written to `path`:
/// not a directory, in an existing directory where a file can be created
/// (tried with the temporary name [`write_result`] uses, then removed).
pub fn check_out_file(path: &Path) -> Result<(), OutFileError> {
    if path.is_dir() {
        return Err(OutFileError::IsDir(path.to_path_buf()));
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if !parent.is_dir() {
        return Err(OutFileError::NoDir {
            path: path.to_path_buf(),
            dir: parent.to_path_buf(),
        });
    }
    let tmp = path.with_extension("json.partial");
    std::fs::write(&tmp, b"")
        .and_then(|()| std::fs::remove_file(&tmp))
        .map_err(|source| OutFileError::NotWritable {
            path: path.to_path_buf(),
            dir: parent.to_path_buf(),
            source,
        })
}

/// Why the suite's result could not be written to `--out`
/// ([`check_out_file`]); each says what to give instead.
#[derive(Debug, thiserror::Error)]
pub enum OutFileError {
    /// The path is a directory.
    #[error(
        "--out {} is a directory; give the result file's path (e.g. {}/result.json)",
        .0.display(),
        .0.display()
    )]
    IsDir(PathBuf),
    /// The directory of the path does not exist.
    #[error(
        "--out {}: directory {} does not exist (create it first)",
        path.display(),
        dir.display()
    )]
    NoDir {
        /// The path.
        path: PathBuf,
        /// Its directory.
        dir: PathBuf,
    },
    /// No file can be created in the directory.
    #[error(
        "--out {}: cannot write in {}: {source} (give a writable path)",
        path.display(),
        dir.display()
    )]
    NotWritable {
        /// The path.
        path: PathBuf,
        /// Its directory.
        dir: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Writes a result as pretty JSON (what `ringspec suite --out` does).
pub fn write_result(result: &SuiteResult, path: &Path) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(result).expect("json") + "\n";
    // Written to a temporary name and renamed: the host never reads half a file.
    let tmp = path.with_extension("json.partial");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_facts() {
        let text =
            "CONFIG_IO_URING=y\n# CONFIG_XFS_FS is not set\nCONFIG_EXT4_FS=m\nCONFIG_OTHER=y\n";
        let c = parse_config(text);
        assert_eq!(c.get("CONFIG_IO_URING").map(String::as_str), Some("y"));
        assert_eq!(c.get("CONFIG_XFS_FS").map(String::as_str), Some("n"));
        assert_eq!(c.get("CONFIG_EXT4_FS").map(String::as_str), Some("m"));
        assert!(!c.contains_key("CONFIG_OTHER"));
    }

    #[test]
    fn an_unavailable_mode_is_reported_not_dropped() {
        let t = Target {
            name: "uring/sqpoll".into(),
            profile: model::Profile::default_tmpfs(),
            make: Box::new(|_| {
                Err(campaign::MakeError::Unavailable(Box::new(
                    campaign::MakeError::Uring {
                        mode: backends::uring::Mode::Sqpoll,
                        source: backends::uring::UringError::Sqpoll { errno: 1 },
                    },
                )))
            }),
            group: None,
            supported: BTreeMap::new(),
            unavailable: Some("unavailable: SQPOLL refused".into()),
        };
        let rows = unavailable_rows("tmpfs", &t, t.unavailable.as_deref().unwrap());
        assert_eq!(rows.len(), oracle::gen::default_kinds().len());
        assert!(rows.iter().all(|r| r.status == Status::Unsupported
            && r.target == "uring/sqpoll"
            && r.note.as_deref() == Some("unavailable: SQPOLL refused")));
        // Against a baseline where the mode passed, that is a regression.
        let mut passed = rows[0].clone();
        passed.status = Status::Pass;
        let base = super::super::baseline::Baseline::from_result(&SuiteResult {
            fuzz: Vec::new(),
            format: FORMAT,
            kernel: KernelFacts::default(),
            settings: SuiteSettings {
                seed: 0,
                cases: 0,
                max_len: 0,
                filter: String::new(),
                scenarios: String::new(),
            },
            filesystems: Vec::new(),
            targets: vec!["uring/sqpoll".into()],
            rows: vec![passed],
            findings: Vec::new(),
            problems: Vec::new(),
            seconds: 0.0,
        });
        let cmp = super::super::baseline::compare(&base, &rows);
        assert_eq!(cmp.failing().count(), 1, "{:?}", cmp.changes);
    }

    #[test]
    fn probe_rows_mark_missing_opcodes_unsupported() {
        let facts = IoUringFacts {
            usable: true,
            last_op: 31,
            opcodes: (0..65u8)
                .map(|op| OpcodeFact {
                    opcode: op,
                    name: model::opcode::name(op).unwrap_or("?").to_string(),
                    supported: op < 31,
                })
                .collect(),
            ..IoUringFacts::default()
        };
        let rows = probe_rows(&facts);
        let get = |k: &str| rows.iter().find(|r| r.opcode == k).map(|r| r.status);
        assert_eq!(get("splice"), Some(Status::Pass));
        assert_eq!(get("tee"), Some(Status::Unsupported));
        assert_eq!(get("pipe"), Some(Status::Unsupported));
        assert_eq!(get("copy_file_range"), None);
    }
}
