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

/// Everything the model is parameterised by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// Kernel (major, minor).
    pub kernel: (u32, u32),
    /// The filesystem of the main scratch root (the `other` root is assumed to be
    /// the same kind on a different superblock).
    pub fs: FsProfile,
    /// Which interface runs the ops.
    pub interface: Interface,
    /// True when the two scratch roots are on different superblocks (EXDEV
    /// between them). False in the unprivileged fallback where both may share one.
    pub cross_fs: bool,
}

impl Profile {
    /// The profile of this machine's default: Linux 6.18, a private tmpfs, syscalls.
    pub fn default_tmpfs() -> Profile {
        Profile {
            kernel: (6, 18),
            fs: FsProfile::tmpfs(),
            interface: Interface::Syscall,
            cross_fs: true,
        }
    }

    /// True if the kernel is at least `major.minor`.
    pub fn kernel_at_least(&self, major: u32, minor: u32) -> bool {
        self.kernel >= (major, minor)
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
    }
}
