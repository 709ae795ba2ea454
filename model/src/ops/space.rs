//! fallocate and posix_fadvise. Check orders follow fs/open.c (vfs_fallocate, the
//! 6.12+ mode switch) and mm/fadvise.c (generic_fadvise).

use crate::allowed::Allowed;
use crate::exec::{or_fail, Plan};
use crate::fs::{Fs, Kind};
use crate::op::{Advice, FallocFlag, FdRef};
use crate::outcome::Errno;

use crate::op::falloc::{
    COLLAPSE_RANGE, INSERT_RANGE, KEEP_SIZE, NO_HIDE_STALE, PUNCH_HOLE, UNSHARE_RANGE,
    WRITE_ZEROES, ZERO_RANGE,
};
/// FALLOC_FL_MODE_MASK (6.17+ with WRITE_ZEROES).
const MODE_MASK: u32 =
    PUNCH_HOLE | COLLAPSE_RANGE | ZERO_RANGE | INSERT_RANGE | UNSHARE_RANGE | WRITE_ZEROES;

pub(crate) use crate::limits::ENOSPC_THRESHOLD;

/// The raw fallocate mode word of a flag list.
pub fn falloc_mode(flags: &[FallocFlag]) -> u32 {
    flags.iter().fold(0, |m, f| {
        m | match f {
            FallocFlag::KeepSize => KEEP_SIZE,
            FallocFlag::PunchHole => PUNCH_HOLE,
            FallocFlag::NoHideStale => NO_HIDE_STALE,
            FallocFlag::CollapseRange => COLLAPSE_RANGE,
            FallocFlag::ZeroRange => ZERO_RANGE,
            FallocFlag::InsertRange => INSERT_RANGE,
            FallocFlag::UnshareRange => UNSHARE_RANGE,
            FallocFlag::WriteZeroes => WRITE_ZEROES,
            FallocFlag::Raw(n) => *n,
        }
    })
}

/// The POSIX_FADV_* number of an advice.
pub fn advice_number(a: Advice) -> i32 {
    match a {
        Advice::Normal => 0,
        Advice::Random => 1,
        Advice::Sequential => 2,
        Advice::Willneed => 3,
        Advice::Dontneed => 4,
        Advice::Noreuse => 5,
        Advice::Raw(n) => n,
    }
}

impl Fs {
    pub(crate) fn plan_fallocate(
        &self,
        fd: FdRef,
        flags: &[FallocFlag],
        offset: i64,
        len: i64,
    ) -> Plan {
        let mode = falloc_mode(flags);
        let d = or_fail!(self.desc(fd));
        if offset < 0 || len <= 0 {
            return Plan::fail(Errno::EINVAL);
        }
        let known = if self.profile.has_falloc_write_zeroes() {
            MODE_MASK | KEEP_SIZE
        } else {
            (MODE_MASK | KEEP_SIZE) & !WRITE_ZEROES
        };
        if mode & !known != 0 {
            return Plan::fail(Errno::EOPNOTSUPP);
        }
        if !self.profile.kernel_at_least(6, 12) {
            // The checks before 6.12 (one per flag, in this order).
            let only = |flag: u32, with: u32| mode & flag != 0 && mode & !(flag | with) != 0;
            if mode & (PUNCH_HOLE | ZERO_RANGE) == PUNCH_HOLE | ZERO_RANGE
                || (mode & PUNCH_HOLE != 0 && mode & KEEP_SIZE == 0)
            {
                return Plan::fail(Errno::EOPNOTSUPP);
            }
            if only(COLLAPSE_RANGE, 0) || only(INSERT_RANGE, 0) || only(UNSHARE_RANGE, KEEP_SIZE) {
                return Plan::fail(Errno::EINVAL);
            }
        }
        // Since 6.12 the modes are exclusive by a switch: EOPNOTSUPP.
        let exclusive = Errno::EOPNOTSUPP;
        match mode & MODE_MASK {
            0 | UNSHARE_RANGE | ZERO_RANGE => {}
            PUNCH_HOLE if mode & KEEP_SIZE == 0 => return Plan::fail(Errno::EOPNOTSUPP),
            PUNCH_HOLE => {}
            COLLAPSE_RANGE | INSERT_RANGE | WRITE_ZEROES if mode & KEEP_SIZE != 0 => {
                return Plan::fail(exclusive)
            }
            COLLAPSE_RANGE | INSERT_RANGE | WRITE_ZEROES => {}
            _ => return Plan::fail(exclusive),
        }
        if !d.writable {
            return Plan::fail(Errno::EBADF);
        }
        let f = match &self.inodes[d.ino].kind {
            Kind::Fifo(_) => return Plan::fail(Errno::ESPIPE),
            Kind::Dir { .. } => return Plan::fail(Errno::EISDIR),
            Kind::File(f) => f,
            _ => return Plan::fail(Errno::ENODEV),
        };
        let end = match offset.checked_add(len) {
            Some(e) if e <= self.profile.fs.max_file_size => e,
            _ => return Plan::fail(Errno::EFBIG),
        };
        if !self.profile.fs.fallocate_supports(mode) {
            return Plan::fail(Errno::EOPNOTSUPP);
        }
        let ino = d.ino;
        let fsize_checked = self.profile.fs.fallocate_checks_fsize_limit(mode);
        if fsize_checked
            && mode & MODE_MASK != INSERT_RANGE
            && self.grows_past_fsize_limit(ino, end as u64)
        {
            return Plan::fail(Errno::EFBIG);
        }
        let (off, n) = (offset as u64, len as u64);
        match mode & MODE_MASK {
            PUNCH_HOLE => {
                // ext4_punch_hole extends a range that reaches EOF to the end
                // of the page holding it, so that block may be freed too
                // (tmpfs keeps its partial page).
                let to_eof_block = self.profile.fs.kind != crate::profile::FsKind::Tmpfs;
                Plan::with(Allowed::ok(0), move |fs, _| {
                    fs.file_changed(ino);
                    if let Kind::File(f) = &mut fs.inodes[ino].kind {
                        f.punch(off, n);
                        if to_eof_block {
                            f.punched_eof_block_may_go(off, n);
                        }
                    }
                })
            }
            0 => {
                let keep = mode & KEEP_SIZE != 0;
                let mut allowed = Allowed::ok(0);
                if n > ENOSPC_THRESHOLD {
                    allowed = allowed.or(Allowed::err(Errno::ENOSPC));
                }
                let size = f.size;
                let tmpfs = self.profile.fs.kind == crate::profile::FsKind::Tmpfs;
                Plan::with(allowed, move |fs, _| {
                    fs.file_changed(ino);
                    if let Kind::File(f) = &mut fs.inodes[ino].kind {
                        f.before_grow(off - off % f.block_size);
                        f.allocate(off, n, tmpfs);
                        if !keep && end as u64 > size {
                            f.size = end as u64;
                        }
                    }
                })
            }
            ZERO_RANGE | UNSHARE_RANGE | WRITE_ZEROES => {
                let op = mode & MODE_MASK;
                let keep = mode & KEEP_SIZE != 0;
                let size = f.size;
                let mut allowed = Allowed::ok(0);
                if n > ENOSPC_THRESHOLD {
                    allowed = allowed.or(Allowed::err(Errno::ENOSPC));
                }
                // ext4 offers WRITE_ZEROES only where the block device can
                // write zeroes by unmapping; the model does not know the device.
                if op == WRITE_ZEROES {
                    allowed = allowed.or(Allowed::err(Errno::EOPNOTSUPP));
                }
                Plan::with(allowed, move |fs, _| {
                    fs.file_changed(ino);
                    if let Kind::File(f) = &mut fs.inodes[ino].kind {
                        f.before_grow(off - off % f.block_size);
                        match op {
                            ZERO_RANGE => f.zero_range(off, n, false),
                            WRITE_ZEROES => f.zero_range(off, n, true),
                            _ => f.allocate(off, n, false),
                        }
                        if !keep && end as u64 > size {
                            f.size = end as u64;
                        }
                    }
                })
            }
            // COLLAPSE_RANGE and INSERT_RANGE (ext4_collapse_range,
            // xfs_falloc_collapse_range and their insert twins): block
            // alignment first, then the size rules.
            op => {
                let bs = self.profile.fs.block_size;
                if off % bs != 0 || n % bs != 0 {
                    return Plan::fail(Errno::EINVAL);
                }
                let size = f.size;
                let max = self.profile.fs.max_file_size as u64;
                if op == COLLAPSE_RANGE {
                    if end as u64 >= size {
                        return Plan::fail(Errno::EINVAL);
                    }
                } else {
                    if n > max - size {
                        return Plan::fail(Errno::EFBIG);
                    }
                    if off >= size {
                        return Plan::fail(Errno::EINVAL);
                    }
                    if fsize_checked && self.grows_past_fsize_limit(ino, size + n) {
                        return Plan::fail(Errno::EFBIG);
                    }
                }
                Plan::with(Allowed::ok(0), move |fs, _| {
                    fs.file_changed(ino);
                    if let Kind::File(f) = &mut fs.inodes[ino].kind {
                        if op == COLLAPSE_RANGE {
                            f.collapse(off, n);
                        } else {
                            f.insert(off, n);
                        }
                    }
                })
            }
        }
    }

    pub(crate) fn plan_fadvise(&self, fd: FdRef, _offset: i64, len: i64, advice: Advice) -> Plan {
        let d = or_fail!(self.desc(fd));
        if matches!(self.inodes[d.ino].kind, Kind::Fifo(_)) {
            return Plan::fail(Errno::ESPIPE);
        }
        // IORING_OP_FADVISE before 6.11 carries only a 32-bit length.
        let len = if self.uring() && !self.profile.uring_fadvise_len64() {
            len as u32 as i64
        } else {
            len
        };
        if len < 0 {
            return Plan::fail(Errno::EINVAL);
        }
        if !(0..=5).contains(&advice_number(advice)) {
            return Plan::fail(Errno::EINVAL);
        }
        Plan::pure(Allowed::ok(0))
    }
}

#[cfg(test)]
mod tests {
    use crate::{
        Data, Dir, FallocFlag, FdRef, Fs, FsProfile, Op, OpenFlag, Outcome, Payload, Profile,
    };

    fn ext4() -> Fs {
        let mut fs = Fs::new(Profile {
            fs: FsProfile::detect("ext4", 4096),
            ..Profile::default_tmpfs()
        });
        let open = Op::Open {
            slot: 0,
            dir: Dir::Root,
            path: "a".into(),
            flags: vec![OpenFlag::Rdwr, OpenFlag::Creat],
            mode: 0o644,
        };
        fs.commit(&open, &Outcome::ok(0)).unwrap();
        for (i, c) in ["a", "b", "c"].iter().enumerate() {
            let w = Op::Write {
                fd: FdRef::Slot(0),
                data: Payload::Text(c.to_string()),
                offset: crate::Off::At(i as i64 * 4096),
            };
            fs.commit(&w, &Outcome::ok(1)).unwrap();
        }
        fs
    }

    fn falloc(mode: Vec<FallocFlag>, offset: i64, len: i64) -> Op {
        Op::Fallocate {
            fd: FdRef::Slot(0),
            mode,
            offset,
            len,
        }
    }

    fn read_at(fs: &Fs, offset: i64) -> Outcome {
        let op = Op::Read {
            fd: FdRef::Slot(0),
            len: 1,
            offset: crate::Off::At(offset),
        };
        match fs.step(&op) {
            crate::Allowed::Exact(o) => o,
            a => panic!("read not exact: {a}"),
        }
    }

    #[test]
    fn collapse_removes_a_block_and_shifts_the_rest() {
        let mut fs = ext4();
        let op = falloc(vec![FallocFlag::CollapseRange], 4096, 4096);
        fs.commit(&op, &Outcome::ok(0)).unwrap();
        assert_eq!(
            read_at(&fs, 4096),
            Outcome::ok_with(1, Data::Bytes(b"c".to_vec()))
        );
        assert_eq!(fs.stat_of(fs.fds[&0].ino).size, 4097);
    }

    #[test]
    fn collapse_and_insert_rules() {
        let fs = ext4();
        let einval = |op: &Op| fs.step(op) == crate::Allowed::err(crate::Errno::EINVAL);
        assert!(einval(&falloc(vec![FallocFlag::CollapseRange], 100, 4096)));
        // Reaching EOF (size 8193) is a truncate, not a collapse.
        assert!(einval(&falloc(vec![FallocFlag::CollapseRange], 4096, 8192)));
        assert!(einval(&falloc(vec![FallocFlag::InsertRange], 12288, 4096)));
        assert_eq!(
            fs.step(&falloc(vec![FallocFlag::InsertRange], 0, 4096)),
            crate::Allowed::ok(0)
        );
    }

    #[test]
    fn zero_range_grows_unless_keep_size() {
        let mut fs = ext4();
        let op = falloc(vec![FallocFlag::ZeroRange], 0, 20000);
        fs.commit(&op, &Outcome::ok(0)).unwrap();
        assert_eq!(
            read_at(&fs, 4096),
            Outcome::ok_with(1, Data::Bytes(vec![0]))
        );
        assert_eq!(fs.stat_of(fs.fds[&0].ino).size, 20000);
    }

    #[test]
    fn tmpfs_refuses_the_other_modes() {
        let fs = {
            let mut f = ext4();
            f.profile = Profile::default_tmpfs();
            f
        };
        for m in [
            FallocFlag::ZeroRange,
            FallocFlag::CollapseRange,
            FallocFlag::InsertRange,
        ] {
            assert_eq!(
                fs.step(&falloc(vec![m], 0, 4096)),
                crate::Allowed::err(crate::Errno::EOPNOTSUPP)
            );
        }
    }
}
