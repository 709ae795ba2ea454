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

/// An allocation larger than this many bytes may fail with ENOSPC on the
/// size-limited scratch mounts (the model does not track free space).
pub(crate) const ENOSPC_THRESHOLD: u64 = 16 << 20;

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
        if mode & !(MODE_MASK | KEEP_SIZE) != 0 {
            return Plan::fail(Errno::EOPNOTSUPP);
        }
        // Before 6.12 the exclusivity rules gave EINVAL; since then EOPNOTSUPP.
        let exclusive = if self.profile.kernel_at_least(6, 12) {
            Errno::EOPNOTSUPP
        } else {
            Errno::EINVAL
        };
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
        let (off, n) = (offset as u64, len as u64);
        match mode & MODE_MASK {
            PUNCH_HOLE => Plan::with(Allowed::ok(0), move |fs, _| {
                fs.file_changed(ino);
                if let Kind::File(f) = &mut fs.inodes[ino].kind {
                    f.punch(off, n);
                }
            }),
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
                        f.allocate(off, n, tmpfs);
                        if !keep && end as u64 > size {
                            f.size = end as u64;
                        }
                    }
                })
            }
            // Modes only some filesystems have: their data effects are modelled
            // per filesystem when those profiles are exact (see FsProfile).
            _ => Plan::pure(Allowed::Unmodelled("fallocate mode not modelled yet")),
        }
    }

    pub(crate) fn plan_fadvise(&self, fd: FdRef, _offset: i64, len: i64, advice: Advice) -> Plan {
        let d = or_fail!(self.desc(fd));
        if matches!(self.inodes[d.ino].kind, Kind::Fifo(_)) {
            return Plan::fail(Errno::ESPIPE);
        }
        if len < 0 {
            return Plan::fail(Errno::EINVAL);
        }
        if !(0..=5).contains(&advice_number(advice)) {
            return Plan::fail(Errno::EINVAL);
        }
        Plan::pure(Allowed::ok(0))
    }
}
