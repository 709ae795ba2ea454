//! getdents64 and directory positions. Records follow fs/readdir.c (filldir64:
//! the first record that does not fit gives EINVAL only when nothing was
//! returned yet) and iterate_dir (ENOTDIR without ->iterate_shared, ENOENT on a
//! removed directory). Entry order and d_off cookies are the filesystem's
//! choice, so the model tracks a directory stream as sets (see [`DirCursor`]).

use crate::allowed::{Allowed, DirentChoice};
use crate::exec::{or_fail, Plan};
use crate::fs::{DirCursor, Fs, Kind};
use crate::op::{FdRef, Whence};
use crate::outcome::{Data, Errno, FileType};
use crate::profile::FsKind;
use std::collections::BTreeMap;

impl Fs {
    pub(crate) fn plan_getdents(&self, fd: FdRef, count: u64) -> Plan {
        let d = or_fail!(self.desc(fd));
        let Kind::Dir { entries, dead } = &self.inodes[d.ino].kind else {
            return Plan::fail(Errno::ENOTDIR);
        };
        if *dead {
            return Plan::fail(Errno::ENOENT);
        }
        let c = &d.cursor;
        if let Some(bug) = c.known_bug {
            return Plan::pure(Allowed::KnownBug(bug));
        }
        if c.unknown {
            // Anything goes, but the records still count for seek_dirent.
            return Plan::with(
                Allowed::Unspecified("directory stream at a position the model does not track"),
                move |fs, o| {
                    if let (Some(d), Data::Dirents(recs)) = (fs.desc_mut(fd), &o.data) {
                        d.cursor.history.extend(recs.iter().map(|_| None));
                    }
                },
            );
        }
        // Before the first call every current entry belongs to the stream,
        // except where the filesystem fixes the stream's end at open.
        let since = if c.started || self.profile.fs.stream_fixed_at_open() {
            c.since
        } else {
            u64::MAX
        };
        let mut mandatory = BTreeMap::new();
        let mut optional = BTreeMap::new();
        for (name, t) in [(".", FileType::Dir), ("..", FileType::Dir)] {
            if !c.returned.contains(name) {
                mandatory.insert(name.to_string(), t);
            }
        }
        for (name, e) in entries {
            if c.returned.contains(name) {
                continue;
            }
            let t = self.inodes[e.ino].file_type();
            if e.born <= since {
                mandatory.insert(name.clone(), t);
            } else {
                optional.insert(name.clone(), t);
            }
        }
        for (name, t) in &c.removed {
            if !c.returned.contains(name) && !mandatory.contains_key(name) {
                optional.entry(name.clone()).or_insert(*t);
            }
        }
        let rank = self.listing_rank(&mandatory, entries);
        Plan::with(
            Allowed::Dirents(DirentChoice {
                count,
                mandatory,
                optional,
                rank,
                // filldir64 stops after any record when a signal is pending,
                // and io_uring task work (TIF_NOTIFY_SIGNAL) on a thread that
                // has used a ring counts: seen through the syscalls too.
                may_stop_early: true,
            }),
            move |fs, o| {
                let clock = fs.clock;
                let fixed_at_open = fs.profile.fs.stream_fixed_at_open();
                let d = fs.desc_mut(fd).expect("slot");
                if !d.cursor.started {
                    d.cursor.started = true;
                    if !fixed_at_open {
                        d.cursor.since = clock;
                    }
                }
                let Data::Dirents(recs) = &o.data else { return };
                for r in recs {
                    d.cursor.returned.insert(r.name.clone());
                    let snapshot = (d.cursor.returned.clone(), d.cursor.since);
                    d.cursor.history.push(Some(snapshot));
                }
            },
        )
        // An EINVAL (buffer too small) still read the directory: the stream
        // has started (ext4 fills its hash-order cache at that first call).
        .even_on_error()
    }

    /// The order a filesystem lists a directory in, as ranks of the mandatory
    /// entries (see [`DirentChoice::rank`]); empty where the order is the
    /// filesystem's free choice. Measured on 6.18: tmpfs lists "." and "..",
    /// then the newest entry first (it walks the directory's dentry list,
    /// where a new or renamed entry goes to the front); btrfs lists "." and
    /// "..", then by directory index, which grows with every new or renamed
    /// entry (creation order). ext4 lists in hash order, and xfs reuses the
    /// space of removed entries, so neither is pinned.
    fn listing_rank(
        &self,
        mandatory: &BTreeMap<String, FileType>,
        entries: &BTreeMap<String, crate::fs::Entry>,
    ) -> BTreeMap<String, u64> {
        let newest_first = match self.profile.fs.kind {
            FsKind::Tmpfs => true,
            FsKind::Btrfs => false,
            _ => return BTreeMap::new(),
        };
        mandatory
            .keys()
            .map(|name| {
                let rank = match entries.get(name) {
                    // Both dots first, in either order.
                    None => 0,
                    Some(e) if newest_first => u64::MAX - e.born,
                    Some(e) => e.born + 1,
                };
                (name.clone(), rank)
            })
            .collect()
    }

    /// lseek on a directory: SEEK_SET 0 rewinds the stream; other positions are
    /// opaque cookies, so the stream becomes unknown until the next rewind.
    pub(crate) fn plan_dir_lseek(&self, fd: FdRef, offset: i64, whence: Whence) -> Plan {
        let tmpfs = self.profile.fs.kind == FsKind::Tmpfs;
        match whence {
            Whence::Set if offset == 0 => Plan::with(Allowed::ok(0), move |fs, _| {
                let clock = fs.clock;
                if let Some(d) = fs.desc_mut(fd) {
                    let history = std::mem::take(&mut d.cursor.history);
                    d.cursor = DirCursor {
                        since: clock,
                        history,
                        ..DirCursor::default()
                    };
                    d.pos = 0;
                }
            }),
            Whence::Set if offset < 0 && tmpfs => Plan::fail(Errno::EINVAL),
            Whence::Cur if offset == 0 => Plan::pure(Allowed::Unspecified(
                "the position of a directory is a cookie",
            )),
            Whence::End | Whence::Data | Whence::Hole if tmpfs => Plan::fail(Errno::EINVAL),
            _ => Plan::with(
                Allowed::Unspecified("directory position set to an arbitrary cookie"),
                move |fs, o| {
                    if let Some(d) = fs.desc_mut(fd) {
                        d.cursor.unknown = true;
                        d.pos = o.value().unwrap_or(d.pos);
                    }
                },
            ),
        }
    }

    /// `SeekDirent { entry }`: back to just after the entry-th record this
    /// descriptor returned (a rewind when there is no such record).
    pub(crate) fn plan_seek_dirent(&self, fd: FdRef, entry: u32) -> Plan {
        let d = or_fail!(self.desc(fd));
        match &self.inodes[d.ino].kind {
            Kind::Dir { .. } => {}
            Kind::Fifo(_) => return Plan::fail(Errno::ESPIPE),
            _ => {
                // Not a directory: the backends lseek to 0, which is valid.
                return Plan::with(Allowed::ok(0), move |fs, _| {
                    if let Some(d) = fs.desc_mut(fd) {
                        d.pos = 0;
                    }
                });
            }
        }
        // None: no such record (a rewind); Some(None): a record returned while
        // the stream was unknown (the stream stays unknown).
        let mut target = d.cursor.history.get(entry as usize).cloned();
        // Before 6.6 ("shmem: stable directory offsets") a tmpfs position is
        // the ordinal of an entry in a list that creates and removes shift, so
        // a resumed stream may repeat or skip entries (seen on Debian 6.1).
        if self.profile.fs.kind == FsKind::Tmpfs && !self.profile.kernel_at_least(6, 6) {
            if let Some(Some(_)) = target {
                target = Some(None);
            }
        }
        Plan::with(Allowed::ok(0), move |fs, _| {
            let clock = fs.clock;
            let Some(d) = fs.desc_mut(fd) else { return };
            let history = std::mem::take(&mut d.cursor.history);
            d.cursor = match target {
                Some(Some((returned, since))) => DirCursor {
                    returned,
                    since,
                    started: true,
                    history,
                    ..DirCursor::default()
                },
                Some(None) => DirCursor {
                    unknown: true,
                    started: true,
                    history,
                    ..DirCursor::default()
                },
                None => {
                    d.pos = 0;
                    DirCursor {
                        since: clock,
                        history,
                        ..DirCursor::default()
                    }
                }
            };
        })
    }
}
