//! Fault injection: a backend wrapper that imitates kernel bugs, to prove that the
//! differential oracle can fail.
//!
//! [`Faulty`] runs every op through a real backend and then, when its [`Fault`]
//! applies, perturbs what the backend reports: the outcome (a wrong count, errno,
//! byte, dirent or statx field), the state (through extra ops on the inner
//! backend, e.g. an lseek that undoes a position update), or the snapshot. Each
//! fault is a bug a kernel, a filesystem or an io_uring opcode could plausibly
//! have; the conformance suite requires that the model catches every one of them
//! with the same random campaign it runs against the real kernel
//! (conformance/tests/faults.rs).
//!
//! Extra ops a fault needs to learn about the backend's state (an `fstat` for a
//! file's type or size, a `stat` to see whether a name exists) are pure: they
//! change nothing the model observes. [`Faulty::triggered`] counts only the times
//! the fault actually changed something.

use crate::backend::Backend;
use model::{
    dirent_reclen, falloc, nonzero_runs, Data, Errno, FallocFlag, FdRef, FileType, NodeType, Off,
    Op, OpKind, OpenFlag, Outcome, Payload, RenameFlag, State, Whence, MAX_BUFFER, MAX_SLOTS,
};
use std::fmt;

/// One imitated kernel bug. See [`Fault::imitates`] for a one-line summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// A write/pwrite that transferred n >= 1 bytes returns n - 1 (every byte was
    /// written). Imitates a miscounted partial copy in a filesystem's
    /// `->write_iter` (generic_perform_write returning `written - 1` after a
    /// short copy_page_from_iter), or an io_uring write completion whose `res`
    /// is computed from the wrong iterator.
    ShortWrite,
    /// A read of a regular file that stopped at end of file returns one byte
    /// more (a zero from the tail of the last page). Imitates an off-by-one in
    /// the i_size check of filemap_read (`pos > isize` for `pos >= isize`).
    ReadPastEof,
    /// The last byte of a successful read never reaches the user buffer (it stays
    /// zero) although the count includes it. Imitates a copy_page_to_iter /
    /// copy_to_user length off by one in a read path.
    LostByte,
    /// A read or write through the file position (read(2)/write(2), or io_uring
    /// with offset -1) does not advance the position: an lseek through the inner
    /// backend moves it back. Imitates io_uring read/write on a regular file not
    /// updating `f_pos` (the pre-5.6 `IORING_OP_READ` with off = -1 behaviour).
    StalePosition,
    /// copy_file_range reports n - 1 of the n >= 1 bytes it copied (positions
    /// and written-back offsets advance by n). Imitates a server-side copy
    /// (NFS/CIFS `->copy_file_range`) returning a count that disagrees with what
    /// it transferred.
    CopyUndercount,
    /// copy_file_range/splice with explicit offsets copy data but do not write
    /// the advanced offsets back to the caller's `loff_t`. Imitates a missing
    /// `copy_to_user(off_in/off_out)` in the syscall wrapper.
    OffsetsNotWrittenBack,
    /// The op of `kind` fails with `to` where the kernel says `from`: a check
    /// done in the wrong order or a wrong error constant.
    WrongErrno {
        /// The op the bug is in.
        kind: OpKind,
        /// The errno the kernel really gives.
        from: Errno,
        /// The errno the buggy kernel reports instead.
        to: Errno,
    },
    /// The op of `kind` returns 0 where the kernel fails with `errno` (and does
    /// nothing): a missing validation, e.g. of a flags word or an advice value.
    SuccessInsteadOfError {
        /// The op the bug is in.
        kind: OpKind,
        /// The errno whose check is missing.
        errno: Errno,
    },
    /// getdents64 loses the last record of a result (and its bytes). Imitates a
    /// filldir whose cursor advanced past a record that was then dropped, so the
    /// entry is never returned (the classic "entry lost at a buffer boundary").
    SkippedDirent,
    /// getdents64 returns the first record of a result twice when the buffer has
    /// room. Imitates a readdir that re-emits an entry after a hash collision or
    /// a reused cookie (ext4 htree / simple_offset duplicate-entry bugs).
    DuplicatedDirent,
    /// getdents64 reports a wrong d_type for one record (a directory as DT_REG,
    /// anything else as DT_DIR). Imitates a wrong mode-to-d_type conversion
    /// (fs_umode_to_dtype misuse) in a filesystem's readdir.
    WrongDirentType,
    /// getdents64 reports an unaligned d_reclen (19 + name + 1, not rounded up to
    /// 8). Imitates a filldir64 that forgets the 8-byte record alignment.
    WrongReclen,
    /// After a seek to a dirent cookie the stream resumes one entry later: one
    /// record is read through the inner backend and discarded. Imitates a cookie
    /// that names the returned entry instead of the next one (the 6.6-era
    /// libfs simple_offset lseek/readdir off-by-one).
    DirentCursorOffByOne,
    /// open(O_CREAT), mkdir and mknod create with the mode not masked by the
    /// umask: the inner backend's umask is set to 0 around the call. Imitates a
    /// create path that skips `mode &= ~current_umask()` (as with default POSIX
    /// ACLs mishandled, or an io_uring opcode building the mode itself).
    UmaskIgnored,
    /// statx reports the size of a regular file rounded up to 4096 (the allocated
    /// size instead of i_size). Imitates a `->getattr` filling `size` from the
    /// block count.
    WrongStatSize,
    /// statx reports a device node's rdev with major and minor swapped. Imitates
    /// a wrong `stx_rdev_major`/`stx_rdev_minor` encoding (MAJOR/MINOR mixed up).
    WrongRdev,
    /// statx reports nlink 1 for every directory. Imitates a filesystem that does
    /// not count subdirectories (a missing inc_nlink in mkdir; btrfs does this by
    /// design, tmpfs must not).
    DirNlinkOne,
    /// tee consumes what it duplicates: after a successful tee of n bytes, n
    /// bytes are read from the input pipe through the inner backend and dropped.
    /// Imitates link_pipe moving buffers (splice semantics) instead of taking a
    /// reference.
    TeeConsumes,
    /// fallocate(FALLOC_FL_KEEP_SIZE) beyond end of file grows the file anyway
    /// (an ftruncate through the inner backend). Imitates a filesystem (or a FUSE
    /// forwarder) that drops the KEEP_SIZE bit.
    FallocateIgnoresKeepSize,
    /// fallocate(PUNCH_HOLE) succeeds but the data stays: the range is read
    /// before and written back after through the inner backend. Imitates a punch
    /// that forgets to zero the partial pages or blocks at the edges of the range
    /// (truncate_inode_pages_range without the partial-page zeroing).
    PunchKeepsData,
    /// renameat2(RENAME_NOREPLACE) over an existing name replaces it (the inner
    /// backend retries without the flag). Imitates a rename path that drops the
    /// flags word (an io_uring renameat prep ignoring `sqe->rename_flags`).
    NoreplaceIgnored,
    /// mknod(S_IFIFO) creates a regular file (the inner backend unlinks the FIFO
    /// and makes a regular file with the same permissions). Imitates a mknod that
    /// passes `mode & S_IALLUGO` on and loses the type bits.
    MknodFifoAsFile,
    /// lseek(SEEK_DATA) inside a hole answers the offset itself, as if the whole
    /// file were data (and moves the position there). Imitates a filesystem that
    /// lost its SEEK_DATA support and falls back to generic_file_llseek.
    SeekDataInHole,
    /// The state snapshot misses one file (the last path of the main root).
    /// Imitates a readdir that drops the final entry when its buffer fills
    /// exactly, seen only by the state walk.
    TruncatedSnapshot,
    /// ftruncate's length goes through 32 bits: the file gets `len as u32`
    /// bytes (2^32 + 1 becomes 1), and the call succeeds. Imitates a length
    /// stored in a u32 on one path (the deliberately broken kernel of
    /// kernel/broken/03-ftruncate-fixed-file-32bit does this with fixed
    /// files). Only lengths of 2^32 and above trigger it: the generator's
    /// boundary values, which shrinking must keep.
    TruncateLength32,
}

/// Every fault the suite checks, each with the parameters it is checked with.
pub fn all_faults() -> Vec<Fault> {
    use Fault::*;
    vec![
        ShortWrite,
        ReadPastEof,
        LostByte,
        StalePosition,
        CopyUndercount,
        OffsetsNotWrittenBack,
        WrongErrno {
            kind: OpKind::CopyFileRange,
            from: Errno::EINVAL,
            to: Errno::EBADF,
        },
        WrongErrno {
            kind: OpKind::CopyFileRange,
            from: Errno::EXDEV,
            to: Errno::EINVAL,
        },
        WrongErrno {
            kind: OpKind::Splice,
            from: Errno::ESPIPE,
            to: Errno::EINVAL,
        },
        WrongErrno {
            kind: OpKind::Mknod,
            from: Errno::EEXIST,
            to: Errno::ENOENT,
        },
        WrongErrno {
            kind: OpKind::Getdents,
            from: Errno::EINVAL,
            to: Errno::ENOTDIR,
        },
        SuccessInsteadOfError {
            kind: OpKind::Tee,
            errno: Errno::EINVAL,
        },
        SuccessInsteadOfError {
            kind: OpKind::Fadvise,
            errno: Errno::EINVAL,
        },
        SuccessInsteadOfError {
            kind: OpKind::CopyFileRange,
            errno: Errno::EINVAL,
        },
        SkippedDirent,
        DuplicatedDirent,
        WrongDirentType,
        WrongReclen,
        DirentCursorOffByOne,
        UmaskIgnored,
        WrongStatSize,
        WrongRdev,
        DirNlinkOne,
        TeeConsumes,
        FallocateIgnoresKeepSize,
        PunchKeepsData,
        NoreplaceIgnored,
        MknodFifoAsFile,
        SeekDataInHole,
        TruncatedSnapshot,
        TruncateLength32,
    ]
}

impl Fault {
    /// A one-line summary of the kernel bug the fault imitates.
    pub fn imitates(&self) -> String {
        match self {
            Fault::ShortWrite => "write returns n-1 after writing n bytes".into(),
            Fault::ReadPastEof => "read at EOF returns one byte past i_size".into(),
            Fault::LostByte => "last byte of a read not copied to the user buffer".into(),
            Fault::StalePosition => "read/write at the file position does not advance it".into(),
            Fault::CopyUndercount => "copy_file_range reports n-1 of n bytes copied".into(),
            Fault::OffsetsNotWrittenBack => {
                "copy_file_range/splice do not write back explicit offsets".into()
            }
            Fault::WrongErrno { kind, from, to } => format!("{kind} gives {to} instead of {from}"),
            Fault::SuccessInsteadOfError { kind, errno } => {
                format!("{kind} returns 0 instead of {errno} (missing check)")
            }
            Fault::SkippedDirent => "getdents64 drops the last record of a result".into(),
            Fault::DuplicatedDirent => "getdents64 returns a record twice".into(),
            Fault::WrongDirentType => "getdents64 reports a wrong d_type".into(),
            Fault::WrongReclen => "getdents64 reports an unaligned d_reclen".into(),
            Fault::DirentCursorOffByOne => "seek to a dirent cookie resumes one entry late".into(),
            Fault::UmaskIgnored => "open(O_CREAT)/mkdir/mknod ignore the umask".into(),
            Fault::WrongStatSize => "statx size rounded up to 4096".into(),
            Fault::WrongRdev => "statx rdev major/minor swapped".into(),
            Fault::DirNlinkOne => "statx nlink of directories is 1".into(),
            Fault::TeeConsumes => "tee consumes the input pipe's data".into(),
            Fault::FallocateIgnoresKeepSize => "fallocate drops FALLOC_FL_KEEP_SIZE".into(),
            Fault::PunchKeepsData => "PUNCH_HOLE leaves the data in place".into(),
            Fault::NoreplaceIgnored => "RENAME_NOREPLACE replaces the target".into(),
            Fault::MknodFifoAsFile => "mknod(S_IFIFO) creates a regular file".into(),
            Fault::SeekDataInHole => "SEEK_DATA treats holes as data".into(),
            Fault::TruncatedSnapshot => "the state walk misses the last file".into(),
            Fault::TruncateLength32 => "ftruncate keeps only the low 32 bits of the length".into(),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::WrongErrno { kind, from, to } => write!(f, "WrongErrno({kind} {from}->{to})"),
            Fault::SuccessInsteadOfError { kind, errno } => {
                write!(f, "SuccessInsteadOfError({kind} {errno})")
            }
            other => write!(f, "{other:?}"),
        }
    }
}

/// A backend that runs every op through `inner` and injects one [`Fault`].
pub struct Faulty<B: Backend> {
    inner: B,
    fault: Fault,
    name: String,
    /// O_APPEND per slot, as opened (a pwrite through such a slot appends, so
    /// faults that restore data with pwrite skip it).
    append: [bool; MAX_SLOTS as usize],
    /// How many times the fault changed an outcome, the state or the snapshot.
    pub triggered: u64,
}

impl<B: Backend> Faulty<B> {
    /// Wraps `inner` (fresh: empty roots, free slots) with `fault`.
    pub fn new(inner: B, fault: Fault) -> Faulty<B> {
        let name = format!("{}+{fault}", inner.name());
        Faulty {
            inner,
            fault,
            name,
            append: [false; MAX_SLOTS as usize],
            triggered: 0,
        }
    }

    /// The injected fault.
    pub fn fault(&self) -> Fault {
        self.fault
    }

    /// The wrapped backend.
    pub fn inner(&mut self) -> &mut B {
        &mut self.inner
    }

    fn hit(&mut self) {
        self.triggered += 1;
    }

    /// statx of a descriptor through the inner backend (pure).
    fn fstat(&mut self, fd: FdRef) -> Option<model::Stat> {
        match self.inner.exec(&Op::Fstat { fd }).data {
            Data::Stat(s) => Some(s),
            _ => None,
        }
    }

    /// Keeps the per-slot O_APPEND table in step with the ops that ran.
    fn note(&mut self, op: &Op, out: &Outcome) {
        if out.result.is_err() {
            return;
        }
        match op {
            Op::Open { slot, flags, .. } => {
                self.append[*slot as usize] =
                    flags.contains(&OpenFlag::Append) && !flags.contains(&OpenFlag::Path);
            }
            Op::Pipe {
                read_slot,
                write_slot,
                ..
            } => {
                self.append[*read_slot as usize] = false;
                self.append[*write_slot as usize] = false;
            }
            Op::Close { fd: FdRef::Slot(s) } => self.append[*s as usize] = false,
            _ => {}
        }
    }

    fn appends(&self, fd: FdRef) -> bool {
        match fd {
            FdRef::Slot(s) => self.append.get(s as usize).copied().unwrap_or(false),
            FdRef::Special(_) => false,
        }
    }

    /// Runs `op` through the inner backend with the fault applied.
    fn run(&mut self, op: &Op) -> Outcome {
        match (self.fault, op) {
            (Fault::UmaskIgnored, Op::Open { .. } | Op::Mkdir { .. } | Op::Mknod { .. }) => {
                self.umask_ignored(op)
            }
            (Fault::FallocateIgnoresKeepSize, Op::Fallocate { .. }) => self.keep_size_ignored(op),
            (Fault::PunchKeepsData, Op::Fallocate { .. }) => self.punch_keeps_data(op),
            (Fault::SeekDataInHole, Op::Lseek { .. }) => self.seek_data_in_hole(op),
            (Fault::NoreplaceIgnored, Op::Rename { .. }) => self.noreplace_ignored(op),
            (Fault::TruncateLength32, Op::Ftruncate { fd, len }) if *len >= 1 << 32 => {
                let short = Op::Ftruncate {
                    fd: *fd,
                    len: *len as u32 as i64,
                };
                let out = self.inner.exec(&short);
                if out.result.is_ok() {
                    self.hit();
                }
                self.after(op, out)
            }
            _ => {
                let out = self.inner.exec(op);
                self.after(op, out)
            }
        }
    }

    /// Faults that act after the op ran normally: perturb its outcome, or the
    /// state through extra inner ops.
    fn after(&mut self, op: &Op, mut out: Outcome) -> Outcome {
        let Ok(n) = out.result else {
            return self.on_error(op, out);
        };
        match (self.fault, op) {
            (Fault::ShortWrite, Op::Write { .. }) if n > 0 => {
                self.hit();
                out.result = Ok(n - 1);
            }
            // A read shorter than asked stopped at end of file (regular files).
            (Fault::ReadPastEof, Op::Read { fd, len, .. })
                if (n as u64) < *len
                    && self
                        .fstat(*fd)
                        .is_some_and(|s| s.file_type == FileType::Reg) =>
            {
                if let Data::Bytes(b) = &mut out.data {
                    b.push(0);
                    out.result = Ok(n + 1);
                    self.hit();
                }
            }
            (Fault::LostByte, Op::Read { .. }) => {
                if let Data::Bytes(b) = &mut out.data {
                    if let Some(last) = b.last_mut().filter(|l| **l != 0) {
                        *last = 0;
                        self.hit();
                    }
                }
            }
            (
                Fault::StalePosition,
                Op::Read {
                    fd,
                    offset: Off::Pos,
                    ..
                }
                | Op::Write {
                    fd,
                    offset: Off::Pos,
                    ..
                },
            ) if n > 0 => {
                let back = Op::Lseek {
                    fd: *fd,
                    offset: -n,
                    whence: Whence::Cur,
                };
                if self.inner.exec(&back).result.is_ok() {
                    self.hit();
                }
            }
            (Fault::CopyUndercount, Op::CopyFileRange { .. }) if n > 0 => {
                self.hit();
                out.result = Ok(n - 1);
            }
            (Fault::OffsetsNotWrittenBack, Op::CopyFileRange { .. } | Op::Splice { .. })
                if n > 0 =>
            {
                if let Data::Offsets(i, o) = out.data {
                    if i.is_some() || o.is_some() {
                        out.data = Data::Offsets(i.map(|v| v - n), o.map(|v| v - n));
                        self.hit();
                    }
                }
            }
            (Fault::SkippedDirent, Op::Getdents { .. }) => {
                if let Data::Dirents(recs) = &mut out.data {
                    if let Some(last) = recs.pop() {
                        out.result = Ok(n - last.reclen as i64);
                        self.hit();
                    }
                }
            }
            (Fault::DuplicatedDirent, Op::Getdents { count, .. }) => {
                if let Data::Dirents(recs) = &mut out.data {
                    if let Some(first) = recs.first().cloned() {
                        let total = n + first.reclen as i64;
                        if total as u64 <= *count {
                            recs.push(first);
                            out.result = Ok(total);
                            self.hit();
                        }
                    }
                }
            }
            (Fault::WrongDirentType, Op::Getdents { .. }) => {
                if let Data::Dirents(recs) = &mut out.data {
                    if let Some(r) = recs.iter_mut().find(|r| r.file_type != FileType::Unknown) {
                        r.file_type = match r.file_type {
                            FileType::Dir => FileType::Reg,
                            _ => FileType::Dir,
                        };
                        self.hit();
                    }
                }
            }
            (Fault::WrongReclen, Op::Getdents { .. }) => {
                if let Data::Dirents(recs) = &mut out.data {
                    if let Some(r) = recs.first_mut() {
                        let unaligned = (19 + r.name.len() + 1) as u16;
                        if unaligned != r.reclen {
                            out.result = Ok(n - (r.reclen - unaligned) as i64);
                            r.reclen = unaligned;
                            self.hit();
                        }
                    }
                }
            }
            (Fault::DirentCursorOffByOne, Op::SeekDirent { fd, .. }) => {
                // One short-name record: every name the generator uses fits.
                let skip = Op::Getdents {
                    fd: *fd,
                    count: dirent_reclen(4) as u64,
                };
                if matches!(self.inner.exec(&skip).result, Ok(m) if m > 0) {
                    self.hit();
                }
            }
            (Fault::WrongStatSize, Op::Stat { .. } | Op::Fstat { .. }) => {
                if let Data::Stat(s) = &mut out.data {
                    if s.file_type == FileType::Reg && s.size % 4096 != 0 {
                        s.size = s.size.div_ceil(4096) * 4096;
                        self.hit();
                    }
                }
            }
            (Fault::WrongRdev, Op::Stat { .. } | Op::Fstat { .. }) => {
                if let Data::Stat(s) = &mut out.data {
                    if s.rdev.0 != s.rdev.1 {
                        s.rdev = (s.rdev.1, s.rdev.0);
                        self.hit();
                    }
                }
            }
            (Fault::DirNlinkOne, Op::Stat { .. } | Op::Fstat { .. }) => {
                if let Data::Stat(s) = &mut out.data {
                    if s.file_type == FileType::Dir && s.nlink != 1 {
                        s.nlink = 1;
                        self.hit();
                    }
                }
            }
            (Fault::TeeConsumes, Op::Tee { fd_in, .. }) if n > 0 => {
                let drain = Op::Read {
                    fd: *fd_in,
                    len: n as u64,
                    offset: Off::Pos,
                };
                if matches!(self.inner.exec(&drain).result, Ok(m) if m > 0) {
                    self.hit();
                }
            }
            (
                Fault::MknodFifoAsFile,
                Op::Mknod {
                    dir,
                    path,
                    node_type: NodeType::Fifo,
                    perm,
                    ..
                },
            ) => {
                let unlink = Op::Unlink {
                    dir: *dir,
                    path: path.clone(),
                    removedir: false,
                };
                let reg = Op::Mknod {
                    dir: *dir,
                    path: path.clone(),
                    node_type: NodeType::Reg,
                    perm: *perm,
                    major: 0,
                    minor: 0,
                };
                if self.inner.exec(&unlink).result.is_ok() && self.inner.exec(&reg).result.is_ok() {
                    self.hit();
                }
            }
            _ => {}
        }
        out
    }

    /// Faults that change a failure.
    fn on_error(&mut self, op: &Op, mut out: Outcome) -> Outcome {
        let Err(e) = out.result else { return out };
        match self.fault {
            Fault::WrongErrno { kind, from, to } if op.kind() == kind && e == from => {
                out.result = Err(to);
                self.hit();
            }
            Fault::SuccessInsteadOfError { kind, errno } if op.kind() == kind && e == errno => {
                out = Outcome::ok(0);
                self.hit();
            }
            _ => {}
        }
        out
    }

    fn umask_ignored(&mut self, op: &Op) -> Outcome {
        let (dir, path, mode, creates) = match op {
            Op::Open {
                dir,
                path,
                flags,
                mode,
                ..
            } => (
                *dir,
                path,
                *mode,
                flags.contains(&OpenFlag::Creat) && !flags.contains(&OpenFlag::Path),
            ),
            Op::Mkdir { dir, path, mode } => (*dir, path, *mode, true),
            Op::Mknod {
                dir, path, perm, ..
            } => (*dir, path, *perm, true),
            _ => unreachable!("only creating ops come here"),
        };
        if !creates {
            return self.inner.exec(op);
        }
        // open(O_CREAT) of an existing name creates nothing.
        let probe = Op::Stat {
            dir,
            path: path.clone(),
            follow: true,
        };
        let absent = self.inner.exec(&probe).result == Err(Errno::ENOENT);
        let old = match self.inner.exec(&Op::Umask { mask: 0 }).result {
            Ok(m) => m as u32,
            Err(_) => return self.inner.exec(op),
        };
        let out = self.inner.exec(op);
        self.inner.exec(&Op::Umask { mask: old });
        if out.result.is_ok() && absent && mode & 0o777 & old != 0 {
            self.hit();
        }
        out
    }

    fn keep_size_ignored(&mut self, op: &Op) -> Outcome {
        let Op::Fallocate {
            fd,
            mode,
            offset,
            len,
        } = op
        else {
            unreachable!("only fallocate comes here")
        };
        if model::ops::space::falloc_mode(mode) != falloc::KEEP_SIZE {
            return self.inner.exec(op);
        }
        let before = self.fstat(*fd).map(|s| s.size);
        let out = self.inner.exec(op);
        if let (Ok(_), Some(size), Some(end)) = (out.result, before, offset.checked_add(*len)) {
            if end as u64 > size {
                let grow = Op::Ftruncate { fd: *fd, len: end };
                if self.inner.exec(&grow).result.is_ok() {
                    self.hit();
                }
            }
        }
        out
    }

    fn punch_keeps_data(&mut self, op: &Op) -> Outcome {
        let Op::Fallocate {
            fd,
            mode,
            offset,
            len,
        } = op
        else {
            unreachable!("only fallocate comes here")
        };
        if !mode.contains(&FallocFlag::PunchHole) || *offset < 0 || *len <= 0 || self.appends(*fd) {
            return self.inner.exec(op);
        }
        let read = Op::Read {
            fd: *fd,
            len: (*len as u64).min(MAX_BUFFER),
            offset: Off::At(*offset),
        };
        let before = match self.inner.exec(&read).data {
            Data::Bytes(b) => b,
            _ => Vec::new(),
        };
        let out = self.inner.exec(op);
        if out.result.is_err() {
            return out;
        }
        let mut restored = false;
        for (at, bytes) in nonzero_runs(*offset as u64, &before) {
            let Ok(text) = String::from_utf8(bytes) else {
                continue;
            };
            let write = Op::Write {
                fd: *fd,
                data: Payload::Text(text),
                offset: Off::At(at as i64),
            };
            restored |= self.inner.exec(&write).result.is_ok();
        }
        if restored {
            self.hit();
        }
        out
    }

    fn seek_data_in_hole(&mut self, op: &Op) -> Outcome {
        let Op::Lseek {
            fd,
            offset,
            whence: Whence::Data,
        } = op
        else {
            let out = self.inner.exec(op);
            return self.after(op, out);
        };
        let out = self.inner.exec(op);
        let in_hole = match out.result {
            Ok(v) => v > *offset,
            // ENXIO before EOF: a hole that runs to the end of the file.
            Err(Errno::ENXIO) => {
                *offset >= 0
                    && self
                        .fstat(*fd)
                        .is_some_and(|s| s.file_type == FileType::Reg && (*offset as u64) < s.size)
            }
            Err(_) => false,
        };
        if !in_hole {
            return out;
        }
        let set = Op::Lseek {
            fd: *fd,
            offset: *offset,
            whence: Whence::Set,
        };
        let moved = self.inner.exec(&set);
        if moved.result == Ok(*offset) {
            self.hit();
            return moved;
        }
        out
    }

    fn noreplace_ignored(&mut self, op: &Op) -> Outcome {
        let Op::Rename {
            dir,
            path,
            new_dir,
            new_path,
            flags,
        } = op
        else {
            unreachable!("only rename comes here")
        };
        let out = self.inner.exec(op);
        if out.result != Err(Errno::EEXIST)
            || !flags.contains(&RenameFlag::Noreplace)
            || flags.contains(&RenameFlag::Exchange)
        {
            return out;
        }
        let plain = Op::Rename {
            dir: *dir,
            path: path.clone(),
            new_dir: *new_dir,
            new_path: new_path.clone(),
            flags: vec![],
        };
        let retry = self.inner.exec(&plain);
        if retry.result.is_ok() {
            self.hit();
            return retry;
        }
        out
    }
}

impl<B: Backend> Backend for Faulty<B> {
    fn name(&self) -> &str {
        &self.name
    }

    fn exec(&mut self, op: &Op) -> Outcome {
        let out = self.run(op);
        self.note(op, &out);
        out
    }

    fn snapshot(&mut self) -> State {
        let mut state = self.inner.snapshot();
        if self.fault == Fault::TruncatedSnapshot {
            if let Some(tree) = state.trees.get_mut("root") {
                if tree.pop_last().is_some() {
                    self.hit();
                }
            }
        }
        state
    }
}
