//! The `sqe_fields` fuzzer's harness: arbitrary SQEs against the running kernel,
//! judged by the model's SQE table ([`model::sqe_rules`]) and by security oracles.
//! The fuzz target (fuzz/fuzz_targets/sqe_fields.rs) and the corpus replay
//! (`cargo test -p conformance`, conformance/tests/sqe_fields.rs) both call
//! [`check`].
//!
//! # Input
//! A [`FuzzInput`] is a batch of 1..=[`MAX_SQES`] SQEs ([`FuzzSqe`]) whose every
//! field is fuzzer-chosen as a [`Word`]: zero, a raw value, a small number, an
//! interesting constant, a single bit, a descriptor ([`FD_CHOICES`]: the sandbox's
//! regular files, directory, O_PATH directory, both ends of a non-blocking pipe, a
//! FIFO, the second tmpfs, a closed slot, AT_FDCWD, -1, never-openable numbers,
//! registered-file indices) or a pointer ([`Ptr`]: into the guard-paged arena, a
//! path or xattr name of the arena's tables, NULL, or wild: unmapped low
//! addresses, the end of user space, kernel addresses). The opcode is drawn from
//! the table's opcodes, sometimes any byte; `flags` (IOSQE_*, links included) are
//! free. The byte format is ours and fixed ([`FuzzInput::from_bytes`],
//! [`FuzzInput::to_bytes`]), so committed inputs do not depend on the `arbitrary`
//! crate's encoding.
//!
//! # Containment
//! Everything runs on one dedicated thread (started by the first [`check`]) that
//! first gives itself a private mount namespace with a private tmpfs over the
//! temp directory (so nothing it makes, even if the process is killed, is visible
//! on the host), then a [`Scratch`] (two private tmpfs, nodev, nosuid). It refuses
//! to run without root or without the private mounts ([`sandbox_ready`]). Each
//! input gets a fresh directory `run` in the tmpfs (files `f`, `r`, `w`, directory
//! `d` with `d/e`, FIFO `fifo`, symlink `sym -> f`), fresh descriptors and a fresh
//! ring (16 registered-file slots: the roles), and the thread's working directory
//! is `run` while the batch is in flight. The harness then confines what the
//! fuzzer chose, using the table's field roles of the opcode:
//! - descriptor fields used as plain descriptors: a number that is open in the
//!   process but is not one of the sandbox's becomes the closed slot (so stdin,
//!   stdout, the ring, libFuzzer's files are never named);
//! - path fields (and symlink targets) point at the start of an entry of the
//!   arena's read-only path table: relative names over a small alphabet, no `..`,
//!   no leading `/`, or at NULL/wild addresses; never at bytes the kernel could
//!   have written;
//! - iovec arrays are the SQE's own, read-only, ending at a guard page; buffers
//!   are in the arena (read-write part, read-only part, guard pages) or NULL/wild;
//! - MADVISE ranges stay inside the arena (or in the first page, or in kernel
//!   space) and its advice is one of [`MADVISE_SAFE`] or an invalid value;
//! - opcodes outside the table (sockets, MSG_RING, URING_CMD, futex, waitid,
//!   polls, fixed-fd install, ...) become numbers past IORING_OP_LAST.
//!
//! # Oracles ([`Finding`])
//! Exactly one CQE per SQE with its user_data (none allowed only for
//! CQE_SKIP_SUCCESS and the chains it silences; no CQE flags); each result is in
//! [`model::sqe_rules::allowed_results_in`] for that SQE in its context; nothing
//! in the arena changed outside the buffers the SQEs declare (the whole arena is a
//! canary, guard pages around every part); nothing outside `run` changed (a
//! sentinel directory beside it, the other tmpfs's top level, the thread's mount
//! table); no descriptor appeared that the results do not explain, and none of the
//! process's closed; the ring completes a NOP afterwards; every wait has a
//! deadline, and a request that never completes, even after a cancel, is a hang.

use arbitrary::{Arbitrary, Unstructured};
use backends::sqe::{Sqe, SqeEntry};
use backends::uring::RingProbe;
use fds::{fd_is_open, fd_target, open_fds, FdScanner, FdSet};
use io_uring::{types, IoUring};
use model::sqe_rules::{
    self as rules, errno, AllowedSet, Code, FdState, FdUse, Field, Len, Mem, Memory, OpRules,
    Proposed, RingProfile, Role, Rule, SqeContext,
};
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::fmt;
use std::os::fd::{AsRawFd, FromRawFd as _, RawFd};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use sys::scratch::{Roots, Scratch};

mod fds;
pub mod process;
mod sweep;
mod trace;

pub use trace::{SqeTrace, SqeTraced};

/// Most SQEs in one input.
pub const MAX_SQES: usize = 8;
/// Bytes of one [`Word`] in the byte format (kind, 8 value bytes).
const WORD_BYTES: usize = 9;
/// Iovecs of an SQE's own array.
pub const IOVECS: usize = 4;
/// Words of a record: the 11 fields, the iovecs (base, len) and open_how
/// (flags, mode, resolve).
const RECORD_WORDS: usize = 11 + 2 * IOVECS + 3;
/// Bytes of one SQE record: opcode selector and value, flags, user_data, words.
pub const RECORD_BYTES: usize = 2 + 1 + 8 + RECORD_WORDS * WORD_BYTES;

const PAGE: usize = 4096;
/// Size of the arena's read-write part (buffers).
pub const RW_LEN: usize = 16 * PAGE;
/// Size of the arena's read-only table part (paths, xattr names).
pub const RO_LEN: usize = 3 * PAGE;

/// Interesting constants of [`Word::Special`].
pub const SPECIALS: [u64; 24] = [
    u64::MAX,
    1,
    2,
    3,
    4096,
    0xffff_ffff,
    i64::MAX as u64,
    1 << 31,
    0x7fff_f000,
    (-100i64) as u64,
    0o644,
    0o2000000,
    0x200,
    0x1000,
    0x100,
    0x800,
    24,
    256,
    65536,
    1 << 63,
    0x8000_0000_0000_0000 - 1,
    0x4000,
    0xfffe,
    (-2i64) as u64,
];

/// Below this no mapping can exist (vm.mmap_min_addr must be at least this).
const LOW: u64 = 4096;

/// Wild pointers of [`Ptr::Wild`]: below mmap_min_addr, the last user page
/// (never mapped), kernel addresses.
pub const WILD: [u64; 5] = [
    0x10,
    0xff8,
    0x7fff_ffff_fff8,
    0xffff_8880_0000_0000,
    u64::MAX - 7,
];

/// The path table (read-only in the arena): relative names over a small
/// alphabet, never `..` nor a leading `/`, the empty path, a 256-byte component
/// and a 4096-byte path (ENAMETOOLONG).
pub fn paths() -> &'static [Vec<u8>] {
    static P: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    P.get_or_init(|| {
        let mut v: Vec<Vec<u8>> = [
            "f", "r", "w", "d", "fifo", "sym", "a", "b", "d/e", "d/x", "x/y", ".", "d/", "",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        v.push(vec![b'n'; 256]);
        v.push(b"a/".repeat(2048));
        v
    })
}

/// The xattr name table (read-only in the arena).
pub const XATTRS: [&str; 8] = [
    "user.a",
    "user.b",
    "trusted.t",
    "security.s",
    "",
    "x",
    "user.",
    "system.posix_acl_access",
];

/// The MADVISE advice values the harness lets through (anything else becomes one
/// of these): harmless on the arena, plus invalid values. Never MADV_HWPOISON,
/// MADV_SOFT_OFFLINE (they poison or offline real memory as root), the guard
/// region advices (they would turn the arena into guard pages), MERGEABLE
/// (KSM) or DONTFORK.
pub const MADVISE_SAFE: [u32; 16] = [0, 1, 2, 3, 4, 5, 8, 9, 14, 15, 16, 17, 20, 21, 22, 23];

/// Descriptor choices of [`Word::Fd`]: 0..=8 the roles (see [`Role`]), then the
/// closed slot, AT_FDCWD, a never-openable number, -1, and registered-file
/// indices 0..16.
pub const FD_CHOICES: usize = 13 + 16;

/// The sandbox's descriptors, by role index.
pub const ROLE_NAMES: [&str; 9] = [
    "f (O_RDWR)",
    "r (O_RDONLY)",
    "w (O_WRONLY|O_APPEND)",
    "run dir",
    "d (O_PATH)",
    "pipe read end (O_NONBLOCK)",
    "pipe write end (O_NONBLOCK)",
    "fifo (O_RDWR|O_NONBLOCK)",
    "other tmpfs dir",
];

/// The role index of the O_PATH directory `d`: io_uring's file lookup
/// (fget) never returns an O_PATH file, so as a request's file it is EBADF,
/// and it cannot be registered (its slot stays empty).
pub const O_PATH_ROLE: usize = 4;

/// The contents of the role file `f` (and the first 100 bytes of `r`):
/// 8 KiB of `i % 251`, made once.
static BODY: std::sync::LazyLock<Vec<u8>> =
    std::sync::LazyLock::new(|| (0..8192u32).map(|i| (i % 251) as u8).collect());

/// Registered-file table size of each ring.
pub const FIXED_SLOTS: u32 = 16;

/// A fuzzer-chosen pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ptr {
    /// Into the arena's read-write part (page-aligned when `aligned`).
    Rw {
        /// Byte offset (< [`RW_LEN`]).
        offset: u32,
        /// Round down to a page.
        aligned: bool,
    },
    /// Into the read-only table part (offset < [`RO_LEN`]).
    Ro(u32),
    /// The start of a path of [`paths`].
    Path(u8),
    /// NULL.
    Null,
    /// One of [`WILD`].
    Wild(u8),
    /// Into a guard page.
    Guard(u8),
    /// The SQE's own structure: its iovec array (READV/WRITEV) or open_how
    /// (others).
    Own,
    /// The start of a name of [`XATTRS`].
    Xattr(u8),
}

impl Ptr {
    fn decode(v: u64) -> Ptr {
        let arg = v >> 3;
        match v & 7 {
            0 => Ptr::Rw {
                aligned: arg & 1 == 1,
                offset: ((arg >> 1) % RW_LEN as u64) as u32,
            },
            1 => Ptr::Ro((arg % RO_LEN as u64) as u32),
            2 => Ptr::Path((arg % paths().len() as u64) as u8),
            3 => Ptr::Null,
            4 => Ptr::Wild((arg % WILD.len() as u64) as u8),
            5 => Ptr::Guard((arg % 64) as u8),
            6 => Ptr::Own,
            _ => Ptr::Xattr((arg % XATTRS.len() as u64) as u8),
        }
    }

    fn encode(self) -> u64 {
        match self {
            Ptr::Rw { offset, aligned } => ((offset as u64) << 1 | aligned as u64) << 3,
            Ptr::Ro(o) => (o as u64) << 3 | 1,
            Ptr::Path(i) => (i as u64) << 3 | 2,
            Ptr::Null => 3,
            Ptr::Wild(i) => (i as u64) << 3 | 4,
            Ptr::Guard(i) => (i as u64) << 3 | 5,
            Ptr::Own => 6,
            Ptr::Xattr(i) => (i as u64) << 3 | 7,
        }
    }
}

/// How one SQE field's value is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Word {
    /// 0.
    #[default]
    Zero,
    /// This value (truncated to the field).
    Raw(u64),
    /// 0..32.
    Small(u8),
    /// One of [`SPECIALS`].
    Special(u8),
    /// 1 << n (n < 64).
    Bit(u8),
    /// A descriptor choice (< [`FD_CHOICES`]).
    Fd(u8),
    /// A pointer.
    Ptr(Ptr),
}

impl Word {
    fn decode(kind: u8, v: u64) -> Word {
        match kind % 8 {
            0 => Word::Zero,
            1 | 7 => Word::Raw(v),
            2 => Word::Small((v % 32) as u8),
            3 => Word::Special((v % SPECIALS.len() as u64) as u8),
            4 => Word::Fd((v % FD_CHOICES as u64) as u8),
            5 => Word::Ptr(Ptr::decode(v)),
            _ => Word::Bit((v % 64) as u8),
        }
    }

    fn encode(self) -> (u8, u64) {
        match self {
            Word::Zero => (0, 0),
            Word::Raw(v) => (1, v),
            Word::Small(s) => (2, s as u64),
            Word::Special(i) => (3, i as u64),
            Word::Fd(i) => (4, i as u64),
            Word::Ptr(p) => (5, p.encode()),
            Word::Bit(b) => (6, b as u64),
        }
    }
}

/// How the opcode is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpChoice {
    /// The n-th entry (modulo) of [`model::sqe_rules::TABLE`].
    Table(u8),
    /// Any byte (opcodes outside the table are replaced, see the module docs).
    Raw(u8),
}

/// One fuzzer-chosen SQE.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FuzzSqe {
    /// The opcode.
    pub opcode: OpChoice,
    /// IOSQE_* flags, all 8 bits free.
    pub flags: u8,
    /// The user_data (its low byte is replaced by the SQE's index, bit 63 cleared).
    pub user_data: u64,
    /// The 11 fields in [`Field::ALL`] order.
    pub fields: [Word; 11],
    /// The SQE's own iovec array (base, len).
    pub iovecs: [(Word, Word); IOVECS],
    /// The SQE's own open_how (flags, mode, resolve).
    pub open_how: [Word; 3],
}

impl FuzzSqe {
    /// An SQE of table opcode `code` (its mainline number, or a proposed one's
    /// table index) with every field zero.
    pub fn of(code: u8) -> FuzzSqe {
        let index = rules::TABLE
            .iter()
            .position(|r| r.code == Code::Mainline(code))
            .unwrap_or(0);
        FuzzSqe {
            opcode: OpChoice::Table(index as u8),
            flags: 0,
            user_data: 0,
            fields: [Word::Zero; 11],
            iovecs: [(Word::Zero, Word::Zero); IOVECS],
            open_how: [Word::Zero; 3],
        }
    }

    /// An all-zero SQE of the table entry whose number is `code`, proposed
    /// opcodes resolved through `proposed` (entry 0 when none has it).
    pub fn of_number(code: u8, proposed: &rules::ProposedNumbers) -> FuzzSqe {
        let index = rules::TABLE
            .iter()
            .position(|r| r.number(proposed) == Some(code))
            .unwrap_or(0);
        FuzzSqe {
            opcode: OpChoice::Table(index as u8),
            ..FuzzSqe::of(code)
        }
    }

    /// Sets field `f`.
    pub fn with(mut self, f: Field, w: Word) -> FuzzSqe {
        self.fields[field_index(f)] = w;
        self
    }

    /// The word of field `f`.
    pub fn get(&self, f: Field) -> Word {
        self.fields[field_index(f)]
    }
}

fn field_index(f: Field) -> usize {
    Field::ALL.iter().position(|&g| g == f).expect("a field")
}

/// One fuzz input: a batch of SQEs submitted together.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FuzzInput {
    /// 1..=[`MAX_SQES`] SQEs.
    pub sqes: Vec<FuzzSqe>,
}

/// Reads fixed-size little-endian values, zero past the end.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> u8 {
        let v = self.b.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        v
    }
    fn u64(&mut self) -> u64 {
        let mut a = [0u8; 8];
        let rest = self.b.get(self.at..).unwrap_or_default();
        let have = rest.len().min(8);
        a[..have].copy_from_slice(&rest[..have]);
        self.at += 8;
        u64::from_le_bytes(a)
    }
    fn word(&mut self) -> Word {
        let k = self.u8();
        Word::decode(k, self.u64())
    }
}

impl FuzzInput {
    /// Decodes any bytes (total: missing bytes read as zero). Byte 0: the number of
    /// SQEs - 1 (mod 8, and at most the number of records the input starts); then
    /// one [`RECORD_BYTES`] record per SQE: opcode selector
    /// (15 mod 16: any byte), opcode value, flags, user_data (8 bytes LE), then the
    /// words (kind byte, 8 value bytes LE): the 11 fields, the iovecs, open_how.
    pub fn from_bytes(b: &[u8]) -> FuzzInput {
        let mut r = Reader { b, at: 0 };
        // No more SQEs than there are (started) records: zero padding would
        // otherwise fill short inputs with NOPs.
        let records = b.len().saturating_sub(1).div_ceil(RECORD_BYTES).max(1);
        let n = (1 + (r.u8() as usize % MAX_SQES)).min(records);
        let sqes = (0..n)
            .map(|_| {
                let sel = r.u8();
                let val = r.u8();
                let opcode = if sel % 16 == 15 {
                    OpChoice::Raw(val)
                } else {
                    OpChoice::Table(val)
                };
                let flags = r.u8();
                let user_data = r.u64();
                let mut fields = [Word::Zero; 11];
                for f in &mut fields {
                    *f = r.word();
                }
                let mut iovecs = [(Word::Zero, Word::Zero); IOVECS];
                for iov in &mut iovecs {
                    *iov = (r.word(), r.word());
                }
                let mut open_how = [Word::Zero; 3];
                for w in &mut open_how {
                    *w = r.word();
                }
                FuzzSqe {
                    opcode,
                    flags,
                    user_data,
                    fields,
                    iovecs,
                    open_how,
                }
            })
            .collect();
        FuzzInput { sqes }
    }

    /// The bytes that decode to this input (canonical words; at most
    /// [`MAX_SQES`] SQEs, at least one).
    pub fn to_bytes(&self) -> Vec<u8> {
        let n = self.sqes.len().clamp(1, MAX_SQES);
        let mut b = vec![(n - 1) as u8];
        let word = |b: &mut Vec<u8>, w: Word| {
            let (k, v) = w.encode();
            b.push(k);
            b.extend_from_slice(&v.to_le_bytes());
        };
        for s in self.sqes.iter().take(n) {
            match s.opcode {
                OpChoice::Table(i) => b.extend_from_slice(&[0, i]),
                OpChoice::Raw(v) => b.extend_from_slice(&[15, v]),
            }
            b.push(s.flags);
            b.extend_from_slice(&s.user_data.to_le_bytes());
            for &w in &s.fields {
                word(&mut b, w);
            }
            for &(base, len) in &s.iovecs {
                word(&mut b, base);
                word(&mut b, len);
            }
            for &w in &s.open_how {
                word(&mut b, w);
            }
        }
        b
    }
}

impl<'a> Arbitrary<'a> for FuzzInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let want = (1 + MAX_SQES * RECORD_BYTES).min(u.len());
        Ok(FuzzInput::from_bytes(u.bytes(want)?))
    }

    fn arbitrary_take_rest(u: Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(FuzzInput::from_bytes(u.take_rest()))
    }

    fn size_hint(_depth: usize) -> (usize, Option<usize>) {
        (1, Some(1 + MAX_SQES * RECORD_BYTES))
    }
}

// ---------------------------------------------------------------------------
// Findings.

/// What a check found: a kernel behaviour outside the table, or a broken
/// security property. Each says which SQEs were sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sqe_fields finding [{kind}]: {detail}\n{}", numbered(sqes))]
pub struct Finding {
    /// One word for the kind ("disallowed", "missing-cqe", "canary", ...).
    pub kind: &'static str,
    /// What happened.
    pub detail: String,
    /// The SQEs as sent (after confinement).
    pub sqes: Vec<Sqe>,
}

/// The SQEs one per line, "  #i sqe{...}", each line ended.
fn numbered(sqes: &[Sqe]) -> String {
    sqes.iter()
        .enumerate()
        .map(|(i, s)| format!("  #{i} {s}\n"))
        .collect()
}

/// Counters over every [`check`] of this process (for reports: a generator that
/// mostly produces rejected inputs is a bug).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Inputs checked.
    pub inputs: u64,
    /// SQEs sent.
    pub sqes: u64,
    /// SQEs the table says fail prep for certain.
    pub rejected: u64,
    /// SQEs cancelled at the deadline.
    pub cancelled: u64,
    /// SQEs that completed with a non-negative result.
    pub succeeded: u64,
    /// Per opcode number: (sent, rejected by the table, succeeded).
    pub per_opcode: BTreeMap<u8, (u64, u64, u64)>,
    /// Findings.
    pub findings: u64,
    /// Inputs whose mandatory completions had not all arrived by the
    /// deadline.
    pub deadline_hits: u64,
    /// Inputs whose fixture was found unchanged afterwards and kept for the
    /// next input (its fingerprint unchanged).
    pub fixtures_kept: u64,
    /// Wall time spent in each [`Phase`], nanoseconds, over all inputs.
    pub phase_ns: [u64; Phase::ALL.len()],
}

/// The steps of one input, timed in [`Stats::phase_ns`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Decoding the input's bytes (in the sandbox process) and handing the
    /// verdict back.
    Decode,
    /// The run directory, its descriptors, the ring and its registered files.
    Setup,
    /// Confining the fuzzer's fields and filling the arena.
    Resolve,
    /// Submitting and waiting for the mandatory completions (up to the
    /// deadline).
    Wait,
    /// Cancelling what is still in flight until nothing is.
    Quiesce,
    /// The NOP that shows the ring still works.
    Nop,
    /// Judging results, CQEs and the arena against the table.
    Judge,
    /// Closing descriptors, removing the run directory, dropping the ring.
    Teardown,
    /// The descriptor table, the surroundings and the mount table afterwards.
    Checks,
    /// Between inputs, after the verdict went back: removing what the input
    /// made and making the next input's fixture (not on an input's way).
    Ahead,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 10] = [
        Phase::Decode,
        Phase::Setup,
        Phase::Resolve,
        Phase::Wait,
        Phase::Quiesce,
        Phase::Nop,
        Phase::Judge,
        Phase::Teardown,
        Phase::Checks,
        Phase::Ahead,
    ];

    /// Its name in the stats line.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Decode => "decode",
            Phase::Setup => "setup",
            Phase::Resolve => "resolve",
            Phase::Wait => "wait",
            Phase::Quiesce => "quiesce",
            Phase::Nop => "nop",
            Phase::Judge => "judge",
            Phase::Teardown => "teardown",
            Phase::Checks => "checks",
            Phase::Ahead => "ahead",
        }
    }
}

impl Stats {
    /// Adds the time since `*since` to `phase` and restarts the clock.
    pub(crate) fn lap(&mut self, phase: Phase, since: &mut Instant) {
        let now = Instant::now();
        self.phase_ns[phase as usize] += (now - *since).as_nanos() as u64;
        *since = now;
    }

    /// Mean microseconds per input in each phase: "setup 12.3, ..., total
    /// 456.7 us/input, ahead 89.0 us between inputs".
    pub fn breakdown(&self) -> String {
        let n = self.inputs.max(1) as f64;
        let ahead = self.phase_ns[Phase::Ahead as usize];
        let total: u64 = self.phase_ns.iter().sum::<u64>() - ahead;
        let mut parts: Vec<String> = Phase::ALL
            .iter()
            .filter(|p| **p != Phase::Ahead)
            .map(|p| {
                format!(
                    "{} {:.1}",
                    p.name(),
                    self.phase_ns[*p as usize] as f64 / n / 1000.0
                )
            })
            .collect();
        parts.push(format!("total {:.1} us/input", total as f64 / n / 1000.0));
        parts.push(format!(
            "ahead {:.1} us between inputs",
            ahead as f64 / n / 1000.0
        ));
        parts.join(", ")
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} inputs, {} SQEs: {} rejected at prep (table), {} succeeded, {} cancelled at \
             the deadline, {} findings",
            self.inputs, self.sqes, self.rejected, self.succeeded, self.cancelled, self.findings
        )?;
        writeln!(
            f,
            "  time per input (us): {}; {} inputs reached the deadline; {} left their \
             fixture unchanged (kept)",
            self.breakdown(),
            self.deadline_hits,
            self.fixtures_kept
        )?;
        for (op, (n, rej, ok)) in &self.per_opcode {
            let name = rules::TABLE
                .iter()
                .find(|r| r.code == Code::Mainline(*op))
                .map_or("?", |r| r.name());
            writeln!(
                f,
                "  {op:3} {name:16} sent {n:6} rejected {rej:6} ok {ok:6}"
            )?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Errors.

/// Why the guard-paged arena could not be mapped or protected.
#[derive(Debug, thiserror::Error)]
pub enum ArenaError {
    /// mmap(2) of the arena failed.
    #[error("mmap of the arena failed: {0}")]
    Map(#[source] std::io::Error),
    /// mprotect(2) of a part of the arena failed.
    #[error("mprotect: {0}")]
    Protect(#[source] std::io::Error),
}

/// Why the sandbox cannot run here ([`sandbox_ready`]): each says what is
/// missing.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Not running as root.
    #[error(
        "not root: the sqe_fields fuzzer needs a private mount namespace and private tmpfs \
         mounts (run as root)"
    )]
    NotRoot,
    /// vm.mmap_min_addr is so low that the harness's wild pointers could be mapped.
    #[error("vm.mmap_min_addr is {0}: wild pointers below {LOW} could be mapped")]
    LowMmapMinAddr(u64),
    /// unshare(CLONE_FS | CLONE_NEWNS) failed.
    #[error("unshare(CLONE_NEWNS): {0}")]
    Unshare(#[source] nix::errno::Errno),
    /// Making the mounts private (MS_REC | MS_PRIVATE on `/`) failed.
    #[error("mount(/, MS_PRIVATE): {0}")]
    MakePrivate(#[source] nix::errno::Errno),
    /// Mounting the private tmpfs over the temp directory failed.
    #[error("mount tmpfs on {}: {source}", path.display())]
    MountTmpfs {
        /// The temp directory.
        path: std::path::PathBuf,
        /// The error.
        #[source]
        source: nix::errno::Errno,
    },
    /// The scratch area could not be made.
    #[error("scratch: {0}")]
    Scratch(#[source] sys::scratch::ScratchError),
    /// The scratch area is not a private tmpfs (the description says what it is).
    #[error("refusing to run outside a private tmpfs: {0}")]
    NotPrivate(String),
    /// The sandbox's roots could not be made.
    #[error(transparent)]
    Roots(sys::scratch::ScratchError),
    /// io_uring_setup(2) failed.
    #[error("io_uring_setup: {0}")]
    RingSetup(#[source] std::io::Error),
    /// IORING_REGISTER_PROBE failed.
    #[error("IORING_REGISTER_PROBE: errno {0}")]
    RingProbe(i32),
    /// RINGSPEC_PROPOSED is unusable.
    #[error(transparent)]
    Proposed(#[from] backends::proposed::ProposedError),
    /// The descriptor meant to stay closed (the closed slot) is open.
    #[error("descriptor {0} (the closed slot) is open")]
    ClosedSlotOpen(RawFd),
    /// The arena could not be set up.
    #[error(transparent)]
    Arena(#[from] ArenaError),
    /// The sandbox thread could not be started.
    #[error("cannot start the sandbox thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// The sandbox thread ended before saying whether it could run.
    #[error("the sandbox thread died while starting")]
    ThreadDied,
}

/// Why one probe could not be submitted in the sandbox (a fresh `run`
/// directory, its descriptors and a ring, then the SQE).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// `run` could not be made (a previous run left it: its entries).
    #[error("mkdir run: {source}; a previous run left {left:?}")]
    MakeRun {
        /// The error.
        #[source]
        source: std::io::Error,
        /// What the directory holds: "name (type N)" per entry.
        left: Vec<String>,
    },
    /// `run` could not be opened.
    #[error("open run: {0}")]
    OpenRun(#[source] std::io::Error),
    /// A descriptor of one of the roles ([`ROLE_NAMES`]) could not be opened.
    #[error("sandbox role {0} could not be opened")]
    Role(&'static str),
    /// io_uring_setup(2) failed.
    #[error("io_uring_setup: {0}")]
    RingSetup(#[source] std::io::Error),
    /// The thread could not change into `run`.
    #[error("fchdir run: {0}")]
    EnterRun(#[source] std::io::Error),
    /// The opcode has no valid template SQE.
    #[error("no valid template for this opcode")]
    NoTemplate {
        /// The opcode.
        opcode: u8,
    },
    /// The arena could not be reset.
    #[error(transparent)]
    Arena(#[from] ArenaError),
    /// The request did not complete (cancelled at its deadline, or lost).
    #[error("no completion: {0:?}")]
    NoCompletion(backends::uring::RawResult),
}

/// Why a job of the sandbox thread ([`verify_rules`], [`sweep()`],
/// [`sweep_probes`]) gave no answer.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The sandbox cannot run here.
    #[error(transparent)]
    Sandbox(#[from] &'static SandboxError),
    /// The sandbox thread is gone: the job could not be sent.
    #[error("sending on a closed channel")]
    Send,
    /// The sandbox thread is gone: no reply came.
    #[error(transparent)]
    Receive(#[from] mpsc::RecvError),
    /// The harness panicked (the panic's message).
    #[error("harness panic: {0}")]
    Panicked(String),
    /// The thread answered another job.
    #[error("unexpected reply")]
    UnexpectedReply,
    /// The job's roots could not be made.
    #[error(transparent)]
    Roots(#[from] sys::scratch::ScratchError),
    /// The job's ring could not be made.
    #[error(transparent)]
    Uring(#[from] backends::uring::UringError),
    /// The running kernel's opcodes could not be probed.
    #[error("io_uring probe: {0}")]
    Probe(#[source] backends::probe::ProbeError),
    /// A probe of the rule verification could not run.
    #[error(transparent)]
    Run(#[from] RunError),
}

// ---------------------------------------------------------------------------
// The arena.

/// The guard-paged memory every pointer points into.
///
/// Layout (pages): guard, RW ([`RW_LEN`]), guard, RO tables ([`RO_LEN`]), guard,
/// then per SQE: its own page (open_how at its start, the iovec array at its end),
/// guard.
struct Arena {
    base: *mut u8,
    len: usize,
    pattern: Vec<u8>,
    /// The RO part's intended content.
    ro: Vec<u8>,
    /// Offsets of the paths and xattr names in the RO part.
    path_at: Vec<usize>,
    xattr_at: Vec<usize>,
    /// The own pages' intended content, per SQE.
    own: Box<[Page; MAX_SQES]>,
    /// What is known of the arena since the last reset: `Some(ranges)` when
    /// it is as reset except, at most, these arena ranges of the read-write
    /// part (the last input passed the canary check, so nothing outside its
    /// declared buffers changed, and nothing advised its pages away); None
    /// when nothing is known (a finding, a panic, MADVISE).
    written: Option<Vec<(usize, usize)>>,
}

/// One SQE's own page.
type Page = [u8; PAGE];

const RW_AT: usize = PAGE;
const RO_AT: usize = RW_AT + RW_LEN + PAGE;
const OWN_AT: usize = RO_AT + RO_LEN + PAGE;
const ARENA_LEN: usize = OWN_AT + MAX_SQES * 2 * PAGE;

impl Arena {
    fn new() -> Result<Arena, ArenaError> {
        // SAFETY: a fresh anonymous private mapping, ours alone.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                ARENA_LEN,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(ArenaError::Map(std::io::Error::last_os_error()));
        }
        let pattern: Vec<u8> = (0..RW_LEN)
            .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 13) as u8 | 1)
            .collect();
        let mut ro = vec![0u8; RO_LEN];
        let mut at = 0;
        let mut path_at = vec![];
        for p in paths() {
            path_at.push(at);
            ro[at..at + p.len()].copy_from_slice(p);
            at += p.len() + 1;
        }
        let mut xattr_at = vec![];
        for x in XATTRS {
            xattr_at.push(at);
            ro[at..at + x.len()].copy_from_slice(x.as_bytes());
            at += x.len() + 1;
        }
        assert!(at < RO_LEN, "tables fit the RO part");
        let a = Arena {
            base: base.cast(),
            len: ARENA_LEN,
            pattern,
            ro,
            path_at,
            xattr_at,
            own: Box::new([[0u8; PAGE]; MAX_SQES]),
            written: None,
        };
        a.protect(RW_AT, RW_LEN, libc::PROT_READ | libc::PROT_WRITE)?;
        a.write_ro(RO_AT, &a.ro)?;
        for i in 0..MAX_SQES {
            a.write_ro(Arena::own_at(i), &a.own[i])?;
        }
        Ok(a)
    }

    fn addr(&self, off: usize) -> u64 {
        self.base as u64 + off as u64
    }

    fn protect(&self, off: usize, len: usize, prot: i32) -> Result<(), ArenaError> {
        // SAFETY: the range lies inside our own mapping.
        let r = unsafe { libc::mprotect(self.base.add(off).cast(), len, prot) };
        if r < 0 {
            return Err(ArenaError::Protect(std::io::Error::last_os_error()));
        }
        Ok(())
    }

    fn own_at(i: usize) -> usize {
        OWN_AT + i * 2 * PAGE
    }

    /// Writes `data` at `off` (a read-only part: made writable for the copy).
    fn write_ro(&self, off: usize, data: &[u8]) -> Result<(), ArenaError> {
        let len = data.len().div_ceil(PAGE) * PAGE;
        self.protect(off, len, libc::PROT_READ | libc::PROT_WRITE)?;
        // SAFETY: [off, off + data.len()) is inside the mapping, now writable.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.base.add(off), data.len()) };
        self.protect(off, len, libc::PROT_READ)
    }

    /// The bytes at `[off, off + len)` of a readable part.
    fn read(&self, off: usize, len: usize) -> &[u8] {
        // SAFETY: callers pass readable parts of the mapping.
        unsafe { std::slice::from_raw_parts(self.base.add(off), len) }
    }

    /// Resets the RW pattern, the RO tables and the SQEs' own pages: where
    /// [`Arena::written`] says what the last input may have changed, only
    /// that.
    fn reset(&mut self, own: &[Page; MAX_SQES]) -> Result<(), ArenaError> {
        let known = self.written.take();
        let rw = [(RW_AT, RW_AT + RW_LEN)];
        for &(start, end) in known.as_deref().unwrap_or(&rw) {
            let (start, end) = (start.max(RW_AT), end.min(RW_AT + RW_LEN));
            if start < end {
                // SAFETY: [start, end) lies in the RW part, mapped read-write.
                unsafe {
                    std::ptr::copy_nonoverlapping(
                        self.pattern.as_ptr().add(start - RW_AT),
                        self.base.add(start),
                        end - start,
                    )
                };
            }
        }
        if known.is_none() && self.read(RO_AT, RO_LEN) != self.ro.as_slice() {
            self.write_ro(RO_AT, &self.ro.clone())?;
        }
        for (i, page) in own.iter().enumerate() {
            if self.own[i] != *page
                || (known.is_none() && self.read(Arena::own_at(i), PAGE) != page.as_slice())
            {
                self.write_ro(Arena::own_at(i), page)?;
                self.own[i] = *page;
            }
        }
        Ok(())
    }

    /// Which part `addr` is in: (part, offset in the arena).
    fn part(&self, addr: u64) -> Option<(Part, usize)> {
        let off = addr.checked_sub(self.base as u64)? as usize;
        if off >= self.len {
            return None;
        }
        let part = if (RW_AT..RW_AT + RW_LEN).contains(&off) {
            Part::Rw
        } else if (RO_AT..RO_AT + RO_LEN).contains(&off) {
            Part::Ro
        } else if off >= OWN_AT && (off - OWN_AT) % (2 * PAGE) < PAGE {
            Part::Own((off - OWN_AT) / (2 * PAGE))
        } else {
            Part::Guard
        };
        Some((part, off))
    }

    /// The end (arena offset) of the part holding `off`.
    fn part_end(part: Part) -> usize {
        match part {
            Part::Rw => RW_AT + RW_LEN,
            Part::Ro => RO_AT + RO_LEN,
            Part::Own(i) => Arena::own_at(i) + PAGE,
            Part::Guard => 0,
        }
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        // SAFETY: our mapping; nothing refers to it once the sandbox is gone.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Rw,
    Ro,
    Own(usize),
    Guard,
}

/// The table's view of the arena: exact for the read-only parts (unless a
/// MADVISE of the batch may have dropped their pages), unknown for the
/// read-write part (requests of the batch may have written it before a later
/// SQE's prep).
struct ArenaMem<'a> {
    arena: &'a Arena,
    ro_stable: bool,
}

impl ArenaMem<'_> {
    fn stable_bytes(&self, addr: u64, len: u64) -> Option<Option<&[u8]>> {
        let (part, off) = self.arena.part(addr)?;
        match part {
            Part::Guard => Some(None),
            Part::Rw => None,
            Part::Ro | Part::Own(_) => {
                let end = Arena::part_end(part);
                if (off as u64).saturating_add(len) > end as u64 {
                    return Some(None);
                }
                if !self.ro_stable {
                    return None;
                }
                Some(Some(self.arena.read(off, len as usize)))
            }
        }
    }
}

impl Memory for ArenaMem<'_> {
    fn readable(&self, addr: u64, len: u64) -> Option<bool> {
        if len == 0 {
            return Some(true);
        }
        if addr.checked_add(len)? <= LOW {
            return Some(false);
        }
        let (part, off) = self.arena.part(addr)?;
        if part == Part::Guard {
            return Some(false);
        }
        Some((off as u64).saturating_add(len) <= Arena::part_end(part) as u64)
    }

    fn c_str_len(&self, addr: u64) -> Option<Result<u64, ()>> {
        if addr < LOW {
            return Some(Err(()));
        }
        let (part, off) = self.arena.part(addr)?;
        match part {
            Part::Guard => Some(Err(())),
            Part::Rw => None,
            _ if !self.ro_stable => None,
            _ => {
                let end = Arena::part_end(part);
                let s = self.arena.read(off, end - off);
                Some(s.iter().position(|&b| b == 0).map(|n| n as u64).ok_or(()))
            }
        }
    }

    fn bytes(&self, addr: u64, len: u64) -> Option<Vec<u8>> {
        self.stable_bytes(addr, len)?.map(|b| b.to_vec())
    }

    fn readable_prefix(&self, addr: u64, len: u64) -> Option<u64> {
        if addr < LOW {
            return Some(0);
        }
        let (part, off) = self.arena.part(addr)?;
        if part == Part::Guard {
            return Some(0);
        }
        Some(len.min((Arena::part_end(part) - off) as u64))
    }
}

// ---------------------------------------------------------------------------
// The sandbox.

/// The directory `run` and the roles' descriptors, made for an input before
/// it comes ([`Sandbox::prepare_next`]).
struct Fixture {
    dir: RawFd,
    roles: [RawFd; 9],
}

/// What an input could change in its fixture, read back after it: per
/// inode (`run`, its files, `d`, `d/e`, the FIFO, the symlink, the other
/// root) fstatat's return, number, mode, link count, size, blocks, mtime
/// and ctime; the file positions of `f`, `r`, `w`, `run` and the other
/// root; the bytes in the pipe (read through a tee) and in the FIFO. Equal
/// to the fingerprint taken when the fixture was made, the fixture is as
/// made: contents, names and extended attributes all move ctime (or mtime
/// of the directory holding a name).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    inodes: [[i64; 11]; 9],
    positions: [i64; 5],
    pipe: Vec<u8>,
    fifo: i32,
}

/// One input's descriptors and ring.
struct Run {
    dir: RawFd,
    roles: [RawFd; 9],
    ring: IoUring,
}

/// What [`Sandbox::outside_state`] reads: per path (the root, `outside`,
/// its canary and link), fstatat's return and the inode's number, mode,
/// size, link count, mtime and ctime; and the root's names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Surroundings {
    stats: [[i64; 9]; 4],
    listing: Vec<Vec<u8>>,
}

struct Sandbox {
    arena: Arena,
    profile: RingProfile,
    nr_open: u64,
    closed_slot: RawFd,
    deadline: Duration,
    grace: Duration,
    roots: Roots,
    sentinel: Surroundings,
    mountinfo: Vec<u8>,
    stats: Stats,
    /// The ring inputs run through, kept from one input to the next while
    /// nothing can have changed it (see [`Sandbox::run`]): its registered
    /// files are reset by every [`Sandbox::setup_run`].
    ring: Option<IoUring>,
    /// /proc/thread-self/mountinfo, open: polled for a change of the mount
    /// table ([`Sandbox::mounts_changed`]).
    mounts: Option<std::os::fd::OwnedFd>,
    /// The mount table was found changed and has not been seen back as it
    /// was since.
    mounts_differ: bool,
    /// The descriptor table's scanner (a fresh listing where it could not
    /// be opened).
    fds: Option<FdScanner>,
    /// The next input's fixture, made while the last verdict travels back
    /// (or the last one's, found unchanged).
    next: Option<Fixture>,
    /// The current fixture as it was made ([`Fingerprint`]).
    made_as: Option<Fingerprint>,
    /// Whether a fixture found unchanged may be kept: only where every change
    /// moves an inode's ctime past a value read before it (multigrain
    /// timestamps, tmpfs from 6.13 on). Elsewhere a change within one clock
    /// tick could go unseen, and every input gets a fresh fixture.
    keep_fixtures: bool,
    /// A pipe the fixture's pipe is read through (tee) without draining it.
    peek: [RawFd; 2],
    /// What the last input made in `run` and in the other root is still
    /// there.
    leftovers: bool,
    /// What the kernel did with the last input, as feature numbers (see
    /// [`Sandbox::note_choices`], [`Sandbox::note_results`]): what the fuzz target reports to
    /// libFuzzer from the sandbox process ([`process`]).
    pub(crate) features: Vec<u32>,
    /// While [`trace`] runs an input: what it did, filled as it goes.
    tracing: Option<SqeTrace>,
    /// KCOV on the sandbox's thread once [`Sandbox::enable_kcov`] made it,
    /// and the kernel coverage of the inputs so far. Its window is an
    /// input's submission and wait: what the kernel did for the input's
    /// SQEs on this thread, not the harness's setup and checks.
    kcov: Option<(sys::kcov::Kcov, sys::kcov::KernelCoverage)>,
    // Dropped last: the mounts.
    _scratch: Scratch,
}

/// Gives the calling thread a private mount namespace with a private tmpfs over
/// the temp directory, so that the scratch area it then makes leaves nothing on
/// the host even if the process dies.
fn private_tempdir() -> Result<(), SandboxError> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS | nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(SandboxError::Unshare)?;
    use nix::mount::MsFlags;
    nix::mount::mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(SandboxError::MakePrivate)?;
    let path = std::env::temp_dir();
    nix::mount::mount(
        Some("ringspec-sqe"),
        &path,
        Some("tmpfs"),
        MsFlags::MS_NODEV | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("size=4m,mode=0700"),
    )
    .map_err(|source| SandboxError::MountTmpfs { path, source })
}

fn read_u64_file(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

impl Sandbox {
    fn new() -> Result<Sandbox, SandboxError> {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err(SandboxError::NotRoot);
        }
        let min = read_u64_file("/proc/sys/vm/mmap_min_addr").unwrap_or(0);
        if min < LOW {
            return Err(SandboxError::LowMmapMinAddr(min));
        }
        private_tempdir()?;
        let scratch = Scratch::new().map_err(SandboxError::Scratch)?;
        if !scratch.fs().private_mount || scratch.fs().name != "tmpfs" || !scratch.fs().nodev {
            return Err(SandboxError::NotPrivate(scratch.describe()));
        }
        let roots = scratch.roots("sqe").map_err(SandboxError::Roots)?;
        // Writes to a pipe without readers must not kill the process.
        // SAFETY: setting a signal disposition.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        let ring = IoUring::new(8).map_err(SandboxError::RingSetup)?;
        let probe = RingProbe::of_ring(ring.as_raw_fd()).map_err(SandboxError::RingProbe)?;
        drop(ring);
        let release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_default();
        let kernel = model::Profile::parse_release(&release).unwrap_or((6, 18));
        let proposed = backends::sqe::ProposedOpcodes::from_env()?;
        let profile = RingProfile {
            kernel,
            last_op: probe.last_op(),
            proposed: {
                let mut numbers = proposed.numbers;
                for (p, n) in proposed.numbers.iter() {
                    if !probe.supports(n) {
                        numbers.set(p, None);
                    }
                }
                numbers
            },
            task_size: rules::TASK_SIZE_4LEVEL,
        };
        let nr_open = read_u64_file("/proc/sys/fs/nr_open").unwrap_or(1 << 20);
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: lim is a valid rlimit.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
        let closed_slot = (lim.rlim_cur.min(nr_open) as RawFd).saturating_sub(1);
        if fd_is_open(closed_slot) {
            return Err(SandboxError::ClosedSlotOpen(closed_slot));
        }
        let ms = |var: &str, default: u64| {
            std::env::var(var)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let mut s = Sandbox {
            arena: Arena::new()?,
            profile,
            nr_open,
            closed_slot,
            deadline: Duration::from_millis(ms("RINGSPEC_SQE_DEADLINE_MS", 20)),
            grace: Duration::from_millis(ms("RINGSPEC_SQE_GRACE_MS", 3000)),
            roots,
            sentinel: Surroundings::default(),
            mountinfo: vec![],
            stats: Stats::default(),
            ring: None,
            mounts: None,
            mounts_differ: false,
            fds: FdScanner::new(),
            next: None,
            made_as: None,
            keep_fixtures: kernel >= (6, 13),
            peek: {
                let mut p = [-1; 2];
                // SAFETY: p receives two new descriptors, kept for the
                // sandbox's life (part of every baseline).
                unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
                p
            },
            leftovers: false,
            features: Vec::with_capacity(256),
            tracing: None,
            kcov: None,
            _scratch: scratch,
        };
        s.arena.reset(&[[0u8; PAGE]; MAX_SQES])?;
        // The sentinel beside `run`: must never change.
        let main = s.roots.main.as_raw_fd();
        // SAFETY: valid fds and C strings.
        unsafe {
            libc::mkdirat(main, c"outside".as_ptr(), 0o755);
            let fd = libc::openat(
                main,
                c"outside/canary".as_ptr(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                0o644,
            );
            libc::write(fd, b"do not touch".as_ptr().cast(), 12);
            libc::close(fd);
            libc::symlinkat(c"canary".as_ptr(), main, c"outside/link".as_ptr());
        }
        s.sentinel = s.outside_state();
        s.mountinfo = std::fs::read("/proc/thread-self/mountinfo").unwrap_or_default();
        // SAFETY: a fresh descriptor, owned below.
        let mounts = unsafe {
            libc::open(
                c"/proc/thread-self/mountinfo".as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
        if mounts >= 0 {
            // SAFETY: ours, closed once by the OwnedFd.
            s.mounts = Some(unsafe { std::os::fd::OwnedFd::from_raw_fd(mounts) });
        }
        Ok(s)
    }

    /// The process's open descriptors ([`FdScanner`]).
    fn scan_fds(&mut self) -> FdSet {
        match &mut self.fds {
            Some(s) => s.scan(),
            None => open_fds(),
        }
    }

    /// Whether the thread's mount table differs from the one the sandbox
    /// began with. A change of the mount namespace makes its mountinfo
    /// descriptor poll with POLLPRI once (fs/proc_namespace.c), so the table
    /// is only read and compared after one, and then at every call until it
    /// is back as it was; without the descriptor, at every call.
    fn mounts_changed(&mut self) -> bool {
        if let (Some(fd), false) = (&self.mounts, self.mounts_differ) {
            let mut p = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLPRI,
                revents: 0,
            };
            // SAFETY: one pollfd, no wait.
            if unsafe { libc::poll(&mut p, 1, 0) } == 0 {
                return false;
            }
        }
        self.mounts_differ =
            std::fs::read("/proc/thread-self/mountinfo").unwrap_or_default() != self.mountinfo;
        self.mounts_differ
    }

    /// Inode numbers, modes, sizes, link counts and times of the sandbox's
    /// surroundings: the sentinel directory beside `run` (everything), the
    /// tmpfs root (inode and mode: its times change with every `run`) and
    /// the root's listing (only `outside` besides `run`). Plain numbers,
    /// compared as they are; text only for a finding.
    fn outside_state(&self) -> Surroundings {
        let main = self.roots.main.as_raw_fd();
        let mut out = Surroundings::default();
        for (k, c) in [c"", c"outside", c"outside/canary", c"outside/link"]
            .iter()
            .enumerate()
        {
            // SAFETY: st is written by fstatat before being read.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            let flags = libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH;
            // SAFETY: st is written by fstatat before being read.
            let r = unsafe { libc::fstatat(main, c.as_ptr(), &mut st, flags) };
            out.stats[k] = if k == 0 {
                [
                    r as i64,
                    st.st_ino as i64,
                    st.st_mode as i64,
                    0,
                    0,
                    0,
                    0,
                    0,
                    0,
                ]
            } else {
                [
                    r as i64,
                    st.st_ino as i64,
                    st.st_mode as i64,
                    st.st_size,
                    st.st_nlink as i64,
                    st.st_mtime,
                    st.st_mtime_nsec,
                    st.st_ctime,
                    st.st_ctime_nsec,
                ]
            };
        }
        // SAFETY: a fresh descriptor of the root, closed below.
        let fd = unsafe {
            libc::openat(
                main,
                c".".as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        let mut buf = [std::mem::MaybeUninit::<u64>::uninit(); 512];
        while let Ok(bytes) = sys::dirent::getdents_into(fd, &mut buf, 4096) {
            if bytes.is_empty() {
                break;
            }
            for d in sys::dirent::records(bytes).map_while(Result::ok) {
                // `run` comes and goes with the inputs (made ahead,
                // removed after).
                if !matches!(d.name, b"." | b".." | b"run") {
                    out.listing.push(d.name.to_vec());
                }
            }
        }
        // SAFETY: our descriptor.
        unsafe { libc::close(fd) };
        out.listing.sort();
        out
    }

    /// Makes `run` with its files and the roles' descriptors and the ring,
    /// and enters it: the fixture made ahead ([`Sandbox::prepare_next`]) or
    /// a fresh one.
    fn setup_run(&mut self) -> Result<Run, RunError> {
        let fixture = match self.next.take() {
            Some(f) => f,
            None => self.fresh_fixture()?,
        };
        self.enter(fixture)
    }

    /// Removes what the last input left and makes a fixture, taking its
    /// [`Fingerprint`].
    fn fresh_fixture(&mut self) -> Result<Fixture, RunError> {
        self.remove_leftovers();
        let f = self.make_fixture()?;
        self.made_as = Some(self.fingerprint(f.dir, &f.roles));
        Ok(f)
    }

    /// Makes `run` with its files and the roles' descriptors.
    fn make_fixture(&mut self) -> Result<Fixture, RunError> {
        let main = self.roots.main.as_raw_fd();
        // SAFETY: plain syscalls on valid fds and C strings; every
        // descriptor made here is owned by the Run and closed by `teardown`.
        unsafe {
            if libc::mkdirat(main, c"run".as_ptr(), 0o755) < 0 {
                let source = std::io::Error::last_os_error();
                let left = libc::openat(
                    main,
                    c"run".as_ptr(),
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
                );
                let names = sys::dirent::list_dir(left).unwrap_or_default();
                libc::close(left);
                let left = names
                    .into_iter()
                    .map(|(n, t)| format!("{} (type {t})", String::from_utf8_lossy(&n)))
                    .collect();
                return Err(RunError::MakeRun { source, left });
            }
            let dir = libc::openat(
                main,
                c"run".as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            );
            if dir < 0 {
                return Err(RunError::OpenRun(std::io::Error::last_os_error()));
            }
            let mk = |name: &std::ffi::CStr, flags: i32, data: &[u8]| {
                let fd = libc::openat(dir, name.as_ptr(), flags | libc::O_CLOEXEC, 0o644);
                if fd >= 0 && !data.is_empty() {
                    libc::write(fd, data.as_ptr().cast(), data.len());
                }
                fd
            };
            let f = mk(c"f", libc::O_RDWR | libc::O_CREAT, &BODY[..]);
            libc::fsetxattr(f, c"user.a".as_ptr(), b"value".as_ptr().cast(), 5, 0);
            let r = mk(c"r", libc::O_WRONLY | libc::O_CREAT, &BODY[..100]);
            libc::close(r);
            let r = libc::openat(dir, c"r".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
            let w = mk(c"w", libc::O_WRONLY | libc::O_CREAT | libc::O_APPEND, b"");
            libc::mkdirat(dir, c"d".as_ptr(), 0o755);
            let e = mk(c"d/e", libc::O_WRONLY | libc::O_CREAT, b"e");
            libc::close(e);
            libc::mkfifoat(dir, c"fifo".as_ptr(), 0o644);
            libc::symlinkat(c"f".as_ptr(), dir, c"sym".as_ptr());
            let d = libc::openat(
                dir,
                c"d".as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            );
            let mut p = [-1; 2];
            libc::pipe2(p.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC);
            libc::write(p[1], b"abc".as_ptr().cast(), 3);
            let fifo = libc::openat(
                dir,
                c"fifo".as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            );
            let other = libc::openat(
                self.roots.other.as_raw_fd(),
                c".".as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            );
            let roles = [f, r, w, dir, d, p[0], p[1], fifo, other];
            if let Some(i) = roles.iter().position(|&fd| fd < 0) {
                for fd in roles {
                    if fd >= 0 {
                        libc::close(fd);
                    }
                }
                return Err(RunError::Role(ROLE_NAMES[i]));
            }
            Ok(Fixture { dir, roles })
        }
    }

    /// The fixture's [`Fingerprint`] now.
    fn fingerprint(&self, dir: RawFd, roles: &[RawFd; 9]) -> Fingerprint {
        let main = self.roots.main.as_raw_fd();
        let other = self.roots.other.as_raw_fd();
        let mut inodes = [[0i64; 11]; 9];
        let paths: [(RawFd, &std::ffi::CStr); 9] = [
            (main, c"run"),
            (main, c"run/f"),
            (main, c"run/r"),
            (main, c"run/w"),
            (main, c"run/d"),
            (main, c"run/d/e"),
            (main, c"run/fifo"),
            (main, c"run/sym"),
            (other, c""),
        ];
        for (k, (at, path)) in paths.iter().enumerate() {
            // SAFETY: st is written by fstatat before being read.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            let flags = libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH;
            // SAFETY: st is written by fstatat before being read.
            let r = unsafe { libc::fstatat(*at, path.as_ptr(), &mut st, flags) };
            inodes[k] = [
                r as i64,
                st.st_ino as i64,
                st.st_mode as i64,
                st.st_nlink as i64,
                st.st_size,
                st.st_blocks,
                st.st_mtime,
                st.st_mtime_nsec,
                st.st_ctime,
                st.st_ctime_nsec,
                st.st_uid as i64 | (st.st_gid as i64) << 32,
            ];
        }
        let mut positions = [0i64; 5];
        for (k, fd) in [roles[0], roles[1], roles[2], dir, roles[8]]
            .iter()
            .enumerate()
        {
            // SAFETY: lseek on the fixture's descriptors.
            positions[k] = unsafe { libc::lseek(*fd, 0, libc::SEEK_CUR) };
        }
        let mut pipe = vec![0u8; 64];
        // SAFETY: tee between the fixture's pipe and our own, then read back
        // from ours what the tee copied (at most 64 bytes, all of it).
        unsafe {
            let n = libc::tee(roles[5], self.peek[1], 64, libc::SPLICE_F_NONBLOCK);
            let got = if n > 0 {
                libc::read(self.peek[0], pipe.as_mut_ptr().cast(), n as usize)
            } else {
                n
            };
            pipe.truncate(got.max(0) as usize);
            if got < 0 {
                pipe = (-(*libc::__errno_location()) as i64).to_ne_bytes().to_vec();
            }
        }
        let mut fifo = -1;
        // SAFETY: FIONREAD writes one int.
        unsafe { libc::ioctl(roles[7], libc::FIONREAD, &mut fifo) };
        Fingerprint {
            inodes,
            positions,
            pipe,
            fifo,
        }
    }

    /// Gives the fixture the sandbox's ring, its roles in the ring's
    /// registered slots, and makes `run` the working directory.
    fn enter(&mut self, fixture: Fixture) -> Result<Run, RunError> {
        let Fixture { dir, roles } = fixture;
        if let Err(e) = self.ring_ready() {
            // SAFETY: the fixture's own descriptors, closed once.
            unsafe {
                libc::close(dir);
                for fd in roles {
                    libc::close(fd);
                }
            }
            self.leftovers = true;
            return Err(e);
        }
        let ring = self.ring.take().expect("ring_ready made it");
        // SAFETY: registering and entering descriptors the fixture owns.
        unsafe {
            // The roles in slots 0..9, the rest empty, whatever the last
            // input left: slot 4 (the O_PATH directory, which cannot be
            // registered) is emptied first.
            let sub = ring.submitter();
            let _ = sub.register_files_update(0, &roles[..4]);
            let _ = sub.register_files_update(4, &[-1]);
            let _ = sub.register_files_update(4, &roles[O_PATH_ROLE..5]);
            let mut rest = [-1; FIXED_SLOTS as usize - 5];
            rest[..4].copy_from_slice(&roles[5..]);
            let _ = sub.register_files_update(5, &rest);
            if libc::fchdir(dir) < 0 {
                return Err(RunError::EnterRun(std::io::Error::last_os_error()));
            }
            Ok(Run { dir, roles, ring })
        }
    }

    /// Makes the sandbox's ring (64 entries, SUBMIT_ALL, [`FIXED_SLOTS`]
    /// sparse registered files) unless it has one.
    fn ring_ready(&mut self) -> Result<(), RunError> {
        if self.ring.is_none() {
            let ring = IoUring::builder()
                .setup_submit_all()
                .build(64)
                .map_err(RunError::RingSetup)?;
            let _ = ring.submitter().register_files_sparse(FIXED_SLOTS);
            self.ring = Some(ring);
        }
        Ok(())
    }

    /// Submits `k` NOPs on the sandbox's ring and waits for their CQEs.
    fn nop_batch(&mut self, k: usize) -> Result<(), RunError> {
        self.ring_ready()?;
        let ring = self.ring.as_mut().expect("ring_ready made it");
        let nop = Sqe {
            fd: -1,
            user_data: TAG,
            ..Sqe::new(rules::op::NOP)
        }
        .to_entry();
        for _ in 0..k {
            // SAFETY: a NOP carries no pointer.
            let _ = unsafe { ring.submission().push(&nop) };
        }
        ring.submit_and_wait(k).map_err(RunError::RingSetup)?;
        ring.completion().for_each(drop);
        Ok(())
    }

    /// Closes the input's descriptors and removes what it made; its ring
    /// goes back to the sandbox for the next input.
    fn teardown(&mut self, run: Run, extra: &FdSet) {
        self.close_input(run, extra);
        self.remove_leftovers();
    }

    /// Closes the input's descriptors (roles, results the kernel reported,
    /// new ones found in the fd table) and leaves `run`; its ring goes back
    /// to the sandbox. What it made stays until [`Sandbox::remove_leftovers`].
    fn close_input(&mut self, run: Run, extra: &FdSet) {
        let Run { dir, roles, ring } = run;
        self.ring = Some(ring);
        let mut all: FdSet = roles.iter().copied().collect();
        all.extend(extra.iter().copied());
        all.insert(dir);
        // SAFETY: descriptors this input made, closed once each.
        unsafe {
            for fd in all {
                libc::close(fd);
            }
            libc::fchdir(self.roots.main.as_raw_fd());
        }
        self.leftovers = true;
    }

    /// Removes `run` and everything in the other root, through fresh
    /// descriptors (the roles' numbers may have been closed and reused by
    /// the batch).
    fn remove_leftovers(&mut self) {
        if !self.leftovers {
            return;
        }
        self.leftovers = false;
        let main = self.roots.main.as_raw_fd();
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC;
        // SAFETY: fresh descriptors, closed after use.
        unsafe {
            let run_fd = libc::openat(main, c"run".as_ptr(), flags);
            if run_fd >= 0 {
                remove_children(run_fd);
                libc::close(run_fd);
            }
            libc::unlinkat(main, c"run".as_ptr(), libc::AT_REMOVEDIR);
            let other = libc::openat(self.roots.other.as_raw_fd(), c".".as_ptr(), flags);
            if other >= 0 {
                remove_children(other);
                libc::close(other);
            }
        }
    }

    /// Between inputs, after the last verdict went back: removes what the
    /// last input made and makes the next input's fixture, so that neither
    /// is on the way of an input. A failure is left for the next input's
    /// own [`Sandbox::setup_run`] to report.
    pub(crate) fn prepare_next(&mut self) {
        if self.next.is_none() {
            let mut clock = Instant::now();
            self.next = self.fresh_fixture().ok();
            self.stats.lap(Phase::Ahead, &mut clock);
        }
    }
}

/// Removes everything under the directory `dir` (never following symlinks,
/// never leaving its filesystem).
fn remove_children(dir: RawFd) {
    // SAFETY: st is written by fstat before being read.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is written by fstat before being read.
    if unsafe { libc::fstat(dir, &mut st) } < 0 {
        return;
    }
    remove_in(dir, st.st_dev, 0);
}

fn remove_in(dir: RawFd, dev: libc::dev_t, depth: u32) {
    // From the start of the stream, whoever read it before.
    // SAFETY: lseek on a valid descriptor.
    unsafe { libc::lseek(dir, 0, libc::SEEK_SET) };
    let Ok(entries) = sys::dirent::list_dir(dir) else {
        return;
    };
    for (name, _) in entries {
        let Ok(c) = CString::new(name) else {
            continue;
        };
        // SAFETY: syscalls on a valid fd and C string; the child fd is
        // closed before returning.
        unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            if libc::fstatat(dir, c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) < 0 {
                continue;
            }
            if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                if st.st_dev != dev || depth > 64 {
                    continue;
                }
                libc::fchmodat(dir, c.as_ptr(), 0o700, 0);
                let sub = libc::openat(
                    dir,
                    c.as_ptr(),
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                );
                if sub >= 0 {
                    remove_in(sub, dev, depth + 1);
                    libc::close(sub);
                }
                libc::unlinkat(dir, c.as_ptr(), libc::AT_REMOVEDIR);
            } else {
                libc::unlinkat(dir, c.as_ptr(), 0);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Resolution and confinement.

/// One SQE after resolution.
struct Resolved {
    sqe: Sqe,
    rules: Option<&'static OpRules>,
    /// Arena-relative or absolute ranges the kernel may write: (addr, len).
    writes: Vec<(u64, u64)>,
    /// MADVISE ranges (pages may become zero).
    madvise: Option<(u64, u64)>,
    /// The fields confined as plain descriptors.
    fd_fields: Vec<Field>,
}

impl Sandbox {
    fn fd_choice(&self, run: &Run, i: u8) -> i64 {
        let i = i as usize % FD_CHOICES;
        match i {
            0..=8 => run.roles[i] as i64,
            9 => self.closed_slot as i64,
            10 => libc::AT_FDCWD as i64,
            11 => self.nr_open as i64 + 7,
            12 => -1,
            _ => (i - 13) as i64,
        }
    }

    fn ptr(&self, p: Ptr, own: usize, iov: bool) -> u64 {
        let a = &self.arena;
        match p {
            Ptr::Rw { offset, aligned } => {
                let o = if aligned {
                    offset as usize / PAGE * PAGE
                } else {
                    offset as usize
                };
                a.addr(RW_AT + o % RW_LEN)
            }
            Ptr::Ro(o) => a.addr(RO_AT + o as usize % RO_LEN),
            Ptr::Path(i) => a.addr(RO_AT + a.path_at[i as usize % a.path_at.len()]),
            Ptr::Null => 0,
            Ptr::Wild(i) => WILD[i as usize % WILD.len()],
            Ptr::Guard(i) => a.addr(RW_AT + RW_LEN + (i as usize % 64) * 64),
            Ptr::Own => {
                if iov {
                    a.addr(Arena::own_at(own) + PAGE - IOVECS * 16)
                } else {
                    a.addr(Arena::own_at(own))
                }
            }
            Ptr::Xattr(i) => a.addr(RO_AT + a.xattr_at[i as usize % a.xattr_at.len()]),
        }
    }

    fn word(&self, run: &Run, w: Word, own: usize) -> u64 {
        match w {
            Word::Zero => 0,
            Word::Raw(v) => v,
            Word::Small(s) => s as u64,
            Word::Special(i) => SPECIALS[i as usize % SPECIALS.len()],
            Word::Bit(b) => 1u64 << (b % 64),
            Word::Fd(i) => self.fd_choice(run, i) as u64,
            Word::Ptr(p) => self.ptr(p, own, false),
        }
    }

    /// A pointer-role word: pointers as chosen, anything else read as a pointer
    /// choice (never a raw address).
    fn as_ptr(w: Word) -> Ptr {
        match w {
            Word::Ptr(p) => p,
            Word::Zero => Ptr::Null,
            Word::Raw(v) => Ptr::decode(v),
            Word::Small(s) | Word::Special(s) | Word::Bit(s) | Word::Fd(s) => Ptr::decode(s as u64),
        }
    }

    /// A descriptor used as a plain fd: never one of the process's own.
    fn confine_fd(&self, run: &Run, v: i64) -> i64 {
        let fd = v as i32;
        if fd >= 0 && !run.roles.contains(&fd) && fd_is_open(fd) {
            self.closed_slot as i64
        } else {
            fd as i64
        }
    }

    /// The opcode number and table entry of a choice.
    fn opcode(&self, c: OpChoice) -> (u8, Option<&'static OpRules>) {
        let p = &self.profile;
        let unknown = |b: u8| {
            let span = 255 - p.last_op as u16;
            (p.last_op as u16 + 1 + b as u16 % span.max(1)) as u8
        };
        match c {
            OpChoice::Table(i) => {
                let r = &rules::TABLE[i as usize % rules::TABLE.len()];
                match r.number(&p.proposed) {
                    Some(n) => (n, rules::rules_for(p, n)),
                    None => (unknown(i), None),
                }
            }
            OpChoice::Raw(b) => match rules::rules_for(p, b) {
                Some(r) => (b, Some(r)),
                None if b > p.last_op => (b, None),
                None => (unknown(b), None),
            },
        }
    }

    /// Resolves and confines SQE `i` of the input; also writes its own page.
    fn resolve(&self, run: &Run, i: usize, f: &FuzzSqe, page: &mut Page) -> Resolved {
        let (code, r) = self.opcode(f.opcode);
        let kernel = self.profile.kernel;
        let mut v = Sqe {
            opcode: code,
            flags: f.flags,
            user_data: (f.user_data & 0x7fff_ffff_ffff_ff00) | i as u64,
            ..Sqe::default()
        };
        for fld in Field::ALL {
            v.set(fld, self.word(run, f.get(fld), i));
        }
        // Own page: open_how at the start, iovecs at the end.
        page.fill(0);
        let mut iovs = vec![];
        let is_iov = matches!(code, rules::op::READV | rules::op::WRITEV) && r.is_some();
        if is_iov {
            for (k, &(base, len)) in f.iovecs.iter().enumerate() {
                let b = self.ptr(Sandbox::as_ptr(base), i, false);
                let l = self.word(run, len, i);
                let at = PAGE - IOVECS * 16 + k * 16;
                page[at..at + 8].copy_from_slice(&b.to_ne_bytes());
                page[at + 8..at + 16].copy_from_slice(&l.to_ne_bytes());
                iovs.push((b, l));
            }
        } else {
            for (k, &w) in f.open_how.iter().enumerate() {
                let x = self.word(run, w, i);
                page[k * 8..k * 8 + 8].copy_from_slice(&x.to_ne_bytes());
            }
        }
        let mut res = Resolved {
            sqe: Sqe::default(),
            rules: r,
            writes: vec![],
            madvise: None,
            fd_fields: vec![],
        };
        // Confinement by role.
        let fixed = v.flags & rules::sqe_flags::FIXED_FILE != 0;
        let rule_of = |fld: Field| r.map(|r| r.rule(fld, kernel));
        // Only a field the kernel reads as a descriptor is confined: a zero or
        // ignored one (verified on the running kernel) is sent as chosen.
        let plain_fd = match rule_of(Field::Fd) {
            Some(Rule::Reads(Role::Fd(FdUse::File))) => !fixed,
            Some(Rule::Reads(Role::Fd(FdUse::Nop))) => {
                rules::nop_fd_table(&v) != rules::FdTable::Registered
            }
            Some(Rule::Reads(Role::Fd(_))) => true,
            Some(_) => false,
            None => v.opcode <= self.profile.last_op,
        };
        if plain_fd {
            v.fd = self.confine_fd(run, v.fd as i64) as i32;
            res.fd_fields.push(Field::Fd);
        }
        if let Some(r) = r {
            for fld in Field::ALL {
                match r.rule(fld, kernel) {
                    Rule::Reads(Role::Fd(FdUse::SpliceIn))
                        if v.op_flags & rules::SPLICE_F_FD_IN_FIXED == 0 =>
                    {
                        let x = self.confine_fd(run, v.get(fld) as i32 as i64);
                        v.set(fld, x as u64);
                        res.fd_fields.push(fld);
                    }
                    Rule::Reads(Role::DirFdInLen) => {
                        let x = self.confine_fd(run, v.get(fld) as u32 as i32 as i64);
                        v.set(fld, x as u32 as u64);
                        res.fd_fields.push(fld);
                    }
                    Rule::Reads(Role::Ptr(m)) => {
                        let p = Sandbox::as_ptr(f.get(fld));
                        let p = match m {
                            Mem::Path => match p {
                                Ptr::Rw { offset: o, .. } | Ptr::Ro(o) => Ptr::Path(o as u8),
                                Ptr::Own | Ptr::Xattr(_) => Ptr::Path(i as u8),
                                p => p,
                            },
                            Mem::Iovecs { .. } => match p {
                                Ptr::Rw { .. } | Ptr::Ro(_) | Ptr::Path(_) | Ptr::Xattr(_) => {
                                    Ptr::Own
                                }
                                p => p,
                            },
                            _ => p,
                        };
                        v.set(fld, self.ptr(p, i, matches!(m, Mem::Iovecs { .. })));
                    }
                    _ => {}
                }
            }
            if r.code == Code::Mainline(rules::op::MADVISE) {
                self.confine_madvise(&mut v);
                let len = if kernel >= (6, 11) && v.off != 0 {
                    v.off
                } else {
                    v.len as u64
                };
                res.madvise = Some((
                    v.addr & !(PAGE as u64 - 1),
                    len.saturating_add(PAGE as u64 * 2),
                ));
            }
            // What the kernel may write.
            for fld in Field::ALL {
                if let Rule::Reads(Role::Ptr(m)) = r.rule(fld, kernel) {
                    match m {
                        Mem::Write(l) => {
                            let n = match l {
                                Len::Field(g) => v.get(g),
                                Len::Fixed(n) => n,
                            };
                            res.writes.push((v.get(fld), n));
                        }
                        Mem::Iovecs { write: true, .. } => {
                            res.writes.extend(iovs.iter().copied());
                        }
                        _ => {}
                    }
                }
            }
        }
        res.sqe = v;
        res
    }

    /// MADVISE: advice from [`MADVISE_SAFE`] (or invalid), and a range inside the
    /// arena, in the first page, or in kernel space.
    fn confine_madvise(&self, v: &mut Sqe) {
        let a = v.op_flags;
        if !MADVISE_SAFE.contains(&a) && !(26..100).contains(&a) && a < 1000 {
            v.op_flags = MADVISE_SAFE[a as usize % MADVISE_SAFE.len()];
        }
        let base = self.arena.base as u64;
        let limit = if v.addr >= base && v.addr < base + ARENA_LEN as u64 {
            base + ARENA_LEN as u64 - v.addr
        } else if v.addr < LOW {
            LOW - v.addr
        } else if v.addr >= 0xffff_8000_0000_0000 {
            u64::MAX
        } else {
            // Not ours: never advise it.
            v.addr = 0;
            LOW
        };
        if v.off > limit {
            v.off %= limit.max(1);
        }
        if v.len as u64 > limit {
            v.len = (v.len as u64 % limit.max(1)) as u32;
        }
    }
}

// ---------------------------------------------------------------------------
// Running one input.

const TAG: u64 = 1 << 63;
const F_MORE: u32 = 1 << 1;

impl Sandbox {
    /// What the SQE's fd field is, for the rules: one of this run's roles
    /// (open), the closed slot, or anything else (a registered index or a
    /// number the rules cannot judge).
    fn fd_state(&self, run: &Run, f: &Sqe) -> FdState {
        let fixed = f.flags & rules::sqe_flags::FIXED_FILE != 0;
        if run.roles.contains(&f.fd) && !fixed && f.fd != run.roles[O_PATH_ROLE] {
            FdState::Open
        } else if f.fd == self.closed_slot && !fixed {
            FdState::Closed
        } else {
            FdState::Unknown
        }
    }

    /// Enables KCOV for this thread (the sandbox's: the one that submits):
    /// from now on every input's kernel edges are collected
    /// ([`Sandbox::kernel_coverage`]). `Ok(false)` when the kernel has no
    /// KCOV.
    pub(crate) fn enable_kcov(&mut self) -> std::io::Result<bool> {
        if self.kcov.is_none() {
            match sys::kcov::Kcov::enable_for_this_thread(sys::kcov::DEFAULT_WORDS)? {
                Some(k) => self.kcov = Some((k, sys::kcov::KernelCoverage::default())),
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// The kernel coverage so far, once [`Sandbox::enable_kcov`] enabled it.
    pub(crate) fn kernel_coverage(&self) -> Option<&sys::kcov::KernelCoverage> {
        self.kcov.as_ref().map(|(_, c)| c)
    }

    fn run(&mut self, input: &FuzzInput) -> Result<(), Finding> {
        let mut clock = Instant::now();
        // The ring is part of the baseline: made before it, kept after it.
        self.ring_ready()
            .unwrap_or_else(|e| panic!("sqe_fields: sandbox setup failed: {e}"));
        let mut run = self
            .setup_run()
            .unwrap_or_else(|e| panic!("sqe_fields: sandbox setup failed: {e}"));
        // Scanned at every input: descriptors can appear between inputs
        // (seen: a pair of pipes, after an input whose requests had all
        // completed), so the last input's final scan is no baseline. What
        // the fixture opened is set apart: the baseline is what is left
        // after the input's descriptors are closed.
        let before = self.scan_fds();
        let mut baseline = before.clone();
        baseline.remove(&run.dir);
        for fd in run.roles {
            baseline.remove(&fd);
        }
        self.stats.lap(Phase::Setup, &mut clock);
        let n = input.sqes.len().clamp(1, MAX_SQES);
        let mut resolved = vec![];
        let mut pages = [[0u8; PAGE]; MAX_SQES];
        for (i, f) in input.sqes.iter().take(n).enumerate() {
            resolved.push(self.resolve(&run, i, f, &mut pages[i]));
        }
        if let Err(e) = self.arena.reset(&pages) {
            panic!("sqe_fields: arena reset failed: {e}");
        }
        if let Some(t) = self.tracing.as_mut() {
            let a = &self.arena;
            t.roles = run.roles;
            t.closed_slot = self.closed_slot;
            t.nr_open = self.nr_open;
            t.arena_base = a.base as u64;
            t.arena_len = ARENA_LEN;
            t.parts = vec![
                (RW_AT, a.read(RW_AT, RW_LEN).to_vec(), true),
                (RO_AT, a.read(RO_AT, RO_LEN).to_vec(), false),
            ];
            for i in 0..MAX_SQES {
                t.parts.push((
                    Arena::own_at(i),
                    a.read(Arena::own_at(i), PAGE).to_vec(),
                    false,
                ));
            }
            t.iovecs_at = PAGE - IOVECS * 16;
            t.deadline = self.deadline;
            t.grace = self.grace;
            t.sqes = resolved
                .iter()
                .map(|r| SqeTraced {
                    sqe: r.sqe,
                    name: r.rules.map_or("?", |x| x.name()),
                    allowed: None,
                    skip_ok: false,
                    result_is_fd: r.sqe.splice_fd_in == 0
                        && r.rules.is_some_and(|x| matches!(x.res, rules::Res::Fd)),
                    makes_pipe: r.sqe.splice_fd_in == 0
                        && r.rules
                            .is_some_and(|x| x.code == Code::Mainline(rules::op::PIPE)),
                    fd_fields: r.fd_fields.clone(),
                    writes: r.writes.iter().copied().chain(r.madvise).collect(),
                })
                .collect();
        }
        self.features.clear();
        self.note_choices(input, &resolved);
        self.stats.lap(Phase::Resolve, &mut clock);
        let mut after = before.clone();
        let out = self.submit_and_judge(&mut run, &resolved, &before, &mut after, &mut clock);
        let mut extra: FdSet = after.difference(&before).copied().collect();
        extra.extend(out.1.iter().copied());
        // Kept for the next input when nothing in it changed (and the
        // input passed: after a finding everything is made afresh).
        let keep = self.keep_fixtures
            && out.0.is_ok()
            && extra.is_empty()
            && after == before
            && self.made_as.as_ref() == Some(&self.fingerprint(run.dir, &run.roles));
        let expected = if keep {
            let Run { dir, roles, ring } = run;
            self.ring = Some(ring);
            self.next = Some(Fixture { dir, roles });
            self.stats.fixtures_kept += 1;
            before
        } else {
            self.close_input(run, &extra);
            baseline
        };
        self.stats.lap(Phase::Teardown, &mut clock);
        let mut result = out.0;
        if result.is_ok() {
            let now = self.scan_fds();
            if now != expected {
                let leaked: Vec<String> = now
                    .difference(&expected)
                    .map(|&fd| format!("{fd} -> {}", fd_target(fd)))
                    .collect();
                let lost: Vec<RawFd> = expected.difference(&now).copied().collect();
                result = Err(self.finding(
                    &resolved,
                    "fd-leak",
                    format!("after cleanup, new descriptors {leaked:?}, closed {lost:?}"),
                ));
            }
        }
        if result.is_ok() {
            let state = self.outside_state();
            if state != self.sentinel {
                result = Err(self.finding(
                    &resolved,
                    "outside-changed",
                    format!(
                        "the sandbox's surroundings changed: {:?} -> {state:?}",
                        self.sentinel
                    ),
                ));
            }
            if self.mounts_changed() {
                result = Err(self.finding(
                    &resolved,
                    "mounts-changed",
                    "the thread's mount table changed".into(),
                ));
            }
        }
        // The next input gets a fresh ring after a finding, or when this one
        // could have left state in the ring itself: provided buffers, or
        // drain disabled for good by CQE_SKIP_SUCCESS (later IO_DRAIN SQEs
        // would fail with EOPNOTSUPP).
        let ring_state = resolved.iter().any(|r| {
            matches!(
                r.sqe.opcode,
                rules::op::PROVIDE_BUFFERS | rules::op::REMOVE_BUFFERS
            ) || r.sqe.flags & rules::sqe_flags::CQE_SKIP_SUCCESS != 0
        });
        if result.is_err() || ring_state {
            self.ring = None;
        }
        // What the next input's reset restores: this input's declared
        // buffers, when it passed the canary check and advised nothing away.
        if result.is_ok() && resolved.iter().all(|r| r.madvise.is_none()) {
            let base = self.arena.base as u64;
            let end = base + ARENA_LEN as u64;
            let ranges = resolved
                .iter()
                .flat_map(|r| r.writes.iter())
                .filter_map(|&(p, l)| {
                    let (s, e) = (p.max(base), p.saturating_add(l).min(end));
                    (s < e).then(|| ((s - base) as usize, (e - base) as usize))
                })
                .collect();
            self.arena.written = Some(ranges);
        }
        self.stats.lap(Phase::Checks, &mut clock);
        self.stats.inputs += 1;
        if result.is_err() {
            self.stats.findings += 1;
        }
        if let Some(t) = self.tracing.as_mut() {
            t.verdict = Some(result.clone());
        }
        result
    }

    fn finding(&self, resolved: &[Resolved], kind: &'static str, detail: String) -> Finding {
        Finding {
            kind,
            detail,
            sqes: resolved.iter().map(|r| r.sqe).collect(),
        }
    }

    /// Submits, waits, quiesces and applies the CQE, result, canary and fd
    /// oracles. Returns the verdict and the descriptors the results created.
    fn submit_and_judge(
        &mut self,
        run: &mut Run,
        resolved: &[Resolved],
        before: &FdSet,
        after: &mut FdSet,
        clock: &mut Instant,
    ) -> (Result<(), Finding>, FdSet) {
        let n = resolved.len();
        let fl = |i: usize| resolved[i].sqe.flags;
        // Chains and CQE_SKIP_SUCCESS tolerance.
        let mut chain_of = Vec::with_capacity(n);
        let mut chain_len: BTreeMap<usize, usize> = BTreeMap::new();
        let mut c = 0;
        for i in 0..n {
            chain_of.push(c);
            *chain_len.entry(c).or_default() += 1;
            if fl(i) & (rules::sqe_flags::IO_LINK | rules::sqe_flags::IO_HARDLINK) == 0 {
                c += 1;
            }
        }
        let mut skip_ok = vec![false; n];
        for i in 0..n {
            skip_ok[i] = fl(i) & rules::sqe_flags::CQE_SKIP_SUCCESS != 0
                || (0..n).any(|j| {
                    chain_of[j] == chain_of[i] && fl(j) & rules::sqe_flags::CQE_SKIP_SUCCESS != 0
                });
        }
        // Submit.
        let entries: Vec<_> = resolved.iter().map(|r| r.sqe.to_entry()).collect();
        if let Some((kcov, _)) = &self.kcov {
            kcov.reset();
        }
        // SAFETY: every pointer in the SQEs points into the arena (alive for the
        // sandbox's life, and requests are quiesced before it is reused) or is
        // NULL/wild (the kernel faults).
        if unsafe { run.ring.submission().push_multiple(&entries) }.is_err() {
            panic!("sqe_fields: the submission queue is full");
        }
        let _ = run.ring.submit();
        let mut cqes: Vec<(u64, i32, u32)> = vec![];
        let mut got = vec![0usize; n];
        let reap = |ring: &mut IoUring, cqes: &mut Vec<(u64, i32, u32)>, got: &mut [usize]| {
            for c in ring.completion() {
                let ud = c.user_data();
                if ud & TAG == 0 {
                    let i = (ud & 0xff) as usize;
                    if i < got.len() {
                        got[i] += 1;
                    }
                }
                cqes.push((ud, c.result(), c.flags()));
            }
        };
        let mandatory_done = |got: &[usize]| (0..n).all(|i| skip_ok[i] || got[i] > 0);
        let wait = |ring: &mut IoUring, until: Instant| {
            let now = Instant::now();
            if now < until {
                let ts = types::Timespec::from(until - now);
                let args = types::SubmitArgs::new().timespec(&ts);
                let _ = ring.submitter().submit_with_args(1, &args);
            }
        };
        // Submits the harness's own `sqe` (no pointer) and waits until
        // `until` for its CQE: its result, if it came.
        let own = |ring: &mut IoUring,
                   cqes: &mut Vec<(u64, i32, u32)>,
                   got: &mut [usize],
                   sqe: Sqe,
                   until: Instant| {
            // SAFETY: the harness's own SQEs carry no pointer.
            let _ = unsafe { ring.submission().push(&sqe.to_entry()) };
            let _ = ring.submit();
            let mut res = None;
            while res.is_none() && Instant::now() < until {
                reap(ring, cqes, got);
                res = cqes.iter().find(|c| c.0 == sqe.user_data).map(|c| c.1);
                if res.is_none() {
                    wait(ring, until);
                }
            }
            res
        };
        let deadline = Instant::now() + self.deadline;
        loop {
            reap(&mut run.ring, &mut cqes, &mut got);
            if mandatory_done(&got) || Instant::now() >= deadline {
                break;
            }
            wait(&mut run.ring, deadline);
        }
        if let Some((kcov, seen)) = &mut self.kcov {
            seen.add(&kcov.pcs());
        }
        if !mandatory_done(&got) {
            self.stats.deadline_hits += 1;
        }
        self.stats.lap(Phase::Wait, clock);
        // Quiesce: cancel everything still in flight until nothing is found
        // twice in a row.
        let mut cancelled = vec![false; n];
        let grace_end = Instant::now() + self.grace;
        // Nothing can be in flight when every SQE posted its CQE and none
        // said more would follow (no CQE_SKIP_SUCCESS, no multishot): the
        // cancel rounds are skipped, and the NOP below still runs the task
        // work of what completed.
        let settled = (0..n).all(|i| !skip_ok[i] && got[i] > 0)
            && cqes.iter().all(|&(_, _, flags)| flags & F_MORE == 0);
        let mut quiet = if settled { 2 } else { 0 };
        let mut tag = 0u64;
        while quiet < 2 {
            if Instant::now() >= grace_end {
                let pending: Vec<usize> = (0..n).filter(|&i| !skip_ok[i] && got[i] == 0).collect();
                let i = pending.first().copied().unwrap_or(0);
                return (
                    Err(self
                        .finding(
                            resolved,
                            "hang",
                            format!(
                            "requests still in flight {:?} after the deadline, cancels and {:?}",
                            pending, self.grace
                        ),
                        )
                        .with_index(i)),
                    FdSet::default(),
                );
            }
            for i in 0..n {
                if got[i] == 0 {
                    cancelled[i] = true;
                }
            }
            // IORING_REGISTER_SYNC_CANCEL (6.0) first: it is no SQE, so no
            // IO_DRAIN request ahead of it holds it back. A cancel SQE behind
            // a drained one waits for the very requests it should cancel (a
            // READV pending on the empty FIFO, then a drained FSYNC: the
            // harness reported that as a hang). The SQE is the fallback
            // where the register op is missing (EINVAL).
            let sync =
                backends::uring::sync_cancel_all(run.ring.as_raw_fd(), Duration::from_millis(200));
            let synced = matches!(sync, Ok(_) | Err(errno::ENOENT));
            let found = match sync {
                Ok(n) => Some(n as i32),
                Err(e) if e == errno::ENOENT => Some(0),
                Err(e) if e == errno::EINVAL => {
                    tag += 1;
                    let cancel = Sqe {
                        fd: -1,
                        op_flags: 1 | 4, // IORING_ASYNC_CANCEL_ALL | ANY
                        user_data: TAG | tag,
                        ..Sqe::new(rules::op::ASYNC_CANCEL)
                    };
                    let until = Instant::now() + Duration::from_millis(200);
                    own(&mut run.ring, &mut cqes, &mut got, cancel, until)
                }
                // ETIME, EALREADY: something is still in flight.
                Err(_) => Some(1),
            };
            reap(&mut run.ring, &mut cqes, &mut got);
            let nothing = found == Some(0) || found == Some(-errno::ENOENT);
            if nothing && mandatory_done(&got) && synced {
                // The synchronous cancel looked everywhere (inline, poll,
                // timeouts, io-wq) and found nothing; what it cancelled
                // before had finished when it returned, and the return from
                // the call ran the task work that posts their CQEs.
                quiet = 2;
                reap(&mut run.ring, &mut cqes, &mut got);
            } else if nothing && mandatory_done(&got) {
                quiet += 1;
                // Let task work post what completed meanwhile.
                let _ = run.ring.submit_and_wait(0);
                std::thread::sleep(Duration::from_micros(200));
                reap(&mut run.ring, &mut cqes, &mut got);
            } else {
                quiet = 0;
                let until = (Instant::now() + Duration::from_millis(50)).min(grace_end);
                while !mandatory_done(&got) && Instant::now() < until {
                    wait(&mut run.ring, until);
                    reap(&mut run.ring, &mut cqes, &mut got);
                }
            }
        }
        self.stats.lap(Phase::Quiesce, clock);
        // The ring still works.
        let nop = Sqe {
            fd: -1,
            user_data: TAG | 0xffff_ffff,
            ..Sqe::new(rules::op::NOP)
        };
        let until = Instant::now() + Duration::from_secs(1);
        let nop_res = own(&mut run.ring, &mut cqes, &mut got, nop, until);
        self.stats.lap(Phase::Nop, clock);
        let mut made = FdSet::default();
        *after = self.scan_fds();
        let verdict = self.judge(
            run, resolved, &cqes, &got, &cancelled, &skip_ok, &chain_of, &chain_len, &mut made,
            before, after,
        );
        let verdict = verdict.and_then(|()| match nop_res {
            Some(0) => Ok(()),
            other => Err(self.finding(
                resolved,
                "ring-broken",
                format!("a NOP afterwards completed with {other:?}"),
            )),
        });
        self.stats.lap(Phase::Judge, clock);
        (verdict, made)
    }

    #[allow(clippy::too_many_arguments)]
    fn judge(
        &mut self,
        run: &Run,
        resolved: &[Resolved],
        cqes: &[(u64, i32, u32)],
        got: &[usize],
        cancelled: &[bool],
        skip_ok: &[bool],
        chain_of: &[usize],
        chain_len: &BTreeMap<usize, usize>,
        made: &mut FdSet,
        before: &FdSet,
        now: &FdSet,
    ) -> Result<(), Finding> {
        let n = resolved.len();
        let p = self.profile;
        let fields: Vec<Sqe> = resolved.iter().map(|r| r.sqe).collect();
        let any_madvise = resolved.iter().any(|r| r.madvise.is_some());
        let mem = ArenaMem {
            arena: &self.arena,
            ro_stable: !any_madvise,
        };
        // Descriptors other requests of the batch may close or fill.
        let closes: BTreeSet<i32> = resolved
            .iter()
            .filter(|r| r.sqe.opcode == rules::op::CLOSE)
            .map(|r| r.sqe.fd)
            .collect();
        let direct = resolved.iter().any(|r| {
            matches!(
                r.sqe.opcode,
                rules::op::OPENAT | rules::op::OPENAT2 | rules::op::PIPE | rules::op::CLOSE
            ) && r.sqe.splice_fd_in != 0
        });
        let fd_state = |fd: i32, fixed: bool| -> FdState {
            if fixed {
                let idx = fd as u32;
                if direct {
                    FdState::Unknown
                } else if idx < 9 && idx != O_PATH_ROLE as u32 {
                    FdState::Open
                } else {
                    FdState::Closed
                }
            } else if run.roles.contains(&fd) {
                if closes.contains(&fd) {
                    FdState::Unknown
                } else if fd == run.roles[O_PATH_ROLE] {
                    FdState::Closed
                } else {
                    FdState::Open
                }
            } else if fd < 0 || fd == self.closed_slot || fd as i64 >= self.nr_open as i64 {
                FdState::Closed
            } else {
                FdState::Unknown
            }
        };
        let mut drain_disabled = false;
        let mut allowed = vec![];
        for i in 0..n {
            let f = &fields[i];
            let fd = match resolved[i].rules.map(|r| r.rule(Field::Fd, p.kernel)) {
                Some(Rule::Reads(Role::Fd(FdUse::Nop))) => match rules::nop_fd_table(f) {
                    rules::FdTable::Plain => fd_state(f.fd, false),
                    rules::FdTable::Registered => fd_state(f.fd, true),
                    rules::FdTable::Either => {
                        let (plain, registered) = (fd_state(f.fd, false), fd_state(f.fd, true));
                        if plain == registered {
                            plain
                        } else {
                            FdState::Unknown
                        }
                    }
                },
                _ => fd_state(f.fd, f.flags & rules::sqe_flags::FIXED_FILE != 0),
            };
            let ctx = SqeContext {
                drain_disabled,
                in_chain: chain_len[&chain_of[i]] > 1,
                cancelled: cancelled[i],
                personalities: &[],
                fd,
                mem: &mem,
            };
            let a = rules::allowed_results_in(&p, f, &ctx);
            if let Some(t) = self.tracing.as_mut() {
                let uncancelled = SqeContext {
                    cancelled: false,
                    ..ctx
                };
                let tr = &mut t.sqes[i];
                tr.allowed = Some(rules::allowed_results_in(&p, f, &uncancelled));
                tr.skip_ok = skip_ok[i];
                t.cancelled = cancelled.to_vec();
            }
            if rules::disables_drain(&p, f) {
                drain_disabled = true;
            }
            allowed.push(a);
        }
        // Stats.
        for (i, a) in allowed.iter().enumerate() {
            let e = self.stats.per_opcode.entry(fields[i].opcode).or_default();
            e.0 += 1;
            self.stats.sqes += 1;
            if a.rejected && !cancelled[i] {
                e.1 += 1;
                self.stats.rejected += 1;
            }
            if cancelled[i] {
                self.stats.cancelled += 1;
            }
        }
        // CQEs.
        let mut res_of: Vec<Option<i32>> = vec![None; n];
        for &(ud, res, flags) in cqes {
            if ud & TAG != 0 {
                continue;
            }
            let i = (ud & 0xff) as usize;
            if i >= n || resolved[i].sqe.user_data != ud {
                return Err(self.finding(
                    resolved,
                    "stray-cqe",
                    format!("a CQE with user_data {ud:#x} (res {res}) matches no SQE"),
                ));
            }
            if flags & F_MORE != 0 || (flags != 0 && resolved[i].sqe.flags & 0x20 == 0) {
                return Err(self
                    .finding(
                        resolved,
                        "cqe-flags",
                        format!("#{i}: CQE flags {flags:#x}, res {res}"),
                    )
                    .with_index(i));
            }
            res_of[i] = Some(res);
            if res >= 0 {
                let e = self.stats.per_opcode.entry(fields[i].opcode).or_default();
                e.2 += 1;
                self.stats.succeeded += 1;
            }
        }
        self.note_results(resolved, &res_of, cancelled);
        if let Some(t) = self.tracing.as_mut() {
            t.results = res_of.clone();
        }
        for i in 0..n {
            if got[i] > 1 {
                return Err(self
                    .finding(resolved, "extra-cqe", format!("#{i}: {} CQEs", got[i]))
                    .with_index(i));
            }
            if got[i] == 0 && !skip_ok[i] {
                return Err(self
                    .finding(resolved, "missing-cqe", format!("#{i}: no CQE"))
                    .with_index(i));
            }
        }
        // Descriptors the results made (closed by teardown). A request whose
        // CQE was skipped (CQE_SKIP_SUCCESS) succeeded without saying which
        // descriptors it made: they are explained by count.
        let mut pipes = 0;
        let mut silent = 0;
        for i in 0..n {
            if let (None, true, Some(r)) = (res_of[i], skip_ok[i], resolved[i].rules) {
                if resolved[i].sqe.splice_fd_in == 0 {
                    if r.code == Code::Mainline(rules::op::PIPE) {
                        pipes += 2;
                    } else if matches!(r.res, rules::Res::Fd) {
                        silent += 1;
                    }
                }
            }
            let (Some(res), Some(r)) = (res_of[i], resolved[i].rules) else {
                continue;
            };
            if res >= 0 && matches!(r.res, rules::Res::Fd) && resolved[i].sqe.splice_fd_in == 0 {
                made.insert(res);
            }
            if res == 0
                && r.code == Code::Mainline(rules::op::PIPE)
                && resolved[i].sqe.splice_fd_in == 0
            {
                pipes += 2;
            }
        }
        // Results.
        for i in 0..n {
            if let Some(res) = res_of[i] {
                if !allowed[i].allows(res) {
                    let shown = model::Errno::format_result(res);
                    return Err(self
                        .finding(
                            resolved,
                            "disallowed",
                            format!("#{i}: result {shown}, table allows {}", allowed[i]),
                        )
                        .with_index(i));
                }
            }
        }
        // Canaries.
        self.check_arena(resolved, &allowed)?;
        // Descriptors: new ones must be explained, none of ours may vanish.
        let roles: FdSet = run.roles.iter().copied().collect();
        let mut unexplained = vec![];
        for &fd in now.difference(before) {
            if made.contains(&fd) {
                continue;
            }
            let t = fd_target(fd);
            if t.starts_with("pipe:") && pipes > 0 {
                pipes -= 1;
                made.insert(fd);
                continue;
            }
            if silent > 0 {
                silent -= 1;
                made.insert(fd);
                continue;
            }
            made.insert(fd);
            unexplained.push(format!("{fd} -> {t}"));
        }
        if !unexplained.is_empty() {
            return Err(self.finding(
                resolved,
                "fd-leak",
                format!("descriptors no result accounts for: {unexplained:?}"),
            ));
        }
        let vanished: Vec<RawFd> = before
            .difference(now)
            .filter(|fd| !roles.contains(fd) || !closes.contains(fd))
            .copied()
            .collect();
        if !vanished.is_empty() {
            return Err(self.finding(
                resolved,
                "fd-closed",
                format!("descriptors closed without a CLOSE naming them: {vanished:?}"),
            ));
        }
        Ok(())
    }

    /// Every byte of the arena outside the declared buffers is unchanged.
    fn check_arena(&self, resolved: &[Resolved], allowed: &[AllowedSet]) -> Result<(), Finding> {
        let a = &self.arena;
        let base = a.base as u64;
        let mut ok: Vec<(u64, u64)> = vec![];
        for (r, al) in resolved.iter().zip(allowed) {
            if al.rejected {
                continue;
            }
            ok.extend(r.writes.iter().map(|&(p, l)| (p, p.saturating_add(l))));
            if let Some((p, l)) = r.madvise {
                ok.push((p, p.saturating_add(l)));
            }
        }
        let allowed_at = |addr: u64| ok.iter().any(|&(s, e)| addr >= s && addr < e);
        let check = |off: usize, want: &[u8], what: &str| -> Result<(), Finding> {
            let have = a.read(off, want.len());
            if have == want {
                return Ok(());
            }
            // Byte by byte only inside the 64-byte blocks that differ.
            let bad: Vec<usize> = have
                .chunks(64)
                .zip(want.chunks(64))
                .enumerate()
                .filter(|(_, (h, w))| h != w)
                .flat_map(|(b, (h, w))| {
                    (0..h.len())
                        .filter(move |&k| h[k] != w[k])
                        .map(move |k| b * 64 + k)
                })
                .filter(|&k| !allowed_at(base + (off + k) as u64))
                .collect();
            if let (Some(&first), Some(&last)) = (bad.first(), bad.last()) {
                return Err(self.finding(
                    resolved,
                    "canary",
                    format!(
                        "{} bytes of the arena's {what} part changed outside every declared \
                         buffer: offsets {first}..={last} of the part (address {:#x})",
                        bad.len(),
                        base + (off + first) as u64
                    ),
                ));
            }
            Ok(())
        };
        check(RW_AT, &a.pattern, "read-write")?;
        check(RO_AT, &a.ro, "read-only table")?;
        for i in 0..MAX_SQES {
            check(Arena::own_at(i), &a.own[i], "own-page")?;
        }
        Ok(())
    }
}

/// One feature number: a hash (FNV-1a) of its parts.
fn feature(parts: [u32; 4]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in parts.iter().flat_map(|p| p.to_le_bytes()) {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// What kind of value a fuzzer-chosen word is: its variant, and for
/// pointers where it points (values themselves are not told apart: each
/// would be a feature of its own and swell the corpus).
fn word_class(w: Word) -> u32 {
    match w {
        Word::Zero => 0,
        Word::Raw(_) => 1,
        Word::Small(_) => 2,
        Word::Special(_) => 3,
        Word::Bit(_) => 4,
        Word::Fd(_) => 5,
        Word::Ptr(p) => 6 | ((p.encode() & 7) as u32) << 8,
    }
}

/// A result's class: the errno, 0 or positive; no CQE (cancelled or
/// skipped) apart.
fn result_class(res: Option<i32>, cancelled: bool) -> u32 {
    match res {
        None => 0xffff_0000 | cancelled as u32,
        Some(r) if r < 0 => r.unsigned_abs(),
        Some(0) => 0x1_0000,
        Some(_) => 0x2_0000,
    }
}

impl Sandbox {
    /// Features of the fuzzer's choices: per SQE and non-zero field, the
    /// opcode, the field and what kind of value it got.
    fn note_choices(&mut self, input: &FuzzInput, resolved: &[Resolved]) {
        for (f, r) in input.sqes.iter().zip(resolved) {
            let op = r.sqe.opcode as u32;
            for (k, fld) in Field::ALL.iter().enumerate() {
                let w = f.get(*fld);
                if w != Word::Zero {
                    self.features
                        .push(feature([1, op, k as u32, word_class(w)]));
                }
            }
        }
    }

    /// Features of what the kernel did: per SQE, the opcode and the class of
    /// its result, and each of its flags with whether it succeeded; per
    /// neighbouring pair, both opcodes and whether they were linked.
    fn note_results(&mut self, resolved: &[Resolved], res_of: &[Option<i32>], cancelled: &[bool]) {
        let links = (rules::sqe_flags::IO_LINK | rules::sqe_flags::IO_HARDLINK) as u32;
        let mut last: Option<(u32, bool)> = None;
        for (i, r) in resolved.iter().enumerate() {
            let op = r.sqe.opcode as u32;
            let ok = res_of[i].is_some_and(|x| x >= 0);
            self.features
                .push(feature([2, op, result_class(res_of[i], cancelled[i]), 0]));
            for bit in 0..8 {
                if r.sqe.flags & 1 << bit != 0 {
                    self.features.push(feature([3, op, bit, ok as u32]));
                }
            }
            if let Some((prev, linked)) = last {
                self.features.push(feature([4, prev, op, linked as u32]));
            }
            last = Some((op, r.sqe.flags as u32 & links != 0));
        }
    }
}

impl Finding {
    fn with_index(mut self, i: usize) -> Finding {
        if !self.detail.starts_with('#') {
            self.detail = format!("#{i}: {}", self.detail);
        }
        self
    }
}

// ---------------------------------------------------------------------------
// The sandbox thread and the entry points.

enum Job {
    Check(FuzzInput),
    Trace(FuzzInput),
    Stats,
    Verify,
    Sweep(Option<Vec<crate::sqe_sweep::Probe>>),
}

enum Reply {
    Checked(Result<(), Finding>),
    Traced(Box<SqeTrace>),
    Stats(Stats),
    Verified(Result<Vec<RuleCheck>, JobError>),
    Swept(Result<crate::sqe_sweep::SweepReport, JobError>),
    Panicked(String),
}

/// What a caught panic said.
fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panic".into())
}

/// How long a side of the sandbox thread's channels polls before it sleeps.
/// Inputs come back to back: waking a sleeping thread costs tens of
/// microseconds on an idle machine (its core leaves a C-state), more than
/// many inputs take.
const SPIN: Duration = Duration::from_micros(200);

/// The next message of `rx`: polled for up to [`SPIN`], then waited for.
/// None when the other side is gone.
fn receive<T>(rx: &mpsc::Receiver<T>) -> Option<T> {
    let started = Instant::now();
    loop {
        match rx.try_recv() {
            Ok(m) => return Some(m),
            Err(mpsc::TryRecvError::Disconnected) => return None,
            Err(mpsc::TryRecvError::Empty) if started.elapsed() < SPIN => {
                std::hint::spin_loop();
            }
            Err(mpsc::TryRecvError::Empty) => return rx.recv().ok(),
        }
    }
}

struct Worker {
    jobs: mpsc::Sender<Job>,
    replies: mpsc::Receiver<Reply>,
}

fn worker() -> &'static Result<Mutex<Worker>, SandboxError> {
    static W: OnceLock<Result<Mutex<Worker>, SandboxError>> = OnceLock::new();
    W.get_or_init(|| {
        let (jt, jr) = mpsc::channel::<Job>();
        let (rt, rr) = mpsc::channel::<Reply>();
        let (ready_t, ready_r) = mpsc::channel::<Result<(), SandboxError>>();
        std::thread::Builder::new()
            .name("sqe-sandbox".into())
            .spawn(move || {
                let mut sb = match Sandbox::new() {
                    Ok(s) => {
                        let _ = ready_t.send(Ok(()));
                        s
                    }
                    Err(e) => {
                        let _ = ready_t.send(Err(e));
                        return;
                    }
                };
                while let Some(job) = receive(&jr) {
                    let reply = match job {
                        Job::Stats => Reply::Stats(sb.stats.clone()),
                        Job::Verify => Reply::Verified(sb.verify()),
                        Job::Sweep(only) => Reply::Swept(sb.sweep(only)),
                        Job::Trace(input) => {
                            sb.tracing = Some(SqeTrace::default());
                            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                sb.run(&input)
                            }));
                            let t = sb.tracing.take().unwrap_or_default();
                            match r {
                                Ok(_) => Reply::Traced(Box::new(t)),
                                Err(p) => Reply::Panicked(panic_text(&p)),
                            }
                        }
                        Job::Check(input) => {
                            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                sb.run(&input)
                            })) {
                                Ok(r) => Reply::Checked(r),
                                Err(p) => Reply::Panicked(panic_text(&p)),
                            }
                        }
                    };
                    let checked = matches!(reply, Reply::Checked(_));
                    if rt.send(reply).is_err() {
                        return;
                    }
                    if checked {
                        sb.prepare_next();
                    }
                }
            })
            .map_err(SandboxError::Spawn)?;
        ready_r.recv().map_err(|_| SandboxError::ThreadDied)??;
        Ok(Mutex::new(Worker {
            jobs: jt,
            replies: rr,
        }))
    })
}

/// Starts the sandbox (once per process) and says whether it can run: Err with a
/// one-line reason when not root, without private mounts, or without io_uring.
/// The fuzz target calls this first and refuses to run on Err.
pub fn sandbox_ready() -> Result<(), &'static SandboxError> {
    worker().as_ref().map(|_| ())
}

/// Runs one input through the kernel in the sandbox and applies every oracle
/// (see the module documentation). Panics if the sandbox cannot run (see
/// [`sandbox_ready`]) or the harness itself fails.
pub fn check(input: &FuzzInput) -> Result<(), Finding> {
    let w = match worker() {
        Ok(w) => w,
        Err(e) => panic!("sqe_fields refuses to run: {e}"),
    };
    let w = w.lock().unwrap_or_else(|e| e.into_inner());
    w.jobs
        .send(Job::Check(input.clone()))
        .expect("the sandbox thread is alive");
    match receive(&w.replies).expect("the sandbox thread replies") {
        Reply::Checked(r) => r,
        Reply::Panicked(m) => panic!("sqe_fields harness: {m}"),
        _ => unreachable!("asked for a check"),
    }
}

/// Runs one input as [`check`] does and returns what it did: the SQEs as
/// sent, the table's allowed results, the fixture's descriptors, the arena
/// and the verdict (for a C reproducer). Err when the sandbox cannot run
/// here or the harness panicked.
pub fn trace(input: &FuzzInput) -> Result<SqeTrace, JobError> {
    match job(Job::Trace(input.clone()))? {
        Reply::Traced(t) => Ok(*t),
        _ => Err(JobError::UnexpectedReply),
    }
}

/// An SQE rule sweep probe ("FALLOCATE:op_flags=1", "NOP:flags=0x80",
/// "READ:valid") as an input of one SQE: the opcode's valid template
/// ([`template_with`], the configured proposed numbers) with the field set to
/// the value (or sqe->flags or-ed with it), resolved in the sandbox as any
/// input is. Err says what does not parse.
pub fn probe_input(text: &str) -> Result<FuzzInput, String> {
    let (op, rest) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?}: want OPCODE:FIELD=VALUE or OPCODE:valid"))?;
    let proposed = backends::sqe::ProposedOpcodes::from_env()
        .map_err(|e| e.to_string())?
        .numbers;
    let code = rules::TABLE
        .iter()
        .find(|r| r.name().eq_ignore_ascii_case(op))
        .and_then(|r| r.number(&proposed))
        .ok_or_else(|| {
            format!("{op:?}: no opcode of that name in the SQE table (or not configured)")
        })?;
    let mut sqe =
        template_with(code, &proposed).ok_or_else(|| format!("{op}: no valid template"))?;
    // The sweep's rows name the template alone "valid" (with any value).
    if rest != "valid" && !rest.starts_with("valid=") {
        let (field, value) = rest
            .split_once('=')
            .ok_or_else(|| format!("{rest:?}: want FIELD=VALUE"))?;
        let value = match value.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16),
            None => value.parse(),
        }
        .map_err(|e| format!("{value:?}: {e}"))?;
        if field == "flags" {
            sqe.flags |= value as u8;
        } else {
            let f = Field::ALL
                .into_iter()
                .find(|f| f.name() == field)
                .ok_or_else(|| format!("{field:?}: not an SQE field"))?;
            sqe = sqe.with(f, Word::Raw(value));
        }
    }
    Ok(FuzzInput { sqes: vec![sqe] })
}

/// Verifies the table's field rules on the running kernel, each probe
/// submitted in the sandbox and judged as the sweep's are
/// ([`crate::sqe_verify`]): for every opcode the probe supports, an otherwise
/// valid SQE ([`template`]) with each must-be-zero field set to 1 must fail
/// with the table's errno and change nothing; with each ignored field set to 1
/// it must give what the valid SQE gives; and the generic checks (ioprio,
/// personality, flag bit 7, BUFFER_SELECT) must give the table's errno. One
/// row per probe.
pub fn verify_rules() -> Result<Vec<RuleCheck>, JobError> {
    match job(Job::Verify)? {
        Reply::Verified(r) => r,
        _ => Err(JobError::UnexpectedReply),
    }
}

/// Runs the SQE rule sweep ([`crate::sqe_sweep`]) in the sandbox: Err when the
/// sandbox cannot run here (see [`sandbox_ready`]) or the sweep cannot start.
pub fn sweep() -> Result<crate::sqe_sweep::SweepReport, JobError> {
    sweep_job(None)
}

/// Runs these probes (of opcodes the kernel supports) in the sandbox as
/// [`sweep()`] runs its plan: the same submission, judgement and rows.
pub fn sweep_probes(
    probes: Vec<crate::sqe_sweep::Probe>,
) -> Result<crate::sqe_sweep::SweepReport, JobError> {
    sweep_job(Some(probes))
}

fn sweep_job(
    only: Option<Vec<crate::sqe_sweep::Probe>>,
) -> Result<crate::sqe_sweep::SweepReport, JobError> {
    match job(Job::Sweep(only))? {
        Reply::Swept(r) => r,
        _ => Err(JobError::UnexpectedReply),
    }
}

/// Sends `job` to the sandbox thread and returns its reply (a panic of the
/// harness is an error).
fn job(job: Job) -> Result<Reply, JobError> {
    let w = worker().as_ref()?;
    let w = w.lock().unwrap_or_else(|e| e.into_inner());
    w.jobs.send(job).map_err(|_| JobError::Send)?;
    match receive(&w.replies).ok_or(mpsc::RecvError)? {
        Reply::Panicked(m) => Err(JobError::Panicked(m)),
        reply => Ok(reply),
    }
}

/// One probe of [`verify_rules`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCheck {
    /// The opcode's name.
    pub op: &'static str,
    /// What was changed ("addr=1", "ioprio=1", "flags|0x80", "baseline").
    pub probe: String,
    /// What the table says.
    pub want: String,
    /// What the kernel gave.
    pub got: String,
    /// Whether they agree.
    pub ok: bool,
}

/// The counters of every check so far in this process.
pub fn stats() -> Stats {
    match job(Job::Stats) {
        Ok(Reply::Stats(s)) => s,
        _ => Stats::default(),
    }
}

// ---------------------------------------------------------------------------
// Rule verification.

impl Sandbox {
    /// The rule verification: per opcode, the valid SQE, each must-be-zero
    /// and each ignored field at 1, values prep checks before the file lookup
    /// (with a closed descriptor), and the generic checks; each probe
    /// submitted by [`Sandbox::probe`] and judged by [`crate::sqe_verify`].
    fn verify(&mut self) -> Result<Vec<RuleCheck>, JobError> {
        use crate::sqe_verify::{judge, Expect};
        let roots = self._scratch.roots("verify")?;
        let mut u = backends::uring::Uring::new(
            roots,
            backends::uring::Mode::Single,
            backends::sqe::ProposedOpcodes::default(),
        )?;
        u.set_deadline(Duration::from_millis(500));
        let kernel = self.profile.kernel;
        let mut rows = vec![];
        for r in rules::TABLE {
            let Code::Mainline(code) = r.code else {
                continue;
            };
            if rules::rules_for(&self.profile, code).is_none() {
                continue;
            }
            let mut check = |sb: &mut Sandbox,
                             probe: String,
                             change: &dyn Fn(&mut Sqe),
                             expect: Expect,
                             why: &str|
             -> Result<i32, RunError> {
                let o = sb.probe(&mut u, code, change)?;
                let j = judge(expect, why, &o);
                rows.push(RuleCheck {
                    op: r.name(),
                    probe,
                    want: j.want,
                    got: j.got,
                    ok: j.ok,
                });
                Ok(o.res)
            };
            let base = check(
                self,
                "baseline (valid SQE)".into(),
                &|_| {},
                Expect::Succeed,
                "valid SQE",
            )?;
            let fd_result = matches!(r.res, rules::Res::Fd);
            for fld in Field::ALL {
                let (expect, why) = match r.rule(fld, kernel) {
                    Rule::Zero(e) => (Expect::Reject(e), "must be zero"),
                    Rule::Ignored => (Expect::AsBaseline { base, fd_result }, "ignored"),
                    _ => continue,
                };
                check(
                    self,
                    format!("{}=1 ({why})", fld.name()),
                    &|s: &mut Sqe| s.set(fld, 1),
                    expect,
                    why,
                )?;
            }
            if r.needs_file {
                // Checks of values prep makes before the file is looked up.
                let closed = self.closed_slot;
                for (name, fld, v) in [
                    ("off=-1", Field::Off, u64::MAX),
                    ("addr=-1", Field::Addr, u64::MAX),
                    ("len=-1", Field::Len, u32::MAX as u64),
                    ("op_flags=-1", Field::OpFlags, u32::MAX as u64),
                    ("off=i64::MAX", Field::Off, i64::MAX as u64),
                ] {
                    if r.rule(fld, kernel) != Rule::Ignored
                        && !matches!(r.rule(fld, kernel), Rule::Reads(Role::Value(_)))
                    {
                        continue;
                    }
                    check(
                        self,
                        format!("{name} with a closed fd (prep before the file lookup)"),
                        &|s: &mut Sqe| {
                            s.fd = closed;
                            s.set(fld, v);
                        },
                        Expect::Allowed,
                        "prep before the file lookup",
                    )?;
                }
            }
            type Change = Box<dyn Fn(&mut Sqe)>;
            let generic: [(&str, Change, i32); 4] = [
                (
                    "ioprio=1",
                    Box::new(|s: &mut Sqe| s.ioprio = 1),
                    errno::EINVAL,
                ),
                (
                    "personality=1",
                    Box::new(|s: &mut Sqe| s.personality = 1),
                    errno::EINVAL,
                ),
                (
                    "flags|0x80",
                    Box::new(|s: &mut Sqe| s.flags |= 0x80),
                    errno::EINVAL,
                ),
                (
                    "flags|BUFFER_SELECT",
                    Box::new(|s: &mut Sqe| s.flags |= rules::sqe_flags::BUFFER_SELECT),
                    if r.buffer_select {
                        0
                    } else {
                        errno::EOPNOTSUPP
                    },
                ),
            ];
            for (name, change, e) in generic {
                if e == 0 {
                    continue;
                }
                check(
                    self,
                    format!("{name} (generic)"),
                    &*change,
                    Expect::Fails(e),
                    "generic",
                )?;
            }
        }
        Ok(rows)
    }
}

// ---------------------------------------------------------------------------
// Valid templates and seeds.

/// [`template`], and for the proposed opcodes configured in `proposed` a
/// valid SQE in ringspec's encoding (model/src/sqe.rs): COPY_FILE_RANGE
/// copies 8 bytes of `r` at offset 0 (addr = splice_off_in) to `f` at its
/// file position (off = -1); GETDENTS64 reads one record of the run directory
/// into a 31-byte buffer; MKNODAT makes a FIFO (mode in len, dev 0 in off).
pub fn template_with(code: u8, proposed: &rules::ProposedNumbers) -> Option<FuzzSqe> {
    use Field::*;
    let s = FuzzSqe::of_number(code, proposed);
    let buf = Word::Ptr(Ptr::Rw {
        offset: 0,
        aligned: true,
    });
    if proposed.number(Proposed::CopyFileRange) == Some(code) {
        return Some(
            s.with(Fd, Word::Fd(0))
                .with(SpliceFdIn, Word::Fd(1))
                .with(Off, Word::Special(0))
                .with(Len, Word::Small(8)),
        );
    }
    if proposed.number(Proposed::Getdents64) == Some(code) {
        return Some(
            s.with(Fd, Word::Fd(3))
                .with(Addr, buf)
                .with(Len, Word::Small(31)),
        );
    }
    if proposed.number(Proposed::Mknodat) == Some(code) {
        return Some(
            s.with(Fd, Word::Fd(3))
                .with(Addr, Word::Ptr(Ptr::Path(6)))
                .with(Len, Word::Raw(libc::S_IFIFO as u64 | 0o644)),
        );
    }
    template(code)
}

/// An SQE of `code` that passes prep and runs on the sandbox (every must-be-zero
/// field zero): the basis of the seeds and of the rule verification. None for
/// numbers outside the table.
pub fn template(code: u8) -> Option<FuzzSqe> {
    use rules::op::*;
    use Field::*;
    let fd = |i: u8| Word::Fd(i);
    let path = |i: u8| Word::Ptr(Ptr::Path(i));
    let rw = |o: u32| {
        Word::Ptr(Ptr::Rw {
            offset: o,
            aligned: false,
        })
    };
    let s = FuzzSqe::of(code);
    Some(match code {
        NOP => s.with(Fd, Word::Raw(u64::MAX)),
        READ => s
            .with(Fd, fd(0))
            .with(Addr, rw(64))
            .with(Len, Word::Small(16)),
        WRITE => s
            .with(Fd, fd(0))
            .with(Addr, rw(64))
            .with(Len, Word::Small(16)),
        READV | WRITEV => {
            let mut s = s
                .with(Fd, fd(0))
                .with(Addr, Word::Ptr(Ptr::Own))
                .with(Len, Word::Small(2));
            s.iovecs[0] = (rw(128), Word::Small(8));
            s.iovecs[1] = (rw(256), Word::Small(8));
            s
        }
        FSYNC => s.with(Fd, fd(0)),
        SYNC_FILE_RANGE => s.with(Fd, fd(0)).with(Len, Word::Special(4)),
        FALLOCATE => s.with(Fd, fd(0)).with(Addr, Word::Special(4)),
        OPENAT => s
            .with(Fd, fd(3))
            .with(Addr, path(0))
            .with(OpFlags, Word::Special(11)),
        OPENAT2 => {
            let mut s = s
                .with(Fd, fd(3))
                .with(Addr, path(0))
                .with(Off, Word::Ptr(Ptr::Own))
                .with(Len, Word::Special(16));
            s.open_how[0] = Word::Special(11);
            s
        }
        CLOSE => s.with(Fd, fd(1)),
        STATX => s
            .with(Fd, fd(3))
            .with(Addr, path(0))
            .with(Off, rw(512))
            .with(Len, Word::Special(15)),
        FADVISE => s.with(Fd, fd(0)).with(OpFlags, Word::Small(3)),
        MADVISE => s
            .with(
                Addr,
                Word::Ptr(Ptr::Rw {
                    offset: 0,
                    aligned: true,
                }),
            )
            .with(Len, Word::Special(4))
            .with(OpFlags, Word::Small(3)),
        SPLICE => s
            .with(Fd, fd(6))
            .with(SpliceFdIn, fd(0))
            .with(Off, Word::Special(0))
            .with(Len, Word::Small(8)),
        TEE => s
            .with(Fd, fd(7))
            .with(SpliceFdIn, fd(5))
            .with(Len, Word::Small(1)),
        RENAMEAT => s
            .with(Fd, fd(3))
            .with(Addr, path(1))
            .with(Len, fd(3))
            .with(Off, path(6)),
        UNLINKAT => s.with(Fd, fd(3)).with(Addr, path(2)),
        MKDIRAT => s
            .with(Fd, fd(3))
            .with(Addr, path(6))
            .with(Len, Word::Special(10)),
        SYMLINKAT => s.with(Fd, fd(3)).with(Addr, path(0)).with(Off, path(7)),
        LINKAT => s
            .with(Fd, fd(3))
            .with(Addr, path(0))
            .with(Len, fd(3))
            .with(Off, path(6)),
        FSETXATTR => s
            .with(Fd, fd(0))
            .with(Addr, Word::Ptr(Ptr::Xattr(0)))
            .with(Off, rw(0))
            .with(Len, Word::Small(4)),
        SETXATTR => s
            .with(Addr, Word::Ptr(Ptr::Xattr(0)))
            .with(Off, rw(0))
            .with(Len, Word::Small(4))
            .with(Addr3, path(0)),
        FGETXATTR => s
            .with(Fd, fd(0))
            .with(Addr, Word::Ptr(Ptr::Xattr(0)))
            .with(Off, rw(1024))
            .with(Len, Word::Small(31)),
        GETXATTR => s
            .with(Addr, Word::Ptr(Ptr::Xattr(0)))
            .with(Off, rw(1024))
            .with(Len, Word::Small(31))
            .with(Addr3, path(0)),
        FTRUNCATE => s.with(Fd, fd(0)).with(Off, Word::Special(4)),
        PIPE => s.with(Addr, rw(2048)).with(OpFlags, Word::Special(11)),
        _ => return None,
    })
}

/// The seed inputs: each table opcode alone (valid), each with every
/// must-be-zero field set, generic violations, batches, linked chains, drains,
/// skip-success, fixed files, wild and guard pointers. Deterministic.
pub fn seeds() -> Vec<(String, FuzzInput)> {
    let mut out = vec![];
    let one = |s: FuzzSqe| FuzzInput { sqes: vec![s] };
    let codes: Vec<u8> = rules::TABLE
        .iter()
        .filter_map(|r| match r.code {
            Code::Mainline(n) => Some(n),
            Code::Proposed(_) => None,
        })
        .collect();
    for r in rules::TABLE {
        let Code::Mainline(n) = r.code else { continue };
        let t = template(n).expect("a template per mainline opcode");
        let name = r.name().to_ascii_lowercase();
        out.push((format!("{name}-valid"), one(t.clone())));
        for (f, _) in r.must_be_zero((6, 18)) {
            out.push((
                format!("{name}-nonzero-{}", f.name()),
                one(t.clone().with(f, Word::Small(1))),
            ));
        }
        let mut fx = t.clone();
        fx.flags = rules::sqe_flags::FIXED_FILE;
        if let Word::Fd(i) = fx.get(Field::Fd) {
            fx = fx.with(Field::Fd, Word::Fd(13 + i.min(8)));
        }
        out.push((format!("{name}-fixed"), one(fx)));
        let mut a = t.clone();
        a.flags = rules::sqe_flags::ASYNC;
        out.push((format!("{name}-async"), one(a)));
    }
    let t = |c: u8| template(c).expect("template");
    // Generic checks.
    let mut s = t(rules::op::NOP);
    s.flags = 0x80;
    out.push(("generic-flag-bit7".into(), one(s)));
    let mut s = t(rules::op::FSYNC);
    s.flags = rules::sqe_flags::BUFFER_SELECT;
    out.push(("generic-buffer-select".into(), one(s)));
    out.push((
        "generic-ioprio".into(),
        one(t(rules::op::FSYNC).with(Field::Ioprio, Word::Small(1))),
    ));
    out.push((
        "generic-personality".into(),
        one(t(rules::op::NOP).with(Field::Personality, Word::Small(1))),
    ));
    let mut s = FuzzSqe::of(0);
    s.opcode = OpChoice::Raw(200);
    out.push(("generic-unknown-opcode".into(), one(s)));
    let mut skip = t(rules::op::NOP);
    skip.flags = rules::sqe_flags::CQE_SKIP_SUCCESS;
    let mut drain = t(rules::op::NOP);
    drain.flags = rules::sqe_flags::IO_DRAIN;
    out.push((
        "generic-drain-after-skip".into(),
        FuzzInput {
            sqes: vec![skip, drain],
        },
    ));
    // Batches and chains.
    let link = |mut s: FuzzSqe| {
        s.flags |= rules::sqe_flags::IO_LINK;
        s
    };
    out.push((
        "chain-write-fsync-read".into(),
        FuzzInput {
            sqes: vec![
                link(t(rules::op::WRITE)),
                link(t(rules::op::FSYNC)),
                t(rules::op::READ),
            ],
        },
    ));
    out.push((
        "chain-broken-by-prep".into(),
        FuzzInput {
            sqes: vec![
                link(t(rules::op::NOP)),
                link(t(rules::op::UNLINKAT).with(Field::Off, Word::Small(1))),
                t(rules::op::NOP),
            ],
        },
    ));
    out.push((
        "batch-paths".into(),
        FuzzInput {
            sqes: vec![
                t(rules::op::MKDIRAT),
                t(rules::op::SYMLINKAT),
                t(rules::op::RENAMEAT),
                t(rules::op::LINKAT),
                t(rules::op::STATX),
                t(rules::op::UNLINKAT),
            ],
        },
    ));
    out.push((
        "batch-pipe-splice-tee".into(),
        FuzzInput {
            sqes: vec![t(rules::op::SPLICE), t(rules::op::TEE), t(rules::op::PIPE)],
        },
    ));
    out.push((
        "read-empty-fifo".into(),
        one(t(rules::op::READ).with(Field::Fd, Word::Fd(7))),
    ));
    out.push((
        "read-guard".into(),
        one(t(rules::op::READ).with(Field::Addr, Word::Ptr(Ptr::Guard(0)))),
    ));
    out.push((
        "read-wild-kernel".into(),
        one(t(rules::op::READ).with(Field::Addr, Word::Ptr(Ptr::Wild(3)))),
    ));
    out.push((
        "read-rw-end".into(),
        one(t(rules::op::READ)
            .with(
                Field::Addr,
                Word::Ptr(Ptr::Rw {
                    offset: (RW_LEN - 8) as u32,
                    aligned: false,
                }),
            )
            .with(Field::Len, Word::Special(4))),
    ));
    out.push((
        "statx-null-path-empty".into(),
        one(t(rules::op::STATX)
            .with(Field::Addr, Word::Zero)
            .with(Field::OpFlags, Word::Special(13))),
    ));
    out.push((
        "close-closed-slot".into(),
        one(t(rules::op::CLOSE).with(Field::Fd, Word::Fd(9))),
    ));
    out.push((
        "openat-direct".into(),
        one(t(rules::op::OPENAT)
            .with(Field::OpFlags, Word::Zero)
            .with(Field::SpliceFdIn, Word::Small(12))),
    ));
    out.push((
        "all-opcodes".into(),
        FuzzInput {
            sqes: codes.iter().take(MAX_SQES).map(|&c| t(c)).collect(),
        },
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_probes_become_one_sqe_inputs() {
        let fallocate = rules::op::FALLOCATE;
        let input = probe_input("FALLOCATE:op_flags=0x10").expect("parses");
        assert_eq!(input.sqes.len(), 1);
        let t = template(fallocate).expect("a template");
        assert_eq!(input.sqes[0].get(Field::OpFlags), Word::Raw(16));
        assert_eq!(input.sqes[0].opcode, t.opcode);
        let flags = probe_input("fallocate:flags=128").expect("parses");
        assert_eq!(flags.sqes[0].flags, t.flags | 0x80);
        assert_eq!(probe_input("FALLOCATE:valid=0").expect("parses").sqes[0], t);
        for bad in [
            "FALLOCATE",
            "BOGUS:len=1",
            "FALLOCATE:nope=1",
            "FALLOCATE:len=x",
        ] {
            assert!(probe_input(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bytes_round_trip() {
        for (name, input) in seeds() {
            let b = input.to_bytes();
            assert_eq!(FuzzInput::from_bytes(&b), input, "{name}");
            assert!(b.len() <= 1 + MAX_SQES * RECORD_BYTES);
        }
        // Any bytes decode; short input reads as zeros.
        let i = FuzzInput::from_bytes(&[]);
        assert_eq!(i.sqes.len(), 1);
        let i = FuzzInput::from_bytes(&[7; 3000]);
        assert_eq!(i.sqes.len(), MAX_SQES);
        let i = FuzzInput::from_bytes(&[7; 2 + RECORD_BYTES]);
        assert_eq!(i.sqes.len(), 2);
    }

    #[test]
    fn every_mainline_opcode_has_a_template() {
        for r in rules::TABLE {
            if let Code::Mainline(n) = r.code {
                assert!(template(n).is_some(), "{}", r.name());
            }
        }
    }

    #[test]
    fn paths_are_safe() {
        for p in paths() {
            assert!(!p.starts_with(b"/"), "{p:?}");
            assert!(!p.windows(2).any(|w| w == b".."), "{p:?}");
            assert!(!p.contains(&0));
        }
    }
}
