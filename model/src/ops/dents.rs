//! getdents64 and directory positions. Records follow fs/readdir.c (filldir64:
//! the first record that does not fit gives EINVAL only when nothing was
//! returned yet) and iterate_dir (ENOTDIR without ->iterate_shared, ENOENT on a
//! removed directory). Entry order and d_off cookies are the filesystem's
//! choice, so the model tracks a directory stream as sets (see [`DirCursor`]).

use crate::allowed::{Allowed, DirentChoice};
use crate::exec::{or_fail, Plan};
use crate::fs::{DirCursor, DirPos, Fs, Ino, Kind, Resume, EXT4_REWIND_IGNORED, TMPFS_EOD};
use crate::op::{FdRef, Whence};
use crate::outcome::{Data, Errno, FileType};
use crate::profile::FsKind;
use std::collections::BTreeMap;

impl Fs {
    /// getdents64, with ext4's per-file readdir state (see
    /// [`crate::fs::EXT4_REWIND_IGNORED`]) tracked around the stream model.
    pub(crate) fn plan_getdents(&self, fd: FdRef, count: u64) -> Plan {
        if self.profile.fs.kind != FsKind::Ext4 {
            return self.plan_getdents_stream(fd, count);
        }
        let Ok(d) = self.desc(fd) else {
            return self.plan_getdents_stream(fd, count);
        };
        // iterate_dir refuses a removed directory (ENOENT) before ext4 runs.
        if !matches!(self.inodes[d.ino].kind, Kind::Dir { dead: false, .. }) {
            return self.plan_getdents_stream(fd, count);
        }
        let at = |p: i64| d.cursor.pos == DirPos::Exact && d.pos == p;
        if d.readdir_info == Some(true) && at(0) {
            return Plan::with(Allowed::KnownBug(EXT4_REWIND_IGNORED), move |fs, _| {
                if let Some(d) = fs.desc_mut(fd) {
                    d.readdir_info = Some(false);
                }
            })
            .even_on_error();
        }
        // ext4_dx_readdir returns 0 at the end position (LLONG_MAX), before
        // it notices a seek: the position and the state stay as they are (a
        // state made there stays stale); any other call resets the state.
        if at(i64::MAX) {
            let stale = d.readdir_info.unwrap_or(true);
            return Plan::with(
                Allowed::Dirents(DirentChoice {
                    count,
                    mandatory: BTreeMap::new(),
                    optional: BTreeMap::new(),
                    rank: BTreeMap::new(),
                    may_stop_early: false,
                    ordered: true,
                    alt_types: BTreeMap::new(),
                }),
                move |fs, _| {
                    if let Some(d) = fs.desc_mut(fd) {
                        d.readdir_info = Some(stale);
                        d.cursor.started = true;
                    }
                },
            );
        }
        let stale = false;
        let mut plan = self.plan_getdents_stream(fd, count);
        if matches!(plan.allowed, Allowed::Exact(_)) && plan.effect.is_none() {
            // EBADF, ENOTDIR, ENOENT: nothing read.
            return plan;
        }
        let inner = plan.effect.take();
        plan.effect = Some(Box::new(move |fs, o| {
            if let Some(e) = inner {
                e(fs, o);
            }
            if let Some(d) = fs.desc_mut(fd) {
                d.readdir_info = Some(stale);
            }
        }));
        plan
    }

    fn plan_getdents_stream(&self, fd: FdRef, count: u64) -> Plan {
        let d = or_fail!(self.desc(fd));
        let Kind::Dir { entries, dead, .. } = &self.inodes[d.ino].kind else {
            return Plan::fail(Errno::ENOTDIR);
        };
        if *dead {
            return Plan::fail(Errno::ENOENT);
        }
        let c = &d.cursor;
        if self.profile.tmpfs_list_order_dirs() && !c.unknown {
            return self.plan_tmpfs_getdents(fd, d.ino, d.pos, count);
        }
        // Where an untracked stream may leave the position: a cookie, the
        // end mark, or where it was (xfs leaves a position past its last
        // dataptr alone).
        let anywhere = {
            let prev = self.dir_pos_span(d);
            let (c0, c1) = self.profile.fs.dir_cookie_range();
            let (e0, e1) = self.profile.fs.dir_eof_range(prev);
            DirPos::Within(c0.min(e0).min(prev.0), c1.max(e1).max(prev.1))
        };
        if let Some(bug) = c.known_bug {
            return Plan::with(Allowed::KnownBug(bug), move |fs, _| {
                if let Some(d) = fs.desc_mut(fd) {
                    d.cursor.pos = anywhere;
                }
            })
            .even_on_error();
        }
        if c.unknown {
            // Anything goes, but the records still count for seek_dirent.
            return Plan::with(
                Allowed::Unspecified("directory stream at a position the model does not track"),
                move |fs, o| {
                    let Some(d) = fs.desc_mut(fd) else { return };
                    d.cursor.pos = anywhere;
                    if let (Ok(_), Data::Dirents(recs)) = (&o.result, &o.data) {
                        d.cursor.history.extend(recs.iter().map(|_| None));
                    }
                },
            )
            .even_on_error();
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
        let mut reborn = Vec::new();
        for (name, t) in [(".", FileType::Dir), ("..", FileType::Dir)] {
            if !c.returned.contains_key(name) {
                mandatory.insert(name.to_string(), t);
            }
        }
        for (name, e) in entries {
            if let Some(&at) = c.returned.get(name) {
                // An entry linked under a returned name since is a new one,
                // which may be listed (xfs appends it after the position).
                if e.born > at {
                    optional.insert(name.clone(), self.inodes[e.ino].file_type());
                    reborn.push(name.clone());
                }
                continue;
            }
            let t = self.inodes[e.ino].file_type();
            if e.born <= since {
                mandatory.insert(name.clone(), t);
            } else {
                optional.insert(name.clone(), t);
            }
        }
        // A removed name may still come back with its old type: ext4 emits
        // the entry that did not fit the previous call (info->extra_fname)
        // without rereading the directory.
        let mut alt_types = BTreeMap::new();
        for (name, types) in &c.removed {
            if c.returned.contains_key(name) || mandatory.contains_key(name) {
                continue;
            }
            for t in types {
                let cur = *optional.entry(name.clone()).or_insert(*t);
                if cur != *t {
                    alt_types
                        .entry(name.clone())
                        .or_insert_with(std::collections::BTreeSet::new)
                        .insert(*t);
                }
            }
        }
        let rank = self.listing_rank(&mandatory, entries);
        // Where the position ends up: the filesystem's end-of-directory mark
        // once no candidate is left, else a cookie (see FsProfile::dir_pos_*).
        let fsp = self.profile.fs.clone();
        let cookie = fsp.dir_cookie_range();
        let prev = self.dir_pos_span(d);
        let eof = fsp.dir_eof_range(prev);
        let candidates: Vec<String> = mandatory.keys().chain(optional.keys()).cloned().collect();
        let optional_names: Vec<String> = optional.keys().cloned().collect();
        Plan::with(
            Allowed::Dirents(DirentChoice {
                count,
                mandatory,
                optional,
                rank,
                alt_types,
                // filldir64 stops after any record when a signal is pending,
                // and io_uring task work (TIF_NOTIFY_SIGNAL) on a thread that
                // has used a ring counts: seen through the syscalls too.
                may_stop_early: true,
                ordered: false,
            }),
            move |fs, o| {
                let clock = fs.clock;
                let fixed_at_open = fs.profile.fs.stream_fixed_at_open();
                let d = fs.desc_mut(fd).expect("slot");
                d.cursor.removed_before_rewind.clear();
                if !d.cursor.started {
                    d.cursor.started = true;
                    if !fixed_at_open {
                        d.cursor.since = clock;
                    }
                }
                let recs = match (&o.result, &o.data) {
                    (Ok(_), Data::Dirents(recs)) => recs.clone(),
                    (Ok(_), _) => Vec::new(),
                    // EINVAL: the filesystem may have moved to the entry
                    // that did not fit.
                    (Err(_), _) => {
                        set_span(d, cookie);
                        return;
                    }
                };
                let n = recs.len();
                let mut reborn = reborn;
                for (i, r) in recs.iter().enumerate() {
                    d.cursor.returned.insert(r.name.clone(), clock);
                    reborn.retain(|n| *n != r.name);
                    // Only the last record of a call can be the stream's
                    // last (its d_off is then the end mark).
                    let span = if i + 1 == n {
                        end_span(
                            &d.cursor,
                            &reborn,
                            &candidates,
                            &optional_names,
                            cookie,
                            eof,
                        )
                    } else {
                        cookie
                    };
                    d.cursor.history.push(Some(Resume {
                        returned: d.cursor.returned.clone(),
                        since: d.cursor.since,
                        pos: (0, DirPos::Within(span.0, span.1)),
                    }));
                }
                let span = if n == 0 {
                    eof
                } else {
                    end_span(
                        &d.cursor,
                        &reborn,
                        &candidates,
                        &optional_names,
                        cookie,
                        eof,
                    )
                };
                set_span(d, span);
            },
        )
        // An EINVAL (buffer too small) still read the directory: the stream
        // has started (ext4 fills its hash-order cache at that first call).
        .even_on_error()
    }

    /// What the model knows of a directory descriptor's position, as a range.
    pub(crate) fn dir_pos_span(&self, d: &crate::fs::Desc) -> (i64, i64) {
        match d.cursor.pos {
            DirPos::Exact => (d.pos, d.pos),
            DirPos::Within(lo, hi) => (lo, hi),
        }
    }

    /// The rest of a tmpfs directory stream from position `pos`, as (name,
    /// type, key): the key is the position that resumes the stream at that
    /// element ("." 0, ".." 1, an entry its offset). fs/libfs.c offset_readdir:
    /// dir_emit_dots, then nothing at DIR_OFFSET_EOD; at 2 the head of the
    /// dentry list; above, offset_dir_lookup's entry with the largest offset
    /// at or below `pos` (the head when there is none); then the list onwards.
    fn tmpfs_stream(&self, dir: Ino, pos: i64) -> Vec<(String, FileType, i64)> {
        let mut out = Vec::new();
        if pos == 0 {
            out.push((".".to_string(), FileType::Dir, 0));
        }
        if pos <= 1 {
            out.push(("..".to_string(), FileType::Dir, 1));
        }
        if pos == TMPFS_EOD {
            return out;
        }
        let mut list: Vec<(&String, &crate::fs::Entry)> = self.entries(dir).iter().collect();
        list.sort_by_key(|(_, e)| std::cmp::Reverse(e.seq));
        let start = if pos <= 2 {
            0
        } else {
            list.iter()
                .enumerate()
                .filter(|(_, (_, e))| e.offset as i64 <= pos)
                .max_by_key(|(_, (_, e))| e.offset)
                .map_or(0, |(i, _)| i)
        };
        out.extend(list[start..].iter().map(|(name, e)| {
            (
                name.to_string(),
                self.inodes[e.ino].file_type(),
                e.offset as i64,
            )
        }));
        out
    }

    /// getdents64 on tmpfs where the stream is known exactly
    /// ([`crate::Profile::tmpfs_list_order_dirs`]): a prefix of
    /// [`Fs::tmpfs_stream`], and the position moves to the first element not
    /// returned (iterate_dir stores ctx->pos even when the call fails).
    fn plan_tmpfs_getdents(&self, fd: FdRef, dir: Ino, pos: i64, count: u64) -> Plan {
        let stream = self.tmpfs_stream(dir, pos);
        let mandatory = stream.iter().map(|(n, t, _)| (n.clone(), *t)).collect();
        let rank = stream
            .iter()
            .enumerate()
            .map(|(i, (n, _, _))| (n.clone(), i as u64))
            .collect();
        let keys: Vec<i64> = stream.iter().map(|(_, _, k)| *k).collect();
        let key_after = move |k: usize| keys.get(k).copied().unwrap_or(TMPFS_EOD);
        Plan::with(
            Allowed::Dirents(DirentChoice {
                count,
                mandatory,
                optional: BTreeMap::new(),
                rank,
                alt_types: BTreeMap::new(),
                may_stop_early: true,
                ordered: true,
            }),
            move |fs, o| {
                let recs = match (&o.result, &o.data) {
                    (Ok(_), Data::Dirents(recs)) => recs.clone(),
                    (Ok(_), _) => Vec::new(),
                    (Err(e), _) if *e == Errno::EINVAL => Vec::new(),
                    (Err(_), _) => return,
                };
                let clock = fs.clock;
                let d = fs.desc_mut(fd).expect("slot");
                if !d.cursor.started {
                    d.cursor.started = true;
                    d.cursor.since = clock;
                }
                for (i, r) in recs.iter().enumerate() {
                    d.cursor.returned.insert(r.name.clone(), clock);
                    d.cursor.history.push(Some(Resume {
                        returned: d.cursor.returned.clone(),
                        since: d.cursor.since,
                        pos: (key_after(i + 1), DirPos::Exact),
                    }));
                }
                d.pos = key_after(recs.len());
                d.cursor.pos = DirPos::Exact;
            },
        )
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
                    let stale = carried_removed(&mut d.cursor);
                    d.cursor = DirCursor {
                        since: clock,
                        history,
                        removed_before_rewind: stale,
                        ..DirCursor::default()
                    };
                    d.pos = 0;
                }
            }),
            Whence::Set if offset < 0 && tmpfs => Plan::fail(Errno::EINVAL),
            Whence::Cur if offset == 0 => match self.desc(fd) {
                Ok(d) if d.cursor.pos == DirPos::Exact => Plan::pure(Allowed::ok(d.pos)),
                _ => Plan::pure(Allowed::Unspecified(
                    "the position of a directory is a cookie",
                )),
            },
            Whence::End | Whence::Data | Whence::Hole if tmpfs => Plan::fail(Errno::EINVAL),
            _ => Plan::with(
                Allowed::Unspecified("directory position set to an arbitrary cookie"),
                move |fs, o| {
                    if let Some(d) = fs.desc_mut(fd) {
                        d.cursor.unknown = true;
                        if let Some(v) = o.value() {
                            d.pos = v;
                            d.cursor.pos = DirPos::Exact;
                        }
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
        // An ext4 directory removed by rmdir has size 0, so it is no longer
        // hashed (is_dx_dir) and ext4_llseek caps positions at s_maxbytes: a
        // cookie above it (the end mark LLONG_MAX) gives EINVAL. One renamed
        // over keeps its size (ext4_rename only clears its nlink) and its
        // hashed positions.
        let mut allowed = Allowed::ok(0);
        let emptied = matches!(self.inodes[d.ino].kind, Kind::Dir { emptied: true, .. });
        if emptied && self.profile.fs.kind == FsKind::Ext4 {
            let max = self.profile.fs.max_file_size;
            let (lo, hi) = match &target {
                None => (0, 0),
                Some(None) => (0, i64::MAX),
                Some(Some(Resume {
                    pos: (v, DirPos::Exact),
                    ..
                })) => (*v, *v),
                Some(Some(Resume {
                    pos: (_, DirPos::Within(lo, hi)),
                    ..
                })) => (*lo, *hi),
            };
            if lo > max {
                return Plan::fail(Errno::EINVAL);
            }
            if hi > max {
                allowed = allowed.or(Allowed::err(Errno::EINVAL));
            }
        }
        Plan::with(allowed, move |fs, _| {
            let clock = fs.clock;
            let Some(d) = fs.desc_mut(fd) else { return };
            let history = std::mem::take(&mut d.cursor.history);
            // A seek is not a rewind: names removed since the stream started
            // may still come back (POSIX leaves them unspecified until
            // rewinddir; ext4 keeps the entry that did not fit the last call
            // when the seek lands on the current position).
            let removed = carried_removed(&mut d.cursor);
            d.cursor = match target {
                Some(Some(Resume {
                    returned,
                    since,
                    pos: (value, pos),
                })) => {
                    d.pos = value;
                    DirCursor {
                        returned,
                        since,
                        started: true,
                        history,
                        pos,
                        removed,
                        ..DirCursor::default()
                    }
                }
                Some(None) => DirCursor {
                    unknown: true,
                    started: true,
                    history,
                    pos: DirPos::Within(0, i64::MAX),
                    ..DirCursor::default()
                },
                None => {
                    d.pos = 0;
                    DirCursor {
                        since: clock,
                        history,
                        removed_before_rewind: removed,
                        ..DirCursor::default()
                    }
                }
            };
        })
    }
}

/// Records a position range on a directory descriptor.
fn set_span(d: &mut crate::fs::Desc, (lo, hi): (i64, i64)) {
    if lo == hi {
        d.pos = lo;
        d.cursor.pos = DirPos::Exact;
    } else {
        d.cursor.pos = DirPos::Within(lo, hi);
    }
}

/// The position after a getdents64 call that returned records: the end mark
/// once every candidate has been returned, a cookie while a mandatory one is
/// left, either while only optional ones (which may not be in the stream) are.
/// `cursor` is the stream after the call's records were recorded; `reborn`
/// the new entries under returned names that this call did not list.
fn end_span(
    cursor: &DirCursor,
    reborn: &[String],
    candidates: &[String],
    optional: &[String],
    cookie: (i64, i64),
    eof: (i64, i64),
) -> (i64, i64) {
    // A new entry under a returned name not listed yet is an optional leftover.
    let left: Vec<&String> = candidates
        .iter()
        .filter(|n| !cursor.returned.contains_key(*n) || reborn.contains(n))
        .collect();
    if left.is_empty() {
        eof
    } else if left.iter().all(|n| optional.contains(n)) {
        (cookie.0.min(eof.0), cookie.1.max(eof.1))
    } else {
        cookie
    }
}

/// The removed names a seek keeps: those removed since the stream started,
/// and those removed before rewinds no getdents64 has followed (see
/// [`DirCursor::removed_before_rewind`]). Empties both on `cursor`.
fn carried_removed(
    cursor: &mut DirCursor,
) -> BTreeMap<String, std::collections::BTreeSet<FileType>> {
    let mut removed = std::mem::take(&mut cursor.removed);
    for (name, types) in std::mem::take(&mut cursor.removed_before_rewind) {
        removed.entry(name).or_default().extend(types);
    }
    removed
}
