//! copy_file_range, splice and tee. Check orders follow fs/read_write.c
//! (vfs_copy_file_range, generic_copy_file_checks) and fs/splice.c (the splice and
//! tee syscalls, __do_splice, do_splice, splice_pipe_to_pipe, link_pipe); the
//! io_uring opcodes enter at do_splice/do_tee after their own prep checks.

use crate::allowed::Allowed;
use crate::exec::{or_fail, Plan};
use crate::fs::{Desc, Fs, Kind};
use crate::op::{FdRef, Off};
use crate::outcome::Errno;
use crate::pipe::{Pipe, PAGE};
use crate::profile::Interface;

use crate::limits::{ENOSPC_THRESHOLD, MAX_RW_COUNT};

use crate::pipe::STALE;

/// SPLICE_F_MOVE | NONBLOCK | MORE | GIFT.
const SPLICE_F_ALL: u32 = 0x0f;
const SPLICE_F_NONBLOCK: u32 = 0x02;
/// io_uring's SPLICE_F_FD_IN_FIXED, accepted by the opcode's prep.
const SPLICE_F_FD_IN_FIXED: u32 = 1 << 31;

/// Which side of a transfer is advanced and how.
#[derive(Clone, Copy)]
enum Advance {
    /// The file position of the description in this fd.
    Pos(FdRef),
    /// An explicit offset (only reported back, never stored).
    Explicit,
}

impl Advance {
    fn apply(self, fs: &mut Fs, n: i64) {
        if let Advance::Pos(fd) = self {
            if let Some(d) = fs.desc_mut(fd) {
                d.pos += n;
            }
        }
    }
}

/// The success set of a transfer that may be short: a count in `min..=max`, with
/// the written-back explicit offsets (syscall interface only).
fn transfer(fs: &Fs, min: i64, max: i64, off_in: Off, off_out: Off, why: &'static str) -> Allowed {
    let offsets = match fs.interface.get() {
        Interface::Syscall => Some((explicit(off_in), explicit(off_out))),
        Interface::Uring => None,
    };
    Allowed::Transfer {
        min,
        max,
        offsets,
        why,
    }
}

fn explicit(o: Off) -> Option<i64> {
    match o {
        Off::At(v) => Some(v),
        Off::Pos => None,
    }
}

impl Fs {
    fn pipe_of(&self, d: &Desc) -> Option<&Pipe> {
        match &self.inodes[d.ino].kind {
            Kind::Fifo(p) => Some(p),
            _ => None,
        }
    }

    /// The offset an op uses on a seekable side. Through io_uring an explicit -1
    /// means "the file position".
    fn side_pos(&self, d: &Desc, off: Off) -> (i64, bool) {
        match off {
            Off::At(-1) if self.uring() => (d.pos, true),
            Off::At(v) => (v, false),
            Off::Pos => (d.pos, true),
        }
    }

    pub(crate) fn plan_copy_file_range(
        &self,
        fd_in: FdRef,
        off_in: Off,
        fd_out: FdRef,
        off_out: Off,
        len: u64,
        flags: u32,
    ) -> Plan {
        // Through IORING_OP_COPY_FILE_RANGE the flags word also carries
        // SPLICE_F_FD_IN_FIXED: fd_in is then a registered-file index. Only the
        // fixed-files mode has the operand registered there (the same copy as
        // without the bit); elsewhere the lookup fails with EBADF.
        if self.uring() && flags == SPLICE_F_FD_IN_FIXED {
            let mut p = self.plan_copy_file_range(fd_in, off_in, fd_out, off_out, len, 0);
            p.allowed = p.allowed.or(Allowed::err(Errno::EBADF));
            return p;
        }
        // IORING_OP_COPY_FILE_RANGE (kernel/patches/0001) checks the flags word
        // at prep, before any file is looked up, and reads a 32-bit length.
        let len = if self.uring() {
            if flags & !SPLICE_F_FD_IN_FIXED != 0 {
                return Plan::fail(Errno::EINVAL);
            }
            crate::op::sqe_len32(len) as u64
        } else {
            len
        };
        let din = or_fail!(self.desc(fd_in));
        let dout = or_fail!(self.desc(fd_out));
        if !self.uring() && flags != 0 {
            return Plan::fail(Errno::EINVAL);
        }
        let (iin, iout) = (&self.inodes[din.ino], &self.inodes[dout.ino]);
        if iin.is_dir() || iout.is_dir() {
            return Plan::fail(Errno::EISDIR);
        }
        let (Kind::File(fin), Kind::File(_)) = (&iin.kind, &iout.kind) else {
            return Plan::fail(Errno::EINVAL);
        };
        if !din.readable || !dout.writable || dout.append {
            return Plan::fail(Errno::EBADF);
        }
        if iin.sb != iout.sb {
            return Plan::fail(Errno::EXDEV);
        }
        let (pos_in, in_uses_pos) = self.side_pos(din, off_in);
        let (pos_out, out_uses_pos) = self.side_pos(dout, off_out);
        // "Ensure offsets don't wrap": pos + count < pos, computed unsigned.
        let wraps = |p: i64| (p as u64).wrapping_add(len) < p as u64;
        if wraps(pos_in) || wraps(pos_out) {
            return Plan::fail(Errno::EOVERFLOW);
        }
        let size_in = fin.size as i64;
        let mut count = if pos_in >= size_in {
            0
        } else {
            len.min((size_in as u64).wrapping_sub(pos_in as u64))
        };
        // generic_write_check_limits: RLIMIT_FSIZE, then s_maxbytes; EFBIG
        // even for a count of 0, except where a stable series dropped that.
        let max = self.write_limit();
        if pos_out >= max {
            match (count, self.profile.cfr_limits_apply_to_empty_copy()) {
                (0, Some(false)) => {}
                (0, None) => {
                    return Plan::pure(Allowed::Unspecified(
                        "6.12.101..=6.12.116: an empty copy past the write limit gives 0 or EFBIG",
                    ))
                }
                _ => return Plan::fail(Errno::EFBIG),
            }
        }
        count = count.min((max as u64).wrapping_sub(pos_out as u64));
        if din.ino == dout.ino {
            let (a, b, c) = (pos_in as i128, pos_out as i128, count as i128);
            if b + c > a && b < a + c {
                return Plan::fail(Errno::EINVAL);
            }
        }
        // rw_verify_area on both sides with the shortened count.
        if pos_in < 0 || pos_out < 0 {
            return Plan::fail(Errno::EINVAL);
        }
        if count == 0 {
            return Plan::pure(transfer(self, 0, 0, off_in, off_out, "empty copy"));
        }
        let count = count.min(MAX_RW_COUNT);
        let runs = fin.runs_in(pos_in as u64, count);
        let zeros_written = !self.profile.fs.copies_by_reflink();
        let ino_out = dout.ino;
        let adv_in = if in_uses_pos {
            Advance::Pos(fd_in)
        } else {
            Advance::Explicit
        };
        let adv_out = if out_uses_pos {
            Advance::Pos(fd_out)
        } else {
            Advance::Explicit
        };
        let mut allowed = transfer(
            self,
            1,
            count as i64,
            off_in,
            off_out,
            "copy_file_range may copy less than asked",
        );
        if count > ENOSPC_THRESHOLD {
            allowed = allowed.or(Allowed::err(Errno::ENOSPC));
        }
        Plan::with(allowed, move |fs, o| {
            let n = o.value().expect("ok");
            fs.file_changed(ino_out);
            if let Kind::File(f) = &mut fs.inodes[ino_out].kind {
                f.copy_in(pos_out as u64, n as u64, &runs, zeros_written);
            }
            adv_in.apply(fs, n);
            adv_out.apply(fs, n);
        })
    }

    pub(crate) fn plan_splice(
        &self,
        fd_in: FdRef,
        off_in: Off,
        fd_out: FdRef,
        off_out: Off,
        len: u64,
        flags: u32,
    ) -> Plan {
        let uring = self.uring();
        // IORING_OP_SPLICE's length is the SQE's 32-bit len.
        let len = if uring {
            crate::op::sqe_len32(len) as u64
        } else {
            len
        };
        if !uring && len == 0 {
            return Plan::pure(transfer(self, 0, 0, off_in, off_out, "len 0"));
        }
        let valid = if uring {
            SPLICE_F_ALL | SPLICE_F_FD_IN_FIXED
        } else {
            SPLICE_F_ALL
        };
        if flags & !valid != 0 {
            return Plan::fail(Errno::EINVAL);
        }
        let din = or_fail!(self.desc(fd_in));
        let dout = or_fail!(self.desc(fd_out));
        // io_splice: a zero length completes right after the fd lookups.
        if uring && len == 0 {
            return Plan::pure(transfer(self, 0, 0, off_in, off_out, "len 0"));
        }
        let ipipe = self.pipe_of(din);
        let opipe = self.pipe_of(dout);
        // Through io_uring, -1 means "no offset"; other values are explicit.
        let given = |o: Off| match o {
            Off::Pos => false,
            Off::At(-1) => !uring,
            Off::At(_) => true,
        };
        // __do_splice (syscall only): offsets on pipe sides first.
        if !uring && ((ipipe.is_some() && given(off_in)) || (opipe.is_some() && given(off_out))) {
            return Plan::fail(Errno::ESPIPE);
        }
        // do_splice
        if !din.readable || !dout.writable {
            return Plan::fail(Errno::EBADF);
        }
        let nonblock_flag = flags & SPLICE_F_NONBLOCK != 0;
        match (ipipe, opipe) {
            (Some(ip), Some(op)) => {
                if given(off_in) || given(off_out) {
                    return Plan::fail(Errno::ESPIPE);
                }
                if din.ino == dout.ino {
                    return Plan::fail(Errno::EINVAL);
                }
                let nonblock = nonblock_flag || din.nonblock || dout.nonblock;
                self.plan_pipe_to_pipe(din.ino, ip, dout.ino, op, len, nonblock, false)
            }
            (Some(ip), None) => {
                if given(off_in) {
                    return Plan::fail(Errno::ESPIPE);
                }
                let (pos, uses_pos) = self.side_pos(dout, off_out);
                if dout.append {
                    return Plan::fail(Errno::EINVAL);
                }
                if pos < 0
                    || (pos as u64)
                        .checked_add(len)
                        .is_none_or(|e| e > i64::MAX as u64)
                {
                    return Plan::fail(Errno::EINVAL);
                }
                let Kind::File(_) = &self.inodes[dout.ino].kind else {
                    return Plan::fail(Errno::EINVAL);
                };
                let nonblock = nonblock_flag || din.nonblock;
                if ip.is_empty() {
                    return if ip.writers == 0 {
                        Plan::pure(transfer(self, 0, 0, off_in, off_out, "no writers"))
                    } else if nonblock {
                        Plan::fail(Errno::EAGAIN)
                    } else {
                        Plan::pure(Allowed::Blocks)
                    };
                }
                let n = (ip.len() as u64).min(len.min(MAX_RW_COUNT));
                let aliased = ip.bufs.iter().any(|b| b.source == Some(dout.ino));
                if aliased || ip.front_is_stale(n as usize) {
                    return Plan::pure(Allowed::Unmodelled(STALE));
                }
                let max = self.write_limit();
                if pos >= max {
                    return Plan::fail(Errno::EFBIG);
                }
                let n = n.min((max - pos) as u64) as i64;
                let (iin, iout) = (din.ino, dout.ino);
                let adv = if uses_pos {
                    Advance::Pos(fd_out)
                } else {
                    Advance::Explicit
                };
                Plan::with(
                    transfer(self, n, n, off_in, off_out, "pipe to file"),
                    move |fs, _| {
                        let bytes = match &mut fs.inodes[iin].kind {
                            Kind::Fifo(p) => p.read(n as usize),
                            _ => unreachable!(),
                        };
                        fs.file_changed(iout);
                        if let Kind::File(f) = &mut fs.inodes[iout].kind {
                            f.write(pos as u64, &bytes);
                        }
                        adv.apply(fs, n);
                    },
                )
            }
            (None, Some(op)) => {
                if given(off_out) {
                    return Plan::fail(Errno::ESPIPE);
                }
                let (pos, uses_pos) = self.side_pos(din, off_in);
                // A directory's position may be a cookie known only as a range
                // (after getdents64 reached the end: ext4 LLONG_MAX).
                let (lo, hi) = if uses_pos && self.inodes[din.ino].is_dir() {
                    self.dir_pos_span(din)
                } else {
                    (pos, pos)
                };
                let overflows = |p: i64| {
                    p < 0
                        || (p as u64)
                            .checked_add(len)
                            .is_none_or(|e| e > i64::MAX as u64)
                };
                if overflows(lo) && overflows(hi) {
                    return Plan::fail(Errno::EINVAL);
                }
                if overflows(hi) {
                    // Either EINVAL or what the checks after it give; an op
                    // that could block is not run.
                    // Only a directory gets here: no ->splice_read.
                    let nonblock = nonblock_flag || dout.nonblock;
                    let rest = if op.readers == 0 && op.lazy_release {
                        return Plan::pure(Allowed::Unmodelled(crate::pipe::LAZY_RELEASE));
                    } else if op.readers == 0 {
                        Errno::EPIPE
                    } else if op.is_full() && !nonblock {
                        return Plan::pure(Allowed::Blocks);
                    } else if op.is_full() {
                        Errno::EAGAIN
                    } else {
                        Errno::EINVAL
                    };
                    return Plan::pure(Allowed::err(rest).or(Allowed::err(Errno::EINVAL)));
                }
                let nonblock = nonblock_flag || dout.nonblock;
                // wait_for_space
                if op.readers == 0 && op.lazy_release {
                    return Plan::pure(Allowed::Unmodelled(crate::pipe::LAZY_RELEASE));
                }
                if op.readers == 0 {
                    return Plan::fail(Errno::EPIPE);
                }
                if op.is_full() {
                    return if nonblock {
                        Plan::fail(Errno::EAGAIN)
                    } else {
                        Plan::pure(Allowed::Blocks)
                    };
                }
                if len == 0 {
                    return Plan::pure(transfer(self, 0, 0, off_in, off_out, "len 0"));
                }
                let Kind::File(f) = &self.inodes[din.ino].kind else {
                    // Directories (and anything else) have no ->splice_read.
                    return Plan::fail(Errno::EINVAL);
                };
                let want = len.min((op.free_slots() * PAGE) as u64).min(MAX_RW_COUNT);
                let avail = f.size.saturating_sub(pos as u64).min(want);
                let n = op.splice_in_capacity(pos as u64, avail) as i64;
                let data = f.read(pos as u64, n as u64);
                let (src, iout) = (din.ino, dout.ino);
                let adv = if uses_pos {
                    Advance::Pos(fd_in)
                } else {
                    Advance::Explicit
                };
                Plan::with(
                    transfer(self, n, n, off_in, off_out, "file to pipe"),
                    move |fs, _| {
                        if let Kind::Fifo(p) = &mut fs.inodes[iout].kind {
                            p.splice_in(src, pos as u64, &data);
                        }
                        adv.apply(fs, n);
                    },
                )
            }
            (None, None) => Plan::fail(Errno::EINVAL),
        }
    }

    /// splice_pipe_to_pipe (`tee = false`) and link_pipe (`tee = true`), after
    /// ipipe_prep and opipe_prep.
    #[allow(clippy::too_many_arguments)]
    fn plan_pipe_to_pipe(
        &self,
        iino: usize,
        ip: &Pipe,
        oino: usize,
        op: &Pipe,
        len: u64,
        nonblock: bool,
        tee: bool,
    ) -> Plan {
        if ip.is_empty() && ip.writers > 0 {
            return if nonblock {
                Plan::fail(Errno::EAGAIN)
            } else {
                Plan::pure(Allowed::Blocks)
            };
        }
        if op.is_full() && op.readers > 0 {
            return if nonblock {
                Plan::fail(Errno::EAGAIN)
            } else {
                Plan::pure(Allowed::Blocks)
            };
        }
        if op.readers == 0 && op.lazy_release {
            return Plan::pure(Allowed::Unmodelled(crate::pipe::LAZY_RELEASE));
        }
        if op.readers == 0 {
            return Plan::fail(Errno::EPIPE);
        }
        let done = |n: usize| {
            if tee {
                Allowed::ok(n as i64)
            } else {
                transfer(self, n as i64, n as i64, Off::Pos, Off::Pos, "pipe to pipe")
            }
        };
        if ip.is_empty() {
            return Plan::pure(done(0));
        }
        if !tee && ip.bufs.iter().any(|b| b.stale) {
            return Plan::pure(Allowed::Unmodelled(STALE));
        }
        let len = len.min(MAX_RW_COUNT) as usize;
        let (mut i2, mut o2) = (ip.clone(), op.clone());
        let n = if tee {
            i2.tee_to(&mut o2, len)
        } else {
            i2.move_to(&mut o2, len)
        };
        let ok = done(n);
        Plan::with(ok, move |fs, _| {
            if let Kind::Fifo(p) = &mut fs.inodes[iino].kind {
                *p = Pipe {
                    readers: p.readers,
                    writers: p.writers,
                    ..i2
                };
            }
            if let Kind::Fifo(p) = &mut fs.inodes[oino].kind {
                *p = Pipe {
                    readers: p.readers,
                    writers: p.writers,
                    ..o2
                };
            }
        })
    }

    pub(crate) fn plan_tee(&self, fd_in: FdRef, fd_out: FdRef, len: u64, flags: u32) -> Plan {
        let uring = self.uring();
        // IORING_OP_TEE's length is the SQE's 32-bit len.
        let len = if uring {
            crate::op::sqe_len32(len) as u64
        } else {
            len
        };
        let valid = if uring {
            SPLICE_F_ALL | SPLICE_F_FD_IN_FIXED
        } else {
            SPLICE_F_ALL
        };
        if flags & !valid != 0 {
            return Plan::fail(Errno::EINVAL);
        }
        if !uring && len == 0 {
            return Plan::pure(Allowed::ok(0));
        }
        let din = or_fail!(self.desc(fd_in));
        let dout = or_fail!(self.desc(fd_out));
        // io_tee: a zero length completes right after the fd lookups.
        if uring && len == 0 {
            return Plan::pure(Allowed::ok(0));
        }
        if !din.readable || !dout.writable {
            return Plan::fail(Errno::EBADF);
        }
        match (self.pipe_of(din), self.pipe_of(dout)) {
            (Some(ip), Some(op)) if din.ino != dout.ino => {
                let nonblock = flags & SPLICE_F_NONBLOCK != 0 || din.nonblock || dout.nonblock;
                self.plan_pipe_to_pipe(din.ino, ip, dout.ino, op, len, nonblock, true)
            }
            _ => Plan::fail(Errno::EINVAL),
        }
    }
}
