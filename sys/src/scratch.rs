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
//! [`Scratch::with_fs`] puts `main` and `other` on a real disk filesystem instead:
//! ext4, xfs or btrfs, each on its own sparse image file (in the scratch directory
//! on the host's temp dir) bound to a loop device and mounted in the thread's
//! private mount namespace. That needs root and the filesystem's mkfs tool;
//! without them it gives [`ScratchError::Unavailable`] with a one-line reason.
//! [`Scratch::from_env`] picks the filesystem from `RINGSPEC_FS`, and
//! [`Scratch::from_env_or_skip`] is what the conformance tests call.
//!
//! Everything here is bound to the thread that created it: the mount namespace, the
//! umask and the working directory are made per-thread (`unshare(CLONE_FS)`, and
//! `unshare(CLONE_NEWNS)` as root) so that tests running on several threads do not
//! share them. A `Scratch` is therefore neither `Send` nor `Sync`.

pub mod claim;

use crate::dirent::list_dir;
use crate::loopdev::{LoopDevice, LoopError};
use nix::errno::Errno as NixErrno;
use std::cell::Cell;
use std::ffi::{CStr, CString, OsString};
use std::fmt;
use std::io::Write as _;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The environment variable [`Scratch::from_env`] reads the filesystem from.
pub const FS_ENV: &str = "RINGSPEC_FS";
/// The environment variable that makes [`Scratch::from_env_or_skip`] fail instead
/// of skip when the filesystem is unavailable (any value but empty or `0`).
pub const REQUIRE_FS_ENV: &str = "RINGSPEC_REQUIRE_FS";

/// Size of each sparse image file behind the loop-mounted filesystems. Above the
/// minimums (xfs 300 MB, btrfs about 109 MiB with DUP metadata) and at the size
/// from which mke2fs stops using its "small" type (1 KiB blocks): it only takes
/// the disk space actually written (tens of MiB after mkfs).
pub const IMAGE_SIZE: u64 = 512 << 20;

/// Options of each scratch tmpfs: 256 MiB is plenty for sequences whose buffers are
/// at most 1 MiB and bounds what a runaway fallocate can take.
/// The mount options of the scratch tmpfs instances (the C reproducers
/// mount theirs the same way).
pub const TMPFS_OPTIONS: &str = "size=256m,mode=0755";

/// Why a scratch area can no longer be trusted to report the kernel's
/// behaviour ([`Scratch::health`]); each message says what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unhealthy {
    /// The filesystem holding the loop images is (nearly) full.
    #[error(
        "the backing store of the {kind} images ({}) is full ({free_kib} KiB free): the \
         scratch filesystem's writes fail with EIO/ENOSPC; free space there or point TMPDIR \
         at a filesystem with at least {} MiB free",
        base.display(),
        IMAGE_FREE_NEEDED >> 20
    )]
    BackingFull {
        /// The scratch filesystem's kind.
        kind: String,
        /// Where the images are.
        base: PathBuf,
        /// KiB free there.
        free_kib: u64,
    },
    /// A loop device lost its backing file.
    #[error("loop device {} lost its backing file (detached?)", .0.display())]
    LostBacking(PathBuf),
    /// The kernel made a scratch filesystem read-only.
    #[error(
        "the scratch {kind} at {} went read-only (the kernel aborted it: see dmesg; often its \
         backing store filled up)",
        path.display()
    )]
    ReadOnly {
        /// The scratch filesystem's kind.
        kind: String,
        /// Its mount point.
        path: PathBuf,
    },
}

/// Why a scratch area or its roots could not be set up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScratchError {
    /// `unshare(2)` with the named flag failed (CLONE_FS needs no privilege, so
    /// this means the kernel or a seccomp filter refused it).
    #[error("cannot unshare({flag}): {}", show_errno(*errno))]
    Unshare {
        /// The flag, e.g. "CLONE_FS".
        flag: &'static str,
        /// The error.
        errno: NixErrno,
    },
    /// Mounting failed: a tmpfs with an error other than EPERM/EACCES (those fall
    /// back to plain directories instead), or a loop-mounted filesystem with an
    /// error other than those that make it [`ScratchError::Unavailable`].
    #[error("cannot mount {fstype} at {}: {}", path.display(), show_errno(*errno))]
    Mount {
        /// The filesystem type, e.g. "tmpfs" or "xfs".
        fstype: &'static str,
        /// The mount point.
        path: PathBuf,
        /// The error.
        errno: NixErrno,
    },
    /// The requested filesystem cannot be set up here (not root, no mkfs tool, no
    /// loop devices, no kernel driver); `reason` is one line saying what to do.
    #[error("{fs} unavailable: {reason}")]
    Unavailable {
        /// The filesystem asked for.
        fs: FsChoice,
        /// Why, e.g. "mkfs.xfs not found: apt-get install xfsprogs".
        reason: String,
    },
    /// A filesystem name that is not one of tmpfs, ext4, xfs, btrfs.
    #[error(
        "{}unknown filesystem {value:?}: expected tmpfs, ext4, xfs or btrfs",
        var.map(|v| format!("{v}={value:?}: ")).unwrap_or_default()
    )]
    UnknownFs {
        /// The name given.
        value: String,
        /// The environment variable it came from, if any.
        var: Option<&'static str>,
    },
    /// The mkfs tool ran but failed.
    #[error("{tool} failed: {message}")]
    Mkfs {
        /// The tool, e.g. "mkfs.btrfs".
        tool: &'static str,
        /// Its exit status and the last line it printed.
        message: String,
    },
    /// Binding an image to a loop device failed.
    #[error("loop device: {0}")]
    Loop(LoopError),
    /// Creating a directory (or a filesystem image file) failed.
    #[error("cannot create {}: {}", path.display(), show_errno(*errno))]
    Create {
        /// The directory or file.
        path: PathBuf,
        /// The error.
        errno: NixErrno,
    },
    /// Opening a directory (or asking for its filesystem with statfs) failed.
    #[error("cannot open {}: {}", path.display(), show_errno(*errno))]
    Open {
        /// The directory.
        path: PathBuf,
        /// The error.
        errno: NixErrno,
    },
    /// Not enough free space to start: the loop images' (or the plain
    /// directories') backing store is nearly full.
    #[error(
        "{} has {} MiB free, {what} need {} MiB: free space there or point TMPDIR at a \
         filesystem with room",
        path.display(),
        free >> 20,
        need >> 20
    )]
    NoSpace {
        /// The directory whose filesystem was checked (the temp dir).
        path: PathBuf,
        /// Bytes free there.
        free: u64,
        /// Bytes needed.
        need: u64,
        /// What needs the space.
        what: String,
    },
    /// A root label that is not one safe path component (`[A-Za-z0-9_.-]`, at most
    /// 64 bytes, not `.` or `..`).
    #[error("bad scratch root label {0:?}: use one component of [A-Za-z0-9_.-]")]
    BadLabel(String),
}

fn show_errno(e: NixErrno) -> String {
    format!("{e:?} ({})", e.desc())
}

/// Which filesystem a [`Scratch`] puts its two roots on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FsChoice {
    /// Two private tmpfs mounts (plain directories without root): [`Scratch::new`].
    Tmpfs,
    /// Two loop-mounted ext4 images (mkfs.ext4 from e2fsprogs, 4 KiB blocks).
    Ext4,
    /// Two loop-mounted xfs images (mkfs.xfs from xfsprogs).
    Xfs,
    /// Two loop-mounted btrfs images (mkfs.btrfs from btrfs-progs).
    Btrfs,
}

/// How to make one of the disk filesystems: the tool, its Debian package and its
/// arguments before the image path.
struct Mkfs {
    tool: &'static str,
    package: &'static str,
    args: &'static [&'static str],
}

impl FsChoice {
    /// Every choice, tmpfs first.
    pub const ALL: [FsChoice; 4] = [
        FsChoice::Tmpfs,
        FsChoice::Ext4,
        FsChoice::Xfs,
        FsChoice::Btrfs,
    ];

    /// The name as statfs reports it and as `RINGSPEC_FS` takes it: "tmpfs",
    /// "ext4", "xfs", "btrfs".
    pub fn name(self) -> &'static str {
        match self {
            FsChoice::Tmpfs => "tmpfs",
            FsChoice::Ext4 => "ext4",
            FsChoice::Xfs => "xfs",
            FsChoice::Btrfs => "btrfs",
        }
    }

    /// The choice named by `RINGSPEC_FS`, tmpfs when it is unset or empty.
    pub fn from_env() -> Result<FsChoice, ScratchError> {
        match std::env::var(FS_ENV) {
            Ok(v) if !v.trim().is_empty() => v.parse().map_err(|_| ScratchError::UnknownFs {
                value: v,
                var: Some(FS_ENV),
            }),
            _ => Ok(FsChoice::Tmpfs),
        }
    }

    /// The mkfs tool and its arguments (before the image path) that
    /// [`Scratch::with_fs`] formats this filesystem with; `None` for tmpfs.
    pub fn mkfs_command(self) -> Option<(&'static str, &'static [&'static str])> {
        self.mkfs().map(|m| (m.tool, m.args))
    }

    fn mkfs(self) -> Option<Mkfs> {
        match self {
            FsChoice::Tmpfs => None,
            // -b 4096: not mke2fs' "small" 1 KiB blocks whatever the image size;
            // no lazy init, so no kernel thread writes the image while tests run;
            // a fixed directory hash seed, so that readdir order (hash order) is
            // the same on every run and a failing seed replays (a random seed per
            // mkfs makes which getdents cases fail change from run to run).
            FsChoice::Ext4 => Some(Mkfs {
                tool: "mkfs.ext4",
                package: "e2fsprogs",
                args: &[
                    "-F",
                    "-q",
                    "-b",
                    "4096",
                    "-E",
                    "lazy_itable_init=0,lazy_journal_init=0,\
                     hash_seed=5eed2026-0000-4000-8000-000000000000",
                ],
            }),
            FsChoice::Xfs => Some(Mkfs {
                tool: "mkfs.xfs",
                package: "xfsprogs",
                args: &["-f", "-q"],
            }),
            FsChoice::Btrfs => Some(Mkfs {
                tool: "mkfs.btrfs",
                package: "btrfs-progs",
                args: &["-f", "-q"],
            }),
        }
    }
}

impl fmt::Display for FsChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for FsChoice {
    type Err = ScratchError;

    /// Parses "tmpfs", "ext4", "xfs" or "btrfs" (ASCII case and surrounding
    /// whitespace ignored); anything else is [`ScratchError::UnknownFs`].
    fn from_str(s: &str) -> Result<FsChoice, ScratchError> {
        FsChoice::ALL
            .into_iter()
            .find(|c| c.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| ScratchError::UnknownFs {
                value: s.to_string(),
                var: None,
            })
    }
}

/// Looks for an executable `tool` on PATH and in the sbin directories (which a
/// non-root PATH often lacks).
fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(
            ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"]
                .into_iter()
                .map(PathBuf::from),
        )
        .map(|d| d.join(tool))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Runs `tool args image`, turning a failure into one line.
fn run_mkfs(tool_path: &Path, m: &Mkfs, image: &Path) -> Result<(), ScratchError> {
    let out = std::process::Command::new(tool_path)
        .args(m.args)
        .arg(image)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| ScratchError::Mkfs {
            tool: m.tool,
            message: format!("cannot run {}: {e}", tool_path.display()),
        })?;
    if out.status.success() {
        return Ok(());
    }
    let text =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("no output");
    Err(ScratchError::Mkfs {
        tool: m.tool,
        message: format!("{} on {}: {line}", out.status, image.display()),
    })
}

/// Creates the sparse file `path` of `size` bytes (mode 0600, must not exist).
fn create_sparse(path: &Path, size: u64) -> Result<(), ScratchError> {
    let err = |errno| ScratchError::Create {
        path: path.to_owned(),
        errno,
    };
    let c = cpath(path);
    // SAFETY: c is a valid NUL-terminated string; the fd is owned from here on.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC,
            0o600,
        )
    };
    if fd < 0 {
        return Err(err(NixErrno::last()));
    }
    // SAFETY: fd was just returned by open.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: valid fd.
    if unsafe { libc::ftruncate(fd.as_raw_fd(), size as libc::off_t) } < 0 {
        return Err(err(NixErrno::last()));
    }
    Ok(())
}

/// Writes a line to the process's stderr directly, past the test harness's output
/// capture, so that a skip shows up even without `--nocapture`.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// What [`Scratch::from_env_or_skip`] does with the result of [`Scratch::from_env`].
fn skip_or_fail(
    result: Result<Scratch, ScratchError>,
    required: bool,
    test: &str,
) -> Option<Scratch> {
    match result {
        Ok(s) => {
            say(&format!("{test}: on {}", s.describe()));
            Some(s)
        }
        Err(e @ ScratchError::Unavailable { .. }) if !required => {
            say(&format!(
                "SKIPPED: {test}: {e} (nothing was tested; {REQUIRE_FS_ENV}=1 makes this a failure)"
            ));
            None
        }
        Err(e @ ScratchError::Unavailable { .. }) => {
            panic!("{test}: {e} ({REQUIRE_FS_ENV} is set)")
        }
        Err(e) => panic!("{test}: scratch: {e}"),
    }
}

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

/// Makes a claimed `ringspec-XXXXXX` under `dir` (see [`claim`]) after
/// removing the stale ones there, saying so on stderr.
fn mkdtemp_in(dir: &Path) -> Result<(PathBuf, OwnedFd), ScratchError> {
    for p in claim::sweep_stale(dir) {
        say(&format!(
            "ringspec: removed {}, left behind by a run that is gone",
            p.display()
        ));
    }
    claim::claim_new(dir)
}

/// Free space of the filesystem holding `path`, in bytes.
fn free_bytes(path: &Path) -> Option<u64> {
    nix::sys::statvfs::statvfs(path)
        .ok()
        .map(|s| s.blocks_available() * s.fragment_size())
}

/// Refuses to start on a backing store with less than `need` bytes free.
fn check_space(dir: &Path, need: u64, what: &str) -> Result<(), ScratchError> {
    match free_bytes(dir) {
        Some(free) if free < need => Err(ScratchError::NoSpace {
            path: dir.to_path_buf(),
            free,
            need,
            what: what.to_string(),
        }),
        _ => Ok(()),
    }
}

/// Free space the loop images need before a run starts: they are sparse,
/// but a run can fill a good part of them.
pub const IMAGE_FREE_NEEDED: u64 = 256 << 20;

/// Free space a directory-mode scratch area needs before a run starts.
pub const DIRECTORY_FREE_NEEDED: u64 = 64 << 20;

/// Below this much free space, the images' backing store counts as full.
const BACKING_FULL: u64 = 8 << 20;

fn fstat_raw(fd: RawFd) -> Option<libc::stat> {
    // SAFETY: st is written by fstat before being read.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: st is written by fstat before being read.
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
    // SAFETY: the structs are written by the calls before being read.
    if unsafe { libc::fstatfs(fd, &mut sf) } < 0 {
        return Err(err(NixErrno::last()));
    }
    // SAFETY: the structs are written by the calls before being read.
    let mut sv: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: the structs are written by the calls before being read.
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
    /// What `main` and `other` are meant to be.
    kind: FsChoice,
    /// For the disk filesystems: the loop devices of `main` and `other`, held open
    /// until the filesystems are unmounted.
    loops: Vec<LoopDevice>,
    /// Locks that claim `base` (and `other_base`) for this process; see
    /// [`claim`]. Dropped after the directories are removed.
    claims: Vec<OwnedFd>,
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

    /// Creates a scratch area on the chosen filesystem: [`FsChoice::Tmpfs`] is
    /// [`Scratch::new`]; for ext4, xfs and btrfs, as root, it makes two sparse
    /// images of [`IMAGE_SIZE`] in the scratch directory (`main.img`,
    /// `other.img`), formats them with the mkfs tool, binds each to a loop device
    /// (autoclear), unlinks the images (the loop devices keep them, so nothing is
    /// left on disk even if the process is killed) and mounts them (nodev, nosuid)
    /// on `main` and `other` in the thread's private mount namespace, root
    /// directories mode 0755. Two images, so two superblocks: EXDEV between them.
    ///
    /// [`ScratchError::Unavailable`] when not root, when the mkfs tool is not
    /// installed, without loop devices or a kernel driver for the filesystem, or
    /// when the private mount namespace cannot be had (there is no directory
    /// fallback for these: the point is the filesystem).
    pub fn with_fs(choice: FsChoice) -> Result<Scratch, ScratchError> {
        let Some(mkfs) = choice.mkfs() else {
            return Scratch::new();
        };
        let unavailable = |reason: String| ScratchError::Unavailable { fs: choice, reason };
        isolate_thread_fs()?;
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err(unavailable(format!(
                "not root: loop-mounting {choice} needs root (CAP_SYS_ADMIN)"
            )));
        }
        let Some(tool) = find_tool(mkfs.tool) else {
            return Err(unavailable(format!(
                "{} not found: apt-get install {}",
                mkfs.tool, mkfs.package
            )));
        };
        match isolate_thread_mounts() {
            NsState::Private => {}
            NsState::NotRoot => unreachable!("checked above"),
            NsState::Failed(what, e) => {
                return Err(unavailable(format!(
                    "no private mount namespace: cannot {what}: {}",
                    show_errno(e)
                )))
            }
        }
        let tmp = std::env::temp_dir();
        check_space(&tmp, IMAGE_FREE_NEEDED, &format!("the two {choice} images"))?;
        let (base, lock) = mkdtemp_in(&tmp)?;
        let mut s = Scratch::empty(base, choice);
        s.claims.push(lock);
        // From here on, Drop cleans up whatever was made if a step fails.
        for i in 0..2 {
            let (name, mount_point) = if i == 0 {
                ("main.img", s.main_path.clone())
            } else {
                ("other.img", s.other_path.clone())
            };
            let image = s.base.join(name);
            create_sparse(&image, IMAGE_SIZE)?;
            run_mkfs(&tool, &mkfs, &image)?;
            let dev = LoopDevice::attach(&image).map_err(|e| {
                if e.is_unavailable() {
                    unavailable(format!("no loop devices: {e}"))
                } else {
                    ScratchError::Loop(e)
                }
            })?;
            let dev_path = dev.path().to_owned();
            s.loops.push(dev);
            // The loop device holds the file open: unlink it now.
            // SAFETY: valid C string.
            unsafe { libc::unlink(cpath(&image).as_ptr()) };
            mkdir_mode(&mount_point, 0o755)?;
            let r = nix::mount::mount(
                Some(&dev_path),
                &mount_point,
                Some(choice.name()),
                nix::mount::MsFlags::MS_NODEV | nix::mount::MsFlags::MS_NOSUID,
                None::<&str>,
            );
            match r {
                Ok(()) => s.mounted[i] = true,
                Err(NixErrno::ENODEV) => {
                    return Err(unavailable(format!(
                        "the kernel has no {choice} driver (mount gave ENODEV; modprobe {choice})"
                    )))
                }
                Err(e @ (NixErrno::EPERM | NixErrno::EACCES)) => {
                    return Err(unavailable(format!(
                        "mounting {} was refused: {}",
                        dev_path.display(),
                        show_errno(e)
                    )))
                }
                Err(errno) => {
                    return Err(ScratchError::Mount {
                        fstype: choice.name(),
                        path: mount_point,
                        errno,
                    })
                }
            }
            // The new filesystem's root: exactly 0755 whatever mkfs made.
            // SAFETY: valid C string.
            unsafe { libc::chmod(cpath(&mount_point).as_ptr(), 0o755) };
        }
        s.finish()
    }

    /// [`Scratch::with_fs`] with the filesystem named by `RINGSPEC_FS` (tmpfs when
    /// unset or empty; [`ScratchError::UnknownFs`] for an unknown name).
    pub fn from_env() -> Result<Scratch, ScratchError> {
        Scratch::with_fs(FsChoice::from_env()?)
    }

    /// [`Scratch::from_env`] for a test named `test`, reporting on the process's
    /// stderr directly (past the test harness's capture, so it shows without
    /// `--nocapture` too): prints "`<test>`: on `<describe>`" and returns the
    /// scratch area; on [`ScratchError::Unavailable`] prints "SKIPPED:
    /// `<test>`: `<reason>`" and returns None, for the test to return without
    /// testing anything, or panics with the reason instead when
    /// `RINGSPEC_REQUIRE_FS` is set (to anything but empty or `0`). Panics on
    /// every other error.
    pub fn from_env_or_skip(test: &str) -> Option<Scratch> {
        let required = std::env::var(REQUIRE_FS_ENV).is_ok_and(|v| !v.is_empty() && v != "0");
        skip_or_fail(Scratch::from_env(), required, test)
    }

    /// The fields of a scratch area in `base` before anything is made in it.
    fn empty(base: PathBuf, kind: FsChoice) -> Scratch {
        Scratch {
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
            kind,
            loops: Vec::new(),
            claims: Vec::new(),
            _thread_bound: PhantomData,
        }
    }

    fn create(try_mount: bool) -> Result<Scratch, ScratchError> {
        isolate_thread_fs()?;
        let ns = if try_mount {
            isolate_thread_mounts()
        } else {
            NsState::NotRoot
        };
        // From here on, Drop cleans up whatever was made if a step fails.
        let (base, lock) = mkdtemp_in(&std::env::temp_dir())?;
        let mut s = Scratch::empty(base, FsChoice::Tmpfs);
        s.claims.push(lock);
        s.fallback = match ns {
            NsState::Private => s.mount_both()?,
            NsState::NotRoot if try_mount => Some("not root: no private mount".into()),
            NsState::NotRoot => Some("directories requested: no private mount".into()),
            NsState::Failed(what, e) => Some(format!("cannot {what}: {e:?}")),
        };
        if s.fallback.is_some() {
            check_space(&s.base, DIRECTORY_FREE_NEEDED, "plain scratch directories")?;
            mkdir_mode(&s.main_path, 0o755)?;
            let shm = Path::new("/dev/shm");
            // `other` goes to /dev/shm only when that is the same kind of
            // filesystem as `main` (the model takes one filesystem profile);
            // otherwise it is a sibling directory (no cross-filesystem ops).
            let kind = |p: &Path| {
                nix::sys::statfs::statfs(p)
                    .ok()
                    .map(|f| fs_name(f.filesystem_type().0))
            };
            let same_kind = kind(shm).is_some() && kind(shm) == kind(&s.main_path);
            match mkdtemp_in(shm).map_err(|_| ()).and_then(|(p, lock)| {
                if same_kind {
                    Ok((p, lock))
                } else {
                    let _ = std::fs::remove_dir_all(&p);
                    Err(())
                }
            }) {
                Ok((p, lock)) => {
                    s.claims.push(lock);
                    // SAFETY: the path is a valid C string.
                    unsafe { libc::chmod(cpath(&p).as_ptr(), 0o755) };
                    s.other_path = p.clone();
                    s.other_base = Some(p);
                }
                Err(_) => mkdir_mode(&s.other_path, 0o755)?,
            }
        }
        s.finish()
    }

    /// Opens `main` and `other` and notes what filesystems they are on.
    fn finish(mut self) -> Result<Scratch, ScratchError> {
        let s = &mut self;
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
        Ok(self)
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
                Err(errno) => {
                    return Err(ScratchError::Mount {
                        fstype: "tmpfs",
                        path,
                        errno,
                    })
                }
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

    /// Whether the scratch area can still be trusted to report the kernel's
    /// behaviour: `Err` (one line saying what to do) when the loop images'
    /// backing store is full, when a scratch filesystem went read-only (the
    /// kernel aborted it, e.g. after a failed journal write), or when a loop
    /// device lost its backing file. A divergence seen then is the
    /// environment's, not the kernel's.
    pub fn health(&self) -> Result<(), Unhealthy> {
        if !self.loops.is_empty() {
            if let Some(free) = free_bytes(&self.base) {
                if free < BACKING_FULL {
                    return Err(Unhealthy::BackingFull {
                        kind: self.kind.to_string(),
                        base: self.base.clone(),
                        free_kib: free >> 10,
                    });
                }
            }
            for dev in &self.loops {
                if dev.backing_file().is_none() {
                    return Err(Unhealthy::LostBacking(dev.path().to_path_buf()));
                }
            }
        }
        for (i, p) in [&self.main_path, &self.other_path].into_iter().enumerate() {
            if !self.mounted[i] {
                continue;
            }
            if let Ok(st) = nix::sys::statvfs::statvfs(p.as_path()) {
                if st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
                    return Err(Unhealthy::ReadOnly {
                        kind: self.kind.to_string(),
                        path: p.clone(),
                    });
                }
            }
        }
        Ok(())
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

    /// What `main` and `other` were asked to be (tmpfs also when it fell back to
    /// directories; [`Scratch::fs`] says what they are).
    pub fn choice(&self) -> FsChoice {
        self.kind
    }

    /// The loop devices behind `main` and `other` (empty for tmpfs).
    pub fn loop_devices(&self) -> Vec<PathBuf> {
        self.loops.iter().map(|d| d.path().to_owned()).collect()
    }

    /// One line for reports: where the roots are and how isolated they are, e.g.
    /// "private tmpfs in a private mount namespace at /tmp/ringspec-ab12",
    /// "private xfs (block size 4096) on /dev/loop0 and /dev/loop1 (512 MiB sparse
    /// images) in a private mount namespace at /tmp/ringspec-ab12" or
    /// "directory /tmp/ringspec-ab12 on ext4 (not root: no private mount); ...".
    pub fn describe(&self) -> String {
        match &self.fallback {
            None if self.kind != FsChoice::Tmpfs => format!(
                "private {} (block size {}) on {} ({} MiB sparse images) in a private mount \
                 namespace at {}",
                self.fs().name,
                self.fs().block_size,
                self.loops
                    .iter()
                    .map(|d| d.path().display().to_string())
                    .collect::<Vec<_>>()
                    .join(" and "),
                IMAGE_SIZE >> 20,
                self.base.display()
            ),
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
        // Once unmounted, detaching is immediate; if a mount is still busy (a Roots
        // or an fd into it outlived the Scratch), the device stays bound, marked
        // autoclear, until that last user closes.
        self.loops.clear();
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
            .field("kind", &self.kind)
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
    // SAFETY: st is written by fstatat before being read; name is a C string.
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
        // SAFETY: NUL-terminated C strings that outlive the calls; the paths lie in this test's scratch root.
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
        // SAFETY: NUL-terminated C strings that outlive the calls; the paths lie in this test's scratch root.
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
            fstype: "tmpfs",
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
                    // SAFETY: umask is per-thread after isolate_thread_fs.
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

    #[test]
    fn fs_choices_parse_and_say_what_is_wrong() {
        for c in FsChoice::ALL {
            assert_eq!(c.name().parse::<FsChoice>().unwrap(), c);
            assert_eq!(c.to_string(), c.name());
        }
        assert_eq!(" XFS ".parse::<FsChoice>().unwrap(), FsChoice::Xfs);
        let e = "ext3".parse::<FsChoice>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown filesystem \"ext3\": expected tmpfs, ext4, xfs or btrfs"
        );
        let e = ScratchError::UnknownFs {
            value: "zfs".into(),
            var: Some(FS_ENV),
        };
        assert_eq!(
            e.to_string(),
            "RINGSPEC_FS=\"zfs\": unknown filesystem \"zfs\": expected tmpfs, ext4, xfs or btrfs"
        );
        let e = ScratchError::Unavailable {
            fs: FsChoice::Xfs,
            reason: "mkfs.xfs not found: apt-get install xfsprogs".into(),
        };
        assert_eq!(
            e.to_string(),
            "xfs unavailable: mkfs.xfs not found: apt-get install xfsprogs"
        );
        assert!(find_tool("mkfs.ringspec-does-not-exist").is_none());
        assert!(find_tool("sh").is_some());
    }

    #[test]
    fn unavailable_skips_unless_required() {
        let unavailable = || {
            Err(ScratchError::Unavailable {
                fs: FsChoice::Btrfs,
                reason: "mkfs.btrfs not found: apt-get install btrfs-progs".into(),
            })
        };
        assert!(skip_or_fail(unavailable(), false, "t").is_none());
        let required = std::panic::catch_unwind(|| skip_or_fail(unavailable(), true, "t"));
        let msg = required.unwrap_err();
        let msg = msg.downcast_ref::<String>().unwrap();
        assert!(msg.contains("apt-get install btrfs-progs"), "{msg}");
        // Other errors are failures whatever RINGSPEC_REQUIRE_FS says.
        let other = std::panic::catch_unwind(|| {
            skip_or_fail(Err(ScratchError::BadLabel("x".into())), false, "t")
        });
        assert!(other.is_err());
    }

    /// Nothing of the scratch area at `base` is left: no mount in this thread's
    /// namespace or the process's, no bound loop device with a backing file in it,
    /// not the directory. Waits up to 2 s for the kernel to release loop devices
    /// (it should not need to: reported when it did).
    fn assert_nothing_left(base: &Path, what: &str) {
        let prefix = base.to_str().unwrap().to_owned();
        let started = std::time::Instant::now();
        loop {
            let bound: Vec<_> = crate::loopdev::bound_devices()
                .into_iter()
                .filter(|(_, b)| b.starts_with(&prefix))
                .collect();
            if bound.is_empty() {
                break;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(2),
                "{what}: loop devices still bound: {bound:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        if started.elapsed() > std::time::Duration::from_millis(50) {
            eprintln!("{what}: loop devices took {:?} to go", started.elapsed());
        }
        assert!(!mounted_under(base), "{what}: still mounted");
        let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!host.contains(&prefix), "{what}: in /proc/self/mountinfo");
        assert!(!base.exists(), "{what}: {} left behind", base.display());
    }

    /// Creates and drops a scratch area on `choice`, checks it while it is there and
    /// that nothing is left after a normal drop, after a panic, and when a Roots
    /// outlives its Scratch.
    fn disk_scratch_leaves_nothing_behind(choice: FsChoice) {
        let started = std::time::Instant::now();
        let s = match Scratch::with_fs(choice) {
            Ok(s) => s,
            Err(e @ ScratchError::Unavailable { .. }) => {
                say(&format!("SKIPPED: {choice} scratch test: {e}"));
                return;
            }
            Err(e) => panic!("{choice}: {e}"),
        };
        let created = started.elapsed();
        let base = s.path().to_owned();
        assert_eq!(s.choice(), choice);
        let loops = s.loop_devices();
        assert_eq!(loops.len(), 2);
        assert_ne!(loops[0], loops[1]);
        let bound = crate::loopdev::bound_devices();
        for l in &loops {
            let (_, backing) = bound.iter().find(|(p, _)| p == l).expect("bound");
            assert!(
                backing.starts_with(base.to_str().unwrap()) && backing.ends_with("(deleted)"),
                "{backing}"
            );
        }
        assert!(s.cross_fs(), "two images are two superblocks");
        assert!(
            s.describe().starts_with(&format!("private {choice} ")),
            "{}",
            s.describe()
        );
        for fd in [s.main.as_ref().unwrap(), s.other.as_ref().unwrap()] {
            assert_eq!(fstat_raw(fd.as_raw_fd()).unwrap().st_mode & 0o7777, 0o755);
        }
        assert!(mounted_under(&base));
        if !same_mount_ns_as_process() {
            let host = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
            assert!(!host.contains(base.to_str().unwrap()));
        }
        let roots = s.roots("t").unwrap();
        assert_eq!(
            roots.fs,
            FsInfo {
                name: choice.name().into(),
                block_size: 4096,
                private_mount: true,
                nodev: true,
            }
        );
        assert_eq!(
            fstat_raw(roots.main.as_raw_fd()).unwrap().st_mode & 0o7777,
            0o755
        );
        let f = CString::new("f").unwrap();
        // SAFETY: valid fds and C strings.
        unsafe {
            let fd = libc::openat(
                roots.main.as_raw_fd(),
                f.as_ptr(),
                libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                0o644,
            );
            assert!(fd >= 0);
            assert_eq!(libc::write(fd, [7u8; 4096].as_ptr().cast(), 4096), 4096);
            libc::close(fd);
            assert_eq!(
                libc::renameat(
                    roots.main.as_raw_fd(),
                    f.as_ptr(),
                    roots.other.as_raw_fd(),
                    f.as_ptr()
                ),
                -1
            );
            assert_eq!(NixErrno::last(), NixErrno::EXDEV);
        }
        let dropping = std::time::Instant::now();
        drop(roots);
        drop(s);
        let destroyed = dropping.elapsed();
        assert_nothing_left(&base, &format!("{choice} after drop"));
        say(&format!(
            "{choice} scratch: create {:.0} ms, destroy {:.0} ms",
            created.as_secs_f64() * 1e3,
            destroyed.as_secs_f64() * 1e3
        ));

        // A panic with the scratch and its roots in use: unwinding cleans up.
        let base = std::cell::RefCell::new(PathBuf::new());
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let s = Scratch::with_fs(choice).unwrap();
            *base.borrow_mut() = s.path().to_owned();
            let roots = s.roots("p").unwrap();
            let _ = &roots;
            panic!("deliberate panic with a {choice} scratch in use");
        }));
        assert!(r.is_err());
        assert_nothing_left(&base.borrow(), &format!("{choice} after a panic"));

        // Roots outliving their Scratch: the lazy unmount completes, and the loop
        // device goes, when the roots are dropped.
        let s = Scratch::with_fs(choice).unwrap();
        let base = s.path().to_owned();
        let roots = s.roots("late").unwrap();
        drop(s);
        assert!(!base.exists());
        drop(roots);
        assert_nothing_left(&base, &format!("{choice} after late roots"));
    }

    #[test]
    fn ext4_scratch_leaves_nothing_behind() {
        disk_scratch_leaves_nothing_behind(FsChoice::Ext4);
    }

    #[test]
    fn xfs_scratch_leaves_nothing_behind() {
        disk_scratch_leaves_nothing_behind(FsChoice::Xfs);
    }

    #[test]
    fn btrfs_scratch_leaves_nothing_behind() {
        disk_scratch_leaves_nothing_behind(FsChoice::Btrfs);
    }
}
