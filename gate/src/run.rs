//! `ringspec gate`: get a suite result (from a guest or the host), judge it,
//! write the reports, and give the exit code.

use crate::baseline::{self, Baseline};
use crate::result::*;
use crate::verdict::{GateReport, Verdict};
use crate::{coverage, kernel_log, report, suite, vm};
use std::path::{Path, PathBuf};
use std::time::Instant;

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

/// A `--baseline` file that cannot be used ([`BaselineChoice::load`]).
#[derive(Debug, thiserror::Error)]
#[error(
    "--baseline {}: give a baseline file (corpus/baselines/*.json, a gate's baseline.json or \
     report.json) or --no-baseline",
    one_line(&.0.to_string())
)]
pub struct BadBaseline(#[source] pub baseline::LoadError);

impl BaselineChoice {
    /// Loads a named baseline (`File`): it must exist and parse. `Ok(None)`
    /// for `Auto` and `Off` (an automatic baseline is found after the run).
    pub fn load(&self) -> Result<Option<(PathBuf, Baseline)>, BadBaseline> {
        let BaselineChoice::File(p) = self else {
            return Ok(None);
        };
        let b = Baseline::load(p).map_err(BadBaseline)?;
        Ok(Some((p.clone(), b)))
    }
}

/// `s` on one line (an error message quoted in another).
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Why the reports cannot be written to `--out` ([`check_out_dir`]); each
/// says what to give instead.
#[derive(Debug, thiserror::Error)]
pub enum OutDirError {
    /// The directory could not be created.
    #[error("--out {}: cannot create it: {source} (give a writable directory)", path.display())]
    Create {
        /// The directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// No file can be written in it.
    #[error("--out {}: cannot write in it: {source} (give a writable directory)", path.display())]
    Write {
        /// The directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Its absolute path could not be found.
    #[error("--out {}: {source}", path.display())]
    Resolve {
        /// The directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// vng cannot share its `vm` subdirectory with the guest.
    #[error(transparent)]
    Unshareable(#[from] vm::Unshareable),
}

/// Checks, before any work, that the reports can be written to `out`
/// (created if needed) and, for a VM run, that vng can share `out/vm` with the
/// guest.
pub fn check_out_dir(out: &Path, for_vm: bool) -> Result<(), OutDirError> {
    let path = || out.to_path_buf();
    std::fs::create_dir_all(out).map_err(|source| OutDirError::Create {
        path: path(),
        source,
    })?;
    let probe = out.join(".ringspec-write-test");
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|source| OutDirError::Write {
            path: path(),
            source,
        })?;
    if for_vm {
        let abs = std::fs::canonicalize(out)
            .map_err(|source| OutDirError::Resolve {
                path: path(),
                source,
            })?
            .join("vm");
        if let Some(why) = vm::rwdir_problem(&abs) {
            return Err(why.into());
        }
    }
    Ok(())
}

/// Bad input to the gate ([`GateOptions::check`]): one line saying what to
/// give instead, exit [`EXIT_INFRA`].
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// `--out` cannot take the reports.
    #[error(transparent)]
    OutDir(#[from] OutDirError),
    /// The `--baseline` file cannot be used.
    #[error(transparent)]
    Baseline(#[from] BadBaseline),
    /// The image is not a bootable kernel image.
    #[error(transparent)]
    Image(#[from] vm::ImageError),
    /// A VM setting cannot work.
    #[error(transparent)]
    Vm(#[from] vm::ConfigError),
}

/// Why [`run_gate`] gave no outcome: bad input (nothing run), or reports that
/// could not be written.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// Bad input, found before any work.
    #[error(transparent)]
    Input(#[from] InputError),
    /// A report could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The report's file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl GateOptions {
    /// Checks every input before any work (no VM booted, no suite run): the
    /// output directory, a named baseline, the image and the VM settings.
    /// Returns the loaded baseline (`--baseline FILE`). The error is one line
    /// saying what to give instead: bad input, exit [`EXIT_INFRA`].
    pub fn check(&self) -> Result<Option<(PathBuf, Baseline)>, InputError> {
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
    oracle::corpus_dir().join("baselines")
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
pub fn run_gate(
    opts: &GateOptions,
    targets: suite::TargetsFn<'_>,
) -> Result<GateOutcome, GateError> {
    let started = Instant::now();
    let named_baseline = opts.check()?;
    let mut notes = Vec::new();
    let (image_label, outcome) = match &opts.kernel {
        KernelChoice::Host => {
            log::info!("ringspec gate: gating the running kernel in place");
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
                log::info!(
                    "ringspec gate: guest finished in {:.1} s (suite {:.1} s)",
                    run.seconds,
                    run.result.seconds
                );
                // Everything the kernel said about itself is part of the
                // verdict: one failing row per alarm.
                let mut alarms = kernel_log::scan(&run.kernel_log);
                alarms.extend(
                    run.tainted
                        .and_then(|t| kernel_log::taint_alarm(t, "suite finished")),
                );
                let alarm_rows = kernel_log::alarm_rows(&alarms);
                log::info!(
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
        log::info!("ringspec gate: comparing with baseline {}", p.display());
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

fn write_reports(opts: &GateOptions, report: GateReport) -> Result<GateOutcome, GateError> {
    let out = &opts.out;
    let mut files = Vec::new();
    let mut write = |name: &str, text: &str| -> Result<(), GateError> {
        let path = out.join(name);
        if let Err(source) = std::fs::write(&path, text) {
            return Err(GateError::Write { path, source });
        }
        files.push(path);
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
                log::warn!("ringspec gate: coverage: {e}");
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
