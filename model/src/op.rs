//! The op vocabulary: every operation ringspec can run, with symbolic handles.
//!
//! File descriptors are named by *slot*: a small index into the sequence's own fd
//! table, filled by `open`/`pipe`. Paths come from a small alphabet of relative
//! names (`a`, `d/e/a`, ...) resolved against one of two scratch roots that lie on
//! different filesystems (`root` and `other`), so EEXIST, ENOENT, ENOTDIR, same-file
//! and cross-filesystem cases are all reachable. No path may contain `..` or start
//! with `/`, and symlink targets obey the same rule, so nothing can leave the scratch
//! roots.

use crate::opcode::{op, UringOpcode, UringOpcode::Mainline, UringOpcode::Proposed};
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
    /// `len` copies of the first byte of `fill`.
    Fill {
        /// A one-byte string: the byte to repeat.
        fill: String,
        /// How many bytes.
        len: u64,
    },
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
    /// O_RDONLY.
    Rdonly,
    /// O_WRONLY.
    Wronly,
    /// O_RDWR.
    Rdwr,
    /// O_CREAT.
    Creat,
    /// O_EXCL.
    Excl,
    /// O_TRUNC.
    Trunc,
    /// O_APPEND.
    Append,
    /// O_DIRECTORY.
    Directory,
    /// O_NONBLOCK.
    Nonblock,
    /// O_NOFOLLOW.
    Nofollow,
    /// O_PATH.
    Path,
}

/// lseek(2) whence values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Whence {
    /// SEEK_SET.
    Set,
    /// SEEK_CUR.
    Cur,
    /// SEEK_END.
    End,
    /// SEEK_DATA.
    Data,
    /// SEEK_HOLE.
    Hole,
}

/// renameat2(2) flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RenameFlag {
    /// RENAME_NOREPLACE.
    Noreplace,
    /// RENAME_EXCHANGE.
    Exchange,
}

/// The file type part of mknodat(2)'s mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeType {
    /// Type bits 0: creates a regular file.
    None,
    /// S_IFREG.
    Reg,
    /// S_IFFIFO.
    Fifo,
    /// S_IFSOCK.
    Sock,
    /// S_IFCHR.
    Chr,
    /// S_IFBLK.
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
    /// POSIX_FADV_NORMAL.
    Normal,
    /// POSIX_FADV_RANDOM.
    Random,
    /// POSIX_FADV_SEQUENTIAL.
    Sequential,
    /// POSIX_FADV_WILLNEED.
    Willneed,
    /// POSIX_FADV_DONTNEED.
    Dontneed,
    /// POSIX_FADV_NOREUSE.
    Noreuse,
    #[serde(untagged)]
    /// Any other value (invalid advice).
    Raw(i32),
}

/// The fallocate(2) mode bits (FALLOC_FL_*, include/uapi/linux/falloc.h).
pub mod falloc {
    /// FALLOC_FL_KEEP_SIZE.
    pub const KEEP_SIZE: u32 = 0x01;
    /// FALLOC_FL_PUNCH_HOLE.
    pub const PUNCH_HOLE: u32 = 0x02;
    /// FALLOC_FL_NO_HIDE_STALE.
    pub const NO_HIDE_STALE: u32 = 0x04;
    /// FALLOC_FL_COLLAPSE_RANGE.
    pub const COLLAPSE_RANGE: u32 = 0x08;
    /// FALLOC_FL_ZERO_RANGE.
    pub const ZERO_RANGE: u32 = 0x10;
    /// FALLOC_FL_INSERT_RANGE.
    pub const INSERT_RANGE: u32 = 0x20;
    /// FALLOC_FL_UNSHARE_RANGE.
    pub const UNSHARE_RANGE: u32 = 0x40;
    /// Since 6.17.
    pub const WRITE_ZEROES: u32 = 0x80;
}

/// fallocate(2) mode bits by name, or a raw number for bits without a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FallocFlag {
    /// FALLOC_FL_KEEP_SIZE.
    KeepSize,
    /// FALLOC_FL_PUNCH_HOLE.
    PunchHole,
    /// FALLOC_FL_NO_HIDE_STALE.
    NoHideStale,
    /// FALLOC_FL_COLLAPSE_RANGE.
    CollapseRange,
    /// FALLOC_FL_ZERO_RANGE.
    ZeroRange,
    /// FALLOC_FL_INSERT_RANGE.
    InsertRange,
    /// FALLOC_FL_UNSHARE_RANGE.
    UnshareRange,
    /// FALLOC_FL_WRITE_ZEROES.
    WriteZeroes,
    #[serde(untagged)]
    /// Raw mode bits without a name here.
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
        /// The slot the new descriptor goes into.
        slot: Slot,
        #[serde(default)]
        /// The dirfd `path` is resolved against.
        dir: Dir,
        /// The path, relative to `dir`.
        path: String,
        #[serde(default)]
        /// The call's flags.
        flags: Vec<OpenFlag>,
        #[serde(default = "default_file_mode")]
        /// The mode argument.
        mode: u32,
    },
    /// close(fd).
    /// close(fd).
    Close {
        /// The descriptor operand.
        fd: FdRef,
    },
    /// read(2) at the file position or pread(2) at `offset`. The outcome carries
    /// the bytes read.
    Read {
        /// The descriptor operand.
        fd: FdRef,
        /// The length or count argument.
        len: u64,
        #[serde(default)]
        /// The offset argument.
        offset: Off,
    },
    /// write(2) at the file position or pwrite(2) at `offset`.
    Write {
        /// The descriptor operand.
        fd: FdRef,
        /// The bytes to write.
        data: Payload,
        #[serde(default)]
        /// The offset argument.
        offset: Off,
    },
    /// lseek(fd, offset, whence).
    Lseek {
        /// The descriptor operand.
        fd: FdRef,
        /// The offset argument.
        offset: i64,
        /// How `offset` is interpreted.
        whence: Whence,
    },
    /// lseek(fd, d_off, SEEK_SET) where d_off is the cookie of the `entry`-th
    /// (0-based) dirent this descriptor's getdents64 calls have returned so far.
    /// Seek a directory to the d_off of the `entry`-th record it returned (see the op docs above).
    SeekDirent {
        /// The descriptor operand.
        fd: FdRef,
        /// Index (0-based) of the record whose d_off to seek to.
        entry: u32,
    },
    /// ftruncate(fd, len).
    /// ftruncate(fd, len).
    Ftruncate {
        /// The descriptor operand.
        fd: FdRef,
        /// The new size.
        len: i64,
    },
    /// fsync(fd) or fdatasync(fd).
    Fsync {
        /// The descriptor operand.
        fd: FdRef,
        #[serde(default)]
        /// fdatasync(2) instead of fsync(2).
        datasync: bool,
    },
    /// statx(dir, path, AT_SYMLINK_NOFOLLOW if !follow). The outcome carries the
    /// deterministic fields: type, permission bits, size, nlink, rdev.
    Stat {
        #[serde(default)]
        /// The dirfd `path` is resolved against.
        dir: Dir,
        /// The path, relative to `dir`.
        path: String,
        #[serde(default)]
        /// Follow a final symlink (no AT_SYMLINK_NOFOLLOW).
        follow: bool,
    },
    /// statx(fd, "", AT_EMPTY_PATH).
    /// statx(fd, "", AT_EMPTY_PATH).
    Fstat {
        /// The descriptor operand.
        fd: FdRef,
    },
    /// mkdirat(dir, path, mode).
    Mkdir {
        #[serde(default)]
        /// The dirfd `path` is resolved against.
        dir: Dir,
        /// The path, relative to `dir`.
        path: String,
        #[serde(default = "default_dir_mode")]
        /// The mode argument.
        mode: u32,
    },
    /// unlinkat(dir, path, AT_REMOVEDIR if removedir).
    Unlink {
        #[serde(default)]
        /// The dirfd `path` is resolved against.
        dir: Dir,
        /// The path, relative to `dir`.
        path: String,
        #[serde(default)]
        /// AT_REMOVEDIR: remove a directory.
        removedir: bool,
    },
    /// renameat2(dir, path, new_dir, new_path, flags).
    Rename {
        #[serde(default)]
        /// The dirfd `path` is resolved against.
        dir: Dir,
        /// The path, relative to `dir`.
        path: String,
        #[serde(default)]
        /// The dirfd `new_path` is resolved against.
        new_dir: Dir,
        /// The new name, relative to `new_dir`.
        new_path: String,
        #[serde(default)]
        /// The call's flags.
        flags: Vec<RenameFlag>,
    },
    /// linkat(dir, path, new_dir, new_path, 0).
    Link {
        #[serde(default)]
        /// The dirfd `path` is resolved against.
        dir: Dir,
        /// The path, relative to `dir`.
        path: String,
        #[serde(default)]
        /// The dirfd `new_path` is resolved against.
        new_dir: Dir,
        /// The new name, relative to `new_dir`.
        new_path: String,
    },
    /// symlinkat(target, dir, path).
    Symlink {
        /// The symlink's target (a safe relative path).
        target: String,
        #[serde(default)]
        /// The dirfd `path` is resolved against.
        dir: Dir,
        /// The path, relative to `dir`.
        path: String,
    },
    /// pipe2 with O_NONBLOCK if `nonblock`; the ends go into two slots.
    Pipe {
        /// Slot for the read end.
        read_slot: Slot,
        /// Slot for the write end.
        write_slot: Slot,
        #[serde(default)]
        /// O_NONBLOCK on both ends.
        nonblock: bool,
    },
    /// umask(mask): the calling thread's file creation mask.
    /// umask(mask): returns the previous mask.
    Umask {
        /// The new umask.
        mask: u32,
    },
    /// copy_file_range(fd_in, off_in, fd_out, off_out, len, flags).
    CopyFileRange {
        /// The input descriptor.
        fd_in: FdRef,
        #[serde(default)]
        /// The input offset (file position or explicit).
        off_in: Off,
        /// The output descriptor.
        fd_out: FdRef,
        #[serde(default)]
        /// The output offset (file position or explicit).
        off_out: Off,
        /// The length or count argument.
        len: u64,
        #[serde(default)]
        /// The call's flags.
        flags: u32,
    },
    /// splice(fd_in, off_in, fd_out, off_out, len, flags).
    Splice {
        /// The input descriptor.
        fd_in: FdRef,
        #[serde(default)]
        /// The input offset (file position or explicit).
        off_in: Off,
        /// The output descriptor.
        fd_out: FdRef,
        #[serde(default)]
        /// The output offset (file position or explicit).
        off_out: Off,
        /// The length or count argument.
        len: u64,
        #[serde(default)]
        /// The call's flags.
        flags: u32,
    },
    /// tee(fd_in, fd_out, len, flags).
    Tee {
        /// The input descriptor.
        fd_in: FdRef,
        /// The output descriptor.
        fd_out: FdRef,
        /// The length or count argument.
        len: u64,
        #[serde(default)]
        /// The call's flags.
        flags: u32,
    },
    /// getdents64(fd, buf, count). The outcome carries the parsed records.
    /// getdents64(fd, buf, count).
    Getdents {
        /// The descriptor operand.
        fd: FdRef,
        /// The buffer size in bytes.
        count: u64,
    },
    /// posix_fadvise(fd, offset, len, advice).
    Fadvise {
        /// The descriptor operand.
        fd: FdRef,
        #[serde(default)]
        /// The offset argument.
        offset: i64,
        #[serde(default)]
        /// The length or count argument.
        len: i64,
        /// The POSIX_FADV_* advice.
        advice: Advice,
    },
    /// fallocate(fd, mode, offset, len).
    Fallocate {
        /// The descriptor operand.
        fd: FdRef,
        #[serde(default)]
        /// The mode argument.
        mode: Vec<FallocFlag>,
        /// The offset argument.
        offset: i64,
        /// The length or count argument.
        len: i64,
    },
    /// mknodat(dir, path, type | perm, makedev(major, minor)).
    Mknod {
        #[serde(default)]
        /// The dirfd `path` is resolved against.
        dir: Dir,
        /// The path, relative to `dir`.
        path: String,
        #[serde(rename = "type")]
        /// The S_IFMT part of the mode.
        node_type: NodeType,
        #[serde(default = "default_file_mode")]
        /// Permission bits (before the umask).
        perm: u32,
        #[serde(default)]
        /// Device major number (char/block devices).
        major: u32,
        #[serde(default)]
        /// Device minor number (char/block devices).
        minor: u32,
    },
}

fn default_file_mode() -> u32 {
    0o644
}

fn default_dir_mode() -> u32 {
    0o755
}

/// Declares the op kinds from one row each: the variant, its name (files,
/// command line, serde), the io_uring opcode that runs it, and how often the
/// generator draws it relative to the others. [`OpKind`], [`OpKind::ALL`],
/// [`OpKind::name`], [`OpKind::uring_opcode`] and [`OpKind::weight`] are
/// derived.
macro_rules! op_kinds {
    ($($kind:ident = $name:literal, $opcode:expr, weight $weight:literal;)*) => {
        /// The kind of an op, for per-opcode counts and `--ops` selection.
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        pub enum OpKind {
            $(
                #[doc = concat!("[`Op::", stringify!($kind), "`].")]
                #[serde(rename = $name)]
                $kind,
            )*
        }

        impl OpKind {
            /// Every kind, in declaration order.
            pub const ALL: [OpKind; [$($name),*].len()] = [$(OpKind::$kind),*];

            /// The snake_case name used in files and on the command line.
            pub fn name(self) -> &'static str {
                match self {
                    $(OpKind::$kind => $name,)*
                }
            }

            /// The io_uring opcode that runs ops of this kind.
            pub fn uring_opcode(self) -> UringOpcode {
                match self {
                    $(OpKind::$kind => $opcode,)*
                }
            }

            /// How often the generator draws this kind relative to the
            /// others, once it is in a sequence's swarm.
            pub fn weight(self) -> u32 {
                match self {
                    $(OpKind::$kind => $weight,)*
                }
            }
        }
    };
}

op_kinds! {
    Open = "open", Mainline(op::OPENAT), weight 4;
    Close = "close", Mainline(op::CLOSE), weight 1;
    Read = "read", Mainline(op::READ), weight 3;
    Write = "write", Mainline(op::WRITE), weight 4;
    Lseek = "lseek", UringOpcode::None, weight 2;
    SeekDirent = "seek_dirent", UringOpcode::None, weight 2;
    Ftruncate = "ftruncate", Mainline(op::FTRUNCATE), weight 2;
    Fsync = "fsync", Mainline(op::FSYNC), weight 2;
    Stat = "stat", Mainline(op::STATX), weight 2;
    Fstat = "fstat", Mainline(op::STATX), weight 2;
    Mkdir = "mkdir", Mainline(op::MKDIRAT), weight 2;
    Unlink = "unlink", Mainline(op::UNLINKAT), weight 2;
    Rename = "rename", Mainline(op::RENAMEAT), weight 2;
    Link = "link", Mainline(op::LINKAT), weight 2;
    Symlink = "symlink", Mainline(op::SYMLINKAT), weight 2;
    Pipe = "pipe", Mainline(op::PIPE), weight 1;
    Umask = "umask", UringOpcode::None, weight 1;
    CopyFileRange = "copy_file_range", Proposed(crate::opcode::Proposed::CopyFileRange), weight 3;
    Splice = "splice", Mainline(op::SPLICE), weight 3;
    Tee = "tee", Mainline(op::TEE), weight 3;
    Getdents = "getdents", Proposed(crate::opcode::Proposed::Getdents64), weight 3;
    Fadvise = "fadvise", Mainline(op::FADVISE), weight 2;
    Fallocate = "fallocate", Mainline(op::FALLOCATE), weight 3;
    Mknod = "mknod", Proposed(crate::opcode::Proposed::Mknodat), weight 3;
}

impl OpKind {
    /// Parses a name as printed by [`OpKind::name`].
    pub fn from_name(name: &str) -> Option<OpKind> {
        OpKind::ALL.iter().copied().find(|k| k.name() == name)
    }

    /// The mainline opcode number that runs this kind, if there is one.
    pub fn mainline_opcode(self) -> Option<u8> {
        match self.uring_opcode() {
            UringOpcode::Mainline(n) => Some(n),
            _ => None,
        }
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

/// A length as an io_uring SQE carries it: the 32-bit `len` field, so a
/// longer request is sent as `u32::MAX` (saturated, never wrapped). The
/// backend encodes with this and the model plans io_uring ops with it.
pub fn sqe_len32(len: u64) -> u32 {
    len.min(u32::MAX as u64) as u32
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
