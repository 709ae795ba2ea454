//! The io_uring backend: runs each op through its io_uring opcode on a pair of
//! scratch roots, with the same slot table, conventions and snapshot as
//! [`Syscalls`], so the two are directly comparable.
//!
//! # How an op runs
//! [`Uring::exec`] builds one SQE (with the io-uring crate's builders for the
//! opcodes it knows, with [`crate::sqe`] for FADVISE's 64-bit length and for the
//! proposed opcodes), submits it and waits for its CQE with a deadline. The CQE's
//! `res` becomes the outcome exactly as the syscall backend reports the syscall:
//! `Data::Bytes` for read, `Data::Stat` for statx, `Data::Dirents` for getdents
//! (cookies recorded for `seek_dirent`), open and pipe fill slots, descriptor
//! numbers are never reported. Splice and copy_file_range report `Data::None`:
//! io_uring has no way to write advanced offsets back.
//!
//! Ops without an opcode (lseek, seek_dirent, umask), ops whose opcode this
//! kernel's probe lacks (e.g. PIPE before 6.16, FTRUNCATE before 6.9, the proposed
//! ones unless configured and supported) and the two cases the syscall backend
//! answers without a syscall (close of a special descriptor, open of a device node
//! outside a nodev mount) run through the embedded [`Syscalls`] on the same
//! descriptors, so state stays consistent; [`Uring::counts`] tells how many ops of
//! each kind went each way.
//!
//! # Encodings (op field -> SQE)
//! - Off::Pos is offset -1 (`u64::MAX`): "use and advance the file position" for
//!   READ/WRITE, "no offset" for SPLICE (and the proposed COPY_FILE_RANGE).
//!   Off::At(v) is `v as u64`, so Off::At(-1) also means the file position here,
//!   where pread/pwrite/splice with -1 give EINVAL.
//! - Lengths of splice, tee and copy_file_range are u64 in the op and 32-bit in the
//!   SQE; larger values are sent as `u32::MAX` (saturated, never truncated: the
//!   syscalls clamp to MAX_RW_COUNT = 0x7ffff000 anyway, so results stay
//!   comparable). Read/write lengths are at most [`model::MAX_BUFFER`].
//! - FADVISE: on kernels whose prep reads a 64-bit length from `addr` (6.11+;
//!   detected at creation by submitting one FADVISE with addr != 0, which older
//!   kernels reject with EINVAL) the length goes there, so negative lengths reach
//!   the kernel as they do through fadvise64(2). Before, only the 32-bit `len`
//!   exists and a negative length arrives as a large positive one.
//! - OPENAT gets the same flags as the syscall backend (always O_CLOEXEC).
//! - Stat/Fstat are STATX with STATX_BASIC_STATS; Fstat is (fd, "", AT_EMPTY_PATH)
//!   with the plain descriptor in every mode (STATX rejects fixed files).
//!
//! # Modes
//! See [`Mode`]. Whatever the mode, every wait has a deadline ([`DEFAULT_DEADLINE`]);
//! a request still pending then is cancelled (IORING_OP_ASYNC_CANCEL by user_data),
//! its CQE reaped, and the op reported as [`ETIME`]. io_uring waits where the
//! syscall would not: READ/WRITE on an O_NONBLOCK pipe poll for readiness instead
//! of returning EAGAIN (6.18), so this is an ordinary outcome, not a hang.
//!
//! # Where io_uring's results differ from the syscalls' (6.18, tmpfs, every mode)
//! Found by `uring_survey_differences` and `uring_survey_targeted` (ignored tests;
//! run them with `--ignored --nocapture`):
//! - READ/WRITE: Off::At(-1) is the file position (syscall EINVAL); an explicit
//!   offset on a pipe or FIFO is ignored (syscall ESPIPE) as long as it is >= 0
//!   and offset + len does not pass LLONG_MAX (else EINVAL); the descriptor and
//!   its open mode are checked before the offset (bad fd or wrong mode with a
//!   negative offset: EBADF, syscall EINVAL; pread/pwrite on the wrong end of a
//!   pipe: EBADF, syscall ESPIPE); O_NONBLOCK pipes wait instead of EAGAIN (here
//!   ETIME); a zero-length READ on a directory returns 0 (syscall EISDIR).
//! - OPENAT of a FIFO without O_CREAT/O_TRUNC and without IOSQE_ASYNC is first
//!   tried inline with non-blocking semantics: O_RDONLY succeeds at once (the
//!   descriptor has no O_NONBLOCK afterwards), O_WRONLY fails with ENXIO, where
//!   the syscall waits for the other end. [`Mode::Async`] (or O_CREAT/O_TRUNC)
//!   waits like the syscall.
//! - FTRUNCATE: a bad descriptor with a negative length is EBADF (syscall EINVAL).
//! - SPLICE/TEE: no len == 0 shortcut (bad fds EBADF, bad flags EINVAL where the
//!   syscall returns 0); -1 offsets mean "none" (syscall EINVAL on a file, ESPIPE
//!   on a pipe); ESPIPE vs EBADF order on a pipe side with an offset.
//! - A cancelled request blocked in an io-wq worker (splice, tee, FIFO open) posts
//!   -ERESTARTSYS (512), a kernel-internal errno, in its CQE ([`CANCELLED_RESULTS`]).
//!
//! Like [`Syscalls`], a `Uring` is bound to its thread (the umask and the mount
//! namespace are per-thread; io-wq workers and the SQPOLL thread share the
//! creating thread's fs_struct, so they see the same umask).

use crate::backend::Backend;
use crate::sqe::{self, FdOperand, ProposedOpcodes, Sqe, SqeEntry};
use crate::syscalls::{
    self, advice_value, falloc_mode, mknod_mode, open_flags, rename_flags, Syscalls, CLOSED_FD,
};
use crate::trace::{BufferRole, FdName, TraceStep, TracedBuffer, TracedDone, TracedSqe};
use io_uring::{opcode, types, IoUring};
use model::{Data, Errno, FdRef, Off, Op, OpKind, Outcome, Slot, SpecialFd, State, MAX_SLOTS};
use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};
use std::time::{Duration, Instant};
use sys::scratch::Roots;

/// The errno reported for an op whose CQE did not arrive before the deadline
/// (ETIME, 62): the request was cancelled; the op would have blocked.
pub const ETIME: Errno = Errno::ETIME;

/// How long one op (or one batch) may wait for its completions.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(2);

/// How long to wait for the CQEs of cancelled requests before giving them up as
/// lost (their buffers are then kept alive for good).
pub const CANCEL_DEADLINE: Duration = Duration::from_secs(1);

/// Submission and completion queue size.
pub const RING_ENTRIES: u32 = 256;

/// Most ops [`Uring::exec_batch`] takes at once (room is left for the cancels).
pub const MAX_BATCH: usize = 128;

/// Milliseconds the SQPOLL thread spins before it sleeps.
pub const SQPOLL_IDLE_MS: u32 = 1;

/// In [`Mode::Fixed`], the registered-file index of the main root descriptor
/// (`SpecialFd::Root`); slots use indices 0..[`MAX_SLOTS`].
pub const ROOT_FIXED_INDEX: u32 = MAX_SLOTS as u32;

/// user_data bit marking our own ASYNC_CANCEL requests.
const CANCEL_TAG: u64 = 1 << 63;

/// CQE results that mean "cancelled" for a request we cancelled at its deadline:
/// -ECANCELED (removed before it ran, or a poll wait), -EINTR, and the
/// kernel-internal restart codes -ERESTARTSYS (512), -ERESTARTNOINTR (513),
/// -ERESTARTNOHAND (514), -ERESTART_RESTARTBLOCK (516). On 6.18 an io-wq worker
/// interrupted by the cancel while blocked in splice, tee or a FIFO open posts
/// -ERESTARTSYS itself (only READ/WRITE convert it to -EINTR), so that value
/// reaches userspace; [`Uring::cancel_results`] counts what was seen.
pub const CANCELLED_RESULTS: [i32; 6] = [-libc::ECANCELED, -libc::EINTR, -512, -513, -514, -516];

/// How SQEs are submitted: each mode drives a different kernel path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Mode {
    /// One SQE per op, submitted and waited for (inline issue first, poll or
    /// io-wq where the opcode needs it).
    Single,
    /// IOSQE_ASYNC on every SQE: never issued inline, always from an io-wq worker
    /// (pollable files such as pipes still wait by poll).
    Async,
    /// The slots' descriptors are registered files: a sparse table of
    /// [`MAX_SLOTS`] + 1 entries made at creation (index = slot,
    /// [`ROOT_FIXED_INDEX`] = the main root), updated whenever open, pipe or close
    /// changes a slot. File operands use IOSQE_FIXED_FILE (splice/tee's input
    /// SPLICE_F_FD_IN_FIXED), so an empty slot is an empty table entry (EBADF from
    /// the table lookup) and `bad` is index 0xffffffff. Opcodes that reject fixed
    /// files keep plain descriptors: STATX, the dirfds of OPENAT, MKDIRAT, UNLINKAT,
    /// RENAMEAT, LINKAT, SYMLINKAT (and the proposed MKNODAT), and CLOSE, which
    /// closes the slot's plain descriptor (the table entry is then cleared).
    Fixed,
    /// The ring is created with IORING_SETUP_SQPOLL: a kernel thread consumes the
    /// submission queue ([`SQPOLL_IDLE_MS`] idle time); one SQE per op.
    Sqpoll,
}

impl Mode {
    /// Every mode.
    pub const ALL: [Mode; 4] = [Mode::Single, Mode::Async, Mode::Fixed, Mode::Sqpoll];

    /// Lowercase name ("single", "async", "fixed", "sqpoll").
    pub fn name(self) -> &'static str {
        match self {
            Mode::Single => "single",
            Mode::Async => "async",
            Mode::Fixed => "fixed",
            Mode::Sqpoll => "sqpoll",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a [`Uring`] could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UringError {
    /// io_uring_setup(2) failed with EPERM or ENOSYS: io_uring is disabled
    /// (sysctl kernel.io_uring_disabled = 2, or 1 without membership of
    /// kernel.io_uring_group / CAP_SYS_ADMIN), the kernel lacks it, or a seccomp
    /// filter refuses it. `sysctl` is the sysctl's value when readable.
    #[error(
        "io_uring_setup failed: {}: {}",
        errno_text(*errno),
        unavailable_reason(*errno, sysctl)
    )]
    Unavailable {
        /// The errno of io_uring_setup.
        errno: i32,
        /// /proc/sys/kernel/io_uring_disabled, if present.
        sysctl: Option<String>,
    },
    /// IORING_SETUP_SQPOLL was refused (EPERM: before 5.11 it needed
    /// CAP_SYS_ADMIN), while a plain ring works.
    #[error(
        "IORING_SETUP_SQPOLL refused: {} (a plain ring works; before 5.11 SQPOLL needs \
         CAP_SYS_ADMIN)",
        errno_text(*errno)
    )]
    Sqpoll {
        /// The errno of io_uring_setup.
        errno: i32,
    },
    /// io_uring_setup(2) failed otherwise (ENOMEM, EMFILE, EINVAL...).
    #[error("io_uring_setup failed: {}", errno_text(*errno))]
    Setup {
        /// The errno.
        errno: i32,
    },
    /// IORING_REGISTER_PROBE failed (kernels before 5.6 have no probe).
    #[error("IORING_REGISTER_PROBE failed: {} (kernel before 5.6?)", errno_text(*errno))]
    Probe {
        /// The errno.
        errno: i32,
    },
    /// Registering the sparse file table of [`Mode::Fixed`] failed.
    #[error("registering the fixed file table failed: {}", errno_text(*errno))]
    RegisterFiles {
        /// The errno.
        errno: i32,
    },
    /// The proposed-opcode configuration is unusable on this kernel (a number
    /// that collides with a mainline opcode).
    #[error(transparent)]
    Proposed(#[from] crate::proposed::ProposedError),
}

fn errno_text(e: i32) -> String {
    format!("{} ({})", Errno(e), std::io::Error::from_raw_os_error(e))
}

/// Why io_uring_setup refused: from the sysctl's value, or ENOSYS.
fn unavailable_reason(errno: i32, sysctl: &Option<String>) -> String {
    match sysctl.as_deref().map(str::trim) {
        Some("2") => "io_uring is disabled (sysctl kernel.io_uring_disabled = 2)".into(),
        Some("1") => "io_uring is restricted (sysctl kernel.io_uring_disabled = 1: only \
                      kernel.io_uring_group members and CAP_SYS_ADMIN)"
            .into(),
        Some(v) => {
            format!("io_uring refused though kernel.io_uring_disabled = {v} (seccomp or LSM?)")
        }
        None if errno == libc::ENOSYS => {
            "this kernel has no io_uring (CONFIG_IO_URING off) or seccomp hides it".into()
        }
        None => "io_uring refused (no kernel.io_uring_disabled sysctl; seccomp?)".into(),
    }
}

/// Why [`Uring::exec_batch`] refused a batch (nothing was submitted).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// More than [`MAX_BATCH`] ops.
    #[error("batch of {0} ops: at most {MAX_BATCH}")]
    TooMany(usize),
    /// Op `index` fails [`Op::validate`].
    #[error("op #{index}: {reason}")]
    Invalid {
        /// Position in the batch.
        index: usize,
        /// Why.
        #[source]
        reason: model::InvalidOp,
    },
    /// Op `index` has no io_uring path here (no opcode, opcode not supported, or
    /// answered by the syscall backend without a syscall).
    #[error("op #{index} cannot go through the ring: {reason}")]
    NoOpcode {
        /// Position in the batch.
        index: usize,
        /// Why.
        #[source]
        reason: NoRingPath,
    },
    /// Op `writer` fills or empties a slot that op `user` also names. Operands are
    /// resolved when the batch is built, so such a batch would not mean what it
    /// says; run those ops one at a time.
    #[error("op #{writer} changes slot {slot}, which op #{user} also names")]
    SlotConflict {
        /// The slot.
        slot: Slot,
        /// The op (index) that opens, pipes into or closes it.
        writer: usize,
        /// Another op (index) naming it.
        user: usize,
    },
}

/// Why an op runs synchronously instead of through the ring.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoRingPath {
    /// The op kind has no io_uring opcode (lseek, seek_dirent, umask, or an
    /// unconfigured proposed opcode).
    #[error("{0} has no io_uring opcode")]
    NoOpcode(OpKind),
    /// The running kernel's probe does not list the kind's opcode.
    #[error("this kernel's probe lacks {kind}'s opcode {opcode}")]
    Unsupported {
        /// The op kind.
        kind: OpKind,
        /// Its opcode.
        opcode: u8,
    },
    /// A close of a special descriptor, which the syscall backend refuses
    /// without a syscall.
    #[error("close of a special descriptor is refused without a syscall")]
    CloseSpecial,
    /// An open of a device node, which the syscall backend refuses without a
    /// syscall.
    #[error("open of a device node is refused ({0}) without a syscall")]
    DeviceNode(Errno),
}

/// The running kernel's opcode table, from IORING_REGISTER_PROBE.
#[derive(Clone, PartialEq, Eq)]
pub struct RingProbe {
    last_op: u8,
    supported: [bool; 256],
}

/// struct io_uring_probe with room for 256 ops.
#[repr(C)]
struct RawProbe {
    last_op: u8,
    ops_len: u8,
    resv: u16,
    resv2: [u32; 3],
    ops: [RawProbeOp; 256],
}

/// struct io_uring_probe_op.
#[repr(C)]
#[derive(Clone, Copy)]
struct RawProbeOp {
    op: u8,
    resv: u8,
    flags: u16,
    resv2: u32,
}

const IORING_REGISTER_PROBE: libc::c_uint = 8;
const IORING_REGISTER_SYNC_CANCEL: libc::c_uint = 24;
const IORING_ASYNC_CANCEL_ANY: u32 = 1 << 2;

/// struct io_uring_sync_cancel_reg (include/uapi/linux/io_uring.h).
#[repr(C)]
struct SyncCancelReg {
    addr: u64,
    fd: i32,
    flags: u32,
    timeout_sec: i64,
    timeout_nsec: i64,
    opcode: u8,
    pad: [u8; 7],
    pad2: [u64; 3],
}

/// Cancels every request in flight on the ring `fd` synchronously
/// (IORING_REGISTER_SYNC_CANCEL with IORING_ASYNC_CANCEL_ANY, Linux 6.0),
/// waiting up to `timeout` for them to finish: how many were found, or the
/// errno (EINVAL where the kernel lacks the register op, ETIME when they did
/// not finish in time). Unlike an ASYNC_CANCEL SQE it is no request, so no
/// IOSQE_IO_DRAIN request ahead of it holds it back. The io-uring crate's
/// `register_sync_cancel` drops the count.
pub fn sync_cancel_all(fd: RawFd, timeout: std::time::Duration) -> Result<u32, i32> {
    let arg = SyncCancelReg {
        addr: 0,
        fd: -1,
        flags: IORING_ASYNC_CANCEL_ANY,
        timeout_sec: timeout.as_secs() as i64,
        timeout_nsec: i64::from(timeout.subsec_nanos()),
        opcode: 0,
        pad: [0; 7],
        pad2: [0; 3],
    };
    // SAFETY: arg is a valid io_uring_sync_cancel_reg, read by the kernel.
    let r = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            fd,
            IORING_REGISTER_SYNC_CANCEL,
            &arg as *const SyncCancelReg,
            1 as libc::c_uint,
        )
    };
    if r < 0 {
        Err(syscalls::errno_now())
    } else {
        Ok(r as u32)
    }
}
const IO_URING_OP_SUPPORTED: u16 = 1;

impl RingProbe {
    /// Probes through the ring `fd` (IORING_REGISTER_PROBE). Unlike the io-uring
    /// crate's `Probe`, this keeps the kernel's `last_op` (IORING_OP_LAST - 1),
    /// which tells which numbers are mainline opcodes.
    pub fn of_ring(fd: RawFd) -> Result<RingProbe, i32> {
        // SAFETY: an all-zero RawProbe is valid (and required by the kernel).
        let mut p: Box<RawProbe> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: p has room for the 256 ops announced.
        let r = unsafe {
            libc::syscall(
                libc::SYS_io_uring_register,
                fd,
                IORING_REGISTER_PROBE,
                &mut *p as *mut RawProbe,
                256 as libc::c_uint,
            )
        };
        if r < 0 {
            return Err(syscalls::errno_now());
        }
        let mut supported = [false; 256];
        for o in &p.ops[..p.ops_len as usize] {
            if o.flags & IO_URING_OP_SUPPORTED != 0 {
                supported[o.op as usize] = true;
            }
        }
        Ok(RingProbe {
            last_op: p.last_op,
            supported,
        })
    }

    /// The highest opcode number this kernel knows (IORING_OP_LAST - 1): every
    /// number up to it is a mainline opcode.
    pub fn last_op(&self) -> u8 {
        self.last_op
    }

    /// Whether `opcode` is supported (IO_URING_OP_SUPPORTED).
    pub fn supports(&self, opcode: u8) -> bool {
        self.supported[opcode as usize]
    }

    /// Every supported opcode number.
    pub fn supported_ops(&self) -> Vec<u8> {
        (0..=255u8).filter(|&o| self.supports(o)).collect()
    }
}

impl fmt::Debug for RingProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingProbe")
            .field("last_op", &self.last_op)
            .field("supported", &self.supported_ops())
            .finish()
    }
}

/// The outcome of one raw request of [`Uring::submit_raw`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawResult {
    /// The CQE's `res` (negated errno on failure).
    Done(i32),
    /// Still pending at the deadline; cancelled, and its CQE said so
    /// (-ECANCELED or -EINTR).
    TimedOut,
    /// No CQE even after the cancel: the request may still complete later.
    Lost,
}

/// Memory a request's SQE points into: kept alive until its CQE is reaped (and
/// forever if it never is). Moving the owners does not move their heap data.
#[derive(Default)]
struct Keep {
    bytes: Vec<u8>,
    words: Vec<u64>,
    paths: Vec<CString>,
    statx: Option<Box<libc::statx>>,
    fds: Option<Box<[RawFd; 2]>>,
}

impl Keep {
    fn path(&mut self, p: &str) -> u64 {
        let c = CString::new(p).expect("validated paths have no NUL byte");
        let ptr = c.as_ptr() as u64;
        self.paths.push(c);
        ptr
    }
}

/// What to do with a request's CQE.
#[derive(Debug, Clone, Copy)]
enum Done {
    /// `res` is the result (no data).
    Plain,
    /// `res` bytes were read into `Keep::bytes`.
    Read,
    /// `Keep::statx` holds the result.
    Stat,
    /// `res` is a new descriptor for this slot.
    Open(Slot),
    /// `Keep::fds` holds the read and write ends for these slots.
    Pipe(Slot, Slot),
    /// `res` bytes of getdents64 records are in `Keep::words`.
    Getdents(FdRef),
}

/// One prepared request.
struct Req {
    sqe: Sqe,
    keep: Keep,
    done: Done,
    /// While tracing: the descriptors before the SQE was made (a CLOSE
    /// takes its descriptor out of the slot table).
    fds: Vec<(RawFd, FdName)>,
}

/// The io_uring backend ("uring"); see the module documentation.
pub struct Uring {
    sys: Syscalls,
    ring: IoUring,
    mode: Mode,
    probe: RingProbe,
    proposed: ProposedOpcodes,
    fadvise_len64: bool,
    deadline: Duration,
    next_id: u64,
    counts: BTreeMap<OpKind, (u64, u64)>,
    timeouts: u64,
    cancel_results: BTreeMap<i32, u64>,
    /// Requests whose CQE never arrived, by user_data: their memory stays alive
    /// until it does (and is leaked if it never does).
    lost: HashMap<u64, (Done, Keep)>,
    /// What was sent, while tracing is on ([`Backend::set_tracing`]).
    trace: Option<Vec<TraceStep>>,
}

impl fmt::Debug for Uring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Uring")
            .field("mode", &self.mode)
            .field("probe", &self.probe)
            .field("proposed", &self.proposed)
            .field("fadvise_len64", &self.fadvise_len64)
            .field("timeouts", &self.timeouts)
            .field("lost", &self.lost.len())
            .finish()
    }
}

/// Evaluates `$build` with `$t` bound to the io-uring crate's operand for `$o`
/// (`types::Fd` or `types::Fixed`: two different types).
macro_rules! with_target {
    ($o:expr, |$t:ident| $build:expr) => {
        match $o {
            FdOperand::Plain(fd) => {
                let $t = types::Fd(fd);
                $build
            }
            FdOperand::Fixed(i) => {
                let $t = types::Fixed(i);
                $build
            }
        }
    };
}

/// The SQE offset for an op offset: -1 (u64::MAX) for the file position.
fn off64(o: Off) -> u64 {
    match o {
        Off::Pos => u64::MAX,
        Off::At(v) => v as u64,
    }
}

/// The signed form of [`off64`] (splice's offsets).
fn offi64(o: Off) -> i64 {
    off64(o) as i64
}

/// A 64-bit count in a 32-bit SQE field: saturated (see the module documentation).
fn len32(n: u64) -> u32 {
    model::sqe_len32(n)
}

/// The slots an op fills or empties (open, pipe, close), whichever path runs it.
/// The slots an op fills or empties (open, pipe, close): in [`Mode::Fixed`]
/// their registered-file entries are updated after it.
pub fn written_slots(op: &Op) -> Vec<Slot> {
    match op {
        Op::Open { slot, .. } => vec![*slot],
        Op::Pipe {
            read_slot,
            write_slot,
            ..
        } => vec![*read_slot, *write_slot],
        Op::Close { fd: FdRef::Slot(s) } => vec![*s],
        _ => vec![],
    }
}

fn is_timeout_errno(e: Option<i32>) -> bool {
    matches!(
        e,
        Some(libc::ETIME) | Some(libc::EINTR) | Some(libc::EAGAIN) | Some(libc::EBUSY)
    )
}

impl Uring {
    /// A backend on `roots` submitting in `mode`, with the proposed opcodes
    /// `proposed`. Makes the embedded [`Syscalls`] first (which gives the thread its
    /// own umask and mount namespace state, see [`Syscalls::new`]), then a ring of
    /// [`RING_ENTRIES`] with IORING_SETUP_SUBMIT_ALL (where the kernel has it, so a
    /// failing SQE never leaves the rest of a batch unsubmitted) and SQPOLL in
    /// [`Mode::Sqpoll`]; probes it; rejects proposed numbers that collide with
    /// mainline opcodes; registers the sparse file table in [`Mode::Fixed`]; and
    /// detects FADVISE's 64-bit length.
    pub fn new(roots: Roots, mode: Mode, proposed: ProposedOpcodes) -> Result<Uring, UringError> {
        let sys = Syscalls::new(roots);
        let ring = Uring::make_ring(mode)?;
        let probe =
            RingProbe::of_ring(ring.as_raw_fd()).map_err(|errno| UringError::Probe { errno })?;
        proposed
            .check_collisions(crate::proposed::mainline_last_op_running(probe.last_op()))
            .map_err(UringError::Proposed)?;
        let mut u = Uring {
            sys,
            ring,
            mode,
            probe,
            proposed,
            fadvise_len64: false,
            deadline: DEFAULT_DEADLINE,
            next_id: 1,
            counts: BTreeMap::new(),
            timeouts: 0,
            cancel_results: BTreeMap::new(),
            lost: HashMap::new(),
            trace: None,
        };
        if mode == Mode::Fixed {
            let n = MAX_SLOTS as u32 + 1;
            let sub = u.ring.submitter();
            if let Err(e) = sub.register_files_sparse(n) {
                // Before 5.19: a table of -1 entries is the same thing.
                if e.raw_os_error() != Some(libc::EINVAL) {
                    return Err(UringError::RegisterFiles {
                        errno: e.raw_os_error().unwrap_or(0),
                    });
                }
                sub.register_files(&vec![-1; n as usize]).map_err(|e| {
                    UringError::RegisterFiles {
                        errno: e.raw_os_error().unwrap_or(0),
                    }
                })?;
            }
            let root = u.sys.roots().main.as_raw_fd();
            u.ring
                .submitter()
                .register_files_update(ROOT_FIXED_INDEX, &[root])
                .map_err(|e| UringError::RegisterFiles {
                    errno: e.raw_os_error().unwrap_or(0),
                })?;
        }
        if u.probe.supports(sqe::op::FADVISE) {
            // 6.11+ reads the length from addr; before, addr != 0 is EINVAL at
            // prep. With fd -1 the new kernels get as far as the file: EBADF.
            let probe = Sqe::fadvise64(FdOperand::Plain(-1), 0, 1, 0);
            // SAFETY: the SQE carries no pointer.
            let r = unsafe { u.raw(&[probe], false) }.1;
            u.fadvise_len64 = r[0] == RawResult::Done(-libc::EBADF);
        }
        Ok(u)
    }

    fn make_ring(mode: Mode) -> Result<IoUring, UringError> {
        let build = |submit_all: bool, sqpoll: bool| {
            let mut b = IoUring::builder();
            if submit_all {
                b.setup_submit_all();
            }
            if sqpoll {
                b.setup_sqpoll(SQPOLL_IDLE_MS);
            }
            b.build(RING_ENTRIES)
        };
        let sqpoll = mode == Mode::Sqpoll;
        let r = match build(true, sqpoll) {
            // SUBMIT_ALL is 5.18+: older kernels reject the unknown flag.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => build(false, sqpoll),
            r => r,
        };
        r.map_err(|e| {
            let errno = e.raw_os_error().unwrap_or(0);
            let plain_works = sqpoll && build(false, false).is_ok();
            match errno {
                libc::EPERM if plain_works => UringError::Sqpoll { errno },
                libc::EPERM | libc::ENOSYS => UringError::Unavailable {
                    errno,
                    sysctl: std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").ok(),
                },
                _ if plain_works => UringError::Sqpoll { errno },
                _ => UringError::Setup { errno },
            }
        })
    }

    /// The submission mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The kernel's opcode table as probed at creation.
    pub fn probe(&self) -> &RingProbe {
        &self.probe
    }

    /// The proposed-opcode configuration in use.
    pub fn proposed(&self) -> &ProposedOpcodes {
        &self.proposed
    }

    /// True when FADVISE takes its length from the 64-bit `addr` (6.11+).
    pub fn fadvise_len64(&self) -> bool {
        self.fadvise_len64
    }

    /// The roots this backend runs on.
    pub fn roots(&self) -> &Roots {
        self.sys.roots()
    }

    /// Sets how long an op or a batch may wait for completions (default
    /// [`DEFAULT_DEADLINE`]).
    pub fn set_deadline(&mut self, d: Duration) {
        self.deadline = d;
    }

    /// Per op kind (every kind, zeros included): (ops that went through the ring,
    /// ops that ran through the synchronous fallback).
    pub fn counts(&self) -> BTreeMap<OpKind, (u64, u64)> {
        OpKind::ALL
            .iter()
            .map(|&k| (k, self.counts.get(&k).copied().unwrap_or_default()))
            .collect()
    }

    /// How many requests were cancelled at their deadline (reported as [`ETIME`]).
    pub fn timeouts(&self) -> u64 {
        self.timeouts
    }

    /// The raw CQE results of the requests cancelled at their deadline (the ones
    /// reported as [`ETIME`]), with how often each was seen: see
    /// [`CANCELLED_RESULTS`].
    pub fn cancel_results(&self) -> BTreeMap<i32, u64> {
        self.cancel_results.clone()
    }

    /// How many requests never delivered a CQE, even after being cancelled; their
    /// memory is kept alive (a non-zero value means the ring may be unhealthy).
    pub fn lost(&self) -> usize {
        self.lost.len()
    }

    /// The opcode that runs an op kind: mainline numbers, the configured proposed
    /// ones, None where no opcode exists (lseek, seek_dirent, umask, unconfigured
    /// proposed ones).
    pub fn opcode(&self, kind: OpKind) -> Option<u8> {
        self.proposed.numbers.opcode_of(kind)
    }

    /// Whether ops of `kind` go through io_uring here: None when no opcode exists
    /// at all (lseek, seek_dirent, umask; copy_file_range, getdents, mknod unless
    /// configured in [`ProposedOpcodes`]), else whether the probe lists it.
    pub fn supported(&self, kind: OpKind) -> Option<bool> {
        self.opcode(kind).map(|c| self.probe.supports(c))
    }

    /// Ok when `op` goes through the ring, else why it runs synchronously.
    fn ring_path(&self, op: &Op) -> Result<(), NoRingPath> {
        let kind = op.kind();
        match self.supported(kind) {
            None => return Err(NoRingPath::NoOpcode(kind)),
            Some(false) => {
                return Err(NoRingPath::Unsupported {
                    kind,
                    opcode: self.opcode(kind).unwrap_or(0),
                })
            }
            Some(true) => {}
        }
        match op {
            Op::Close {
                fd: FdRef::Special(_),
            } => Err(NoRingPath::CloseSpecial),
            Op::Open {
                dir, path, flags, ..
            } => {
                let p = CString::new(path.as_str()).expect("validated paths have no NUL byte");
                match self.sys.refuse_device(self.sys.dir(*dir), &p, flags) {
                    Some(e) => Err(NoRingPath::DeviceNode(e)),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// The SQE operand for a file operand in this mode.
    fn operand(&self, f: FdRef) -> FdOperand {
        if self.mode == Mode::Fixed {
            FdOperand::Fixed(match f {
                FdRef::Slot(s) => s as u32,
                FdRef::Special(SpecialFd::Root) => ROOT_FIXED_INDEX,
                FdRef::Special(SpecialFd::Bad) => u32::MAX,
            })
        } else {
            FdOperand::Plain(self.sys.fd(f))
        }
    }

    /// Builds the request for an op that has a ring path (see `ring_path`).
    /// Closing takes the descriptor out of its slot (as the syscall backend does).
    fn prepare(&mut self, op: &Op) -> Req {
        let mut keep = Keep::default();
        let mut done = Done::Plain;
        let fds = if self.trace.is_some() {
            self.fd_names()
        } else {
            Vec::new()
        };
        // The `sqe` column of the op table.
        let sqe = model::op_table!(sqe (&mut *self, &mut keep, &mut done) op);
        Req {
            sqe,
            keep,
            done,
            fds,
        }
    }

    fn statx_sqe(&self, keep: &mut Keep, dirfd: RawFd, path: u64, flags: i32) -> Sqe {
        // SAFETY: an all-zero statx is a valid value; the kernel overwrites it.
        let mut stx: Box<libc::statx> = Box::new(unsafe { std::mem::zeroed() });
        let buf = &mut *stx as *mut libc::statx;
        keep.statx = Some(stx);
        Sqe::from_entry(
            &opcode::Statx::new(
                types::Fd(dirfd),
                path as *const libc::c_char,
                buf.cast::<types::statx>(),
            )
            .flags(flags)
            .mask(libc::STATX_BASIC_STATS)
            .build(),
        )
    }

    /// The outcome of a completed request, applying its effect on the slot table.
    fn finish(&mut self, done: Done, keep: Keep, r: RawResult) -> Outcome {
        let res = match r {
            RawResult::Done(res) => res,
            RawResult::TimedOut => return Outcome::err(ETIME),
            RawResult::Lost => {
                unreachable!("lost requests are handled by `complete`")
            }
        };
        if res < 0 {
            return Outcome::err(Errno(-res));
        }
        match done {
            Done::Plain => Outcome::ok(res as i64),
            Done::Read => {
                let mut b = keep.bytes;
                b.truncate(res as usize);
                Outcome::ok_with(res as i64, Data::Bytes(b))
            }
            Done::Stat => {
                let stx = keep.statx.expect("statx buffer");
                Outcome::ok_with(res as i64, Data::Stat(syscalls::stat_of_statx(&stx)))
            }
            Done::Open(slot) => {
                self.sys.install(slot, res);
                Outcome::ok(0)
            }
            Done::Pipe(r, w) => {
                let fds = keep.fds.expect("pipe fds");
                self.sys.install(r, fds[0]);
                self.sys.install(w, fds[1]);
                Outcome::ok(0)
            }
            Done::Getdents(f) => {
                let n = (res as usize).min(keep.words.len() * 8);
                // SAFETY: the u64 buffer viewed as bytes; n is within it.
                let bytes =
                    unsafe { std::slice::from_raw_parts(keep.words.as_ptr().cast::<u8>(), n) };
                self.sys.dirents_outcome(f, bytes)
            }
        }
    }

    /// Outcomes of finished requests; lost ones keep their memory and report ETIME.
    fn complete(&mut self, reqs: Vec<(Done, Keep, u64)>, results: Vec<RawResult>) -> Vec<Outcome> {
        reqs.into_iter()
            .zip(results)
            .map(|((done, keep, id), r)| {
                if r == RawResult::Lost {
                    self.lost.insert(id, (done, keep));
                    Outcome::err(ETIME)
                } else {
                    self.finish(done, keep, r)
                }
            })
            .collect()
    }

    /// After an op that filled or emptied slots, points their registered-file
    /// entries at the slots' current descriptors (Fixed mode). A descriptor the
    /// table refuses (O_PATH: EBADF) leaves the entry empty.
    fn sync_fixed(&mut self, slots: &[Slot]) {
        if self.mode != Mode::Fixed {
            return;
        }
        for &s in slots {
            let fd = self.sys.slot_fd(s).unwrap_or(-1);
            let sub = self.ring.submitter();
            if sub.register_files_update(s as u32, &[fd]).is_err() {
                let _ = sub.register_files_update(s as u32, &[-1]);
            }
        }
    }

    /// Submits arbitrary SQEs (user_data is overwritten with our own ids; other
    /// fields are sent as given) and waits for them with the deadline; with
    /// `linked`, only the first pending request of the chain is cancelled at the
    /// deadline (the rest complete with -ECANCELED through the link). For fuzzing.
    ///
    /// # Safety
    /// Every pointer in the SQEs must be valid for what the kernel does with it
    /// until this returns, and for ever for a request reported [`RawResult::Lost`].
    pub unsafe fn submit_raw(&mut self, sqes: &[Sqe], linked: bool) -> Vec<RawResult> {
        // SAFETY: passed on to the caller.
        unsafe { self.raw(sqes, linked) }.1
    }

    /// Pushes, submits and reaps; returns the user_data given to each SQE and its
    /// result.
    ///
    /// # Safety
    /// As [`Uring::submit_raw`].
    unsafe fn raw(&mut self, sqes: &[Sqe], linked: bool) -> (Vec<u64>, Vec<RawResult>) {
        let n = sqes.len();
        let mut ids = Vec::with_capacity(n);
        let mut entries = Vec::with_capacity(n);
        for s in sqes {
            let mut s = *s;
            s.user_data = self.next_id;
            self.next_id = (self.next_id + 1) & !CANCEL_TAG;
            ids.push(s.user_data);
            entries.push(s.to_entry());
        }
        let index: HashMap<u64, usize> = ids.iter().enumerate().map(|(i, &u)| (u, i)).collect();
        let mut res: Vec<Option<i32>> = vec![None; n];
        // Room for the SQEs: drain anything a previous submit left behind.
        let _ = self.ring.submit();
        // SAFETY: the caller guarantees the SQEs' pointers (see above).
        let pushed = unsafe { self.ring.submission().push_multiple(&entries) };
        if pushed.is_err() {
            // Never happens with batches of at most MAX_BATCH on a RING_ENTRIES
            // ring; report every request as timed out rather than panic.
            return (ids, vec![RawResult::TimedOut; n]);
        }
        let deadline = Instant::now() + self.deadline;
        self.wait(&index, &mut res, deadline);
        let mut cancelled = vec![false; n];
        if res.iter().any(Option::is_none) {
            let pending: Vec<usize> = (0..n).filter(|&i| res[i].is_none()).collect();
            let targets = if linked { &pending[..1] } else { &pending[..] };
            let cancels: Vec<_> = targets
                .iter()
                .map(|&i| {
                    cancelled[i] = true;
                    let mut c = Sqe::async_cancel(ids[i]);
                    c.user_data = CANCEL_TAG | ids[i];
                    c.to_entry()
                })
                .collect();
            // SAFETY: cancel SQEs carry no pointers.
            let _ = unsafe { self.ring.submission().push_multiple(&cancels) };
            self.wait(&index, &mut res, Instant::now() + CANCEL_DEADLINE);
        }
        let results = (0..n)
            .map(|i| match res[i] {
                Some(r) if cancelled[i] && CANCELLED_RESULTS.contains(&r) => {
                    self.timeouts += 1;
                    *self.cancel_results.entry(r).or_default() += 1;
                    RawResult::TimedOut
                }
                Some(r) => RawResult::Done(r),
                None => {
                    self.timeouts += 1;
                    RawResult::Lost
                }
            })
            .collect();
        (ids, results)
    }

    /// Submits what is queued and reaps CQEs into `res` until every entry is
    /// filled or `deadline` passes.
    fn wait(&mut self, index: &HashMap<u64, usize>, res: &mut [Option<i32>], deadline: Instant) {
        loop {
            self.reap(index, res);
            if res.iter().all(Option::is_some) {
                // Push anything still queued (cancels) so nothing lingers.
                let _ = self.ring.submit();
                return;
            }
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            let ts = types::Timespec::from(deadline - now);
            let args = types::SubmitArgs::new().timespec(&ts);
            match self.ring.submitter().submit_with_args(1, &args) {
                Ok(_) => {}
                Err(e) if is_timeout_errno(e.raw_os_error()) => {}
                Err(_) => {
                    // No timed wait (IORING_ENTER_EXT_ARG is 5.11+: EINVAL before)
                    // or another enter failure: submit without waiting and poll
                    // every millisecond until the deadline.
                    let _ = self.ring.submit();
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }

    /// Moves every available CQE into `res` (by user_data); stray CQEs of lost
    /// requests release their memory (and close descriptors they made).
    fn reap(&mut self, index: &HashMap<u64, usize>, res: &mut [Option<i32>]) {
        let cqes: Vec<(u64, i32)> = self
            .ring
            .completion()
            .map(|c| (c.user_data(), c.result()))
            .collect();
        for (ud, r) in cqes {
            if ud & CANCEL_TAG != 0 {
                continue;
            }
            if let Some(&i) = index.get(&ud) {
                res[i] = Some(r);
            } else if let Some((done, keep)) = self.lost.remove(&ud) {
                if r >= 0 {
                    match done {
                        // SAFETY: a descriptor made by a request we gave up on:
                        // ours, and in no slot.
                        Done::Open(_) => unsafe {
                            libc::close(r);
                        },
                        Done::Pipe(..) => {
                            if let Some(fds) = &keep.fds {
                                // SAFETY: the two descriptors pipe2 made for a
                                // request we gave up on: ours, and in no slot.
                                unsafe {
                                    libc::close(fds[0]);
                                    libc::close(fds[1]);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
        }
    }

    /// Runs `ops` as one submission: every SQE is pushed, then one io_uring_enter
    /// submits them all and the CQEs are collected by user_data (in any order) with
    /// one deadline for the batch. With `linked`, IOSQE_IO_LINK chains them in
    /// order: a failure or a short splice/read/write cancels the rest of the chain
    /// (their outcomes are -ECANCELED); at the deadline only the first pending op
    /// is cancelled (reported [`ETIME`]) and the rest complete as ECANCELED.
    ///
    /// Open and pipe still fill their slots (from the CQE), in op order. Operands
    /// are resolved when the batch is built, so a batch in which one op opens,
    /// pipes into or closes a slot that another op names is refused
    /// ([`BatchError::SlotConflict`]), as is any op without a ring path
    /// ([`BatchError::NoOpcode`]: lseek, seek_dirent, umask, unsupported or
    /// unconfigured opcodes, close of a special descriptor); nothing is submitted
    /// then.
    pub fn exec_batch(&mut self, ops: &[Op], linked: bool) -> Result<Vec<Outcome>, BatchError> {
        if ops.len() > MAX_BATCH {
            return Err(BatchError::TooMany(ops.len()));
        }
        for (index, op) in ops.iter().enumerate() {
            op.validate()
                .map_err(|reason| BatchError::Invalid { index, reason })?;
            self.ring_path(op)
                .map_err(|reason| BatchError::NoOpcode { index, reason })?;
        }
        for (writer, op) in ops.iter().enumerate() {
            for slot in written_slots(op) {
                if let Some(user) = ops
                    .iter()
                    .enumerate()
                    .position(|(j, o)| j != writer && o.slots().contains(&slot))
                {
                    return Err(BatchError::SlotConflict { slot, writer, user });
                }
            }
        }
        let reqs: Vec<Req> = ops.iter().map(|op| self.prepare(op)).collect();
        for op in ops {
            self.counts.entry(op.kind()).or_default().0 += 1;
        }
        let outcomes = self.run_ops(reqs, linked);
        let written: Vec<Slot> = ops.iter().flat_map(written_slots).collect();
        self.sync_fixed(&written);
        Ok(outcomes)
    }

    /// One SQE as the trace keeps it: its bytes (user_data zeroed), copies
    /// of the memory it points into, and this backend's descriptors.
    fn traced(s: &Sqe, done: Done, keep: &Keep, fds: &[(RawFd, FdName)]) -> TracedSqe {
        let mut buffers = Vec::new();
        let mut add = |addr: u64, bytes: Vec<u8>, role| {
            buffers.push(TracedBuffer { addr, bytes, role });
        };
        if !keep.bytes.is_empty() {
            let role = match done {
                Done::Getdents(_) => BufferRole::Dirents,
                _ => BufferRole::Data,
            };
            add(keep.bytes.as_ptr() as u64, keep.bytes.clone(), role);
        }
        if !keep.words.is_empty() {
            let n = keep.words.len() * 8;
            add(keep.words.as_ptr() as u64, vec![0; n], BufferRole::Dirents);
        }
        for p in &keep.paths {
            add(p.as_ptr() as u64, p.as_bytes().to_vec(), BufferRole::Path);
        }
        if let Some(stx) = &keep.statx {
            let n = std::mem::size_of::<libc::statx>();
            add(
                &**stx as *const libc::statx as u64,
                vec![0; n],
                BufferRole::Statx,
            );
        }
        if let Some(fds) = &keep.fds {
            add(fds.as_ptr() as u64, vec![0; 8], BufferRole::PipeFds);
        }
        let mut s = *s;
        s.user_data = 0;
        TracedSqe {
            bytes: s.as_bytes(),
            buffers,
            fds: fds.to_vec(),
            done: match done {
                Done::Plain => TracedDone::Plain,
                Done::Read => TracedDone::Read,
                Done::Stat => TracedDone::Stat,
                Done::Open(slot) => TracedDone::Open(slot),
                Done::Pipe(r, w) => TracedDone::Pipe(r, w),
                Done::Getdents(_) => TracedDone::Getdents,
            },
        }
    }

    /// The roots' and the occupied slots' descriptors, by meaning.
    fn fd_names(&self) -> Vec<(RawFd, FdName)> {
        let mut fds = vec![
            (self.sys.roots().main.as_raw_fd(), FdName::Root),
            (self.sys.roots().other.as_raw_fd(), FdName::Other),
        ];
        for slot in 0..MAX_SLOTS {
            if let Some(fd) = self.sys.slot_fd(slot) {
                fds.push((fd, FdName::Slot(slot)));
            }
        }
        fds
    }

    /// Submits prepared requests (IOSQE_ASYNC in Async mode, IO_LINK between them
    /// if `linked`) and turns their CQEs into outcomes, in order.
    fn run_ops(&mut self, reqs: Vec<Req>, linked: bool) -> Vec<Outcome> {
        let n = reqs.len();
        let mut sqes = Vec::with_capacity(n);
        let mut held = Vec::with_capacity(n);
        for (i, r) in reqs.into_iter().enumerate() {
            let mut s = r.sqe;
            if self.mode == Mode::Async {
                s.flags |= sqe::flags::ASYNC;
            }
            if linked && i + 1 < n {
                s.flags |= sqe::flags::IO_LINK;
            }
            if let Some(t) = self.trace.as_mut() {
                let traced = Uring::traced(&s, r.done, &r.keep, &r.fds);
                match t.last_mut() {
                    // The rest of this group joins its first SQE's step.
                    Some(TraceStep::Ring(group)) if i > 0 => group.push(traced),
                    _ => t.push(TraceStep::Ring(vec![traced])),
                }
            }
            sqes.push(s);
            held.push((r.done, r.keep));
        }
        // SAFETY: every pointer in the SQEs points into `held`, which lives until
        // `complete` consumes it and, for lost requests, moves into `self.lost`.
        let (ids, results) = unsafe { self.raw(&sqes, linked) };
        let reqs = held
            .into_iter()
            .zip(ids)
            .map(|((d, k), id)| (d, k, id))
            .collect();
        self.complete(reqs, results)
    }
}

impl Drop for Uring {
    fn drop(&mut self) {
        // The kernel may still write into the memory of requests that never
        // completed, even after the ring is closed: never free it.
        std::mem::forget(std::mem::take(&mut self.lost));
    }
}

impl Backend for Uring {
    fn name(&self) -> &str {
        "uring"
    }

    fn ring_counts(&self) -> Option<BTreeMap<OpKind, (u64, u64)>> {
        Some(self.counts())
    }

    fn exec_group(&mut self, ops: &[Op], linked: bool) -> Option<Vec<Outcome>> {
        self.exec_batch(ops, linked).ok()
    }

    /// Runs `op` through its opcode (or the synchronous fallback, see the module
    /// documentation). Panics if `op` fails [`Op::validate`], like [`Syscalls`].
    fn exec(&mut self, op: &Op) -> Outcome {
        if let Err(e) = op.validate() {
            panic!("Uring::exec: refusing an op that fails validation: {e}");
        }
        let out = if self.ring_path(op).is_ok() {
            self.counts.entry(op.kind()).or_default().0 += 1;
            let req = self.prepare(op);
            self.run_ops(vec![req], false)
                .pop()
                .expect("one outcome per request")
        } else {
            self.counts.entry(op.kind()).or_default().1 += 1;
            if let Some(t) = self.trace.as_mut() {
                t.push(TraceStep::Sync);
            }
            self.sys.exec(op)
        };
        self.sync_fixed(&written_slots(op));
        out
    }

    /// The trees under both roots and the fd table, exactly as [`Syscalls`]
    /// snapshots them (the same code on the same descriptors).
    fn snapshot(&mut self) -> State {
        self.sys.snapshot()
    }

    fn set_tracing(&mut self, on: bool) {
        self.trace = on.then(Vec::new);
    }

    fn take_trace(&mut self) -> Option<Vec<TraceStep>> {
        self.trace.as_mut().map(std::mem::take)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare::{comparable, run_both};
    use model::OpKind;
    use sys::scratch::Scratch;

    /// Parses one op written as in the scenario files.
    fn op(text: &str) -> Op {
        model::parse_op(text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn ops(texts: &[&str]) -> Vec<Op> {
        texts.iter().map(|t| op(t)).collect()
    }

    /// A ring backend and a syscall backend on separate roots of one scratch area
    /// (the Scratch must outlive both).
    fn pair(mode: Mode) -> (Scratch, Syscalls, Uring) {
        let s = Scratch::new().expect("scratch");
        let sys = Syscalls::new(s.roots("syscalls").expect("roots"));
        let u = Uring::new(
            s.roots("uring").expect("roots"),
            mode,
            ProposedOpcodes::default(),
        )
        .unwrap_or_else(|e| panic!("{mode}: {e}"));
        (s, sys, u)
    }

    fn uring(mode: Mode) -> (Scratch, Uring) {
        let s = Scratch::new().expect("scratch");
        let u = Uring::new(
            s.roots("uring").expect("roots"),
            mode,
            ProposedOpcodes::default(),
        )
        .unwrap_or_else(|e| panic!("{mode}: {e}"));
        (s, u)
    }

    const SEQUENCE: &[&str] = &[
        r#"{ op = "open", slot = 0, path = "a", flags = ["rdwr", "creat", "excl"], mode = 0o640 }"#,
        r#"{ op = "write", fd = 0, data = "hello, ring" }"#,
        r#"{ op = "write", fd = 0, data = "XY", offset = 2 }"#,
        r#"{ op = "read", fd = 0, len = 100, offset = 0 }"#,
        r#"{ op = "read", fd = 0, len = 100 }"#,
        r#"{ op = "lseek", fd = 0, offset = 3, whence = "set" }"#,
        r#"{ op = "read", fd = 0, len = 4 }"#,
        r#"{ op = "pipe", read_slot = 1, write_slot = 2 }"#,
        r#"{ op = "splice", fd_in = 0, off_in = 0, fd_out = 2, len = 5 }"#,
        r#"{ op = "splice", fd_in = 0, fd_out = 2, len = 3 }"#,
        r#"{ op = "tee", fd_in = 1, fd_out = 2, len = 0 }"#,
        r#"{ op = "open", slot = 3, path = "b", flags = ["wronly", "creat"] }"#,
        r#"{ op = "splice", fd_in = 1, fd_out = 3, off_out = 4, len = 8 }"#,
        r#"{ op = "splice", fd_in = 1, fd_out = 3, len = 8, flags = 2 }"#,
        r#"{ op = "fallocate", fd = 0, offset = 0, len = 8192 }"#,
        r#"{ op = "fallocate", fd = 0, mode = ["keep_size", "punch_hole"], offset = 4096, len = 4096 }"#,
        r#"{ op = "fallocate", fd = 0, mode = ["collapse_range"], offset = 0, len = 4096 }"#,
        r#"{ op = "fadvise", fd = 0, advice = "willneed" }"#,
        r#"{ op = "fadvise", fd = 0, len = -1, advice = "normal" }"#,
        r#"{ op = "fadvise", fd = 0, advice = 99 }"#,
        r#"{ op = "fadvise", fd = 1, advice = "normal" }"#,
        r#"{ op = "stat", path = "a" }"#,
        r#"{ op = "fstat", fd = 3 }"#,
        r#"{ op = "fstat", fd = 1 }"#,
        r#"{ op = "fstat", fd = 6 }"#,
        r#"{ op = "stat", path = "missing" }"#,
        r#"{ op = "mkdir", path = "d", mode = 0o700 }"#,
        r#"{ op = "mkdir", path = "d" }"#,
        r#"{ op = "rename", path = "b", new_path = "d/b" }"#,
        r#"{ op = "rename", path = "a", new_path = "d/b", flags = ["noreplace"] }"#,
        r#"{ op = "rename", path = "a", new_path = "d/b", flags = ["exchange"] }"#,
        r#"{ op = "link", path = "d/b", new_path = "c" }"#,
        r#"{ op = "symlink", target = "d/b", path = "s" }"#,
        r#"{ op = "stat", path = "s", follow = true }"#,
        r#"{ op = "stat", path = "s" }"#,
        r#"{ op = "unlink", path = "d", removedir = true }"#,
        r#"{ op = "unlink", path = "c" }"#,
        r#"{ op = "ftruncate", fd = 0, len = 3 }"#,
        r#"{ op = "ftruncate", fd = 3, len = -1 }"#,
        r#"{ op = "fsync", fd = 0 }"#,
        r#"{ op = "fsync", fd = 3, datasync = true }"#,
        r#"{ op = "umask", mask = 0o077 }"#,
        r#"{ op = "mkdir", path = "m", mode = 0o777 }"#,
        r#"{ op = "open", slot = 4, path = "m/f", flags = ["creat", "wronly"], mode = 0o666 }"#,
        r#"{ op = "pipe", read_slot = 5, write_slot = 6, nonblock = true }"#,
        r#"{ op = "write", fd = 6, data = "pipe data" }"#,
        r#"{ op = "read", fd = 5, len = 4 }"#,
        r#"{ op = "close", fd = 5 }"#,
        r#"{ op = "close", fd = 5 }"#,
        r#"{ op = "read", fd = 5, len = 1 }"#,
        r#"{ op = "write", fd = 6, data = "x" }"#,
        r#"{ op = "close", fd = "root" }"#,
        r#"{ op = "open", slot = 7, path = "d", flags = ["directory"] }"#,
        r#"{ op = "getdents", fd = 7, count = 4096 }"#,
        r#"{ op = "seek_dirent", fd = 7, entry = 0 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, off_in = 0, fd_out = 4, len = 3 }"#,
        r#"{ op = "mknod", path = "fifo", type = "fifo" }"#,
        r#"{ op = "open", slot = 2, path = "a", flags = ["path"] }"#,
        r#"{ op = "read", fd = 2, len = 1 }"#,
        r#"{ op = "fstat", fd = 2 }"#,
        r#"{ op = "read", fd = "bad", len = 1 }"#,
        r#"{ op = "fstat", fd = "root" }"#,
        r#"{ op = "read", fd = "root", len = 1 }"#,
    ];

    /// Runs SEQUENCE through both backends; returns the differing outcomes.
    fn differences(mode: Mode) -> Vec<String> {
        let (_s, mut sys, mut u) = pair(mode);
        let mut diffs = Vec::new();
        let seq = ops(SEQUENCE);
        for (text, (a, b)) in SEQUENCE.iter().zip(run_both(&mut sys, &mut u, &seq)) {
            if comparable(&a) != comparable(&b) {
                diffs.push(format!("{mode}: {text}: syscalls {a} vs uring {b}"));
            }
        }
        let d = model::diff("syscalls", &sys.snapshot(), "uring", &u.snapshot());
        diffs.extend(d.into_iter().map(|l| format!("{mode}: state: {l}")));
        let counts = u.counts();
        assert_eq!(counts[&OpKind::Read].0, 8, "{mode}: {counts:?}");
        assert_eq!(counts[&OpKind::Lseek], (0, 1), "{mode}");
        assert_eq!(counts[&OpKind::Umask], (0, 1), "{mode}");
        // close of "root" is answered without a syscall; the other closes use the ring.
        assert_eq!(counts[&OpKind::Close], (2, 1), "{mode}");
        // No proposed opcodes configured: these ran synchronously.
        for k in [OpKind::Getdents, OpKind::CopyFileRange, OpKind::Mknod] {
            assert_eq!(counts[&k], (0, 1), "{mode} {k}");
        }
        assert_eq!(u.lost(), 0);
        diffs
    }

    #[test]
    fn uring_modes_agree_with_syscalls() {
        for mode in Mode::ALL {
            let d = differences(mode);
            assert!(d.is_empty(), "{}", d.join("\n"));
        }
    }

    #[test]
    fn uring_probe_lists_read_and_splice() {
        let (_s, u) = uring(Mode::Single);
        let p = u.probe();
        assert!(
            p.supports(sqe::op::READ) && p.supports(sqe::op::SPLICE),
            "{p:?}"
        );
        assert!(p.supports(sqe::op::NOP));
        assert!(!p.supports(255));
        assert_eq!(u.supported(OpKind::Read), Some(true));
        assert_eq!(u.supported(OpKind::Splice), Some(true));
        assert_eq!(u.supported(OpKind::Lseek), None);
        assert_eq!(u.supported(OpKind::Getdents), None);
        let (major, minor) = sys::kernel::version();
        if (major, minor) >= (6, 16) {
            assert!(p.last_op() >= sqe::op::PIPE, "{p:?}");
            assert_eq!(u.supported(OpKind::Pipe), Some(true));
        }
        if (major, minor) >= (6, 11) {
            assert!(u.fadvise_len64(), "6.11+ reads FADVISE's length from addr");
        }
    }

    #[test]
    fn uring_executes_sqes_from_our_encoder() {
        let (_s, mut u) = uring(Mode::Single);
        let mut fds = [0 as RawFd; 2];
        // SAFETY: fds has room for two descriptors.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        let msg = b"from our own bytes";
        let mut back = [0u8; 64];
        let sqes = [
            Sqe::nop(),
            Sqe::write(
                FdOperand::Plain(fds[1]),
                msg.as_ptr() as u64,
                msg.len() as u32,
                u64::MAX,
            ),
            Sqe::read(
                FdOperand::Plain(fds[0]),
                back.as_mut_ptr() as u64,
                64,
                u64::MAX,
            ),
            // Not an opcode of this kernel (nor, so far, of any).
            Sqe::new(250),
            // A must-be-zero field set: prep refuses it.
            Sqe {
                pad: 1,
                ..Sqe::nop()
            },
        ];
        // SAFETY: msg and back outlive the call and nothing is lost (asserted).
        let r = unsafe { u.submit_raw(&sqes, true) };
        assert_eq!(
            &r[..3],
            &[
                RawResult::Done(0),
                RawResult::Done(msg.len() as i32),
                RawResult::Done(msg.len() as i32)
            ]
        );
        assert_eq!(&back[..msg.len()], msg);
        assert_eq!(r[3], RawResult::Done(-libc::EINVAL));
        assert!(matches!(r[4], RawResult::Done(_)), "{r:?}");
        // SAFETY: our own pipe.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }

    #[test]
    fn uring_blocked_read_times_out_and_the_ring_still_works() {
        for mode in Mode::ALL {
            let (_s, mut u) = uring(mode);
            u.set_deadline(Duration::from_millis(200));
            for t in [
                r#"{ op = "pipe", read_slot = 0, write_slot = 1, nonblock = true }"#,
                r#"{ op = "open", slot = 2, path = "f", flags = ["rdwr", "creat"] }"#,
            ] {
                assert_eq!(u.exec(&op(t)), Outcome::ok(0), "{mode}: {t}");
            }
            let start = Instant::now();
            let o = u.exec(&op(r#"{ op = "read", fd = 0, len = 10 }"#));
            let took = start.elapsed();
            assert_eq!(o, Outcome::err(ETIME), "{mode}: an empty O_NONBLOCK pipe");
            assert!(
                took < Duration::from_millis(200) + CANCEL_DEADLINE,
                "{mode}: {took:?}"
            );
            assert_eq!((u.timeouts(), u.lost()), (1, 0), "{mode}");
            // The ring still works, and the cancelled read consumed nothing.
            assert_eq!(
                u.exec(&op(r#"{ op = "write", fd = 1, data = "abc" }"#)),
                Outcome::ok(3),
                "{mode}"
            );
            assert_eq!(
                u.exec(&op(r#"{ op = "read", fd = 0, len = 10 }"#)),
                Outcome::ok_with(3, Data::Bytes(b"abc".to_vec())),
                "{mode}"
            );
            // Splice from the empty O_NONBLOCK pipe: EAGAIN, as the syscall says
            // (SPLICE is always issued from io-wq, which does not poll for it).
            let o = u.exec(&op(r#"{ op = "splice", fd_in = 0, fd_out = 2, len = 10 }"#));
            assert_eq!(o, Outcome::err(Errno::EAGAIN), "{mode}");
            // From an empty blocking pipe the io-wq worker sleeps in the pipe:
            // cancelled at the deadline, reported as ETIME.
            assert_eq!(
                u.exec(&op(r#"{ op = "pipe", read_slot = 3, write_slot = 4 }"#)),
                Outcome::ok(0)
            );
            let o = u.exec(&op(r#"{ op = "splice", fd_in = 3, fd_out = 2, len = 10 }"#));
            assert_eq!(o, Outcome::err(ETIME), "{mode}");
            assert_eq!((u.timeouts(), u.lost()), (2, 0), "{mode}");
            let raw = u.cancel_results();
            assert!(
                raw.keys().all(|r| CANCELLED_RESULTS.contains(r)),
                "{mode}: {raw:?}"
            );
            println!("{mode}: raw results of cancelled requests: {raw:?}");
            assert_eq!(
                u.exec(&op(r#"{ op = "fstat", fd = 2 }"#)).result,
                Ok(0),
                "{mode}"
            );
        }
    }

    #[test]
    fn uring_short_splice_cancels_the_linked_rest() {
        for mode in Mode::ALL {
            let (_s, mut u) = uring(mode);
            for (t, want) in [
                (
                    r#"{ op = "open", slot = 0, path = "a", flags = ["rdwr", "creat"] }"#,
                    0,
                ),
                (r#"{ op = "write", fd = 0, data = "12345" }"#, 5),
                (
                    r#"{ op = "pipe", read_slot = 1, write_slot = 2, nonblock = true }"#,
                    0,
                ),
                (
                    r#"{ op = "open", slot = 3, path = "b", flags = ["wronly", "creat"] }"#,
                    0,
                ),
            ] {
                assert_eq!(u.exec(&op(t)).result, Ok(want), "{mode}: {t}");
            }
            let chain = ops(&[
                // Only 5 bytes exist: short, so the link breaks.
                r#"{ op = "splice", fd_in = 0, off_in = 0, fd_out = 2, len = 10 }"#,
                r#"{ op = "splice", fd_in = 1, fd_out = 3, len = 5 }"#,
            ]);
            let out = u.exec_batch(&chain, true).expect("batch");
            assert_eq!(
                out,
                vec![Outcome::ok(5), Outcome::err(Errno::ECANCELED)],
                "{mode}"
            );
            // Unlinked, the same pair both run.
            let chain = ops(&[
                r#"{ op = "splice", fd_in = 0, off_in = 0, fd_out = 2, len = 5 }"#,
                r#"{ op = "fsync", fd = 3 }"#,
            ]);
            let out = u.exec_batch(&chain, true).expect("batch");
            assert_eq!(out, vec![Outcome::ok(5), Outcome::ok(0)], "{mode}");
            // The pipe holds 10 bytes now; a full-length linked chain goes through.
            let chain = ops(&[
                r#"{ op = "splice", fd_in = 1, fd_out = 3, len = 10 }"#,
                r#"{ op = "fsync", fd = 3, datasync = true }"#,
                r#"{ op = "fstat", fd = 3 }"#,
            ]);
            let out = u.exec_batch(&chain, true).expect("batch");
            assert_eq!(out[..2], [Outcome::ok(10), Outcome::ok(0)], "{mode}");
            match &out[2].data {
                Data::Stat(s) => assert_eq!(s.size, 10, "{mode}"),
                d => panic!("{mode}: {d:?}"),
            }
        }
    }

    #[test]
    fn uring_batches_fill_slots_and_refuse_what_they_cannot_mean() {
        let (_s, mut u) = uring(Mode::Fixed);
        let batch = ops(&[
            r#"{ op = "open", slot = 0, path = "a", flags = ["rdwr", "creat"] }"#,
            r#"{ op = "pipe", read_slot = 1, write_slot = 2 }"#,
            r#"{ op = "mkdir", path = "d" }"#,
        ]);
        let out = u.exec_batch(&batch, false).expect("batch");
        assert_eq!(out, vec![Outcome::ok(0); 3]);
        let st = u.snapshot();
        assert_eq!(st.fds.len(), 3, "{st:?}");
        // The registered table follows the slots: fixed operands reach the files.
        let out = u
            .exec_batch(
                &ops(&[
                    r#"{ op = "write", fd = 0, data = "xyz", offset = 0 }"#,
                    r#"{ op = "write", fd = 2, data = "p" }"#,
                ]),
                false,
            )
            .expect("batch");
        assert_eq!(out, vec![Outcome::ok(3), Outcome::ok(1)]);
        assert_eq!(
            u.exec_batch(
                &ops(&[r#"{ op = "lseek", fd = 0, offset = 0, whence = "set" }"#]),
                false
            ),
            Err(BatchError::NoOpcode {
                index: 0,
                reason: NoRingPath::NoOpcode(OpKind::Lseek)
            })
        );
        let conflict = ops(&[
            r#"{ op = "close", fd = 0 }"#,
            r#"{ op = "read", fd = 0, len = 1 }"#,
        ]);
        assert_eq!(
            u.exec_batch(&conflict, true),
            Err(BatchError::SlotConflict {
                slot: 0,
                writer: 0,
                user: 1
            })
        );
        assert!(matches!(
            u.exec_batch(&ops(&[r#"{ op = "open", slot = 9, path = "a" }"#]), false),
            Err(BatchError::Invalid { index: 0, .. })
        ));
        assert_eq!(u.exec_batch(&[], true), Ok(vec![]));
        // Nothing was submitted by the refused batches.
        assert_eq!(u.counts()[&OpKind::Close], (0, 0));
        // Fixed table entries are cleared on close, and O_PATH descriptors (which
        // the table refuses) leave the entry empty rather than stale.
        assert_eq!(u.exec(&op(r#"{ op = "close", fd = 0 }"#)), Outcome::ok(0));
        assert_eq!(
            u.exec(&op(r#"{ op = "read", fd = 0, len = 1 }"#)),
            Outcome::err(Errno::EBADF)
        );
        assert_eq!(
            u.exec(&op(
                r#"{ op = "open", slot = 1, path = "a", flags = ["path"] }"#
            )),
            Outcome::ok(0)
        );
        assert_eq!(
            u.exec(&op(r#"{ op = "read", fd = 1, len = 1 }"#)),
            Outcome::err(Errno::EBADF)
        );
        // The pipe's read end is gone from slot 1 (and from the table): a writer
        // with no reader left gets EPIPE.
        assert_eq!(
            u.exec(&op(r#"{ op = "write", fd = 2, data = "q" }"#)),
            Outcome::err(Errno::EPIPE)
        );
    }

    #[test]
    fn uring_proposed_numbers_that_collide_are_rejected() {
        let s = Scratch::new().expect("scratch");
        for (i, text) in ["getdents64=30", "copy_file_range=0", "mknodat=62"]
            .iter()
            .enumerate()
        {
            let p = ProposedOpcodes::parse(text).unwrap();
            let e = Uring::new(s.roots(&format!("r{i}")).unwrap(), Mode::Single, p).unwrap_err();
            assert!(matches!(e, UringError::Proposed(_)), "{e:?}");
            assert!(
                e.to_string().contains("collides with a mainline opcode"),
                "{e}"
            );
        }
        // A free number is accepted; the probe does not list it, so the op still
        // runs synchronously and is counted as such.
        let p = ProposedOpcodes::parse("getdents64=200,mknodat=201").unwrap();
        let mut u = Uring::new(s.roots("free").unwrap(), Mode::Single, p).unwrap();
        assert_eq!(u.supported(OpKind::Getdents), Some(false));
        assert_eq!(u.supported(OpKind::Mknod), Some(false));
        assert_eq!(u.supported(OpKind::CopyFileRange), None);
        u.exec(&op(r#"{ op = "getdents", fd = "root", count = 4096 }"#));
        assert_eq!(u.counts()[&OpKind::Getdents], (0, 1));
    }

    #[test]
    fn uring_errors_explain_themselves() {
        let e = UringError::Unavailable {
            errno: libc::EPERM,
            sysctl: Some("2\n".into()),
        };
        assert!(
            e.to_string().contains("kernel.io_uring_disabled = 2"),
            "{e}"
        );
        let e = UringError::Sqpoll { errno: libc::EPERM };
        assert!(e.to_string().contains("SQPOLL"), "{e}");
    }
}
