//! open, close, read/pread, write/pwrite, lseek, ftruncate, fsync, statx, pipe2.
//! Check orders follow fs/open.c, fs/namei.c (do_open, may_open), fs/read_write.c
//! (ksys_pread64, vfs_read, rw_verify_area, generic_write_checks) and fs/pipe.c.

use crate::allowed::Allowed;
use crate::exec::{or_fail, Plan};
use crate::fs::{Desc, DirCursor, Fs, Inode, Kind};
use crate::op::{Dir, FdRef, Off, OpenFlag, Payload, Slot, Whence};
use crate::outcome::{Data, Errno, Outcome, Stat};
use crate::pipe::Pipe;
use crate::sparse::SparseFile;

use crate::limits::MAX_RW_COUNT;

/// Found by ringspec on 6.18 (corpus/regressions/
/// btrfs_uring_append_write_at_max_size_einval.toml): see
/// [`URING_APPEND_RETRY_EINVAL`]. A NOWAIT buffered write moves ki_pos to
/// EOF (generic_write_checks, IOCB_APPEND) and may then give EAGAIN (btrfs
/// always here, xfs for a 35000-byte write; ext4 and tmpfs not seen); io_write
/// does not restore ki_pos, so the blocking retry's rw_verify_area sees
/// EOF plus len overflow loff_t. write(2) writes the bytes that fit. IOSQE_ASYNC
/// skips the NOWAIT attempt.
pub(crate) const URING_APPEND_RETRY_EINVAL: &str = "io_uring O_APPEND write cut short at the \
     maximum file size may fail EINVAL (the io-wq retry verifies the EOF the NOWAIT attempt \
     left in ki_pos; seen on btrfs and xfs) (6.18)";

/// True where [`URING_APPEND_RETRY_EINVAL`] applies to an O_APPEND write of
/// `len` bytes at EOF `pos`.
fn uring_append_retry_einval(fs: &Fs, pos: i64, len: u64) -> bool {
    fs.uring() && !fs.profile.uring_async && (pos as u64).saturating_add(len) > i64::MAX as u64
}

/// Found by ringspec on 6.18 (corpus/scenarios/fsize_limit.toml): an io_uring
/// write at the file position that the write limit (RLIMIT_FSIZE, s_maxbytes)
/// cuts short is retried for the rest, the retry fails with EFBIG, and the CQE
/// reports the bytes written (io_fixup_rw_res) while kiocb_done skips the
/// f_pos update because the last attempt failed. Seen on every filesystem;
/// on xfs without IOSQE_ASYNC only for some writes (one that starts past EOF,
/// not one from offset 0 of an empty file), so the position may or may not
/// move.
pub(crate) const URING_SHORT_WRITE_KEEPS_POS: &str =
    "io_uring: a write at the file position cut short by the file size limit \
     reports the bytes written but may leave the file position unmoved";

impl Fs {
    pub(crate) fn plan_open(
        &self,
        slot: Slot,
        dir: Dir,
        path: &str,
        flags: &[OpenFlag],
        mode: u32,
    ) -> Plan {
        let has = |f| flags.contains(&f);
        let path_only = has(OpenFlag::Path);
        let (creat, excl, trunc) = if path_only {
            (false, false, false)
        } else {
            (
                has(OpenFlag::Creat),
                has(OpenFlag::Excl),
                has(OpenFlag::Trunc),
            )
        };
        let write = !path_only && (has(OpenFlag::Wronly) || has(OpenFlag::Rdwr));
        let read = !path_only && !has(OpenFlag::Wronly);
        let directory = has(OpenFlag::Directory);
        let nofollow = has(OpenFlag::Nofollow);
        let nonblock = has(OpenFlag::Nonblock);
        // build_open_flags: O_CREAT|O_DIRECTORY is invalid since 6.4.
        if creat && directory && self.profile.open_creat_directory_is_einval() {
            return Plan::fail(Errno::EINVAL);
        }
        // O_CREAT|O_EXCL never follows a trailing symlink; O_NOFOLLOW neither.
        let follow = !(nofollow || creat && excl);
        let (found, symlinks) = or_fail!(self.lookup_counting_symlinks(dir, path, follow));
        let append = has(OpenFlag::Append);
        let desc = move |ino| Desc {
            ino,
            readable: read,
            writable: write,
            path_only,
            append,
            nonblock,
            pos: 0,
            cursor: DirCursor::default(),
            readdir_info: None,
            fifo_w_seen: 0,
        };
        let Some(ino) = found.ino else {
            if !creat {
                return Plan::fail(Errno::ENOENT);
            }
            let perm = self.masked(mode);
            let parent = found.parent;
            let name = found.name.clone();
            let sb = self.sb(parent);
            let bs = self.profile.fs.block_size;
            let btrfs = self.profile.fs.kind == crate::profile::FsKind::Btrfs;
            return Plan::with(Allowed::ok(0), move |fs, _| {
                let ino = fs.alloc(Inode {
                    kind: Kind::File(SparseFile {
                        grow_writes_eof_block: btrfs,
                        ..SparseFile::new(bs)
                    }),
                    perm,
                    nlink: 1,
                    sb,
                    xattrs: Default::default(),
                });
                fs.link_entry(parent, &name, ino);
                fs.install(slot, desc(ino));
            });
        };
        let inode = &self.inodes[ino];
        // do_open
        if creat {
            if excl {
                return Plan::fail(Errno::EEXIST);
            }
            if inode.is_dir() {
                return Plan::fail(Errno::EISDIR);
            }
        }
        if directory && !inode.is_dir() {
            return Plan::fail(Errno::ENOTDIR);
        }
        if path_only {
            return Plan::with(Allowed::ok(0), move |fs, _| fs.install(slot, desc(ino)));
        }
        // may_open
        match &inode.kind {
            Kind::Symlink(_) => return Plan::fail(Errno::ELOOP),
            Kind::Dir { .. } if write || trunc => return Plan::fail(Errno::EISDIR),
            // The scratch mounts are nodev: device nodes cannot be opened.
            Kind::Chr(..) | Kind::Blk(..) => return Plan::fail(Errno::EACCES),
            Kind::Sock => return Plan::fail(Errno::ENXIO),
            Kind::Fifo(p) => {
                // fifo_open. io_uring first tries an open inline with O_NONBLOCK
                // forced (io_openat2, unless O_CREAT/O_TRUNC or IOSQE_ASYNC), so
                // a FIFO opens as if O_NONBLOCK were given; the descriptor it
                // returns is not non-blocking. That attempt walks the path with
                // LOOKUP_CACHED: a symlink on the way may need to leave RCU mode
                // (xfs, measured on 6.18), and then the open is retried in io-wq
                // without O_NONBLOCK and may wait like open(2). Either may
                // happen, so an open that could wait is not run.
                let inline = self.uring() && !self.profile.uring_async && !creat && !trunc;
                let may_retry_blocking = inline && symlinks > 0 && !nonblock;
                if may_retry_blocking
                    && ((read && !write && p.writers == 0) || (write && !read && p.readers == 0))
                {
                    return Plan::pure(Allowed::Blocks);
                }
                let nonblock = nonblock || inline;
                if read && !write && p.writers == 0 && !nonblock {
                    return Plan::pure(Allowed::Blocks);
                }
                if write && !read && p.readers == 0 {
                    return if nonblock {
                        Plan::fail(Errno::ENXIO)
                    } else {
                        Plan::pure(Allowed::Blocks)
                    };
                }
                return Plan::with(Allowed::ok(0), move |fs, _| {
                    let mut seen = 0;
                    if let Kind::Fifo(p) = &mut fs.inodes[ino].kind {
                        p.readers += read as u32;
                        p.writers += write as u32;
                        p.w_counter += write as u64;
                        seen = p.w_counter;
                    }
                    fs.install(
                        slot,
                        Desc {
                            fifo_w_seen: seen,
                            ..desc(ino)
                        },
                    );
                });
            }
            _ => {}
        }
        let truncate = trunc && matches!(inode.kind, Kind::File(_));
        Plan::with(Allowed::ok(0), move |fs, _| {
            if truncate {
                fs.file_changed(ino);
                if let Kind::File(f) = &mut fs.inodes[ino].kind {
                    f.truncate(0);
                }
            }
            fs.install(slot, desc(ino));
        })
    }

    pub(crate) fn plan_close(&self, fd: FdRef) -> Plan {
        match fd {
            FdRef::Slot(s) if self.fds.contains_key(&s) => {
                Plan::with(Allowed::ok(0), move |fs, _| {
                    fs.close_slot(s);
                })
            }
            _ => Plan::fail(Errno::EBADF),
        }
    }

    /// The checks read/pread and write/pwrite share, in the kernel's order:
    /// ksys_pread64/pwrite64 reject a negative offset before the fd lookup,
    /// then a positional call on a pipe is ESPIPE, then the open mode (EBADF).
    ///
    /// IORING_OP_READ/WRITE differ (io_uring/rw.c): the fd and its open mode
    /// are checked first, an offset of -1 means the file position, other
    /// negative offsets fail in rw_verify_area, and pipes ignore the offset.
    fn rw_desc(&self, fd: FdRef, offset: Off, len: u64, write: bool) -> Result<&Desc, Errno> {
        if self.uring() {
            let d = self.desc(fd)?;
            if (write && !d.writable) || (!write && !d.readable) {
                return Err(Errno::EBADF);
            }
            // rw_verify_area on the explicit offset, pipes included.
            let overflows = |p: i64| {
                (p as u64)
                    .checked_add(len.min(MAX_RW_COUNT))
                    .is_none_or(|e| e > i64::MAX as u64)
            };
            match offset {
                Off::At(p) if p < -1 => return Err(Errno::EINVAL),
                Off::At(p) if p >= 0 && overflows(p) => return Err(Errno::EINVAL),
                _ => {}
            }
            return Ok(d);
        }
        if matches!(offset, Off::At(p) if p < 0) {
            return Err(Errno::EINVAL);
        }
        let d = self.desc(fd)?;
        if matches!(offset, Off::At(_)) && matches!(self.inodes[d.ino].kind, Kind::Fifo(_)) {
            return Err(Errno::ESPIPE);
        }
        if (write && !d.writable) || (!write && !d.readable) {
            return Err(Errno::EBADF);
        }
        Ok(d)
    }

    /// The offset an io_uring READ/WRITE really uses: -1 is the file position,
    /// and pipes ignore any offset. Through the syscalls, unchanged.
    fn uring_offset(&self, d: &Desc, offset: Off) -> Off {
        let pipe = matches!(self.inodes[d.ino].kind, Kind::Fifo(_));
        match offset {
            Off::At(-1) if self.uring() => Off::Pos,
            Off::At(_) if self.uring() && pipe => Off::Pos,
            o => o,
        }
    }

    /// IORING_OP_READ on a named FIFO opened without O_NONBLOCK: fifo_open
    /// does not set FMODE_NOWAIT, so io_file_supports_nowait asks poll for
    /// EPOLLIN and, while the FIFO is empty, the request waits for it before
    /// the read (and its position check) runs. pipe_poll reports nothing for
    /// an empty FIFO with writers, or without writers when none has opened
    /// it since this description was opened (the hang-up is hidden until a
    /// writer was seen). Measured on 6.18 (single and async modes).
    fn uring_read_waits_for_fifo(&self, fd: FdRef) -> bool {
        if !self.uring() {
            return false;
        }
        let Ok(d) = self.desc(fd) else { return false };
        let inode = &self.inodes[d.ino];
        let Kind::Fifo(p) = &inode.kind else {
            return false;
        };
        // Anonymous pipes (pipefs, superblock 2) have FMODE_NOWAIT.
        d.readable
            && !d.nonblock
            && inode.sb != 2
            && p.is_empty()
            && (p.writers > 0 || p.w_counter == d.fifo_w_seen)
    }

    /// True when the model judges io_uring opcodes.
    pub(crate) fn uring(&self) -> bool {
        self.interface.get() == crate::profile::Interface::Uring
    }

    /// The first offset a write may not reach (generic_write_check_limits):
    /// the process's RLIMIT_FSIZE, else the filesystem's s_maxbytes. A write
    /// starting there gives EFBIG, one crossing it is shortened to end there.
    pub(crate) fn write_limit(&self) -> i64 {
        let max = self.profile.fs.max_file_size;
        match self.profile.fsize_limit {
            Some(l) => max.min(l.min(i64::MAX as u64) as i64),
            None => max,
        }
    }

    /// inode_newsize_ok's RLIMIT_FSIZE test: a file that grows to `new_size`
    /// past the process's limit gives EFBIG; shrinking, or growing within the
    /// limit, is fine (a file already past the limit may stay there).
    pub(crate) fn grows_past_fsize_limit(&self, ino: usize, new_size: u64) -> bool {
        let size = match &self.inodes[ino].kind {
            Kind::File(f) => f.size,
            _ => return false,
        };
        self.profile
            .fsize_limit
            .is_some_and(|limit| new_size > size && new_size > limit)
    }

    /// What an op that cannot proceed on a pipe does: EAGAIN when non-blocking
    /// through the syscalls; io_uring instead waits for the pipe to become ready
    /// even on an O_NONBLOCK pipe (observed on 6.18), which never happens here.
    fn pipe_would_wait(&self, nonblock: bool) -> Plan {
        if nonblock && !self.uring() {
            Plan::fail(Errno::EAGAIN)
        } else {
            Plan::pure(Allowed::Blocks)
        }
    }

    pub(crate) fn plan_read(&self, fd: FdRef, len: u64, offset: Off) -> Plan {
        if self.uring_read_waits_for_fifo(fd) {
            return Plan::pure(Allowed::Blocks);
        }
        let d = or_fail!(self.rw_desc(fd, offset, len, false));
        let offset = self.uring_offset(d, offset);
        let inode = &self.inodes[d.ino];
        let is_pipe = matches!(inode.kind, Kind::Fifo(_));
        let len = len.min(MAX_RW_COUNT);
        let pos = match offset {
            Off::At(p) => p,
            Off::Pos => d.pos,
        };
        // A directory's own position may be a cookie the model knows only
        // as a range (see FsProfile::dir_eof_range).
        let (lo, hi) = match (&inode.kind, offset) {
            (Kind::Dir { .. }, Off::Pos) => self.dir_pos_span(d),
            _ => (pos, pos),
        };
        let overflows = |p: i64| {
            p < 0
                || (p as u64)
                    .checked_add(len)
                    .is_none_or(|e| e > i64::MAX as u64)
        };
        if !is_pipe && overflows(lo) && overflows(hi) {
            return Plan::fail(Errno::EINVAL);
        }
        let ino = d.ino;
        match &inode.kind {
            // io_uring's READ returns 0 for an empty read before the
            // directory's ->read refuses it.
            Kind::Dir { .. } if self.uring() && len == 0 => {
                Plan::pure(Allowed::Exact(Outcome::ok_with(0, Data::Bytes(vec![]))))
            }
            // rw_verify_area overflows first at a huge cookie.
            Kind::Dir { .. } if overflows(hi) => {
                Plan::pure(Allowed::err(Errno::EISDIR).or(Allowed::err(Errno::EINVAL)))
            }
            Kind::Dir { .. } => Plan::fail(Errno::EISDIR),
            Kind::File(f) => {
                let bytes = f.read(pos as u64, len);
                let n = bytes.len() as i64;
                let advance = matches!(offset, Off::Pos);
                Plan::with(
                    Allowed::Exact(Outcome::ok_with(n, Data::Bytes(bytes))),
                    move |fs, _| {
                        if advance {
                            fs.desc_mut(fd).expect("slot").pos += n;
                        }
                    },
                )
            }
            Kind::Fifo(p) => {
                if len == 0 {
                    return Plan::pure(Allowed::Exact(Outcome::ok_with(0, Data::Bytes(vec![]))));
                }
                if p.is_empty() {
                    return if p.writers == 0 {
                        Plan::pure(Allowed::Exact(Outcome::ok_with(0, Data::Bytes(vec![]))))
                    } else {
                        self.pipe_would_wait(d.nonblock)
                    };
                }
                if p.front_is_stale(len as usize) {
                    return Plan::pure(Allowed::Unmodelled(crate::pipe::STALE));
                }
                let mut after = p.clone();
                let bytes = after.read(len as usize);
                let n = bytes.len() as i64;
                Plan::with(
                    Allowed::Exact(Outcome::ok_with(n, Data::Bytes(bytes))),
                    move |fs, _| {
                        if let Kind::Fifo(p) = &mut fs.inodes[ino].kind {
                            p.read(n as usize);
                        }
                    },
                )
            }
            _ => Plan::fail(Errno::EINVAL),
        }
    }

    pub(crate) fn plan_write(&self, fd: FdRef, data: &Payload, offset: Off) -> Plan {
        let d = or_fail!(self.rw_desc(fd, offset, data.len(), true));
        let offset = self.uring_offset(d, offset);
        let inode = &self.inodes[d.ino];
        let len = data.len();
        let ino = d.ino;
        match &inode.kind {
            Kind::File(f) => {
                let mut pos = match offset {
                    Off::At(p) => p,
                    Off::Pos => d.pos,
                };
                if (pos as u64)
                    .checked_add(len)
                    .is_none_or(|e| e > i64::MAX as u64)
                {
                    return Plan::fail(Errno::EINVAL);
                }
                if len == 0 {
                    return Plan::pure(Allowed::ok(0));
                }
                // O_APPEND writes at EOF, pwrite included (a Linux quirk).
                if d.append {
                    pos = f.size as i64;
                    if uring_append_retry_einval(self, pos, len) {
                        return Plan::pure(Allowed::KnownBug(URING_APPEND_RETRY_EINVAL));
                    }
                }
                let max = self.write_limit();
                if pos >= max {
                    return Plan::fail(Errno::EFBIG);
                }
                let n = len.min((max - pos) as u64);
                let bytes = data.bytes();
                let advance = matches!(offset, Off::Pos);
                if n < len && self.uring() && advance {
                    return Plan::pure(Allowed::KnownBug(URING_SHORT_WRITE_KEEPS_POS));
                }
                Plan::with(Allowed::ok(n as i64), move |fs, _| {
                    fs.file_changed(ino);
                    if let Kind::File(f) = &mut fs.inodes[ino].kind {
                        f.write(pos as u64, &bytes[..n as usize]);
                    }
                    if advance {
                        fs.desc_mut(fd).expect("slot").pos = pos + n as i64;
                    }
                })
            }
            Kind::Fifo(p) => {
                if len == 0 {
                    return Plan::pure(Allowed::ok(0));
                }
                if p.readers == 0 && p.lazy_release {
                    return Plan::pure(Allowed::Unmodelled(crate::pipe::LAZY_RELEASE));
                }
                if p.readers == 0 {
                    return Plan::fail(Errno::EPIPE);
                }
                let room = p.write_capacity(len as usize);
                if room == 0 || (room < len as usize && !d.nonblock) {
                    return self.pipe_would_wait(d.nonblock);
                }
                let bytes = data.bytes();
                Plan::with(Allowed::ok(room as i64), move |fs, _| {
                    if let Kind::Fifo(p) = &mut fs.inodes[ino].kind {
                        p.write(&bytes[..room]);
                    }
                })
            }
            _ => Plan::fail(Errno::EINVAL),
        }
    }

    pub(crate) fn plan_lseek(&self, fd: FdRef, offset: i64, whence: Whence) -> Plan {
        let d = or_fail!(self.desc(fd));
        match &self.inodes[d.ino].kind {
            Kind::Fifo(_) => Plan::fail(Errno::ESPIPE),
            Kind::Dir { .. } => self.plan_dir_lseek(fd, offset, whence),
            Kind::File(f) => {
                let size = f.size as i64;
                let max = self.profile.fs.max_file_size;
                let target = match whence {
                    Whence::Set => Some(offset),
                    Whence::Cur if offset == 0 => return Plan::pure(Allowed::ok(d.pos)),
                    Whence::Cur => d.pos.checked_add(offset),
                    Whence::End => size.checked_add(offset),
                    Whence::Data | Whence::Hole => {
                        // btrfs searches from a negative offset rounded down
                        // to its sector: it finds the data from 0 while the
                        // data is still delayed allocation, and nothing
                        // (ENXIO) once it is written back (seen after a
                        // rename over another file flushed it), so both.
                        let negative_on_btrfs =
                            offset < 0 && self.profile.fs.kind == crate::profile::FsKind::Btrfs;
                        let offset = if negative_on_btrfs { 0 } else { offset };
                        if offset < 0 || offset >= size {
                            return Plan::fail(Errno::ENXIO);
                        }
                        if self.profile.fs.kind == crate::profile::FsKind::Tmpfs {
                            let hole = whence == Whence::Hole;
                            if hole && f.hole_search_reaches_last_page(offset as u64) {
                                return Plan::pure(Allowed::KnownBug(
                                    crate::sparse::TMPFS_SEEK_HOLE_LAST_PAGE,
                                ));
                            }
                            return match f.seek_exact(offset as u64, hole) {
                                None => Plan::fail(Errno::ENXIO),
                                Some(v) => Plan::with(Allowed::ok(v as i64), move |fs, _| {
                                    fs.desc_mut(fd).expect("slot").pos = v as i64;
                                }),
                            };
                        }
                        // The last block may hold data the model cannot tell
                        // from a hole (a copied zero byte), so a search that
                        // starts in it counts too.
                        let last_block = (i64::MAX as u64 - 1) / f.block_size * f.block_size;
                        if self.profile.fs.kind == crate::profile::FsKind::Btrfs
                            && whence == Whence::Hole
                            && (f.hole_search_reaches_last_page(offset as u64)
                                || offset as u64 >= last_block)
                        {
                            return Plan::pure(Allowed::KnownBug(
                                crate::sparse::BTRFS_SEEK_HOLE_LAST_BLOCK,
                            ));
                        }
                        if self.profile.fs.kind == crate::profile::FsKind::Xfs
                            && whence == Whence::Data
                            && f.next_data_is_in_last_block(offset as u64)
                        {
                            return Plan::pure(Allowed::KnownBug(
                                crate::sparse::XFS_SEEK_DATA_LAST_BLOCK,
                            ));
                        }
                        let (cands, enxio) =
                            f.seek_candidates(offset as u64, whence == Whence::Hole);
                        let vals: Vec<i64> = cands.iter().map(|&v| v as i64).collect();
                        let mut allowed =
                            Allowed::Values(vals, "filesystems may report holes as data");
                        if self.profile.fs.holes_may_be_preallocated() {
                            if let Some(prealloc) = preallocated_seek(f, offset as u64, whence) {
                                allowed = allowed.or(prealloc);
                            }
                        }
                        if enxio || negative_on_btrfs {
                            allowed = allowed.or(Allowed::err(Errno::ENXIO));
                        }
                        return Plan::with(allowed, move |fs, o| {
                            fs.desc_mut(fd).expect("slot").pos = o.value().expect("ok");
                        });
                    }
                };
                match target {
                    Some(t) if (0..=max).contains(&t) => {
                        Plan::with(Allowed::ok(t), move |fs, _| {
                            fs.desc_mut(fd).expect("slot").pos = t;
                        })
                    }
                    _ => Plan::fail(Errno::EINVAL),
                }
            }
            _ => Plan::fail(Errno::EINVAL),
        }
    }

    pub(crate) fn plan_ftruncate(&self, fd: FdRef, len: i64) -> Plan {
        // do_sys_ftruncate checks the length before the fd; IORING_OP_FTRUNCATE
        // has its file first and reaches do_truncate's check later.
        if len < 0 && !self.uring() {
            return Plan::fail(Errno::EINVAL);
        }
        let d = or_fail!(self.desc(fd));
        if !matches!(self.inodes[d.ino].kind, Kind::File(_)) || !d.writable || len < 0 {
            return Plan::fail(Errno::EINVAL);
        }
        if len > self.profile.fs.max_file_size {
            return Plan::fail(Errno::EFBIG);
        }
        if self.grows_past_fsize_limit(d.ino, len as u64) {
            return Plan::fail(Errno::EFBIG);
        }
        let ino = d.ino;
        Plan::with(Allowed::ok(0), move |fs, _| {
            fs.file_changed(ino);
            if let Kind::File(f) = &mut fs.inodes[ino].kind {
                f.truncate(len as u64);
            }
        })
    }

    pub(crate) fn plan_fsync(&self, fd: FdRef) -> Plan {
        match self.desc(fd) {
            Err(e) => Plan::fail(e),
            Ok(d) if matches!(self.inodes[d.ino].kind, Kind::Fifo(_)) => Plan::fail(Errno::EINVAL),
            Ok(_) => Plan::pure(Allowed::ok(0)),
        }
    }

    /// The statx fields of an inode (directory sizes are normalised to 0).
    pub fn stat_of(&self, ino: usize) -> Stat {
        let i = &self.inodes[ino];
        let (size, rdev) = match &i.kind {
            Kind::File(f) => (f.size, (0, 0)),
            Kind::Symlink(t) => (t.len() as u64, (0, 0)),
            Kind::Chr(a, b) | Kind::Blk(a, b) => (0, (*a, *b)),
            _ => (0, (0, 0)),
        };
        // The model counts directory links the classic way (2 + subdirs);
        // the profile says what the filesystem reports.
        let nlink = match i.kind {
            Kind::Dir { .. } if i.nlink >= 2 => self.profile.fs.dir_nlink(i.nlink - 2),
            _ => i.nlink,
        };
        Stat {
            file_type: i.file_type(),
            perm: i.perm,
            size,
            nlink,
            rdev,
        }
    }

    pub(crate) fn plan_stat(&self, dir: Dir, path: &str, follow: bool) -> Plan {
        match self.lookup(dir, path, follow) {
            Err(e) => Plan::fail(e),
            Ok(l) => match l.ino {
                None => Plan::fail(Errno::ENOENT),
                Some(ino) => Plan::pure(Allowed::Exact(Outcome::ok_with(
                    0,
                    Data::Stat(self.stat_of(ino)),
                ))),
            },
        }
    }

    pub(crate) fn plan_fstat(&self, fd: FdRef) -> Plan {
        match self.desc_any(fd) {
            Err(e) => Plan::fail(e),
            Ok(d) => Plan::pure(Allowed::Exact(Outcome::ok_with(
                0,
                Data::Stat(self.stat_of(d.ino)),
            ))),
        }
    }

    pub(crate) fn plan_pipe(&self, read_slot: Slot, write_slot: Slot, nonblock: bool) -> Plan {
        Plan::with(Allowed::ok(0), move |fs, _| {
            let ino = fs.alloc(Inode {
                kind: Kind::Fifo(Pipe {
                    readers: 1,
                    writers: 1,
                    ..Pipe::default()
                }),
                perm: 0o600,
                nlink: 1,
                sb: 2,
                xattrs: Default::default(),
            });
            let end = |readable| Desc {
                ino,
                readable,
                writable: !readable,
                path_only: false,
                append: false,
                nonblock,
                pos: 0,
                cursor: DirCursor::default(),
                readdir_info: None,
                fifo_w_seen: 0,
            };
            fs.close_slot(read_slot);
            fs.close_slot(write_slot);
            fs.fds.insert(read_slot, end(true));
            fs.fds.insert(write_slot, end(false));
        })
    }
}

/// Where SEEK_HOLE or SEEK_DATA from `pos` may land when the holes of `f` may
/// hold preallocated blocks reported as data: SEEK_HOLE anywhere in any hole
/// from `pos` on (the holes before it were preallocated), SEEK_DATA anywhere
/// in the hole that holds `pos` (a preallocated block there is data).
fn preallocated_seek(f: &crate::sparse::SparseFile, pos: u64, whence: Whence) -> Option<Allowed> {
    const WHY: &str = "xfs may report preallocated blocks in a hole as data";
    let holes = f.holes_from(pos);
    let range = |(min, max): (u64, u64)| Allowed::Count {
        min: min as i64,
        max: max as i64,
        bytes: None,
        why: WHY,
    };
    let ranges: Vec<Allowed> = match whence {
        Whence::Hole => holes.into_iter().map(range).collect(),
        _ => holes
            .into_iter()
            .take(1)
            .filter(|&(start, _)| start == pos)
            .map(|(start, end)| range((start, end.min(f.size.saturating_sub(1)))))
            .collect(),
    };
    match ranges.len() {
        0 => None,
        1 => ranges.into_iter().next(),
        _ => Some(Allowed::OneOf(ranges)),
    }
}
