//! The SQE validation table: for every io_uring opcode in scope, which fields of
//! the 64-byte SQE it reads and how, which must be zero and with which errno, which
//! flag bits are valid, and what the generic checks of `io_init_req` give. The
//! fuzzer (`sqefuzz::sqe_fuzz`) checks every completion against
//! [`allowed_results`].
//!
//! # Shape
//! One [`OpRules`] per opcode ([`TABLE`]): a map from each SQE [`Field`] to its
//! [`Rule`] (`Zero(errno)`, `Reads(role)`, `Ignored`, or version-dependent), the
//! ordered prep checks ([`Check`], in the kernel's order: the first failing one
//! decides the errno), the op's result range and the errnos it documents once
//! prep passed (where the result depends on the environment: files, pipes,
//! permissions). A unit test keeps the two views consistent: every `Zero` field is
//! checked by exactly one `Check::Zero`, and every field of every opcode has a rule.
//!
//! # Evaluation ([`allowed_results_in`])
//! 1. `io_init_req`: opcode >= IORING_OP_LAST: EINVAL; `sqe->flags` outside
//!    IOSQE_* (bit 7): EINVAL; BUFFER_SELECT on an op without buffer select:
//!    EOPNOTSUPP; IO_DRAIN once the ring saw a CQE_SKIP_SUCCESS (the ring's
//!    `drain_disabled`, sticky): EOPNOTSUPP; ioprio on an op without ioprio:
//!    EINVAL; an unregistered personality: EINVAL.
//! 2. The op's prep checks, in order. A check whose outcome depends on what the
//!    table cannot see (memory it is not told about) adds its errno to the set
//!    and evaluation goes on.
//! 3. Prep passed: the file lookup (EBADF, exact when the caller knows the
//!    descriptor is not open), then any result in the op's range or one of its
//!    documented errnos.
//!
//! Members of a linked chain may also complete with ECANCELED, and a request the
//! caller cancelled at its deadline with one of [`CANCELLED`]; the caller says so
//! in [`SqeContext`].
//!
//! # Sources
//! The kernel's io_uring/*.c prep functions, checked field by field on Linux 6.18
//! (`conformance/tests/sqe_fields.rs` sets every must-be-zero field of every
//! opcode to 1 in an otherwise valid SQE and requires the errno given here, and
//! every ignored field to change nothing). Where the kernel disagreed with
//! shared/notes/opcodes.md the kernel won; those rules say so in their text.

use crate::profile::Profile;
use std::collections::BTreeSet;
use std::fmt;

/// Errno values the table uses (x86_64/generic Linux).
pub mod errno {
    pub use crate::outcome::raw_errno::*;

    /// The symbolic name of an errno value, `E<n>` for others.
    pub fn name(e: i32) -> String {
        crate::Errno(e).name()
    }
}

use errno::*;

/// CQE results of a request cancelled while pending (IORING_OP_ASYNC_CANCEL):
/// -ECANCELED, -EINTR and the kernel-internal restart codes an io-wq worker
/// interrupted in a blocking call can leak (6.18: splice, tee, FIFO open).
pub const CANCELLED: [i32; 6] = [
    -ECANCELED,
    -EINTR,
    -ERESTARTSYS,
    -ERESTARTNOINTR,
    -ERESTARTNOHAND,
    -ERESTART_RESTARTBLOCK,
];

/// IOSQE_* bits of `sqe->flags` ([`crate::sqe::flags`]).
pub use crate::sqe::flags as sqe_flags;

/// `splice_flags` bit: `splice_fd_in` is a registered-file index.
pub use crate::sqe::SPLICE_F_FD_IN_FIXED;

/// IORING_OP_* numbers of the opcodes in the table.
pub use crate::opcode::{op, Proposed, ProposedNumbers};

/// The SQE and its fields: one type for the table, the encoder, the fuzzer
/// and the sweep ([`crate::sqe`]).
pub use crate::sqe::{Field, Sqe};

/// How long a memory operand is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Len {
    /// The value of a field (bytes).
    Field(Field),
    /// A fixed size (bytes).
    Fixed(u64),
}

/// What the kernel does with a file descriptor field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdUse {
    /// The file the op works on, looked up at issue (EBADF); with
    /// IOSQE_FIXED_FILE an index into the registered file table.
    File,
    /// A directory for a relative path (AT_FDCWD allowed); never a registered
    /// index (the op refuses IOSQE_FIXED_FILE).
    Dir,
    /// splice/tee's input, looked up at issue; a registered index when
    /// `op_flags` has SPLICE_F_FD_IN_FIXED.
    SpliceIn,
    /// The descriptor CLOSE closes (plain only).
    Close,
    /// NOP's descriptor, looked up only with IORING_NOP_FILE, in the table
    /// [`nop_fd_table`] says.
    Nop,
}

/// Which descriptor table a lookup uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdTable {
    /// The process's descriptor table.
    Plain,
    /// The ring's registered files.
    Registered,
    /// Either, depending on the kernel's patch level (see [`nop_fd_table`]).
    Either,
}

/// The table NOP's fd is looked up in (with IORING_NOP_FILE). With
/// IORING_NOP_FIXED_FILE in nop_flags: the registered files. With
/// IOSQE_FIXED_FILE alone, kernels differ by patch level, not by version:
/// io_nop chose by its own flag and took a plain reference that was never
/// dropped (a file leak) until "io_uring/nop: fix file reference leak with
/// IOSQE_FIXED_FILE" (June 2026, Cc stable), after which IOSQE_FIXED_FILE
/// selects the registered files as for every other opcode. 6.18.44 has the
/// fix (the sqe_fields fuzzer found the difference when the sandbox's
/// descriptors moved to low numbers).
pub fn nop_fd_table(sqe: &Sqe) -> FdTable {
    const NOP_FIXED_FILE: u32 = 4;
    if sqe.op_flags & NOP_FIXED_FILE != 0 {
        FdTable::Registered
    } else if sqe.flags & sqe_flags::FIXED_FILE != 0 {
        FdTable::Either
    } else {
        FdTable::Plain
    }
}

/// What the kernel does with a pointer field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mem {
    /// A NUL-terminated path, copied at prep (getname: EFAULT, ENOENT if empty
    /// unless allowed, ENAMETOOLONG).
    Path,
    /// An extended attribute name, copied at prep (ERANGE if empty or 256+ bytes).
    XattrName,
    /// Memory the kernel reads.
    Read(Len),
    /// Memory the kernel may write (up to this many bytes).
    Write(Len),
    /// An array of `struct iovec` (count in the field), whose buffers the kernel
    /// writes (`write`: READV) or reads (WRITEV).
    Iovecs {
        /// The field holding the number of iovecs.
        count: Field,
        /// True when the kernel writes into the buffers.
        write: bool,
    },
    /// The start of an address range whose mappings madvise changes (length in
    /// `len`, or in `off` from 6.11).
    Range,
}

/// What the kernel uses a field for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A file descriptor (see [`FdUse`]).
    Fd(FdUse),
    /// A pointer (see [`Mem`]).
    Ptr(Mem),
    /// A descriptor in a 32-bit non-fd field (RENAMEAT/LINKAT's new dirfd in `len`).
    DirFdInLen,
    /// A plain value: offset, length, mode, flags, ... (the text says which and
    /// what the kernel checks).
    Value(&'static str),
}

/// The rule for one field of one opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Never read: any value, same result.
    Ignored,
    /// Must be 0; anything else fails prep with this errno.
    Zero(i32),
    /// Read and used as the role says.
    Reads(Role),
    /// Checked by `io_init_req` for every opcode (personality).
    Generic(&'static str),
    /// `new` from kernel `since` on, `old` before.
    Since {
        /// (major, minor) of the change.
        since: (u32, u32),
        /// The rule from then on.
        new: &'static Rule,
        /// The rule before.
        old: &'static Rule,
    },
}

impl Rule {
    /// The rule in force on `kernel`.
    pub fn at(&self, kernel: (u32, u32)) -> Rule {
        match *self {
            Rule::Since { since, new, old } => {
                if kernel >= since {
                    new.at(kernel)
                } else {
                    old.at(kernel)
                }
            }
            r => r,
        }
    }
}

/// Named checks that do not fit the generic shapes; see [`Check::Special`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// rw ops: a non-zero ioprio goes through ioprio_check_cap (class 4..7, or
    /// class NONE with a level: EINVAL; class RT needs CAP_SYS_NICE: EPERM).
    IoprioCap,
    /// rw ops (6.14+): `attr_type_mask` (pad) must be 0 or
    /// IORING_RW_ATTR_FLAG_PI (1); with PI, the attribute at `addr3` is copied
    /// (EFAULT) and checked (EINVAL on 6.18 tmpfs).
    RwAttr,
    /// READ/WRITE: import_ubuf(addr, len) at prep: EFAULT when the range is not
    /// user space (access_ok), skipped with BUFFER_SELECT.
    ImportUbuf,
    /// READV/WRITEV: import_iovec at prep: more than UIO_MAXIOV (1024) iovecs:
    /// EINVAL; the array unreadable: EFAULT; a segment not in user space:
    /// EFAULT; with BUFFER_SELECT exactly one iovec (else EINVAL).
    ImportIovec,
    /// OPENAT/OPENAT2: a direct descriptor slot (`file_index`) with O_CLOEXEC:
    /// EINVAL.
    DirectCloexec,
    /// OPENAT2: `len` (sizeof open_how) below 24: EINVAL; copy_struct_from_user:
    /// EFAULT, E2BIG when bytes past the known struct are not zero.
    OpenHow,
    /// CLOSE: both a `file_index` and a non-zero `fd`: EINVAL.
    CloseSlotAndFd,
    /// FSYNC (6.18; "io_uring/sync: validate passed in offset"): a negative
    /// `off` (as loff_t) fails prep with EINVAL, before the file lookup.
    FsyncOffset,
    /// FSETXATTR/SETXATTR: setxattr_copy: flags beyond XATTR_CREATE|REPLACE:
    /// EINVAL, the name (ERANGE/EFAULT), a value over 64 KiB: E2BIG, the value
    /// unreadable: EFAULT.
    SetxattrCopy,
}

/// From this kernel on FGETXATTR and FSETXATTR take a registered file
/// (IOSQE_FIXED_FILE); before it their shared prep refused one with EBADF
/// before any other check (6.12's io_uring/xattr.c). The 6.13 xattr rework
/// (file_getxattr/file_setxattr, with the *xattrat system calls) kept the
/// refusal for the path forms only.
pub const XATTR_FIXED_FILES: (u32, u32) = (6, 13);

/// One prep check, in the kernel's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Every listed field whose rule is `Zero` at this kernel version must be 0.
    Zero(&'static [Field]),
    /// IOSQE_FIXED_FILE is refused: EBADF.
    NoFixedFile,
    /// IOSQE_FIXED_FILE is refused (EBADF) on kernels before this version,
    /// a registered index from then on.
    NoFixedFileBefore((u32, u32)),
    /// `field & !valid` must be 0, else `errno`.
    Flags {
        /// The field.
        field: Field,
        /// The valid bits.
        valid: u64,
        /// The errno for others.
        errno: i32,
    },
    /// As [`Check::Flags`], with the valid bits depending on the kernel
    /// version: each `(since, valid)` step applies from `since` on (the steps
    /// ascending; the first applies to every older kernel too).
    FlagsByVersion {
        /// The field.
        field: Field,
        /// The valid bits from each version on.
        steps: &'static [((u32, u32), u64)],
        /// The errno for others.
        errno: i32,
    },
    /// A path copied at prep: EFAULT if unreadable, ENOENT if empty unless
    /// `empty_ok` bits are set in `op_flags` (AT_EMPTY_PATH), ENAMETOOLONG at
    /// 4096 bytes.
    Path {
        /// The pointer field.
        field: Field,
        /// `op_flags` bits that allow an empty path.
        empty_ok: u32,
    },
    /// An xattr name copied at prep: EFAULT, ERANGE (empty or 256+ bytes).
    XattrName(Field),
    /// A check of its own (see [`Special`]).
    Special(Special),
}

impl Check {
    /// For a flags-word check ([`Check::Flags`], [`Check::FlagsByVersion`]):
    /// the field, its valid bits on `kernel` and the errno for the others.
    pub fn flags_at(&self, kernel: (u32, u32)) -> Option<(Field, u64, i32)> {
        match *self {
            Check::Flags {
                field,
                valid,
                errno,
            } => Some((field, valid, errno)),
            Check::FlagsByVersion {
                field,
                steps,
                errno,
            } => {
                let valid = steps
                    .iter()
                    .take_while(|(since, _)| *since <= kernel)
                    .last()
                    .or(steps.first())
                    .map_or(0, |&(_, v)| v);
                Some((field, valid, errno))
            }
            _ => None,
        }
    }
}

/// The results an op gives once prep passed and it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Res {
    /// 0.
    Zero,
    /// 0..=value of the field (a byte count), capped at MAX_RW_COUNT.
    UpTo(Field),
    /// 0..=this many.
    UpToConst(i64),
    /// A new descriptor (>= 0), or with a direct slot 0 / the allocated slot.
    Fd,
    /// NOP: 0, or `len` as i32 with IORING_NOP_INJECT_RESULT.
    Nop,
}

/// Which opcode number an entry has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// A mainline IORING_OP_* number.
    Mainline(u8),
    /// A proposed opcode without a mainline number: its number comes from
    /// [`Proposed`].
    Proposed(Proposed),
}

/// The rules of one opcode.
#[derive(Debug, Clone, Copy)]
pub struct OpRules {
    /// Its number.
    pub code: Code,
    /// First kernel with the opcode.
    pub since: (u32, u32),
    /// Whether it takes a non-zero ioprio (`io_issue_def.ioprio`).
    pub ioprio: bool,
    /// Whether IOSQE_BUFFER_SELECT is allowed (`io_issue_def.buffer_select`).
    pub buffer_select: bool,
    /// Whether the kernel looks up `fd` before issue (`io_issue_def.needs_file`).
    pub needs_file: bool,
    /// Every field's rule.
    pub fields: &'static [(Field, Rule)],
    /// The prep checks, in order.
    pub prep: &'static [Check],
    /// The results after a successful prep.
    pub res: Res,
    /// The errnos the op can give once prep passed (environment-dependent).
    pub errnos: &'static [i32],
    /// True when the op can wait indefinitely for another party (pipe, FIFO):
    /// pending at a deadline is then an ordinary outcome.
    pub may_block: bool,
    /// What the entry's text says about its sources and any disagreement with
    /// shared/notes/opcodes.md.
    pub note: &'static str,
}

impl OpRules {
    /// The rule for `field` on `kernel`.
    pub fn rule(&self, field: Field, kernel: (u32, u32)) -> Rule {
        self.fields
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, r)| r.at(kernel))
            .unwrap_or(Rule::Ignored)
    }

    /// The fields that must be zero on `kernel`, with their errno.
    pub fn must_be_zero(&self, kernel: (u32, u32)) -> Vec<(Field, i32)> {
        Field::ALL
            .iter()
            .filter_map(|&f| match self.rule(f, kernel) {
                Rule::Zero(e) => Some((f, e)),
                _ => None,
            })
            .collect()
    }

    /// The IORING_OP_ name without the prefix ("SPLICE"), from the opcode table.
    pub fn name(&self) -> &'static str {
        match self.code {
            Code::Mainline(n) => crate::opcode::name(n).unwrap_or("?"),
            Code::Proposed(p) => p.uapi_name(),
        }
    }

    /// The opcode number, given the proposed numbers (None: not configured).
    pub fn number(&self, proposed: &ProposedNumbers) -> Option<u8> {
        match self.code {
            Code::Mainline(n) => Some(n),
            Code::Proposed(p) => proposed.number(p),
        }
    }
}

/// The kernel facts [`allowed_results`] needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RingProfile {
    /// (major, minor), from [`Profile::kernel`].
    pub kernel: (u32, u32),
    /// IORING_OP_LAST - 1 (from IORING_REGISTER_PROBE; [`RingProfile::from_profile`]
    /// derives it from the table).
    pub last_op: u8,
    /// Proposed opcode numbers of a patched kernel.
    pub proposed: ProposedNumbers,
    /// The highest user address + 1 (access_ok); x86_64 with 4-level paging.
    pub task_size: u64,
}

/// x86_64 TASK_SIZE_MAX with 4-level page tables.
pub const TASK_SIZE_4LEVEL: u64 = (1 << 47) - 4096;

/// The largest count a read or write transfers, as a result value.
const MAX_RW_COUNT: i64 = crate::limits::MAX_RW_COUNT as i64;

impl RingProfile {
    /// The ring profile of a model profile: its kernel version, `last_op` the
    /// highest mainline opcode of the table available then (62 on 6.16+), no
    /// proposed opcodes.
    pub fn from_profile(p: &Profile) -> RingProfile {
        let last_op = TABLE
            .iter()
            .filter(|r| p.kernel >= r.since)
            .filter_map(|r| match r.code {
                Code::Mainline(n) => Some(n),
                Code::Proposed(_) => None,
            })
            .max()
            .unwrap_or(0);
        RingProfile {
            kernel: p.kernel,
            last_op,
            proposed: ProposedNumbers::NONE,
            task_size: TASK_SIZE_4LEVEL,
        }
    }
}

/// What the caller knows about a descriptor operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FdState {
    /// Open (or an occupied registered slot).
    Open,
    /// Certainly not open (or an empty / out-of-range registered slot).
    Closed,
    /// Unknown (another request of the batch may close or fill it).
    #[default]
    Unknown,
}

/// What the table needs to know about the submitter's memory. The harness
/// answers from its arena layout; the model never touches memory.
pub trait Memory {
    /// Whether `[addr, addr + len)` is readable: Some(true/false), None unknown.
    fn readable(&self, addr: u64, len: u64) -> Option<bool>;
    /// The length of the NUL-terminated string at `addr` (Ok), Err(()) if it
    /// faults before its NUL, None unknown.
    fn c_str_len(&self, addr: u64) -> Option<Result<u64, ()>>;
    /// The bytes of `[addr, addr + len)`, if known and readable.
    fn bytes(&self, addr: u64, len: u64) -> Option<Vec<u8>>;
    /// How many of the `len` bytes from `addr` are readable before the first
    /// fault (`len` if all), None unknown.
    fn readable_prefix(&self, addr: u64, len: u64) -> Option<u64>;
}

/// A [`Memory`] that knows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnknownMemory;

impl Memory for UnknownMemory {
    fn readable(&self, _: u64, _: u64) -> Option<bool> {
        None
    }
    fn c_str_len(&self, _: u64) -> Option<Result<u64, ()>> {
        None
    }
    fn bytes(&self, _: u64, _: u64) -> Option<Vec<u8>> {
        None
    }
    fn readable_prefix(&self, _: u64, _: u64) -> Option<u64> {
        None
    }
}

/// The context of one SQE in its submission.
pub struct SqeContext<'a> {
    /// The ring's `drain_disabled` when this SQE is initialised: an earlier SQE
    /// (of this or an earlier submission) had IOSQE_CQE_SKIP_SUCCESS and passed
    /// the flag checks ([`disables_drain`]).
    pub drain_disabled: bool,
    /// The SQE belongs to a linked chain of two or more requests: it may be
    /// cancelled (ECANCELED) by another member's failure.
    pub in_chain: bool,
    /// The request was cancelled by the caller at its deadline.
    pub cancelled: bool,
    /// Registered personalities (none in the fuzzer).
    pub personalities: &'a [u16],
    /// The state of the `fd` operand as the op would look it up (plain or
    /// registered per IOSQE_FIXED_FILE).
    pub fd: FdState,
    /// The caller's memory.
    pub mem: &'a dyn Memory,
}

impl Default for SqeContext<'_> {
    fn default() -> Self {
        SqeContext {
            drain_disabled: false,
            in_chain: false,
            cancelled: false,
            personalities: &[],
            fd: FdState::Unknown,
            mem: &UnknownMemory,
        }
    }
}

/// The set of results the kernel may post for an SQE.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AllowedSet {
    /// Exact values allowed (negated errnos, or exact results).
    pub values: BTreeSet<i32>,
    /// An allowed non-negative range (inclusive), if any.
    pub range: Option<(i64, i64)>,
    /// The SQE's prep fails for certain (the result is one of `values`, all
    /// errors): no effect on anything.
    pub rejected: bool,
    /// Why: the rule that decided, for reports.
    pub why: String,
}

impl AllowedSet {
    /// Whether `res` is allowed.
    pub fn allows(&self, res: i32) -> bool {
        self.values.contains(&res)
            || self
                .range
                .is_some_and(|(lo, hi)| (res as i64) >= lo && (res as i64) <= hi)
    }

    /// Whether a successful (non-negative) result is possible.
    pub fn may_succeed(&self) -> bool {
        self.range.is_some() || self.values.iter().any(|&v| v >= 0)
    }

    fn error(e: i32, why: String) -> AllowedSet {
        AllowedSet {
            values: [-e].into(),
            range: None,
            rejected: true,
            why,
        }
    }

    fn add_errno(&mut self, e: i32) {
        self.values.insert(-e);
    }
}

impl fmt::Display for AllowedSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some((lo, hi)) = self.range {
            parts.push(format!("{lo}..={hi}"));
        }
        for &v in &self.values {
            parts.push(if v < 0 {
                format!("-{}", name(-v))
            } else {
                v.to_string()
            });
        }
        write!(f, "{{{}}} ({})", parts.join(", "), self.why)
    }
}

/// One line per table entry on `kernel`: name, number, must-be-zero fields (with
/// errno), fields read, fields ignored, prep checks, documented errnos.
pub fn summary(kernel: (u32, u32)) -> String {
    let mut out = String::new();
    for r in TABLE {
        let mut zero = vec![];
        let mut reads = vec![];
        let mut ignored = vec![];
        for f in Field::ALL {
            match r.rule(f, kernel) {
                Rule::Zero(e) => zero.push(format!("{f}:{}", name(e))),
                Rule::Reads(_) | Rule::Generic(_) => reads.push(f.name()),
                Rule::Ignored => ignored.push(f.name()),
                Rule::Since { .. } => unreachable!("resolved by rule()"),
            }
        }
        let code = match r.code {
            Code::Mainline(n) => n.to_string(),
            Code::Proposed(_) => "proposed".into(),
        };
        out += &format!(
            "{:16} {:>8}  zero {:2} [{}]  reads {:2}  ignored {:2} [{}]  prep checks {}  errnos {}\n",
            r.name(),
            code,
            zero.len(),
            zero.join(" "),
            reads.len(),
            ignored.len(),
            ignored.join(" "),
            r.prep.len(),
            r.errnos.len()
        );
    }
    out
}

/// The table entry of opcode number `code` on this profile (mainline numbers up
/// to `last_op` available since the entry's version, and the configured proposed
/// numbers).
pub fn rules_for(profile: &RingProfile, code: u8) -> Option<&'static OpRules> {
    TABLE.iter().find(|r| match r.code {
        Code::Mainline(n) => n == code && profile.kernel >= r.since && n <= profile.last_op,
        Code::Proposed(p) => profile.proposed.number(p) == Some(code),
    })
}

/// Whether this SQE sets the ring's `drain_disabled` when initialised: a known
/// opcode, valid flags including CQE_SKIP_SUCCESS, and no BUFFER_SELECT refusal
/// before it.
pub fn disables_drain(profile: &RingProfile, sqe: &Sqe) -> bool {
    if sqe.opcode > profile.last_op && rules_for(profile, sqe.opcode).is_none() {
        return false;
    }
    if sqe.flags & !sqe_flags::VALID != 0 || sqe.flags & sqe_flags::CQE_SKIP_SUCCESS == 0 {
        return false;
    }
    if sqe.flags & sqe_flags::BUFFER_SELECT != 0 {
        if let Some(r) = rules_for(profile, sqe.opcode) {
            return r.buffer_select;
        }
        return false;
    }
    true
}

/// [`allowed_results_in`] with a [`Profile`] and nothing known about the context
/// (unknown memory and descriptors, not in a chain, drain enabled).
pub fn allowed_results(profile: &Profile, sqe: &Sqe) -> AllowedSet {
    allowed_results_in(
        &RingProfile::from_profile(profile),
        sqe,
        &SqeContext::default(),
    )
}

/// The results the kernel may post for `sqe` in `ctx` (see the module
/// documentation). Opcodes below IORING_OP_LAST that the table does not cover
/// allow anything (`why` says so): the fuzzer never sends them.
pub fn allowed_results_in(profile: &RingProfile, sqe: &Sqe, ctx: &SqeContext<'_>) -> AllowedSet {
    let mut set = evaluate(profile, sqe, ctx);
    if ctx.in_chain && !set.rejected {
        set.add_errno(ECANCELED);
        set.why += "; or cancelled with its chain";
    }
    if ctx.cancelled {
        for v in CANCELLED {
            set.values.insert(v);
        }
        set.rejected = false;
        set.why += "; cancelled at the deadline";
    }
    set
}

/// The prep result of a check: passes, fails for certain, or may fail.
enum Verdict {
    Pass,
    Fail(i32, String),
    Maybe(i32, String),
    /// May fail with any of these.
    MaybeSet(&'static [i32], String),
}

fn evaluate(profile: &RingProfile, sqe: &Sqe, ctx: &SqeContext<'_>) -> AllowedSet {
    let Some(r) = rules_for(profile, sqe.opcode) else {
        if sqe.opcode > profile.last_op {
            return AllowedSet::error(EINVAL, format!("opcode {} >= IORING_OP_LAST", sqe.opcode));
        }
        return AllowedSet {
            values: BTreeSet::new(),
            range: Some((i32::MIN as i64, i32::MAX as i64)),
            rejected: false,
            why: format!("opcode {} is not in the table", sqe.opcode),
        };
    };
    // io_init_req.
    let fl = sqe.flags;
    if fl & !sqe_flags::VALID != 0 {
        return AllowedSet::error(EINVAL, "sqe->flags bit 7 (not an IOSQE_* flag)".into());
    }
    if fl & sqe_flags::BUFFER_SELECT != 0 && !r.buffer_select {
        return AllowedSet::error(EOPNOTSUPP, format!("IOSQE_BUFFER_SELECT on {}", r.name()));
    }
    let drain_disabled = ctx.drain_disabled || fl & sqe_flags::CQE_SKIP_SUCCESS != 0;
    if fl & sqe_flags::IO_DRAIN != 0 && drain_disabled {
        return AllowedSet::error(
            EOPNOTSUPP,
            "IOSQE_IO_DRAIN after IOSQE_CQE_SKIP_SUCCESS on this ring".into(),
        );
    }
    if sqe.ioprio != 0 && !r.ioprio {
        return AllowedSet::error(EINVAL, format!("ioprio on {} (no ioprio)", r.name()));
    }
    if sqe.personality != 0 && !ctx.personalities.contains(&sqe.personality) {
        return AllowedSet::error(EINVAL, format!("unknown personality {}", sqe.personality));
    }
    // Prep.
    let mut maybe: Vec<(i32, String)> = Vec::new();
    for check in r.prep {
        match run_check(profile, r, check, sqe, ctx) {
            Verdict::Pass => {}
            Verdict::Fail(e, why) => {
                if maybe.is_empty() {
                    return AllowedSet::error(e, format!("{}: {why}", r.name()));
                }
                // An earlier uncertain check may fail first.
                let mut s = AllowedSet::error(e, format!("{}: {why}", r.name()));
                for (e, w) in maybe {
                    s.add_errno(e);
                    s.why += &format!(", or {w}");
                }
                return s;
            }
            Verdict::Maybe(e, why) => maybe.push((e, why)),
            Verdict::MaybeSet(es, why) => {
                for &e in es {
                    maybe.push((e, why.clone()));
                }
            }
        }
    }
    // Issue.
    let mut set = AllowedSet {
        why: format!("{}: passes prep", r.name()),
        ..AllowedSet::default()
    };
    for (e, w) in &maybe {
        set.add_errno(*e);
        set.why += &format!(", or {w}");
    }
    if r.needs_file && ctx.fd == FdState::Closed && maybe.is_empty() {
        return AllowedSet {
            values: [-EBADF].into(),
            range: None,
            rejected: false,
            why: format!("{}: the file is not open (EBADF at issue)", r.name()),
        };
    }
    match r.res {
        Res::Zero => set.range = Some((0, 0)),
        Res::UpTo(f) => set.range = Some((0, (sqe.get(f) as i64).min(MAX_RW_COUNT))),
        Res::UpToConst(n) => set.range = Some((0, n)),
        Res::Fd => set.range = Some((0, i32::MAX as i64)),
        Res::Nop => return nop_result(sqe, ctx, set),
    }
    for &e in r.errnos {
        set.add_errno(e);
    }
    set
}

/// NOP (6.18): IORING_NOP_FILE looks the descriptor up (EBADF), then
/// IORING_NOP_FIXED_BUFFER looks a registered buffer up (none: EFAULT), else
/// the injected result (`len`) or 0.
fn nop_result(sqe: &Sqe, ctx: &SqeContext<'_>, mut set: AllowedSet) -> AllowedSet {
    const INJECT: u32 = 1;
    const FILE: u32 = 2;
    const FIXED_BUFFER: u32 = 8;
    let ok = if sqe.op_flags & INJECT != 0 {
        sqe.len as i32
    } else {
        0
    };
    let ok = if sqe.op_flags & FIXED_BUFFER != 0 {
        -EFAULT
    } else {
        ok
    };
    if sqe.op_flags & FILE != 0 {
        match ctx.fd {
            FdState::Closed => {
                set.values.insert(-EBADF);
                return set;
            }
            FdState::Unknown => {
                set.values.insert(-EBADF);
            }
            FdState::Open => {}
        }
    }
    set.values.insert(ok);
    set
}

fn run_check(
    profile: &RingProfile,
    r: &OpRules,
    check: &Check,
    sqe: &Sqe,
    ctx: &SqeContext<'_>,
) -> Verdict {
    let kernel = profile.kernel;
    match *check {
        Check::Zero(fields) => {
            for &f in fields {
                if let Rule::Zero(e) = r.rule(f, kernel) {
                    if sqe.get(f) != 0 {
                        return Verdict::Fail(e, format!("{f} must be 0"));
                    }
                }
            }
            Verdict::Pass
        }
        Check::NoFixedFileBefore(until) if kernel >= until => Verdict::Pass,
        Check::NoFixedFile | Check::NoFixedFileBefore(_) => {
            if sqe.flags & sqe_flags::FIXED_FILE != 0 {
                Verdict::Fail(EBADF, "IOSQE_FIXED_FILE is refused".into())
            } else {
                Verdict::Pass
            }
        }
        Check::Flags { .. } | Check::FlagsByVersion { .. } => {
            let (field, valid, errno) = check.flags_at(kernel).expect("a flags check");
            if sqe.get(field) & !valid != 0 {
                Verdict::Fail(errno, format!("{field} bits outside {valid:#x}"))
            } else {
                Verdict::Pass
            }
        }
        Check::Path { field, empty_ok } => {
            let p = sqe.get(field);
            match c_str(profile, ctx, p) {
                None => Verdict::MaybeSet(
                    &[EFAULT, ENOENT, ENAMETOOLONG],
                    format!("{field}: path unknown"),
                ),
                Some(Err(())) => Verdict::Fail(EFAULT, format!("{field}: path unreadable")),
                Some(Ok(0)) if sqe.op_flags & empty_ok == 0 || empty_ok == 0 => {
                    Verdict::Fail(ENOENT, format!("{field}: empty path"))
                }
                Some(Ok(n)) if n >= 4096 => {
                    Verdict::Fail(ENAMETOOLONG, format!("{field}: path of {n} bytes"))
                }
                Some(Ok(_)) => Verdict::Pass,
            }
        }
        Check::XattrName(field) => xattr_name(profile, ctx, sqe.get(field)),
        Check::Special(s) => special(profile, r, s, sqe, ctx),
    }
}

fn user(profile: &RingProfile, addr: u64, len: u64) -> Option<bool> {
    // access_ok: the range lies below TASK_SIZE (ambiguous within a page of it).
    let Some(end) = addr.checked_add(len) else {
        return Some(false);
    };
    if end <= profile.task_size {
        Some(true)
    } else if addr > profile.task_size + 4096 {
        Some(false)
    } else {
        None
    }
}

fn c_str(profile: &RingProfile, ctx: &SqeContext<'_>, p: u64) -> Option<Result<u64, ()>> {
    if p == 0 || user(profile, p, 1) == Some(false) {
        return Some(Err(()));
    }
    ctx.mem.c_str_len(p)
}

fn readable(profile: &RingProfile, ctx: &SqeContext<'_>, p: u64, len: u64) -> Option<bool> {
    if len == 0 {
        return Some(true);
    }
    if p == 0 || user(profile, p, len) == Some(false) {
        return Some(false);
    }
    ctx.mem.readable(p, len)
}

fn xattr_name(profile: &RingProfile, ctx: &SqeContext<'_>, p: u64) -> Verdict {
    match c_str(profile, ctx, p) {
        None => Verdict::MaybeSet(&[EFAULT, ERANGE], "xattr name unknown".into()),
        Some(Err(())) => Verdict::Fail(EFAULT, "xattr name unreadable".into()),
        Some(Ok(0)) => Verdict::Fail(ERANGE, "empty xattr name".into()),
        Some(Ok(n)) if n >= 255 => Verdict::Fail(ERANGE, format!("xattr name of {n} bytes")),
        Some(Ok(_)) => Verdict::Pass,
    }
}

fn special(
    profile: &RingProfile,
    r: &OpRules,
    s: Special,
    sqe: &Sqe,
    ctx: &SqeContext<'_>,
) -> Verdict {
    let buffer_select = sqe.flags & sqe_flags::BUFFER_SELECT != 0;
    match s {
        Special::IoprioCap => {
            let io = sqe.ioprio;
            if io == 0 {
                return Verdict::Pass;
            }
            let class = io >> 13;
            let level = io & 7;
            match class {
                0 if level != 0 => Verdict::Fail(EINVAL, "ioprio class NONE with a level".into()),
                0 | 2 | 3 => Verdict::Maybe(EINVAL, "ioprio hint bits".into()),
                1 => Verdict::Maybe(EPERM, "ioprio class RT needs CAP_SYS_NICE".into()),
                _ => Verdict::Fail(EINVAL, format!("ioprio class {class}")),
            }
        }
        Special::RwAttr => {
            if profile.kernel < (6, 14) {
                return Verdict::Pass;
            }
            match sqe.pad {
                0 => Verdict::Pass,
                // The attribute is copied (EFAULT), its buffer imported
                // (EFAULT) and checked (EINVAL); what passes depends on its content.
                1 => match readable(profile, ctx, sqe.addr3, 32) {
                    Some(false) => Verdict::Fail(EFAULT, "PI attribute at addr3 unreadable".into()),
                    _ => Verdict::MaybeSet(
                        &[EINVAL, EFAULT],
                        "PI attribute (EINVAL or EFAULT)".into(),
                    ),
                },
                m => Verdict::Fail(EINVAL, format!("attr_type_mask (pad) {m:#x}")),
            }
        }
        Special::ImportUbuf => {
            if buffer_select {
                return Verdict::Pass;
            }
            let len = (sqe.len as u64).min(MAX_RW_COUNT as u64);
            match user(profile, sqe.addr, len) {
                Some(false) => Verdict::Fail(EFAULT, "buffer not in user space".into()),
                None => Verdict::Maybe(EFAULT, "buffer at the end of user space".into()),
                Some(true) => Verdict::Pass,
            }
        }
        Special::ImportIovec => {
            let n = sqe.len as u64;
            if buffer_select {
                if n != 1 {
                    return Verdict::Fail(EINVAL, "BUFFER_SELECT needs exactly one iovec".into());
                }
                return match readable(profile, ctx, sqe.addr, 16) {
                    Some(true) => Verdict::Pass,
                    Some(false) => Verdict::Fail(EFAULT, "iovec unreadable".into()),
                    None => Verdict::MaybeSet(&[EFAULT, EINVAL], "iovec unknown".into()),
                };
            }
            if n > 1024 {
                return Verdict::Fail(EINVAL, format!("{n} iovecs > UIO_MAXIOV"));
            }
            if n == 0 {
                return Verdict::Pass;
            }
            // The array is read entry by entry (a negative iov_len: EINVAL, a
            // fault: EFAULT), then every segment checked with access_ok on its
            // unclamped length.
            if sqe.addr == 0 || user(profile, sqe.addr, n * 16) == Some(false) {
                return Verdict::Fail(EFAULT, "iovec array not in user space".into());
            }
            let Some(prefix) = ctx.mem.readable_prefix(sqe.addr, n * 16) else {
                return Verdict::MaybeSet(&[EFAULT, EINVAL], "iovec array unknown".into());
            };
            let whole = prefix / 16 * 16;
            let Some(bytes) = ctx.mem.bytes(sqe.addr, whole) else {
                return Verdict::MaybeSet(&[EFAULT, EINVAL], "iovec array unknown".into());
            };
            let segs: Vec<(u64, u64)> = bytes
                .chunks_exact(16)
                .map(|seg| {
                    (
                        u64::from_ne_bytes(seg[..8].try_into().expect("8")),
                        u64::from_ne_bytes(seg[8..].try_into().expect("8")),
                    )
                })
                .collect();
            if segs.iter().any(|&(_, len)| len > i64::MAX as u64) {
                return Verdict::Fail(EINVAL, "iov_len > SSIZE_MAX".into());
            }
            if whole < n * 16 {
                return Verdict::Fail(EFAULT, "iovec array runs into unreadable memory".into());
            }
            for (base, len) in segs {
                match user(profile, base, len) {
                    Some(false) => {
                        return Verdict::Fail(EFAULT, "iovec segment not in user space".into())
                    }
                    None => {
                        return Verdict::Maybe(
                            EFAULT,
                            "iovec segment at the end of user space".into(),
                        )
                    }
                    Some(true) => {}
                }
            }
            Verdict::Pass
        }
        Special::DirectCloexec => {
            let flags = if r.code == Code::Mainline(op::OPENAT2) {
                match ctx.mem.bytes(sqe.off, 8) {
                    Some(b) => u64::from_ne_bytes(b[..8].try_into().expect("8")),
                    None => {
                        return if sqe.splice_fd_in != 0 {
                            Verdict::Maybe(
                                EINVAL,
                                "file_index with O_CLOEXEC (open_how unknown)".into(),
                            )
                        } else {
                            Verdict::Pass
                        }
                    }
                }
            } else {
                sqe.op_flags as u64
            };
            if sqe.splice_fd_in != 0 && flags & 0o2000000 != 0 {
                Verdict::Fail(EINVAL, "file_index with O_CLOEXEC".into())
            } else {
                Verdict::Pass
            }
        }
        Special::OpenHow => {
            let len = sqe.len as u64;
            if len < 24 {
                return Verdict::Fail(EINVAL, format!("open_how size {len} < 24"));
            }
            // copy_struct_from_user: access_ok of the whole range, then the tail
            // past the known 24 bytes is read word by word (a non-zero byte:
            // E2BIG, a fault: EFAULT), then the struct itself is copied.
            if sqe.off == 0 || user(profile, sqe.off, len) == Some(false) {
                return Verdict::Fail(EFAULT, "open_how not in user space".into());
            }
            let Some(prefix) = ctx.mem.readable_prefix(sqe.off, len) else {
                return Verdict::MaybeSet(&[EFAULT, E2BIG], "open_how unknown".into());
            };
            if len > 24 && prefix > 24 {
                match ctx.mem.bytes(sqe.off + 24, prefix - 24) {
                    Some(b) => {
                        if b.iter().any(|&x| x != 0) {
                            return Verdict::Fail(E2BIG, "open_how tail not zero".into());
                        }
                    }
                    None if prefix < len => {
                        return Verdict::MaybeSet(&[E2BIG, EFAULT], "open_how tail unknown".into())
                    }
                    None => {
                        return Verdict::MaybeSet(&[E2BIG, EFAULT], "open_how tail unknown".into())
                    }
                }
            }
            if prefix < len {
                return Verdict::Fail(EFAULT, "open_how runs into unreadable memory".into());
            }
            Verdict::Pass
        }
        Special::FsyncOffset => {
            if (sqe.off as i64) < 0 {
                Verdict::Fail(EINVAL, "negative offset".into())
            } else {
                Verdict::Pass
            }
        }
        Special::CloseSlotAndFd => {
            if sqe.splice_fd_in != 0 && sqe.fd != 0 {
                Verdict::Fail(EINVAL, "both file_index and fd".into())
            } else {
                Verdict::Pass
            }
        }
        Special::SetxattrCopy => {
            if sqe.op_flags & !3 != 0 {
                return Verdict::Fail(EINVAL, "xattr flags beyond CREATE|REPLACE".into());
            }
            match xattr_name(profile, ctx, sqe.addr) {
                Verdict::Pass => {}
                v => return v,
            }
            let size = sqe.len as u64;
            if size > 65536 {
                return Verdict::Fail(E2BIG, format!("xattr value of {size} bytes"));
            }
            match readable(profile, ctx, sqe.off, size) {
                Some(true) => Verdict::Pass,
                Some(false) => Verdict::Fail(EFAULT, "xattr value unreadable".into()),
                None => Verdict::Maybe(EFAULT, "xattr value unknown".into()),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The table.

use Field::*;

const fn z() -> Rule {
    Rule::Zero(EINVAL)
}
const fn v(s: &'static str) -> Rule {
    Rule::Reads(Role::Value(s))
}
const FILE: Rule = Rule::Reads(Role::Fd(FdUse::File));
const DIRFD: Rule = Rule::Reads(Role::Fd(FdUse::Dir));
const PATH: Rule = Rule::Reads(Role::Ptr(Mem::Path));
const PERSONALITY: Rule = Rule::Generic("registered credentials id; unknown: EINVAL (io_init_req)");
const NO_IOPRIO: Rule = Rule::Zero(EINVAL);

/// Errnos of every path lookup.
macro_rules! path_errnos {
    ($($e:expr),* $(,)?) => {
        &[EBADF, ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG, EACCES, EPERM, ENOMEM, EFAULT, $($e),*]
    };
}

const RW_ERRNOS: &[i32] = &[
    EBADF, EFAULT, EINVAL, EOPNOTSUPP, EAGAIN, EISDIR, EINTR, ENOBUFS, EPIPE, EFBIG, ENOSPC,
    EOVERFLOW, ESPIPE, EIO, ENOMEM, ENXIO, EPERM, ETXTBSY, EDQUOT,
];

const RW_PREP: &[Check] = &[
    Check::Special(Special::IoprioCap),
    Check::Special(Special::RwAttr),
    Check::Special(Special::ImportUbuf),
];
const RWV_PREP: &[Check] = &[
    Check::Special(Special::IoprioCap),
    Check::Special(Special::RwAttr),
    Check::Special(Special::ImportIovec),
];

const PAD_ATTR: Rule = Rule::Since {
    since: (6, 14),
    new: &v("attr_type_mask: 0 or IORING_RW_ATTR_FLAG_PI (1); else EINVAL"),
    old: &Rule::Ignored,
};
const ADDR3_ATTR: Rule = Rule::Since {
    since: (6, 14),
    new: &Rule::Reads(Role::Ptr(Mem::Read(Len::Fixed(32)))),
    old: &Rule::Ignored,
};
const WRITE_STREAM: Rule = Rule::Since {
    since: (6, 16),
    new: &v("write_stream (low byte); ignored by files without streams"),
    old: &Rule::Ignored,
};

const RW_NOTE: &str = "__io_prep_rw: ioprio_check_cap, attr_type_mask (pad) 0 or PI, buffer \
    imported at prep (EFAULT for a kernel address even with a bad fd); buf_index is read \
    (buffer group) but only used with BUFFER_SELECT; rw_flags are checked at issue \
    (RWF_HIPRI: EINVAL without IOPOLL, unknown bits: EOPNOTSUPP).";

/// The table: every opcode in scope.
pub const TABLE: &[OpRules] = &[
    OpRules {
        code: Code::Mainline(op::NOP),
        since: (5, 1),
        ioprio: false,
        buffer_select: false,
        needs_file: false,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, Rule::Reads(Role::Fd(FdUse::Nop))),
            (Off, Rule::Ignored),
            (Addr, Rule::Ignored),
            (Len, v("result to inject with IORING_NOP_INJECT_RESULT")),
            (
                OpFlags,
                v("nop_flags: INJECT_RESULT 1, FILE 2, FIXED_FILE 4, FIXED_BUFFER 8, TW 16"),
            ),
            (
                BufIndex,
                v("registered buffer with IORING_NOP_FIXED_BUFFER"),
            ),
            (Personality, PERSONALITY),
            (SpliceFdIn, Rule::Ignored),
            (Addr3, Rule::Ignored),
            (Pad, Rule::Ignored),
        ],
        prep: &[Check::FlagsByVersion {
            field: OpFlags,
            steps: &[((5, 1), 0), ((6, 10), 0x1), ((6, 13), 0xf), ((6, 17), 0x1f)],
            errno: EINVAL,
        }],
        res: Res::Nop,
        errnos: &[],
        may_block: false,
        note: "nop_flags beyond the kernel's NOP flags: EINVAL (6.18: 0x1f; 6.12: \
               INJECT_RESULT only; 6.1: none, every bit EINVAL: \"io_uring: fail NOP if \
               non-zero op flags is passed in\", 2024, in stable; found by the SQE sweep on \
               Debian 6.1 and 6.12, where the table had 0x1f for every version). FILE, \
               FIXED_FILE, FIXED_BUFFER from 6.13 and TW from 6.17 are from the dates of \
               their patches, not checked on those kernels. NOP_FILE with a bad fd: EBADF; \
               NOP_FIXED_BUFFER without registered buffers: EFAULT; INJECT_RESULT posts \
               len as the result, any i32 (not in opcodes.md).",
    },
    OpRules {
        code: Code::Mainline(op::READV),
        since: (5, 1),
        ioprio: true,
        buffer_select: true,
        needs_file: true,
        fields: &[
            (Ioprio, v("I/O priority (ioprio_check_cap)")),
            (Fd, FILE),
            (Off, v("offset; -1 = file position")),
            (
                Addr,
                Rule::Reads(Role::Ptr(Mem::Iovecs {
                    count: Len,
                    write: true,
                })),
            ),
            (Len, v("number of iovecs (<= 1024; 1 with BUFFER_SELECT)")),
            (OpFlags, v("rw_flags (RWF_*, checked at issue)")),
            (BufIndex, v("buffer group with BUFFER_SELECT")),
            (Personality, PERSONALITY),
            (SpliceFdIn, WRITE_STREAM),
            (Addr3, ADDR3_ATTR),
            (Pad, PAD_ATTR),
        ],
        prep: RWV_PREP,
        res: Res::UpToConst(MAX_RW_COUNT),
        errnos: RW_ERRNOS,
        may_block: true,
        note: RW_NOTE,
    },
    OpRules {
        code: Code::Mainline(op::WRITEV),
        since: (5, 1),
        ioprio: true,
        buffer_select: false,
        needs_file: true,
        fields: &[
            (Ioprio, v("I/O priority (ioprio_check_cap)")),
            (Fd, FILE),
            (Off, v("offset; -1 = file position")),
            (
                Addr,
                Rule::Reads(Role::Ptr(Mem::Iovecs {
                    count: Len,
                    write: false,
                })),
            ),
            (Len, v("number of iovecs (<= 1024)")),
            (OpFlags, v("rw_flags (RWF_*, checked at issue)")),
            (BufIndex, v("read (unused without fixed buffers)")),
            (Personality, PERSONALITY),
            (SpliceFdIn, WRITE_STREAM),
            (Addr3, ADDR3_ATTR),
            (Pad, PAD_ATTR),
        ],
        prep: RWV_PREP,
        res: Res::UpToConst(MAX_RW_COUNT),
        errnos: RW_ERRNOS,
        may_block: true,
        note: RW_NOTE,
    },
    OpRules {
        code: Code::Mainline(op::FSYNC),
        since: (5, 1),
        ioprio: false,
        buffer_select: false,
        needs_file: true,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, FILE),
            (Off, v("start of the range (negative: EINVAL at prep)")),
            (Addr, z()),
            (Len, v("length of the range (0 = to the end)")),
            (OpFlags, v("fsync_flags: IORING_FSYNC_DATASYNC only")),
            (BufIndex, z()),
            (Personality, PERSONALITY),
            (SpliceFdIn, z()),
            (Addr3, Rule::Ignored),
            (Pad, Rule::Ignored),
        ],
        prep: &[
            Check::Zero(&[Addr, BufIndex, SpliceFdIn]),
            Check::Flags {
                field: OpFlags,
                valid: 1,
                errno: EINVAL,
            },
            Check::Special(Special::FsyncOffset),
        ],
        res: Res::Zero,
        errnos: &[EBADF, EINVAL, EIO, EROFS, ENOSPC, EINTR, EDQUOT],
        may_block: false,
        note: "opcodes.md lists addr, buf_index, splice_fd_in and fsync_flags; 6.18 also \
               refuses a negative off at prep (EINVAL, even with a bad fd).",
    },
    OpRules {
        code: Code::Mainline(op::SYNC_FILE_RANGE),
        since: (5, 2),
        ioprio: false,
        buffer_select: false,
        needs_file: true,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, FILE),
            (Off, v("offset")),
            (Addr, z()),
            (Len, v("length (32-bit)")),
            (OpFlags, v("sync_range_flags (checked at issue: EINVAL)")),
            (BufIndex, z()),
            (Personality, PERSONALITY),
            (SpliceFdIn, z()),
            (Addr3, Rule::Ignored),
            (Pad, Rule::Ignored),
        ],
        prep: &[Check::Zero(&[Addr, BufIndex, SpliceFdIn])],
        res: Res::Zero,
        errnos: &[EBADF, EINVAL, ESPIPE, EIO, ENOMEM, ENOSPC],
        may_block: false,
        note: "Not in opcodes.md: addr, buf_index, splice_fd_in must be 0.",
    },
    OpRules {
        code: Code::Mainline(op::FALLOCATE),
        since: (5, 6),
        ioprio: false,
        buffer_select: false,
        needs_file: true,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, FILE),
            (Off, v("offset")),
            (Addr, v("length (64-bit)")),
            (Len, v("mode (FALLOC_FL_*, checked at issue)")),
            (OpFlags, z()),
            (BufIndex, z()),
            (Personality, PERSONALITY),
            (SpliceFdIn, z()),
            (Addr3, Rule::Ignored),
            (Pad, Rule::Ignored),
        ],
        prep: &[Check::Zero(&[BufIndex, OpFlags, SpliceFdIn])],
        res: Res::Zero,
        errnos: &[
            EBADF, EINVAL, EOPNOTSUPP, ESPIPE, ENODEV, EFBIG, ENOSPC, EPERM, EINTR, EISDIR,
            ETXTBSY, EIO, EDQUOT, ENOMEM,
        ],
        may_block: false,
        note: "As opcodes.md.",
    },
    OpRules {
        code: Code::Mainline(op::OPENAT),
        since: (5, 6),
        ioprio: false,
        buffer_select: false,
        needs_file: false,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, DIRFD),
            (Off, Rule::Ignored),
            (Addr, PATH),
            (Len, v("mode")),
            (OpFlags, v("open_flags (build_open_flags at issue)")),
            (BufIndex, z()),
            (Personality, PERSONALITY),
            (
                SpliceFdIn,
                v("file_index: direct descriptor slot + 1 (~0 = allocate)"),
            ),
            (Addr3, Rule::Ignored),
            (Pad, Rule::Ignored),
        ],
        prep: &[
            Check::Zero(&[BufIndex]),
            Check::NoFixedFile,
            Check::Path {
                field: Addr,
                empty_ok: 0,
            },
            Check::Special(Special::DirectCloexec),
        ],
        res: Res::Fd,
        errnos: path_errnos![
            EEXIST, EISDIR, EINVAL, ENXIO, EAGAIN, EXDEV, EFBIG, EOVERFLOW, EMFILE, ENFILE, ENOSPC,
            ETXTBSY, EOPNOTSUPP, ENODEV, EINTR, EROFS, EBUSY, EDQUOT
        ],
        may_block: true,
        note: "As opcodes.md; a FIFO blocks in io-wq.",
    },
    OpRules {
        code: Code::Mainline(op::CLOSE),
        since: (5, 6),
        ioprio: false,
        buffer_select: false,
        needs_file: false,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, Rule::Reads(Role::Fd(FdUse::Close))),
            (Off, z()),
            (Addr, z()),
            (Len, z()),
            (OpFlags, z()),
            (BufIndex, z()),
            (Personality, PERSONALITY),
            (
                SpliceFdIn,
                v("file_index: direct descriptor slot + 1 (then fd must be 0)"),
            ),
            (Addr3, Rule::Ignored),
            (Pad, Rule::Ignored),
        ],
        prep: &[
            Check::Zero(&[Off, Addr, Len, OpFlags, BufIndex]),
            Check::NoFixedFile,
            Check::Special(Special::CloseSlotAndFd),
        ],
        res: Res::Zero,
        errnos: &[EBADF, ENXIO, EINVAL, EINTR, EIO, ENOSPC, EDQUOT],
        may_block: false,
        note: "As opcodes.md; file_index with a non-zero fd: EINVAL.",
    },
    OpRules {
        code: Code::Mainline(op::STATX),
        since: (5, 6),
        ioprio: false,
        buffer_select: false,
        needs_file: false,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, DIRFD),
            (Off, Rule::Reads(Role::Ptr(Mem::Write(Len::Fixed(256))))),
            (Addr, PATH),
            (Len, v("mask (STATX_*)")),
            (OpFlags, v("statx_flags (AT_*, checked at issue)")),
            (BufIndex, z()),
            (Personality, PERSONALITY),
            (SpliceFdIn, z()),
            (Addr3, Rule::Ignored),
            (Pad, Rule::Ignored),
        ],
        prep: &[
            Check::Zero(&[BufIndex, SpliceFdIn]),
            Check::NoFixedFile,
            Check::Path {
                field: Addr,
                empty_ok: 0x1000,
            },
        ],
        res: Res::Zero,
        errnos: path_errnos![EINVAL],
        may_block: false,
        note: "As opcodes.md. 6.18: a NULL path is EFAULT even with AT_EMPTY_PATH (statx(2) \
               accepts NULL since 6.11; io_uring's getname_uflags does not).",
    },
    OpRules {
        code: Code::Mainline(op::READ),
        since: (5, 6),
        ioprio: true,
        buffer_select: true,
        needs_file: true,
        fields: &[
            (Ioprio, v("I/O priority (ioprio_check_cap)")),
            (Fd, FILE),
            (Off, v("offset; -1 = file position")),
            (Addr, Rule::Reads(Role::Ptr(Mem::Write(Len::Field(Len))))),
            (Len, v("byte count")),
            (OpFlags, v("rw_flags (RWF_*, checked at issue)")),
            (BufIndex, v("buffer group with BUFFER_SELECT")),
            (Personality, PERSONALITY),
            (SpliceFdIn, WRITE_STREAM),
            (Addr3, ADDR3_ATTR),
            (Pad, PAD_ATTR),
        ],
        prep: RW_PREP,
        res: Res::UpTo(Len),
        errnos: RW_ERRNOS,
        may_block: true,
        note: RW_NOTE,
    },
    OpRules {
        code: Code::Mainline(op::WRITE),
        since: (5, 6),
        ioprio: true,
        buffer_select: false,
        needs_file: true,
        fields: &[
            (Ioprio, v("I/O priority (ioprio_check_cap)")),
            (Fd, FILE),
            (Off, v("offset; -1 = file position")),
            (Addr, Rule::Reads(Role::Ptr(Mem::Read(Len::Field(Len))))),
            (Len, v("byte count")),
            (OpFlags, v("rw_flags (RWF_*, checked at issue)")),
            (BufIndex, v("read (unused without fixed buffers)")),
            (Personality, PERSONALITY),
            (SpliceFdIn, WRITE_STREAM),
            (Addr3, ADDR3_ATTR),
            (Pad, PAD_ATTR),
        ],
        prep: RW_PREP,
        res: Res::UpTo(Len),
        errnos: RW_ERRNOS,
        may_block: true,
        note: RW_NOTE,
    },
    OpRules {
        code: Code::Mainline(op::FADVISE),
        since: (5, 6),
        ioprio: false,
        buffer_select: false,
        needs_file: true,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, FILE),
            (Off, v("offset")),
            (
                Addr,
                Rule::Since {
                    since: (6, 11),
                    new: &v("length (64-bit; 0 = use len)"),
                    old: &Rule::Zero(EINVAL),
                },
            ),
            (Len, v("length (32-bit; used when addr is 0)")),
            (
                OpFlags,
                v("advice (POSIX_FADV_*, checked at issue: EINVAL)"),
            ),
            (BufIndex, z()),
            (Personality, PERSONALITY),
            (SpliceFdIn, z()),
            (Addr3, Rule::Ignored),
            (Pad, Rule::Ignored),
        ],
        prep: &[Check::Zero(&[BufIndex, Addr, SpliceFdIn])],
        res: Res::Zero,
        errnos: &[EBADF, EINVAL, ESPIPE],
        may_block: false,
        note: "As opcodes.md (addr is the 64-bit length since 6.11, must be 0 before).",
    },
    OpRules {
        code: Code::Mainline(op::MADVISE),
        since: (5, 6),
        ioprio: false,
        buffer_select: false,
        needs_file: false,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, Rule::Ignored),
            (
                Off,
                Rule::Since {
                    since: (6, 11),
                    new: &v("length (64-bit; 0 = use len)"),
                    old: &Rule::Zero(EINVAL),
                },
            ),
            (Addr, Rule::Reads(Role::Ptr(Mem::Range))),
            (Len, v("length (32-bit; used when off is 0)")),
            (OpFlags, v("advice (MADV_*, checked at issue: EINVAL)")),
            (BufIndex, z()),
            (Personality, PERSONALITY),
            (SpliceFdIn, z()),
            (Addr3, Rule::Ignored),
            (Pad, Rule::Ignored),
        ],
        prep: &[Check::Zero(&[BufIndex, Off, SpliceFdIn])],
        res: Res::Zero,
        errnos: &[EINVAL, ENOMEM, EFAULT, EAGAIN, EPERM, EIO, EBUSY, EHWPOISON],
        may_block: false,
        note: "Not in opcodes.md: since 6.11 off is a 64-bit length (before: must be 0).",
    },
    OpRules {
        code: Code::Mainline(op::OPENAT2),
        since: (5, 6),
        ioprio: false,
        buffer_select: false,
        needs_file: false,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, DIRFD),
            (Off, Rule::Reads(Role::Ptr(Mem::Read(Len::Field(Len))))),
            (Addr, PATH),
            (Len, v("sizeof(struct open_how) (>= 24)")),
            (OpFlags, Rule::Ignored),
            (BufIndex, z()),
            (Personality, PERSONALITY),
            (SpliceFdIn, v("file_index: direct descriptor slot + 1")),
            (Addr3, Rule::Ignored),
            (Pad, Rule::Ignored),
        ],
        prep: &[
            Check::Special(Special::OpenHow),
            Check::Zero(&[BufIndex]),
            Check::NoFixedFile,
            Check::Path {
                field: Addr,
                empty_ok: 0,
            },
            Check::Special(Special::DirectCloexec),
        ],
        res: Res::Fd,
        errnos: path_errnos![
            EEXIST, EISDIR, EINVAL, ENXIO, EAGAIN, EXDEV, EFBIG, EOVERFLOW, EMFILE, ENFILE, ENOSPC,
            ETXTBSY, EOPNOTSUPP, ENODEV, EINTR, EROFS, EBUSY, EDQUOT
        ],
        may_block: true,
        note: "Not in opcodes.md: off = struct open_how, len = its size (< 24: EINVAL, \
               non-zero tail: E2BIG), then OPENAT's checks.",
    },
    OpRules {
        code: Code::Mainline(op::SPLICE),
        since: (5, 7),
        ioprio: false,
        buffer_select: false,
        needs_file: true,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, FILE),
            (Off, v("off_out; -1 = none")),
            (Addr, v("splice_off_in; -1 = none")),
            (Len, v("length (32-bit)")),
            (
                OpFlags,
                v("splice_flags: SPLICE_F_* (0xf) | SPLICE_F_FD_IN_FIXED"),
            ),
            (BufIndex, Rule::Ignored),
            (Personality, PERSONALITY),
            (SpliceFdIn, Rule::Reads(Role::Fd(FdUse::SpliceIn))),
            (Addr3, Rule::Ignored),
            (Pad, Rule::Ignored),
        ],
        prep: &[Check::Flags {
            field: OpFlags,
            valid: 0x8000_000f,
            errno: EINVAL,
        }],
        res: Res::UpTo(Len),
        errnos: &[
            EBADF, EINVAL, ESPIPE, EAGAIN, EPIPE, EINTR, ENOMEM, EFBIG, ENOSPC, EOVERFLOW, EISDIR,
            ETXTBSY, EIO, EXDEV, EDQUOT,
        ],
        may_block: true,
        note: "As opcodes.md.",
    },
    OpRules {
        code: Code::Mainline(op::TEE),
        since: (5, 8),
        ioprio: false,
        buffer_select: false,
        needs_file: true,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, FILE),
            (Off, z()),
            (Addr, z()),
            (Len, v("length (32-bit)")),
            (
                OpFlags,
                v("splice_flags: SPLICE_F_* (0xf) | SPLICE_F_FD_IN_FIXED"),
            ),
            (BufIndex, Rule::Ignored),
            (Personality, PERSONALITY),
            (SpliceFdIn, Rule::Reads(Role::Fd(FdUse::SpliceIn))),
            (Addr3, Rule::Ignored),
            (Pad, Rule::Ignored),
        ],
        prep: &[
            Check::Zero(&[Addr, Off]),
            Check::Flags {
                field: OpFlags,
                valid: 0x8000_000f,
                errno: EINVAL,
            },
        ],
        res: Res::UpTo(Len),
        errnos: &[EBADF, EINVAL, EAGAIN, EINTR, ENOMEM],
        may_block: true,
        note: "As opcodes.md.",
    },
    OpRules {
        code: Code::Mainline(op::RENAMEAT),
        since: (5, 11),
        ioprio: false,
        buffer_select: false,
        needs_file: false,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, DIRFD),
            (Off, PATH),
            (Addr, PATH),
            (Len, Rule::Reads(Role::DirFdInLen)),
            (OpFlags, v("rename_flags (checked at issue)")),
            (BufIndex, z()),
            (Personality, PERSONALITY),
            (SpliceFdIn, z()),
            (Addr3, Rule::Ignored),
            (Pad, Rule::Ignored),
        ],
        prep: &[
            Check::Zero(&[BufIndex, SpliceFdIn]),
            Check::NoFixedFile,
            Check::Path {
                field: Addr,
                empty_ok: 0,
            },
            Check::Path {
                field: Off,
                empty_ok: 0,
            },
        ],
        res: Res::Zero,
        errnos: path_errnos![
            EINVAL, EEXIST, ENOTEMPTY, EISDIR, EXDEV, EBUSY, EMLINK, ENOSPC, EROFS, EDQUOT
        ],
        may_block: false,
        note: "opcodes.md lists no must-be-zero fields: the kernel refuses buf_index and \
               splice_fd_in (EINVAL).",
    },
    OpRules {
        code: Code::Mainline(op::UNLINKAT),
        since: (5, 11),
        ioprio: false,
        buffer_select: false,
        needs_file: false,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, DIRFD),
            (Off, z()),
            (Addr, PATH),
            (Len, z()),
            (OpFlags, v("unlink_flags: AT_REMOVEDIR only")),
            (BufIndex, z()),
            (Personality, PERSONALITY),
            (SpliceFdIn, z()),
            (Addr3, Rule::Ignored),
            (Pad, Rule::Ignored),
        ],
        prep: &[
            Check::Zero(&[Off, Len, BufIndex, SpliceFdIn]),
            Check::NoFixedFile,
            Check::Flags {
                field: OpFlags,
                valid: 0x200,
                errno: EINVAL,
            },
            Check::Path {
                field: Addr,
                empty_ok: 0,
            },
        ],
        res: Res::Zero,
        errnos: path_errnos![EISDIR, ENOTEMPTY, EBUSY, EINVAL, EROFS],
        may_block: false,
        note: "opcodes.md lists off, len: the kernel also refuses buf_index and \
               splice_fd_in (EINVAL).",
    },
    OpRules {
        code: Code::Mainline(op::MKDIRAT),
        since: (5, 15),
        ioprio: false,
        buffer_select: false,
        needs_file: false,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, DIRFD),
            (Off, z()),
            (Addr, PATH),
            (Len, v("mode")),
            (OpFlags, z()),
            (BufIndex, z()),
            (Personality, PERSONALITY),
            (SpliceFdIn, z()),
            (Addr3, Rule::Ignored),
            (Pad, Rule::Ignored),
        ],
        prep: &[
            Check::Zero(&[Off, OpFlags, BufIndex, SpliceFdIn]),
            Check::NoFixedFile,
            Check::Path {
                field: Addr,
                empty_ok: 0,
            },
        ],
        res: Res::Zero,
        errnos: path_errnos![EEXIST, EMLINK, ENOSPC, EROFS, EDQUOT],
        may_block: false,
        note: "As opcodes.md.",
    },
    OpRules {
        code: Code::Mainline(op::SYMLINKAT),
        since: (5, 15),
        ioprio: false,
        buffer_select: false,
        needs_file: false,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, DIRFD),
            (Off, PATH),
            (Addr, PATH),
            (Len, z()),
            (OpFlags, z()),
            (BufIndex, z()),
            (Personality, PERSONALITY),
            (SpliceFdIn, z()),
            (Addr3, Rule::Ignored),
            (Pad, Rule::Ignored),
        ],
        prep: &[
            Check::Zero(&[Len, OpFlags, BufIndex, SpliceFdIn]),
            Check::NoFixedFile,
            Check::Path {
                field: Addr,
                empty_ok: 0,
            },
            Check::Path {
                field: Off,
                empty_ok: 0,
            },
        ],
        res: Res::Zero,
        errnos: path_errnos![EEXIST, ENOSPC, EROFS, EDQUOT],
        may_block: false,
        note: "opcodes.md lists len, rw_flags: the kernel also refuses buf_index and \
               splice_fd_in (EINVAL).",
    },
    OpRules {
        code: Code::Mainline(op::LINKAT),
        since: (5, 15),
        ioprio: false,
        buffer_select: false,
        needs_file: false,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, DIRFD),
            (Off, PATH),
            (Addr, PATH),
            (Len, Rule::Reads(Role::DirFdInLen)),
            (
                OpFlags,
                v("hardlink_flags: AT_SYMLINK_FOLLOW | AT_EMPTY_PATH (issue: EINVAL)"),
            ),
            (BufIndex, z()),
            (Personality, PERSONALITY),
            (SpliceFdIn, z()),
            (Addr3, Rule::Ignored),
            (Pad, Rule::Ignored),
        ],
        prep: &[
            Check::Zero(&[BufIndex, SpliceFdIn]),
            Check::NoFixedFile,
            Check::Path {
                field: Addr,
                empty_ok: 0x1000,
            },
            Check::Path {
                field: Off,
                empty_ok: 0,
            },
        ],
        res: Res::Zero,
        errnos: path_errnos![EEXIST, EXDEV, EMLINK, EINVAL, ENOSPC, EROFS, EDQUOT],
        may_block: false,
        note: "Not in opcodes.md: buf_index and splice_fd_in must be 0 (EINVAL).",
    },
    OpRules {
        code: Code::Mainline(op::FSETXATTR),
        since: (5, 19),
        ioprio: false,
        buffer_select: false,
        needs_file: true,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, FILE),
            (Off, Rule::Reads(Role::Ptr(Mem::Read(Len::Field(Len))))),
            (Addr, Rule::Reads(Role::Ptr(Mem::XattrName))),
            (Len, v("value size (<= 65536)")),
            (OpFlags, v("xattr_flags: XATTR_CREATE | XATTR_REPLACE")),
            (BufIndex, Rule::Ignored),
            (Personality, PERSONALITY),
            (SpliceFdIn, Rule::Ignored),
            (Addr3, Rule::Ignored),
            (Pad, Rule::Ignored),
        ],
        prep: &[
            Check::NoFixedFileBefore(XATTR_FIXED_FILES),
            Check::Special(Special::SetxattrCopy),
        ],
        res: Res::Zero,
        errnos: &[
            EBADF, EEXIST, ENODATA, ERANGE, EOPNOTSUPP, EINVAL, E2BIG, ENOSPC, EPERM, EACCES,
            EROFS, EDQUOT, ENOMEM,
        ],
        may_block: false,
        note: "Not in opcodes.md. 6.18: no must-be-zero field (buf_index, splice_fd_in, \
               addr3, pad ignored); IOSQE_FIXED_FILE is a registered index (needs_file) \
               from 6.13, refused with EBADF first thing in prep before (seen on 6.12 by \
               the sqe_fields fuzzer in the gate guest).",
    },
    OpRules {
        code: Code::Mainline(op::SETXATTR),
        since: (5, 19),
        ioprio: false,
        buffer_select: false,
        needs_file: false,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, Rule::Ignored),
            (Off, Rule::Reads(Role::Ptr(Mem::Read(Len::Field(Len))))),
            (Addr, Rule::Reads(Role::Ptr(Mem::XattrName))),
            (Len, v("value size (<= 65536)")),
            (OpFlags, v("xattr_flags: XATTR_CREATE | XATTR_REPLACE")),
            (BufIndex, Rule::Ignored),
            (Personality, PERSONALITY),
            (SpliceFdIn, Rule::Ignored),
            (Addr3, PATH),
            (Pad, Rule::Ignored),
        ],
        prep: &[
            Check::NoFixedFile,
            Check::Special(Special::SetxattrCopy),
            Check::Path {
                field: Addr3,
                empty_ok: 0,
            },
        ],
        res: Res::Zero,
        errnos: path_errnos![
            EEXIST, ENODATA, ERANGE, EOPNOTSUPP, EINVAL, E2BIG, ENOSPC, EROFS, EDQUOT
        ],
        may_block: false,
        note: "Path in addr3, resolved from the current directory (AT_FDCWD).",
    },
    OpRules {
        code: Code::Mainline(op::FGETXATTR),
        since: (5, 19),
        ioprio: false,
        buffer_select: false,
        needs_file: true,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, FILE),
            (Off, Rule::Reads(Role::Ptr(Mem::Write(Len::Field(Len))))),
            (Addr, Rule::Reads(Role::Ptr(Mem::XattrName))),
            (Len, v("value buffer size")),
            (OpFlags, Rule::Zero(EINVAL)),
            (BufIndex, Rule::Ignored),
            (Personality, PERSONALITY),
            (SpliceFdIn, Rule::Ignored),
            (Addr3, Rule::Ignored),
            (Pad, Rule::Ignored),
        ],
        prep: &[
            Check::NoFixedFileBefore(XATTR_FIXED_FILES),
            Check::Zero(&[OpFlags]),
            Check::XattrName(Addr),
        ],
        res: Res::UpToConst(65536),
        errnos: &[
            EBADF, ENODATA, ERANGE, EOPNOTSUPP, EFAULT, E2BIG, EPERM, EACCES, ENOMEM, EINVAL,
        ],
        may_block: false,
        note: "Not in opcodes.md: xattr_flags must be 0 (EINVAL). A namespace prefix with \
               nothing after it (`user.`) is EINVAL at issue (xattr_resolve_name). \
               IOSQE_FIXED_FILE: EBADF before anything else in prep before 6.13.",
    },
    OpRules {
        code: Code::Mainline(op::GETXATTR),
        since: (5, 19),
        ioprio: false,
        buffer_select: false,
        needs_file: false,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, Rule::Ignored),
            (Off, Rule::Reads(Role::Ptr(Mem::Write(Len::Field(Len))))),
            (Addr, Rule::Reads(Role::Ptr(Mem::XattrName))),
            (Len, v("value buffer size")),
            (OpFlags, Rule::Zero(EINVAL)),
            (BufIndex, Rule::Ignored),
            (Personality, PERSONALITY),
            (SpliceFdIn, Rule::Ignored),
            (Addr3, PATH),
            (Pad, Rule::Ignored),
        ],
        prep: &[
            Check::NoFixedFile,
            Check::Zero(&[OpFlags]),
            Check::XattrName(Addr),
            Check::Path {
                field: Addr3,
                empty_ok: 0,
            },
        ],
        res: Res::UpToConst(65536),
        errnos: path_errnos![ENODATA, ERANGE, EOPNOTSUPP, E2BIG, EINVAL],
        may_block: false,
        note: "Path in addr3, resolved from the current directory (AT_FDCWD). A namespace \
               prefix with nothing after it (`user.`) is EINVAL at issue (xattr_resolve_name).",
    },
    OpRules {
        code: Code::Mainline(op::FTRUNCATE),
        since: (6, 9),
        ioprio: false,
        buffer_select: false,
        needs_file: true,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, FILE),
            (Off, v("length")),
            (Addr, z()),
            (Len, z()),
            (OpFlags, z()),
            (BufIndex, z()),
            (Personality, PERSONALITY),
            (SpliceFdIn, z()),
            (Addr3, z()),
            (Pad, Rule::Ignored),
        ],
        prep: &[Check::Zero(&[
            OpFlags, Addr, Len, BufIndex, SpliceFdIn, Addr3,
        ])],
        res: Res::Zero,
        errnos: &[
            EBADF, EINVAL, EFBIG, EISDIR, EPERM, ETXTBSY, EIO, EINTR, ENOSPC, EDQUOT,
        ],
        may_block: false,
        note: "As opcodes.md.",
    },
    OpRules {
        code: Code::Mainline(op::PIPE),
        since: (6, 16),
        ioprio: false,
        buffer_select: false,
        needs_file: false,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, z()),
            (Off, z()),
            (Addr, Rule::Reads(Role::Ptr(Mem::Write(Len::Fixed(8))))),
            (Len, Rule::Ignored),
            (
                OpFlags,
                v("pipe_flags: O_CLOEXEC | O_NONBLOCK | O_DIRECT | O_NOTIFICATION_PIPE"),
            ),
            (BufIndex, Rule::Ignored),
            (Personality, PERSONALITY),
            (SpliceFdIn, v("file_index: direct descriptor slots")),
            (Addr3, z()),
            (Pad, Rule::Ignored),
        ],
        prep: &[
            Check::Zero(&[Fd, Off, Addr3]),
            Check::Flags {
                field: OpFlags,
                valid: 0o2000000 | 0o4000 | 0o40000 | 0o200,
                errno: EINVAL,
            },
        ],
        res: Res::Zero,
        errnos: &[EFAULT, EMFILE, ENFILE, ENXIO, EINVAL, ENOPKG, ENOMEM, EBADF],
        may_block: false,
        note: "Not in opcodes.md: fd, off, addr3 must be 0; flags beyond O_CLOEXEC|\
               O_NONBLOCK|O_DIRECT|O_NOTIFICATION_PIPE: EINVAL; IOSQE_FIXED_FILE is \
               ignored; a notification pipe without CONFIG_WATCH_QUEUE: ENOPKG.",
    },
    OpRules {
        code: Code::Proposed(Proposed::CopyFileRange),
        since: (0, 0),
        ioprio: false,
        buffer_select: false,
        needs_file: true,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, FILE),
            (Off, v("off_out; -1 = file position")),
            (Addr, v("off_in; -1 = file position")),
            (Len, v("length (32-bit)")),
            (OpFlags, v("flags: 0, or SPLICE_F_FD_IN_FIXED")),
            (BufIndex, z()),
            (Personality, PERSONALITY),
            (SpliceFdIn, Rule::Reads(Role::Fd(FdUse::SpliceIn))),
            (Addr3, z()),
            (Pad, z()),
        ],
        prep: &[
            Check::Zero(&[BufIndex, Addr3, Pad]),
            Check::Flags {
                field: OpFlags,
                valid: 0x8000_0000,
                errno: EINVAL,
            },
        ],
        res: Res::UpTo(Len),
        errnos: &[
            EBADF, EINVAL, EXDEV, EISDIR, EOVERFLOW, EFBIG, ENOSPC, EPERM, ETXTBSY, EIO,
            EOPNOTSUPP, ESPIPE, EINTR, EAGAIN, EDQUOT,
        ],
        may_block: false,
        note: "Proposed (model/src/sqe.rs, Sqe::copy_file_range): the encoding of SPLICE; as kernel/patches/0001 \
               implements it (checked there by check:sqe_fields on 6.12).",
    },
    OpRules {
        code: Code::Proposed(Proposed::Getdents64),
        since: (0, 0),
        ioprio: false,
        buffer_select: false,
        needs_file: true,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, FILE),
            (Off, z()),
            (Addr, Rule::Reads(Role::Ptr(Mem::Write(Len::Field(Len))))),
            (Len, v("buffer size")),
            (OpFlags, z()),
            (BufIndex, z()),
            (Personality, PERSONALITY),
            (SpliceFdIn, z()),
            (Addr3, z()),
            (Pad, z()),
        ],
        prep: &[Check::Zero(&[
            Off, OpFlags, BufIndex, SpliceFdIn, Addr3, Pad,
        ])],
        res: Res::UpTo(Len),
        errnos: &[EBADF, EFAULT, EINVAL, ENOENT, ENOTDIR, EINTR, EAGAIN],
        may_block: false,
        note: "Proposed: uses the file position; off must be 0; as kernel/patches/0002 \
               implements it (checked there by check:sqe_fields on 6.12).",
    },
    OpRules {
        code: Code::Proposed(Proposed::Mknodat),
        since: (0, 0),
        ioprio: false,
        buffer_select: false,
        needs_file: false,
        fields: &[
            (Ioprio, NO_IOPRIO),
            (Fd, DIRFD),
            (Off, v("dev (userspace dev_t)")),
            (Addr, PATH),
            (Len, v("mode (type | permissions)")),
            (OpFlags, z()),
            (BufIndex, z()),
            (Personality, PERSONALITY),
            (SpliceFdIn, z()),
            (Addr3, z()),
            (Pad, z()),
        ],
        prep: &[
            Check::Zero(&[OpFlags, BufIndex, SpliceFdIn, Addr3, Pad]),
            Check::NoFixedFile,
            Check::Path {
                field: Addr,
                empty_ok: 0,
            },
        ],
        res: Res::Zero,
        errnos: path_errnos![EEXIST, EINVAL, ENOSPC, EROFS, EDQUOT],
        may_block: false,
        note: "Proposed: dev in off (DevField::Off; beyond 32 bits: EINVAL); as \
               kernel/patches/0003 implements it (checked by check:sqe_fields on 6.12).",
    },
];

const EHWPOISON: i32 = 133;

#[cfg(test)]
mod tests {
    use super::*;

    fn p618() -> RingProfile {
        RingProfile {
            kernel: (6, 18),
            last_op: 62,
            proposed: ProposedNumbers::NONE,
            task_size: TASK_SIZE_4LEVEL,
        }
    }

    #[test]
    fn every_field_has_one_rule_and_zero_rules_are_checked() {
        for r in TABLE {
            for f in Field::ALL {
                let n = r.fields.iter().filter(|(g, _)| *g == f).count();
                assert_eq!(n, 1, "{}: {f} has {n} rules", r.name());
            }
            for kernel in [(5, 10), (6, 10), (6, 18)] {
                for (f, _) in r.must_be_zero(kernel) {
                    if f == Ioprio {
                        continue; // checked by io_init_req
                    }
                    let steps = r
                        .prep
                        .iter()
                        .filter(|c| matches!(c, Check::Zero(fs) if fs.contains(&f)))
                        .count();
                    assert_eq!(
                        steps,
                        1,
                        "{}: zero field {f} checked {steps} times",
                        r.name()
                    );
                }
            }
            for c in r.prep {
                if let Check::Zero(fs) = c {
                    for &f in *fs {
                        assert!(
                            r.fields.iter().any(|(g, rule)| *g == f
                                && (matches!(rule, Rule::Zero(_) | Rule::Since { .. }))),
                            "{}: prep checks {f} which is not a zero rule",
                            r.name()
                        );
                    }
                }
            }
            assert_eq!(
                r.ioprio,
                r.rule(Ioprio, (6, 18)) != Rule::Zero(EINVAL),
                "{}",
                r.name()
            );
        }
    }

    #[test]
    fn generic_checks() {
        let p = p618();
        let ctx = SqeContext::default();
        let nop = Sqe::default();
        assert_eq!(allowed_results_in(&p, &nop, &ctx).values, [0].into());
        let s = Sqe { opcode: 63, ..nop };
        assert_eq!(allowed_results_in(&p, &s, &ctx).values, [-EINVAL].into());
        let s = Sqe { flags: 0x80, ..nop };
        assert!(allowed_results_in(&p, &s, &ctx).rejected);
        let s = Sqe { flags: 0x20, ..nop };
        assert_eq!(
            allowed_results_in(&p, &s, &ctx).values,
            [-EOPNOTSUPP].into()
        );
        let s = Sqe {
            flags: 0x40 | 0x02,
            ..nop
        };
        assert_eq!(
            allowed_results_in(&p, &s, &ctx).values,
            [-EOPNOTSUPP].into()
        );
        let s = Sqe { ioprio: 1, ..nop };
        assert_eq!(allowed_results_in(&p, &s, &ctx).values, [-EINVAL].into());
        let s = Sqe {
            personality: 3,
            ..nop
        };
        assert_eq!(allowed_results_in(&p, &s, &ctx).values, [-EINVAL].into());
        let s = Sqe {
            op_flags: 1,
            len: (-3i32) as u32,
            ..nop
        };
        assert_eq!(allowed_results_in(&p, &s, &ctx).values, [-3].into());
    }

    #[test]
    fn versions_change_rules() {
        let fadvise = rules_for(&p618(), op::FADVISE).unwrap();
        assert_eq!(fadvise.rule(Addr, (6, 10)), Rule::Zero(EINVAL));
        assert!(matches!(fadvise.rule(Addr, (6, 11)), Rule::Reads(_)));
        let mut old = p618();
        old.kernel = (6, 8);
        assert!(rules_for(&old, op::FTRUNCATE).is_none());
        let s = Sqe {
            opcode: op::FADVISE,
            addr: 5,
            ..Default::default()
        };
        assert!(allowed_results_in(&old, &s, &SqeContext::default()).rejected);
        assert!(!allowed_results_in(&p618(), &s, &SqeContext::default()).rejected);
        // NOP's flags by version (the SQE sweep on Debian 6.1 and 6.12).
        let nop = |kernel, op_flags| {
            let mut p = p618();
            p.kernel = kernel;
            let s = Sqe {
                opcode: op::NOP,
                fd: -1,
                op_flags,
                ..Default::default()
            };
            allowed_results_in(&p, &s, &SqeContext::default()).rejected
        };
        assert!(nop((6, 1), 1) && nop((6, 1), 0x10));
        assert!(!nop((6, 12), 1) && nop((6, 12), 2));
        assert!(!nop((6, 13), 8) && nop((6, 13), 0x10));
        assert!(!nop((6, 18), 0x10) && nop((6, 18), 0x20));
        // FGETXATTR with IOSQE_FIXED_FILE and an empty name: EBADF first on
        // 6.12 (the sqe_fields fuzzer's finding in the 6.12 gate guest), the
        // name's ERANGE from 6.13 on.
        let fgetxattr = |kernel| {
            let mut p = p618();
            p.kernel = kernel;
            let s = Sqe {
                opcode: op::FGETXATTR,
                flags: 1,
                ..Default::default()
            };
            allowed_results_in(&p, &s, &SqeContext::default()).values
        };
        assert_eq!(fgetxattr((6, 12)), [-EBADF].into());
        assert!(!fgetxattr((6, 13)).contains(&-EBADF));
        let prof = Profile::default_tmpfs();
        assert_eq!(RingProfile::from_profile(&prof).last_op, 62);
        assert!(allowed_results(&prof, &s).allows(0));
    }

    #[test]
    fn order_and_chains() {
        let p = p618();
        // UNLINKAT: zero fields before the fixed-file refusal, which comes before flags.
        let s = Sqe {
            opcode: op::UNLINKAT,
            off: 1,
            flags: 1,
            ..Default::default()
        };
        assert_eq!(
            allowed_results_in(&p, &s, &SqeContext::default()).values,
            [-EINVAL].into()
        );
        let s = Sqe {
            opcode: op::UNLINKAT,
            op_flags: 1,
            flags: 1,
            ..Default::default()
        };
        assert_eq!(
            allowed_results_in(&p, &s, &SqeContext::default()).values,
            [-EBADF].into()
        );
        let ctx = SqeContext {
            in_chain: true,
            fd: FdState::Closed,
            ..Default::default()
        };
        let s = Sqe {
            opcode: op::FSYNC,
            ..Default::default()
        };
        let a = allowed_results_in(&p, &s, &ctx);
        assert_eq!(a.values, [-ECANCELED, -EBADF].into(), "{a}");
    }
}
