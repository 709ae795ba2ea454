//! The synchronous-syscall backend: runs each op through the glibc wrapper of its
//! system call on a pair of scratch roots, and snapshots the resulting state.
//!
//! Every call goes through a libc function (never `syscall(2)`), so what is tested
//! is what a program calling glibc sees; glibc functions the `libc` crate does not
//! declare (getdents64) are declared here.
//!
//! Safety of the host: paths come only from ops that passed [`Op::validate`]
//! (relative, no `..`, symlink targets likewise) and are resolved against the root
//! descriptors, so nothing outside the scratch roots is named. Device nodes made by
//! `mknod` are never opened (the scratch tmpfs is `nodev`; elsewhere the backend
//! refuses with EACCES itself), and the snapshot never follows symlinks, never
//! opens devices and never reads FIFOs.

use crate::backend::Backend;
use model::{
    merge_runs, nonzero_runs, Advice, Data, Dir, Dirent, Errno, FallocFlag, FdRef, FdState,
    FileType, Node, NodeType, Off, Op, OpenFlag, Outcome, Payload, RenameFlag, Slot, SpecialFd,
    Stat, State, Whence, MAX_SLOTS,
};
use std::collections::BTreeMap;
use std::ffi::CString;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::Once;
use sys::scratch::{isolate_thread_fs, Roots};

/// The descriptor number used for an empty slot: always EBADF, never a real
/// descriptor of this process (far above the open-file limits used in practice;
/// [`Syscalls::new`] checks it is not open), so an op on an empty slot can never
/// touch a descriptor it does not own.
pub const CLOSED_FD: RawFd = 1_000_000;

/// Bytes of file data read per regular file by the snapshot before it gives up and
/// marks the file with a final `(size, "<truncated>")` run. Above the private
/// tmpfs's 256 MiB, so snapshots of the default scratch are always complete.
pub const SNAPSHOT_READ_CAP: u64 = 512 << 20;

/// Chunk size of snapshot reads.
use sys::dirent::{getdents_raw, list_dir, CHUNK};

/// The calling thread's errno.
pub(crate) fn errno_now() -> i32 {
    nix::errno::Errno::last_raw()
}

fn err_now() -> Outcome {
    Outcome::err(Errno(errno_now()))
}

/// Ok(value) for a non-negative return, the errno otherwise.
/// The outcome of a glibc call: -1 means failure with errno (glibc's convention
/// for every wrapper used here), anything else is the kernel's value, reported
/// as is even if negative (lseek has been seen returning LLONG_MIN on tmpfs).
fn check(r: i64) -> Outcome {
    if r == -1 {
        err_now()
    } else {
        Outcome::ok(r)
    }
}

fn cstr(p: &str) -> CString {
    CString::new(p).expect("validated paths have no NUL byte")
}

fn statx_of(dirfd: RawFd, path: &CString, flags: i32) -> Outcome {
    // SAFETY: stx is written by statx before being read; path is a C string.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: stx is written by statx before being read; path is a C string.
    let r = unsafe {
        libc::statx(
            dirfd,
            path.as_ptr(),
            flags,
            libc::STATX_BASIC_STATS,
            &mut stx,
        )
    };
    if r < 0 {
        return err_now();
    }
    Outcome::ok_with(0, Data::Stat(stat_of_statx(&stx)))
}

/// The deterministic fields of a statx result (directories report size 0).
/// Shared with the io_uring backend so both convert STATX results alike.
pub(crate) fn stat_of_statx(stx: &libc::statx) -> Stat {
    let mode = stx.stx_mode as u32;
    let file_type = FileType::from_mode(mode);
    Stat {
        file_type,
        perm: mode & 0o7777,
        size: if file_type == FileType::Dir {
            0
        } else {
            stx.stx_size
        },
        nlink: stx.stx_nlink,
        rdev: (stx.stx_rdev_major, stx.stx_rdev_minor),
    }
}

fn fstat_of(fd: RawFd) -> Option<libc::stat> {
    // SAFETY: st is written by fstat before being read.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is written by fstat before being read.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some(st)
}

/// openat(2) flags for the vocabulary's flags, always with O_CLOEXEC.
pub fn open_flags(flags: &[OpenFlag]) -> i32 {
    flags.iter().fold(libc::O_CLOEXEC, |acc, f| {
        acc | match f {
            OpenFlag::Rdonly => libc::O_RDONLY,
            OpenFlag::Wronly => libc::O_WRONLY,
            OpenFlag::Rdwr => libc::O_RDWR,
            OpenFlag::Creat => libc::O_CREAT,
            OpenFlag::Excl => libc::O_EXCL,
            OpenFlag::Trunc => libc::O_TRUNC,
            OpenFlag::Append => libc::O_APPEND,
            OpenFlag::Directory => libc::O_DIRECTORY,
            OpenFlag::Nonblock => libc::O_NONBLOCK,
            OpenFlag::Nofollow => libc::O_NOFOLLOW,
            OpenFlag::Path => libc::O_PATH,
        }
    })
}

/// The lseek(2) whence value.
pub fn whence_value(w: Whence) -> i32 {
    match w {
        Whence::Set => libc::SEEK_SET,
        Whence::Cur => libc::SEEK_CUR,
        Whence::End => libc::SEEK_END,
        Whence::Data => libc::SEEK_DATA,
        Whence::Hole => libc::SEEK_HOLE,
    }
}

/// posix_fadvise(2) advice number (the model's table).
pub fn advice_value(a: Advice) -> i32 {
    model::ops::space::advice_number(a)
}

/// fallocate(2) mode word (the model's table).
pub fn falloc_mode(flags: &[FallocFlag]) -> i32 {
    model::ops::space::falloc_mode(flags) as i32
}

/// mknodat(2) mode: the type bits of `t` ORed with `perm`.
pub fn mknod_mode(t: NodeType, perm: u32) -> u32 {
    t.type_bits() | perm
}

/// renameat2(2) flags.
pub fn rename_flags(flags: &[RenameFlag]) -> u32 {
    flags.iter().fold(0, |acc, f| {
        acc | match f {
            RenameFlag::Noreplace => libc::RENAME_NOREPLACE,
            RenameFlag::Exchange => libc::RENAME_EXCHANGE,
        }
    })
}

/// An occupied slot: the descriptor and the d_off cookies its getdents64 calls
/// have returned so far, in order (what `seek_dirent` indexes).
#[derive(Debug)]
struct SlotEntry {
    fd: OwnedFd,
    cookies: Vec<i64>,
}

static IGNORE_SIGNALS: Once = Once::new();

/// The synchronous-syscall backend ("syscalls"); see the module documentation.
///
/// Bound to the thread that made it (not `Send`): the umask it sets and the `umask`
/// op change are per-thread state (the thread's fs_struct is unshared).
#[derive(Debug)]
pub struct Syscalls {
    roots: Roots,
    /// Both roots' mounts have nodev, so the kernel itself refuses to open device
    /// nodes; otherwise [`Syscalls::refuse_device`] does.
    nodev: bool,
    slots: Vec<Option<SlotEntry>>,
    /// Cookies returned by getdents64 on the `root` special descriptor.
    root_cookies: Vec<i64>,
    _thread_bound: PhantomData<*const ()>,
}

impl Syscalls {
    /// A backend on `roots` with every slot empty. Gives the calling thread its own
    /// umask (`unshare(CLONE_FS)`, once per thread) and sets it to 022, the state
    /// every sequence starts from; ignores SIGPIPE and SIGXFSZ process-wide (once)
    /// so EPIPE and EFBIG are observable results instead of killing the process.
    ///
    /// Panics if the thread cannot be isolated or if [`CLOSED_FD`] is an open
    /// descriptor: running anyway could change other threads' umask or act on a
    /// descriptor the backend does not own.
    pub fn new(roots: Roots) -> Syscalls {
        IGNORE_SIGNALS.call_once(|| {
            // SAFETY: installing SIG_IGN has no handler code to be unsafe about.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_IGN);
                libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            }
        });
        if let Err(e) = isolate_thread_fs() {
            panic!("Syscalls::new: {e}");
        }
        // SAFETY: F_GETFD only queries.
        let open = unsafe { libc::fcntl(CLOSED_FD, libc::F_GETFD) } >= 0;
        assert!(
            !open,
            "descriptor {CLOSED_FD} (CLOSED_FD) is open in this process"
        );
        // SAFETY: umask cannot fail.
        unsafe { libc::umask(0o022) };
        let nodev = [roots.main.as_raw_fd(), roots.other.as_raw_fd()]
            .iter()
            .all(|&fd| {
                // SAFETY: sv is written by fstatvfs before being read.
                let mut sv: libc::statvfs = unsafe { std::mem::zeroed() };
                // SAFETY: sv is written by fstatvfs before being read.
                (unsafe { libc::fstatvfs(fd, &mut sv) } == 0) && sv.f_flag & libc::ST_NODEV != 0
            });
        Syscalls {
            roots,
            nodev,
            slots: (0..MAX_SLOTS).map(|_| None).collect(),
            root_cookies: Vec::new(),
            _thread_bound: PhantomData,
        }
    }

    /// The roots this backend runs on.
    pub fn roots(&self) -> &Roots {
        &self.roots
    }

    fn slot(&self, s: Slot) -> Option<&SlotEntry> {
        self.slots.get(s as usize).and_then(|e| e.as_ref())
    }

    /// The descriptor in slot `s`, if it is occupied.
    pub(crate) fn slot_fd(&self, s: Slot) -> Option<RawFd> {
        self.slot(s).map(|e| e.fd.as_raw_fd())
    }

    /// Empties slot `s` and hands its descriptor over (still open), as `close`
    /// does before calling close(2).
    pub(crate) fn take_slot(&mut self, s: Slot) -> Option<OwnedFd> {
        self.slots
            .get_mut(s as usize)
            .and_then(|e| e.take())
            .map(|e| e.fd)
    }

    /// The raw descriptor an fd operand stands for.
    pub(crate) fn fd(&self, f: FdRef) -> RawFd {
        match f {
            FdRef::Slot(s) => self.slot(s).map_or(CLOSED_FD, |e| e.fd.as_raw_fd()),
            FdRef::Special(SpecialFd::Bad) => -1,
            FdRef::Special(SpecialFd::Root) => self.roots.main.as_raw_fd(),
        }
    }

    /// `path` under the main root as an absolute path through
    /// /proc/self/fd, for the calls that take no dirfd (setxattr,
    /// getxattr).
    pub(crate) fn root_path(&self, path: &str) -> String {
        proc_fd_path(self.dir(Dir::Root), path)
    }

    /// The raw dirfd a `Dir` operand stands for.
    pub(crate) fn dir(&self, d: Dir) -> RawFd {
        match d {
            Dir::Root => self.roots.main.as_raw_fd(),
            Dir::Other => self.roots.other.as_raw_fd(),
            Dir::Bad => -1,
            Dir::Fd(s) => self.slot(s).map_or(CLOSED_FD, |e| e.fd.as_raw_fd()),
        }
    }

    /// The getdents64 cookies recorded for an fd operand (None for `bad`).
    pub(crate) fn cookies_mut(&mut self, f: FdRef) -> Option<&mut Vec<i64>> {
        match f {
            FdRef::Slot(s) => self
                .slots
                .get_mut(s as usize)
                .and_then(|e| e.as_mut())
                .map(|e| &mut e.cookies),
            FdRef::Special(SpecialFd::Root) => Some(&mut self.root_cookies),
            FdRef::Special(SpecialFd::Bad) => None,
        }
    }

    /// Puts a new descriptor into a slot, closing the previous occupant.
    pub(crate) fn install(&mut self, s: Slot, fd: RawFd) {
        // SAFETY: fd was just returned by the kernel to us and is owned by no one.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        self.slots[s as usize] = Some(SlotEntry {
            fd,
            cookies: Vec::new(),
        });
    }

    /// Where the file a path names is a character or block device that the kernel
    /// would let us open (a root without nodev), the errno a nodev mount gives
    /// instead (EEXIST for O_CREAT|O_EXCL, ENOTDIR for O_DIRECTORY, else EACCES, in
    /// the kernel's order); None to go ahead with openat. O_PATH opens are allowed:
    /// they cannot read or write.
    pub(crate) fn refuse_device(
        &self,
        dirfd: RawFd,
        path: &CString,
        flags: &[OpenFlag],
    ) -> Option<Errno> {
        if self.nodev || flags.contains(&OpenFlag::Path) {
            return None;
        }
        let nofollow = if flags.contains(&OpenFlag::Nofollow) {
            libc::AT_SYMLINK_NOFOLLOW
        } else {
            0
        };
        // SAFETY: st is written before being read; path is a C string.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: st is written before being read; path is a C string.
        if unsafe { libc::fstatat(dirfd, path.as_ptr(), &mut st, nofollow) } < 0 {
            return None;
        }
        let fmt = st.st_mode & libc::S_IFMT;
        if fmt != libc::S_IFCHR && fmt != libc::S_IFBLK {
            return None;
        }
        Some(
            if flags.contains(&OpenFlag::Creat) && flags.contains(&OpenFlag::Excl) {
                Errno::EEXIST
            } else if flags.contains(&OpenFlag::Directory) {
                Errno::ENOTDIR
            } else {
                Errno::EACCES
            },
        )
    }

    fn open(&mut self, slot: Slot, dir: Dir, path: &str, flags: &[OpenFlag], mode: u32) -> Outcome {
        let dirfd = self.dir(dir);
        let p = cstr(path);
        if let Some(e) = self.refuse_device(dirfd, &p, flags) {
            return Outcome::err(e);
        }
        // SAFETY: p is a C string; the returned fd is owned by `install`.
        let fd =
            unsafe { libc::openat(dirfd, p.as_ptr(), open_flags(flags), mode as libc::c_uint) };
        if fd < 0 {
            return err_now();
        }
        self.install(slot, fd);
        Outcome::ok(0)
    }

    fn close(&mut self, f: FdRef) -> Outcome {
        match f {
            FdRef::Special(_) => Outcome::err(Errno::EBADF),
            FdRef::Slot(s) => {
                let raw = match self.slots.get_mut(s as usize).and_then(|e| e.take()) {
                    Some(e) => e.fd.into_raw_fd(),
                    None => CLOSED_FD,
                };
                // SAFETY: raw is ours (taken out of the slot) or CLOSED_FD (EBADF).
                check(unsafe { libc::close(raw) } as i64)
            }
        }
    }

    fn read(&mut self, f: FdRef, len: u64, offset: Off) -> Outcome {
        let fd = self.fd(f);
        let len = len as usize;
        let mut buf = vec![0u8; len.max(1)];
        // SAFETY: buf holds at least len writable bytes.
        let n = unsafe {
            match offset {
                Off::Pos => libc::read(fd, buf.as_mut_ptr().cast(), len),
                Off::At(o) => libc::pread(fd, buf.as_mut_ptr().cast(), len, o),
            }
        };
        if n < 0 {
            return err_now();
        }
        buf.truncate(n as usize);
        Outcome::ok_with(n as i64, Data::Bytes(buf))
    }

    fn write(&mut self, f: FdRef, data: &Payload, offset: Off) -> Outcome {
        let fd = self.fd(f);
        let mut bytes = data.bytes();
        let len = bytes.len();
        if bytes.is_empty() {
            bytes.push(0); // a real buffer even for a zero-length write
        }
        // SAFETY: bytes holds at least len readable bytes.
        let n = unsafe {
            match offset {
                Off::Pos => libc::write(fd, bytes.as_ptr().cast(), len),
                Off::At(o) => libc::pwrite(fd, bytes.as_ptr().cast(), len, o),
            }
        };
        check(n as i64)
    }

    fn seek_dirent(&mut self, f: FdRef, entry: u32) -> Outcome {
        let fd = self.fd(f);
        let target = self
            .cookies_mut(f)
            .and_then(|c| c.get(entry as usize).copied())
            .unwrap_or(0);
        // SAFETY: plain call.
        let r = unsafe { libc::lseek(fd, target, libc::SEEK_SET) };
        if r == -1 {
            err_now()
        } else {
            Outcome::ok(0)
        }
    }

    fn getdents(&mut self, f: FdRef, count: u64) -> Outcome {
        let fd = self.fd(f);
        let bytes = match getdents_raw(fd, count as usize) {
            Ok(b) => b,
            Err(e) => return Outcome::err(Errno(e)),
        };
        self.dirents_outcome(f, &bytes)
    }

    /// The outcome of a getdents64 call on `f` that returned `bytes`: the parsed
    /// records, whose cookies are appended to the operand's list (what
    /// `seek_dirent` indexes). Shared with the io_uring backend.
    pub(crate) fn dirents_outcome(&mut self, f: FdRef, bytes: &[u8]) -> Outcome {
        let recs = match sys::dirent::parse(bytes) {
            Ok(recs) => recs,
            Err(malformed) => {
                return Outcome::ok_with(
                    bytes.len() as i64,
                    Data::MalformedDirents(malformed.to_string()),
                )
            }
        };
        if let Some(c) = self.cookies_mut(f) {
            c.extend(recs.iter().map(|d| d.d_off));
        }
        let dirents = recs
            .into_iter()
            .map(|d| Dirent {
                name: String::from_utf8_lossy(&d.name).into_owned(),
                file_type: FileType::from_d_type(d.d_type),
                reclen: d.reclen,
            })
            .collect();
        Outcome::ok_with(bytes.len() as i64, Data::Dirents(dirents))
    }

    #[allow(clippy::too_many_arguments)]
    fn transfer(
        &mut self,
        copy: bool,
        fd_in: FdRef,
        off_in: Off,
        fd_out: FdRef,
        off_out: Off,
        len: u64,
        flags: u32,
    ) -> Outcome {
        let (fin, fout) = (self.fd(fd_in), self.fd(fd_out));
        let mut oin = match off_in {
            Off::Pos => None,
            Off::At(v) => Some(v),
        };
        let mut oout = match off_out {
            Off::Pos => None,
            Off::At(v) => Some(v),
        };
        let pin = oin.as_mut().map_or(std::ptr::null_mut(), |v| v as *mut i64);
        let pout = oout
            .as_mut()
            .map_or(std::ptr::null_mut(), |v| v as *mut i64);
        // SAFETY: the offset pointers are NULL or point to live i64s (loff_t).
        let n = unsafe {
            if copy {
                libc::copy_file_range(fin, pin, fout, pout, len as usize, flags)
            } else {
                libc::splice(fin, pin, fout, pout, len as usize, flags)
            }
        };
        if n < 0 {
            return err_now();
        }
        Outcome::ok_with(n as i64, Data::Offsets(oin, oout))
    }

    fn node(&self, dirfd: RawFd, name: &CString, st: &libc::stat) -> Node {
        let mode = st.st_mode;
        let file_type = FileType::from_mode(mode);
        let data = match file_type {
            FileType::Reg => read_file_runs(dirfd, name, st.st_size as u64, SNAPSHOT_READ_CAP),
            FileType::Lnk => {
                let mut buf = vec![0u8; 4096];
                // SAFETY: buf holds buf.len() writable bytes; name is a C string.
                let n = unsafe {
                    libc::readlinkat(dirfd, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
                };
                if n < 0 {
                    vec![(0, marker(errno_now()))]
                } else {
                    buf.truncate(n as usize);
                    vec![(0, buf)]
                }
            }
            _ => Vec::new(),
        };
        Node {
            file_type,
            perm: mode & 0o7777,
            size: if file_type == FileType::Dir {
                0
            } else {
                st.st_size as u64
            },
            nlink: st.st_nlink as u32,
            rdev: (libc::major(st.st_rdev), libc::minor(st.st_rdev)),
            data,
            extents: (file_type == FileType::Reg)
                .then(|| data_extents(dirfd, name, st.st_size as u64)),
            xattrs: user_xattrs(dirfd, name),
        }
    }

    /// Adds every entry under the directory `dirfd` to `out`, keys prefixed by
    /// `prefix` ("" or "d/e/"). Never follows symlinks (fstatat with
    /// AT_SYMLINK_NOFOLLOW, openat with O_NOFOLLOW), so the walk stays in the root.
    fn walk(&self, dirfd: RawFd, prefix: &str, depth: u32, out: &mut BTreeMap<String, Node>) {
        if depth > 64 {
            return; // deeper than any validated path can reach
        }
        // A fresh descriptor per directory: the walk never moves the position of a
        // descriptor the ops use (the root fd, or a slot).
        let dot = cstr(".");
        // SAFETY: C string; the fd is owned below.
        let fd = unsafe {
            libc::openat(
                dirfd,
                dot.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return;
        }
        // SAFETY: fd was just returned by openat.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let Ok(entries) = list_dir(fd.as_raw_fd()) else {
            return;
        };
        for (name, _) in entries {
            let key = format!("{prefix}{}", String::from_utf8_lossy(&name));
            let Ok(c) = CString::new(name) else {
                continue;
            };
            // SAFETY: st is written before being read; c is a C string.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: st is written before being read; c is a C string.
            if unsafe {
                libc::fstatat(
                    fd.as_raw_fd(),
                    c.as_ptr(),
                    &mut st,
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            } < 0
            {
                continue;
            }
            let mut node = self.node(fd.as_raw_fd(), &c, &st);
            if node.file_type == FileType::Dir {
                // SAFETY: C string; the fd is owned below.
                let sub = unsafe {
                    libc::openat(
                        fd.as_raw_fd(),
                        c.as_ptr(),
                        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                    )
                };
                if sub < 0 {
                    node.data = vec![(0, marker(errno_now()))];
                } else {
                    // SAFETY: sub was just returned by openat.
                    let sub = unsafe { OwnedFd::from_raw_fd(sub) };
                    self.walk(sub.as_raw_fd(), &format!("{key}/"), depth + 1, out);
                }
            }
            out.insert(key, node);
        }
    }

    fn fd_state(fd: RawFd) -> FdState {
        let file_type =
            fstat_of(fd).map_or(FileType::Unknown, |st| FileType::from_mode(st.st_mode));
        // SAFETY: F_GETFL only queries.
        let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        let (flags, path) = if fl < 0 {
            (format!("<{}>", Errno(errno_now())), false)
        } else if fl & libc::O_PATH != 0 {
            ("path".to_string(), true)
        } else {
            let mut s = match fl & libc::O_ACCMODE {
                libc::O_RDONLY => "rdonly",
                libc::O_WRONLY => "wronly",
                libc::O_RDWR => "rdwr",
                _ => "accmode3",
            }
            .to_string();
            if fl & libc::O_APPEND != 0 {
                s.push_str("|append");
            }
            if fl & libc::O_NONBLOCK != 0 {
                s.push_str("|nonblock");
            }
            (s, false)
        };
        let offset = if file_type == FileType::Reg && !path {
            fdinfo_pos(fd).or_else(|| {
                // SAFETY: plain call; SEEK_CUR with 0 does not move the position.
                let o = unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) };
                (o >= 0).then_some(o)
            })
        } else {
            None
        };
        FdState {
            file_type,
            offset,
            flags,
            pending: None,
        }
    }
}

/// A descriptor's file position as /proc/self/fdinfo shows it (`pos:`), or
/// None when that cannot be read (no /proc).
///
/// The snapshot reads positions there, not with lseek(fd, 0, SEEK_CUR): in a
/// process of more than one thread, lseek(2) takes the description's
/// f_pos_lock (fdget_pos: the file's count is above 1), uninterruptibly. A
/// kernel that leaves that lock held (an io_uring request that returned
/// without unlocking it: kernel/patches/mutants/m11) would keep the observer
/// blocked forever, in a state no deadline or signal ends, where the fault is
/// for the debug kernel to report (lockdep: the worker still holds the lock).
/// fdinfo reads the position without the lock, as the observer wants.
pub fn fdinfo_pos(fd: RawFd) -> Option<i64> {
    let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("pos:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Reads everything queued in a pipe or FIFO without blocking (O_NONBLOCK is
/// set for the duration), for the snapshot's `pending` bytes.
fn drain_pipe(fd: RawFd) -> Vec<u8> {
    // SAFETY: fcntl and read on a descriptor this backend owns, into a local buffer.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
        let mut out = Vec::new();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
            if n <= 0 {
                break;
            }
            out.extend_from_slice(&buf[..n as usize]);
        }
        libc::fcntl(fd, libc::F_SETFL, fl);
        out
    }
}

/// A visible stand-in for data that could not be read (e.g. EACCES without root).
fn marker(e: i32) -> Vec<u8> {
    format!("<unreadable: {}>", Errno(e)).into_bytes()
}

/// The non-zero runs of a regular file, reading only its data regions
/// (SEEK_DATA/SEEK_HOLE), at most `cap` bytes ([`SNAPSHOT_READ_CAP`]); beyond that
/// a final `(size, "<truncated>")` run marks the file.
/// The data extents of a regular file as SEEK_DATA/SEEK_HOLE report them,
/// as (start, end), at most [`MAX_EXTENTS`] (then a final (size, size) marks
/// the cut). Used to compare hole layouts between two real backends.
fn data_extents(dirfd: RawFd, name: &CString, size: u64) -> Vec<(u64, u64)> {
    // SAFETY: C string; the fd is owned below.
    let fd = unsafe {
        libc::openat(
            dirfd,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Vec::new();
    }
    // SAFETY: fd was just returned by openat.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let raw = fd.as_raw_fd();
    let size = size.min(i64::MAX as u64) as i64;
    let mut out = Vec::new();
    let mut pos = 0i64;
    while pos < size {
        if out.len() >= MAX_EXTENTS {
            out.push((size as u64, size as u64));
            break;
        }
        // SAFETY: plain calls.
        let data = unsafe { libc::lseek(raw, pos, libc::SEEK_DATA) };
        if data < pos {
            break; // ENXIO (no more data) or an answer that cannot be right
        }
        // SAFETY: plain call.
        let hole = unsafe { libc::lseek(raw, data, libc::SEEK_HOLE) };
        if hole <= data {
            break;
        }
        out.push((data as u64, hole as u64));
        pos = hole;
    }
    out
}

/// Extents listed per file before [`data_extents`] stops.
const MAX_EXTENTS: usize = 1024;

fn read_file_runs(dirfd: RawFd, name: &CString, size: u64, cap: u64) -> Vec<(u64, Vec<u8>)> {
    // O_NONBLOCK: harmless on a regular file, and never blocks should the name
    // have become a FIFO. O_NOFOLLOW: never leave the root through a symlink.
    // SAFETY: C string; the fd is owned below.
    let fd = unsafe {
        libc::openat(
            dirfd,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return vec![(0, marker(errno_now()))];
    }
    // SAFETY: fd was just returned by openat.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    match fstat_of(fd.as_raw_fd()) {
        Some(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => {}
        _ => return Vec::new(),
    }
    let raw = fd.as_raw_fd();
    let size = size.min(i64::MAX as u64) as i64;
    let mut runs = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total = 0u64;
    // Everything before `pos` has been read or reported as a hole.
    let mut pos: i64 = 0;
    let mut truncated = false;
    'regions: while pos < size {
        // SAFETY: plain call.
        let data = unsafe { libc::lseek(raw, pos, libc::SEEK_DATA) };
        let (data, hole) = if data == -1 && errno_now() == libc::ENXIO {
            break; // no data at or after pos (but see the tail check below)
        } else if data < pos || data >= size {
            // No SEEK_DATA support, or a value that cannot be right: read on.
            (pos, size.min(pos.saturating_add(CHUNK as i64)))
        } else {
            // SAFETY: plain call.
            let hole = unsafe { libc::lseek(raw, data, libc::SEEK_HOLE) };
            let hole = if hole <= data || hole > size {
                size.min(data.saturating_add(CHUNK as i64)) // re-ask after a chunk
            } else {
                hole
            };
            (data, hole)
        };
        let mut off = data;
        while off < hole {
            let want = ((hole - off) as u64).min(CHUNK as u64);
            if total + want > cap {
                truncated = true;
                break 'regions;
            }
            // SAFETY: buf holds CHUNK >= want writable bytes.
            let n = unsafe { libc::pread(raw, buf.as_mut_ptr().cast(), want as usize, off) };
            if n <= 0 {
                pos = size; // nothing more to read: no tail check either
                break 'regions;
            }
            runs.extend(nonzero_runs(off as u64, &buf[..n as usize]));
            off += n as i64;
            total += n as u64;
        }
        pos = hole;
    }
    // SEEK_DATA is not trusted near the end: tmpfs on 6.18 reports no data (ENXIO)
    // for a file whose only data is in the page just below LLONG_MAX. Reading the
    // last chunk directly costs at most 64 KiB and catches such cases.
    if !truncated {
        let tail = pos.max(size - CHUNK as i64).max(0);
        if tail < size {
            let want = (size - tail) as usize;
            // SAFETY: buf holds CHUNK >= want writable bytes.
            let n = unsafe { libc::pread(raw, buf.as_mut_ptr().cast(), want, tail) };
            if n > 0 {
                runs.extend(nonzero_runs(tail as u64, &buf[..n as usize]));
            }
        }
    }
    let mut runs = merge_runs(runs);
    if truncated {
        runs.push((size as u64, b"<truncated>".to_vec()));
    }
    runs
}

impl Backend for Syscalls {
    fn name(&self) -> &str {
        "syscalls"
    }

    /// Runs `op` through its glibc wrapper. Panics if `op` fails [`Op::validate`]:
    /// an unvalidated path could name something outside the scratch roots.
    fn exec(&mut self, op: &Op) -> Outcome {
        if let Err(e) = op.validate() {
            panic!("Syscalls::exec: refusing an op that fails validation: {e}");
        }
        let guard = sys::deadline::Guard::arm(sys::deadline::OP_DEADLINE);
        let out = self.exec_unguarded(op);
        if guard.fired() {
            // The op blocked past its deadline and was interrupted.
            return Outcome::err(Errno::ETIME);
        }
        out
    }

    fn snapshot(&mut self) -> State {
        self.snapshot_state()
    }
}

impl Syscalls {
    /// Runs `op` through the C library: the `syscall` column of the op
    /// table.
    fn exec_unguarded(&mut self, op: &Op) -> Outcome {
        model::op_table!(syscall (&mut *self) op)
    }

    /// pipe2(2) with O_CLOEXEC (and O_NONBLOCK): the ends go into two slots.
    fn pipe(&mut self, read_slot: Slot, write_slot: Slot, nonblock: bool) -> Outcome {
        let mut fds = [0 as RawFd; 2];
        let flags = libc::O_CLOEXEC | if nonblock { libc::O_NONBLOCK } else { 0 };
        // SAFETY: fds has room for two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), flags) } < 0 {
            return err_now();
        }
        self.install(read_slot, fds[0]);
        self.install(write_slot, fds[1]);
        Outcome::ok(0)
    }

    /// The trees under both roots ("root", "other") and the fd table.
    fn snapshot_state(&mut self) -> State {
        let mut state = State::default();
        for (key, fd) in [("root", &self.roots.main), ("other", &self.roots.other)] {
            let mut tree = BTreeMap::new();
            self.walk(fd.as_raw_fd(), "", 0, &mut tree);
            state.trees.insert(key.to_string(), tree);
        }
        for (i, e) in self.slots.iter().enumerate() {
            if let Some(e) = e {
                let mut fs = Syscalls::fd_state(e.fd.as_raw_fd());
                let readable = !fs.flags.starts_with("wronly") && fs.flags != "path";
                if fs.file_type == FileType::Fifo && readable {
                    fs.pending = Some(drain_pipe(e.fd.as_raw_fd()));
                }
                state.fds.insert(i as Slot, fs);
            }
        }
        state
    }
}

/// `name` in the directory open as `dirfd`, as a path through
/// /proc/self/fd (the descriptor's magic link), for calls without an *at
/// form.
fn proc_fd_path(dirfd: RawFd, name: &str) -> String {
    format!("/proc/self/fd/{dirfd}/{name}")
}

/// The `user.` extended attributes of `name` in the directory `dirfd`, read
/// without following a final symlink (llistxattr/lgetxattr through
/// /proc/self/fd, as there is no *at form before 6.13). A failure reads as
/// none: a filesystem without xattrs has none to compare.
fn user_xattrs(dirfd: RawFd, name: &CString) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let path = proc_fd_path(dirfd, &name.to_string_lossy());
    let Ok(path) = CString::new(path) else {
        return out;
    };
    // Size queries first: most files have no attributes, and then nothing
    // is allocated.
    // SAFETY: a size query (NULL buffer, size 0); path is a C string.
    let n = unsafe { libc::llistxattr(path.as_ptr(), std::ptr::null_mut(), 0) };
    if n <= 0 {
        return out;
    }
    let mut list = vec![0u8; n as usize];
    // SAFETY: list holds list.len() writable bytes; path is a C string.
    let n = unsafe { libc::llistxattr(path.as_ptr(), list.as_mut_ptr().cast(), list.len()) };
    if n <= 0 {
        return out;
    }
    list.truncate(n as usize);
    for key in list.split(|&b| b == 0).filter(|k| !k.is_empty()) {
        let key_text = String::from_utf8_lossy(key).into_owned();
        if !key_text.starts_with(model::USER_XATTR_PREFIX) {
            continue;
        }
        let Ok(ckey) = CString::new(key) else {
            continue;
        };
        // SAFETY: a size query; both are C strings.
        let len = unsafe { libc::lgetxattr(path.as_ptr(), ckey.as_ptr(), std::ptr::null_mut(), 0) };
        if len < 0 {
            continue;
        }
        let mut value = vec![0u8; len as usize];
        // SAFETY: value holds value.len() writable bytes; both are C strings.
        let v = unsafe {
            libc::lgetxattr(
                path.as_ptr(),
                ckey.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        if v >= 0 {
            value.truncate(v as usize);
            out.insert(key_text, value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_syscall_backend_reports_a_blocked_op_as_etime() {
        use crate::backend::Backend;
        use model::{Errno, FdRef, Off, Op, Outcome};
        let scratch = sys::scratch::Scratch::new().expect("scratch");
        let mut b = Syscalls::new(scratch.roots("deadline").expect("roots"));
        let pipe = Op::Pipe {
            read_slot: 0,
            write_slot: 1,
            nonblock: false,
        };
        assert_eq!(b.exec(&pipe), Outcome::ok(0));
        let read = Op::Read {
            fd: FdRef::Slot(0),
            len: 1,
            offset: Off::Pos,
        };
        assert_eq!(b.exec(&read), Outcome::err(Errno::ETIME));
    }

    use model::{Dirent, Node};
    use sys::scratch::Scratch;

    /// Parses one op written as in the scenario files.
    fn op(text: &str) -> Op {
        model::parse_op(text).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A backend on fresh roots; the Scratch must outlive it (keep both).
    fn backend() -> (Syscalls, Scratch) {
        let s = Scratch::new().expect("scratch");
        let b = Syscalls::new(s.roots("syscalls").expect("roots"));
        (b, s)
    }

    /// The snapshot's position (fdinfo) is lseek's, large ones included.
    #[test]
    fn fdinfo_position_is_the_file_position() {
        let (b, _s) = backend();
        let name = CString::new("fdinfo_pos").expect("no NUL");
        // SAFETY: a valid C string; the descriptor is owned below.
        let fd = unsafe {
            libc::openat(
                b.roots.main.as_raw_fd(),
                name.as_ptr(),
                libc::O_CREAT | libc::O_RDWR | libc::O_CLOEXEC,
                0o600,
            )
        };
        assert!(fd >= 0);
        // SAFETY: a fresh descriptor.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        for pos in [0i64, 7, 1 << 33] {
            // SAFETY: plain call on our descriptor.
            assert_eq!(
                // SAFETY: plain call on our descriptor.
                unsafe { libc::lseek(fd.as_raw_fd(), pos, libc::SEEK_SET) },
                pos
            );
            assert_eq!(fdinfo_pos(fd.as_raw_fd()), Some(pos));
            assert_eq!(Syscalls::fd_state(fd.as_raw_fd()).offset, Some(pos));
        }
    }

    fn run(b: &mut Syscalls, text: &str) -> Outcome {
        b.exec(&op(text))
    }

    fn ok(b: &mut Syscalls, text: &str) -> Outcome {
        let o = run(b, text);
        assert!(o.result.is_ok(), "{text}: {o}");
        o
    }

    fn err(b: &mut Syscalls, text: &str) -> Errno {
        match run(b, text).result {
            Err(e) => e,
            Ok(v) => panic!("{text}: expected an error, got {v}"),
        }
    }

    fn node(st: &State, root: &str, path: &str) -> Node {
        st.trees[root]
            .get(path)
            .unwrap_or_else(|| panic!("{root}/{path} missing in {:?}", st.trees[root].keys()))
            .clone()
    }

    #[test]
    fn the_snapshot_holds_user_xattrs_only() {
        let (mut b, _s) = backend();
        for text in [
            r#"{ op = "open", slot = 0, path = "a", flags = ["rdwr", "creat"] }"#,
            r#"{ op = "setxattr", path = "a", name = "user.k", value = "v1" }"#,
            r#"{ op = "fsetxattr", fd = 0, name = "user.e", value = "" }"#,
        ] {
            assert_eq!(b.exec(&op(text)).result, Ok(0), "{text}");
        }
        // As root a trusted. attribute can be set too; it is not compared.
        let trusted = op(r#"{ op = "setxattr", path = "a", name = "trusted.t", value = "x" }"#);
        let _ = b.exec(&trusted);
        let st = b.snapshot();
        let x = node(&st, "root", "a").xattrs;
        assert_eq!(x.len(), 2, "{x:?}");
        assert_eq!(x["user.k"], b"v1".to_vec());
        assert_eq!(x["user.e"], Vec::<u8>::new());
    }

    #[test]
    fn write_read_getdents_stat() {
        let (mut b, _s) = backend();
        assert_eq!(b.name(), "syscalls");
        let o = run(
            &mut b,
            r#"{ op = "open", slot = 0, path = "a", flags = ["rdwr", "creat"], mode = 0o644 }"#,
        );
        assert_eq!(o, Outcome::ok(0));
        assert_eq!(
            run(&mut b, r#"{ op = "write", fd = 0, data = "hello" }"#),
            Outcome::ok(5)
        );
        assert_eq!(
            run(&mut b, r#"{ op = "read", fd = 0, len = 10, offset = 1 }"#),
            Outcome::ok_with(4, Data::Bytes(b"ello".to_vec()))
        );
        assert_eq!(
            run(
                &mut b,
                r#"{ op = "lseek", fd = 0, offset = 0, whence = "set" }"#
            ),
            Outcome::ok(0)
        );
        assert_eq!(
            run(&mut b, r#"{ op = "read", fd = 0, len = 10 }"#),
            Outcome::ok_with(5, Data::Bytes(b"hello".to_vec()))
        );
        let o = ok(&mut b, r#"{ op = "getdents", fd = "root", count = 4096 }"#);
        let Data::Dirents(mut d) = o.data else {
            panic!("{o}")
        };
        d.sort();
        let dirent = |n: &str, t| Dirent {
            name: n.into(),
            file_type: t,
            reclen: 24,
        };
        assert_eq!(
            d,
            vec![
                dirent(".", FileType::Dir),
                dirent("..", FileType::Dir),
                dirent("a", FileType::Reg)
            ]
        );
        assert_eq!(o.result, Ok(72));
        // At the end of the directory: 0, even with a tiny buffer.
        assert_eq!(
            run(&mut b, r#"{ op = "getdents", fd = "root", count = 1 }"#),
            Outcome::ok_with(0, Data::Dirents(vec![]))
        );
        let want = Data::Stat(Stat {
            file_type: FileType::Reg,
            perm: 0o644,
            size: 5,
            nlink: 1,
            rdev: (0, 0),
        });
        assert_eq!(
            run(&mut b, r#"{ op = "stat", path = "a" }"#),
            Outcome::ok_with(0, want.clone())
        );
        assert_eq!(
            run(&mut b, r#"{ op = "fstat", fd = 0 }"#),
            Outcome::ok_with(0, want)
        );
        let o = ok(&mut b, r#"{ op = "stat", path = "a", dir = "root" }"#);
        assert!(matches!(o.data, Data::Stat(_)));
        ok(&mut b, r#"{ op = "mkdir", path = "d", mode = 0o777 }"#);
        assert_eq!(
            run(&mut b, r#"{ op = "stat", path = "d" }"#),
            Outcome::ok_with(
                0,
                Data::Stat(Stat {
                    file_type: FileType::Dir,
                    perm: 0o755, // umask 022
                    size: 0,
                    nlink: 2,
                    rdev: (0, 0),
                })
            )
        );
        assert_eq!(
            err(&mut b, r#"{ op = "stat", path = "nope" }"#),
            Errno::ENOENT
        );
    }

    #[test]
    fn snapshot_shows_bytes_holes_symlinks_and_fds() {
        let (mut b, _s) = backend();
        ok(
            &mut b,
            r#"{ op = "open", slot = 0, path = "a", flags = ["rdwr", "creat"] }"#,
        );
        ok(&mut b, r#"{ op = "write", fd = 0, data = "hello" }"#);
        ok(&mut b, r#"{ op = "mkdir", path = "d" }"#);
        ok(
            &mut b,
            r#"{ op = "open", slot = 1, path = "d/s", flags = ["wronly", "creat", "append"], mode = 0o600 }"#,
        );
        ok(&mut b, r#"{ op = "write", fd = 1, data = "x" }"#);
        ok(
            &mut b,
            r#"{ op = "write", fd = 1, data = "y", offset = 1048576 }"#,
        );
        ok(&mut b, r#"{ op = "symlink", target = "d", path = "l" }"#);
        ok(
            &mut b,
            r#"{ op = "pipe", read_slot = 2, write_slot = 3, nonblock = true }"#,
        );
        ok(
            &mut b,
            r#"{ op = "open", slot = 4, path = "d", flags = ["path"] }"#,
        );
        ok(
            &mut b,
            r#"{ op = "open", slot = 5, dir = "other", path = "o", flags = ["wronly", "creat"] }"#,
        );
        let st = b.snapshot();
        assert_eq!(
            st.trees["root"].keys().collect::<Vec<_>>(),
            vec!["a", "d", "d/s", "l"],
            "the walk does not follow l -> d"
        );
        assert_eq!(
            node(&st, "root", "a"),
            Node {
                file_type: FileType::Reg,
                perm: 0o644,
                size: 5,
                nlink: 1,
                rdev: (0, 0),
                data: vec![(0, b"hello".to_vec())],
                extents: Some(vec![(0, 5)]),
                xattrs: Default::default(),
            }
        );
        // O_APPEND: the pwrite at 1 MiB appended instead (Linux ignores the offset).
        let s = node(&st, "root", "d/s");
        assert_eq!(s.size, 2);
        assert_eq!(s.perm, 0o600);
        assert_eq!(s.data, vec![(0, b"xy".to_vec())]);
        let d = node(&st, "root", "d");
        assert_eq!((d.file_type, d.size, d.nlink), (FileType::Dir, 0, 2));
        let l = node(&st, "root", "l");
        assert_eq!(
            (l.file_type, l.size, l.data),
            (FileType::Lnk, 1, vec![(0, b"d".to_vec())])
        );
        assert_eq!(st.trees["other"].keys().collect::<Vec<_>>(), vec!["o"]);
        let fd = |slot: Slot| st.fds[&slot].clone();
        assert_eq!(
            fd(0),
            FdState {
                file_type: FileType::Reg,
                offset: Some(5),
                flags: "rdwr".into(),
                pending: None,
            }
        );
        assert_eq!(fd(1).flags, "wronly|append");
        // pwrite does not move the file position, even with O_APPEND.
        assert_eq!(fd(1).offset, Some(1));
        assert_eq!((fd(2).file_type, fd(2).offset), (FileType::Fifo, None));
        assert_eq!(fd(2).flags, "rdonly|nonblock");
        // The read end's queued bytes are drained into the snapshot.
        assert!(fd(2).pending.is_some());
        assert_eq!(fd(3).flags, "wronly|nonblock");
        assert_eq!(
            fd(4),
            FdState {
                file_type: FileType::Dir,
                offset: None,
                flags: "path".into(),
                pending: None,
            }
        );
        assert!(!st.fds.contains_key(&6));
    }

    #[test]
    fn sparse_file_has_two_runs() {
        let (mut b, _s) = backend();
        ok(
            &mut b,
            r#"{ op = "open", slot = 0, path = "sp", flags = ["rdwr", "creat"] }"#,
        );
        ok(&mut b, r#"{ op = "write", fd = 0, data = "ab" }"#);
        ok(
            &mut b,
            r#"{ op = "write", fd = 0, data = { fill = "z", len = 3 }, offset = 1048576 }"#,
        );
        ok(
            &mut b,
            r#"{ op = "write", fd = 0, data = "\u0000\u0000q", offset = 5000000 }"#,
        );
        let n = node(&b.snapshot(), "root", "sp");
        assert_eq!(n.size, 5_000_003);
        assert_eq!(
            n.data,
            vec![
                (0, b"ab".to_vec()),
                (1 << 20, b"zzz".to_vec()),
                (5_000_002, b"q".to_vec())
            ]
        );
        // Data in the last page below LLONG_MAX, where tmpfs' SEEK_DATA says ENXIO
        // (and SEEK_HOLE returns LLONG_MIN) on 6.18: the tail read still finds it.
        ok(
            &mut b,
            r#"{ op = "open", slot = 1, path = "end", flags = ["rdwr", "creat"] }"#,
        );
        let w = run(
            &mut b,
            r#"{ op = "write", fd = 1, data = "h", offset = 9223372036854775806 }"#,
        );
        if w.result == Ok(1) {
            let n = node(&b.snapshot(), "root", "end");
            assert_eq!(n.size, i64::MAX as u64);
            assert_eq!(n.data, vec![(i64::MAX as u64 - 1, b"h".to_vec())]);
        }
        // Punching a hole (tmpfs supports PUNCH_HOLE|KEEP_SIZE) removes a run.
        ok(
            &mut b,
            r#"{ op = "fallocate", fd = 0, mode = ["punch_hole", "keep_size"], offset = 1048576, len = 4096 }"#,
        );
        let n = node(&b.snapshot(), "root", "sp");
        assert_eq!(n.data.len(), 2);
        assert_eq!(n.size, 5_000_003);
    }

    #[test]
    fn snapshot_reads_are_capped_visibly() {
        let (mut b, _s) = backend();
        ok(
            &mut b,
            r#"{ op = "open", slot = 0, path = "big", flags = ["rdwr", "creat"] }"#,
        );
        ok(
            &mut b,
            r#"{ op = "write", fd = 0, data = { fill = "a", len = 200000 } }"#,
        );
        let name = cstr("big");
        let runs = read_file_runs(b.roots.main.as_raw_fd(), &name, 200_000, CHUNK as u64);
        assert_eq!(
            runs,
            vec![(0, vec![b'a'; CHUNK]), (200_000, b"<truncated>".to_vec())]
        );
        let full = read_file_runs(b.roots.main.as_raw_fd(), &name, 200_000, SNAPSHOT_READ_CAP);
        assert_eq!(full, vec![(0, vec![b'a'; 200_000])]);
    }

    #[test]
    fn closed_slots_and_bad_fds_are_ebadf() {
        let (mut b, _s) = backend();
        assert_eq!(
            err(&mut b, r#"{ op = "read", fd = 3, len = 1 }"#),
            Errno::EBADF
        );
        assert_eq!(err(&mut b, r#"{ op = "close", fd = 3 }"#), Errno::EBADF);
        assert_eq!(err(&mut b, r#"{ op = "close", fd = "bad" }"#), Errno::EBADF);
        assert_eq!(err(&mut b, r#"{ op = "fstat", fd = "bad" }"#), Errno::EBADF);
        assert_eq!(err(&mut b, r#"{ op = "fstat", fd = 7 }"#), Errno::EBADF);
        assert_eq!(
            err(&mut b, r#"{ op = "stat", dir = "bad", path = "a" }"#),
            Errno::EBADF
        );
        assert_eq!(
            err(&mut b, r#"{ op = "mkdir", dir = 2, path = "a" }"#),
            Errno::EBADF
        );
        // Closing the root descriptor is refused, and it keeps working.
        assert_eq!(
            err(&mut b, r#"{ op = "close", fd = "root" }"#),
            Errno::EBADF
        );
        ok(&mut b, r#"{ op = "fstat", fd = "root" }"#);
        ok(
            &mut b,
            r#"{ op = "open", slot = 0, path = "a", flags = ["creat"] }"#,
        );
        assert_eq!(run(&mut b, r#"{ op = "close", fd = 0 }"#), Outcome::ok(0));
        assert_eq!(err(&mut b, r#"{ op = "close", fd = 0 }"#), Errno::EBADF);
        assert_eq!(
            err(&mut b, r#"{ op = "seek_dirent", fd = 0, entry = 0 }"#),
            Errno::EBADF
        );
        assert!(b.snapshot().fds.is_empty());
    }

    #[test]
    fn open_replaces_the_slot_only_on_success() {
        let (mut b, _s) = backend();
        ok(&mut b, r#"{ op = "mkdir", path = "d" }"#);
        ok(
            &mut b,
            r#"{ op = "open", slot = 0, path = "d", flags = ["directory"] }"#,
        );
        // The slot's own descriptor is the dirfd of the open that replaces it.
        ok(
            &mut b,
            r#"{ op = "open", slot = 0, dir = 0, path = "f", flags = ["creat", "wronly"] }"#,
        );
        assert_eq!(b.snapshot().fds[&0].flags, "wronly");
        assert_eq!(
            err(&mut b, r#"{ op = "open", slot = 0, path = "missing" }"#),
            Errno::ENOENT
        );
        assert_eq!(
            b.snapshot().fds[&0].flags,
            "wronly",
            "a failed open keeps the slot"
        );
        assert!(b.snapshot().trees["root"].contains_key("d/f"));
    }

    #[test]
    fn pipes_splice_tee_copy_file_range() {
        let (mut b, s) = backend();
        ok(
            &mut b,
            r#"{ op = "open", slot = 0, path = "a", flags = ["rdwr", "creat"] }"#,
        );
        ok(&mut b, r#"{ op = "write", fd = 0, data = "0123456789" }"#);
        ok(
            &mut b,
            r#"{ op = "pipe", read_slot = 1, write_slot = 2, nonblock = true }"#,
        );
        assert_eq!(
            run(
                &mut b,
                r#"{ op = "splice", fd_in = 0, off_in = 2, fd_out = 2, len = 3 }"#
            ),
            Outcome::ok_with(3, Data::Offsets(Some(5), None))
        );
        ok(
            &mut b,
            r#"{ op = "pipe", read_slot = 3, write_slot = 4, nonblock = true }"#,
        );
        assert_eq!(
            run(
                &mut b,
                r#"{ op = "tee", fd_in = 1, fd_out = 4, len = 100 }"#
            ),
            Outcome::ok(3)
        );
        assert_eq!(
            run(&mut b, r#"{ op = "read", fd = 3, len = 100 }"#),
            Outcome::ok_with(3, Data::Bytes(b"234".to_vec()))
        );
        assert_eq!(
            err(&mut b, r#"{ op = "read", fd = 3, len = 100 }"#),
            Errno::EAGAIN
        );
        // The file position was not used by the splice with an explicit offset.
        // (Not through snapshot(): that drains the pipes.)
        assert_eq!(
            run(
                &mut b,
                r#"{ op = "lseek", fd = 0, offset = 0, whence = "cur" }"#
            ),
            Outcome::ok(10)
        );
        ok(
            &mut b,
            r#"{ op = "open", slot = 5, path = "b", flags = ["wronly", "creat"] }"#,
        );
        assert_eq!(
            run(
                &mut b,
                r#"{ op = "splice", fd_in = 1, fd_out = 5, off_out = 4, len = 10 }"#
            ),
            Outcome::ok_with(3, Data::Offsets(None, Some(7)))
        );
        assert_eq!(
            run(
                &mut b,
                r#"{ op = "copy_file_range", fd_in = 0, off_in = 0, fd_out = 5, len = 4 }"#
            ),
            Outcome::ok_with(4, Data::Offsets(Some(4), None))
        );
        let st = b.snapshot();
        assert_eq!(node(&st, "root", "b").data, vec![(0, b"0123234".to_vec())]);
        assert_eq!(st.fds[&5].offset, Some(4));
        // Cross-filesystem copy: EXDEV between the two roots.
        ok(
            &mut b,
            r#"{ op = "open", slot = 6, dir = "other", path = "c", flags = ["wronly", "creat"] }"#,
        );
        let o = run(
            &mut b,
            r#"{ op = "copy_file_range", fd_in = 0, off_in = 0, fd_out = 6, len = 4 }"#,
        );
        let r = run(
            &mut b,
            r#"{ op = "rename", path = "a", new_dir = "other", new_path = "a" }"#,
        );
        if s.cross_fs() {
            assert_eq!(o.result, Err(Errno::EXDEV));
            assert_eq!(r.result, Err(Errno::EXDEV));
        }
        // EPIPE instead of death by SIGPIPE.
        ok(&mut b, r#"{ op = "close", fd = 3 }"#);
        assert_eq!(
            err(&mut b, r#"{ op = "write", fd = 4, data = "x" }"#),
            Errno::EPIPE
        );
    }

    #[test]
    fn seek_dirent_resumes_after_a_cookie() {
        let (mut b, _s) = backend();
        ok(&mut b, r#"{ op = "mkdir", path = "x" }"#);
        for name in ["a", "b", "c"] {
            ok(
                &mut b,
                &format!(r#"{{ op = "mknod", path = "x/{name}", type = "fifo" }}"#),
            );
        }
        ok(
            &mut b,
            r#"{ op = "open", slot = 0, path = "x", flags = ["directory"] }"#,
        );
        let names = |o: Outcome| match o.data {
            Data::Dirents(d) => d.into_iter().map(|e| e.name).collect::<Vec<_>>(),
            _ => panic!("{o}"),
        };
        // Two records per call (24 bytes each).
        let first = names(ok(&mut b, r#"{ op = "getdents", fd = 0, count = 48 }"#));
        let second = names(ok(&mut b, r#"{ op = "getdents", fd = 0, count = 48 }"#));
        assert_eq!((first.len(), second.len()), (2, 2));
        // Resume after the first entry: the rest of the directory again.
        assert_eq!(
            run(&mut b, r#"{ op = "seek_dirent", fd = 0, entry = 0 }"#),
            Outcome::ok(0)
        );
        let again = names(ok(&mut b, r#"{ op = "getdents", fd = 0, count = 4096 }"#));
        let want: Vec<String> = first[1..].iter().chain(&second).cloned().collect();
        assert_eq!(again.len(), 4, "5 entries minus the first: {again:?}");
        assert_eq!(&again[..3], &want[..]);
        let rest = ok(&mut b, r#"{ op = "getdents", fd = 0, count = 4096 }"#);
        assert_eq!(rest, Outcome::ok_with(0, Data::Dirents(vec![])));
        // An entry beyond the cookies seen: back to the start.
        ok(&mut b, r#"{ op = "seek_dirent", fd = 0, entry = 99 }"#);
        assert_eq!(
            names(ok(&mut b, r#"{ op = "getdents", fd = 0, count = 4096 }"#)).len(),
            5
        );
        // At the end: 0 even for a buffer too small for any record; at the start,
        // a buffer too small for the first record is EINVAL.
        assert_eq!(
            run(&mut b, r#"{ op = "getdents", fd = 0, count = 10 }"#).result,
            Ok(0)
        );
        ok(&mut b, r#"{ op = "seek_dirent", fd = 0, entry = 99 }"#);
        assert_eq!(
            err(&mut b, r#"{ op = "getdents", fd = 0, count = 10 }"#),
            Errno::EINVAL
        );
        assert_eq!(
            err(&mut b, r#"{ op = "getdents", fd = 0, count = 0 }"#),
            Errno::EINVAL
        );
        // The snapshot lists FIFOs without opening them (a blocking open would hang).
        let st = b.snapshot();
        let f = node(&st, "root", "x/a");
        assert_eq!((f.file_type, f.data.len()), (FileType::Fifo, 0));
    }

    #[test]
    fn umask_mknod_fadvise_fallocate() {
        let (mut b, _s) = backend();
        assert_eq!(
            run(&mut b, r#"{ op = "umask", mask = 0o077 }"#),
            Outcome::ok(0o022)
        );
        ok(
            &mut b,
            r#"{ op = "mknod", path = "f", type = "none", perm = 0o666 }"#,
        );
        assert_eq!(
            run(&mut b, r#"{ op = "umask", mask = 0o022 }"#),
            Outcome::ok(0o077)
        );
        assert_eq!(node(&b.snapshot(), "root", "f").perm, 0o600);
        assert_eq!(
            err(&mut b, r#"{ op = "mknod", path = "g", type = "dir" }"#),
            Errno::EPERM
        );
        assert_eq!(
            err(&mut b, r#"{ op = "mknod", path = "g", type = "lnk" }"#),
            Errno::EINVAL
        );
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            // /dev/null's numbers: the node exists, but is never opened.
            ok(
                &mut b,
                r#"{ op = "mknod", path = "null", type = "chr", major = 1, minor = 3 }"#,
            );
            let n = node(&b.snapshot(), "root", "null");
            assert_eq!(
                (n.file_type, n.rdev, n.data.len()),
                (FileType::Chr, (1, 3), 0)
            );
            assert_eq!(
                err(
                    &mut b,
                    r#"{ op = "open", slot = 0, path = "null", flags = ["wronly"] }"#
                ),
                Errno::EACCES
            );
            ok(
                &mut b,
                r#"{ op = "open", slot = 0, path = "null", flags = ["path"] }"#,
            );
        }
        ok(
            &mut b,
            r#"{ op = "open", slot = 1, path = "f", flags = ["rdwr"] }"#,
        );
        assert_eq!(
            run(&mut b, r#"{ op = "fadvise", fd = 1, advice = "willneed" }"#),
            Outcome::ok(0)
        );
        assert_eq!(
            err(&mut b, r#"{ op = "fadvise", fd = 1, advice = 99 }"#),
            Errno::EINVAL
        );
        assert_eq!(
            err(
                &mut b,
                r#"{ op = "fadvise", fd = 1, len = -1, advice = "normal" }"#
            ),
            Errno::EINVAL
        );
        ok(
            &mut b,
            r#"{ op = "fallocate", fd = 1, offset = 0, len = 8192 }"#,
        );
        assert_eq!(node(&b.snapshot(), "root", "f").size, 8192);
        ok(&mut b, r#"{ op = "ftruncate", fd = 1, len = 10 }"#);
        ok(&mut b, r#"{ op = "fsync", fd = 1, datasync = true }"#);
        assert_eq!(node(&b.snapshot(), "root", "f").size, 10);
        assert_eq!(
            falloc_mode(&[FallocFlag::KeepSize, FallocFlag::Raw(0x100)]),
            0x101
        );
        assert_eq!(mknod_mode(NodeType::Fifo, 0o644), 0o010644);
    }

    #[test]
    fn devices_are_never_opened_in_directory_mode() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return; // mknod of a device needs CAP_MKNOD
        }
        let s = Scratch::new_directories().expect("scratch");
        let mut b = Syscalls::new(s.roots("dev").expect("roots"));
        ok(
            &mut b,
            r#"{ op = "mknod", path = "null", type = "chr", major = 1, minor = 3 }"#,
        );
        ok(&mut b, r#"{ op = "symlink", target = "null", path = "l" }"#);
        for (flags, want) in [
            (r#"["wronly"]"#, Errno::EACCES),
            (r#"["rdonly", "trunc", "creat"]"#, Errno::EACCES),
            (r#"["creat", "excl"]"#, Errno::EEXIST),
            (r#"["directory"]"#, Errno::ENOTDIR),
        ] {
            for path in ["null", "l"] {
                let text =
                    format!(r#"{{ op = "open", slot = 0, path = "{path}", flags = {flags} }}"#);
                assert_eq!(err(&mut b, &text), want, "{text}");
            }
        }
        let text = r#"{ op = "open", slot = 0, path = "l", flags = ["nofollow"] }"#;
        assert_eq!(err(&mut b, text), Errno::ELOOP);
        ok(
            &mut b,
            r#"{ op = "open", slot = 0, path = "null", flags = ["path"] }"#,
        );
        assert!(b.snapshot().trees["root"]["null"].data.is_empty());
    }

    #[test]
    fn rename_link_symlink_unlink() {
        let (mut b, _s) = backend();
        ok(&mut b, r#"{ op = "mknod", path = "a", type = "reg" }"#);
        ok(&mut b, r#"{ op = "mknod", path = "b", type = "reg" }"#);
        assert_eq!(
            err(
                &mut b,
                r#"{ op = "rename", path = "a", new_path = "b", flags = ["noreplace"] }"#
            ),
            Errno::EEXIST
        );
        ok(
            &mut b,
            r#"{ op = "rename", path = "a", new_path = "b", flags = ["exchange"] }"#,
        );
        ok(&mut b, r#"{ op = "link", path = "a", new_path = "c" }"#);
        ok(
            &mut b,
            r#"{ op = "symlink", target = "nowhere", path = "s" }"#,
        );
        assert_eq!(
            err(&mut b, r#"{ op = "stat", path = "s", follow = true }"#),
            Errno::ENOENT
        );
        ok(&mut b, r#"{ op = "unlink", path = "b" }"#);
        assert_eq!(
            err(&mut b, r#"{ op = "unlink", path = "c", removedir = true }"#),
            Errno::ENOTDIR
        );
        let st = b.snapshot();
        assert_eq!(
            st.trees["root"].keys().collect::<Vec<_>>(),
            vec!["a", "c", "s"]
        );
        assert_eq!(node(&st, "root", "a").nlink, 2);
    }

    #[test]
    fn escaping_paths_never_reach_the_kernel() {
        for text in [
            r#"{ op = "open", slot = 0, path = "../x", flags = ["creat"] }"#,
            r#"{ op = "unlink", path = "/etc/passwd" }"#,
            r#"{ op = "symlink", target = "../../etc", path = "l" }"#,
            r#"{ op = "open", slot = 9, path = "a" }"#,
        ] {
            assert!(op(text).validate().is_err(), "{text}");
            let r = std::panic::catch_unwind(|| {
                let (mut b, _s) = backend();
                b.exec(&op(text))
            });
            assert!(r.is_err(), "{text} was executed");
        }
    }
}
