//! The io_uring opcode table: every mainline IORING_OP_* number, written once
//! (include/uapi/linux/io_uring.h, 6.19), and the opcode each op kind runs as.
//!
//! Everything else derives from it: the [`op`] constants the SQE encoder, the
//! SQE-rule table and the fuzzer use, the names the probe prints
//! ([`name`]), and [`crate::OpKind::uring_opcode`]. The proposed opcodes
//! (copy_file_range, getdents64, mknodat) have no mainline number: their
//! numbers are configuration ([`Proposed`] names them).

/// Declares the table once: `NAME = number` gives the constant `op::NAME`
/// and the entry "NAME" of [`NAMES`] at index `number` (checked at compile
/// time to be dense and in order).
macro_rules! opcodes {
    ($($name:ident = $num:literal),* $(,)?) => {
        /// IORING_OP_* numbers, by their uapi names.
        pub mod op {
            $(
                #[doc = concat!("IORING_OP_", stringify!($name), ".")]
                pub const $name: u8 = $num;
            )*
        }

        /// Opcode names by number (index = IORING_OP_* value).
        pub const NAMES: &[&str] = &[$(stringify!($name)),*];

        const NUMBERS: &[u8] = &[$($num),*];
    };
}

opcodes! {
    NOP = 0, READV = 1, WRITEV = 2, FSYNC = 3, READ_FIXED = 4, WRITE_FIXED = 5,
    POLL_ADD = 6, POLL_REMOVE = 7, SYNC_FILE_RANGE = 8, SENDMSG = 9, RECVMSG = 10,
    TIMEOUT = 11, TIMEOUT_REMOVE = 12, ACCEPT = 13, ASYNC_CANCEL = 14,
    LINK_TIMEOUT = 15, CONNECT = 16, FALLOCATE = 17, OPENAT = 18, CLOSE = 19,
    FILES_UPDATE = 20, STATX = 21, READ = 22, WRITE = 23, FADVISE = 24,
    MADVISE = 25, SEND = 26, RECV = 27, OPENAT2 = 28, EPOLL_CTL = 29, SPLICE = 30,
    PROVIDE_BUFFERS = 31, REMOVE_BUFFERS = 32, TEE = 33, SHUTDOWN = 34,
    RENAMEAT = 35, UNLINKAT = 36, MKDIRAT = 37, SYMLINKAT = 38, LINKAT = 39,
    MSG_RING = 40, FSETXATTR = 41, SETXATTR = 42, FGETXATTR = 43, GETXATTR = 44,
    SOCKET = 45, URING_CMD = 46, SEND_ZC = 47, SENDMSG_ZC = 48,
    READ_MULTISHOT = 49, WAITID = 50, FUTEX_WAIT = 51, FUTEX_WAKE = 52,
    FUTEX_WAITV = 53, FIXED_FD_INSTALL = 54, FTRUNCATE = 55, BIND = 56,
    LISTEN = 57, RECV_ZC = 58, EPOLL_WAIT = 59, READV_FIXED = 60,
    WRITEV_FIXED = 61, PIPE = 62, NOP128 = 63, URING_CMD128 = 64,
}

// The table is dense: entry i is opcode i.
const _: () = {
    let mut i = 0;
    while i < NUMBERS.len() {
        assert!(NUMBERS[i] as usize == i, "opcode table out of order");
        i += 1;
    }
};

/// The uapi name of opcode `number` ("SPLICE"), if the table knows it.
pub fn name(number: u8) -> Option<&'static str> {
    NAMES.get(number as usize).copied()
}

/// The proposed opcodes: no mainline number, so each kernel (or
/// `RINGSPEC_PROPOSED`) says which number runs it, by these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proposed {
    /// IORING_OP_COPY_FILE_RANGE (kernel/patches/0001).
    CopyFileRange,
    /// IORING_OP_GETDENTS64 (kernel/patches/0002).
    Getdents64,
    /// IORING_OP_MKNODAT (kernel/patches/0003).
    Mknodat,
}

impl Proposed {
    /// Every proposed opcode.
    pub const ALL: [Proposed; 3] = [
        Proposed::CopyFileRange,
        Proposed::Getdents64,
        Proposed::Mknodat,
    ];

    /// Parses [`Proposed::name`] or the name of the op kind it runs
    /// ("getdents" for getdents64).
    pub fn from_name(name: &str) -> Option<Proposed> {
        Proposed::ALL.into_iter().find(|&p| {
            p.name() == name
                || crate::OpKind::ALL
                    .iter()
                    .any(|k| k.name() == name && k.uring_opcode() == UringOpcode::Proposed(p))
        })
    }

    /// Index of this opcode in [`Proposed::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    /// The IORING_OP_ name it would have, without the prefix.
    pub fn uapi_name(self) -> &'static str {
        match self {
            Proposed::CopyFileRange => "COPY_FILE_RANGE",
            Proposed::Getdents64 => "GETDENTS64",
            Proposed::Mknodat => "MKNODAT",
        }
    }

    /// The name `RINGSPEC_PROPOSED` uses ("copy_file_range").
    pub fn name(self) -> &'static str {
        match self {
            Proposed::CopyFileRange => "copy_file_range",
            Proposed::Getdents64 => "getdents64",
            Proposed::Mknodat => "mknodat",
        }
    }
}

/// The numbers configured for the proposed opcodes: a map from
/// [`Proposed`] to its number on the kernel under test. `oracle`'s
/// `ProposedOpcodes::parse` (`RINGSPEC_PROPOSED`) is its one parser.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProposedNumbers([Option<u8>; 3]);

impl ProposedNumbers {
    /// Nothing configured.
    pub const NONE: ProposedNumbers = ProposedNumbers([None; 3]);

    /// This map with `p` at number `n`.
    pub const fn with(mut self, p: Proposed, n: u8) -> ProposedNumbers {
        self.0[p.index()] = Some(n);
        self
    }

    /// The number of `p`, if configured.
    pub fn number(&self, p: Proposed) -> Option<u8> {
        self.0[p.index()]
    }

    /// Sets (or clears) the number of `p`.
    pub fn set(&mut self, p: Proposed, n: Option<u8>) {
        self.0[p.index()] = n;
    }

    /// The configured (opcode, number) pairs.
    pub fn iter(&self) -> impl Iterator<Item = (Proposed, u8)> + '_ {
        Proposed::ALL
            .into_iter()
            .filter_map(|p| self.number(p).map(|n| (p, n)))
    }

    /// The number of the opcode that runs `kind`: its mainline number, the
    /// configured one for a proposed opcode, `None` otherwise.
    pub fn opcode_of(&self, kind: crate::OpKind) -> Option<u8> {
        match kind.uring_opcode() {
            UringOpcode::Mainline(n) => Some(n),
            UringOpcode::Proposed(p) => self.number(p),
            UringOpcode::None => None,
        }
    }
}

/// Which io_uring opcode runs an op kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UringOpcode {
    /// A mainline opcode: this number on every kernel that has it.
    Mainline(u8),
    /// A proposed opcode: the number is configuration.
    Proposed(Proposed),
    /// No io_uring opcode (lseek, umask, ...): always the syscall.
    None,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_numbers() {
        assert_eq!(name(op::SPLICE), Some("SPLICE"));
        assert_eq!(name(op::TEE), Some("TEE"));
        assert_eq!(name(op::FTRUNCATE), Some("FTRUNCATE"));
        assert_eq!(name(op::PIPE), Some("PIPE"));
        assert_eq!(name(op::LISTEN), Some("LISTEN"));
        assert_eq!(NAMES.len(), 65);
        assert_eq!(name(65), None);
    }
}
