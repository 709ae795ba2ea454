//! Running `ringspec suite` inside a kernel image booted by virtme-ng (`vng`)
//! under QEMU.
//!
//! The guest sees the host's root filesystem read-only over 9p, so it runs this
//! very binary from its host path. A directory shared read-write with the guest
//! (`vng --rwdir`) carries everything back: the result JSON, the guest command's
//! exit status and its logs. vng's own exit status is not trusted (it gives 255
//! with some distribution kernels even when the guest command succeeded).
//!
//! The shared directory holds:
//! - `guest.sh`: the script the guest runs (written by the host);
//! - `started`: written first thing in the guest (absent: it never ran);
//! - `release`: the guest's uname -r;
//! - `modprobe.log`: module loading (with `--modules`);
//! - `suite.log`: the suite's stderr;
//! - `result.json`: the [`SuiteResult`];
//! - `status`: the suite's exit status (absent: the guest died first), written
//!   after result.json and a `sync`, so once it is there the suite has finished
//!   and its result is on the host;
//! - `vng.log`: vng's and QEMU's output with the serial console (host side).
//!
//! Ending the guest: once `status` is there, the guest gets
//! [`VmConfig::poweroff_grace`] to power off (virtme-ng-init powers off after
//! the command; a kernel without ACPI cannot, its power-off is a halt, so the
//! script reboots it instead, which ends QEMU under vng's `-no-reboot`). A guest
//! still running after that is killed and the run goes on as if it had powered
//! off: the results are complete, so that kill is no infrastructure failure.
//!
//! A guest that never finishes ends at [`VmConfig::timeout`], or sooner once
//! its kernel has reported a hung task and the suite has been silent for
//! [`VmConfig::hung_task_grace`] since (see [`end_after_hung_task`]): a task
//! blocked in the kernel (a lock a broken kernel never releases) cannot be
//! interrupted, so the suite waits forever; the report already fails the
//! run, and the rows up to the suite's last checkpoint stand with it.

use super::suite::SuiteConfig;
use super::SuiteResult;
use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use sys::scratch::FsChoice;

/// How to boot the guest.
#[derive(Debug, Clone)]
pub struct VmConfig {
    /// The kernel image (bzImage/vmlinuz).
    pub image: PathBuf,
    /// An unpacked module tree (DIR/lib/modules/RELEASE, indexed by depmod) to
    /// load the filesystem and loop modules from in the guest (`modprobe -d DIR`).
    pub modules: Option<PathBuf>,
    /// The ringspec binary the guest runs (this one).
    pub exe: PathBuf,
    /// The directory shared with the guest (created, emptied; absolute path).
    pub shared: PathBuf,
    /// Kill the VM after this long.
    pub timeout: Duration,
    /// Guest memory (vng --memory).
    pub memory: String,
    /// Guest CPUs (vng --cpus).
    pub cpus: u32,
    /// The vng program.
    pub vng: PathBuf,
    /// Use KVM (default: TCG, `--disable-kvm`; nested guests die under KVM here).
    pub kvm: bool,
    /// Environment for the suite in the guest (the guest does not inherit the
    /// host's): by default every `RINGSPEC_*` variable of this process.
    pub env: Vec<(String, String)>,
    /// Extra kernel command line (vng --append), e.g.
    /// "sysctl.kernel.io_uring_disabled=2".
    pub append: Option<String>,
    /// How long a guest whose suite has finished (the `status` file is there)
    /// gets to power off before QEMU is killed.
    pub poweroff_grace: Duration,
    /// How long the suite may stay silent (suite.log and its checkpoint
    /// unchanged) after the kernel reported a hung task before the guest is
    /// ended (`RINGSPEC_HUNG_TASK_GRACE`, seconds; default
    /// [`HUNG_TASK_GRACE`]).
    pub hung_task_grace: Duration,
}

/// Default of [`VmConfig::poweroff_grace`]: a TCG guest powers off within a
/// second or two of the command's end.
pub const POWEROFF_GRACE: Duration = Duration::from_secs(10);

/// Default of [`VmConfig::hung_task_grace`]: the suite writes its log at
/// least once per target, and a target of the debug gate's suite takes well
/// under this under TCG.
pub const HUNG_TASK_GRACE: Duration = Duration::from_secs(120);

/// How long after `status` appeared the gate waits for a readable result.json
/// before it kills the guest anyway (the status is written after the result
/// and a sync, so this is a safety margin, not a wait that happens).
pub const RESULT_SETTLE: Duration = Duration::from_secs(60);

impl Default for VmConfig {
    fn default() -> VmConfig {
        VmConfig {
            image: PathBuf::new(),
            modules: None,
            exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("ringspec")),
            shared: PathBuf::from("gate-out/vm"),
            timeout: Duration::from_secs(1800),
            memory: "2G".to_string(),
            cpus: 2,
            vng: PathBuf::from("vng"),
            kvm: false,
            env: std::env::vars()
                .filter(|(k, _)| k.starts_with("RINGSPEC_"))
                .collect(),
            append: None,
            poweroff_grace: POWEROFF_GRACE,
            hung_task_grace: std::env::var("RINGSPEC_HUNG_TASK_GRACE")
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .map_or(HUNG_TASK_GRACE, Duration::from_secs),
        }
    }
}

/// Why the guest produced no usable result. Every variant is an
/// infrastructure failure except [`VmError::KernelCrashed`], which is the
/// kernel's own failure (a panic, oops or BUG while the suite ran).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VmError {
    /// The image is not a readable file.
    #[error("kernel image {} not found", .0.display())]
    ImageNotFound(PathBuf),
    /// The module directory lacks `lib/modules/<release>`.
    #[error("modules: {0}")]
    BadModules(String),
    /// vng is not installed or cannot be started.
    #[error("virtme-ng: {0}")]
    Vng(String),
    /// The shared directory could not be prepared or read.
    #[error("shared directory: {0}")]
    Shared(String),
    /// The VM was killed after the timeout.
    #[error("the VM timed out after {} s ({}); killed{}", after.as_secs(), timed_out_phase(*started), last_lines(log_tail))]
    TimedOut {
        /// The timeout.
        after: Duration,
        /// Whether the guest had started the command.
        started: bool,
        /// The end of vng.log.
        log_tail: String,
    },
    /// The guest never ran the command (not bootable, or vng failed).
    #[error(
        "the guest never ran the suite (kernel not bootable?){}",
        last_lines(log_tail)
    )]
    NeverStarted {
        /// The end of vng.log.
        log_tail: String,
    },
    /// The guest stopped while the suite ran, without a status or a kernel crash
    /// in the console.
    #[error("the guest stopped before the suite finished{}", last_lines(log_tail))]
    Died {
        /// The end of vng.log.
        log_tail: String,
    },
    /// The kernel crashed (panic, oops, BUG) while the suite ran.
    #[error("the kernel crashed while the suite ran:\n{excerpt}")]
    KernelCrashed {
        /// The console lines of the crash.
        excerpt: String,
    },
    /// The suite ran but exited with an unexpected status (not 0, 1 or 2).
    #[error("ringspec suite exited {status} in the guest{}", last_lines(log_tail))]
    SuiteFailed {
        /// Its exit status.
        status: String,
        /// The end of suite.log.
        log_tail: String,
    },
    /// result.json is missing or unreadable.
    #[error("result: {0}")]
    BadResult(String),
    /// Interrupted (SIGINT) before the guest finished.
    #[error("interrupted before the guest finished")]
    Interrupted,
}

impl VmError {
    /// True when the kernel itself failed (a verdict, not infrastructure).
    pub fn is_kernel_failure(&self) -> bool {
        matches!(self, VmError::KernelCrashed { .. })
    }
}

/// `"\n--- last lines ---\n<tail>"`, or nothing for an empty tail.
fn last_lines(tail: &str) -> String {
    if tail.trim().is_empty() {
        String::new()
    } else {
        format!("\n--- last lines ---\n{tail}")
    }
}

/// "the suite was running" or "the guest never started the suite".
fn timed_out_phase(started: bool) -> &'static str {
    if started {
        "the suite was running"
    } else {
        "the guest never started the suite"
    }
}

/// A finished guest run.
#[derive(Debug, Clone)]
pub struct VmRun {
    /// The suite's result.
    pub result: SuiteResult,
    /// The suite's exit status in the guest.
    pub status: i32,
    /// Wall time from starting vng to the guest's end.
    pub seconds: f64,
    /// Seconds from the suite's end (the `status` file) to the guest's end,
    /// when the gate saw it end.
    pub shutdown_seconds: Option<f64>,
    /// True when the guest did not power off within
    /// [`VmConfig::poweroff_grace`] of the suite's end and QEMU was killed
    /// (the results were complete; not a failure).
    pub killed_after_suite: bool,
    /// The guest kernel's log: `dmesg` taken after the suite (`dmesg.txt`),
    /// else the serial console (`vng.log`), which is also what a crashed
    /// guest leaves. [`super::kernel_log::scan`] turns it into rows.
    pub kernel_log: String,
    /// `/proc/sys/kernel/tainted` after the suite (None: not read, e.g. the
    /// guest crashed first).
    pub tainted: Option<u64>,
    /// The console lines of a kernel crash that ended the guest before the
    /// suite finished; `result` then holds the rows up to the crash (the
    /// suite's checkpoint after its last finished target).
    pub crashed: Option<String>,
}

/// How far the guest got, from the shared directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestProgress {
    /// No `started` file: the guest has not run the script (yet).
    NotStarted,
    /// Started, no `status` yet: the suite is running.
    Running,
    /// `status` is there, but result.json is missing or does not parse (or the
    /// status is not 0, 1 or 2): the suite has ended without a usable result.
    FinishedIncomplete,
    /// `status` is 0, 1 or 2 and result.json parses: the results are complete.
    Finished,
}

/// Reads [`GuestProgress`] from the shared directory.
pub fn guest_progress(shared: &Path) -> GuestProgress {
    let Ok(status) = std::fs::read_to_string(shared.join("status")) else {
        return if shared.join("started").exists() {
            GuestProgress::Running
        } else {
            GuestProgress::NotStarted
        };
    };
    let complete = matches!(status.trim().parse::<i32>(), Ok(0..=2))
        && std::fs::read_to_string(shared.join("result.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<SuiteResult>(&t).ok())
            .is_some();
    if complete {
        GuestProgress::Finished
    } else {
        GuestProgress::FinishedIncomplete
    }
}

/// Whether the watcher ends a guest that is still running, given how far it
/// got and how long ago its `status` appeared: after `grace` with complete
/// results, after [`RESULT_SETTLE`] without (nothing more will come).
pub fn end_guest_now(progress: GuestProgress, since_status: Duration, grace: Duration) -> bool {
    match progress {
        GuestProgress::NotStarted | GuestProgress::Running => false,
        GuestProgress::Finished => since_status >= grace,
        GuestProgress::FinishedIncomplete => since_status >= grace.max(RESULT_SETTLE),
    }
}

/// Whether the watcher ends a running guest whose kernel reported a hung
/// task `since_report` ago, while the suite has been silent for
/// `since_progress`: both at least `grace`. The report fails the run anyway;
/// a suite still writing its log is let finish (a stuck child process of a
/// check, or an io-wq worker, blocks alone), a silent one is waiting on the
/// blocked task and would do so until the timeout.
pub fn end_after_hung_task(
    since_report: Duration,
    since_progress: Duration,
    grace: Duration,
) -> bool {
    since_report >= grace && since_progress >= grace
}

/// Whether the console bytes of `log` from `*from` on hold a hung-task
/// report (`INFO: task ... blocked for more than N seconds`); advances
/// `*from` past what was read (less a line, which the next call rereads).
fn console_reports_hung_task(log: &Path, from: &mut u64) -> bool {
    use std::io::{Seek as _, SeekFrom};
    let Ok(mut f) = std::fs::File::open(log) else {
        return false;
    };
    let start = from.saturating_sub(512);
    if f.seek(SeekFrom::Start(start)).is_err() {
        return false;
    }
    let mut bytes = Vec::new();
    if f.read_to_end(&mut bytes).is_err() {
        return false;
    }
    *from = start + bytes.len() as u64;
    String::from_utf8_lossy(&bytes)
        .lines()
        .any(|l| l.contains("INFO: task ") && l.contains(" blocked for more than "))
}

/// Quotes for sh: single quotes, with `'` as `'\''`.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl VmConfig {
    /// Checks the settings that do not depend on the image (before any work):
    /// at least one CPU, a QEMU memory size, a non-zero timeout, a module
    /// directory with lib/modules. The error says what to give instead.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.cpus == 0 {
            return Err(ConfigError::NoCpu);
        }
        let digits = self
            .memory
            .trim_end_matches(['K', 'M', 'G', 'T', 'k', 'm', 'g', 't']);
        let suffix = self.memory.len() - digits.len();
        if suffix > 1
            || digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.bytes().all(|b| b == b'0')
        {
            return Err(ConfigError::Memory(self.memory.clone()));
        }
        if self.timeout.is_zero() {
            return Err(ConfigError::NoTime);
        }
        if let Some(dir) = &self.modules {
            if !dir.join("lib/modules").is_dir() {
                return Err(ConfigError::Modules(dir.clone()));
            }
        }
        Ok(())
    }
}

/// A VM setting that cannot work ([`VmConfig::check`]); each says what to
/// give instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `--cpus 0`.
    #[error("--cpus 0: the guest needs at least one CPU")]
    NoCpu,
    /// `--memory` is not a QEMU memory size.
    #[error("--memory {0:?}: not a memory size (use e.g. 2G, 2048M)")]
    Memory(String),
    /// `--timeout 0`.
    #[error("--timeout 0: give the VM some time (e.g. 30m)")]
    NoTime,
    /// The module directory has no lib/modules/.
    #[error(
        "modules: {} has no lib/modules/ (unpack the image package there: \
         scripts/fetch-kernels.sh)",
        .0.display()
    )]
    Modules(PathBuf),
}

/// What [`check_image`] accepts, said when it refuses a path.
const IMAGE_HINT: &str =
    "give a bzImage/vmlinuz, a directory from scripts/fetch-kernels.sh, or host";

/// Why a path is not a kernel image QEMU can boot ([`check_image`]); each
/// says what to give instead.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// Nothing is there.
    #[error("kernel image {} not found ({IMAGE_HINT})", .0.display())]
    NotFound(PathBuf),
    /// Something other than a file is there.
    #[error("kernel image {} is not a file ({IMAGE_HINT})", .0.display())]
    NotAFile(PathBuf),
    /// The file could not be read.
    #[error("kernel image {}: {source}", path.display())]
    Unreadable {
        /// The image.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file has neither the x86 boot header nor an ELF header.
    #[error(
        "{} is not a kernel image (no x86 boot header, not ELF; {IMAGE_HINT})",
        .0.display()
    )]
    NotAnImage(PathBuf),
}

/// Checks that `path` is a kernel image QEMU can boot: a readable file with
/// the x86 boot header ("HdrS" at 0x202: bzImage, vmlinuz) or an ELF file
/// (vmlinux). The error says what to give instead.
pub fn check_image(path: &Path) -> Result<(), ImageError> {
    if !path.exists() {
        return Err(ImageError::NotFound(path.to_path_buf()));
    }
    if !path.is_file() {
        return Err(ImageError::NotAFile(path.to_path_buf()));
    }
    let mut head = [0u8; 0x206];
    let n = std::fs::File::open(path)
        .and_then(|mut f| {
            let mut n = 0;
            while n < head.len() {
                match f.read(&mut head[n..])? {
                    0 => break,
                    k => n += k,
                }
            }
            Ok(n)
        })
        .map_err(|source| ImageError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
    let bzimage = n >= 0x206 && &head[0x202..0x206] == b"HdrS";
    let elf = n >= 4 && &head[..4] == b"\x7fELF";
    if !bzimage && !elf {
        return Err(ImageError::NotAnImage(path.to_path_buf()));
    }
    Ok(())
}

/// A path vng's `--rwdir` cannot share: it holds ',', '=', quotes, spaces
/// or a newline ([`rwdir_problem`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{}: vng --rwdir cannot share a path with ',', '=', quotes or spaces; use another --out",
    .0.display()
)]
pub struct Unshareable(pub PathBuf);

/// Why vng's `--rwdir` cannot share `path` (absolute), if it cannot.
pub fn rwdir_problem(path: &Path) -> Option<Unshareable> {
    let text = path.display().to_string();
    text.contains([',', '=', ' ', '\'', '"', '\n'])
        .then(|| Unshareable(path.to_path_buf()))
}

/// The modules each filesystem needs.
fn modules_for(fs: &[FsChoice]) -> Vec<&'static str> {
    let mut m = Vec::new();
    for f in fs {
        let name = match f {
            FsChoice::Tmpfs => continue,
            FsChoice::Ext4 => "ext4",
            FsChoice::Xfs => "xfs",
            FsChoice::Btrfs => "btrfs",
        };
        if !m.contains(&"loop") {
            m.push("loop");
        }
        m.push(name);
    }
    m
}

/// Kernel command line the gate always adds. `no5lvl`: TCG's CPU offers
/// LA57, and on 6.12 identify_cpu() clears boot_cpu_data's capabilities
/// (LA57 with them) for a moment; an interrupt in that window makes KASAN
/// compute its shadow bounds for 4-level paging and report a wild access in
/// rcu_is_watching/trace_irq_disable during boot (seen once in a cold CI run
/// of the clean series: a false kernel-log row). 4-level paging closes the
/// window; nothing the suite tests depends on the paging depth.
pub const KERNEL_APPEND: &str = "printk.devkmsg=on log_buf_len=4M no5lvl";

/// The script the guest runs: marks the start, loads modules, runs the suite
/// into the shared directory and records its exit status.
pub fn guest_script(cfg: &VmConfig, suite: &SuiteConfig) -> String {
    let shared = sh_quote(&cfg.shared.display().to_string());
    let mut s = String::from("#!/bin/sh\n# Written by ringspec gate; runs inside the guest.\n");
    s.push_str(&format!("S={shared}\n"));
    s.push_str("echo started > \"$S/started\"\nuname -r > \"$S/release\"\n");
    // TCG guests start with a cold page cache of the 9p root: nothing to tune.
    if let Some(dir) = &cfg.modules {
        let d = sh_quote(&dir.display().to_string());
        for m in modules_for(&suite.filesystems) {
            s.push_str(&format!(
                "modprobe -d {d} {m} >> \"$S/modprobe.log\" 2>&1 || echo \"modprobe {m} failed: $?\" >> \"$S/modprobe.log\"\n"
            ));
        }
    }
    for (k, v) in &cfg.env {
        if k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            s.push_str(&format!("export {k}={}\n", sh_quote(v)));
        }
    }
    // Kernel-log verdicts: the suite marks each target in /dev/kmsg and, on a
    // kmemleak kernel, forces a scan after each (through debugfs). Only in a
    // vng guest: a host's kernel log and mounts are not ours.
    s.push_str(&format!(
        "case \"$(cat /proc/cmdline 2>/dev/null)\" in\n\
         *virtme_initmount*)\n\
         \x20   export {}=1\n\
         \x20   grep -q ' /sys/kernel/debug ' /proc/mounts \
         || mount -t debugfs none /sys/kernel/debug 2> /dev/null ;;\n\
         esac\n",
        super::kernel_log::MARKS_ENV
    ));
    let fs: Vec<&str> = suite.filesystems.iter().map(|f| f.name()).collect();
    let mut args = vec![
        sh_quote(&cfg.exe.display().to_string()),
        "suite".to_string(),
        "--out".to_string(),
        "\"$S/result.json\"".to_string(),
        "--seed".to_string(),
        suite.seed.to_string(),
        "--cases".to_string(),
        suite.cases.to_string(),
        "--max-len".to_string(),
        suite.max_len.to_string(),
        "--fs".to_string(),
        fs.join(","),
        "--scenarios".to_string(),
        sh_quote(&suite.scenarios_dir.display().to_string()),
    ];
    if !suite.filter.is_empty() {
        args.push("--filter".to_string());
        args.push(sh_quote(&suite.filter));
    }
    for spec in &suite.fuzz {
        args.push("--fuzz".to_string());
        args.push(spec.arg());
    }
    if !suite.fuzz.is_empty() {
        args.push("--fuzz-bin".to_string());
        args.push(sh_quote(&suite.fuzz_bin.display().to_string()));
        if suite.fuzz_empty_corpus {
            args.push("--fuzz-empty-corpus".to_string());
        }
    }
    s.push_str(&format!(
        "{} 2> \"$S/suite.log\" > /dev/null\n",
        args.join(" ")
    ));
    // The result reaches the host before the status that announces it: the
    // host ends the guest soon after it sees the status.
    s.push_str("rc=$?\n");
    // The guest kernel's log and taint, for the kernel-log verdicts (in a
    // vng guest only: a host's log is not this kernel's verdict).
    s.push_str(
        "case \"$(cat /proc/cmdline 2>/dev/null)\" in\n\
         *virtme_initmount*)\n\
         \x20   dmesg > \"$S/dmesg.txt\" 2> /dev/null\n\
         \x20   cat /proc/sys/kernel/tainted > \"$S/tainted\" 2> /dev/null ;;\n\
         esac\nsync\n",
    );
    // A coverage kernel's gcov counters (--coverage), before the status: the
    // tree under /sys/kernel/debug/gcov mirrors the build's object directory;
    // only the .gcda files are copied (the .gcno links point into the host's
    // build directory, which the host reads itself). In a vng guest only.
    s.push_str(
        "case \"$(cat /proc/cmdline 2>/dev/null)\" in\n\
         *virtme_initmount*)\n\
         \x20   if [ -d /sys/kernel/debug/gcov ]; then\n\
         \x20       (cd /sys/kernel/debug/gcov && find . -name '*.gcda' | while read -r f; do\n\
         \x20           mkdir -p \"$S/gcov/${f%/*}\" && cat \"$f\" > \"$S/gcov/$f\"\n\
         \x20       done) 2> \"$S/gcov.log\"\n\
         \x20   fi ;;\n\
         esac\nsync\n",
    );
    s.push_str(
        "echo $rc > \"$S/status.partial\" && mv \"$S/status.partial\" \"$S/status\"\nsync\n",
    );
    s.push_str("echo \"ringspec: suite finished (status $rc); powering off\" >&2\n");
    // virtme-ng-init powers off after this script. Without ACPI the kernel
    // cannot (reboot(RB_POWER_OFF) halts, QEMU runs on); a reboot ends QEMU,
    // which vng starts with -no-reboot. Only in a vng guest (its kernel command
    // line has virtme_initmount for --rwdir), never on a host running this.
    // RINGSPEC_GUEST_REBOOT=0 leaves it to virtme-ng-init (and, without ACPI,
    // to the host's watcher: see the module docs).
    s.push_str(
        "case \"$(cat /proc/cmdline 2>/dev/null)\" in\n\
         *virtme_initmount*)\n\
         \x20   if [ \"${RINGSPEC_GUEST_REBOOT:-1}\" != 0 ] && [ ! -d /sys/firmware/acpi ] \\\n\
         \x20       && command -v busybox > /dev/null; then\n\
         \x20       busybox reboot -f\n\
         \x20   fi ;;\n\
         esac\n",
    );
    s
}

/// The last `n` lines of a log, NUL bytes and carriage returns removed.
pub fn log_tail(path: &Path, n: usize) -> String {
    let mut bytes = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let _ = f.read_to_end(&mut bytes);
    }
    let text: String = String::from_utf8_lossy(&bytes)
        .chars()
        .filter(|c| *c != '\0' && *c != '\r')
        .collect();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The console lines of a kernel crash in a log, if there is one.
pub fn crash_excerpt(log: &str) -> Option<String> {
    let markers = [
        "Kernel panic",
        "BUG:",
        "Oops:",
        "general protection fault",
        "kernel BUG at",
    ];
    let lines: Vec<&str> = log.lines().collect();
    let i = lines
        .iter()
        .position(|l| markers.iter().any(|m| l.contains(m)))?;
    Some(lines[i..lines.len().min(i + 20)].join("\n"))
}

/// Boots `cfg.image` with vng, runs the suite in it and reads the result back.
pub fn run_in_vm(cfg: &VmConfig, suite: &SuiteConfig) -> Result<VmRun, VmError> {
    if !cfg.image.is_file() {
        return Err(VmError::ImageNotFound(cfg.image.clone()));
    }
    if let Some(dir) = &cfg.modules {
        if !dir.join("lib/modules").is_dir() {
            return Err(VmError::BadModules(format!(
                "{} has no lib/modules/ (unpack the image package there: scripts/fetch-kernels.sh)",
                dir.display()
            )));
        }
    }
    let shared = prepare_shared(&cfg.shared)?;
    let cfg = VmConfig {
        shared: shared.clone(),
        image: std::fs::canonicalize(&cfg.image).unwrap_or_else(|_| cfg.image.clone()),
        modules: cfg
            .modules
            .as_ref()
            .map(|m| std::fs::canonicalize(m).unwrap_or_else(|_| m.clone())),
        ..cfg.clone()
    };
    let script = shared.join("guest.sh");
    std::fs::write(&script, guest_script(&cfg, suite))
        .map_err(|e| VmError::Shared(format!("{}: {e}", script.display())))?;
    let log_path = shared.join("vng.log");
    let log = std::fs::File::create(&log_path)
        .map_err(|e| VmError::Shared(format!("{}: {e}", log_path.display())))?;
    let log2 = log
        .try_clone()
        .map_err(|e| VmError::Shared(format!("{}: {e}", log_path.display())))?;
    let mut cmd = Command::new(&cfg.vng);
    if !cfg.kvm {
        cmd.arg("--disable-kvm");
    }
    cmd.args(["--force-9p", "--verbose"])
        .arg("--memory")
        .arg(&cfg.memory)
        .arg("--cpus")
        .arg(cfg.cpus.to_string())
        .arg("--rwdir")
        .arg(&shared);
    // Writes to /dev/kmsg (the suite's markers, kmemleak's reports) are not
    // rate-limited, and the log holds a whole debug run.
    let mut append = KERNEL_APPEND.to_string();
    if let Some(extra) = &cfg.append {
        append.push(' ');
        append.push_str(extra);
    }
    cmd.arg("--append").arg(append);
    cmd.arg("--run")
        .arg(&cfg.image)
        .arg("--exec")
        .arg(format!("sh {}", sh_quote(&script.display().to_string())))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        // Its own process group: the timeout kills vng and QEMU together, and a
        // terminal's Ctrl-C reaches only us (we then kill the group).
        .process_group(0);
    log::info!(
        "ringspec gate: booting {} ({}, {} s timeout; console in {})",
        cfg.image.display(),
        if cfg.kvm { "KVM" } else { "TCG" },
        cfg.timeout.as_secs(),
        log_path.display()
    );
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| {
        VmError::Vng(format!(
            "cannot run {}: {e} (pip install virtme-ng; apt-get install qemu-system-x86 busybox-static)",
            cfg.vng.display()
        ))
    })?;
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let kill_group = || {
        let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    };
    let mut last_note = Instant::now();
    // When the watcher first saw the `status` file.
    let mut status_seen: Option<Instant> = None;
    let mut killed_after_suite = false;
    // The hung-task watch: console bytes searched, when a report was first
    // seen, and the suite's last sign of progress (suite.log's length, the
    // checkpoint's modification time).
    let mut console_searched = 0u64;
    let mut hung_seen: Option<Instant> = None;
    let mut last_progress = Instant::now();
    let mut progress_mark: (u64, Option<std::time::SystemTime>) = (0, None);
    let mut last_watch = Instant::now();
    // A guest that never finished but whose kernel reported an alarm (a hung
    // task, a lockup) has failed, not the infrastructure: its rows up to the
    // last checkpoint and the alarms are the verdict. None without an alarm
    // or a checkpoint.
    let ended_after_alarm = |why: String| -> Option<VmRun> {
        let console = std::fs::read(&log_path)
            .map(|b| String::from_utf8_lossy(&b).replace(['\0', '\r'], ""))
            .unwrap_or_default();
        let alarms = super::kernel_log::scan(&console);
        let result: SuiteResult = std::fs::read_to_string(shared.join("result.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())?;
        let first = alarms.first()?;
        Some(VmRun {
            result,
            status: -1,
            seconds: started.elapsed().as_secs_f64(),
            shutdown_seconds: None,
            killed_after_suite: false,
            kernel_log: console.clone(),
            tainted: None,
            crashed: Some(format!(
                "the guest never finished ({why}) after the kernel reported: {}",
                first.title
            )),
        })
    };
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) => {}
            Err(e) => {
                kill_group();
                let _ = child.wait();
                return Err(VmError::Vng(format!("waiting for vng: {e}")));
            }
        }
        if oracle::campaign::STOP.load(Ordering::SeqCst) {
            kill_group();
            let _ = child.wait();
            return Err(VmError::Interrupted);
        }
        if status_seen.is_none() && shared.join("status").exists() {
            status_seen = Some(Instant::now());
            log::info!(
                "ringspec gate: {:.0} s: the suite finished; the guest has {} s to power off",
                started.elapsed().as_secs_f64(),
                cfg.poweroff_grace.as_secs()
            );
        }
        if let Some(seen) = status_seen {
            let progress = guest_progress(&shared);
            if end_guest_now(progress, seen.elapsed(), cfg.poweroff_grace) {
                // The suite is done: a guest that cannot power off (no ACPI)
                // would otherwise keep QEMU running until the timeout.
                kill_group();
                let _ = child.wait();
                killed_after_suite = true;
                log::info!(
                    "ringspec gate: the guest did not power off within {:.0} s of the suite's \
                     end (a kernel without ACPI cannot); QEMU killed{}",
                    seen.elapsed().as_secs_f64(),
                    if progress == GuestProgress::Finished {
                        ", the results are complete"
                    } else {
                        ""
                    }
                );
                break;
            }
        }
        if status_seen.is_none() && last_watch.elapsed() >= Duration::from_secs(5) {
            last_watch = Instant::now();
            if hung_seen.is_none() && console_reports_hung_task(&log_path, &mut console_searched) {
                hung_seen = Some(Instant::now());
                log::info!(
                    "ringspec gate: {:.0} s: the guest kernel reported a hung task; the guest \
                     ends once the suite has been silent for {} s",
                    started.elapsed().as_secs_f64(),
                    cfg.hung_task_grace.as_secs()
                );
            }
            let len = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
            let mark = (
                len(&shared.join("suite.log")),
                std::fs::metadata(shared.join("result.json"))
                    .and_then(|m| m.modified())
                    .ok(),
            );
            if mark != progress_mark {
                progress_mark = mark;
                last_progress = Instant::now();
            }
            if let Some(seen) = hung_seen {
                if end_after_hung_task(seen.elapsed(), last_progress.elapsed(), cfg.hung_task_grace)
                {
                    let why = format!(
                        "ended after {:.0} s, the suite silent for {:.0} s",
                        started.elapsed().as_secs_f64(),
                        last_progress.elapsed().as_secs_f64()
                    );
                    kill_group();
                    let _ = child.wait();
                    if let Some(run) = ended_after_alarm(why) {
                        log::info!(
                            "ringspec gate: the suite made no progress for {:.0} s after the \
                             hung-task report: guest ended",
                            last_progress.elapsed().as_secs_f64()
                        );
                        return Ok(run);
                    }
                    return Err(VmError::TimedOut {
                        after: started.elapsed(),
                        started: true,
                        log_tail: log_tail(&log_path, 30),
                    });
                }
            }
        }
        if started.elapsed() >= cfg.timeout {
            kill_group();
            let _ = child.wait();
            if let Some(run) =
                ended_after_alarm(format!("killed after {} s", cfg.timeout.as_secs()))
            {
                return Ok(run);
            }
            return Err(VmError::TimedOut {
                after: cfg.timeout,
                started: shared.join("started").exists(),
                log_tail: log_tail(&log_path, 30),
            });
        }
        if last_note.elapsed() >= Duration::from_secs(60) {
            let stage = log_tail(&shared.join("suite.log"), 1);
            log::info!(
                "ringspec gate: {:.0} s: {}",
                started.elapsed().as_secs_f64(),
                if stage.is_empty() {
                    "booting"
                } else {
                    stage.as_str()
                }
            );
            last_note = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // vng is gone; anything left in its group (a QEMU it forked) goes too.
    kill_group();
    let seconds = started.elapsed().as_secs_f64();
    let shutdown_seconds = status_seen.map(|t| t.elapsed().as_secs_f64());
    if let (Some(s), false) = (shutdown_seconds, killed_after_suite) {
        log::info!("ringspec gate: the guest powered off {s:.1} s after the suite's end");
    }
    let read = |name: &str| std::fs::read_to_string(shared.join(name)).ok();
    if read("started").is_none() {
        return Err(VmError::NeverStarted {
            log_tail: log_tail(&log_path, 30),
        });
    }
    let result_path = shared.join("result.json");
    let parse_result = || -> Option<SuiteResult> {
        std::fs::read_to_string(&result_path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
    };
    let console = || {
        std::fs::read(&log_path)
            .map(|b| String::from_utf8_lossy(&b).replace(['\0', '\r'], ""))
            .unwrap_or_default()
    };
    let Some(status) = read("status") else {
        let tail = log_tail(&log_path, 400);
        if let Some(excerpt) = crash_excerpt(&tail) {
            // The rows up to the crash (the suite's last checkpoint), then
            // the crash itself as kernel-log rows.
            if let Some(result) = parse_result() {
                return Ok(VmRun {
                    result,
                    status: -1,
                    seconds,
                    shutdown_seconds,
                    killed_after_suite,
                    kernel_log: console(),
                    tainted: None,
                    crashed: Some(excerpt),
                });
            }
            return Err(VmError::KernelCrashed { excerpt });
        }
        return Err(VmError::Died {
            log_tail: log_tail(&log_path, 30),
        });
    };
    let status = status.trim().to_string();
    let code: i32 = status.parse().unwrap_or(-1);
    let result = parse_result();
    let kernel_log = read("dmesg.txt")
        .filter(|t| !t.trim().is_empty())
        .unwrap_or_else(console);
    let tainted = read("tainted").and_then(|t| t.trim().parse().ok());
    match (code, result) {
        (0..=2, Some(result)) => Ok(VmRun {
            result,
            status: code,
            seconds,
            shutdown_seconds,
            killed_after_suite,
            kernel_log,
            tainted,
            crashed: None,
        }),
        (0..=2, None) => Err(VmError::BadResult(format!(
            "{} missing or unreadable (suite exited {status}){}",
            result_path.display(),
            suite_tail(&shared)
        ))),
        _ => Err(VmError::SuiteFailed {
            status,
            log_tail: log_tail(&shared.join("suite.log"), 30),
        }),
    }
}

fn suite_tail(shared: &Path) -> String {
    let t = log_tail(&shared.join("suite.log"), 20);
    if t.is_empty() {
        String::new()
    } else {
        format!("\n--- suite.log ---\n{t}")
    }
}

/// Creates (or empties) the shared directory and returns its absolute path,
/// refusing characters vng's `--rwdir` cannot carry.
fn prepare_shared(dir: &Path) -> Result<PathBuf, VmError> {
    let err = |e: std::io::Error| VmError::Shared(format!("{}: {e}", dir.display()));
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(err)?;
    }
    std::fs::create_dir_all(dir).map_err(err)?;
    let abs = std::fs::canonicalize(dir).map_err(err)?;
    if let Some(why) = rwdir_problem(&abs) {
        return Err(VmError::Shared(why.to_string()));
    }
    Ok(abs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_loads_modules_and_records_the_status() {
        let cfg = VmConfig {
            shared: PathBuf::from("/tmp/g/vm"),
            exe: PathBuf::from("/x/ringspec"),
            modules: Some(PathBuf::from("/k/6.12")),
            env: vec![("RINGSPEC_MODES".into(), "single,async".into())],
            ..VmConfig::default()
        };
        let suite = SuiteConfig {
            filesystems: vec![FsChoice::Tmpfs, FsChoice::Ext4, FsChoice::Xfs],
            scenarios_dir: PathBuf::from("/r/corpus/scenarios"),
            filter: "it's".into(),
            ..SuiteConfig::default()
        };
        let s = guest_script(&cfg, &suite);
        assert!(s.contains("S='/tmp/g/vm'\n"), "{s}");
        assert!(s.contains("modprobe -d '/k/6.12' loop "), "{s}");
        assert!(s.contains("export RINGSPEC_MODES='single,async'\n"), "{s}");
        assert!(s.contains("modprobe -d '/k/6.12' xfs "), "{s}");
        assert!(!s.contains("btrfs"), "{s}");
        assert!(
            s.contains(
                "'/x/ringspec' suite --out \"$S/result.json\" --seed 1592598566 --cases 500 \
             --max-len 40 --fs tmpfs,ext4,xfs --scenarios '/r/corpus/scenarios' \
             --filter 'it'\\''s' 2> \"$S/suite.log\""
            ),
            "{s}"
        );
        // The suite, then the kernel's log and taint, then the status that
        // announces them all, synced first.
        let at = |needle: &str| {
            s.find(needle)
                .unwrap_or_else(|| panic!("{needle:?} in {s}"))
        };
        assert!(at("2> \"$S/suite.log\" > /dev/null\nrc=$?\n") < at("dmesg > \"$S/dmesg.txt\""));
        assert!(at("dmesg > \"$S/dmesg.txt\"") < at("cat /proc/sys/kernel/tainted"));
        assert!(at("cat /proc/sys/kernel/tainted") < at("sync\necho $rc > \"$S/status.partial\""));
        // A coverage kernel's counters reach the host before the status.
        assert!(at("cd /sys/kernel/debug/gcov && find . -name '*.gcda'") > at("rc=$?"));
        assert!(at("cat \"$f\" > \"$S/gcov/$f\"") < at("sync\necho $rc > \"$S/status.partial\""));
        assert!(at("export RINGSPEC_KMSG_MARKS=1") < at("2> \"$S/suite.log\""));
        assert!(s.contains("*virtme_initmount*)"), "{s}");
        // --fuzz reaches the guest's suite with the binaries' directory.
        let suite = SuiteConfig {
            fuzz: vec![crate::fuzz::FuzzSpec {
                target: "sequences",
                duration: Duration::from_secs(300),
            }],
            fuzz_bin: PathBuf::from("/r/fuzz/target/x86_64-unknown-linux-gnu/release"),
            ..suite
        };
        let s = guest_script(&cfg, &suite);
        assert!(
            s.contains(
                "--fuzz sequences:300s --fuzz-bin '/r/fuzz/target/x86_64-unknown-linux-gnu/release' \
                 2> \"$S/suite.log\""
            ),
            "{s}"
        );
    }

    #[test]
    fn a_finished_suite_ends_the_guest_after_the_grace_only() {
        let dir = std::env::temp_dir().join(format!("ringspec-vm-progress-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let grace = Duration::from_secs(10);
        let secs = Duration::from_secs;
        assert_eq!(guest_progress(&dir), GuestProgress::NotStarted);
        std::fs::write(dir.join("started"), "started\n").unwrap();
        assert_eq!(guest_progress(&dir), GuestProgress::Running);
        // Running, however long: the timeout's business, not the watcher's.
        assert!(!end_guest_now(GuestProgress::Running, secs(3600), grace));
        // A status without a result (or with a half-written one).
        std::fs::write(dir.join("status"), "0\n").unwrap();
        assert_eq!(guest_progress(&dir), GuestProgress::FinishedIncomplete);
        std::fs::write(dir.join("result.json"), "{\"format\": 1, ").unwrap();
        assert_eq!(guest_progress(&dir), GuestProgress::FinishedIncomplete);
        assert!(!end_guest_now(
            GuestProgress::FinishedIncomplete,
            secs(11),
            grace
        ));
        assert!(end_guest_now(
            GuestProgress::FinishedIncomplete,
            RESULT_SETTLE,
            grace
        ));
        // A complete result: the guest gets the grace to power off, then ends.
        let result = crate::SuiteResult {
            fuzz: Vec::new(),
            format: crate::FORMAT,
            kernel: Default::default(),
            settings: crate::SuiteSettings {
                seed: 1,
                cases: 0,
                max_len: 1,
                filter: String::new(),
                scenarios: String::new(),
            },
            filesystems: Vec::new(),
            targets: Vec::new(),
            rows: Vec::new(),
            findings: Vec::new(),
            problems: Vec::new(),
            seconds: 1.0,
        };
        crate::suite::write_result(&result, &dir.join("result.json")).unwrap();
        assert_eq!(guest_progress(&dir), GuestProgress::Finished);
        assert!(!end_guest_now(GuestProgress::Finished, secs(9), grace));
        assert!(end_guest_now(GuestProgress::Finished, secs(10), grace));
        // A status the suite never gives (a crash of ringspec itself).
        std::fs::write(dir.join("status"), "139\n").unwrap();
        assert_eq!(guest_progress(&dir), GuestProgress::FinishedIncomplete);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_hung_task_ends_the_guest_once_the_suite_is_silent() {
        let grace = Duration::from_secs(120);
        let secs = Duration::from_secs;
        assert!(!end_after_hung_task(secs(119), secs(600), grace));
        assert!(!end_after_hung_task(secs(600), secs(119), grace));
        assert!(end_after_hung_task(secs(120), secs(120), grace));
        let dir = std::env::temp_dir().join(format!("ringspec-vm-hung-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("vng.log");
        let mut from = 0;
        std::fs::write(&log, "[ 1.0] booting\n[ 9.0] INFO: task ringspec:634 blo").unwrap();
        assert!(!console_reports_hung_task(&log, &mut from));
        // The rest of the line arrives: found although it straddles the reads.
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        f.write_all(b"cked for more than 311 seconds.\n").unwrap();
        assert!(console_reports_hung_task(&log, &mut from));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn crashes_are_found_in_the_console() {
        let log = "[ 1.0] ok\n[ 2.0] BUG: kernel NULL pointer dereference\n[ 2.1] RIP: x\n";
        assert_eq!(
            crash_excerpt(log).as_deref(),
            Some("[ 2.0] BUG: kernel NULL pointer dereference\n[ 2.1] RIP: x")
        );
        assert_eq!(crash_excerpt("all fine\n"), None);
    }

    #[test]
    fn a_missing_image_is_infrastructure() {
        let cfg = VmConfig {
            image: PathBuf::from("/nonexistent/vmlinuz"),
            ..VmConfig::default()
        };
        let e = run_in_vm(&cfg, &SuiteConfig::default()).unwrap_err();
        assert_eq!(
            e,
            VmError::ImageNotFound(PathBuf::from("/nonexistent/vmlinuz"))
        );
        assert!(!e.is_kernel_failure());
    }
}
