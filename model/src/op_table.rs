//! The op table: one row per operation, the only place an operation is
//! described. Everything else about an op is derived from its row:
//!
//! - here, in the model: the [`crate::Op`] variant and its fields (the
//!   corpus file format), [`crate::OpKind`] with its name, io_uring opcode and
//!   generator weight, the fd, dirfd, path and new-slot operands
//!   ([`crate::Op::slots`], [`crate::Op::dirs`], [`crate::Op::paths`]), the
//!   footprint used for batch grouping ([`crate::Footprint`]), and the dispatch
//!   to the op's semantics (`plan`, a method of [`crate::Fs`] in one file under
//!   `ops/`);
//! - in the oracle: the synchronous call through the C library (`syscall`),
//!   the io_uring SQE encoding (`sqe`), and the generator strategy
//!   (`strategy`).
//!
//! The SQE field rules of an opcode and its probe name come from its number
//! (`crate::opcode`, `crate::sqe_rules`), which the row names once.
//!
//! A row reads:
//!
//! ```text
//! /// docs of the op
//! Variant = "name" { fields (with serde attributes and docs) }
//! opcode <UringOpcode>, weight <n>, footprint <Fds|Alone>;
//! fds [fd operands] dirs [dirfd operands] paths [path operands] new_slots [slots it fills]
//!     buffers [fields that size a user buffer];
//! plan |fs| <the model's plan, fs: &Fs>;
//! prep |fs| <Some(errno) when io_uring's prep refuses the SQE, else None>;
//! link |fs, out| <whether this outcome fails the request: a linked chain breaks>;
//! syscall |s| <the glibc call, s: &mut Syscalls>;
//! sqe |u, keep, done| <the SQE, u: &mut Uring; keep: the buffers; done: how the result lands>;
//! strategy <the generator's proptest strategy>;
//! ```
//!
//! The field names are bound (by reference) in `plan`, `syscall` and `sqe`.
//! Other names in the code resolve where the projection is expanded: the
//! model's exec.rs, the oracle's syscalls.rs, uring.rs and gen.rs.

/// Expands the op table through one projection: `families` (the semantics
/// modules, in ops/mod.rs), `define` (the types, in op.rs), a code column
/// `plan (fs) op`, `prep (fs) op`, `link (fs, out) op`, `syscall (sys) op` or
/// `sqe (uring, keep, done) op` (a `match` on `op` evaluating the row's code
/// with its names bound to the values), or `strategy kind` (a `match` on an
/// [`crate::OpKind`] giving the row's strategy). See the module docs.
#[macro_export]
macro_rules! op_table {
    ($($projection:tt)*) => {
        $crate::__op_projection! { ($($projection)*)

// The semantics files under model/src/ops/, one per op family: each holds the
// `Fs::plan_*` methods its rows name.
families copy dents file names space xattr;

/// openat(dir, path, flags, mode); the new descriptor goes into `slot` (an
/// occupied slot is closed first, silently).
Open = "open" {
    /// The slot the new descriptor goes into.
    slot: Slot,
    /// The dirfd `path` is resolved against.
    #[serde(default)]
    dir: Dir,
    /// The path, relative to `dir`.
    path: String,
    /// The call's flags.
    #[serde(default)]
    flags: Vec<OpenFlag>,
    /// The mode argument.
    #[serde(default = "default_file_mode")]
    mode: u32,
}
opcode Mainline(op::OPENAT), weight 4, footprint Alone;
fds [] dirs [dir] paths [path] new_slots [slot] buffers [];
plan |fs| fs.plan_open(*slot, *dir, path, flags, *mode);
prep |fs| None;
link |fs, out| out.result.is_err();
syscall |s| s.open(*slot, *dir, path, flags, *mode);
sqe |u, keep, done| {
    *done = Done::Open(*slot);
    let p = keep.path(path);
    Sqe::from_entry(
        &opcode::OpenAt::new(types::Fd(u.sys.dir(*dir)), p as *const libc::c_char)
            .flags(open_flags(flags))
            .mode(*mode)
            .build(),
    )
};
strategy (
    slot(),
    dir(),
    path(),
    open_flags(),
    select(vec![0o644u32, 0o600, 0o777]),
)
    .prop_map(|(slot, dir, path, flags, mode)| Op::Open { slot, dir, path, flags, mode })
    .boxed();

/// close(fd).
Close = "close" {
    /// The descriptor operand.
    fd: FdRef,
}
opcode Mainline(op::CLOSE), weight 1, footprint Alone;
fds [fd] dirs [] paths [] new_slots [] buffers [];
plan |fs| fs.plan_close(*fd);
prep |fs| None;
link |fs, out| out.result.is_err();
syscall |s| s.close(*fd);
sqe |u, keep, done| {
    let raw = match fd {
        FdRef::Slot(s) => u.sys.take_slot(*s).map_or(CLOSED_FD, |fd| fd.into_raw_fd()),
        FdRef::Special(_) => unreachable!("refused by ring_path"),
    };
    Sqe::from_entry(&opcode::Close::new(types::Fd(raw)).build())
};
strategy fd().prop_map(|fd| Op::Close { fd }).boxed();

/// read(2) at the file position or pread(2) at `offset`. The outcome carries
/// the bytes read.
Read = "read" {
    /// The descriptor operand.
    fd: FdRef,
    /// The number of bytes to read.
    len: u64,
    /// The offset argument.
    #[serde(default)]
    offset: Off,
}
opcode Mainline(op::READ), weight 3, footprint Fds;
fds [fd] dirs [] paths [] new_slots [] buffers [len];
plan |fs| fs.plan_read(*fd, *len, *offset);
prep |fs| None;
link |fs, out| out.result.map_or(true, |v| v as u64 != *len);
syscall |s| s.read(*fd, *len, *offset);
sqe |u, keep, done| {
    *done = Done::Read;
    keep.bytes = vec![0u8; (*len as usize).max(1)];
    let buf = keep.bytes.as_mut_ptr();
    with_target!(u.operand(*fd), |t| Sqe::from_entry(
        &opcode::Read::new(t, buf, *len as u32).offset(off64(*offset)).build()
    ))
};
strategy (fd(), length(), off())
    .prop_map(|(fd, len, offset)| Op::Read { fd, len: len.min(1 << 17), offset })
    .boxed();

/// write(2) at the file position or pwrite(2) at `offset`.
Write = "write" {
    /// The descriptor operand.
    fd: FdRef,
    /// The bytes to write.
    data: Payload,
    /// The offset argument.
    #[serde(default)]
    offset: Off,
}
opcode Mainline(op::WRITE), weight 4, footprint Fds;
fds [fd] dirs [] paths [] new_slots [] buffers [data];
plan |fs| fs.plan_write(*fd, data, *offset);
prep |fs| None;
link |fs, out| out.result.map_or(true, |v| v as u64 != data.len());
syscall |s| s.write(*fd, data, *offset);
sqe |u, keep, done| {
    keep.bytes = data.bytes();
    let len = keep.bytes.len() as u32;
    if keep.bytes.is_empty() {
        keep.bytes.push(0); // a real buffer even for a zero-length write
    }
    let buf = keep.bytes.as_ptr();
    with_target!(u.operand(*fd), |t| Sqe::from_entry(
        &opcode::Write::new(t, buf, len).offset(off64(*offset)).build()
    ))
};
strategy (fd(), payload(), off())
    .prop_map(|(fd, data, offset)| Op::Write { fd, data, offset })
    .boxed();

/// lseek(fd, offset, whence). No io_uring opcode: runs synchronously.
Lseek = "lseek" {
    /// The descriptor operand.
    fd: FdRef,
    /// The offset argument.
    offset: i64,
    /// How `offset` is interpreted.
    whence: Whence,
}
opcode UringOpcode::None, weight 2, footprint Alone;
fds [fd] dirs [] paths [] new_slots [] buffers [];
plan |fs| fs.plan_lseek(*fd, *offset, *whence);
prep |fs| None;
link |fs, out| out.result.is_err();
syscall |s| {
    // SAFETY: plain call on a descriptor this backend owns.
    check(unsafe { libc::lseek(s.fd(*fd), *offset, whence_value(*whence)) })
};
sqe |u, keep, done| unreachable!("refused by ring_path");
strategy prop_oneof![
    (
        file_fd(),
        offset_value(),
        select(vec![Whence::Set, Whence::Cur, Whence::End]),
    ),
    // SEEK_DATA/SEEK_HOLE around the prelude's hole in `b` (data at 0,
    // hole from the first page boundary to 16384, data at 20000).
    (
        file_fd(),
        prop_oneof![
            select(vec![0i64, 100, 4096, 8192, 16383, 16384, 20002]),
            offset_value()
        ],
        select(vec![Whence::Data, Whence::Hole]),
    ),
]
.prop_map(|(fd, offset, whence)| Op::Lseek { fd, offset, whence })
.boxed();

/// lseek(fd, d_off, SEEK_SET) where d_off is the cookie of the `entry`-th
/// (0-based) dirent this descriptor's getdents64 calls have returned so far.
SeekDirent = "seek_dirent" {
    /// The descriptor operand.
    fd: FdRef,
    /// Index (0-based) of the record whose d_off to seek to.
    entry: u32,
}
opcode UringOpcode::None, weight 2, footprint Alone;
fds [fd] dirs [] paths [] new_slots [] buffers [];
plan |fs| fs.plan_seek_dirent(*fd, *entry);
prep |fs| None;
link |fs, out| out.result.is_err();
syscall |s| s.seek_dirent(*fd, *entry);
sqe |u, keep, done| unreachable!("refused by ring_path");
strategy (dir_fd(), 0u32..6)
    .prop_map(|(fd, entry)| Op::SeekDirent { fd, entry })
    .boxed();

/// ftruncate(fd, len).
Ftruncate = "ftruncate" {
    /// The descriptor operand.
    fd: FdRef,
    /// The new size.
    len: i64,
}
opcode Mainline(op::FTRUNCATE), weight 2, footprint Fds;
fds [fd] dirs [] paths [] new_slots [] buffers [];
plan |fs| fs.plan_ftruncate(*fd, *len);
prep |fs| None;
// Errors are posted without failing the request, unless the descriptor
// cannot be looked up.
link |fs, out| out.result.is_err() && fs.desc(*fd).is_err();
syscall |s| {
    // SAFETY: plain call on a descriptor this backend owns.
    check(unsafe { libc::ftruncate(s.fd(*fd), *len) } as i64)
};
sqe |u, keep, done| with_target!(u.operand(*fd), |t| Sqe::from_entry(
    &opcode::Ftruncate::new(t, *len as u64).build()
));
strategy (fd(), offset_value())
    .prop_map(|(fd, len)| Op::Ftruncate { fd, len })
    .boxed();

/// fsync(fd) or fdatasync(fd).
Fsync = "fsync" {
    /// The descriptor operand.
    fd: FdRef,
    /// fdatasync(2) instead of fsync(2).
    #[serde(default)]
    datasync: bool,
}
opcode Mainline(op::FSYNC), weight 2, footprint Fds;
fds [fd] dirs [] paths [] new_slots [] buffers [];
plan |fs| fs.plan_fsync(*fd);
prep |fs| None;
// Errors are posted without failing the request, unless the descriptor
// cannot be looked up.
link |fs, out| out.result.is_err() && fs.desc(*fd).is_err();
syscall |s| {
    let fd = s.fd(*fd);
    // SAFETY: plain calls on a descriptor this backend owns.
    check(unsafe {
        if *datasync {
            libc::fdatasync(fd)
        } else {
            libc::fsync(fd)
        }
    } as i64)
};
sqe |u, keep, done| {
    let fl = if *datasync {
        types::FsyncFlags::DATASYNC
    } else {
        types::FsyncFlags::empty()
    };
    with_target!(u.operand(*fd), |t| Sqe::from_entry(&opcode::Fsync::new(t).flags(fl).build()))
};
strategy (fd(), any::<bool>())
    .prop_map(|(fd, datasync)| Op::Fsync { fd, datasync })
    .boxed();

/// statx(dir, path, AT_SYMLINK_NOFOLLOW unless `follow`). The outcome carries
/// the deterministic fields: type, permission bits, size, nlink, rdev.
Stat = "stat" {
    /// The dirfd `path` is resolved against.
    #[serde(default)]
    dir: Dir,
    /// The path, relative to `dir`.
    path: String,
    /// Follow a final symlink (no AT_SYMLINK_NOFOLLOW).
    #[serde(default)]
    follow: bool,
}
opcode Mainline(op::STATX), weight 2, footprint Alone;
fds [] dirs [dir] paths [path] new_slots [] buffers [];
plan |fs| fs.plan_stat(*dir, path, *follow);
prep |fs| None;
// Never fails the request: a chain goes on after an error.
link |fs, out| false;
syscall |s| {
    let flags = if *follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    statx_of(s.dir(*dir), &cstr(path), flags)
};
sqe |u, keep, done| {
    *done = Done::Stat;
    let flags = if *follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    let p = keep.path(path);
    u.statx_sqe(keep, u.sys.dir(*dir), p, flags)
};
strategy (dir(), path(), any::<bool>())
    .prop_map(|(dir, path, follow)| Op::Stat { dir, path, follow })
    .boxed();

/// statx(fd, "", AT_EMPTY_PATH).
Fstat = "fstat" {
    /// The descriptor operand.
    fd: FdRef,
}
opcode Mainline(op::STATX), weight 2, footprint Fds;
fds [fd] dirs [] paths [] new_slots [] buffers [];
plan |fs| fs.plan_fstat(*fd);
prep |fs| None;
// Never fails the request: a chain goes on after an error.
link |fs, out| false;
syscall |s| statx_of(s.fd(*fd), &cstr(""), libc::AT_EMPTY_PATH);
sqe |u, keep, done| {
    *done = Done::Stat;
    let p = keep.path("");
    u.statx_sqe(keep, u.sys.fd(*fd), p, libc::AT_EMPTY_PATH)
};
strategy fd().prop_map(|fd| Op::Fstat { fd }).boxed();

/// mkdirat(dir, path, mode).
Mkdir = "mkdir" {
    /// The dirfd `path` is resolved against.
    #[serde(default)]
    dir: Dir,
    /// The path, relative to `dir`.
    path: String,
    /// The mode argument.
    #[serde(default = "default_dir_mode")]
    mode: u32,
}
opcode Mainline(op::MKDIRAT), weight 2, footprint Alone;
fds [] dirs [dir] paths [path] new_slots [] buffers [];
plan |fs| fs.plan_mkdir(*dir, path, *mode);
prep |fs| None;
// Never fails the request: a chain goes on after an error.
link |fs, out| false;
syscall |s| {
    // SAFETY: a NUL-terminated C string that outlives the call.
    check(unsafe { libc::mkdirat(s.dir(*dir), cstr(path).as_ptr(), *mode) } as i64)
};
sqe |u, keep, done| {
    let p = keep.path(path);
    Sqe::from_entry(
        &opcode::MkDirAt::new(types::Fd(u.sys.dir(*dir)), p as *const libc::c_char)
            .mode(*mode)
            .build(),
    )
};
strategy (dir(), path())
    .prop_map(|(dir, path)| Op::Mkdir { dir, path, mode: 0o755 })
    .boxed();

/// unlinkat(dir, path, AT_REMOVEDIR if `removedir`).
Unlink = "unlink" {
    /// The dirfd `path` is resolved against.
    #[serde(default)]
    dir: Dir,
    /// The path, relative to `dir`.
    path: String,
    /// AT_REMOVEDIR: remove a directory.
    #[serde(default)]
    removedir: bool,
}
opcode Mainline(op::UNLINKAT), weight 2, footprint Alone;
fds [] dirs [dir] paths [path] new_slots [] buffers [];
plan |fs| fs.plan_unlink(*dir, path, *removedir);
prep |fs| None;
// Never fails the request: a chain goes on after an error.
link |fs, out| false;
syscall |s| {
    let flags = if *removedir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: a NUL-terminated C string that outlives the call.
    check(unsafe { libc::unlinkat(s.dir(*dir), cstr(path).as_ptr(), flags) } as i64)
};
sqe |u, keep, done| {
    let p = keep.path(path);
    let flags = if *removedir { libc::AT_REMOVEDIR } else { 0 };
    Sqe::from_entry(
        &opcode::UnlinkAt::new(types::Fd(u.sys.dir(*dir)), p as *const libc::c_char)
            .flags(flags)
            .build(),
    )
};
strategy (dir(), path(), any::<bool>())
    .prop_map(|(dir, path, removedir)| Op::Unlink { dir, path, removedir })
    .boxed();

/// renameat2(dir, path, new_dir, new_path, flags).
Rename = "rename" {
    /// The dirfd `path` is resolved against.
    #[serde(default)]
    dir: Dir,
    /// The path, relative to `dir`.
    path: String,
    /// The dirfd `new_path` is resolved against.
    #[serde(default)]
    new_dir: Dir,
    /// The new name, relative to `new_dir`.
    new_path: String,
    /// The call's flags.
    #[serde(default)]
    flags: Vec<RenameFlag>,
}
opcode Mainline(op::RENAMEAT), weight 2, footprint Alone;
fds [] dirs [dir, new_dir] paths [path, new_path] new_slots [] buffers [];
plan |fs| fs.plan_rename(*dir, path, *new_dir, new_path, flags);
prep |fs| None;
// Never fails the request: a chain goes on after an error.
link |fs, out| false;
syscall |s| {
    let (a, b) = (cstr(path), cstr(new_path));
    // SAFETY: NUL-terminated C strings that outlive the call.
    check(unsafe {
        libc::renameat2(s.dir(*dir), a.as_ptr(), s.dir(*new_dir), b.as_ptr(), rename_flags(flags))
    } as i64)
};
sqe |u, keep, done| {
    let (a, b) = (keep.path(path), keep.path(new_path));
    Sqe::from_entry(
        &opcode::RenameAt::new(
            types::Fd(u.sys.dir(*dir)),
            a as *const libc::c_char,
            types::Fd(u.sys.dir(*new_dir)),
            b as *const libc::c_char,
        )
        .flags(rename_flags(flags))
        .build(),
    )
};
strategy (
    dir(),
    path(),
    dir(),
    path(),
    select(vec![
        vec![],
        vec![],
        vec![RenameFlag::Noreplace],
        vec![RenameFlag::Exchange],
    ]),
)
    .prop_map(|(dir, path, new_dir, new_path, flags)| Op::Rename {
        dir,
        path,
        new_dir,
        new_path,
        flags,
    })
    .boxed();

/// linkat(dir, path, new_dir, new_path, 0).
Link = "link" {
    /// The dirfd `path` is resolved against.
    #[serde(default)]
    dir: Dir,
    /// The path, relative to `dir`.
    path: String,
    /// The dirfd `new_path` is resolved against.
    #[serde(default)]
    new_dir: Dir,
    /// The new name, relative to `new_dir`.
    new_path: String,
}
opcode Mainline(op::LINKAT), weight 2, footprint Alone;
fds [] dirs [dir, new_dir] paths [path, new_path] new_slots [] buffers [];
plan |fs| fs.plan_link(*dir, path, *new_dir, new_path);
prep |fs| None;
// Never fails the request: a chain goes on after an error.
link |fs, out| false;
syscall |s| {
    let (a, b) = (cstr(path), cstr(new_path));
    // SAFETY: NUL-terminated C strings that outlive the call.
    check(unsafe { libc::linkat(s.dir(*dir), a.as_ptr(), s.dir(*new_dir), b.as_ptr(), 0) }
        as i64)
};
sqe |u, keep, done| {
    let (a, b) = (keep.path(path), keep.path(new_path));
    Sqe::from_entry(
        &opcode::LinkAt::new(
            types::Fd(u.sys.dir(*dir)),
            a as *const libc::c_char,
            types::Fd(u.sys.dir(*new_dir)),
            b as *const libc::c_char,
        )
        .build(),
    )
};
strategy (dir(), path(), dir(), path())
    .prop_map(|(dir, path, new_dir, new_path)| Op::Link { dir, path, new_dir, new_path })
    .boxed();

/// symlinkat(target, dir, path).
Symlink = "symlink" {
    /// The symlink's target (a safe relative path).
    target: String,
    /// The dirfd `path` is resolved against.
    #[serde(default)]
    dir: Dir,
    /// The path, relative to `dir`.
    path: String,
}
opcode Mainline(op::SYMLINKAT), weight 2, footprint Alone;
fds [] dirs [dir] paths [target, path] new_slots [] buffers [];
plan |fs| fs.plan_symlink(target, *dir, path);
prep |fs| None;
// Never fails the request: a chain goes on after an error.
link |fs, out| false;
syscall |s| {
    let (t, p) = (cstr(target), cstr(path));
    // SAFETY: NUL-terminated C strings that outlive the call.
    check(unsafe { libc::symlinkat(t.as_ptr(), s.dir(*dir), p.as_ptr()) } as i64)
};
sqe |u, keep, done| {
    let (t, p) = (keep.path(target), keep.path(path));
    Sqe::from_entry(
        &opcode::SymlinkAt::new(
            types::Fd(u.sys.dir(*dir)),
            t as *const libc::c_char,
            p as *const libc::c_char,
        )
        .build(),
    )
};
strategy (path(), dir(), path())
    .prop_map(|(target, dir, path)| Op::Symlink { target, dir, path })
    .boxed();

/// pipe2 with O_NONBLOCK if `nonblock`; the ends go into two slots.
Pipe = "pipe" {
    /// Slot for the read end.
    read_slot: Slot,
    /// Slot for the write end.
    write_slot: Slot,
    /// O_NONBLOCK on both ends.
    #[serde(default)]
    nonblock: bool,
}
opcode Mainline(op::PIPE), weight 1, footprint Alone;
fds [] dirs [] paths [] new_slots [read_slot, write_slot] buffers [];
plan |fs| fs.plan_pipe(*read_slot, *write_slot, *nonblock);
prep |fs| None;
link |fs, out| out.result.is_err();
syscall |s| s.pipe(*read_slot, *write_slot, *nonblock);
sqe |u, keep, done| {
    *done = Done::Pipe(*read_slot, *write_slot);
    let mut fds = Box::new([-1 as RawFd; 2]);
    let ptr = fds.as_mut_ptr();
    keep.fds = Some(fds);
    let flags = libc::O_CLOEXEC | if *nonblock { libc::O_NONBLOCK } else { 0 };
    Sqe::from_entry(&opcode::Pipe::new(ptr).flags(flags as u32).build())
};
strategy (slot(), slot(), any::<bool>())
    .prop_filter("two slots", |(r, w, _)| r != w)
    .prop_map(|(read_slot, write_slot, nonblock)| Op::Pipe { read_slot, write_slot, nonblock })
    .boxed();

/// umask(mask): the calling thread's file creation mask; returns the previous
/// one. No io_uring opcode: runs synchronously.
Umask = "umask" {
    /// The new umask.
    mask: u32,
}
opcode UringOpcode::None, weight 1, footprint Alone;
fds [] dirs [] paths [] new_slots [] buffers [];
plan |fs| {
    let mask = *mask & 0o777;
    Plan::with(Allowed::ok(fs.umask as i64), move |fs, _| fs.umask = mask)
};
prep |fs| None;
link |fs, out| out.result.is_err();
syscall |s| {
    // SAFETY: umask cannot fail; it is per-thread here (CLONE_FS unshared).
    Outcome::ok(unsafe { libc::umask(*mask as libc::mode_t) } as i64)
};
sqe |u, keep, done| unreachable!("refused by ring_path");
strategy select(vec![0o022u32, 0, 0o077, 0o002])
    .prop_map(|mask| Op::Umask { mask })
    .boxed();

/// copy_file_range(fd_in, off_in, fd_out, off_out, len, flags). Through
/// io_uring only where a proposed COPY_FILE_RANGE opcode exists.
CopyFileRange = "copy_file_range" {
    /// The input descriptor.
    fd_in: FdRef,
    /// The input offset (file position or explicit).
    #[serde(default)]
    off_in: Off,
    /// The output descriptor.
    fd_out: FdRef,
    /// The output offset (file position or explicit).
    #[serde(default)]
    off_out: Off,
    /// The number of bytes to copy.
    len: u64,
    /// The call's flags.
    #[serde(default)]
    flags: u32,
}
opcode Proposed($crate::opcode::Proposed::CopyFileRange), weight 3, footprint Fds;
fds [fd_in, fd_out] dirs [] paths [] new_slots [] buffers [];
plan |fs| fs.plan_copy_file_range(*fd_in, *off_in, *fd_out, *off_out, *len, *flags);
// The proposed COPY_FILE_RANGE takes only SPLICE_F_FD_IN_FIXED.
prep |fs| (flags & !(1 << 31) != 0).then_some(Errno::EINVAL);
// Like SPLICE (kernel/patches/0001): an error or a short count.
link |fs, out| out.result.map_or(true, |v| v as u64 != (*len).min(u32::MAX as u64));
syscall |s| s.transfer(true, *fd_in, *off_in, *fd_out, *off_out, *len, *flags);
sqe |u, keep, done| Sqe::copy_file_range(
    u.proposed.number(sqe::Proposed::CopyFileRange).expect("checked by ring_path"),
    u.operand(*fd_in),
    offi64(*off_in),
    u.operand(*fd_out),
    offi64(*off_out),
    len32(*len),
    *flags,
);
strategy (
    file_fd(),
    off(),
    file_fd(),
    off(),
    transfer_length(),
    prop::bool::weighted(0.05),
)
    .prop_map(|(fd_in, off_in, fd_out, off_out, len, bad)| Op::CopyFileRange {
        fd_in,
        off_in,
        fd_out,
        off_out,
        len,
        flags: bad as u32,
    })
    .boxed();

/// splice(fd_in, off_in, fd_out, off_out, len, flags).
Splice = "splice" {
    /// The input descriptor.
    fd_in: FdRef,
    /// The input offset (file position or explicit).
    #[serde(default)]
    off_in: Off,
    /// The output descriptor.
    fd_out: FdRef,
    /// The output offset (file position or explicit).
    #[serde(default)]
    off_out: Off,
    /// The number of bytes to move.
    len: u64,
    /// The call's flags.
    #[serde(default)]
    flags: u32,
}
opcode Mainline(op::SPLICE), weight 3, footprint Fds;
fds [fd_in, fd_out] dirs [] paths [] new_slots [] buffers [];
plan |fs| fs.plan_splice(*fd_in, *off_in, *fd_out, *off_out, *len, *flags);
prep |fs| (flags & !VALID_SPLICE_FLAGS != 0).then_some(Errno::EINVAL);
link |fs, out| out.result.map_or(true, |v| v as u64 != (*len).min(u32::MAX as u64));
syscall |s| s.transfer(false, *fd_in, *off_in, *fd_out, *off_out, *len, *flags);
sqe |u, keep, done| {
    let (i, o) = (u.operand(*fd_in), u.operand(*fd_out));
    with_target!(i, |ti| with_target!(o, |to| Sqe::from_entry(
        &opcode::Splice::new(ti, offi64(*off_in), to, offi64(*off_out), len32(*len))
            .flags(*flags)
            .build()
    )))
};
strategy (
    prop_oneof![
        (file_fd(), pipe_w()),
        (pipe_r(), file_fd()),
        (pipe_r(), pipe_w())
    ],
    off(),
    off(),
    transfer_length(),
    select(vec![0u32, 0, 0, 2, 1, 0x10]),
)
    .prop_map(|((fd_in, fd_out), off_in, off_out, len, flags)| Op::Splice {
        fd_in,
        off_in,
        fd_out,
        off_out,
        len,
        flags,
    })
    .boxed();

/// tee(fd_in, fd_out, len, flags).
Tee = "tee" {
    /// The input descriptor.
    fd_in: FdRef,
    /// The output descriptor.
    fd_out: FdRef,
    /// The number of bytes to duplicate.
    len: u64,
    /// The call's flags.
    #[serde(default)]
    flags: u32,
}
opcode Mainline(op::TEE), weight 3, footprint Fds;
fds [fd_in, fd_out] dirs [] paths [] new_slots [] buffers [];
plan |fs| fs.plan_tee(*fd_in, *fd_out, *len, *flags);
prep |fs| (flags & !VALID_SPLICE_FLAGS != 0).then_some(Errno::EINVAL);
link |fs, out| out.result.map_or(true, |v| v as u64 != (*len).min(u32::MAX as u64));
syscall |s| {
    // SAFETY: plain call on descriptors this backend owns.
    check(unsafe { libc::tee(s.fd(*fd_in), s.fd(*fd_out), *len as usize, *flags) } as i64)
};
sqe |u, keep, done| {
    let (i, o) = (u.operand(*fd_in), u.operand(*fd_out));
    with_target!(i, |ti| with_target!(o, |to| Sqe::from_entry(
        &opcode::Tee::new(ti, to, len32(*len)).flags(*flags).build()
    )))
};
strategy (
    pipe_r(),
    pipe_w(),
    length(),
    select(vec![0u32, 0, 2, 0x100]),
)
    .prop_map(|(fd_in, fd_out, len, flags)| Op::Tee { fd_in, fd_out, len, flags })
    .boxed();

/// getdents64(fd, buf, count). The outcome carries the parsed records.
/// Through io_uring only where a proposed GETDENTS64 opcode exists.
Getdents = "getdents" {
    /// The descriptor operand.
    fd: FdRef,
    /// The buffer size in bytes.
    count: u64,
}
opcode Proposed($crate::opcode::Proposed::Getdents64), weight 3, footprint Fds;
fds [fd] dirs [] paths [] new_slots [] buffers [count];
plan |fs| fs.plan_getdents(*fd, *count);
prep |fs| None;
link |fs, out| out.result.is_err();
syscall |s| s.getdents(*fd, *count);
sqe |u, keep, done| {
    *done = Done::Getdents(*fd);
    keep.words = vec![0u64; (*count as usize).div_ceil(8).max(1)];
    let buf = keep.words.as_mut_ptr() as u64;
    Sqe::getdents64(
        u.proposed.number(sqe::Proposed::Getdents64).expect("checked by ring_path"),
        u.operand(*fd),
        buf,
        *count as u32,
    )
};
strategy (
    dir_fd(),
    prop_oneof![select(vec![0u64, 10, 24, 32, 48, 64, 100]), Just(4096u64)],
)
    .prop_map(|(fd, count)| Op::Getdents { fd, count })
    .boxed();

/// posix_fadvise(fd, offset, len, advice).
Fadvise = "fadvise" {
    /// The descriptor operand.
    fd: FdRef,
    /// The offset argument.
    #[serde(default)]
    offset: i64,
    /// The length of the range (0: to the end).
    #[serde(default)]
    len: i64,
    /// The POSIX_FADV_* advice.
    advice: Advice,
}
opcode Mainline(op::FADVISE), weight 2, footprint Fds;
fds [fd] dirs [] paths [] new_slots [] buffers [];
plan |fs| fs.plan_fadvise(*fd, *offset, *len, *advice);
prep |fs| None;
link |fs, out| out.result.is_err();
syscall |s| {
    // SAFETY: plain call. posix_fadvise returns the error number itself.
    let r = unsafe { libc::posix_fadvise(s.fd(*fd), *offset, *len, advice_value(*advice)) };
    if r == 0 {
        Outcome::ok(0)
    } else {
        Outcome::err(Errno(r))
    }
};
sqe |u, keep, done| {
    let (fd, advice) = (u.operand(*fd), advice_value(*advice));
    if u.fadvise_len64 {
        Sqe::fadvise64(fd, *offset as u64, *len as u64, advice)
    } else {
        with_target!(fd, |t| Sqe::from_entry(
            &opcode::Fadvise::new(t, *len, advice).offset(*offset as u64).build()
        ))
    }
};
strategy (
    fd(),
    offset_value(),
    prop_oneof![4 => 0i64..8192, 1 => Just(-1i64), 1 => offset_value()],
    prop_oneof![
        6 => select(vec![
            Advice::Normal,
            Advice::Random,
            Advice::Sequential,
            Advice::Willneed,
            Advice::Dontneed,
            Advice::Noreuse
        ]),
        1 => select(vec![Advice::Raw(6), Advice::Raw(-1)]),
    ],
)
    .prop_map(|(fd, offset, len, advice)| Op::Fadvise { fd, offset, len, advice })
    .boxed();

/// fallocate(fd, mode, offset, len).
Fallocate = "fallocate" {
    /// The descriptor operand.
    fd: FdRef,
    /// The mode bits.
    #[serde(default)]
    mode: Vec<FallocFlag>,
    /// The offset argument.
    offset: i64,
    /// The length of the range.
    len: i64,
}
opcode Mainline(op::FALLOCATE), weight 3, footprint Fds;
fds [fd] dirs [] paths [] new_slots [] buffers [];
plan |fs| fs.plan_fallocate(*fd, mode, *offset, *len);
prep |fs| None;
// Errors are posted without failing the request, unless the descriptor
// cannot be looked up.
link |fs, out| out.result.is_err() && fs.desc(*fd).is_err();
syscall |s| {
    // SAFETY: plain call on a descriptor this backend owns.
    check(unsafe { libc::fallocate(s.fd(*fd), falloc_mode(mode), *offset, *len) } as i64)
};
sqe |u, keep, done| with_target!(u.operand(*fd), |t| Sqe::from_entry(
    &opcode::Fallocate::new(t, *len as u64)
        .offset(*offset as u64)
        .mode(falloc_mode(mode))
        .build()
));
strategy (
    fd(),
    select(vec![
        vec![],
        vec![],
        vec![FallocFlag::KeepSize],
        vec![FallocFlag::PunchHole, FallocFlag::KeepSize],
        vec![FallocFlag::PunchHole],
        vec![FallocFlag::ZeroRange],
        vec![FallocFlag::CollapseRange],
        vec![FallocFlag::InsertRange],
        vec![FallocFlag::Raw(0x04)],
    ]),
    prop_oneof![3 => 0i64..16, 3 => 0i64..9000, 1 => offset_value()],
    // Lengths stay small: fallocate really allocates (a boundary offset with
    // a small length is what reaches 2^31 and 2^32).
    prop_oneof![
        3 => 1i64..16,
        3 => 0i64..9000,
        1 => select(vec![-1i64, 4095, 4096, 4097, 1 << 20]),
    ],
)
    .prop_map(|(fd, mode, offset, len)| Op::Fallocate { fd, mode, offset, len })
    .boxed();

/// mknodat(dir, path, type | perm, makedev(major, minor)). Through io_uring
/// only where a proposed MKNODAT opcode exists.
Mknod = "mknod" {
    /// The dirfd `path` is resolved against.
    #[serde(default)]
    dir: Dir,
    /// The path, relative to `dir`.
    path: String,
    /// The S_IFMT part of the mode.
    #[serde(rename = "type")]
    node_type: NodeType,
    /// Permission bits (before the umask).
    #[serde(default = "default_file_mode")]
    perm: u32,
    /// Device major number (char/block devices).
    #[serde(default)]
    major: u32,
    /// Device minor number (char/block devices).
    #[serde(default)]
    minor: u32,
}
opcode Proposed($crate::opcode::Proposed::Mknodat), weight 3, footprint Alone;
fds [] dirs [dir] paths [path] new_slots [] buffers [];
plan |fs| fs.plan_mknod(*dir, path, *node_type, *perm, (*major, *minor));
prep |fs| None;
link |fs, out| out.result.is_err();
syscall |s| {
    let p = cstr(path);
    // SAFETY: a NUL-terminated C string that outlives the call.
    check(unsafe {
        libc::mknodat(
            s.dir(*dir),
            p.as_ptr(),
            mknod_mode(*node_type, *perm),
            libc::makedev(*major, *minor),
        )
    } as i64)
};
sqe |u, keep, done| {
    let p = keep.path(path);
    Sqe::mknodat(
        u.proposed.number(sqe::Proposed::Mknodat).expect("checked by ring_path"),
        u.sys.dir(*dir),
        p,
        mknod_mode(*node_type, *perm),
        libc::makedev(*major, *minor),
        u.proposed.mknod_dev,
    )
};
strategy (
    dir(),
    path(),
    select(vec![
        NodeType::Fifo,
        NodeType::Fifo,
        NodeType::Reg,
        NodeType::None,
        NodeType::Sock,
        NodeType::Chr,
        NodeType::Blk,
        NodeType::Dir,
        NodeType::Raw(0o170000),
    ]),
    select(vec![0o644u32, 0o666, 0o4755]),
)
    .prop_map(|(dir, path, node_type, perm)| Op::Mknod {
        dir,
        path,
        node_type,
        perm,
        // Harmless numbers only: the scratch mounts are nodev anyway.
        major: 1,
        minor: 3,
    })
    .boxed();

/// setxattr(path, name, value, size, flags): `path` from the main root, a
/// final symlink followed; the size is the value's length.
Setxattr = "setxattr" {
    /// The path, relative to the main root.
    path: String,
    /// The attribute's full name ("user.a"); the kernel reads it to a NUL.
    name: String,
    /// The value.
    value: Payload,
    /// XATTR_CREATE (1), XATTR_REPLACE (2); other bits are invalid.
    #[serde(default)]
    flags: u32,
}
opcode Mainline(op::SETXATTR), weight 1, footprint Alone;
fds [] dirs [] paths [path] new_slots [] buffers [value];
plan |fs| fs.plan_setxattr($crate::ops::xattr::XattrTarget::Path(path), name, value.bytes(), *flags);
prep |fs| fs.setxattr_prep_error(name, value.len(), *flags);
// io_uring/xattr.c posts errors without failing the request.
link |fs, out| false;
syscall |s| {
    let p = cstr(&s.root_path(path));
    let (n, v) = (cstr($crate::ops::xattr::kernel_name(name)), value.bytes());
    // SAFETY: C strings and a value buffer that outlive the call.
    check(unsafe {
        libc::setxattr(p.as_ptr(), n.as_ptr(), v.as_ptr().cast(), v.len(), *flags as i32)
    } as i64)
};
sqe |u, keep, done| {
    keep.bytes = value.bytes();
    let (v, len) = (keep.bytes.as_ptr(), keep.bytes.len() as u32);
    let p = keep.path(&u.sys.root_path(path));
    let n = keep.path($crate::ops::xattr::kernel_name(name));
    Sqe::from_entry(
        &opcode::SetXattr::new(n as *const libc::c_char, v.cast(), p as *const libc::c_char, len)
            .flags(*flags as i32)
            .build(),
    )
};
strategy (
    path(),
    select($crate::ops::xattr::generator_names()),
    prop_oneof![
        6 => "[a-z]{0,12}".prop_map(Payload::Text),
        1 => select($crate::ops::xattr::GENERATOR_LARGE_VALUES.to_vec())
            .prop_map(|len| Payload::Fill { fill: "v".into(), len }),
    ],
    select($crate::ops::xattr::GENERATOR_FLAGS.to_vec()),
)
    .prop_map(|(path, name, value, flags)| Op::Setxattr { path, name, value, flags })
    .boxed();

/// getxattr(path, name, buf, size): `path` from the main root, a final
/// symlink followed. The outcome carries the value read.
Getxattr = "getxattr" {
    /// The path, relative to the main root.
    path: String,
    /// The attribute's full name; the kernel reads it to a NUL.
    name: String,
    /// The buffer size (0: ask for the value's length).
    size: u64,
}
opcode Mainline(op::GETXATTR), weight 1, footprint Alone;
fds [] dirs [] paths [path] new_slots [] buffers [];
plan |fs| fs.plan_getxattr($crate::ops::xattr::XattrTarget::Path(path), name, *size);
prep |fs| fs.getxattr_prep_error(name);
// io_uring/xattr.c posts errors without failing the request.
link |fs, out| false;
syscall |s| {
    let p = cstr(&s.root_path(path));
    let n = cstr($crate::ops::xattr::kernel_name(name));
    // The kernel caps the size at XATTR_SIZE_MAX.
    let mut buf = vec![0u8; (*size).min($crate::ops::xattr::XATTR_SIZE_MAX) as usize];
    // SAFETY: C strings; the kernel writes at most buf.len() bytes.
    let r = unsafe { libc::getxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), *size as usize) };
    if r < 0 {
        return err_now();
    }
    buf.truncate(r as usize);
    Outcome::ok_with(r as i64, Data::Bytes(buf))
};
sqe |u, keep, done| {
    *done = Done::Read;
    keep.bytes = vec![0u8; (*size).min($crate::ops::xattr::XATTR_SIZE_MAX) as usize];
    let buf = keep.bytes.as_mut_ptr();
    let p = keep.path(&u.sys.root_path(path));
    let n = keep.path($crate::ops::xattr::kernel_name(name));
    Sqe::from_entry(
        &opcode::GetXattr::new(n as *const libc::c_char, buf.cast(), p as *const libc::c_char, len32(*size))
            .build(),
    )
};
strategy (
    path(),
    select($crate::ops::xattr::generator_names()),
    select($crate::ops::xattr::GENERATOR_SIZES.to_vec()),
)
    .prop_map(|(path, name, size)| Op::Getxattr { path, name, size })
    .boxed();

/// fsetxattr(fd, name, value, size, flags); the size is the value's length.
Fsetxattr = "fsetxattr" {
    /// The descriptor operand.
    fd: FdRef,
    /// The attribute's full name; the kernel reads it to a NUL.
    name: String,
    /// The value.
    value: Payload,
    /// XATTR_CREATE (1), XATTR_REPLACE (2); other bits are invalid.
    #[serde(default)]
    flags: u32,
}
opcode Mainline(op::FSETXATTR), weight 1, footprint Fds;
fds [fd] dirs [] paths [] new_slots [] buffers [value];
plan |fs| fs.plan_setxattr($crate::ops::xattr::XattrTarget::Fd(*fd), name, value.bytes(), *flags);
prep |fs| fs.fixed_file_prep_error().or(fs.setxattr_prep_error(name, value.len(), *flags));
// io_uring/xattr.c posts errors without failing the request; a
// descriptor io_uring cannot look up fails it.
link |fs, out| out.result.is_err() && fs.desc(*fd).is_err();
syscall |s| {
    let (n, v) = (cstr($crate::ops::xattr::kernel_name(name)), value.bytes());
    // SAFETY: a C string and a value buffer that outlive the call.
    check(unsafe {
        libc::fsetxattr(s.fd(*fd), n.as_ptr(), v.as_ptr().cast(), v.len(), *flags as i32)
    } as i64)
};
sqe |u, keep, done| {
    keep.bytes = value.bytes();
    let (v, len) = (keep.bytes.as_ptr(), keep.bytes.len() as u32);
    let n = keep.path($crate::ops::xattr::kernel_name(name));
    with_target!(u.operand(*fd), |t| Sqe::from_entry(
        &opcode::FSetXattr::new(t, n as *const libc::c_char, v.cast(), len)
            .flags(*flags as i32)
            .build()
    ))
};
strategy (
    fd(),
    select($crate::ops::xattr::generator_names()),
    prop_oneof![
        6 => "[a-z]{0,12}".prop_map(Payload::Text),
        1 => select($crate::ops::xattr::GENERATOR_LARGE_VALUES.to_vec())
            .prop_map(|len| Payload::Fill { fill: "v".into(), len }),
    ],
    select($crate::ops::xattr::GENERATOR_FLAGS.to_vec()),
)
    .prop_map(|(fd, name, value, flags)| Op::Fsetxattr { fd, name, value, flags })
    .boxed();

/// fgetxattr(fd, name, buf, size). The outcome carries the value read.
Fgetxattr = "fgetxattr" {
    /// The descriptor operand.
    fd: FdRef,
    /// The attribute's full name; the kernel reads it to a NUL.
    name: String,
    /// The buffer size (0: ask for the value's length).
    size: u64,
}
opcode Mainline(op::FGETXATTR), weight 1, footprint Fds;
fds [fd] dirs [] paths [] new_slots [] buffers [];
plan |fs| fs.plan_getxattr($crate::ops::xattr::XattrTarget::Fd(*fd), name, *size);
prep |fs| fs.fixed_file_prep_error().or(fs.getxattr_prep_error(name));
// io_uring/xattr.c posts errors without failing the request; a
// descriptor io_uring cannot look up fails it.
link |fs, out| out.result.is_err() && fs.desc(*fd).is_err();
syscall |s| {
    let n = cstr($crate::ops::xattr::kernel_name(name));
    // The kernel caps the size at XATTR_SIZE_MAX.
    let mut buf = vec![0u8; (*size).min($crate::ops::xattr::XATTR_SIZE_MAX) as usize];
    // SAFETY: a C string; the kernel writes at most buf.len() bytes.
    let r = unsafe { libc::fgetxattr(s.fd(*fd), n.as_ptr(), buf.as_mut_ptr().cast(), *size as usize) };
    if r < 0 {
        return err_now();
    }
    buf.truncate(r as usize);
    Outcome::ok_with(r as i64, Data::Bytes(buf))
};
sqe |u, keep, done| {
    *done = Done::Read;
    keep.bytes = vec![0u8; (*size).min($crate::ops::xattr::XATTR_SIZE_MAX) as usize];
    let buf = keep.bytes.as_mut_ptr();
    let n = keep.path($crate::ops::xattr::kernel_name(name));
    with_target!(u.operand(*fd), |t| Sqe::from_entry(
        &opcode::FGetXattr::new(t, n as *const libc::c_char, buf.cast(), len32(*size)).build()
    ))
};
strategy (
    fd(),
    select($crate::ops::xattr::generator_names()),
    select($crate::ops::xattr::GENERATOR_SIZES.to_vec()),
)
    .prop_map(|(fd, name, size)| Op::Fgetxattr { fd, name, size })
    .boxed();

        }
    };
}

/// The projections of [`op_table!`]; not for direct use. The first arm parses
/// the rows once into a compact form, one braced group per row:
/// `{ Variant "name" (opcode) (weight) Footprint {fields} [fds] [dirs]
/// [paths] [new_slots] (|fs| plan) (|s| syscall) (|u, keep, done| sqe)
/// (strategy) [the variant's declaration] }`; the other arms project it.
#[doc(hidden)]
#[macro_export]
macro_rules! __op_projection {
    (($($projection:tt)*) families $($family:ident)*; $(
        $(#[$vattr:meta])*
        $variant:ident = $name:literal { $( $(#[$fattr:meta])* $field:ident : $fty:ty ),* $(,)? }
        opcode $opcode:expr, weight $weight:literal, footprint $footprint:ident;
        fds [$($fdop:ident),*] dirs [$($dirop:ident),*] paths [$($pathop:ident),*]
            new_slots [$($newslot:ident),*] buffers [$($bufop:ident),*];
        plan |$pfs:ident| $plan:expr;
        prep |$prfs:ident| $prep:expr;
        link |$lfs:ident, $lout:ident| $link:expr;
        syscall |$ps:ident| $syscall:expr;
        sqe |$pu:ident, $pkeep:ident, $pdone:ident| $sqe:expr;
        strategy $strategy:expr;
    )*) => {
        $crate::__op_projection! { @ $($projection)* ; [$($family)*] $({
            $variant $name ($opcode) ($weight) $footprint { $($field),* }
            [$($fdop),*] [$($dirop),*] [$($pathop),*] [$($newslot),*] [$($bufop),*]
            {
                plan (|$pfs| $plan) prep (|$prfs| $prep) link (|$lfs, $lout| $link)
                syscall (|$ps| $syscall) sqe (|$pu, $pkeep, $pdone| $sqe)
            }
            ($strategy)
            [$(#[$vattr])* $variant { $( $(#[$fattr])* $field: $fty ),* }]
        })* }
    };

    // The types and the operand accessors (model op.rs).
    (@ define ; [$($family:ident)*] $({
        $variant:ident $name:literal ($opcode:expr) ($weight:literal) $footprint:ident
        $fields:tt [$($fdop:ident),*] [$($dirop:ident),*] [$($pathop:ident),*]
        [$($newslot:ident),*] [$($bufop:ident),*] $code:tt $strategy:tt [$($decl:tt)*]
    })*) => {
        /// One operation. The serialized form (`op = "open"` plus fields) is
        /// what the scenario tables and regression files under corpus/
        /// contain. Declared by the op table (`op_table.rs`).
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
        pub enum Op {
            $($($decl)*,)*
        }

        /// The kind of an op, for per-opcode counts and `--ops` selection.
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        pub enum OpKind {
            $(
                #[doc = concat!("[`Op::", stringify!($variant), "`].")]
                #[serde(rename = $name)]
                $variant,
            )*
        }

        impl OpKind {
            /// Every kind, in table order.
            pub const ALL: [OpKind; [$($name),*].len()] = [$(OpKind::$variant),*];

            /// The snake_case name used in files and on the command line.
            pub fn name(self) -> &'static str {
                match self {
                    $(OpKind::$variant => $name,)*
                }
            }

            /// The io_uring opcode that runs ops of this kind.
            pub fn uring_opcode(self) -> UringOpcode {
                match self {
                    $(OpKind::$variant => $opcode,)*
                }
            }

            /// How often the generator draws this kind relative to the
            /// others, once it is in a sequence's swarm.
            pub fn weight(self) -> u32 {
                match self {
                    $(OpKind::$variant => $weight,)*
                }
            }

            /// What an op of this kind touches, for batch grouping.
            pub fn footprint(self) -> Footprint {
                match self {
                    $(OpKind::$variant => Footprint::$footprint,)*
                }
            }
        }

        impl Op {
            /// The op's kind.
            pub fn kind(&self) -> OpKind {
                match self {
                    $(Op::$variant { .. } => OpKind::$variant,)*
                }
            }

            /// Every path operand of the op (checked by [`is_safe_path`]
            /// before running).
            pub fn paths(&self) -> Vec<&str> {
                match self {
                    $(Op::$variant { $($pathop,)* .. } => vec![$($pathop.as_str()),*],)*
                }
            }

            /// The sizes of the user buffers the op makes the backends
            /// allocate (payloads, read counts), each bounded by
            /// [`MAX_BUFFER`].
            pub fn buffer_sizes(&self) -> Vec<u64> {
                match self {
                    $(Op::$variant { $($bufop,)* .. } => vec![$(BufferLen::buffer_len($bufop)),*],)*
                }
            }

            /// The dirfd operands of the op.
            pub fn dirs(&self) -> Vec<Dir> {
                match self {
                    $(Op::$variant { $($dirop,)* .. } => vec![$(*$dirop),*],)*
                }
            }

            /// Every slot the op names: its fd operands, the slots it fills,
            /// then its dirfd operands, in that order.
            pub fn slots(&self) -> Vec<Slot> {
                let mut out: Vec<Slot> = Vec::new();
                match self {
                    $(Op::$variant { $($fdop,)* $($newslot,)* .. } => {
                        $(if let FdRef::Slot(s) = $fdop {
                            out.push(*s);
                        })*
                        $(out.push(*$newslot);)*
                    })*
                }
                for d in self.dirs() {
                    if let Dir::Fd(s) = d {
                        out.push(s);
                    }
                }
                out
            }
        }
    };

    // The semantics modules (model ops/mod.rs).
    (@ families ; [$($family:ident)*] $($rows:tt)*) => {
        $(pub mod $family;)*
    };

    // `match kind { row => row's strategy }` (oracle gen.rs).
    (@ strategy $kind:expr ; $families:tt $({
        $variant:ident $name:literal $opcode:tt $weight:tt $footprint:ident $fields:tt
        $fds:tt $dirs:tt $paths:tt $slots:tt $buffers:tt $code:tt ($strategy:expr) $decl:tt
    })*) => {
        match $kind {
            $($crate::OpKind::$variant => $strategy,)*
        }
    };

    // `match op { row => the row's code in `column` (plan, prep, link, syscall,
    // sqe) with its names bound to `values` }`: the model's exec.rs, the
    // backends' syscalls.rs and uring.rs, the harness's differential.rs.
    (@ $column:ident $values:tt $op:expr ; $families:tt $({
        $variant:ident $name:literal $opcode:tt $weight:tt $footprint:ident $fields:tt
        $fds:tt $dirs:tt $paths:tt $slots:tt $buffers:tt $code:tt $strategy:tt $decl:tt
    })*) => {
        match $op {
            $(
                #[allow(unused_variables)]
                $crate::Op::$variant $fields => {
                    $crate::__op_projection!(@pick $column $values $code)
                }
            )*
        }
    };

    // One code column of a row, its names bound: the column whose name comes
    // first, else the rest.
    (@pick plan $values:tt { plan $code:tt $($rest:tt)* }) => {
        $crate::__op_projection!(@bind $values $code)
    };
    (@pick prep $values:tt { prep $code:tt $($rest:tt)* }) => {
        $crate::__op_projection!(@bind $values $code)
    };
    (@pick link $values:tt { link $code:tt $($rest:tt)* }) => {
        $crate::__op_projection!(@bind $values $code)
    };
    (@pick syscall $values:tt { syscall $code:tt $($rest:tt)* }) => {
        $crate::__op_projection!(@bind $values $code)
    };
    (@pick sqe $values:tt { sqe $code:tt $($rest:tt)* }) => {
        $crate::__op_projection!(@bind $values $code)
    };
    (@pick $column:ident $values:tt { $other:ident $code:tt $($rest:tt)* }) => {
        $crate::__op_projection!(@pick $column $values { $($rest)* })
    };

    // A row's code with its names bound: `let |names| = values; code`.
    (@bind ($($value:expr),*) (|$($name:ident),*| $code:expr)) => {{
        let ($($name,)*) = ($($value,)*);
        $code
    }};
}
