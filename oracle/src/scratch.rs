//! Scratch roots: the directories the real-kernel backends run their ops in.
//!
//! A [`Scratch`] is one temporary area with two filesystems in it, `main` and
//! `other`. As root, each is a private tmpfs mounted in a mount namespace private to
//! the calling thread, so they are two superblocks (EXDEV between them) and nothing
//! the ops do is visible to, or propagates to, the host. Without root (or where
//! mounting is refused), they are two plain directories, `main` under the temp dir
//! and `other` under `/dev/shm`, which are on different filesystems only when
//! `/dev/shm` is a separate tmpfs ([`Scratch::cross_fs`] tells).
//!
//! Each backend asks for its own [`Roots`] with a label
//! ([`Scratch::roots`]): `main/<label>` and `other/<label>`, so the syscall and
//! io_uring backends run on the same filesystems without seeing each other's files.
//!
//! Everything here is bound to the thread that created it: the mount namespace, the
//! umask and the working directory are made per-thread (`unshare(CLONE_FS)`, and
//! `unshare(CLONE_NEWNS)` as root) so that tests running on several threads do not
//! share them. A `Scratch` is therefore neither `Send` nor `Sync`.

#![warn(missing_docs)]

use crate::syscalls::list_dir;
use nix::errno::Errno as NixErrno;
use std::cell::Cell;
use std::ffi::{CStr, CString, OsString};
use std::fmt;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// Options of each scratch tmpfs: 256 MiB is plenty for sequences whose buffers are
/// at most 1 MiB and bounds what a runaway fallocate can take.
const TMPFS_OPTIONS: &str = "size=256m,mode=0755";

/// Why a scratch area or its roots could not be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScratchError {
    /// `unshare(2)` with the named flag failed (CLONE_FS needs no privilege, so
    /// this means the kernel or a seccomp filter refused it).
    Unshare {
        /// The flag, e.g. "CLONE_FS".
        flag: &'static str,
        /// The error.
        errno: NixErrno,
    },
    /// Mounting a tmpfs failed with an error other than EPERM/EACCES (those fall
    /// back to plain directories instead).
    Mount {
        /// The mount point.
        path: PathBuf,
        /// The error.
        errno: NixErrno,
    },
    /// Creating a directory failed.
    Create {
        /// The directory.
        path: PathBuf,
        /// The error.
        errno: NixErrno,
    },
    /// Opening a directory (or asking for its filesystem with statfs) failed.
    Open {
        /// The directory.
        path: PathBuf,
        /// The error.
        errno: NixErrno,
    },
    /// A root label that is not one safe path component (`[A-Za-z0-9_.-]`, at most
    /// 64 bytes, not `.` or `..`).
    BadLabel(String),
}

fn show_errno(e: NixErrno) -> String {
    format!("{e:?} ({})", e.desc())
}

impl fmt::Display for ScratchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScratchError::Unshare { flag, errno } => {
                write!(f, "cannot unshare({flag}): {}", show_errno(*errno))
            }
            ScratchError::Mount { path, errno } => write!(
                f,
                "cannot mount tmpfs at {}: {}",
                path.display(),
                show_errno(*errno)
            ),
            ScratchError::Create { path, errno } => write!(
                f,
                "cannot create directory {}: {}",
                path.display(),
                show_errno(*errno)
            ),
            ScratchError::Open { path, errno } => {
                write!(f, "cannot open {}: {}", path.display(), show_errno(*errno))
            }
            ScratchError::BadLabel(l) => write!(
                f,
                "bad scratch root label {l:?}: use one component of [A-Za-z0-9_.-]"
            ),
        }
    }
}

impl std::error::Error for ScratchError {}

/// What the filesystem of a pair of roots is, for the model's profile and reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsInfo {
    /// "tmpfs", "ext4", "xfs", "btrfs", or "unknown(0x...)" with statfs' f_type.
    pub name: String,
    /// statfs f_bsize: the unit of fallocate alignment rules (collapse/insert) and
    /// of partial-block zeroing.
    pub block_size: u64,
    /// True when the roots are private tmpfs mounts in a private mount namespace;
    /// false for plain directories on a host filesystem.
    pub private_mount: bool,
    /// True when the main root's mount has `nodev` (device nodes can be created but
    /// opening one gives EACCES). The private tmpfs mounts always have it, so that
    /// an op sequence can never open a real device (e.g. the host disk) through a
    /// node it made with mknod.
    pub nodev: bool,
}

/// The two directories one backend runs its ops in, and what filesystem they are on.
///
/// Dropping it removes both directories and everything in them, so a runner that
/// takes fresh roots for every case does not fill the 256 MiB tmpfs over a long run.
#[derive(Debug)]
pub struct Roots {
    /// `main/<label>`, opened O_RDONLY|O_DIRECTORY|O_CLOEXEC: `Dir::Root` and
    /// `SpecialFd::Root` of the ops.
    pub main: OwnedFd,
    /// `other/<label>`, opened the same way: `Dir::Other`, on a different
    /// filesystem when [`Scratch::cross_fs`] is true.
    pub other: OwnedFd,
    /// The main root's filesystem.
    pub fs: FsInfo,
    /// Descriptors of `main` and `other` (the label directories' parents), to
    /// remove the label directories on drop.
    parents: [OwnedFd; 2],
    label: String,
}

impl Roots {
    /// The label these roots were made with.
    pub fn label(&self) -> &str {
        &self.label
    }
}

impl Drop for Roots {
    fn drop(&mut self) {
        let name = CString::new(self.label.as_str()).expect("labels have no NUL byte");
        for parent in &self.parents {
            remove_at(parent.as_raw_fd(), &name, None, 0);
        }
    }
}

/// How far the calling thread got isolating its mount namespace (cached per thread).
#[derive(Debug, Clone, Copy)]
enum NsState {
    /// A new, private (MS_REC|MS_PRIVATE) mount namespace for this thread.
    Private,
    /// Not root: nothing tried.
    NotRoot,
    /// A step failed; the thread keeps the host's propagation, so nothing may be
    /// mounted from it.
    Failed(&'static str, NixErrno),
}

thread_local! {
    static FS_UNSHARED: Cell<bool> = const { Cell::new(false) };
    static MOUNT_NS: Cell<Option<NsState>> = const { Cell::new(None) };
}

/// Gives the calling thread its own umask, working directory and root
/// (`unshare(CLONE_FS)`), once per thread. Needed because the umask is process-wide
/// otherwise: a backend setting it (the `umask` op, or the 022 every sequence starts
/// with) would change it for every test thread. Needs no privilege.
pub fn isolate_thread_fs() -> Result<(), ScratchError> {
    if FS_UNSHARED.with(|c| c.get()) {
        return Ok(());
    }
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_FS).map_err(|errno| {
        ScratchError::Unshare {
            flag: "CLONE_FS",
            errno,
        }
    })?;
    FS_UNSHARED.with(|c| c.set(true));
    Ok(())
}

/// As root, moves the calling thread into a new mount namespace with every mount
/// private, once per thread; returns what was achieved (cached).
fn isolate_thread_mounts() -> NsState {
    if let Some(s) = MOUNT_NS.with(|c| c.get()) {
        return s;
    }
    // SAFETY: geteuid cannot fail.
    let state = if unsafe { libc::geteuid() } != 0 {
        NsState::NotRoot
    } else {
        match nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS) {
            Err(e) => NsState::Failed("unshare(CLONE_NEWNS)", e),
            Ok(()) => {
                // Once unshared, this thread keeps its own namespace for good: also
                // note CLONE_FS as done (CLONE_NEWNS implies it).
                FS_UNSHARED.with(|c| c.set(true));
                match nix::mount::mount(
                    None::<&str>,
                    "/",
                    None::<&str>,
                    nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
                    None::<&str>,
                ) {
                    Ok(()) => NsState::Private,
                    Err(e) => NsState::Failed("mount(/, MS_REC|MS_PRIVATE)", e),
                }
            }
        }
    };
    MOUNT_NS.with(|c| c.set(Some(state)));
    state
}

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("scratch paths have no NUL byte")
}

fn mkdir_mode(path: &Path, mode: u32) -> Result<(), ScratchError> {
    let c = cpath(path);
    // SAFETY: c is a valid NUL-terminated string.
    if unsafe { libc::mkdir(c.as_ptr(), mode) } < 0 {
        return Err(ScratchError::Create {
            path: path.to_owned(),
            errno: NixErrno::last(),
        });
    }
    // The thread's umask may be anything: set the mode exactly.
    // SAFETY: as above.
    unsafe { libc::chmod(c.as_ptr(), mode) };
    Ok(())
}

fn open_dir(path: &Path) -> Result<OwnedFd, ScratchError> {
    let c = cpath(path);
    // SAFETY: c is a valid NUL-terminated string; the fd is owned from here on.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    };
    if fd < 0 {
        return Err(ScratchError::Open {
            path: path.to_owned(),
            errno: NixErrno::last(),
        });
    }
    // SAFETY: fd was just returned by open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn mkdtemp_in(dir: &Path) -> Result<PathBuf, ScratchError> {
    let template = dir.join("ringspec-XXXXXX");
    let mut bytes = cpath(&template).into_bytes_with_nul();
    // SAFETY: bytes is a writable NUL-terminated template; mkdtemp fills in the Xs.
    if unsafe { libc::mkdtemp(bytes.as_mut_ptr().cast()) }.is_null() {
        return Err(ScratchError::Create {
            path: template,
            errno: NixErrno::last(),
        });
    }
    bytes.pop();
    Ok(PathBuf::from(OsString::from_vec(bytes)))
}

fn fstat_raw(fd: RawFd) -> Option<libc::stat> {
    // SAFETY: st is written by fstat before being read.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some(st)
}

/// The filesystem name for a statfs f_type.
pub fn fs_name(f_type: i64) -> String {
    match f_type as u32 {
        0x0102_1994 => "tmpfs".into(),
        0xef53 => "ext4".into(),
        0x5846_5342 => "xfs".into(),
        0x9123_683e => "btrfs".into(),
        t => format!("unknown(0x{t:x})"),
    }
}

fn fs_info(fd: RawFd, path: &Path, private_mount: bool) -> Result<FsInfo, ScratchError> {
    let err = |errno| ScratchError::Open {
        path: path.to_owned(),
        errno,
    };
    // SAFETY: the structs are written by the calls before being read.
    let mut sf: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatfs(fd, &mut sf) } < 0 {
        return Err(err(NixErrno::last()));
    }
    let mut sv: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatvfs(fd, &mut sv) } < 0 {
        return Err(err(NixErrno::last()));
    }
    Ok(FsInfo {
        name: fs_name(sf.f_type as i64),
        block_size: sf.f_bsize as u64,
        private_mount,
        nodev: sv.f_flag & libc::ST_NODEV != 0,
    })
}

/// One temporary scratch area holding the `main` and `other` filesystems; see the
/// module documentation. Dropping it unmounts and removes everything it made.
pub struct Scratch {
    /// The temp directory `ringspec-XXXXXX` under `std::env::temp_dir()`.
    base: PathBuf,
    /// In directory mode, the `ringspec-XXXXXX` directory made under /dev/shm.
    other_base: Option<PathBuf>,
    main_path: PathBuf,
    other_path: PathBuf,
    main: Option<OwnedFd>,
    other: Option<OwnedFd>,
    /// Which of main/other carry a tmpfs mounted by us (in this thread's namespace).
    mounted: [bool; 2],
    /// Why plain directories are used (None when both tmpfs mounts are in place).
    fallback: Option<String>,
    cross_fs: bool,
    main_fs: Option<FsInfo>,
    other_fs_name: String,
    /// Bound to the creating thread: its mount namespace holds the mounts.
    _thread_bound: PhantomData<*const ()>,
}

impl Scratch {
    /// Creates a scratch area: isolates the calling thread (`unshare(CLONE_FS)`;
    /// as root also a private mount namespace), makes `ringspec-XXXXXX` in the temp
    /// dir and, as root, mounts two tmpfs instances in it (`main`, `other`; nodev,
    /// nosuid). Falls back to plain directories when not root or when mounting is
    /// refused (EPERM/EACCES); [`Scratch::describe`] says which happened and why.
    pub fn new() -> Result<Scratch, ScratchError> {
        Scratch::create(true)
    }

    /// Like [`Scratch::new`] but never mounts: `main` under the temp dir and `other`
    /// under /dev/shm, as when not running as root. For testing that mode, and for
    /// running on the temp dir's own filesystem on purpose.
    pub fn new_directories() -> Result<Scratch, ScratchError> {
        Scratch::create(false)
    }

    fn create(try_mount: bool) -> Result<Scratch, ScratchError> {
        isolate_thread_fs()?;
        let ns = if try_mount {
            isolate_thread_mounts()
        } else {
            NsState::NotRoot
        };
        let base = mkdtemp_in(&std::env::temp_dir())?;
        // From here on, Drop cleans up whatever was made if a step fails.
        let mut s = Scratch {
            main_path: base.join("main"),
            other_path: base.join("other"),
            base,
            other_base: None,
            main: None,
            other: None,
            mounted: [false; 2],
            fallback: None,
            cross_fs: false,
            main_fs: None,
            other_fs_name: String::new(),
            _thread_bound: PhantomData,
        };
        s.fallback = match ns {
            NsState::Private => s.mount_both()?,
            NsState::NotRoot if try_mount => Some("not root: no private mount".into()),
            NsState::NotRoot => Some("directories requested: no private mount".into()),
            NsState::Failed(what, e) => Some(format!("cannot {what}: {e:?}")),
        };
        if s.fallback.is_some() {
            mkdir_mode(&s.main_path, 0o755)?;
            let shm = Path::new("/dev/shm");
            match mkdtemp_in(shm) {
                Ok(p) => {
                    // SAFETY: the path is a valid C string.
                    unsafe { libc::chmod(cpath(&p).as_ptr(), 0o755) };
                    s.other_path = p.clone();
                    s.other_base = Some(p);
                }
                Err(_) => mkdir_mode(&s.other_path, 0o755)?,
            }
        }
        let main = open_dir(&s.main_path)?;
        let other = open_dir(&s.other_path)?;
        let private = s.fallback.is_none();
        s.main_fs = Some(fs_info(main.as_raw_fd(), &s.main_path, private)?);
        s.other_fs_name = fs_info(other.as_raw_fd(), &s.other_path, private)?.name;
        s.cross_fs = match (fstat_raw(main.as_raw_fd()), fstat_raw(other.as_raw_fd())) {
            (Some(a), Some(b)) => a.st_dev != b.st_dev,
            _ => false,
        };
        s.main = Some(main);
        s.other = Some(other);
        Ok(s)
    }

    /// Mounts the two tmpfs instances; Ok(Some(reason)) when mounting was refused
    /// and plain directories must be used instead.
    fn mount_both(&mut self) -> Result<Option<String>, ScratchError> {
        use nix::mount::MsFlags;
        for i in 0..2 {
            let path = if i == 0 {
                self.main_path.clone()
            } else {
                self.other_path.clone()
            };
            mkdir_mode(&path, 0o755)?;
            let r = nix::mount::mount(
                Some("ringspec"),
                &path,
                Some("tmpfs"),
                MsFlags::MS_NODEV | MsFlags::MS_NOSUID,
                Some(TMPFS_OPTIONS),
            );
            match r {
                Ok(()) => self.mounted[i] = true,
                Err(e @ (NixErrno::EPERM | NixErrno::EACCES)) => {
                    // Fall back to plain directories: undo what was made here (the
                    // fallback creates `main` again and `other` under /dev/shm).
                    self.unmount_all();
                    for p in [&self.main_path, &self.other_path] {
                        // SAFETY: valid C string; removes our own empty directory.
                        unsafe { libc::rmdir(cpath(p).as_ptr()) };
                    }
                    return Ok(Some(format!("cannot mount tmpfs: {e:?}")));
                }
                Err(errno) => return Err(ScratchError::Mount { path, errno }),
            }
        }
        Ok(None)
    }

    fn unmount_all(&mut self) {
        for i in 0..2 {
            if self.mounted[i] {
                let path = if i == 0 {
                    &self.main_path
                } else {
                    &self.other_path
                };
                if nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH).is_ok() {
                    self.mounted[i] = false;
                }
            }
        }
    }

    /// Creates `main/<label>` and `other/<label>` (mode 0755) and returns them open.
    /// Each backend (and each fresh case) takes its own label; a label can be used
    /// once per scratch area (EEXIST otherwise).
    pub fn roots(&self, label: &str) -> Result<Roots, ScratchError> {
        let ok = !label.is_empty()
            && label.len() <= 64
            && label != "."
            && label != ".."
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
        if !ok {
            return Err(ScratchError::BadLabel(label.to_string()));
        }
        let main = self.main.as_ref().expect("scratch is set up");
        let other = self.other.as_ref().expect("scratch is set up");
        let dup = |fd: &OwnedFd, path: &Path| {
            fd.try_clone().map_err(|e| ScratchError::Open {
                path: path.to_owned(),
                errno: NixErrno::from_raw(e.raw_os_error().unwrap_or(0)),
            })
        };
        let parents = [dup(main, &self.main_path)?, dup(other, &self.other_path)?];
        let main_fd = make_label_dir(main.as_raw_fd(), &self.main_path, label)?;
        let other_fd = match make_label_dir(other.as_raw_fd(), &self.other_path, label) {
            Ok(fd) => fd,
            Err(e) => {
                let name = CString::new(label).expect("labels have no NUL byte");
                remove_at(main.as_raw_fd(), &name, None, 0);
                return Err(e);
            }
        };
        let path = self.main_path.join(label);
        let fs = fs_info(main_fd.as_raw_fd(), &path, self.fallback.is_none())?;
        Ok(Roots {
            main: main_fd,
            other: other_fd,
            fs,
            parents,
            label: label.to_string(),
        })
    }

    /// True when `main` and `other` are different filesystems (different st_dev), so
    /// cross-root rename/link/copy_file_range give EXDEV. Always true with the
    /// private tmpfs mounts; in directory mode only if /dev/shm is a separate
    /// filesystem from the temp dir.
    pub fn cross_fs(&self) -> bool {
        self.cross_fs
    }

    /// The temp directory holding the scratch area (for messages and tests).
    pub fn path(&self) -> &Path {
        &self.base
    }

    /// The main root's filesystem (the same for every label).
    pub fn fs(&self) -> &FsInfo {
        self.main_fs.as_ref().expect("scratch is set up")
    }

    /// One line for reports: where the roots are and how isolated they are, e.g.
    /// "private tmpfs in a private mount namespace at /tmp/ringspec-ab12" or
    /// "directory /tmp/ringspec-ab12 on ext4 (not root: no private mount); ...".
    pub fn describe(&self) -> String {
        match &self.fallback {
            None => format!(
                "private tmpfs in a private mount namespace at {}",
                self.base.display()
            ),
            Some(reason) => {
                let other = if self.cross_fs {
                    format!(
                        "other root {} on {}",
                        self.other_path.display(),
                        self.other_fs_name
                    )
                } else {
                    format!(
                        "other root {} on the same filesystem (no EXDEV)",
                        self.other_path.display()
                    )
                };
                format!(
                    "directory {} on {} ({reason}); {other}",
                    self.base.display(),
                    self.fs().name
                )
            }
        }
    }
}

fn make_label_dir(parent: RawFd, parent_path: &Path, label: &str) -> Result<OwnedFd, ScratchError> {
    let path = parent_path.join(label);
    let c = CString::new(label).expect("labels have no NUL byte");
    // SAFETY: valid fd and C string.
    if unsafe { libc::mkdirat(parent, c.as_ptr(), 0o755) } < 0 {
        return Err(ScratchError::Create {
            path,
            errno: NixErrno::last(),
        });
    }
    // SAFETY: valid fd and C string; the fd is owned from here on.
    let fd = unsafe {
        libc::openat(
            parent,
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    };
    if fd < 0 {
        return Err(ScratchError::Open {
            path,
            errno: NixErrno::last(),
        });
    }
    // SAFETY: fd was just returned by openat.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // Exactly 0755 whatever the thread's umask.
    // SAFETY: valid fd.
    unsafe { libc::fchmod(fd.as_raw_fd(), 0o755) };
    Ok(fd)
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.main = None;
        self.other = None;
        self.unmount_all();
        remove_tree(&self.base);
        if let Some(p) = &self.other_base {
            remove_tree(p);
        }
    }
}

impl fmt::Debug for Scratch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scratch")
            .field("describe", &self.describe())
            .field("cross_fs", &self.cross_fs)
            .finish()
    }
}

/// Removes the directory `path` and everything under it, best effort (see
/// [`remove_at`]).
fn remove_tree(path: &Path) {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let Ok(parent) = open_dir(parent) else {
        return;
    };
    let Ok(name) = CString::new(name.as_bytes()) else {
        return;
    };
    remove_at(parent.as_raw_fd(), &name, None, 0);
}

/// Removes the entry `name` of the directory `parent`, and if it is a directory
/// everything under it, best effort. Never follows symlinks (symlinks are unlinked,
/// not their targets), never descends into another filesystem than `dev` (a mount
/// point: only the top call, with `dev` None, may be one), and makes directories
/// searchable and writable first, so that trees made with mode 0 go away without
/// root too.
fn remove_at(parent: RawFd, name: &CStr, dev: Option<libc::dev_t>, depth: u32) {
    // SAFETY: st is written by fstatat before being read; name is a C string.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::fstatat(parent, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } < 0 {
        return;
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        // SAFETY: valid fd and C string.
        unsafe { libc::unlinkat(parent, name.as_ptr(), 0) };
        return;
    }
    if dev.is_some_and(|d| d != st.st_dev) || depth > 256 {
        return;
    }
    // SAFETY: valid fd and C string.
    unsafe { libc::fchmodat(parent, name.as_ptr(), 0o700, 0) };
    // SAFETY: valid fd and C string; the result is owned below.
    let fd = unsafe {
        libc::openat(
            parent,
            name.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
        )
    };
    if fd >= 0 {
        // SAFETY: fd was just returned by openat.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // Read the whole listing before removing anything from it.
        if let Ok(entries) = list_dir(fd.as_raw_fd()) {
            for (child, _) in entries {
                if let Ok(child) = CString::new(child) {
                    remove_at(fd.as_raw_fd(), &child, Some(st.st_dev), depth + 1);
                }
            }
        }
    }
    // SAFETY: valid fd and C string.
    unsafe { libc::unlinkat(parent, name.as_ptr(), libc::AT_REMOVEDIR) };
}

/// Lists the mount points in the calling thread's mount namespace
/// (/proc/thread-self/mountinfo), for tests and diagnostics.
pub fn thread_mount_points() -> Vec<PathBuf> {
    let text = std::fs::read("/proc/thread-self/mountinfo").unwrap_or_default();
    text.split(|&b| b == b'\n')
        .filter_map(|line| {
            let field = line.split(|&b| b == b' ').nth(4)?;
            Some(PathBuf::from(OsString::from_vec(unescape_mountinfo(field))))
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape_mountinfo(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\' && i + 3 < s.len() {
            let oct = &s[i + 1..i + 4];
            if oct.iter().all(|b| (b'0'..=b'7').contains(b)) {
                out.push((oct[0] - b'0') * 64 + (oct[1] - b'0') * 8 + (oct[2] - b'0'));
                i += 4;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mounted_under(base: &Path) -> bool {
        thread_mount_points().iter().any(|m| m.starts_with(base))
    }

    fn same_mount_ns_as_process() -> bool {
        std::fs::read_link("/proc/self/ns/mnt").ok()
            == std::fs::read_link("/proc/thread-self/ns/mnt").ok()
    }

    #[test]
    fn scratch_is_removed_and_unmounted_on_drop() {
        let s = Scratch::new().expect("scratch");
        let base = s.path().to_owned();
        assert!(base.is_dir());
        let roots = s.roots("t").expect("roots");
        let st = fstat_raw(roots.main.as_raw_fd()).unwrap();
        assert_eq!(st.st_mode & 0o7777, 0o755);
        if roots.fs.private_mount {
            assert!(s.cross_fs(), "two tmpfs mounts are two superblocks");
            assert_eq!(roots.fs.name, "tmpfs");
            assert!(roots.fs.nodev);
            assert!(mounted_under(&base), "{}", s.describe());
            assert!(s.describe().starts_with("private tmpfs"));
            if !same_mount_ns_as_process() {
                // The thread's private namespace: the host (the process's main
                // namespace) never sees the mounts.
                let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
                assert!(!host.contains(base.to_str().unwrap()));
            }
        }
        drop(roots);
        drop(s);
        assert!(!mounted_under(&base));
        assert!(!base.exists(), "{} left behind", base.display());
    }

    #[test]
    fn directory_mode_is_removed_on_drop() {
        let s = Scratch::new_directories().expect("scratch");
        let base = s.path().to_owned();
        let other = s.other_path.clone();
        assert!(!mounted_under(&base));
        assert!(s.describe().starts_with("directory "), "{}", s.describe());
        let roots = s.roots("x").expect("roots");
        assert!(!roots.fs.private_mount);
        // Leave an unreadable, unwritable tree behind: Drop must still remove it.
        let d = CString::new("d").unwrap();
        let f = CString::new("d/f").unwrap();
        unsafe {
            assert_eq!(libc::mkdirat(roots.main.as_raw_fd(), d.as_ptr(), 0o755), 0);
            let fd = libc::openat(
                roots.main.as_raw_fd(),
                f.as_ptr(),
                libc::O_CREAT | libc::O_WRONLY,
                0o644,
            );
            assert!(fd >= 0);
            libc::close(fd);
            assert_eq!(libc::fchmodat(roots.main.as_raw_fd(), d.as_ptr(), 0, 0), 0);
        }
        let other_dev = fstat_raw(roots.other.as_raw_fd()).unwrap().st_dev;
        let main_dev = fstat_raw(roots.main.as_raw_fd()).unwrap().st_dev;
        assert_eq!(s.cross_fs(), other_dev != main_dev);
        drop(roots);
        drop(s);
        assert!(!base.exists(), "{} left behind", base.display());
        assert!(!other.exists(), "{} left behind", other.display());
    }

    #[test]
    fn labels_are_separate_and_checked() {
        let s = Scratch::new().expect("scratch");
        let a = s.roots("syscalls").unwrap();
        let b = s.roots("uring").unwrap();
        let da = fstat_raw(a.main.as_raw_fd()).unwrap();
        let db = fstat_raw(b.main.as_raw_fd()).unwrap();
        assert_eq!(da.st_dev, db.st_dev, "same filesystem");
        assert_ne!(da.st_ino, db.st_ino, "different directories");
        assert!(matches!(
            s.roots("syscalls"),
            Err(ScratchError::Create {
                errno: NixErrno::EEXIST,
                ..
            })
        ));
        for bad in ["", "..", ".", "a/b", "x y", "/etc"] {
            assert_eq!(
                s.roots(bad).unwrap_err(),
                ScratchError::BadLabel(bad.into())
            );
        }
    }

    #[test]
    fn dropping_roots_removes_their_trees() {
        let s = Scratch::new().expect("scratch");
        let roots = s.roots("gone").unwrap();
        assert_eq!(roots.label(), "gone");
        let d = CString::new("d").unwrap();
        let l = CString::new("d/l").unwrap();
        let target = CString::new(s.main_path.to_str().unwrap()).unwrap();
        unsafe {
            assert_eq!(libc::mkdirat(roots.main.as_raw_fd(), d.as_ptr(), 0o700), 0);
            // A symlink to the scratch's own main directory: removal must unlink
            // it, not follow it.
            assert_eq!(
                libc::symlinkat(target.as_ptr(), roots.main.as_raw_fd(), l.as_ptr()),
                0
            );
            // Mode 0: without root, only the chmod in remove_at lets it go.
            assert_eq!(libc::fchmodat(roots.main.as_raw_fd(), d.as_ptr(), 0, 0), 0);
        }
        let keep = s.roots("kept").unwrap();
        drop(roots);
        assert!(!s.main_path.join("gone").exists());
        assert!(!s.other_path.join("gone").exists());
        assert!(s.main_path.join("kept").is_dir());
        assert!(s.other_path.join("kept").is_dir());
        drop(keep);
        // The label may be used again once its roots are gone.
        let again = s.roots("gone").unwrap();
        drop(again);
    }

    #[test]
    fn errors_display_clearly() {
        let e = ScratchError::Mount {
            path: "/tmp/x/main".into(),
            errno: NixErrno::EPERM,
        };
        assert_eq!(
            e.to_string(),
            "cannot mount tmpfs at /tmp/x/main: EPERM (Operation not permitted)"
        );
        assert_eq!(fs_name(0x0102_1994), "tmpfs");
        assert_eq!(fs_name(0x1234), "unknown(0x1234)");
        assert_eq!(unescape_mountinfo(b"/a\\040b"), b"/a b");
    }

    #[test]
    fn each_thread_gets_its_own_scratch_and_umask() {
        let handles: Vec<_> = (0..4u32)
            .map(|i| {
                std::thread::spawn(move || {
                    let s = Scratch::new().expect("scratch");
                    let base = s.path().to_owned();
                    // SAFETY: umask is per-thread after isolate_thread_fs.
                    unsafe { libc::umask(0o070 + i) };
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    let now = unsafe { libc::umask(0o022) };
                    assert_eq!(now, 0o070 + i, "another thread changed this umask");
                    drop(s);
                    base
                })
            })
            .collect();
        for h in handles {
            let base = h.join().unwrap();
            assert!(!base.exists());
        }
    }
}
