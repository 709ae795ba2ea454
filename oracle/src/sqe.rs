//! Our own encoder of 64-byte io_uring submission queue entries (SQEs).
//!
//! The io-uring crate builds SQEs for the opcodes it knows; this module writes them
//! byte by byte for the ones it does not: the proposed COPY_FILE_RANGE, GETDENTS64
//! and MKNODAT opcodes (numbers and field choices from [`ProposedOpcodes`]), FADVISE
//! with a 64-bit length (6.11+), and arbitrary SQEs for fuzzing. [`Sqe`] has the
//! kernel's `struct io_uring_sqe` layout (include/uapi/linux/io_uring.h) with each
//! union collapsed into one field; a unit test proves the builders byte-identical
//! to the crate's for every opcode both know that ringspec uses, and that the
//! kernel executes an SQE that came from here.
//!
//! Field layout (offset: field, union members):
//!
//! | off | size | field | also |
//! |---|---|---|---|
//! | 0 | 1 | `opcode` | |
//! | 1 | 1 | `flags` | IOSQE_* |
//! | 2 | 2 | `ioprio` | |
//! | 4 | 4 | `fd` | |
//! | 8 | 8 | `off` | addr2, cmd_op |
//! | 16 | 8 | `addr` | splice_off_in, level/optname |
//! | 24 | 4 | `len` | |
//! | 28 | 4 | `op_flags` | rw_flags, fsync_flags, splice_flags, fadvise_advice, statx_flags, open_flags, rename_flags, unlink_flags, hardlink_flags, pipe_flags |
//! | 32 | 8 | `user_data` | |
//! | 40 | 2 | `buf_index` | buf_group |
//! | 42 | 2 | `personality` | |
//! | 44 | 4 | `splice_fd_in` | file_index, optlen, write_stream |
//! | 48 | 8 | `addr3` | attr_ptr, optval |
//! | 56 | 8 | `pad` | __pad2, attr_type_mask |

use io_uring::squeue;
use std::fmt;
use std::os::fd::RawFd;

/// One submission queue entry with the kernel's field layout (see the module
/// documentation for the unions each field stands for). All bit patterns are
/// valid; what the kernel makes of them is the point of testing.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Sqe {
    /// IORING_OP_* number.
    pub opcode: u8,
    /// IOSQE_* flags ([`flags`]).
    pub flags: u8,
    /// I/O priority (rw ops; must be 0 for the others).
    pub ioprio: u16,
    /// The file operand: a descriptor, or an index into the registered file table
    /// when `flags` has IOSQE_FIXED_FILE.
    pub fd: i32,
    /// `off` / `addr2`: the file offset (-1 = the file position for read/write and
    /// splice's off_out), or a second pointer (newpath, statx buffer).
    pub off: u64,
    /// `addr` / `splice_off_in`: the buffer or path pointer, fallocate's length,
    /// fadvise's 64-bit length (6.11+), or splice's input offset.
    pub addr: u64,
    /// Buffer length, or the mode (openat, mkdirat, fallocate), statx mask,
    /// renameat/linkat's new dirfd.
    pub len: u32,
    /// The per-opcode flags word (rw_flags, fsync_flags, splice_flags,
    /// fadvise_advice, statx_flags, open_flags, rename_flags, unlink_flags,
    /// hardlink_flags, pipe_flags, ...).
    pub op_flags: u32,
    /// Copied to the CQE: how completions are matched to requests.
    pub user_data: u64,
    /// `buf_index` / `buf_group`: registered buffer index or provided-buffer group.
    pub buf_index: u16,
    /// Registered credentials id (0 = the submitter's).
    pub personality: u16,
    /// `splice_fd_in` / `file_index`: splice/tee's input descriptor, or the
    /// direct-descriptor slot (index + 1) of openat/close/pipe.
    pub splice_fd_in: i32,
    /// Third pointer (xattr value, ...); must be 0 for the ops here.
    pub addr3: u64,
    /// Padding (`__pad2`); must be 0.
    pub pad: u64,
}

const _: () = assert!(std::mem::size_of::<Sqe>() == 64);
const _: () = assert!(std::mem::size_of::<squeue::Entry>() == 64);
const _: () = assert!(std::mem::align_of::<squeue::Entry>() <= 8);

/// IORING_OP_* numbers (the model's opcode table, include/uapi/linux/io_uring.h).
pub use model::opcode::op;
pub use model::opcode::{Proposed, ProposedNumbers};

/// IOSQE_* bits of [`Sqe::flags`].
pub mod flags {
    /// `fd` is an index into the registered file table.
    pub const FIXED_FILE: u8 = 1 << 0;
    /// Start only after every earlier request completed.
    pub const IO_DRAIN: u8 = 1 << 1;
    /// The next SQE runs only after this one succeeds (a failure, or a short
    /// splice/read/write, cancels the rest of the chain with -ECANCELED).
    pub const IO_LINK: u8 = 1 << 2;
    /// Like IO_LINK, but the chain continues whatever the result.
    pub const IO_HARDLINK: u8 = 1 << 3;
    /// Never try inline: issue from an io-wq worker.
    pub const ASYNC: u8 = 1 << 4;
    /// Pick a buffer from a provided-buffer group.
    pub const BUFFER_SELECT: u8 = 1 << 5;
    /// No CQE on success.
    pub const CQE_SKIP_SUCCESS: u8 = 1 << 6;
}

/// `splice_flags` bit: `splice_fd_in` is a registered-file index (splice, tee).
pub const SPLICE_F_FD_IN_FIXED: u32 = 1 << 31;

/// The file operand of an SQE: a plain descriptor, or a registered-file index
/// (which sets IOSQE_FIXED_FILE, or SPLICE_F_FD_IN_FIXED for splice/tee's input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdOperand {
    /// A descriptor of the process.
    Plain(RawFd),
    /// An index into the ring's registered file table.
    Fixed(u32),
}

impl Sqe {
    /// The 64 bytes the kernel reads, in native byte order.
    pub fn as_bytes(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0] = self.opcode;
        b[1] = self.flags;
        b[2..4].copy_from_slice(&self.ioprio.to_ne_bytes());
        b[4..8].copy_from_slice(&self.fd.to_ne_bytes());
        b[8..16].copy_from_slice(&self.off.to_ne_bytes());
        b[16..24].copy_from_slice(&self.addr.to_ne_bytes());
        b[24..28].copy_from_slice(&self.len.to_ne_bytes());
        b[28..32].copy_from_slice(&self.op_flags.to_ne_bytes());
        b[32..40].copy_from_slice(&self.user_data.to_ne_bytes());
        b[40..42].copy_from_slice(&self.buf_index.to_ne_bytes());
        b[42..44].copy_from_slice(&self.personality.to_ne_bytes());
        b[44..48].copy_from_slice(&self.splice_fd_in.to_ne_bytes());
        b[48..56].copy_from_slice(&self.addr3.to_ne_bytes());
        b[56..64].copy_from_slice(&self.pad.to_ne_bytes());
        b
    }

    /// The SQE whose bytes are `b` (the inverse of [`Sqe::as_bytes`]).
    pub fn from_bytes(b: &[u8; 64]) -> Sqe {
        let u16_at = |i: usize| u16::from_ne_bytes([b[i], b[i + 1]]);
        let u32_at = |i: usize| u32::from_ne_bytes(b[i..i + 4].try_into().expect("4 bytes"));
        let u64_at = |i: usize| u64::from_ne_bytes(b[i..i + 8].try_into().expect("8 bytes"));
        Sqe {
            opcode: b[0],
            flags: b[1],
            ioprio: u16_at(2),
            fd: u32_at(4) as i32,
            off: u64_at(8),
            addr: u64_at(16),
            len: u32_at(24),
            op_flags: u32_at(28),
            user_data: u64_at(32),
            buf_index: u16_at(40),
            personality: u16_at(42),
            splice_fd_in: u32_at(44) as i32,
            addr3: u64_at(48),
            pad: u64_at(56),
        }
    }

    /// The io-uring crate's entry with exactly these bytes, for pushing onto the
    /// submission queue.
    pub fn to_entry(&self) -> squeue::Entry {
        // SAFETY: squeue::Entry is a repr(C) wrapper of the kernel's 64-byte
        // io_uring_sqe (sizes checked at compile time above), a struct of integer
        // unions for which every bit pattern is valid.
        unsafe { std::mem::transmute::<[u8; 64], squeue::Entry>(self.as_bytes()) }
    }

    /// The bytes of an entry built by the io-uring crate, as an [`Sqe`].
    pub fn from_entry(e: &squeue::Entry) -> Sqe {
        // SAFETY: as in `to_entry`: 64 bytes of plain integers, no padding.
        let b = unsafe { std::mem::transmute::<squeue::Entry, [u8; 64]>(e.clone()) };
        Sqe::from_bytes(&b)
    }

    /// An SQE of `opcode` with every other field 0.
    pub fn new(opcode: u8) -> Sqe {
        Sqe {
            opcode,
            ..Sqe::default()
        }
    }

    /// Sets `fd` from an operand; a fixed index also sets IOSQE_FIXED_FILE.
    pub fn with_fd(mut self, fd: FdOperand) -> Sqe {
        match fd {
            FdOperand::Plain(fd) => self.fd = fd,
            FdOperand::Fixed(i) => {
                self.fd = i as i32;
                self.flags |= flags::FIXED_FILE;
            }
        }
        self
    }

    /// Sets `splice_fd_in` from an operand; a fixed index also sets
    /// SPLICE_F_FD_IN_FIXED in the flags word (splice, tee, proposed copy_file_range).
    fn with_fd_in(mut self, fd: FdOperand) -> Sqe {
        match fd {
            FdOperand::Plain(fd) => self.splice_fd_in = fd,
            FdOperand::Fixed(i) => {
                self.splice_fd_in = i as i32;
                self.op_flags |= SPLICE_F_FD_IN_FIXED;
            }
        }
        self
    }

    /// IORING_OP_NOP: fd -1, nothing else.
    pub fn nop() -> Sqe {
        Sqe {
            fd: -1,
            ..Sqe::new(op::NOP)
        }
    }

    /// IORING_OP_READ: read(2)/pread(2) of `len` bytes into `buf`; `off` u64::MAX
    /// (-1) uses and advances the file position.
    pub fn read(fd: FdOperand, buf: u64, len: u32, off: u64) -> Sqe {
        Sqe {
            addr: buf,
            len,
            off,
            ..Sqe::new(op::READ)
        }
        .with_fd(fd)
    }

    /// IORING_OP_WRITE: write(2)/pwrite(2), offsets as for [`Sqe::read`].
    pub fn write(fd: FdOperand, buf: u64, len: u32, off: u64) -> Sqe {
        Sqe {
            opcode: op::WRITE,
            ..Sqe::read(fd, buf, len, off)
        }
    }

    /// IORING_OP_FSYNC: fsync(2), or fdatasync(2) with IORING_FSYNC_DATASYNC (1).
    pub fn fsync(fd: FdOperand, datasync: bool) -> Sqe {
        Sqe {
            op_flags: datasync as u32,
            ..Sqe::new(op::FSYNC)
        }
        .with_fd(fd)
    }

    /// IORING_OP_FALLOCATE: off = offset, addr = length (64-bit), len = mode.
    pub fn fallocate(fd: FdOperand, offset: u64, length: u64, mode: i32) -> Sqe {
        Sqe {
            off: offset,
            addr: length,
            len: mode as u32,
            ..Sqe::new(op::FALLOCATE)
        }
        .with_fd(fd)
    }

    /// IORING_OP_OPENAT: fd = dirfd (never fixed), addr = path, len = mode,
    /// open_flags = flags.
    pub fn openat(dirfd: RawFd, path: u64, flags: i32, mode: u32) -> Sqe {
        Sqe {
            fd: dirfd,
            addr: path,
            len: mode,
            op_flags: flags as u32,
            ..Sqe::new(op::OPENAT)
        }
    }

    /// IORING_OP_CLOSE: a plain descriptor in `fd`, or a direct descriptor as
    /// file_index = index + 1 with fd 0.
    pub fn close(fd: FdOperand) -> Sqe {
        match fd {
            FdOperand::Plain(fd) => Sqe {
                fd,
                ..Sqe::new(op::CLOSE)
            },
            FdOperand::Fixed(i) => Sqe {
                splice_fd_in: i.wrapping_add(1) as i32,
                ..Sqe::new(op::CLOSE)
            },
        }
    }

    /// IORING_OP_STATX: fd = dirfd (fixed files are rejected), addr = path,
    /// len = mask, off = the statx buffer, statx_flags = flags.
    pub fn statx(dirfd: RawFd, path: u64, flags: i32, mask: u32, buf: u64) -> Sqe {
        Sqe {
            fd: dirfd,
            addr: path,
            len: mask,
            off: buf,
            op_flags: flags as u32,
            ..Sqe::new(op::STATX)
        }
    }

    /// IORING_OP_FADVISE with the 32-bit length in `len` (what every kernel since
    /// 5.6 reads, and what the io-uring crate builds): a negative length cannot be
    /// expressed (it becomes a large positive one).
    pub fn fadvise(fd: FdOperand, offset: u64, len: u32, advice: i32) -> Sqe {
        Sqe {
            off: offset,
            len,
            op_flags: advice as u32,
            ..Sqe::new(op::FADVISE)
        }
        .with_fd(fd)
    }

    /// IORING_OP_FADVISE with the 64-bit length in `addr` (6.11+; a non-zero addr
    /// is -EINVAL before). A zero `addr` makes the kernel fall back to `len`, which
    /// is 0 here too, so every off_t length, negative ones included, goes through.
    pub fn fadvise64(fd: FdOperand, offset: u64, length: u64, advice: i32) -> Sqe {
        Sqe {
            off: offset,
            addr: length,
            op_flags: advice as u32,
            ..Sqe::new(op::FADVISE)
        }
        .with_fd(fd)
    }

    /// IORING_OP_SPLICE: fd = out, off = off_out, splice_fd_in = in,
    /// splice_off_in = off_in (-1 = no offset: the file position, and the only
    /// value allowed on a pipe side), len (32-bit), splice_flags = flags.
    pub fn splice(
        fd_in: FdOperand,
        off_in: i64,
        fd_out: FdOperand,
        off_out: i64,
        len: u32,
        flags: u32,
    ) -> Sqe {
        Sqe {
            off: off_out as u64,
            addr: off_in as u64,
            len,
            op_flags: flags,
            ..Sqe::new(op::SPLICE)
        }
        .with_fd(fd_out)
        .with_fd_in(fd_in)
    }

    /// IORING_OP_TEE: as splice without offsets (both offset fields must be 0).
    pub fn tee(fd_in: FdOperand, fd_out: FdOperand, len: u32, flags: u32) -> Sqe {
        Sqe {
            len,
            op_flags: flags,
            ..Sqe::new(op::TEE)
        }
        .with_fd(fd_out)
        .with_fd_in(fd_in)
    }

    /// IORING_OP_RENAMEAT: fd = olddirfd, addr = oldpath, len = newdirfd,
    /// addr2 (off) = newpath, rename_flags = flags.
    pub fn renameat(olddir: RawFd, old: u64, newdir: RawFd, new: u64, flags: u32) -> Sqe {
        Sqe {
            fd: olddir,
            addr: old,
            len: newdir as u32,
            off: new,
            op_flags: flags,
            ..Sqe::new(op::RENAMEAT)
        }
    }

    /// IORING_OP_UNLINKAT: fd = dirfd, addr = path, unlink_flags = flags
    /// (AT_REMOVEDIR only).
    pub fn unlinkat(dir: RawFd, path: u64, flags: i32) -> Sqe {
        Sqe {
            fd: dir,
            addr: path,
            op_flags: flags as u32,
            ..Sqe::new(op::UNLINKAT)
        }
    }

    /// IORING_OP_MKDIRAT: fd = dirfd, addr = path, len = mode.
    pub fn mkdirat(dir: RawFd, path: u64, mode: u32) -> Sqe {
        Sqe {
            fd: dir,
            addr: path,
            len: mode,
            ..Sqe::new(op::MKDIRAT)
        }
    }

    /// IORING_OP_SYMLINKAT: fd = newdirfd, addr = target, addr2 (off) = linkpath.
    pub fn symlinkat(newdir: RawFd, target: u64, linkpath: u64) -> Sqe {
        Sqe {
            fd: newdir,
            addr: target,
            off: linkpath,
            ..Sqe::new(op::SYMLINKAT)
        }
    }

    /// IORING_OP_LINKAT: fd = olddirfd, addr = oldpath, len = newdirfd,
    /// addr2 (off) = newpath, hardlink_flags = flags.
    pub fn linkat(olddir: RawFd, old: u64, newdir: RawFd, new: u64, flags: i32) -> Sqe {
        Sqe {
            fd: olddir,
            addr: old,
            len: newdir as u32,
            off: new,
            op_flags: flags as u32,
            ..Sqe::new(op::LINKAT)
        }
    }

    /// IORING_OP_FTRUNCATE (6.9+): the length in `off`; every other field 0.
    pub fn ftruncate(fd: FdOperand, length: u64) -> Sqe {
        Sqe {
            off: length,
            ..Sqe::new(op::FTRUNCATE)
        }
        .with_fd(fd)
    }

    /// IORING_OP_PIPE (6.16+): addr = `int[2]` the two descriptors are written to,
    /// pipe_flags = O_CLOEXEC/O_NONBLOCK/O_DIRECT, fd 0.
    pub fn pipe(fds: u64, flags: u32) -> Sqe {
        Sqe {
            addr: fds,
            op_flags: flags,
            ..Sqe::new(op::PIPE)
        }
    }

    /// IORING_OP_ASYNC_CANCEL of the request with `user_data` (addr), fd -1.
    pub fn async_cancel(user_data: u64) -> Sqe {
        Sqe {
            fd: -1,
            addr: user_data,
            ..Sqe::new(op::ASYNC_CANCEL)
        }
    }

    /// The proposed COPY_FILE_RANGE, encoded like SPLICE: fd = out, off = off_out,
    /// splice_fd_in = in, splice_off_in = off_in (-1 = the file position, as NULL
    /// in copy_file_range(2)), len (32-bit), flags word = copy_file_range's flags
    /// (which must be 0; a fixed input adds SPLICE_F_FD_IN_FIXED as for splice).
    #[allow(clippy::too_many_arguments)]
    pub fn copy_file_range(
        code: u8,
        fd_in: FdOperand,
        off_in: i64,
        fd_out: FdOperand,
        off_out: i64,
        len: u32,
        flags: u32,
    ) -> Sqe {
        Sqe {
            opcode: code,
            ..Sqe::splice(fd_in, off_in, fd_out, off_out, len, flags)
        }
    }

    /// The proposed GETDENTS64: fd, addr = buffer, len = its size, off = 0 (the
    /// file position is used and advanced under f_pos_lock).
    pub fn getdents64(code: u8, fd: FdOperand, buf: u64, len: u32) -> Sqe {
        Sqe {
            addr: buf,
            len,
            ..Sqe::new(code)
        }
        .with_fd(fd)
    }

    /// The proposed MKNODAT: fd = dirfd, addr = path, len = mode (type | perm), and
    /// `dev` (a userspace dev_t, `makedev(major, minor)`) in the field `dev_field`
    /// names; every other field 0.
    pub fn mknodat(
        code: u8,
        dir: RawFd,
        path: u64,
        mode: u32,
        dev: u64,
        dev_field: DevField,
    ) -> Sqe {
        let mut s = Sqe {
            fd: dir,
            addr: path,
            len: mode,
            ..Sqe::new(code)
        };
        match dev_field {
            DevField::Off => s.off = dev,
            DevField::Addr3 => s.addr3 = dev,
            DevField::OpFlags => s.op_flags = dev as u32,
        }
        s
    }
}

impl fmt::Display for Sqe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sqe{{op={} flags={:#x} ioprio={} fd={} off={:#x} addr={:#x} len={} op_flags={:#x} \
             user_data={} buf_index={} personality={} splice_fd_in={} addr3={:#x} pad={:#x}}}",
            self.opcode,
            self.flags,
            self.ioprio,
            self.fd,
            self.off,
            self.addr,
            self.len,
            self.op_flags,
            self.user_data,
            self.buf_index,
            self.personality,
            self.splice_fd_in,
            self.addr3,
            self.pad
        )
    }
}

/// Where the proposed MKNODAT carries `dev`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DevField {
    /// The 64-bit `off` field (our default: DESIGN.md asks for a 64-bit field, and
    /// `off` is free in a path op; mkdirat requires it to be 0, so a kernel without
    /// the opcode's own prep can never mistake it for something else).
    #[default]
    Off,
    /// The 64-bit `addr3` field.
    Addr3,
    /// The 32-bit flags word (Kadashev's 2021 patch put dev in the rw_flags slot);
    /// the dev_t is truncated to its low 32 bits, the kernel's encoding for
    /// majors < 4096 and minors < 256.
    OpFlags,
}

/// The proposed opcodes' numbers and encodings: there are no mainline
/// COPY_FILE_RANGE, GETDENTS64 or MKNODAT opcodes, so a patched kernel's numbers
/// come from configuration. `None` means "this kernel has no such opcode"; a
/// configured number is used only if the ring's probe lists it as supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProposedOpcodes {
    /// Each proposed opcode's number (encodings: [`Sqe::copy_file_range`],
    /// [`Sqe::getdents64`], [`Sqe::mknodat`]).
    pub numbers: ProposedNumbers,
    /// The field MKNODAT's dev goes in.
    pub mknod_dev: DevField,
}

/// The environment variable [`ProposedOpcodes::from_env`] reads.
pub const PROPOSED_ENV: &str = "RINGSPEC_PROPOSED";

impl ProposedOpcodes {
    /// No proposed opcode configured.
    pub const NONE: ProposedOpcodes = ProposedOpcodes {
        numbers: ProposedNumbers::NONE,
        mknod_dev: DevField::Off,
    };

    /// This configuration with `p` at number `n`.
    pub const fn with(mut self, p: Proposed, n: u8) -> ProposedOpcodes {
        self.numbers = self.numbers.with(p, n);
        self
    }

    /// The number configured for `p`, if any.
    pub fn number(&self, p: Proposed) -> Option<u8> {
        self.numbers.number(p)
    }

    /// Parses `copy_file_range=70,getdents64=71,mknodat=72,mknod_dev=off` (every
    /// key optional; `mknod_dev` is `off`, `addr3` or `op_flags`; an empty string
    /// configures nothing). Numbers are 0..=255.
    pub fn parse(text: &str) -> Result<ProposedOpcodes, String> {
        let mut p = ProposedOpcodes::default();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| format!("{PROPOSED_ENV}: {item:?} is not name=value"))?;
            let (k, v) = (k.trim(), v.trim());
            let num = || {
                v.parse::<u8>().map_err(|_| {
                    format!("{PROPOSED_ENV}: {k}={v:?} is not an opcode number 0..=255")
                })
            };
            match k {
                _ if Proposed::from_name(k).is_some() => {
                    let op = Proposed::from_name(k).expect("checked");
                    p.numbers.set(op, Some(num()?));
                }
                "mknod_dev" => {
                    p.mknod_dev = match v {
                        "off" => DevField::Off,
                        "addr3" => DevField::Addr3,
                        "op_flags" | "rw_flags" => DevField::OpFlags,
                        _ => {
                            return Err(format!(
                                "{PROPOSED_ENV}: mknod_dev={v:?}: use off, addr3 or op_flags"
                            ))
                        }
                    }
                }
                _ => {
                    return Err(format!(
                        "{PROPOSED_ENV}: unknown key {k:?} (copy_file_range, getdents64, mknodat, mknod_dev)"
                    ))
                }
            }
        }
        let nums = p.numbers();
        for (i, (a, x)) in nums.iter().enumerate() {
            for (b, y) in &nums[i + 1..] {
                if x == y {
                    return Err(format!("{PROPOSED_ENV}: {a} and {b} both have number {x}"));
                }
            }
        }
        Ok(p)
    }

    /// [`ProposedOpcodes::parse`] of `$RINGSPEC_PROPOSED`; unset: the default
    /// for the running kernel ([`crate::proposed::defaults_for_running_kernel`]:
    /// the numbers of kernel/patches/ on 6.11..=6.14, else nothing).
    pub fn from_env() -> Result<ProposedOpcodes, String> {
        match std::env::var(PROPOSED_ENV) {
            Ok(s) => ProposedOpcodes::parse(&s),
            Err(std::env::VarError::NotPresent) => {
                Ok(crate::proposed::defaults_for_running_kernel())
            }
            Err(e) => Err(format!("{PROPOSED_ENV}: {e}")),
        }
    }

    /// The configured (name, number) pairs.
    pub fn numbers(&self) -> Vec<(&'static str, u8)> {
        self.numbers.iter().map(|(p, n)| (p.name(), n)).collect()
    }

    /// Rejects a number that is a mainline opcode of the running kernel: below its
    /// IORING_OP_LAST (`last_op` + 1, as IORING_REGISTER_PROBE reports `last_op`).
    /// Sending such a number would run that mainline opcode instead.
    pub fn check_collisions(&self, last_op: u8) -> Result<(), String> {
        for (name, n) in self.numbers() {
            if n <= last_op {
                return Err(format!(
                    "proposed opcode {name}={n} collides with a mainline opcode: this kernel's \
                     opcodes are 0..={last_op} (IORING_OP_LAST = {}); pick {} or above",
                    last_op as u32 + 1,
                    last_op as u32 + 1
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use io_uring::{opcode, types};

    fn bytes(e: squeue::Entry) -> [u8; 64] {
        Sqe::from_entry(&e).as_bytes()
    }

    /// Asserts byte identity and names the first differing field if not.
    fn same(name: &str, ours: Sqe, theirs: squeue::Entry) {
        let t = Sqe::from_entry(&theirs);
        assert_eq!(
            ours.as_bytes(),
            bytes(theirs),
            "{name}: ours {ours} vs crate {t}"
        );
    }

    /// Plain descriptors (valid, -1, never open) and registered-file indices.
    const OPERANDS: [FdOperand; 6] = [
        FdOperand::Plain(3),
        FdOperand::Plain(-1),
        FdOperand::Plain(1_000_000),
        FdOperand::Fixed(0),
        FdOperand::Fixed(7),
        FdOperand::Fixed(u32::MAX),
    ];

    /// Evaluates `$build` with `$t` bound to the crate's operand type for `$o`
    /// (`types::Fd` or `types::Fixed`, two different types).
    macro_rules! target {
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

    #[test]
    fn layout_round_trips() {
        let s = Sqe {
            opcode: 1,
            flags: 2,
            ioprio: 0x0304,
            fd: -5,
            off: 0x0102_0304_0506_0708,
            addr: 9,
            len: 10,
            op_flags: 11,
            user_data: 12,
            buf_index: 13,
            personality: 14,
            splice_fd_in: -15,
            addr3: 16,
            pad: 17,
        };
        assert_eq!(Sqe::from_bytes(&s.as_bytes()), s);
        assert_eq!(Sqe::from_entry(&s.to_entry()), s);
        // Field offsets of the kernel's struct io_uring_sqe.
        let b = s.as_bytes();
        assert_eq!(b[0], 1);
        assert_eq!(b[1], 2);
        assert_eq!(i32::from_ne_bytes(b[4..8].try_into().unwrap()), -5);
        assert_eq!(u32::from_ne_bytes(b[24..28].try_into().unwrap()), 10);
        assert_eq!(u64::from_ne_bytes(b[32..40].try_into().unwrap()), 12);
        assert_eq!(i32::from_ne_bytes(b[44..48].try_into().unwrap()), -15);
        assert_eq!(u64::from_ne_bytes(b[56..64].try_into().unwrap()), 17);
        // Our opcode numbers are the crate's.
        for (ours, theirs) in [
            (op::NOP, opcode::Nop::CODE),
            (op::FSYNC, opcode::Fsync::CODE),
            (op::FALLOCATE, opcode::Fallocate::CODE),
            (op::OPENAT, opcode::OpenAt::CODE),
            (op::CLOSE, opcode::Close::CODE),
            (op::STATX, opcode::Statx::CODE),
            (op::READ, opcode::Read::CODE),
            (op::WRITE, opcode::Write::CODE),
            (op::FADVISE, opcode::Fadvise::CODE),
            (op::SPLICE, opcode::Splice::CODE),
            (op::ASYNC_CANCEL, opcode::AsyncCancel::CODE),
            (op::TEE, opcode::Tee::CODE),
            (op::RENAMEAT, opcode::RenameAt::CODE),
            (op::UNLINKAT, opcode::UnlinkAt::CODE),
            (op::MKDIRAT, opcode::MkDirAt::CODE),
            (op::SYMLINKAT, opcode::SymlinkAt::CODE),
            (op::LINKAT, opcode::LinkAt::CODE),
            (op::FTRUNCATE, opcode::Ftruncate::CODE),
            (op::PIPE, opcode::Pipe::CODE),
        ] {
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn encoder_is_byte_identical_to_the_crate() {
        let p = 0x7fff_1234_5678u64;
        let q = 0x7fff_8765_4320u64;
        let offs = [0u64, 4096, u64::MAX, (-2i64) as u64, i64::MAX as u64];
        same("nop", Sqe::nop(), opcode::Nop::new().build());
        same(
            "async_cancel",
            Sqe::async_cancel(42),
            opcode::AsyncCancel::new(42).build(),
        );
        for ours in OPERANDS {
            for &off in &offs {
                for len in [0u32, 1, 5, u32::MAX] {
                    same(
                        "read",
                        Sqe::read(ours, p, len, off),
                        target!(ours, |t| opcode::Read::new(t, p as *mut u8, len)
                            .offset(off)
                            .build()),
                    );
                    same(
                        "write",
                        Sqe::write(ours, p, len, off),
                        target!(ours, |t| opcode::Write::new(t, p as *const u8, len)
                            .offset(off)
                            .build()),
                    );
                }
                for mode in [0i32, 1, 3, 0x7f, -1] {
                    same(
                        "fallocate",
                        Sqe::fallocate(ours, off, off ^ 0x55, mode),
                        target!(ours, |t| opcode::Fallocate::new(t, off ^ 0x55)
                            .offset(off)
                            .mode(mode)
                            .build()),
                    );
                }
                for advice in [0, 3, 5, 99, -1] {
                    for len in [0i64, 10, 1 << 20] {
                        same(
                            "fadvise",
                            Sqe::fadvise(ours, off, len as u32, advice),
                            target!(ours, |t| opcode::Fadvise::new(t, len, advice)
                                .offset(off)
                                .build()),
                        );
                    }
                }
                same(
                    "ftruncate",
                    Sqe::ftruncate(ours, off),
                    target!(ours, |t| opcode::Ftruncate::new(t, off).build()),
                );
            }
            for datasync in [false, true] {
                let fl = if datasync {
                    types::FsyncFlags::DATASYNC
                } else {
                    types::FsyncFlags::empty()
                };
                same(
                    "fsync",
                    Sqe::fsync(ours, datasync),
                    target!(ours, |t| opcode::Fsync::new(t).flags(fl).build()),
                );
            }
            // (The crate's Close computes index + 1 with overflow checks.)
            if ours != FdOperand::Fixed(u32::MAX) {
                same(
                    "close",
                    Sqe::close(ours),
                    target!(ours, |t| opcode::Close::new(t).build()),
                );
            }
            // splice/tee: every combination of plain/fixed input and output.
            for ours_in in OPERANDS {
                for (off_in, off_out) in [(-1i64, -1i64), (0, 5), (7, -1), (-2, i64::MAX)] {
                    for (len, flags) in [(0u32, 0u32), (10, 2), (u32::MAX, 0xf), (1, 0x10)] {
                        let theirs = target!(ours_in, |i| target!(ours, |o| {
                            opcode::Splice::new(i, off_in, o, off_out, len)
                                .flags(flags)
                                .build()
                        }));
                        same(
                            "splice",
                            Sqe::splice(ours_in, off_in, ours, off_out, len, flags),
                            theirs,
                        );
                        let theirs = target!(ours_in, |i| target!(ours, |o| {
                            opcode::Tee::new(i, o, len).flags(flags).build()
                        }));
                        same("tee", Sqe::tee(ours_in, ours, len, flags), theirs);
                    }
                }
            }
        }
        // Path ops: dirfds are plain descriptors (the crate's UseFd).
        for (dir, newdir) in [(3, 4), (-1, 1_000_000), (-100, 5)] {
            for flags in [
                0i32,
                libc::O_CREAT | libc::O_EXCL,
                libc::O_RDWR | libc::O_CLOEXEC,
            ] {
                for mode in [0u32, 0o644, 0o7777] {
                    same(
                        "openat",
                        Sqe::openat(dir, p, flags, mode),
                        opcode::OpenAt::new(types::Fd(dir), p as *const libc::c_char)
                            .flags(flags)
                            .mode(mode)
                            .build(),
                    );
                    same(
                        "mkdirat",
                        Sqe::mkdirat(dir, p, mode),
                        opcode::MkDirAt::new(types::Fd(dir), p as *const libc::c_char)
                            .mode(mode)
                            .build(),
                    );
                }
            }
            for (flags, mask) in [
                (0, libc::STATX_BASIC_STATS),
                (libc::AT_EMPTY_PATH, libc::STATX_BASIC_STATS),
                (libc::AT_SYMLINK_NOFOLLOW, 0xfff),
            ] {
                same(
                    "statx",
                    Sqe::statx(dir, p, flags, mask, q),
                    opcode::Statx::new(
                        types::Fd(dir),
                        p as *const libc::c_char,
                        q as *mut types::statx,
                    )
                    .flags(flags)
                    .mask(mask)
                    .build(),
                );
            }
            for flags in [0u32, libc::RENAME_NOREPLACE, libc::RENAME_EXCHANGE, 7] {
                same(
                    "renameat",
                    Sqe::renameat(dir, p, newdir, q, flags),
                    opcode::RenameAt::new(
                        types::Fd(dir),
                        p as *const libc::c_char,
                        types::Fd(newdir),
                        q as *const libc::c_char,
                    )
                    .flags(flags)
                    .build(),
                );
            }
            for flags in [0, libc::AT_REMOVEDIR, 1] {
                same(
                    "unlinkat",
                    Sqe::unlinkat(dir, p, flags),
                    opcode::UnlinkAt::new(types::Fd(dir), p as *const libc::c_char)
                        .flags(flags)
                        .build(),
                );
                same(
                    "linkat",
                    Sqe::linkat(dir, p, newdir, q, flags),
                    opcode::LinkAt::new(
                        types::Fd(dir),
                        p as *const libc::c_char,
                        types::Fd(newdir),
                        q as *const libc::c_char,
                    )
                    .flags(flags)
                    .build(),
                );
            }
            same(
                "symlinkat",
                Sqe::symlinkat(dir, p, q),
                opcode::SymlinkAt::new(
                    types::Fd(dir),
                    p as *const libc::c_char,
                    q as *const libc::c_char,
                )
                .build(),
            );
        }
        for flags in [
            0u32,
            libc::O_CLOEXEC as u32,
            (libc::O_CLOEXEC | libc::O_NONBLOCK) as u32,
        ] {
            same(
                "pipe",
                Sqe::pipe(p, flags),
                opcode::Pipe::new(p as *mut RawFd).flags(flags).build(),
            );
        }
        // Flags and user_data set through the crate's Entry methods land where ours do.
        let mut ours = Sqe::read(FdOperand::Plain(3), p, 4, 0);
        ours.flags |= flags::IO_LINK | flags::ASYNC;
        ours.user_data = 0xdead_beef;
        same(
            "read+flags",
            ours,
            opcode::Read::new(types::Fd(3), p as *mut u8, 4)
                .build()
                .flags(squeue::Flags::IO_LINK | squeue::Flags::ASYNC)
                .user_data(0xdead_beef),
        );
    }

    #[test]
    fn proposed_encodings() {
        let c = Sqe::copy_file_range(70, FdOperand::Plain(3), -1, FdOperand::Plain(4), 8, 100, 0);
        assert_eq!(
            (
                c.opcode,
                c.fd,
                c.splice_fd_in,
                c.addr,
                c.off,
                c.len,
                c.op_flags
            ),
            (70, 4, 3, u64::MAX, 8, 100, 0)
        );
        let c = Sqe::copy_file_range(70, FdOperand::Fixed(1), 0, FdOperand::Fixed(2), -1, 1, 0);
        assert_eq!(
            (c.flags, c.fd, c.splice_fd_in, c.op_flags, c.off),
            (flags::FIXED_FILE, 2, 1, SPLICE_F_FD_IN_FIXED, u64::MAX)
        );
        let g = Sqe::getdents64(71, FdOperand::Plain(5), 0x1000, 4096);
        assert_eq!(
            (g.opcode, g.fd, g.addr, g.len, g.off),
            (71, 5, 0x1000, 4096, 0)
        );
        let dev = libc::makedev(1, 3);
        for (field, want) in [
            (DevField::Off, (dev, 0, 0)),
            (DevField::Addr3, (0, dev, 0)),
            (DevField::OpFlags, (0, 0, dev as u32)),
        ] {
            let m = Sqe::mknodat(72, -100, 0x2000, 0o020644, dev, field);
            assert_eq!(
                (m.opcode, m.fd, m.addr, m.len),
                (72, -100, 0x2000, 0o020644)
            );
            assert_eq!((m.off, m.addr3, m.op_flags), want);
        }
    }

    #[test]
    fn proposed_numbers_parse_and_collide() {
        let p = ProposedOpcodes::parse("copy_file_range=70, getdents64=71,mknodat=72").unwrap();
        assert_eq!(
            (
                p.number(Proposed::CopyFileRange),
                p.number(Proposed::Getdents64),
                p.number(Proposed::Mknodat),
                p.mknod_dev
            ),
            (Some(70), Some(71), Some(72), DevField::Off)
        );
        assert_eq!(
            ProposedOpcodes::parse("getdents=71,mknod=72").unwrap(),
            ProposedOpcodes::NONE
                .with(Proposed::Getdents64, 71)
                .with(Proposed::Mknodat, 72)
        );
        assert_eq!(
            ProposedOpcodes::parse("").unwrap(),
            ProposedOpcodes::default()
        );
        assert_eq!(
            ProposedOpcodes::parse("mknodat=90,mknod_dev=addr3")
                .unwrap()
                .mknod_dev,
            DevField::Addr3
        );
        for bad in [
            "copy_file_range",
            "x=1",
            "mknodat=300",
            "getdents64=-1",
            "mknod_dev=len",
        ] {
            assert!(ProposedOpcodes::parse(bad).is_err(), "{bad}");
        }
        let e = ProposedOpcodes::parse("copy_file_range=70,mknodat=70").unwrap_err();
        assert!(e.contains("both have number 70"), "{e}");
        // 6.18: last_op 62 (PIPE). 30 is SPLICE, 62 PIPE itself: both collide.
        for n in [30u8, 62] {
            let p = ProposedOpcodes::NONE.with(Proposed::Getdents64, n);
            let e = p.check_collisions(62).unwrap_err();
            assert!(e.contains("collides with a mainline opcode"), "{e}");
            assert!(e.contains(&format!("getdents64={n}")), "{e}");
        }
        assert!(p.check_collisions(62).is_ok());
        assert!(ProposedOpcodes::default().check_collisions(255).is_ok());
    }
}
