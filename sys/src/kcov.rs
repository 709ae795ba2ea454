//! Kernel code coverage through KCOV (`/sys/kernel/debug/kcov`), for the fuzz
//! targets' kernel feedback.
//!
//! A kernel built with `CONFIG_KCOV` (kernel/gate-kcov.config) calls
//! `__sanitizer_cov_trace_pc` at every basic block it runs. A thread that
//! opened the device, sized its buffer (`KCOV_INIT_TRACE`), mapped it and
//! enabled it (`KCOV_ENABLE` with `KCOV_TRACE_PC`) gets there, in order, the
//! PCs its own system calls reached: word 0 is the count, words 1.. the PCs.
//! Only that thread's kernel context is collected: io-wq workers, an SQPOLL
//! thread, interrupts and other tasks are not.
//!
//! [`KernelCoverage`] turns a run of PCs into edges (a hash of each PC and
//! its predecessor, as coverage-guided kernel fuzzers count them), keeps the
//! PCs and edges seen so far, and gives each input's edges as feature
//! indices for libFuzzer's extra counters. [`Mode`] says whether a fuzz
//! target feeds them to libFuzzer or only counts them, and [`ProgressLine`]
//! is the line the targets print and `ringspec gate --fuzz` reads.

use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The KCOV device (debugfs).
pub const DEVICE: &str = "/sys/kernel/debug/kcov";

/// `_IOR('c', 1, unsigned long)`: sizes the buffer, in words.
const KCOV_INIT_TRACE: libc::c_ulong = 0x8008_6301;
/// `_IO('c', 100)`: starts collecting for the calling thread.
const KCOV_ENABLE: libc::c_ulong = 0x6364;
/// `_IO('c', 101)`: stops.
const KCOV_DISABLE: libc::c_ulong = 0x6365;
/// `KCOV_ENABLE`'s argument: PCs, not comparison operands.
const KCOV_TRACE_PC: libc::c_ulong = 0;

/// Default buffer: 256 Ki words (2 MiB), room for the PCs of one input of
/// either target (a longer run is cut there: the kernel stops writing).
pub const DEFAULT_WORDS: usize = 1 << 18;

/// The index space of [`KernelCoverage::features`]: the size of the extra
/// counters a fuzz target gives kernel edges.
pub const FEATURE_SPACE: usize = 1 << 16;

/// The environment variable that chooses [`Mode`].
pub const MODE_ENV: &str = "RINGSPEC_KCOV";
/// The environment variable with the seconds between [`ProgressLine`]s.
pub const EVERY_ENV: &str = "RINGSPEC_KCOV_EVERY";

/// What a fuzz target does with kernel coverage (`RINGSPEC_KCOV`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Collect it and feed each input's kernel edges to libFuzzer, so that
    /// inputs reaching new kernel edges are kept (the default).
    Feedback,
    /// Collect and count it, feed nothing: the same run without kernel
    /// guidance, for comparison.
    Measure,
    /// Do not open the device.
    Off,
}

impl Mode {
    /// From `RINGSPEC_KCOV` (`feedback`, `measure`, `off`; unset: feedback).
    pub fn from_env() -> Result<Mode, String> {
        match std::env::var(MODE_ENV) {
            Err(_) => Ok(Mode::Feedback),
            Ok(v) => Mode::parse(&v),
        }
    }

    /// `feedback`, `measure` or `off`.
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s.trim() {
            "" | "feedback" => Ok(Mode::Feedback),
            "measure" => Ok(Mode::Measure),
            "off" | "0" => Ok(Mode::Off),
            other => Err(format!(
                "{MODE_ENV}={other:?}: give feedback, measure or off"
            )),
        }
    }

    /// As [`Mode::parse`] reads it.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Feedback => "feedback",
            Mode::Measure => "measure",
            Mode::Off => "off",
        }
    }
}

/// KCOV enabled on the thread that made it (not `Send`: the kernel binds it
/// to that thread). Disabled and unmapped on drop.
pub struct Kcov {
    fd: OwnedFd,
    area: *mut AtomicU64,
    words: usize,
}

impl Kcov {
    /// Opens [`DEVICE`], maps a buffer of `words` words and enables PC
    /// collection for the calling thread. `Ok(None)` when the kernel has no
    /// KCOV (no device: not built with `CONFIG_KCOV`, or debugfs not
    /// mounted); an error when it has one that cannot be used.
    pub fn enable_for_this_thread(words: usize) -> io::Result<Option<Kcov>> {
        let words = words.max(2);
        let path = c"/sys/kernel/debug/kcov";
        // SAFETY: a NUL-terminated path; the descriptor is ours on success.
        let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENOENT) => Ok(None),
                _ => Err(io::Error::new(e.kind(), format!("{DEVICE}: {e}"))),
            };
        }
        // SAFETY: a descriptor we just opened and own alone.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let call = |what: &str, r: libc::c_int| {
            if r < 0 {
                let e = io::Error::last_os_error();
                Err(io::Error::new(e.kind(), format!("{DEVICE}: {what}: {e}")))
            } else {
                Ok(())
            }
        };
        // SAFETY: KCOV's own ioctls on its descriptor.
        call("KCOV_INIT_TRACE", unsafe {
            libc::ioctl(fd.as_raw_fd(), KCOV_INIT_TRACE, words as libc::c_ulong)
        })?;
        let len = words * 8;
        // SAFETY: maps the buffer KCOV_INIT_TRACE sized, shared with the kernel.
        let area = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if area == libc::MAP_FAILED {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("{DEVICE}: mmap: {e}")));
        }
        let kcov = Kcov {
            fd,
            area: area.cast(),
            words,
        };
        // SAFETY: as above; on failure drop unmaps.
        call("KCOV_ENABLE", unsafe {
            libc::ioctl(kcov.fd.as_raw_fd(), KCOV_ENABLE, KCOV_TRACE_PC)
        })?;
        Ok(Some(kcov))
    }

    fn word(&self, i: usize) -> &AtomicU64 {
        // SAFETY: i < words, inside the mapping, which lives as long as self.
        unsafe { &*self.area.add(i) }
    }

    /// Starts a new window: the PCs collected so far are dropped.
    pub fn reset(&self) {
        self.word(0).store(0, Ordering::Relaxed);
    }

    /// The PCs collected since [`Kcov::reset`], in the order the kernel ran
    /// them (cut at the buffer's size).
    pub fn pcs(&self) -> Vec<u64> {
        let n = (self.word(0).load(Ordering::Relaxed) as usize).min(self.words - 1);
        (1..=n)
            .map(|i| self.word(i).load(Ordering::Relaxed))
            .collect()
    }
}

impl Drop for Kcov {
    fn drop(&mut self) {
        // SAFETY: our descriptor and our mapping.
        unsafe {
            libc::ioctl(self.fd.as_raw_fd(), KCOV_DISABLE, 0);
            libc::munmap(self.area.cast(), self.words * 8);
        }
    }
}

/// splitmix64's finalizer: a cheap, well-mixed hash of a PC or an edge.
fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A hasher for keys that are already mixed.
#[derive(Default)]
struct Premixed(u64);

impl Hasher for Premixed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
}

type Set = HashSet<u64, BuildHasherDefault<Premixed>>;

/// The kernel PCs and edges seen so far, and the last input's edges as
/// feature indices.
#[derive(Default)]
pub struct KernelCoverage {
    pcs: Set,
    edges: Set,
    features: Vec<u32>,
    inputs: u64,
}

impl KernelCoverage {
    /// Adds one input's PCs (in the order the kernel ran them): its edges
    /// are each PC with its predecessor (the first with none), hashed.
    pub fn add(&mut self, pcs: &[u64]) {
        self.inputs += 1;
        self.features.clear();
        let mut prev = 0u64;
        for &pc in pcs {
            let p = mix(pc);
            self.pcs.insert(p);
            let edge = mix(p ^ prev.rotate_left(1));
            self.edges.insert(edge);
            self.features.push((edge % FEATURE_SPACE as u64) as u32);
            prev = p;
        }
        self.features.sort_unstable();
        self.features.dedup();
    }

    /// The last input's edges as indices below [`FEATURE_SPACE`], each once.
    pub fn features(&self) -> &[u32] {
        &self.features
    }

    /// Distinct PCs seen so far.
    pub fn pcs_seen(&self) -> u64 {
        self.pcs.len() as u64
    }

    /// Distinct edges seen so far.
    pub fn edges_seen(&self) -> u64 {
        self.edges.len() as u64
    }

    /// Inputs added so far.
    pub fn inputs(&self) -> u64 {
        self.inputs
    }
}

/// One progress line of a fuzz target's kernel coverage, as it prints it:
/// `ringspec-kcov: target=T mode=M seconds=S inputs=N pcs=P edges=E`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressLine {
    /// The fuzz target.
    pub target: String,
    /// Its [`Mode`]'s name.
    pub mode: String,
    /// Seconds since its first input.
    pub seconds: f64,
    /// Inputs run.
    pub inputs: u64,
    /// Distinct kernel PCs so far.
    pub pcs: u64,
    /// Distinct kernel edges so far.
    pub edges: u64,
}

/// What every line about kernel coverage starts with.
pub const LINE_PREFIX: &str = "ringspec-kcov:";

impl fmt::Display for ProgressLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{LINE_PREFIX} target={} mode={} seconds={:.1} inputs={} pcs={} edges={}",
            self.target, self.mode, self.seconds, self.inputs, self.pcs, self.edges
        )
    }
}

/// A line of a fuzz target's log about kernel coverage.
#[derive(Debug, Clone, PartialEq)]
pub enum KcovLine {
    /// Progress.
    Progress(ProgressLine),
    /// The target runs without kernel coverage: why.
    Unavailable(String),
}

impl KcovLine {
    /// Reads a line the targets print; None for any other line.
    pub fn parse(line: &str) -> Option<KcovLine> {
        let rest = line.trim().strip_prefix(LINE_PREFIX)?.trim();
        if let Some(why) = rest.strip_prefix("unavailable:") {
            return Some(KcovLine::Unavailable(why.trim().to_string()));
        }
        let mut p = ProgressLine {
            target: String::new(),
            mode: String::new(),
            seconds: 0.0,
            inputs: 0,
            pcs: 0,
            edges: 0,
        };
        let mut seen = 0;
        for part in rest.split_whitespace() {
            let (k, v) = part.split_once('=')?;
            match k {
                "target" => p.target = v.to_string(),
                "mode" => p.mode = v.to_string(),
                "seconds" => p.seconds = v.parse().ok()?,
                "inputs" => p.inputs = v.parse().ok()?,
                "pcs" => p.pcs = v.parse().ok()?,
                "edges" => p.edges = v.parse().ok()?,
                _ => continue,
            }
            seen += 1;
        }
        (seen == 6).then_some(KcovLine::Progress(p))
    }
}

/// Why there is no kernel coverage when [`Kcov::enable_for_this_thread`]
/// found no device.
pub fn no_device() -> String {
    format!("{DEVICE} does not exist (a kernel without CONFIG_KCOV)")
}

/// The line a target prints when it runs without kernel coverage.
pub fn unavailable_line(why: &str) -> String {
    format!("{LINE_PREFIX} unavailable: {why}")
}

/// The process's progress printer (one per fuzz target process).
struct Printer {
    line: ProgressLine,
    started: Option<Instant>,
    every: Duration,
    next: Duration,
}

static PRINTER: Mutex<Option<Printer>> = Mutex::new(None);

/// Starts printing [`ProgressLine`]s for `target` to stderr: after the first
/// input, then every `RINGSPEC_KCOV_EVERY` seconds (default 10), and once
/// more when the process exits (libFuzzer's `-max_total_time` ends it with
/// `exit`).
pub fn start_progress(target: &str, mode: Mode) {
    let every = std::env::var(EVERY_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(Duration::from_secs(10), Duration::from_secs_f64);
    let mut p = PRINTER.lock().unwrap_or_else(|e| e.into_inner());
    *p = Some(Printer {
        line: ProgressLine {
            target: target.to_string(),
            mode: mode.name().to_string(),
            seconds: 0.0,
            inputs: 0,
            pcs: 0,
            edges: 0,
        },
        started: None,
        every,
        next: Duration::ZERO,
    });
    extern "C" fn at_exit() {
        let p = PRINTER.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = p.as_ref().filter(|p| p.started.is_some()) {
            let mut line = p.line.clone();
            line.seconds = p.started.map_or(0.0, |t| t.elapsed().as_secs_f64());
            eprintln!("{line}");
        }
    }
    // SAFETY: registers a plain function; its failure only loses the last line.
    unsafe { libc::atexit(at_exit) };
}

/// Records the totals after an input; prints a line when one is due.
pub fn note_progress(inputs: u64, pcs: u64, edges: u64) {
    let mut p = PRINTER.lock().unwrap_or_else(|e| e.into_inner());
    let Some(p) = p.as_mut() else { return };
    let started = *p.started.get_or_insert_with(Instant::now);
    let elapsed = started.elapsed();
    p.line.inputs = inputs;
    p.line.pcs = pcs;
    p.line.edges = edges;
    if elapsed >= p.next {
        p.line.seconds = elapsed.as_secs_f64();
        eprintln!("{}", p.line);
        while p.next <= elapsed {
            p.next += p.every;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_depend_on_the_order_of_pcs() {
        let mut c = KernelCoverage::default();
        c.add(&[1, 2, 3]);
        assert_eq!((c.pcs_seen(), c.edges_seen()), (3, 3));
        let first: Vec<u32> = c.features().to_vec();
        assert!(first.len() <= 3 && !first.is_empty());
        // The same PCs in another order: no new PC, new edges.
        c.add(&[3, 2, 1]);
        assert_eq!(c.pcs_seen(), 3);
        assert_eq!(c.edges_seen(), 6);
        // The same run again: nothing new.
        c.add(&[1, 2, 3]);
        assert_eq!((c.pcs_seen(), c.edges_seen(), c.inputs()), (3, 6, 3));
        assert_eq!(c.features(), &first[..]);
        assert!(c.features().iter().all(|&f| (f as usize) < FEATURE_SPACE));
    }

    #[test]
    fn progress_lines_read_back() {
        let line = ProgressLine {
            target: "sqe_fields".into(),
            mode: "measure".into(),
            seconds: 12.5,
            inputs: 300,
            pcs: 4000,
            edges: 9000,
        };
        let text = format!("{line}");
        assert_eq!(KcovLine::parse(&text), Some(KcovLine::Progress(line)));
        assert_eq!(
            KcovLine::parse(&unavailable_line("no /sys/kernel/debug/kcov")),
            Some(KcovLine::Unavailable("no /sys/kernel/debug/kcov".into()))
        );
        assert_eq!(KcovLine::parse("#42 NEW cov: 10"), None);
        assert_eq!(
            KcovLine::parse("ringspec-kcov: target=x mode=y seconds=1"),
            None
        );
    }

    #[test]
    fn modes_parse() {
        assert_eq!(Mode::parse("measure"), Ok(Mode::Measure));
        assert_eq!(Mode::parse(""), Ok(Mode::Feedback));
        assert!(Mode::parse("yes").is_err());
    }

    #[test]
    fn no_device_is_none_not_an_error() {
        // On a kernel without KCOV (this host): None; with one, it works.
        match Kcov::enable_for_this_thread(1024) {
            Ok(None) => assert!(!std::path::Path::new(DEVICE).exists()),
            Ok(Some(k)) => {
                k.reset();
                // SAFETY: a plain system call, collected on this thread.
                unsafe { libc::getppid() };
                assert!(!k.pcs().is_empty(), "KCOV collected nothing for getppid");
            }
            Err(e) => panic!("{e}"),
        }
    }
}
