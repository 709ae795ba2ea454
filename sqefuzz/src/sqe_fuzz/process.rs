//! The sandbox in a child process: what `cargo fuzz run sqe_fields` checks its
//! inputs with.
//!
//! libFuzzer walks, after every input, each coverage counter the input
//! touched. On a thread of the fuzzing process the harness's own code (setup,
//! confinement, judging, teardown: more than a thousand edges per input) was
//! most of them, and the walk cost 175 us per input (perf, 1,060 exec/s). A
//! [`SandboxProcess`] runs the same `Sandbox` in a forked child instead: the
//! child's counters are its own, and it reports back what the kernel did as
//! features ([`Verdict::Passed`]), which the fuzz target adds to libFuzzer's
//! extra counters. The child also has a descriptor table and a mount
//! namespace of its own: libFuzzer's files are out of its reach, and its
//! leaks cannot be confused with libFuzzer's descriptors.
//!
//! Requests and replies go through one shared mapping (`Mailbox`). The side
//! that waits polls, then polls yielding its core, then sleeps on a futex;
//! the child dies with its parent (PR_SET_PDEATHSIG), and its private tmpfs
//! with it.

use super::{panic_text, FuzzInput, Phase, Sandbox, MAX_SQES, SPIN};
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant};

/// Bytes of a request or reply.
const DATA_LEN: usize = 1 << 16;

/// Most features one input reports.
pub const MAX_FEATURES: usize = 4096;

/// The shared page set. Only the side whose turn it is touches the plain
/// fields: the parent after `answered` moved, the child after `asked` moved.
#[repr(C)]
struct Mailbox {
    /// Requests written (bumped by the parent).
    asked: AtomicU32,
    /// Replies written (bumped by the child; the first says it is ready).
    answered: AtomicU32,
    /// 1 while the parent sleeps on `answered`.
    parent_sleeps: AtomicU32,
    /// 1 while the child sleeps on `asked`.
    child_sleeps: AtomicU32,
    kind: u32,
    len: u32,
    features: u32,
    data: [u8; DATA_LEN],
    feature: [u32; MAX_FEATURES],
    /// Kernel coverage, once `ASK_KCOV` enabled it: the last input's edges
    /// (indices below `sys::kcov::FEATURE_SPACE`, each once) and the
    /// distinct PCs and edges so far.
    kernel_features: u32,
    kernel_pcs: u64,
    kernel_edges: u64,
    kernel: [u32; sys::kcov::FEATURE_SPACE],
}

/// Requests.
const ASK_CHECK: u32 = 1;
const ASK_NOPS: u32 = 2;
const ASK_STATS: u32 = 3;
const ASK_KCOV: u32 = 4;
/// Replies.
const SAY_PASSED: u32 = 10;
const SAY_FINDING: u32 = 11;
const SAY_PANICKED: u32 = 12;
const SAY_TEXT: u32 = 13;
const SAY_FAILED: u32 = 14;

/// Why the sandbox process cannot start or answer.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The shared mapping could not be made.
    #[error("cannot map the sandbox process's mailbox: {0}")]
    Map(#[source] std::io::Error),
    /// fork failed.
    #[error("cannot fork the sandbox process: {0}")]
    Fork(#[source] std::io::Error),
    /// The child could not make its sandbox (not root, no private mounts,
    /// no io_uring): its reason.
    #[error("{0}")]
    NotReady(String),
    /// The child exited or was killed.
    #[error("the sandbox process (pid {pid}) died: {status}")]
    Died {
        /// Its pid.
        pid: i32,
        /// How it ended, as waitpid says.
        status: String,
    },
    /// The harness itself panicked in the child.
    #[error("sqe_fields harness: {0}")]
    Panicked(String),
    /// The child failed a request (its reason).
    #[error("the sandbox process failed: {0}")]
    Failed(String),
}

/// What one input did.
pub enum Verdict<'a> {
    /// Every oracle passed; the features of what the kernel did
    /// (`Sandbox::features`).
    Passed(&'a [u32]),
    /// A finding, as [`super::Finding`] displays it.
    Finding(String),
}

/// The kernel coverage the child reported for the last input.
pub struct KernelCounts<'a> {
    /// Its kernel edges, as indices below `sys::kcov::FEATURE_SPACE`.
    pub features: &'a [u32],
    /// Distinct kernel PCs of every input so far.
    pub pcs: u64,
    /// Distinct kernel edges of every input so far.
    pub edges: u64,
}

/// The sandbox in a forked child (see the module documentation).
pub struct SandboxProcess {
    mail: *mut Mailbox,
    pid: libc::pid_t,
}

// SAFETY: the mailbox is ours alone on this side; `&mut self` serializes use.
unsafe impl Send for SandboxProcess {}

impl SandboxProcess {
    /// Forks the child and waits until its sandbox is made. Call it before
    /// the process starts threads (the fuzz target: from libFuzzer's
    /// initialization): the child is a copy of the calling thread alone.
    pub fn start() -> Result<SandboxProcess, ProcessError> {
        // SAFETY: a fresh shared anonymous mapping, zeroed by the kernel.
        let mail = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                std::mem::size_of::<Mailbox>(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if mail == libc::MAP_FAILED {
            return Err(ProcessError::Map(std::io::Error::last_os_error()));
        }
        let mail = mail.cast::<Mailbox>();
        // SAFETY: getpid cannot fail.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the child only runs `child`, which never returns.
        match unsafe { libc::fork() } {
            -1 => Err(ProcessError::Fork(std::io::Error::last_os_error())),
            0 => child(mail, parent),
            pid => {
                let mut p = SandboxProcess { mail, pid };
                match p.wait_reply(0)? {
                    SAY_PASSED => Ok(p),
                    _ => Err(ProcessError::NotReady(p.text())),
                }
            }
        }
    }

    fn mail(&self) -> &Mailbox {
        // SAFETY: the mapping lives as long as self; the child writes the
        // plain fields only while this side waits for `answered`.
        unsafe { &*self.mail }
    }

    /// The reply's bytes as text.
    fn text(&self) -> String {
        let m = self.mail();
        String::from_utf8_lossy(&m.data[..(m.len as usize).min(DATA_LEN)]).into_owned()
    }

    /// Sends a request and waits for its reply's kind.
    fn ask(&mut self, kind: u32, data: &[u8]) -> Result<u32, ProcessError> {
        let len = data.len().min(DATA_LEN);
        // SAFETY: the child is waiting for `asked` to move: this side alone
        // touches the plain fields until it does.
        unsafe {
            let m = &mut *self.mail;
            m.kind = kind;
            m.len = len as u32;
            m.data[..len].copy_from_slice(&data[..len]);
        }
        let m = self.mail();
        let seen = m.answered.load(SeqCst);
        bump(&m.asked, &m.child_sleeps);
        self.wait_reply(seen)
    }

    fn wait_reply(&mut self, seen: u32) -> Result<u32, ProcessError> {
        let pid = self.pid;
        let mut died = None;
        let m = self.mail();
        let answered = wait_change(&m.answered, seen, &m.parent_sleeps, || {
            died = exited(pid);
            died.is_none()
        });
        if !answered {
            return Err(ProcessError::Died {
                pid,
                status: died.unwrap_or_default(),
            });
        }
        match m.kind {
            SAY_PANICKED => Err(ProcessError::Panicked(self.text())),
            SAY_FAILED => Err(ProcessError::Failed(self.text())),
            k => Ok(k),
        }
    }

    /// Runs the input whose bytes are `data` ([`FuzzInput::from_bytes`])
    /// through every oracle, as [`super::check`] does.
    pub fn check(&mut self, data: &[u8]) -> Result<Verdict<'_>, ProcessError> {
        match self.ask(ASK_CHECK, data)? {
            SAY_FINDING => Ok(Verdict::Finding(self.text())),
            _ => {
                let m = self.mail();
                let n = (m.features as usize).min(MAX_FEATURES);
                Ok(Verdict::Passed(&m.feature[..n]))
            }
        }
    }

    /// Enables kernel coverage in the child (KCOV on its sandbox thread):
    /// `Ok(None)` when it runs, `Ok(Some(why))` when the kernel has none.
    pub fn enable_kcov(&mut self) -> Result<Option<String>, ProcessError> {
        match self.ask(ASK_KCOV, &[])? {
            SAY_TEXT => Ok(Some(self.text())),
            _ => Ok(None),
        }
    }

    /// The last checked input's kernel coverage, after
    /// [`SandboxProcess::enable_kcov`] (empty before).
    pub fn kernel_coverage(&self) -> KernelCounts<'_> {
        let m = self.mail();
        let n = (m.kernel_features as usize).min(sys::kcov::FEATURE_SPACE);
        KernelCounts {
            features: &m.kernel[..n],
            pcs: m.kernel_pcs,
            edges: m.kernel_edges,
        }
    }

    /// The counters of every check so far, as [`super::Stats`] displays
    /// them.
    pub fn stats(&mut self) -> Result<String, ProcessError> {
        self.ask(ASK_STATS, &[])?;
        Ok(self.text())
    }

    /// What the harness could do at most: batches of `batch` NOPs sent as
    /// inputs are and run through the child's ring, for `duration`. What an
    /// input costs beyond this is the harness's own.
    pub fn ceiling(&mut self, batch: usize, duration: Duration) -> Result<Ceiling, ProcessError> {
        let batch = batch.clamp(1, MAX_SQES);
        let started = Instant::now();
        let mut batches = 0;
        while started.elapsed() < duration {
            self.ask(ASK_NOPS, &(batch as u32).to_ne_bytes())?;
            batches += 1;
        }
        Ok(Ceiling {
            batch,
            batches,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        // SAFETY: our child and our mapping; the child is reaped before the
        // mapping goes.
        unsafe {
            libc::kill(self.pid, libc::SIGKILL);
            libc::waitpid(self.pid, std::ptr::null_mut(), 0);
            libc::munmap(self.mail.cast(), std::mem::size_of::<Mailbox>());
        }
    }
}

/// How the child ended, if it has.
fn exited(pid: libc::pid_t) -> Option<String> {
    let mut status = 0;
    // SAFETY: our child; status is written by waitpid.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    if r == 0 {
        return None;
    }
    Some(if r < 0 {
        format!("waitpid: {}", std::io::Error::last_os_error())
    } else if libc::WIFSIGNALED(status) {
        format!("killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("exit status {}", libc::WEXITSTATUS(status))
    })
}

/// What the harness could do at most ([`SandboxProcess::ceiling`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ceiling {
    /// NOPs per batch.
    pub batch: usize,
    /// Batches completed.
    pub batches: u64,
    /// Seconds it took.
    pub seconds: f64,
}

impl Ceiling {
    /// Batches per second.
    pub fn batches_per_second(&self) -> f64 {
        self.batches as f64 / self.seconds.max(1e-9)
    }

    /// SQEs per second.
    pub fn sqes_per_second(&self) -> f64 {
        self.batches_per_second() * self.batch as f64
    }
}

impl fmt::Display for Ceiling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.0} batches/s of {} NOPs ({:.0} SQEs/s) through the sandbox process and its ring",
            self.batches_per_second(),
            self.batch,
            self.sqes_per_second()
        )
    }
}

fn futex(word: &AtomicU32, op: i32, val: u32, timeout: Option<Duration>) {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs() as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: a futex op on a word of the shared mapping (no PRIVATE flag:
    // two processes use it); the timeout, if any, lives across the call.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            op,
            val,
            ts_ptr,
            0usize,
            0u32,
        );
    }
}

/// Moves `word` on and wakes the other side if it sleeps on it.
fn bump(word: &AtomicU32, sleeps: &AtomicU32) {
    word.fetch_add(1, SeqCst);
    if sleeps.load(SeqCst) != 0 {
        futex(word, libc::FUTEX_WAKE, 1, None);
    }
}

/// How long a waiting side keeps polling, yielding its core to whatever
/// else is runnable (io-wq workers), before it sleeps on the futex. An
/// input takes a few hundred microseconds; a sleeping side's wake-up cost
/// about 100 us here (its core leaves an idle state), a third of an input.
const POLL: Duration = Duration::from_millis(5);

/// Waits until `word` is no longer `seen`: polls for [`SPIN`], then polls
/// yielding the core until [`POLL`], then sleeps on the futex with `sleeps`
/// set, asking `alive` every 100 ms. False when `alive` said no.
fn wait_change(
    word: &AtomicU32,
    seen: u32,
    sleeps: &AtomicU32,
    mut alive: impl FnMut() -> bool,
) -> bool {
    let started = Instant::now();
    let mut polls = 0u32;
    while word.load(SeqCst) == seen {
        polls = polls.wrapping_add(1);
        if !polls.is_multiple_of(64) {
            std::hint::spin_loop();
            continue;
        }
        let waited = started.elapsed();
        if waited < SPIN {
            continue;
        }
        if waited < POLL {
            std::thread::yield_now();
            continue;
        }
        // Set before the last look: the other side bumps, then looks at
        // `sleeps`; one of the two sees the other.
        sleeps.store(1, SeqCst);
        if word.load(SeqCst) == seen {
            futex(
                word,
                libc::FUTEX_WAIT,
                seen,
                Some(Duration::from_millis(100)),
            );
        }
        sleeps.store(0, SeqCst);
        if word.load(SeqCst) == seen && !alive() {
            return false;
        }
    }
    true
}

/// The child: makes the sandbox, says whether it is ready, then answers
/// requests until the parent is gone.
fn child(mail: *mut Mailbox, parent: libc::pid_t) -> ! {
    // SAFETY: plain calls on our own process; only stdio is kept.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
        if libc::getppid() != parent {
            libc::_exit(0);
        }
        libc::close_range(3, u32::MAX, 0);
    }
    // SAFETY: the parent waits for `answered` until this side bumps it.
    let m = unsafe { &mut *mail };
    let say = |m: &mut Mailbox, kind: u32, text: &[u8]| {
        let len = text.len().min(DATA_LEN);
        m.kind = kind;
        m.len = len as u32;
        m.data[..len].copy_from_slice(&text[..len]);
    };
    let mut sb = match Sandbox::new() {
        Ok(sb) => sb,
        Err(e) => {
            say(m, SAY_FAILED, e.to_string().as_bytes());
            bump(&m.answered, &m.parent_sleeps);
            // SAFETY: ends this child.
            unsafe { libc::_exit(0) }
        }
    };
    // Read before the ready reply: the parent may ask its first request
    // the moment it sees that reply, before this side would look again
    // (seen: a first request lost that way, both sides waiting for ever).
    let mut seen = m.asked.load(SeqCst);
    say(m, SAY_PASSED, b"");
    bump(&m.answered, &m.parent_sleeps);
    loop {
        // SAFETY: getppid cannot fail.
        let parent_alive = || unsafe { libc::getppid() } == parent;
        if !wait_change(&m.asked, seen, &m.child_sleeps, parent_alive) {
            // SAFETY: ends this child.
            unsafe { libc::_exit(0) }
        }
        seen = m.asked.load(SeqCst);
        let len = (m.len as usize).min(DATA_LEN);
        match m.kind {
            ASK_CHECK => {
                let mut clock = Instant::now();
                let input = FuzzInput::from_bytes(&m.data[..len]);
                sb.stats.lap(Phase::Decode, &mut clock);
                let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sb.run(&input)));
                let mut clock = Instant::now();
                match run {
                    Ok(Ok(())) => {
                        let n = sb.features.len().min(MAX_FEATURES);
                        m.feature[..n].copy_from_slice(&sb.features[..n]);
                        m.features = n as u32;
                        if let Some(c) = sb.kernel_coverage() {
                            let k = c.features().len().min(sys::kcov::FEATURE_SPACE);
                            m.kernel[..k].copy_from_slice(&c.features()[..k]);
                            m.kernel_features = k as u32;
                            m.kernel_pcs = c.pcs_seen();
                            m.kernel_edges = c.edges_seen();
                        }
                        say(m, SAY_PASSED, b"");
                    }
                    Ok(Err(finding)) => say(m, SAY_FINDING, finding.to_string().as_bytes()),
                    Err(p) => say(m, SAY_PANICKED, panic_text(&p).as_bytes()),
                }
                sb.stats.lap(Phase::Decode, &mut clock);
            }
            ASK_NOPS => {
                let k = u32::from_ne_bytes(m.data[..4].try_into().unwrap_or_default());
                match sb.nop_batch(k as usize) {
                    Ok(()) => say(m, SAY_PASSED, b""),
                    Err(e) => say(m, SAY_FAILED, e.to_string().as_bytes()),
                }
            }
            ASK_STATS => say(m, SAY_TEXT, sb.stats.to_string().as_bytes()),
            ASK_KCOV => match sb.enable_kcov() {
                Ok(true) => say(m, SAY_PASSED, b""),
                Ok(false) => say(m, SAY_TEXT, sys::kcov::no_device().as_bytes()),
                Err(e) => say(m, SAY_FAILED, e.to_string().as_bytes()),
            },
            k => say(m, SAY_FAILED, format!("unknown request {k}").as_bytes()),
        }
        let checked = m.kind == SAY_PASSED || m.kind == SAY_FINDING;
        bump(&m.answered, &m.parent_sleeps);
        if checked {
            // While libFuzzer takes the verdict and makes the next input.
            sb.prepare_next();
        }
    }
}
