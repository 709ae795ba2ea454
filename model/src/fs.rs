//! The in-memory filesystem: inodes, two scratch roots on different superblocks,
//! path resolution, and the fd table of open file descriptions.

use crate::op::{Dir, FdRef, Slot, SpecialFd};
use crate::outcome::{Errno, FileType};
use crate::pipe::Pipe;
use crate::profile::Profile;
use crate::sparse::SparseFile;
use std::collections::{BTreeMap, BTreeSet};

/// Inode number inside the model (never compared with the kernel's).
pub type Ino = usize;

/// Symlink hops before ELOOP (the kernel's MAXSYMLINKS).
const MAX_SYMLINKS: u32 = 40;

/// One directory entry: the inode and the model time it was linked, which tells
/// directory streams whether the entry existed when they started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The inode.
    pub ino: Ino,
    /// Model time the entry was linked.
    pub born: u64,
    /// tmpfs stable directory offset (fs/libfs.c simple_offset_add: allocated
    /// from the directory's `next_offset`, kept or swapped by renames); the
    /// d_off cookie that resumes a stream at this entry.
    pub offset: u64,
    /// Position in the directory's dentry list (larger = nearer the head):
    /// d_alloc and d_move put a new or renamed entry at the head.
    pub seq: u64,
}

/// The first offset tmpfs gives an entry (DIR_OFFSET_MIN: 0 and 1 are "." and
/// "..", 2 is DIR_OFFSET_FIRST, "start at the head of the list").
pub const TMPFS_FIRST_OFFSET: u64 = 3;

/// tmpfs' end-of-directory position (DIR_OFFSET_EOD = S32_MAX).
pub const TMPFS_EOD: i64 = i32::MAX as i64;

/// What the model knows about a directory descriptor's file position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DirPos {
    /// Exactly [`Desc::pos`].
    #[default]
    Exact,
    /// Somewhere in `lo..=hi` (a filesystem cookie the model does not know).
    Within(i64, i64),
}

/// What an inode is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A regular file: a sparse byte map.
    File(SparseFile),
    /// A directory: name -> entry. Removed directories keep `dead = true`.
    Dir {
        /// Name -> entry ("." and ".." are implicit).
        entries: BTreeMap<String, Entry>,
        /// Removed (rmdir or renamed over) while still open.
        dead: bool,
        /// Removed by rmdir, which sets ext4's i_size to 0 (no longer an
        /// indexed directory); one renamed over keeps its blocks.
        emptied: bool,
        /// The next tmpfs offset to allocate (offset_ctx->next_offset).
        next_offset: u64,
    },
    /// A symlink and its target.
    Symlink(String),
    /// A FIFO or an anonymous pipe; the pipe exists while it has openers.
    Fifo(Pipe),
    /// A socket node (cannot be opened).
    Sock,
    /// A character device (major, minor).
    Chr(u32, u32),
    /// A block device (major, minor).
    Blk(u32, u32),
}

/// An inode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inode {
    /// What the inode is, with its contents.
    pub kind: Kind,
    /// Permission bits (mode & 07777).
    pub perm: u32,
    /// Link count as statx reports it.
    pub nlink: u32,
    /// Which superblock: 0 = main root, 1 = other root, 2 = pipefs.
    pub sb: u8,
    /// Extended attributes by full name ("user.a"), in every namespace the
    /// ops set.
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

impl Inode {
    /// The type as statx/getdents report it.
    pub fn file_type(&self) -> FileType {
        match self.kind {
            Kind::File(_) => FileType::Reg,
            Kind::Dir { .. } => FileType::Dir,
            Kind::Symlink(_) => FileType::Lnk,
            Kind::Fifo(_) => FileType::Fifo,
            Kind::Sock => FileType::Sock,
            Kind::Chr(..) => FileType::Chr,
            Kind::Blk(..) => FileType::Blk,
        }
    }

    /// True for directories.
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, Kind::Dir { .. })
    }
}

/// A directory stream's position, as a set: which names it has returned since it
/// (re)started, and which existed at that start.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirCursor {
    /// Names returned since the stream (re)started, with the model time of
    /// the call that returned them: an entry linked under the name after that
    /// is a new entry, which the stream may list again.
    pub returned: BTreeMap<String, u64>,
    /// Model time of the (re)start: entries born after it are optional.
    pub since: u64,
    /// Names removed from the directory since the start (they may still
    /// appear, with the type of any entry that had the name).
    pub removed: BTreeMap<String, BTreeSet<FileType>>,
    /// `removed` as it was before rewinds that no getdents64 has followed
    /// yet: ext4 resets its readdir cache only when a call starts at another
    /// position than the last one ended at, so a seek back to that position
    /// still emits the cached entry that did not fit (info->extra_fname), even
    /// if it was removed before the rewind.
    pub removed_before_rewind: BTreeMap<String, BTreeSet<FileType>>,
    /// For the k-th record this descriptor returned: the `returned` set right
    /// after it and the model time, so `SeekDirent { entry: k }` can resume there.
    /// `None` for a record returned while the stream was unknown.
    pub history: Vec<Option<Resume>>,
    /// After an lseek to an arbitrary position the stream is unknown.
    pub unknown: bool,
    /// Set when a documented kernel bug makes this stream's next results
    /// wrong (see [`crate::Allowed::KnownBug`]); cleared by a rewind.
    pub known_bug: Option<&'static str>,
    /// False until the first getdents64 after open or a rewind: entries created
    /// before that call are part of the stream (every filesystem reads the
    /// directory at that first call, not at open).
    pub started: bool,
    /// What the model knows about the descriptor's position (the d_off cookie
    /// of the last record returned, or a filesystem's end-of-directory mark).
    pub pos: DirPos,
}

/// Where `SeekDirent` resumes a stream: the state right after one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume {
    /// The names returned since the stream's start (with the time), this
    /// record included.
    pub returned: BTreeMap<String, u64>,
    /// The stream's start (model time).
    pub since: u64,
    /// The record's d_off cookie: the exact value where known (tmpfs), else
    /// the range it lies in.
    pub pos: (i64, DirPos),
}

/// An open file description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desc {
    /// The inode.
    pub ino: Ino,
    /// Opened for reading (FMODE_READ).
    pub readable: bool,
    /// Opened for writing (FMODE_WRITE).
    pub writable: bool,
    /// O_PATH: usable only as a dirfd, for fstat and close.
    pub path_only: bool,
    /// O_APPEND: writes go to the end of file.
    pub append: bool,
    /// O_NONBLOCK.
    pub nonblock: bool,
    /// The file position.
    pub pos: i64,
    /// Directory stream state (directories only).
    pub cursor: DirCursor,
    /// ext4's per-file readdir state (struct dir_private_info), made by the
    /// first getdents64 and kept until close: `None` before it, `Some(true)`
    /// while it was made at the end-of-directory position and not reset
    /// since (see [`EXT4_REWIND_IGNORED`]), else `Some(false)`.
    pub readdir_info: Option<bool>,
    /// A named FIFO's writer-open counter ([`crate::pipe::Pipe::w_counter`])
    /// when this description was opened: until it moves, pipe_poll hides the
    /// hang-up of a FIFO that had no writer yet.
    pub fifo_w_seen: u64,
}

/// Found by ringspec on 6.18: when the first getdents64 on an ext4 directory
/// descriptor runs at the htree end position (LLONG_MAX, e.g. after
/// lseek(SEEK_HOLE) or lseek(LLONG_MAX)), ext4_htree_create_dir_info takes its
/// hash from that position but leaves last_pos at 0, so the next rewind to 0
/// is not seen as a seek: the call after it lists nothing and the directory
/// reads as empty until a second rewind. Reproducer:
/// corpus/regressions/ext4_rewind_ignored_after_first_getdents_at_eof.toml.
pub const EXT4_REWIND_IGNORED: &str =
    "ext4 ignores the first rewind after a descriptor's first getdents64 ran at the end position (6.18)";

/// The whole model state.
#[derive(Debug, Clone)]
pub struct Fs {
    /// Every inode ever created (an arena; never freed).
    pub inodes: Vec<Inode>,
    /// Root directories of the main (0) and other (1) scratch roots.
    pub roots: [Ino; 2],
    /// The fd table: slot -> open file description.
    pub fds: BTreeMap<Slot, Desc>,
    /// The description `fd = "root"` names: the main root opened O_RDONLY by the
    /// backend before the first op. It cannot be closed.
    pub root_desc: Desc,
    /// The thread's file creation mask.
    pub umask: u32,
    /// Kernel, filesystem and interface facts.
    pub profile: Profile,
    /// Model time: incremented by every op.
    pub clock: u64,
    /// Counter for [`Entry::seq`].
    pub seq: u64,
    /// The scratch filesystem may be full (see [`crate::exec::SCRATCH_MAY_BE_FULL`]).
    pub may_be_full: bool,
    /// The interface of the op being planned: the profile's, except for op
    /// kinds the backend runs through the syscalls ([`Profile::sync_kinds`]).
    pub interface: std::cell::Cell<crate::profile::Interface>,
}

/// Where a path lands: an existing inode, or a missing last component in an
/// existing directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    /// The directory holding the last component.
    pub parent: Ino,
    /// The last component.
    pub name: String,
    /// The inode it names (after following a final symlink if asked), if any.
    pub ino: Option<Ino>,
}

impl Fs {
    /// An empty model: two empty roots, no descriptors, umask 022.
    pub fn new(profile: Profile) -> Fs {
        let root = |sb| Inode {
            kind: Kind::Dir {
                entries: BTreeMap::new(),
                dead: false,
                emptied: false,
                next_offset: TMPFS_FIRST_OFFSET,
            },
            perm: 0o755,
            nlink: 2,
            sb,
            xattrs: BTreeMap::new(),
        };
        Fs {
            // Without a second filesystem both roots share one superblock.
            inodes: vec![root(0), root(if profile.cross_fs { 1 } else { 0 })],
            roots: [0, 1],
            fds: BTreeMap::new(),
            root_desc: Desc {
                ino: 0,
                readable: true,
                writable: false,
                path_only: false,
                append: false,
                nonblock: false,
                pos: 0,
                cursor: DirCursor::default(),
                readdir_info: None,
                fifo_w_seen: 0,
            },
            umask: 0o022,
            interface: std::cell::Cell::new(profile.interface),
            profile,
            clock: 1,
            seq: 0,
            may_be_full: false,
        }
    }

    /// Adds an inode and returns its number.
    pub fn alloc(&mut self, inode: Inode) -> Ino {
        self.inodes.push(inode);
        self.inodes.len() - 1
    }

    /// The entries of a directory inode.
    pub fn entries(&self, dir: Ino) -> &BTreeMap<String, Entry> {
        match &self.inodes[dir].kind {
            Kind::Dir { entries, .. } => entries,
            _ => panic!("inode {dir} is not a directory"),
        }
    }

    fn entries_mut(&mut self, dir: Ino) -> &mut BTreeMap<String, Entry> {
        match &mut self.inodes[dir].kind {
            Kind::Dir { entries, .. } => entries,
            _ => panic!("inode {dir} is not a directory"),
        }
    }

    /// The description in a slot, or EBADF. O_PATH descriptors are EBADF here too
    /// (fdget refuses them); use [`Fs::desc_any`] where O_PATH is accepted.
    pub fn desc(&self, fd: FdRef) -> Result<&Desc, Errno> {
        match self.desc_any(fd)? {
            d if d.path_only => Err(Errno::EBADF),
            d => Ok(d),
        }
    }

    /// The description in a slot, O_PATH included.
    pub fn desc_any(&self, fd: FdRef) -> Result<&Desc, Errno> {
        match fd {
            FdRef::Slot(s) => self.fds.get(&s).ok_or(Errno::EBADF),
            FdRef::Special(SpecialFd::Bad) => Err(Errno::EBADF),
            FdRef::Special(SpecialFd::Root) => Ok(&self.root_desc),
        }
    }

    /// Mutable access to a slot's description (only slots can be mutated).
    pub fn desc_mut(&mut self, fd: FdRef) -> Option<&mut Desc> {
        match fd {
            FdRef::Slot(s) => self.fds.get_mut(&s),
            FdRef::Special(SpecialFd::Root) => Some(&mut self.root_desc),
            FdRef::Special(SpecialFd::Bad) => None,
        }
    }

    /// The directory inode a dirfd operand names.
    pub fn dir_start(&self, dir: Dir) -> Result<Ino, Errno> {
        match dir {
            Dir::Root => Ok(self.roots[0]),
            Dir::Other => Ok(self.roots[1]),
            Dir::Bad => Err(Errno::EBADF),
            Dir::Fd(s) => {
                let d = self.fds.get(&s).ok_or(Errno::EBADF)?;
                if self.inodes[d.ino].is_dir() {
                    Ok(d.ino)
                } else {
                    Err(Errno::ENOTDIR)
                }
            }
        }
    }

    /// Resolves `path` from `dir` like the kernel's path walk: every component
    /// but the last must be a (possibly symlinked) directory; the last is followed
    /// if it is a symlink and `follow` is set.
    pub fn lookup(&self, dir: Dir, path: &str, follow: bool) -> Result<Lookup, Errno> {
        self.lookup_counting_symlinks(dir, path, follow)
            .map(|(found, _)| found)
    }

    /// [`Fs::lookup`], with the number of symlinks the walk followed.
    pub fn lookup_counting_symlinks(
        &self,
        dir: Dir,
        path: &str,
        follow: bool,
    ) -> Result<(Lookup, u32), Errno> {
        let start = self.dir_start(dir)?;
        let mut hops = 0;
        self.walk(start, path, follow, &mut hops)
            .map(|found| (found, hops))
    }

    fn walk(&self, start: Ino, path: &str, follow: bool, hops: &mut u32) -> Result<Lookup, Errno> {
        let comps: Vec<&str> = path.split('/').collect();
        let mut cur = start;
        for (i, comp) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            if !self.inodes[cur].is_dir() {
                return Err(Errno::ENOTDIR);
            }
            let found = self.entries(cur).get(*comp).map(|e| e.ino);
            let Some(ino) = found else {
                // Nothing can be created in a removed directory.
                let dead = matches!(self.inodes[cur].kind, Kind::Dir { dead: true, .. });
                if last && !dead {
                    return Ok(Lookup {
                        parent: cur,
                        name: comp.to_string(),
                        ino: None,
                    });
                }
                return Err(Errno::ENOENT);
            };
            if let Kind::Symlink(target) = &self.inodes[ino].kind {
                if !last || follow {
                    *hops += 1;
                    if *hops > MAX_SYMLINKS {
                        return Err(Errno::ELOOP);
                    }
                    let r = self.walk(cur, target, true, hops)?;
                    if last {
                        return Ok(r);
                    }
                    match r.ino {
                        Some(t) => {
                            cur = t;
                            continue;
                        }
                        None => return Err(Errno::ENOENT),
                    }
                }
            }
            if last {
                return Ok(Lookup {
                    parent: cur,
                    name: comp.to_string(),
                    ino: Some(ino),
                });
            }
            cur = ino;
        }
        unreachable!("paths have at least one component")
    }

    /// Links `ino` as `name` in `dir` (the caller checked it is free), at the
    /// head of the dentry list with a newly allocated tmpfs offset.
    pub fn link_entry(&mut self, dir: Ino, name: &str, ino: Ino) {
        self.link_entry_at(dir, name, ino, None);
    }

    /// [`Fs::link_entry`] keeping a given tmpfs offset (a rename that replaces
    /// or exchanges an entry reuses its offset instead of allocating one).
    pub fn link_entry_at(&mut self, dir: Ino, name: &str, ino: Ino, offset: Option<u64>) {
        let born = self.clock;
        self.seq += 1;
        let seq = self.seq;
        let Kind::Dir {
            entries,
            next_offset,
            ..
        } = &mut self.inodes[dir].kind
        else {
            panic!("inode {dir} is not a directory");
        };
        let offset = offset.unwrap_or_else(|| {
            *next_offset += 1;
            *next_offset - 1
        });
        entries.insert(
            name.to_string(),
            Entry {
                ino,
                born,
                offset,
                seq,
            },
        );
        if self.inodes[ino].is_dir() {
            self.inodes[dir].nlink += 1;
        }
    }

    /// Removes `name` from `dir`, updating link counts and the directory streams
    /// open on `dir` (the name becomes optional for them).
    pub fn unlink_entry(&mut self, dir: Ino, name: &str) -> Ino {
        let e = self
            .entries_mut(dir)
            .remove(name)
            .expect("unlink_entry of a missing name");
        let t = self.inodes[e.ino].file_type();
        if self.inodes[e.ino].is_dir() {
            self.inodes[dir].nlink -= 1;
        }
        self.inodes[e.ino].nlink = self.inodes[e.ino].nlink.saturating_sub(1);
        for d in self.fds.values_mut().chain([&mut self.root_desc]) {
            if d.ino == dir {
                d.cursor
                    .removed
                    .entry(name.to_string())
                    .or_default()
                    .insert(t);
            }
        }
        e.ino
    }

    /// The superblock a directory operand lives on (for EXDEV).
    pub fn sb(&self, ino: Ino) -> u8 {
        self.inodes[ino].sb
    }

    /// Applies the umask to creation permission bits.
    pub fn masked(&self, perm: u32) -> u32 {
        perm & 0o7777 & !self.umask
    }

    /// Closes the description in a slot, releasing pipe ends.
    pub fn close_slot(&mut self, slot: Slot) -> bool {
        let Some(d) = self.fds.remove(&slot) else {
            return false;
        };
        if d.path_only {
            return true;
        }
        let lazy = self.uring() && self.profile.uring_async && self.profile.kernel < (6, 18);
        if let Kind::Fifo(p) = &mut self.inodes[d.ino].kind {
            p.release(d.readable, d.writable);
            if lazy && d.readable && p.readers == 0 {
                p.lazy_release = true;
            }
        }
        true
    }

    /// Records that a regular file's contents changed: pipe buffers that still
    /// reference its pages (spliced earlier) no longer hold known bytes.
    pub fn file_changed(&mut self, ino: Ino) {
        for inode in &mut self.inodes {
            if let Kind::Fifo(p) = &mut inode.kind {
                p.file_changed(ino);
            }
        }
    }

    /// Installs a description in a slot, closing any previous occupant.
    pub fn install(&mut self, slot: Slot, mut desc: Desc) {
        self.close_slot(slot);
        desc.cursor.since = self.clock;
        self.fds.insert(slot, desc);
    }
}
