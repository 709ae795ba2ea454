//! What an op returns, in a form shared by the model and every backend.

use serde::{Deserialize, Serialize};
use std::fmt;

/// An errno value, printed by name (`EINVAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Errno(pub i32);

macro_rules! errnos {
    ($($name:ident = $val:expr),* $(,)?) => {
        impl Errno {
            $(#[allow(missing_docs)] pub const $name: Errno = Errno($val);)*
            /// The symbolic name, or `E<number>` for values without one here.
            pub fn name(self) -> String {
                match self.0 {
                    $($val => stringify!($name).to_string(),)*
                    n => format!("E{n}"),
                }
            }
            /// Parses `EINVAL` (or `E22`).
            pub fn from_name(s: &str) -> Option<Errno> {
                match s {
                    $(stringify!($name) => Some(Errno($val)),)*
                    _ => s.strip_prefix('E')?.parse().ok().map(Errno),
                }
            }
        }

        /// The same values as plain `i32`s (CQE results, raw syscall returns).
        pub mod raw_errno {
            $(#[allow(missing_docs)] pub const $name: i32 = $val;)*
        }
    };
}

// x86_64/generic Linux values: the one errno table of ringspec.
errnos! {
    EPERM = 1, ENOENT = 2, EINTR = 4, EIO = 5, ENXIO = 6, E2BIG = 7, EBADF = 9,
    EAGAIN = 11, ENOMEM = 12, EACCES = 13, EFAULT = 14, EBUSY = 16, EEXIST = 17,
    EXDEV = 18, ENODEV = 19, ENOTDIR = 20, EISDIR = 21, EINVAL = 22, ENFILE = 23,
    EMFILE = 24, ETXTBSY = 26, EFBIG = 27, ENOSPC = 28, ESPIPE = 29, EROFS = 30,
    EMLINK = 31, EPIPE = 32, ERANGE = 34, ETIME = 62, ENAMETOOLONG = 36, ENOSYS = 38,
    ENOTEMPTY = 39, ELOOP = 40, ENODATA = 61, ENOPKG = 65, EOVERFLOW = 75,
    EOPNOTSUPP = 95, ENOBUFS = 105, EDQUOT = 122, ECANCELED = 125,
    // Kernel-internal; seen in CQEs of requests cancelled while blocked in an
    // io-wq worker (see `backends::uring::CANCELLED_RESULTS`).
    ERESTARTSYS = 512, ERESTARTNOINTR = 513, ERESTARTNOHAND = 514,
    ERESTART_RESTARTBLOCK = 516,
}

impl Errno {
    /// A raw result (a CQE's `res`, a syscall's return): the value when it is
    /// not negative, else `-NAME` ("-EINVAL"). The one formatter of raw results.
    pub fn format_result(res: i32) -> String {
        if res < 0 {
            format!("-{}", Errno(-res))
        } else {
            res.to_string()
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

impl Serialize for Errno {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for Errno {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Errno::from_name(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown errno {s}")))
    }
}

/// File type as reported by statx and getdents64 (d_type values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileType {
    /// A regular file.
    Reg,
    /// A directory.
    Dir,
    /// A symbolic link.
    Lnk,
    /// A FIFO or pipe.
    Fifo,
    /// A socket.
    Sock,
    /// A character device.
    Chr,
    /// A block device.
    Blk,
    /// DT_UNKNOWN: the filesystem did not say.
    Unknown,
}

impl FileType {
    /// The getdents64 d_type value.
    pub fn d_type(self) -> u8 {
        match self {
            FileType::Unknown => 0,
            FileType::Fifo => 1,
            FileType::Chr => 2,
            FileType::Dir => 4,
            FileType::Blk => 6,
            FileType::Reg => 8,
            FileType::Lnk => 10,
            FileType::Sock => 12,
        }
    }

    /// From a d_type value.
    pub fn from_d_type(t: u8) -> FileType {
        match t {
            1 => FileType::Fifo,
            2 => FileType::Chr,
            4 => FileType::Dir,
            6 => FileType::Blk,
            8 => FileType::Reg,
            10 => FileType::Lnk,
            12 => FileType::Sock,
            _ => FileType::Unknown,
        }
    }

    /// From the S_IFMT bits of a mode.
    pub fn from_mode(mode: u32) -> FileType {
        match mode & 0o170000 {
            0o100000 => FileType::Reg,
            0o040000 => FileType::Dir,
            0o120000 => FileType::Lnk,
            0o010000 => FileType::Fifo,
            0o140000 => FileType::Sock,
            0o020000 => FileType::Chr,
            0o060000 => FileType::Blk,
            _ => FileType::Unknown,
        }
    }
}

/// The deterministic statx fields (no inode numbers, times or block counts).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Stat {
    #[serde(rename = "type")]
    /// File type.
    pub file_type: FileType,
    /// Permission bits (mode & 07777).
    pub perm: u32,
    /// st_size (directories: 0, normalised).
    pub size: u64,
    /// Link count.
    pub nlink: u32,
    /// (major, minor) of a device node; (0, 0) otherwise.
    pub rdev: (u32, u32),
}

/// One parsed getdents64 record. `d_ino` and `d_off` are not kept: inode numbers
/// and cookies are filesystem-private (cookies are used only through
/// [`crate::Op::SeekDirent`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Dirent {
    /// d_name.
    pub name: String,
    #[serde(rename = "type")]
    /// File type.
    pub file_type: FileType,
    /// d_reclen: ALIGN(19 + name length + 1, 8).
    pub reclen: u16,
}

/// The size of a getdents64 record for a name: ALIGN(19 + len + 1, 8).
pub fn dirent_reclen(name_len: usize) -> u16 {
    ((19 + name_len + 1 + 7) & !7) as u16
}

/// Data returned alongside a successful result.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Data {
    #[default]
    /// No data (most calls).
    None,
    /// Bytes read.
    Bytes(Vec<u8>),
    /// Records returned by getdents64, in the order the kernel gave them.
    Dirents(Vec<Dirent>),
    /// A getdents64 buffer no caller can walk: why (a bad d_reclen at a byte
    /// offset). Never allowed by the model.
    MalformedDirents(String),
    /// statx fields.
    Stat(Stat),
    /// Explicit offsets written back by copy_file_range/splice (syscall interface
    /// only; io_uring does not report them): (off_in, off_out), `None` where the
    /// file position was used.
    Offsets(Option<i64>, Option<i64>),
}

/// The outcome of one op: a value or an errno, and data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Outcome {
    /// The return value, or the errno.
    pub result: Result<i64, Errno>,
    #[serde(default, skip_serializing_if = "is_none_data")]
    /// Data returned alongside a success.
    pub data: Data,
}

fn is_none_data(d: &Data) -> bool {
    *d == Data::None
}

impl Outcome {
    /// A success without data.
    pub fn ok(v: i64) -> Outcome {
        Outcome {
            result: Ok(v),
            data: Data::None,
        }
    }

    /// A success with data.
    pub fn ok_with(v: i64, data: Data) -> Outcome {
        Outcome {
            result: Ok(v),
            data,
        }
    }

    /// A failure.
    pub fn err(e: Errno) -> Outcome {
        Outcome {
            result: Err(e),
            data: Data::None,
        }
    }

    /// The value, if the op succeeded.
    pub fn value(&self) -> Option<i64> {
        self.result.ok()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.result {
            Ok(v) => write!(f, "{v}")?,
            Err(e) => write!(f, "-{e}")?,
        }
        match &self.data {
            Data::None => Ok(()),
            Data::Bytes(b) => write!(f, " bytes={:?}", Shorten(b)),
            Data::Dirents(d) => {
                let names: Vec<String> = d
                    .iter()
                    .map(|e| format!("{}:{:?}:{}", e.name, e.file_type, e.reclen))
                    .collect();
                write!(f, " dirents=[{}]", names.join(", "))
            }
            Data::Stat(s) => write!(
                f,
                " stat={{{:?} {:o} size={} nlink={} rdev={}:{}}}",
                s.file_type, s.perm, s.size, s.nlink, s.rdev.0, s.rdev.1
            ),
            Data::Offsets(i, o) => write!(f, " offsets=({i:?}, {o:?})"),
            Data::MalformedDirents(why) => write!(f, " malformed dirents ({why})"),
        }
    }
}

/// Prints bytes as a string when printable, eliding the middle of long runs.
pub struct Shorten<'a>(pub &'a [u8]);

impl fmt::Debug for Shorten<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        let show = |s: &[u8]| String::from_utf8_lossy(s).escape_debug().to_string();
        if b.len() <= 64 {
            write!(f, "\"{}\"", show(b))
        } else {
            write!(
                f,
                "\"{}\"..({} bytes)..\"{}\"",
                show(&b[..24]),
                b.len() - 48,
                show(&b[b.len() - 24..])
            )
        }
    }
}
