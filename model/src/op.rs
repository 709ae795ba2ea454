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

crate::op_table!(define);

/// What an op touches, for grouping independent ops into one io_uring batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Footprint {
    /// Only the files behind its fd operands: ops on other files may run
    /// alongside it.
    Fds,
    /// The namespace, the fd table or process state: it runs alone.
    Alone,
}

fn default_file_mode() -> u32 {
    0o644
}

fn default_dir_mode() -> u32 {
    0o755
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

/// Why an op may not run: it would leave the sandbox or allocate without
/// bound ([`Op::validate`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidOp {
    /// A path operand is absolute, has `..`, `.` or an empty component, a
    /// character outside `[A-Za-z0-9_.-]`, or more than 64 bytes.
    #[error("unsafe or malformed path {path:?} in {kind}")]
    UnsafePath {
        /// The path.
        path: String,
        /// The op's kind.
        kind: OpKind,
    },
    /// A slot operand past [`MAX_SLOTS`].
    #[error("slot {0} out of range (0..{MAX_SLOTS})")]
    SlotOutOfRange(Slot),
    /// A user buffer over [`MAX_BUFFER`] bytes.
    #[error("a {len}-byte buffer in {kind} is over the {MAX_BUFFER}-byte limit")]
    BufferTooLarge {
        /// Its size.
        len: u64,
        /// The op's kind.
        kind: OpKind,
    },
    /// A `fill` payload whose fill is not one byte.
    #[error("fill must be exactly one byte")]
    FillNotOneByte,
    /// Both ends of a pipe in one slot.
    #[error("pipe ends need two different slots")]
    PipeEndsInOneSlot,
}

impl Op {
    /// Checks that the op stays inside the sandbox: relative paths without `..`,
    /// slots in range, payloads of bounded size.
    pub fn validate(&self) -> Result<(), InvalidOp> {
        for p in self.paths() {
            if !is_safe_path(p) {
                return Err(InvalidOp::UnsafePath {
                    path: p.to_string(),
                    kind: self.kind(),
                });
            }
        }
        if let Some(s) = self.slots().into_iter().find(|&s| s >= MAX_SLOTS) {
            return Err(InvalidOp::SlotOutOfRange(s));
        }
        if let Some(len) = self.buffer_sizes().into_iter().find(|&n| n > MAX_BUFFER) {
            return Err(InvalidOp::BufferTooLarge {
                len,
                kind: self.kind(),
            });
        }
        match self {
            Op::Write {
                data: Payload::Fill { fill, .. },
                ..
            } if fill.len() != 1 => Err(InvalidOp::FillNotOneByte),
            Op::Pipe {
                read_slot,
                write_slot,
                ..
            } if read_slot == write_slot => Err(InvalidOp::PipeEndsInOneSlot),
            _ => Ok(()),
        }
    }
}

/// An op's text that does not parse ([`parse_op`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text}: {source}")]
pub struct ParseOpError {
    /// The text.
    pub text: String,
    /// What TOML or the op's fields make of it.
    #[source]
    pub source: toml::de::Error,
}

/// Parses one op written as in the scenario files, e.g.
/// `{ op = "read", fd = 0, len = 4 }` (an inline TOML table).
pub fn parse_op(text: &str) -> Result<Op, ParseOpError> {
    #[derive(Deserialize)]
    struct Inline {
        x: Op,
    }
    toml::from_str::<Inline>(&format!("x = {text}"))
        .map(|w| w.x)
        .map_err(|source| ParseOpError {
            text: text.to_string(),
            source,
        })
}

/// The size of a user buffer an operand stands for.
pub trait BufferLen {
    /// Bytes.
    fn buffer_len(&self) -> u64;
}

impl BufferLen for Payload {
    fn buffer_len(&self) -> u64 {
        self.len()
    }
}

impl BufferLen for u64 {
    fn buffer_len(&self) -> u64 {
        *self
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
