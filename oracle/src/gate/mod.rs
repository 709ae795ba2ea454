//! The kernel gate behind `ringspec suite` and `ringspec gate`.
//!
//! `ringspec suite` runs inside the kernel being gated (a VM, or the host in
//! place): it probes io_uring, runs every scenario and a seeded campaign through
//! every target on each requested filesystem, and writes a [`SuiteResult`]: rows
//! of (opcode, property, filesystem, target) with a [`Status`] (pass, fail,
//! unsupported, not judged) and counts, plus the kernel facts that matter.
//!
//! `ringspec gate` gets such a result (from a guest booted with virtme-ng, see
//! [`vm`], or from an in-process run on the host), compares it with a baseline
//! ([`baseline`]), writes the reports ([`report`]: JSON, KTAP, JUnit, markdown)
//! and decides the exit code: [`EXIT_PASS`], [`EXIT_FAIL`] (a regression or a
//! divergence) or [`EXIT_INFRA`] (the verdict could not be reached: image
//! missing, VM not booting or timing out, io_uring disabled in the guest, a
//! filesystem that cannot be set up). The three are never mixed: an
//! infrastructure failure has no verdict.

pub mod baseline;
pub mod build;
pub mod coverage;
pub mod kernel_log;
pub mod report;
pub mod sqe_rows;
pub mod suite;
pub mod vm;

use baseline::{Baseline, Comparison};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Exit code: the gate passed (no regression, no unaccepted failure).
pub const EXIT_PASS: u8 = 0;
/// Exit code: a regression against the baseline, or a divergence (a failing row
/// the baseline does not accept; without a baseline, any failing row).
pub const EXIT_FAIL: u8 = 1;
/// Exit code: infrastructure failure; no verdict on the kernel.
pub const EXIT_INFRA: u8 = 2;

/// Version of the result and baseline JSON layout.
pub const FORMAT: u32 = 1;

/// The status of one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Everything run agreed with the model and the tables.
    Pass,
    /// At least one case or sequence failed.
    Fail,
    /// The kernel lacks what the row needs (an io_uring opcode): nothing was
    /// judged. Never counted as a pass.
    Unsupported,
    /// The kernel ran the row, but the model cannot judge (some of) its cases
    /// here: it answers "not modelled" for them (e.g. a pipe closed through
    /// io-wq before 6.18, `model::pipe::LAZY_RELEASE`); the row's note says
    /// which and why. Not a failure of the kernel and never a pass: reported
    /// as a skip, and it fails the gate neither with nor without a baseline.
    /// A row with a failing case is [`Status::Fail`] all the same.
    #[serde(rename = "not_judged")]
    NotJudged,
}

impl Status {
    /// "pass", "fail", "unsupported" or "not_judged" (as in the JSON).
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Unsupported => "unsupported",
            Status::NotJudged => "not_judged",
        }
    }

    /// True for pass, fail and not judged: the kernel ran the thing.
    pub fn supported(self) -> bool {
        self != Status::Unsupported
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Counts behind a row. Scenario rows fill `pass`, `fail`, `unsupported` and
/// `skipped` (cases); sequence rows fill `sequences`, `ops`, `divergences` and
/// `poisoned`. Zero fields are left out of the JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    /// Scenario cases that passed.
    #[serde(skip_serializing_if = "is_zero")]
    pub pass: u64,
    /// Scenario cases that failed.
    #[serde(skip_serializing_if = "is_zero")]
    pub fail: u64,
    /// Scenario cases not run because the target lacks the opcode.
    #[serde(skip_serializing_if = "is_zero")]
    pub unsupported: u64,
    /// Scenario cases not applicable here (another filesystem's, or needing two
    /// filesystems).
    #[serde(skip_serializing_if = "is_zero")]
    pub skipped: u64,
    /// Scenario cases the model cannot judge here (see [`Status::NotJudged`]).
    #[serde(skip_serializing_if = "is_zero")]
    pub not_judged: u64,
    /// Generated sequences that contained the op kind.
    #[serde(skip_serializing_if = "is_zero")]
    pub sequences: u64,
    /// Ops of the kind executed on the target.
    #[serde(skip_serializing_if = "is_zero")]
    pub ops: u64,
    /// Of those, ops submitted through the ring (the rest ran synchronously:
    /// no opcode, or the kernel lacks it).
    #[serde(skip_serializing_if = "is_zero")]
    pub ring: u64,
    /// Divergences at an op of the kind (shrinking reruns included).
    #[serde(skip_serializing_if = "is_zero")]
    pub divergences: u64,
    /// Sequences poisoned at an op of the kind (behaviour the model leaves open).
    #[serde(skip_serializing_if = "is_zero")]
    pub poisoned: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What a row is about: the key baselines compare by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RowKey {
    /// The filesystem of the scratch roots ("tmpfs", "ext4", ...), "-" for
    /// rows about the kernel rather than a filesystem (the probe).
    pub filesystem: String,
    /// The target ("syscalls", "uring/async", ...; "io_uring" for probe rows).
    pub target: String,
    /// The op kind ("splice", "read", ...), or "final_state" for a divergence
    /// of the whole state at the end of a sequence.
    pub opcode: String,
    /// `scenarios:<file stem>`, "sequences" or "probe".
    pub property: String,
}

impl fmt::Display for RowKey {
    /// "tmpfs syscalls splice scenarios:splice": the KTAP test name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.filesystem, self.target, self.opcode, self.property
        )
    }
}

/// One (opcode, property, filesystem, target) result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The op kind (see [`RowKey::opcode`]).
    pub opcode: String,
    /// See [`RowKey::property`].
    pub property: String,
    /// See [`RowKey::filesystem`].
    pub filesystem: String,
    /// See [`RowKey::target`].
    pub target: String,
    /// The verdict.
    pub status: Status,
    /// The counts behind it.
    #[serde(default)]
    pub counts: Counts,
    /// The first failure messages (at most [`MAX_FAILURES`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// Why unsupported or not judged, or what else a reader needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How many failure messages a row keeps.
pub const MAX_FAILURES: usize = 3;

impl Row {
    /// The comparison key.
    pub fn key(&self) -> RowKey {
        RowKey {
            filesystem: self.filesystem.clone(),
            target: self.target.clone(),
            opcode: self.opcode.clone(),
            property: self.property.clone(),
        }
    }
}

/// One opcode of the io_uring probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpcodeFact {
    /// The number.
    pub opcode: u8,
    /// The name (IORING_OP_ without the prefix).
    pub name: String,
    /// IO_URING_OP_SUPPORTED.
    pub supported: bool,
}

/// Whether io_uring is usable, and what it offers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoUringFacts {
    /// io_uring_setup and IORING_REGISTER_PROBE worked.
    pub usable: bool,
    /// Why not, when not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// /proc/sys/kernel/io_uring_disabled (absent before 6.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_sysctl: Option<String>,
    /// One past the highest supported opcode.
    #[serde(default)]
    pub last_op: u8,
    /// Every known opcode and whether it is supported.
    #[serde(default)]
    pub opcodes: Vec<OpcodeFact>,
}

/// The facts about the gated kernel that the verdict depends on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelFacts {
    /// uname -r.
    pub release: String,
    /// (major, minor) as the model's profile reads it.
    pub version: (u32, u32),
    /// The io_uring probe.
    pub io_uring: IoUringFacts,
    /// Where the config facts come from (/proc/config.gz, /boot/config-R, the
    /// config file beside the image), if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_source: Option<String>,
    /// The config options that matter (CONFIG_IO_URING, the filesystems, loop):
    /// "y", "m", or "n" when the config says it is not set.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
}

/// One filesystem the suite ran on (or could not set up).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsRun {
    /// What was asked for ("tmpfs", "ext4", ...).
    pub requested: String,
    /// What the scratch roots are on (statfs), empty when unavailable.
    #[serde(default)]
    pub name: String,
    /// The scratch's own description, or why it could not be made.
    pub describe: String,
    /// True when the scratch area could be set up.
    pub available: bool,
}

/// A campaign divergence, minimized, ready to be saved as a regression file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingReport {
    /// The target that diverged.
    pub target: String,
    /// The filesystem.
    pub filesystem: String,
    /// The op kind it diverged at ("final_state" for a state-only divergence).
    pub opcode: String,
    /// The divergence, as `ringspec run` prints it.
    pub divergence: String,
    /// File name to save it under (`found-...toml`).
    pub file: String,
    /// The regression file's text (`ringspec replay` reads it).
    pub regression_toml: String,
}

/// What the suite was asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuiteSettings {
    /// Campaign seed.
    pub seed: u64,
    /// Campaign sequences per target and filesystem.
    pub cases: u64,
    /// Longest generated body.
    pub max_len: usize,
    /// Scenario name filter (`RINGSPEC_SCENARIOS` syntax).
    #[serde(default)]
    pub filter: String,
    /// The scenario directory.
    pub scenarios: String,
}

/// Everything `ringspec suite` found; the file the guest hands back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteResult {
    /// [`FORMAT`].
    pub format: u32,
    /// The kernel.
    pub kernel: KernelFacts,
    /// What was run.
    pub settings: SuiteSettings,
    /// The filesystems.
    pub filesystems: Vec<FsRun>,
    /// The targets that ran (names, in `targets()` order).
    #[serde(default)]
    pub targets: Vec<String>,
    /// Rows, sorted by key.
    pub rows: Vec<Row>,
    /// Campaign divergences, minimized.
    #[serde(default)]
    pub findings: Vec<FindingReport>,
    /// Problems that make the run unusable as a verdict (io_uring unusable, a
    /// filesystem that could not be set up, an unreadable corpus, interrupted).
    #[serde(default)]
    pub problems: Vec<String>,
    /// Wall time of the suite in seconds.
    pub seconds: f64,
}

impl SuiteResult {
    /// Rows per status.
    pub fn totals(&self) -> BTreeMap<Status, usize> {
        let mut t = BTreeMap::new();
        for r in &self.rows {
            *t.entry(r.status).or_default() += 1;
        }
        t
    }
}

/// The gate's conclusion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Exit 0.
    Passed,
    /// Exit 1: regressions or unaccepted failures.
    Failed,
    /// Exit 2: no verdict.
    Infrastructure,
}

impl Verdict {
    /// The process exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Passed => EXIT_PASS,
            Verdict::Failed => EXIT_FAIL,
            Verdict::Infrastructure => EXIT_INFRA,
        }
    }

    /// "PASSED", "FAILED", "INFRASTRUCTURE FAILURE".
    pub fn title(self) -> &'static str {
        match self {
            Verdict::Passed => "PASSED",
            Verdict::Failed => "FAILED",
            Verdict::Infrastructure => "INFRASTRUCTURE FAILURE",
        }
    }
}

/// The gate's report (report.json): the verdict, how it was reached, and the
/// suite result it judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReport {
    /// [`FORMAT`].
    pub format: u32,
    /// The conclusion.
    pub verdict: Verdict,
    /// Its exit code.
    pub exit_code: u8,
    /// "host", or the image booted.
    pub kernel_image: String,
    /// Why there is no verdict (infrastructure failures only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infrastructure: Option<String>,
    /// Failing rows (and findings) that decided a failed verdict, one line each.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Wall time of the whole gate (boot included) in seconds.
    pub wall_seconds: f64,
    /// What a reader should know about the run that is not a verdict (a guest
    /// that had to be killed after its suite finished).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The baseline file compared with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// The comparison with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comparison: Option<Comparison>,
    /// The suite's result, when one came back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<SuiteResult>,
}

impl GateReport {
    /// Judges a result (or an infrastructure failure) against an optional
    /// baseline. Infrastructure: a missing result or one with `problems`.
    /// Failed: regressions or new failures against the baseline; without a
    /// baseline, any failing row. Passed otherwise.
    pub fn judge(
        kernel_image: &str,
        outcome: Result<SuiteResult, String>,
        baseline: Option<(&Path, &Baseline)>,
        wall: Duration,
    ) -> GateReport {
        let mut report = GateReport {
            format: FORMAT,
            verdict: Verdict::Infrastructure,
            exit_code: EXIT_INFRA,
            kernel_image: kernel_image.to_string(),
            infrastructure: None,
            reasons: Vec::new(),
            wall_seconds: wall.as_secs_f64(),
            notes: Vec::new(),
            baseline: baseline.map(|(p, _)| p.display().to_string()),
            comparison: None,
            result: None,
        };
        let result = match outcome {
            Err(why) => {
                report.infrastructure = Some(why);
                return report;
            }
            Ok(r) => r,
        };
        if !result.problems.is_empty() {
            report.infrastructure = Some(result.problems.join("; "));
            report.result = Some(result);
            return report;
        }
        let mut reasons = Vec::new();
        if let Some((_, b)) = baseline {
            let cmp = baseline::compare_result(b, &result);
            for c in cmp.failing() {
                reasons.push(c.to_string());
            }
            report.comparison = Some(cmp);
        } else {
            for r in result.rows.iter().filter(|r| r.status == Status::Fail) {
                let first = r.failures.first().map(String::as_str).unwrap_or("failed");
                reasons.push(format!("{}: {first}", r.key()));
            }
        }
        report.verdict = if reasons.is_empty() {
            Verdict::Passed
        } else {
            Verdict::Failed
        };
        report.exit_code = report.verdict.exit_code();
        report.reasons = reasons;
        report.result = Some(result);
        report
    }
}

/// Which kernel to gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelChoice {
    /// The running kernel, in place.
    Host,
    /// Boot this image under QEMU.
    Image(PathBuf),
}

/// Which baseline to compare with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaselineChoice {
    /// `corpus/baselines/<release>.json` when it exists.
    Auto,
    /// None: every failing row fails the gate.
    Off,
    /// This file (it must exist and parse).
    File(PathBuf),
}

/// Everything `ringspec gate` takes.
#[derive(Debug, Clone)]
pub struct GateOptions {
    /// The kernel.
    pub kernel: KernelChoice,
    /// The baseline.
    pub baseline: BaselineChoice,
    /// Where the reports go (created).
    pub out: PathBuf,
    /// What the suite runs.
    pub suite: suite::SuiteConfig,
    /// The VM settings (image runs only; `image` is filled from `kernel`).
    pub vm: vm::VmConfig,
    /// Diff coverage (`--coverage`, a kernel built with
    /// kernel/gate-coverage.config): reported after the verdict.
    pub coverage: Option<coverage::CoverageOptions>,
}

impl BaselineChoice {
    /// Loads a named baseline (`File`): it must exist and parse. `Ok(None)`
    /// for `Auto` and `Off` (an automatic baseline is found after the run).
    pub fn load(&self) -> Result<Option<(PathBuf, Baseline)>, String> {
        let BaselineChoice::File(p) = self else {
            return Ok(None);
        };
        match Baseline::load(p) {
            Ok(b) => Ok(Some((p.clone(), b))),
            Err(e) => Err(format!(
                "--baseline {}: give a baseline file (corpus/baselines/*.json, a gate's \
                 baseline.json or report.json) or --no-baseline",
                one_line(&e)
            )),
        }
    }
}

/// `s` on one line (an error message quoted in another).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Checks, before any work, that the reports can be written to `out`
/// (created if needed) and, for a VM run, that vng can share `out/vm` with the
/// guest.
pub fn check_out_dir(out: &Path, for_vm: bool) -> Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| {
        format!(
            "--out {}: cannot create it: {e} (give a writable directory)",
            out.display()
        )
    })?;
    let probe = out.join(".ringspec-write-test");
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|e| {
            format!(
                "--out {}: cannot write in it: {e} (give a writable directory)",
                out.display()
            )
        })?;
    if for_vm {
        let abs = std::fs::canonicalize(out)
            .map_err(|e| format!("--out {}: {e}", out.display()))?
            .join("vm");
        if let Some(why) = vm::rwdir_problem(&abs) {
            return Err(why);
        }
    }
    Ok(())
}

impl GateOptions {
    /// Checks every input before any work (no VM booted, no suite run): the
    /// output directory, a named baseline, the image and the VM settings.
    /// Returns the loaded baseline (`--baseline FILE`). The error is one line
    /// saying what to give instead: bad input, exit [`EXIT_INFRA`].
    pub fn check(&self) -> Result<Option<(PathBuf, Baseline)>, String> {
        let image = match &self.kernel {
            KernelChoice::Host => None,
            KernelChoice::Image(p) => Some(p),
        };
        check_out_dir(&self.out, image.is_some())?;
        let baseline = self.baseline.load()?;
        if let Some(image) = image {
            vm::check_image(image)?;
            self.vm.check()?;
        }
        Ok(baseline)
    }
}

/// The directory the baselines live in (corpus/baselines).
pub fn baselines_dir() -> PathBuf {
    crate::corpus_dir().join("baselines")
}

/// The outcome of [`run_gate`]: the report and the files written.
pub struct GateOutcome {
    /// The report (also in report.json).
    pub report: GateReport,
    /// The markdown summary (also in summary.md).
    pub summary: String,
    /// The files written.
    pub files: Vec<PathBuf>,
}

/// Runs the gate: the suite in the guest or in place, the baseline comparison,
/// the four reports (report.json, results.ktap, junit.xml, summary.md) and
/// baseline.json (this run as a baseline) into `opts.out`. `targets` builds the
/// targets for a scratch area (in-place runs; the guest runs `ringspec suite`,
/// which uses the binary's own). Errors, with nothing run and no report
/// written, on bad input ([`GateOptions::check`]); otherwise only when the
/// reports cannot be written.
pub fn run_gate(opts: &GateOptions, targets: suite::TargetsFn<'_>) -> Result<GateOutcome, String> {
    let started = Instant::now();
    let named_baseline = opts.check()?;
    let mut notes = Vec::new();
    let (image_label, outcome) = match &opts.kernel {
        KernelChoice::Host => {
            eprintln!("ringspec gate: gating the running kernel in place");
            let r = suite::run_suite(&opts.suite, targets);
            ("host".to_string(), Ok(r))
        }
        KernelChoice::Image(image) => {
            let mut vm = opts.vm.clone();
            vm.image = image.clone();
            vm.shared = opts.out.join("vm");
            let r = vm::run_in_vm(&vm, &opts.suite).map(|mut run| {
                if run.result.kernel.config.is_empty() {
                    // The guest had no config to read: the one beside the image.
                    let release = run.result.kernel.release.clone();
                    let dir = image.parent().unwrap_or(Path::new("."));
                    let candidates = [
                        dir.join(format!("config-{release}")),
                        dir.join("boot").join(format!("config-{release}")),
                    ];
                    if let Some((src, cfg)) = suite::config_from_files(&candidates) {
                        run.result.kernel.config_source = Some(src);
                        run.result.kernel.config = cfg;
                    }
                }
                eprintln!(
                    "ringspec gate: guest finished in {:.1} s (suite {:.1} s)",
                    run.seconds, run.result.seconds
                );
                // Everything the kernel said about itself is part of the
                // verdict: one failing row per alarm.
                let mut alarms = kernel_log::scan(&run.kernel_log);
                alarms.extend(
                    run.tainted
                        .and_then(|t| kernel_log::taint_alarm(t, "suite finished")),
                );
                let alarm_rows = kernel_log::alarm_rows(&alarms);
                eprintln!(
                    "ringspec gate: kernel log: {} reports, {} kernel-log rows{}",
                    alarms.len(),
                    alarm_rows.len(),
                    run.tainted
                        .map_or(String::new(), |t| format!(", tainted = {t}"))
                );
                run.result.rows.extend(alarm_rows);
                run.result.rows.sort_by_key(Row::key);
                if let Some(crash) = &run.crashed {
                    // The rows up to the crash stand; the suite's checkpoint
                    // note is no infrastructure problem here.
                    run.result
                        .problems
                        .retain(|p| !p.starts_with("checkpoint after "));
                    notes.push(format!(
                        "the guest kernel crashed before the suite finished: rows up to the \
                         last finished target, then the crash ({})",
                        crash.lines().next().unwrap_or("")
                    ));
                }
                if run.killed_after_suite {
                    notes.push(format!(
                        "the guest did not power off within {:.0} s of the suite's end (a kernel \
                         without ACPI cannot); QEMU was killed, the results are complete",
                        run.shutdown_seconds.unwrap_or(0.0)
                    ));
                }
                run.result
            });
            match r {
                Err(e) if e.is_kernel_failure() => {
                    // A verdict without a result: the kernel crashed under the suite.
                    let mut report = GateReport::judge(
                        &image.display().to_string(),
                        Err(String::new()),
                        None,
                        started.elapsed(),
                    );
                    report.infrastructure = None;
                    report.verdict = Verdict::Failed;
                    report.exit_code = EXIT_FAIL;
                    report.reasons = vec![e.to_string()];
                    return write_reports(opts, report);
                }
                r => (image.display().to_string(), r.map_err(|e| e.to_string())),
            }
        }
    };
    let release = outcome
        .as_ref()
        .map(|r| r.kernel.release.clone())
        .unwrap_or_default();
    let baseline_path = match &opts.baseline {
        BaselineChoice::Off => None,
        BaselineChoice::File(p) => Some(p.clone()),
        BaselineChoice::Auto if !release.is_empty() => {
            let p = baselines_dir().join(format!("{release}.json"));
            p.is_file()
                .then(|| std::fs::canonicalize(&p).unwrap_or(p.clone()))
        }
        BaselineChoice::Auto => None,
    };
    let loaded = match &baseline_path {
        None => None,
        // Loaded by the check before the run.
        Some(_) if named_baseline.is_some() => named_baseline,
        Some(p) => match Baseline::load(p) {
            Ok(b) => Some((p.clone(), b)),
            Err(e) => {
                // A named baseline that cannot be read is bad input: no verdict.
                let report = GateReport::judge(
                    &image_label,
                    Err(format!("baseline: {e}")),
                    None,
                    started.elapsed(),
                );
                return write_reports(opts, report);
            }
        },
    };
    if let Some((p, _)) = &loaded {
        eprintln!("ringspec gate: comparing with baseline {}", p.display());
    }
    let mut report = GateReport::judge(
        &image_label,
        outcome,
        loaded.as_ref().map(|(p, b)| (p.as_path(), b)),
        started.elapsed(),
    );
    report.notes = notes;
    write_reports(opts, report)
}

fn write_reports(opts: &GateOptions, report: GateReport) -> Result<GateOutcome, String> {
    let out = &opts.out;
    let mut files = Vec::new();
    let mut write = |name: &str, text: &str| -> Result<(), String> {
        let p = out.join(name);
        std::fs::write(&p, text).map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        files.push(p);
        Ok(())
    };
    write("report.json", &report::json(&report))?;
    write("results.ktap", &report::ktap(&report))?;
    write("junit.xml", &report::junit(&report))?;
    let mut summary = report::markdown(&report);
    let mut coverage_files = Vec::new();
    if let (Some(cov), KernelChoice::Image(_)) = (&opts.coverage, &opts.kernel) {
        // After the verdict, which it never changes: a coverage failure is a
        // note in the summary.
        match coverage::report(cov, &out.join("vm"), out) {
            Ok(c) => {
                summary.push_str(&c.markdown);
                coverage_files = c.files;
            }
            Err(e) => {
                eprintln!("ringspec gate: coverage: {e}");
                summary.push_str(&format!("\n## Coverage\n\nNo coverage report: {e}\n"));
            }
        }
    }
    write("summary.md", &summary)?;
    if let Some(result) = &report.result {
        if result.problems.is_empty() {
            let b = Baseline::from_result(result);
            write("baseline.json", &b.to_json())?;
        }
        for f in &result.findings {
            write(&f.file, &f.regression_toml)?;
        }
    }
    files.extend(coverage_files);
    Ok(GateOutcome {
        report,
        summary,
        files,
    })
}
