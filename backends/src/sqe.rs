//! Submitting ringspec's SQEs through the io-uring crate, and the proposed
//! opcodes' configuration.
//!
//! The SQE itself, its layout, flags and builders are the model's
//! ([`model::sqe`], re-exported here): one pure-data type for the rule table,
//! the encoder, the fuzzer and the sweep. This module adds what needs the
//! io-uring crate ([`SqeEntry`]: an [`Sqe`] as the crate's `squeue::Entry` and
//! back, byte for byte) and the configured numbers of the proposed opcodes
//! ([`ProposedOpcodes`]). A unit test proves the builders byte-identical to the
//! crate's for every opcode both know that ringspec uses.

use io_uring::squeue;

pub use model::sqe::{flags, DevField, FdOperand, Field, Sqe, SPLICE_F_FD_IN_FIXED};

// The crate's entry is the kernel's 64-byte struct too (ours: model::sqe).
const _: () = assert!(std::mem::size_of::<squeue::Entry>() == 64);
const _: () = assert!(std::mem::size_of::<squeue::Entry>() == std::mem::size_of::<Sqe>());
const _: () = assert!(std::mem::align_of::<squeue::Entry>() <= 8);

/// IORING_OP_* numbers (the model's opcode table, include/uapi/linux/io_uring.h).
pub use model::opcode::op;
pub use model::opcode::{Proposed, ProposedNumbers};

/// An [`Sqe`] as the io-uring crate's submission queue entry, and back.
pub trait SqeEntry {
    /// The io-uring crate's entry with exactly these bytes, for pushing onto the
    /// submission queue.
    fn to_entry(&self) -> squeue::Entry;
    /// The bytes of an entry built by the io-uring crate, as an [`Sqe`].
    fn from_entry(e: &squeue::Entry) -> Self;
}

impl SqeEntry for Sqe {
    fn to_entry(&self) -> squeue::Entry {
        // SAFETY: squeue::Entry is a repr(C) wrapper of the kernel's 64-byte
        // io_uring_sqe (sizes checked at compile time above), a struct of integer
        // unions for which every bit pattern is valid.
        unsafe { std::mem::transmute::<[u8; 64], squeue::Entry>(self.as_bytes()) }
    }

    fn from_entry(e: &squeue::Entry) -> Sqe {
        // SAFETY: as in `to_entry`: 64 bytes of plain integers, no padding.
        let b = unsafe { std::mem::transmute::<squeue::Entry, [u8; 64]>(e.clone()) };
        Sqe::from_bytes(&b)
    }
}

pub use crate::proposed::{ProposedOpcodes, PROPOSED_ENV};

#[cfg(test)]
mod tests {
    use super::*;
    use io_uring::{opcode, types};
    use std::os::fd::RawFd;

    fn bytes(e: squeue::Entry) -> [u8; 64] {
        Sqe::from_entry(&e).as_bytes()
    }

    /// Asserts byte identity and names the first differing field if not.
    fn same(name: &str, ours: Sqe, theirs: squeue::Entry) {
        let t = Sqe::from_entry(&theirs);
        assert_eq!(
            ours.as_bytes(),
            bytes(theirs),
            "{name}: ours {ours} vs crate {t}"
        );
    }

    /// Plain descriptors (valid, -1, never open) and registered-file indices.
    const OPERANDS: [FdOperand; 6] = [
        FdOperand::Plain(3),
        FdOperand::Plain(-1),
        FdOperand::Plain(1_000_000),
        FdOperand::Fixed(0),
        FdOperand::Fixed(7),
        FdOperand::Fixed(u32::MAX),
    ];

    /// Evaluates `$build` with `$t` bound to the crate's operand type for `$o`
    /// (`types::Fd` or `types::Fixed`, two different types).
    macro_rules! target {
        ($o:expr, |$t:ident| $build:expr) => {
            match $o {
                FdOperand::Plain(fd) => {
                    let $t = types::Fd(fd);
                    $build
                }
                FdOperand::Fixed(i) => {
                    let $t = types::Fixed(i);
                    $build
                }
            }
        };
    }

    #[test]
    fn layout_round_trips() {
        let s = Sqe {
            opcode: 1,
            flags: 2,
            ioprio: 0x0304,
            fd: -5,
            off: 0x0102_0304_0506_0708,
            addr: 9,
            len: 10,
            op_flags: 11,
            user_data: 12,
            buf_index: 13,
            personality: 14,
            splice_fd_in: -15,
            addr3: 16,
            pad: 17,
        };
        assert_eq!(Sqe::from_bytes(&s.as_bytes()), s);
        assert_eq!(Sqe::from_entry(&s.to_entry()), s);
        // Field offsets of the kernel's struct io_uring_sqe.
        let b = s.as_bytes();
        assert_eq!(b[0], 1);
        assert_eq!(b[1], 2);
        assert_eq!(i32::from_ne_bytes(b[4..8].try_into().unwrap()), -5);
        assert_eq!(u32::from_ne_bytes(b[24..28].try_into().unwrap()), 10);
        assert_eq!(u64::from_ne_bytes(b[32..40].try_into().unwrap()), 12);
        assert_eq!(i32::from_ne_bytes(b[44..48].try_into().unwrap()), -15);
        assert_eq!(u64::from_ne_bytes(b[56..64].try_into().unwrap()), 17);
        // Our opcode numbers are the crate's.
        for (ours, theirs) in [
            (op::NOP, opcode::Nop::CODE),
            (op::FSYNC, opcode::Fsync::CODE),
            (op::FALLOCATE, opcode::Fallocate::CODE),
            (op::OPENAT, opcode::OpenAt::CODE),
            (op::CLOSE, opcode::Close::CODE),
            (op::STATX, opcode::Statx::CODE),
            (op::READ, opcode::Read::CODE),
            (op::WRITE, opcode::Write::CODE),
            (op::FADVISE, opcode::Fadvise::CODE),
            (op::SPLICE, opcode::Splice::CODE),
            (op::ASYNC_CANCEL, opcode::AsyncCancel::CODE),
            (op::TEE, opcode::Tee::CODE),
            (op::RENAMEAT, opcode::RenameAt::CODE),
            (op::UNLINKAT, opcode::UnlinkAt::CODE),
            (op::MKDIRAT, opcode::MkDirAt::CODE),
            (op::SYMLINKAT, opcode::SymlinkAt::CODE),
            (op::LINKAT, opcode::LinkAt::CODE),
            (op::FTRUNCATE, opcode::Ftruncate::CODE),
            (op::PIPE, opcode::Pipe::CODE),
        ] {
            assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn encoder_is_byte_identical_to_the_crate() {
        let p = 0x7fff_1234_5678u64;
        let q = 0x7fff_8765_4320u64;
        let offs = [0u64, 4096, u64::MAX, (-2i64) as u64, i64::MAX as u64];
        same("nop", Sqe::nop(), opcode::Nop::new().build());
        same(
            "async_cancel",
            Sqe::async_cancel(42),
            opcode::AsyncCancel::new(42).build(),
        );
        for ours in OPERANDS {
            for &off in &offs {
                for len in [0u32, 1, 5, u32::MAX] {
                    same(
                        "read",
                        Sqe::read(ours, p, len, off),
                        target!(ours, |t| opcode::Read::new(t, p as *mut u8, len)
                            .offset(off)
                            .build()),
                    );
                    same(
                        "write",
                        Sqe::write(ours, p, len, off),
                        target!(ours, |t| opcode::Write::new(t, p as *const u8, len)
                            .offset(off)
                            .build()),
                    );
                }
                for mode in [0i32, 1, 3, 0x7f, -1] {
                    same(
                        "fallocate",
                        Sqe::fallocate(ours, off, off ^ 0x55, mode),
                        target!(ours, |t| opcode::Fallocate::new(t, off ^ 0x55)
                            .offset(off)
                            .mode(mode)
                            .build()),
                    );
                }
                for advice in [0, 3, 5, 99, -1] {
                    for len in [0i64, 10, 1 << 20] {
                        same(
                            "fadvise",
                            Sqe::fadvise(ours, off, len as u32, advice),
                            target!(ours, |t| opcode::Fadvise::new(t, len, advice)
                                .offset(off)
                                .build()),
                        );
                    }
                }
                same(
                    "ftruncate",
                    Sqe::ftruncate(ours, off),
                    target!(ours, |t| opcode::Ftruncate::new(t, off).build()),
                );
            }
            for datasync in [false, true] {
                let fl = if datasync {
                    types::FsyncFlags::DATASYNC
                } else {
                    types::FsyncFlags::empty()
                };
                same(
                    "fsync",
                    Sqe::fsync(ours, datasync),
                    target!(ours, |t| opcode::Fsync::new(t).flags(fl).build()),
                );
            }
            // (The crate's Close computes index + 1 with overflow checks.)
            if ours != FdOperand::Fixed(u32::MAX) {
                same(
                    "close",
                    Sqe::close(ours),
                    target!(ours, |t| opcode::Close::new(t).build()),
                );
            }
            // splice/tee: every combination of plain/fixed input and output.
            for ours_in in OPERANDS {
                for (off_in, off_out) in [(-1i64, -1i64), (0, 5), (7, -1), (-2, i64::MAX)] {
                    for (len, flags) in [(0u32, 0u32), (10, 2), (u32::MAX, 0xf), (1, 0x10)] {
                        let theirs = target!(ours_in, |i| target!(ours, |o| {
                            opcode::Splice::new(i, off_in, o, off_out, len)
                                .flags(flags)
                                .build()
                        }));
                        same(
                            "splice",
                            Sqe::splice(ours_in, off_in, ours, off_out, len, flags),
                            theirs,
                        );
                        let theirs = target!(ours_in, |i| target!(ours, |o| {
                            opcode::Tee::new(i, o, len).flags(flags).build()
                        }));
                        same("tee", Sqe::tee(ours_in, ours, len, flags), theirs);
                    }
                }
            }
        }
        // Path ops: dirfds are plain descriptors (the crate's UseFd).
        for (dir, newdir) in [(3, 4), (-1, 1_000_000), (-100, 5)] {
            for flags in [
                0i32,
                libc::O_CREAT | libc::O_EXCL,
                libc::O_RDWR | libc::O_CLOEXEC,
            ] {
                for mode in [0u32, 0o644, 0o7777] {
                    same(
                        "openat",
                        Sqe::openat(dir, p, flags, mode),
                        opcode::OpenAt::new(types::Fd(dir), p as *const libc::c_char)
                            .flags(flags)
                            .mode(mode)
                            .build(),
                    );
                    same(
                        "mkdirat",
                        Sqe::mkdirat(dir, p, mode),
                        opcode::MkDirAt::new(types::Fd(dir), p as *const libc::c_char)
                            .mode(mode)
                            .build(),
                    );
                }
            }
            for (flags, mask) in [
                (0, libc::STATX_BASIC_STATS),
                (libc::AT_EMPTY_PATH, libc::STATX_BASIC_STATS),
                (libc::AT_SYMLINK_NOFOLLOW, 0xfff),
            ] {
                same(
                    "statx",
                    Sqe::statx(dir, p, flags, mask, q),
                    opcode::Statx::new(
                        types::Fd(dir),
                        p as *const libc::c_char,
                        q as *mut types::statx,
                    )
                    .flags(flags)
                    .mask(mask)
                    .build(),
                );
            }
            for flags in [0u32, libc::RENAME_NOREPLACE, libc::RENAME_EXCHANGE, 7] {
                same(
                    "renameat",
                    Sqe::renameat(dir, p, newdir, q, flags),
                    opcode::RenameAt::new(
                        types::Fd(dir),
                        p as *const libc::c_char,
                        types::Fd(newdir),
                        q as *const libc::c_char,
                    )
                    .flags(flags)
                    .build(),
                );
            }
            for flags in [0, libc::AT_REMOVEDIR, 1] {
                same(
                    "unlinkat",
                    Sqe::unlinkat(dir, p, flags),
                    opcode::UnlinkAt::new(types::Fd(dir), p as *const libc::c_char)
                        .flags(flags)
                        .build(),
                );
                same(
                    "linkat",
                    Sqe::linkat(dir, p, newdir, q, flags),
                    opcode::LinkAt::new(
                        types::Fd(dir),
                        p as *const libc::c_char,
                        types::Fd(newdir),
                        q as *const libc::c_char,
                    )
                    .flags(flags)
                    .build(),
                );
            }
            same(
                "symlinkat",
                Sqe::symlinkat(dir, p, q),
                opcode::SymlinkAt::new(
                    types::Fd(dir),
                    p as *const libc::c_char,
                    q as *const libc::c_char,
                )
                .build(),
            );
        }
        for flags in [
            0u32,
            libc::O_CLOEXEC as u32,
            (libc::O_CLOEXEC | libc::O_NONBLOCK) as u32,
        ] {
            same(
                "pipe",
                Sqe::pipe(p, flags),
                opcode::Pipe::new(p as *mut RawFd).flags(flags).build(),
            );
        }
        // Flags and user_data set through the crate's Entry methods land where ours do.
        let mut ours = Sqe::read(FdOperand::Plain(3), p, 4, 0);
        ours.flags |= flags::IO_LINK | flags::ASYNC;
        ours.user_data = 0xdead_beef;
        same(
            "read+flags",
            ours,
            opcode::Read::new(types::Fd(3), p as *mut u8, 4)
                .build()
                .flags(squeue::Flags::IO_LINK | squeue::Flags::ASYNC)
                .user_data(0xdead_beef),
        );
    }

    #[test]
    fn proposed_encodings() {
        let c = Sqe::copy_file_range(70, FdOperand::Plain(3), -1, FdOperand::Plain(4), 8, 100, 0);
        assert_eq!(
            (
                c.opcode,
                c.fd,
                c.splice_fd_in,
                c.addr,
                c.off,
                c.len,
                c.op_flags
            ),
            (70, 4, 3, u64::MAX, 8, 100, 0)
        );
        let c = Sqe::copy_file_range(70, FdOperand::Fixed(1), 0, FdOperand::Fixed(2), -1, 1, 0);
        assert_eq!(
            (c.flags, c.fd, c.splice_fd_in, c.op_flags, c.off),
            (flags::FIXED_FILE, 2, 1, SPLICE_F_FD_IN_FIXED, u64::MAX)
        );
        let g = Sqe::getdents64(71, FdOperand::Plain(5), 0x1000, 4096);
        assert_eq!(
            (g.opcode, g.fd, g.addr, g.len, g.off),
            (71, 5, 0x1000, 4096, 0)
        );
        let dev = libc::makedev(1, 3);
        for (field, want) in [
            (DevField::Off, (dev, 0, 0)),
            (DevField::Addr3, (0, dev, 0)),
            (DevField::OpFlags, (0, 0, dev as u32)),
        ] {
            let m = Sqe::mknodat(72, -100, 0x2000, 0o020644, dev, field);
            assert_eq!(
                (m.opcode, m.fd, m.addr, m.len),
                (72, -100, 0x2000, 0o020644)
            );
            assert_eq!((m.off, m.addr3, m.op_flags), want);
        }
    }

    #[test]
    fn proposed_numbers_parse_and_collide() {
        let p = ProposedOpcodes::parse("copy_file_range=70, getdents64=71,mknodat=72").unwrap();
        assert_eq!(
            (
                p.number(Proposed::CopyFileRange),
                p.number(Proposed::Getdents64),
                p.number(Proposed::Mknodat),
                p.mknod_dev
            ),
            (Some(70), Some(71), Some(72), DevField::Off)
        );
        assert_eq!(
            ProposedOpcodes::parse("getdents=71,mknod=72").unwrap(),
            ProposedOpcodes::NONE
                .with(Proposed::Getdents64, 71)
                .with(Proposed::Mknodat, 72)
        );
        assert_eq!(
            ProposedOpcodes::parse("").unwrap(),
            ProposedOpcodes::default()
        );
        assert_eq!(
            ProposedOpcodes::parse("mknodat=90,mknod_dev=addr3")
                .unwrap()
                .mknod_dev,
            DevField::Addr3
        );
        for bad in [
            "copy_file_range",
            "x=1",
            "mknodat=300",
            "getdents64=-1",
            "mknod_dev=len",
        ] {
            assert!(ProposedOpcodes::parse(bad).is_err(), "{bad}");
        }
        let e = ProposedOpcodes::parse("copy_file_range=70,mknodat=70").unwrap_err();
        assert!(e.to_string().contains("both have number 70"), "{e}");
        // 6.18: last_op 62 (PIPE). 30 is SPLICE, 62 PIPE itself: both collide.
        for n in [30u8, 62] {
            let p = ProposedOpcodes::NONE.with(Proposed::Getdents64, n);
            let e = p.check_collisions(62).unwrap_err();
            assert!(
                e.to_string().contains("collides with a mainline opcode"),
                "{e}"
            );
            assert!(e.to_string().contains(&format!("getdents64={n}")), "{e}");
        }
        assert!(p.check_collisions(62).is_ok());
        assert!(ProposedOpcodes::default().check_collisions(255).is_ok());
    }
}
