//! The op vocabulary: every operation ringspec can run, with symbolic handles.
//!
//! File descriptors are named by *slot*: a small index into the sequence's own fd
//! table, filled by `open`/`pipe`. Paths come from a small alphabet of relative
//! names (`a`, `d/e/a`, ...) resolved against one of two scratch roots that lie on
//! different filesystems (`root` and `other`), so EEXIST, ENOENT, ENOTDIR, same-file
//! and cross-filesystem cases are all reachable. No path may contain `..` or start
//! with `/`, and symlink targets obey the same rule, so nothing can leave the scratch
//! roots.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A slot of the sequence's fd table (0..[`MAX_SLOTS`]).
pub type Slot = u8;

/// Number of fd slots a sequence may use.
pub const MAX_SLOTS: Slot = 8;

/// A file descriptor operand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FdRef {
    /// The descriptor held in this slot; an empty slot is a closed descriptor (EBADF).
    Slot(Slot),
    /// A named special descriptor.
    Special(SpecialFd),
}

/// Descriptors that are not slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpecialFd {
    /// The value -1: never a valid descriptor (EBADF).
    Bad,
    /// A directory descriptor (O_RDONLY|O_DIRECTORY) of the main scratch root.
    Root,
}

/// The directory a relative path is resolved against (the `dirfd` of `*at` calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dir {
    /// The main scratch root.
    #[default]
    Root,
    /// A second scratch root on a different filesystem (another superblock).
    Other,
    /// dirfd = -1 with a relative path: EBADF.
    Bad,
    /// The descriptor in a slot (ENOTDIR if it is not a directory).
    #[serde(untagged)]
    Fd(Slot),
}

/// A file offset operand: the file position, or an explicit offset.
///
/// Through the syscalls, `pos` passes NULL (copy_file_range, splice) or uses
/// read/write instead of pread/pwrite; through io_uring it is encoded as -1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Off {
    /// Use (and advance) the file position.
    #[default]
    #[serde(rename = "pos")]
    Pos,
    /// An explicit offset (may be negative or huge to reach the error paths).
    #[serde(untagged)]
    At(i64),
}

/// Data written by `write`: text, or one byte repeated (for large or sparse writes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Payload {
    /// The UTF-8 bytes of this string.
    Text(String),
    /// `len` copies of the first byte of `fill`.
    Fill { fill: String, len: u64 },
}

impl Payload {
    /// The bytes this payload stands for.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Payload::Text(s) => s.as_bytes().to_vec(),
            Payload::Fill { fill, len } => {
                vec![fill.as_bytes().first().copied().unwrap_or(0); *len as usize]
            }
        }
    }

    /// The number of bytes without building them.
    pub fn len(&self) -> u64 {
        match self {
            Payload::Text(s) => s.len() as u64,
            Payload::Fill { len, .. } => *len,
        }
    }

    /// True when the payload has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// openat(2) flags in the vocabulary. The access mode is one of `rdonly` (default),
/// `wronly`, `rdwr`; `path` is O_PATH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpenFlag {
    Rdonly,
    Wronly,
    Rdwr,
    Creat,
    Excl,
    Trunc,
    Append,
    Directory,
    Nonblock,
    Nofollow,
    Path,
}

/// lseek(2) whence values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Whence {
    Set,
    Cur,
    End,
    Data,
    Hole,
}

/// renameat2(2) flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RenameFlag {
    Noreplace,
    Exchange,
}

/// The file type part of mknodat(2)'s mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeType {
    /// Type bits 0: creates a regular file.
    None,
    Reg,
    Fifo,
    Sock,
    Chr,
    Blk,
    /// S_IFDIR: rejected (EPERM).
    Dir,
    /// S_IFLNK: rejected (EINVAL).
    Lnk,
    /// Raw type bits (the value of `mode & S_IFMT`), for invalid types.
    #[serde(untagged)]
    Raw(u32),
}

impl NodeType {
    /// The S_IFMT bits mknodat(2) receives for this type (`Raw` as given).
    pub fn type_bits(self) -> u32 {
        match self {
            NodeType::None => 0,
            NodeType::Reg => 0o100000,
            NodeType::Fifo => 0o010000,
            NodeType::Sock => 0o140000,
            NodeType::Chr => 0o020000,
            NodeType::Blk => 0o060000,
            NodeType::Dir => 0o040000,
            NodeType::Lnk => 0o120000,
            NodeType::Raw(n) => n,
        }
    }
}

/// posix_fadvise(2) advice: a name, or a raw number for invalid values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Advice {
    Normal,
    Random,
    Sequential,
    Willneed,
    Dontneed,
    Noreuse,
    #[serde(untagged)]
    Raw(i32),
}

/// The fallocate(2) mode bits (FALLOC_FL_*, include/uapi/linux/falloc.h).
pub mod falloc {
    pub const KEEP_SIZE: u32 = 0x01;
    pub const PUNCH_HOLE: u32 = 0x02;
    pub const NO_HIDE_STALE: u32 = 0x04;
    pub const COLLAPSE_RANGE: u32 = 0x08;
    pub const ZERO_RANGE: u32 = 0x10;
    pub const INSERT_RANGE: u32 = 0x20;
    pub const UNSHARE_RANGE: u32 = 0x40;
    /// Since 6.17.
    pub const WRITE_ZEROES: u32 = 0x80;
}

/// fallocate(2) mode bits by name, or a raw number for bits without a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallocFlag {
    KeepSize,
    PunchHole,
    NoHideStale,
    CollapseRange,
    ZeroRange,
    InsertRange,
    UnshareRange,
    WriteZeroes,
    #[serde(untagged)]
    Raw(u32),
}

/// One operation. The serialized form (`op = "open"` plus fields) is what the
/// scenario tables and regression files under corpus/ contain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Op {
    /// openat(dir, path, flags, mode); the new descriptor goes into `slot`
    /// (an occupied slot is closed first, silently).
    Open {
        slot: Slot,
        #[serde(default)]
        dir: Dir,
        path: String,
        #[serde(default)]
        flags: Vec<OpenFlag>,
        #[serde(default = "default_file_mode")]
        mode: u32,
    },
    /// close(fd).
    Close { fd: FdRef },
    /// read(2) at the file position or pread(2) at `offset`. The outcome carries
    /// the bytes read.
    Read {
        fd: FdRef,
        len: u64,
        #[serde(default)]
        offset: Off,
    },
    /// write(2) at the file position or pwrite(2) at `offset`.
    Write {
        fd: FdRef,
        data: Payload,
        #[serde(default)]
        offset: Off,
    },
    /// lseek(fd, offset, whence).
    Lseek {
        fd: FdRef,
        offset: i64,
        whence: Whence,
    },
    /// lseek(fd, d_off, SEEK_SET) where d_off is the cookie of the `entry`-th
    /// (0-based) dirent this descriptor's getdents64 calls have returned so far.
    SeekDirent { fd: FdRef, entry: u32 },
    /// ftruncate(fd, len).
    Ftruncate { fd: FdRef, len: i64 },
    /// fsync(fd) or fdatasync(fd).
    Fsync {
        fd: FdRef,
        #[serde(default)]
        datasync: bool,
    },
    /// statx(dir, path, AT_SYMLINK_NOFOLLOW if !follow). The outcome carries the
    /// deterministic fields: type, permission bits, size, nlink, rdev.
    Stat {
        #[serde(default)]
        dir: Dir,
        path: String,
        #[serde(default)]
        follow: bool,
    },
    /// statx(fd, "", AT_EMPTY_PATH).
    Fstat { fd: FdRef },
    /// mkdirat(dir, path, mode).
    Mkdir {
        #[serde(default)]
        dir: Dir,
        path: String,
        #[serde(default = "default_dir_mode")]
        mode: u32,
    },
    /// unlinkat(dir, path, AT_REMOVEDIR if removedir).
    Unlink {
        #[serde(default)]
        dir: Dir,
        path: String,
        #[serde(default)]
        removedir: bool,
    },
    /// renameat2(dir, path, new_dir, new_path, flags).
    Rename {
        #[serde(default)]
        dir: Dir,
        path: String,
        #[serde(default)]
        new_dir: Dir,
        new_path: String,
        #[serde(default)]
        flags: Vec<RenameFlag>,
    },
    /// linkat(dir, path, new_dir, new_path, 0).
    Link {
        #[serde(default)]
        dir: Dir,
        path: String,
        #[serde(default)]
        new_dir: Dir,
        new_path: String,
    },
    /// symlinkat(target, dir, path).
    Symlink {
        target: String,
        #[serde(default)]
        dir: Dir,
        path: String,
    },
    /// pipe2 with O_NONBLOCK if `nonblock`; the ends go into two slots.
    Pipe {
        read_slot: Slot,
        write_slot: Slot,
        #[serde(default)]
        nonblock: bool,
    },
    /// umask(mask): the calling thread's file creation mask.
    Umask { mask: u32 },
    /// copy_file_range(fd_in, off_in, fd_out, off_out, len, flags).
    CopyFileRange {
        fd_in: FdRef,
        #[serde(default)]
        off_in: Off,
        fd_out: FdRef,
        #[serde(default)]
        off_out: Off,
        len: u64,
        #[serde(default)]
        flags: u32,
    },
    /// splice(fd_in, off_in, fd_out, off_out, len, flags).
    Splice {
        fd_in: FdRef,
        #[serde(default)]
        off_in: Off,
        fd_out: FdRef,
        #[serde(default)]
        off_out: Off,
        len: u64,
        #[serde(default)]
        flags: u32,
    },
    /// tee(fd_in, fd_out, len, flags).
    Tee {
        fd_in: FdRef,
        fd_out: FdRef,
        len: u64,
        #[serde(default)]
        flags: u32,
    },
    /// getdents64(fd, buf, count). The outcome carries the parsed records.
    Getdents { fd: FdRef, count: u64 },
    /// posix_fadvise(fd, offset, len, advice).
    Fadvise {
        fd: FdRef,
        #[serde(default)]
        offset: i64,
        #[serde(default)]
        len: i64,
        advice: Advice,
    },
    /// fallocate(fd, mode, offset, len).
    Fallocate {
        fd: FdRef,
        #[serde(default)]
        mode: Vec<FallocFlag>,
        offset: i64,
        len: i64,
    },
    /// mknodat(dir, path, type | perm, makedev(major, minor)).
    Mknod {
        #[serde(default)]
        dir: Dir,
        path: String,
        #[serde(rename = "type")]
        node_type: NodeType,
        #[serde(default = "default_file_mode")]
        perm: u32,
        #[serde(default)]
        major: u32,
        #[serde(default)]
        minor: u32,
    },
}

fn default_file_mode() -> u32 {
    0o644
}

fn default_dir_mode() -> u32 {
    0o755
}

/// The kind of an op, for per-opcode counts and `--ops` selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Open,
    Close,
    Read,
    Write,
    Lseek,
    SeekDirent,
    Ftruncate,
    Fsync,
    Stat,
    Fstat,
    Mkdir,
    Unlink,
    Rename,
    Link,
    Symlink,
    Pipe,
    Umask,
    CopyFileRange,
    Splice,
    Tee,
    Getdents,
    Fadvise,
    Fallocate,
    Mknod,
}

impl OpKind {
    /// Every kind, in declaration order.
    pub const ALL: [OpKind; 24] = [
        OpKind::Open,
        OpKind::Close,
        OpKind::Read,
        OpKind::Write,
        OpKind::Lseek,
        OpKind::SeekDirent,
        OpKind::Ftruncate,
        OpKind::Fsync,
        OpKind::Stat,
        OpKind::Fstat,
        OpKind::Mkdir,
        OpKind::Unlink,
        OpKind::Rename,
        OpKind::Link,
        OpKind::Symlink,
        OpKind::Pipe,
        OpKind::Umask,
        OpKind::CopyFileRange,
        OpKind::Splice,
        OpKind::Tee,
        OpKind::Getdents,
        OpKind::Fadvise,
        OpKind::Fallocate,
        OpKind::Mknod,
    ];

    /// The snake_case name used in files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Open => "open",
            OpKind::Close => "close",
            OpKind::Read => "read",
            OpKind::Write => "write",
            OpKind::Lseek => "lseek",
            OpKind::SeekDirent => "seek_dirent",
            OpKind::Ftruncate => "ftruncate",
            OpKind::Fsync => "fsync",
            OpKind::Stat => "stat",
            OpKind::Fstat => "fstat",
            OpKind::Mkdir => "mkdir",
            OpKind::Unlink => "unlink",
            OpKind::Rename => "rename",
            OpKind::Link => "link",
            OpKind::Symlink => "symlink",
            OpKind::Pipe => "pipe",
            OpKind::Umask => "umask",
            OpKind::CopyFileRange => "copy_file_range",
            OpKind::Splice => "splice",
            OpKind::Tee => "tee",
            OpKind::Getdents => "getdents",
            OpKind::Fadvise => "fadvise",
            OpKind::Fallocate => "fallocate",
            OpKind::Mknod => "mknod",
        }
    }

    /// Parses a name as printed by [`OpKind::name`].
    pub fn from_name(name: &str) -> Option<OpKind> {
        OpKind::ALL.iter().copied().find(|k| k.name() == name)
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Op {
    /// The op's kind.
    pub fn kind(&self) -> OpKind {
        match self {
            Op::Open { .. } => OpKind::Open,
            Op::Close { .. } => OpKind::Close,
            Op::Read { .. } => OpKind::Read,
            Op::Write { .. } => OpKind::Write,
            Op::Lseek { .. } => OpKind::Lseek,
            Op::SeekDirent { .. } => OpKind::SeekDirent,
            Op::Ftruncate { .. } => OpKind::Ftruncate,
            Op::Fsync { .. } => OpKind::Fsync,
            Op::Stat { .. } => OpKind::Stat,
            Op::Fstat { .. } => OpKind::Fstat,
            Op::Mkdir { .. } => OpKind::Mkdir,
            Op::Unlink { .. } => OpKind::Unlink,
            Op::Rename { .. } => OpKind::Rename,
            Op::Link { .. } => OpKind::Link,
            Op::Symlink { .. } => OpKind::Symlink,
            Op::Pipe { .. } => OpKind::Pipe,
            Op::Umask { .. } => OpKind::Umask,
            Op::CopyFileRange { .. } => OpKind::CopyFileRange,
            Op::Splice { .. } => OpKind::Splice,
            Op::Tee { .. } => OpKind::Tee,
            Op::Getdents { .. } => OpKind::Getdents,
            Op::Fadvise { .. } => OpKind::Fadvise,
            Op::Fallocate { .. } => OpKind::Fallocate,
            Op::Mknod { .. } => OpKind::Mknod,
        }
    }

    /// Every path operand of the op (checked by [`is_safe_path`] before running).
    pub fn paths(&self) -> Vec<&str> {
        match self {
            Op::Open { path, .. }
            | Op::Stat { path, .. }
            | Op::Mkdir { path, .. }
            | Op::Unlink { path, .. }
            | Op::Mknod { path, .. } => vec![path],
            Op::Rename { path, new_path, .. } | Op::Link { path, new_path, .. } => {
                vec![path, new_path]
            }
            Op::Symlink { target, path, .. } => vec![target, path],
            _ => vec![],
        }
    }

    /// Every slot the op names (as an fd operand or a destination).
    pub fn slots(&self) -> Vec<Slot> {
        let mut out = Vec::new();
        let mut fd = |f: &FdRef| {
            if let FdRef::Slot(s) = f {
                out.push(*s)
            }
        };
        match self {
            Op::Close { fd: f }
            | Op::Read { fd: f, .. }
            | Op::Write { fd: f, .. }
            | Op::Lseek { fd: f, .. }
            | Op::SeekDirent { fd: f, .. }
            | Op::Ftruncate { fd: f, .. }
            | Op::Fsync { fd: f, .. }
            | Op::Fstat { fd: f }
            | Op::Getdents { fd: f, .. }
            | Op::Fadvise { fd: f, .. }
            | Op::Fallocate { fd: f, .. } => fd(f),
            Op::CopyFileRange { fd_in, fd_out, .. }
            | Op::Splice { fd_in, fd_out, .. }
            | Op::Tee { fd_in, fd_out, .. } => {
                fd(fd_in);
                fd(fd_out);
            }
            _ => {}
        }
        match self {
            Op::Open { slot, .. } => out.push(*slot),
            Op::Pipe {
                read_slot,
                write_slot,
                ..
            } => {
                out.push(*read_slot);
                out.push(*write_slot);
            }
            _ => {}
        }
        for d in self.dirs() {
            if let Dir::Fd(s) = d {
                out.push(s);
            }
        }
        out
    }

    /// The dirfd operands of the op.
    pub fn dirs(&self) -> Vec<Dir> {
        match self {
            Op::Open { dir, .. }
            | Op::Stat { dir, .. }
            | Op::Mkdir { dir, .. }
            | Op::Unlink { dir, .. }
            | Op::Symlink { dir, .. }
            | Op::Mknod { dir, .. } => vec![*dir],
            Op::Rename { dir, new_dir, .. } | Op::Link { dir, new_dir, .. } => {
                vec![*dir, *new_dir]
            }
            _ => vec![],
        }
    }

    /// Checks that the op stays inside the sandbox: relative paths without `..`,
    /// slots in range, payloads of bounded size. Returns a one-line reason otherwise.
    pub fn validate(&self) -> Result<(), String> {
        for p in self.paths() {
            if !is_safe_path(p) {
                return Err(format!("unsafe or malformed path {p:?} in {}", self.kind()));
            }
        }
        for s in self.slots() {
            if s >= MAX_SLOTS {
                return Err(format!("slot {s} out of range (0..{MAX_SLOTS})"));
            }
        }
        let too_big = |n: u64| n > MAX_BUFFER;
        match self {
            Op::Write { data, .. } if too_big(data.len()) => {
                Err(format!("write payload over {MAX_BUFFER} bytes"))
            }
            Op::Read { len, .. } | Op::Getdents { count: len, .. } if too_big(*len) => {
                Err(format!("buffer over {MAX_BUFFER} bytes"))
            }
            Op::Write {
                data: Payload::Fill { fill, .. },
                ..
            } if fill.len() != 1 => Err("fill must be exactly one byte".into()),
            Op::Pipe {
                read_slot,
                write_slot,
                ..
            } if read_slot == write_slot => Err("pipe ends need two different slots".into()),
            _ => Ok(()),
        }
    }
}

/// Largest user buffer an op may ask the backends to allocate (read, getdents,
/// write payloads). Counts passed to copy_file_range/splice/tee are not buffers and
/// may be anything.
pub const MAX_BUFFER: u64 = 1 << 20;

/// True if `p` is a path ringspec may hand to the kernel: non-empty, relative,
/// components of `[A-Za-z0-9_.-]` other than `.` and `..`, at most 64 bytes.
pub fn is_safe_path(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 64
        && !p.starts_with('/')
        && p.split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_paths() {
        assert!(is_safe_path("a"));
        assert!(is_safe_path("d/e/a"));
        assert!(!is_safe_path("../a"));
        assert!(!is_safe_path("/etc"));
        assert!(!is_safe_path("a//b"));
        assert!(!is_safe_path("d/./a"));
        assert!(!is_safe_path(""));
    }

    #[test]
    fn kinds_round_trip() {
        for k in OpKind::ALL {
            assert_eq!(OpKind::from_name(k.name()), Some(k));
        }
    }
}
