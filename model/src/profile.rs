//! Profiles: the facts about the kernel, the filesystem and the interface that
//! change what an op may return. The model takes them as input; the oracle
//! detects them at run time.

use serde::{Deserialize, Serialize};

/// Which interface ran the op. The two differ in documented ways: io_uring encodes
/// "file position" as offset -1, skips splice's len == 0 shortcut, requires tee's
/// offsets to be 0, and calls `do_splice` directly (so its check order differs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interface {
    /// The synchronous syscalls through the C library.
    Syscall,
    /// io_uring opcodes.
    Uring,
}

/// The filesystem family of a scratch root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FsKind {
    /// tmpfs (shmem).
    Tmpfs,
    /// ext4.
    Ext4,
    /// XFS.
    Xfs,
    /// Btrfs.
    Btrfs,
    /// Anything else: only behaviour common to all filesystems is exact.
    Other,
}

impl FsKind {
    /// Parses the names used in `only_fs` and on the command line.
    pub fn from_name(s: &str) -> FsKind {
        match s {
            "tmpfs" => FsKind::Tmpfs,
            "ext4" => FsKind::Ext4,
            "xfs" => FsKind::Xfs,
            "btrfs" => FsKind::Btrfs,
            _ => FsKind::Other,
        }
    }

    /// The lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            FsKind::Tmpfs => "tmpfs",
            FsKind::Ext4 => "ext4",
            FsKind::Xfs => "xfs",
            FsKind::Btrfs => "btrfs",
            FsKind::Other => "other",
        }
    }
}

/// The facts about one filesystem that the model needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FsProfile {
    /// The filesystem family.
    pub kind: FsKind,
    /// Allocation unit: hole granularity for SEEK_HOLE, PUNCH_HOLE and the
    /// alignment COLLAPSE/INSERT require.
    pub block_size: u64,
    /// s_maxbytes: writes at or past it give EFBIG, writes crossing it are clamped.
    pub max_file_size: i64,
}

impl FsProfile {
    /// tmpfs on a 4 KiB-page machine (s_maxbytes = MAX_LFS_FILESIZE).
    pub fn tmpfs() -> FsProfile {
        FsProfile {
            kind: FsKind::Tmpfs,
            block_size: 4096,
            max_file_size: i64::MAX,
        }
    }

    /// The profile for a filesystem name and block size as detected by statfs.
    pub fn detect(name: &str, block_size: u64) -> FsProfile {
        let kind = FsKind::from_name(name);
        let max_file_size = match kind {
            // ext4 with extents and 4 KiB blocks: 16 TiB - 1 block.
            FsKind::Ext4 => (1i64 << 44) - block_size as i64,
            FsKind::Xfs | FsKind::Btrfs | FsKind::Tmpfs | FsKind::Other => i64::MAX,
        };
        FsProfile {
            kind,
            block_size: block_size.max(1),
            max_file_size,
        }
    }

    /// True where copy_file_range within one filesystem clones extents
    /// (remap_file_range) instead of copying bytes through a pipe.
    pub fn copies_by_reflink(&self) -> bool {
        matches!(self.kind, FsKind::Xfs | FsKind::Btrfs)
    }

    /// True where blocks inside the file that the model holds as holes may be
    /// allocated and reported as data by SEEK_DATA/SEEK_HOLE: xfs speculative
    /// preallocation (delalloc past EOF, fs/xfs/xfs_iomap.c
    /// xfs_iomap_prealloc_size) lands inside the file when it grows by another
    /// path (copy_file_range, truncate), and iomap_seek_hole treats delalloc as
    /// data (measured on 6.18: SEEK_HOLE 131072 for 22 written bytes followed by
    /// a copy to 2^31).
    pub fn holes_may_be_preallocated(&self) -> bool {
        self.kind == FsKind::Xfs
    }

    /// True where a directory stream never lists entries created after the
    /// directory was opened (btrfs records the last index at opendir since
    /// "btrfs: fix infinite directory reads"); elsewhere the stream starts at
    /// the first getdents64.
    pub fn stream_fixed_at_open(&self) -> bool {
        self.kind == FsKind::Btrfs
    }

    /// The range of a directory position that is a cookie in the middle of a
    /// stream: ext4 63-bit hash cookies, xfs 31-bit dataptrs, btrfs directory
    /// indexes and tmpfs offsets below INT_MAX. Measured on 6.18.
    pub fn dir_cookie_range(&self) -> (i64, i64) {
        match self.kind {
            FsKind::Tmpfs | FsKind::Xfs | FsKind::Btrfs => (0, i32::MAX as i64),
            FsKind::Ext4 | FsKind::Other => (0, i64::MAX),
        }
    }

    /// The position a directory stream is left at when a getdents64 call
    /// finds its end, given the range of the position before the call.
    /// Measured on 6.18: ext4 (hashed directories) LLONG_MAX; xfs 512 for a
    /// shortform or single-block directory, 0x7fffffff for a larger one;
    /// btrfs INT_MAX, then LLONG_MAX once a call starts at or past INT_MAX;
    /// tmpfs DIR_OFFSET_EOD (S32_MAX; before 6.6 a small ordinal).
    pub fn dir_eof_range(&self, (lo, hi): (i64, i64)) -> (i64, i64) {
        const INT_MAX: i64 = i32::MAX as i64;
        match self.kind {
            FsKind::Ext4 => (i64::MAX, i64::MAX),
            FsKind::Xfs => (512, INT_MAX),
            FsKind::Btrfs if lo >= INT_MAX => (i64::MAX, i64::MAX),
            FsKind::Btrfs if hi < INT_MAX => (INT_MAX, INT_MAX),
            FsKind::Btrfs => (INT_MAX, i64::MAX),
            FsKind::Tmpfs => (0, INT_MAX),
            FsKind::Other => (0, i64::MAX),
        }
    }

    /// st_nlink of a directory with `subdirs` subdirectories: btrfs always
    /// reports 1, the others 2 + subdirectories.
    pub fn dir_nlink(&self, subdirs: u32) -> u32 {
        match self.kind {
            FsKind::Btrfs => 1,
            _ => 2 + subdirs,
        }
    }

    /// The errno for renaming a directory onto a non-empty one (POSIX allows
    /// EEXIST or ENOTEMPTY; XFS picks EEXIST).
    pub fn rename_nonempty_errno(&self) -> crate::Errno {
        match self.kind {
            FsKind::Xfs => crate::Errno::EEXIST,
            _ => crate::Errno::ENOTEMPTY,
        }
    }

    /// Whether a device number can be stored (XFS keeps a 32-bit sysv dev_t:
    /// major below 512, minor below 2^18; others take any 32-bit pair).
    pub fn dev_fits(&self, major: u32, minor: u32) -> bool {
        match self.kind {
            FsKind::Xfs => major < 512 && minor < (1 << 18),
            _ => major < (1 << 12) && minor < (1 << 20),
        }
    }

    /// Whether fallocate in `mode` checks the file's new size against
    /// RLIMIT_FSIZE (`inode_newsize_ok`: EFBIG when the size grows past the
    /// limit). Measured on 6.18: every filesystem checks the modes that may grow
    /// the file (0, ZERO_RANGE, UNSHARE_RANGE without KEEP_SIZE); tmpfs checks
    /// KEEP_SIZE preallocation too (shmem_fallocate tests `offset + len` before
    /// it looks at the mode); xfs checks INSERT_RANGE's new size, ext4 does not
    /// (an INSERT_RANGE there grows a file past the limit). PUNCH_HOLE and
    /// COLLAPSE_RANGE never grow a file.
    pub fn fallocate_checks_fsize_limit(&self, mode: u32) -> bool {
        use crate::op::falloc::{
            COLLAPSE_RANGE as COLLAPSE, INSERT_RANGE as INSERT, KEEP_SIZE, PUNCH_HOLE as PUNCH,
        };
        let keep = mode & KEEP_SIZE != 0;
        match mode & !KEEP_SIZE {
            PUNCH | COLLAPSE => false,
            INSERT => self.kind == FsKind::Xfs,
            0 if self.kind == FsKind::Tmpfs => true,
            _ => !keep,
        }
    }

    /// Whether the filesystem implements a fallocate mode (the mode has already
    /// passed the VFS's generic checks). `mode` is the raw mode word.
    pub fn fallocate_supports(&self, mode: u32) -> bool {
        use crate::op::falloc::{
            COLLAPSE_RANGE as COLLAPSE, INSERT_RANGE as INSERT, KEEP_SIZE, PUNCH_HOLE as PUNCH,
            UNSHARE_RANGE as UNSHARE, WRITE_ZEROES as WZ, ZERO_RANGE as ZERO,
        };
        let op = mode & !KEEP_SIZE;
        match self.kind {
            FsKind::Tmpfs => op == 0 || op == PUNCH,
            FsKind::Ext4 => matches!(op, 0 | PUNCH | ZERO | COLLAPSE | INSERT | WZ),
            FsKind::Xfs => matches!(op, 0 | PUNCH | ZERO | COLLAPSE | INSERT | UNSHARE | WZ),
            FsKind::Btrfs => matches!(op, 0 | PUNCH | ZERO),
            FsKind::Other => op == 0,
        }
    }
}

/// A kernel behaviour a profile has or lacks ([`Profile::FEATURES`]).
pub type FeaturePredicate = fn(&Profile) -> bool;

/// Everything the model is parameterised by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Kernel (major, minor).
    pub kernel: (u32, u32),
    /// The third number of the release (the stable patch level where the
    /// release names it, e.g. 117 in "6.12.117-gate"; Debian's "6.1.0-50"
    /// gives 0). Used only for changes a stable series took.
    #[serde(default)]
    pub kernel_patch: u32,
    /// The filesystem of the main scratch root (the `other` root is assumed to be
    /// the same kind on a different superblock).
    pub fs: FsProfile,
    /// Which interface runs the ops.
    pub interface: Interface,
    /// True when the two scratch roots are on different superblocks (EXDEV
    /// between them). False in the unprivileged fallback where both may share one.
    pub cross_fs: bool,
    /// Op kinds an io_uring backend runs through the synchronous syscalls
    /// (no opcode, or the kernel lacks it): judged with syscall semantics.
    #[serde(default)]
    pub sync_kinds: Vec<crate::op::OpKind>,
    /// The ops run with root's capabilities (CAP_MKNOD, CAP_DAC_OVERRIDE...);
    /// without, device nodes other than the 0:0 whiteout give EPERM.
    #[serde(default = "yes")]
    pub privileged: bool,
    /// io_uring only: every SQE carries IOSQE_ASYNC, so nothing is first tried
    /// inline with O_NONBLOCK forced (which changes how a FIFO opens).
    #[serde(default)]
    pub uring_async: bool,
    /// io_uring with registered files: every descriptor operand is a fixed
    /// file (IOSQE_FIXED_FILE).
    #[serde(default)]
    pub uring_fixed: bool,
    /// The soft RLIMIT_FSIZE of the process running the ops (`None`: unlimited),
    /// with SIGXFSZ ignored so that a write past it fails with EFBIG instead of
    /// killing the process. The limit is process-wide, so io-wq workers (which
    /// share the submitter's signal struct) obey the same one.
    #[serde(default)]
    pub fsize_limit: Option<u64>,
}

fn yes() -> bool {
    true
}

impl Profile {
    /// The profile of this machine's default: Linux 6.18, a private tmpfs, syscalls.
    pub fn default_tmpfs() -> Profile {
        Profile {
            kernel: (6, 18),
            kernel_patch: 44,
            fs: FsProfile::tmpfs(),
            interface: Interface::Syscall,
            cross_fs: true,
            sync_kinds: vec![],
            privileged: true,
            uring_async: false,
            uring_fixed: false,
            fsize_limit: None,
        }
    }

    /// True if the kernel is at least `major.minor`.
    pub fn kernel_at_least(&self, major: u32, minor: u32) -> bool {
        self.kernel >= (major, minor)
    }

    /// Whether FSETXATTR and FGETXATTR take a registered file here. Before
    /// 6.13 io_uring's xattr prep refused one for every xattr opcode
    /// (REQ_F_FIXED_FILE: EBADF; measured on Debian's 6.12.100); since, only
    /// the path opcodes do (measured on 6.18).
    pub fn uring_xattr_takes_fixed_files(&self) -> bool {
        !self.uring_fixed || self.kernel_at_least(6, 13)
    }

    /// tmpfs directories iterate their dentry list (newest or last renamed
    /// first) and resume a stream by looking its position up in the offset map
    /// (fs/libfs.c offset_dir_lookup: the entry with the largest offset at or
    /// below the position, or the head of the list when there is none). That is
    /// "libfs: Use d_children list to iterate simple_offset directories"
    /// (b9b588f22a0c, 6.14) with its fix "libfs: Fix duplicate directory entry
    /// in offset_dir_lookup" (f70681e9e606, mas_find_rev, 6.14), which the
    /// stable series took together in 6.13.9 and 6.12.21 (stable review of
    /// 2025-03-25). Measured on 6.18, Debian's 6.12.100 and 6.12.118; older
    /// kernels keep the set-based stream model.
    pub fn tmpfs_list_order_dirs(&self) -> bool {
        self.fs.kind == FsKind::Tmpfs
            && match self.kernel {
                (6, 12) => self.kernel_patch >= 21,
                (6, 13) => self.kernel_patch >= 9,
                _ => self.kernel_at_least(6, 14),
            }
    }

    /// Whether the kernel behaviour named `name` (one of [`Profile::FEATURES`])
    /// holds under this profile; `None` for an unknown name. Scenario tables
    /// name these (`needs = [...]`) instead of repeating kernel versions.
    pub fn feature(&self, name: &str) -> Option<bool> {
        Self::FEATURES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, holds)| holds(self))
    }

    /// The kernel behaviours a scenario may require by name, each decided by
    /// the predicate of the same name (the versions live there only).
    pub const FEATURES: &'static [(&'static str, FeaturePredicate)] = &[
        ("tmpfs_list_order_dirs", Profile::tmpfs_list_order_dirs),
        (
            "uring_xattr_takes_fixed_files",
            Profile::uring_xattr_takes_fixed_files,
        ),
        (
            "open_creat_directory_is_einval",
            Profile::open_creat_directory_is_einval,
        ),
        ("uring_fadvise_len64", Profile::uring_fadvise_len64),
        ("has_falloc_write_zeroes", Profile::has_falloc_write_zeroes),
    ];

    /// O_CREAT|O_DIRECTORY is refused with EINVAL: mainline 6.4, and the
    /// 6.1 stable series carries the fix (seen on Debian's 6.1.0-50).
    pub fn open_creat_directory_is_einval(&self) -> bool {
        self.kernel_at_least(6, 1)
    }

    /// IORING_OP_FADVISE takes a 64-bit length in sqe->addr (6.11+); before,
    /// only the 32-bit sqe->len, so a negative length arrives truncated.
    pub fn uring_fadvise_len64(&self) -> bool {
        self.kernel_at_least(6, 11)
    }

    /// FALLOC_FL_WRITE_ZEROES exists (6.17+); before, 0x80 is an unknown bit.
    pub fn has_falloc_write_zeroes(&self) -> bool {
        self.kernel_at_least(6, 17)
    }

    /// Whether copy_file_range still applies the write limits (EFBIG at or
    /// past RLIMIT_FSIZE or s_maxbytes) to a copy of nothing; `None` where the
    /// model does not know. Mainline does (measured on 6.18.44); the 6.12
    /// stable series took "fs: skip copy_file_range write limits when there is
    /// no data": 6.12.117 skips them, 6.12.100 does not, and the release in
    /// between that changed it is not known here.
    pub fn cfr_limits_apply_to_empty_copy(&self) -> Option<bool> {
        match (self.kernel, self.kernel_patch) {
            ((6, 12), p) if p >= 117 => Some(false),
            ((6, 12), p) if p > 100 => None,
            _ => Some(true),
        }
    }

    /// The stable patch level of a `uname -r` release ("6.12.117-gate" -> 117;
    /// 0 when there is none).
    pub fn parse_patch(release: &str) -> u32 {
        release
            .split(|c: char| !c.is_ascii_digit())
            .nth(2)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0)
    }

    /// Parses a `uname -r` release string ("6.18.44-foo") into (major, minor).
    pub fn parse_release(release: &str) -> Option<(u32, u32)> {
        let mut it = release.split(|c: char| !c.is_ascii_digit());
        let major = it.next()?.parse().ok()?;
        let minor = it.next()?.parse().ok()?;
        Some((major, minor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_parsing() {
        assert_eq!(Profile::parse_release("6.18.44-fc-v669"), Some((6, 18)));
        assert_eq!(Profile::parse_release("6.1.0-50-amd64"), Some((6, 1)));
        assert_eq!(Profile::parse_release("x"), None);
        assert_eq!(Profile::parse_patch("6.12.117-gate"), 117);
        assert_eq!(Profile::parse_patch("6.1.0-50-amd64"), 0);
        assert_eq!(Profile::parse_patch("6.18"), 0);
    }
}
