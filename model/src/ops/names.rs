//! Namespace ops: mkdirat, unlinkat, renameat2, linkat, symlinkat, mknodat.
//! Check orders follow fs/namei.c (filename_create, do_rmdir, do_unlinkat,
//! do_renameat2, vfs_rename, may_delete, do_linkat, may_mknod).

use crate::allowed::Allowed;
use crate::exec::{or_fail, Plan};
use crate::fs::{Fs, Ino, Inode, Kind};
use crate::op::{Dir, NodeType, RenameFlag};
use crate::outcome::Errno;
use crate::pipe::Pipe;
use crate::sparse::SparseFile;
use std::collections::BTreeMap;

/// Found by ringspec on 6.18: after a directory stream returned some entries,
/// a RENAME_EXCHANGE involving that directory makes tmpfs list entries again
/// that the stream already returned and that the exchange did not touch.
/// Reproducer: corpus/regressions/tmpfs_rename_exchange_relists_entries.toml.
pub const TMPFS_EXCHANGE_RELISTS: &str =
    "tmpfs re-lists already returned entries after RENAME_EXCHANGE in the directory (6.18)";

impl Fs {
    /// filename_create: the parent must resolve and the last component be free
    /// (a dangling symlink counts as taken). Returns (parent, name).
    fn create_at(&self, dir: Dir, path: &str) -> Result<(Ino, String), Errno> {
        let l = self.lookup(dir, path, false)?;
        if l.ino.is_some() {
            return Err(Errno::EEXIST);
        }
        Ok((l.parent, l.name))
    }

    pub(crate) fn plan_mkdir(&self, dir: Dir, path: &str, mode: u32) -> Plan {
        let (parent, name) = or_fail!(self.create_at(dir, path));
        let perm = mode & 0o1777 & !self.umask;
        let sb = self.sb(parent);
        Plan::with(Allowed::ok(0), move |fs, _| {
            let ino = fs.alloc(Inode {
                kind: Kind::Dir {
                    entries: BTreeMap::new(),
                    dead: false,
                    emptied: false,
                    next_offset: crate::fs::TMPFS_FIRST_OFFSET,
                },
                perm,
                nlink: 2,
                sb,
                xattrs: Default::default(),
            });
            fs.link_entry(parent, &name, ino);
        })
    }

    pub(crate) fn plan_unlink(&self, dir: Dir, path: &str, removedir: bool) -> Plan {
        let l = or_fail!(self.lookup(dir, path, false));
        let Some(ino) = l.ino else {
            return Plan::fail(Errno::ENOENT);
        };
        let is_dir = self.inodes[ino].is_dir();
        if removedir {
            if !is_dir {
                return Plan::fail(Errno::ENOTDIR);
            }
            if !self.entries(ino).is_empty() {
                return Plan::fail(Errno::ENOTEMPTY);
            }
        } else if is_dir {
            return Plan::fail(Errno::EISDIR);
        }
        let (parent, name) = (l.parent, l.name);
        Plan::with(Allowed::ok(0), move |fs, _| {
            fs.unlink_entry(parent, &name);
            if let Kind::Dir { dead, emptied, .. } = &mut fs.inodes[ino].kind {
                *dead = true;
                *emptied = true;
                fs.inodes[ino].nlink = 0;
            }
        })
    }

    /// filename_parentat: the directory holding the last component of `path`
    /// (every earlier component followed), without looking the last one up.
    fn parent_walk(&self, dir: Dir, path: &str) -> Result<Ino, Errno> {
        let Some(i) = path.rfind('/') else {
            return self.dir_start(dir);
        };
        let l = self.lookup(dir, &path[..i], true)?;
        match l.ino {
            Some(ino) if self.inodes[ino].is_dir() => Ok(ino),
            Some(_) => Err(Errno::ENOTDIR),
            None => Err(Errno::ENOENT),
        }
    }

    /// True if `ino` is `ancestor` or lies below it.
    fn is_within(&self, mut ino: Ino, ancestor: Ino) -> bool {
        loop {
            if ino == ancestor {
                return true;
            }
            match self.parent_of(ino) {
                Some(p) => ino = p,
                None => return false,
            }
        }
    }

    /// The directory containing a directory inode (None for the roots).
    fn parent_of(&self, dir: Ino) -> Option<Ino> {
        (0..self.inodes.len()).find(|&p| {
            matches!(&self.inodes[p].kind, Kind::Dir { entries, .. }
                if entries.values().any(|e| e.ino == dir))
        })
    }

    pub(crate) fn plan_rename(
        &self,
        dir: Dir,
        path: &str,
        new_dir: Dir,
        new_path: &str,
        flags: &[RenameFlag],
    ) -> Plan {
        let noreplace = flags.contains(&RenameFlag::Noreplace);
        let exchange = flags.contains(&RenameFlag::Exchange);
        if noreplace && exchange {
            return Plan::fail(Errno::EINVAL);
        }
        // do_renameat2: filename_parentat resolves both parents, and the
        // mount check (EXDEV) runs, before either last component is looked up.
        let old_parent = or_fail!(self.parent_walk(dir, path));
        let new_parent = or_fail!(self.parent_walk(new_dir, new_path));
        if self.sb(old_parent) != self.sb(new_parent) {
            return Plan::fail(Errno::EXDEV);
        }
        let old = or_fail!(self.lookup(dir, path, false));
        let new = or_fail!(self.lookup(new_dir, new_path, false));
        let Some(src) = old.ino else {
            return Plan::fail(Errno::ENOENT);
        };
        if noreplace && new.ino.is_some() {
            return Plan::fail(Errno::EEXIST);
        }
        if exchange && new.ino.is_none() {
            return Plan::fail(Errno::ENOENT);
        }
        // lock_rename's trap: the source may not be an ancestor of the target's
        // parent (EINVAL), and the target may not be an ancestor of the source.
        if self.inodes[src].is_dir() && self.is_within(new.parent, src) {
            return Plan::fail(Errno::EINVAL);
        }
        if let Some(dst) = new.ino {
            if self.inodes[dst].is_dir() && self.is_within(old.parent, dst) {
                return Plan::fail(if exchange {
                    Errno::EINVAL
                } else {
                    Errno::ENOTEMPTY
                });
            }
        }
        if new.ino == Some(src) {
            return Plan::pure(Allowed::ok(0));
        }
        let src_dir = self.inodes[src].is_dir();
        if let Some(dst) = new.ino {
            let dst_dir = self.inodes[dst].is_dir();
            if !exchange {
                if src_dir && !dst_dir {
                    return Plan::fail(Errno::ENOTDIR);
                }
                if !src_dir && dst_dir {
                    return Plan::fail(Errno::EISDIR);
                }
                if dst_dir && !self.entries(dst).is_empty() {
                    return Plan::fail(self.profile.fs.rename_nonempty_errno());
                }
            }
        }
        let (op, on) = (old.parent, old.name.clone());
        let (np, nn) = (new.parent, new.name.clone());
        let dst = new.ino;
        // Before the tmpfs stream was modelled exactly (see
        // Profile::tmpfs_list_order_dirs) an exchange poisoned it.
        let tmpfs = self.profile.fs.kind == crate::profile::FsKind::Tmpfs
            && !self.profile.tmpfs_list_order_dirs();
        Plan::with(Allowed::ok(0), move |fs, _| {
            // tmpfs offsets (simple_offset_rename, _rename_exchange): a name
            // that existed keeps its offset, whichever inode it now names.
            let on_off = fs.entries(op).get(&on).map(|e| e.offset);
            let nn_off = fs.entries(np).get(&nn).map(|e| e.offset);
            if exchange && tmpfs {
                for d in fs.fds.values_mut().chain([&mut fs.root_desc]) {
                    if (d.ino == op || d.ino == np) && d.cursor.started {
                        d.cursor.known_bug = Some(TMPFS_EXCHANGE_RELISTS);
                    }
                }
            }
            fs.unlink_entry(op, &on);
            fs.inodes[src].nlink += 1;
            if let Some(d) = dst {
                fs.unlink_entry(np, &nn);
                if exchange {
                    fs.inodes[d].nlink += 1;
                    // d_exchange puts the target at the head of the old
                    // directory's list first, then the moved entry.
                    fs.link_entry_at(op, &on, d, on_off);
                } else if let Kind::Dir { dead, .. } = &mut fs.inodes[d].kind {
                    *dead = true;
                    fs.inodes[d].nlink = 0;
                }
            }
            fs.link_entry_at(np, &nn, src, nn_off);
        })
    }

    pub(crate) fn plan_link(&self, dir: Dir, path: &str, new_dir: Dir, new_path: &str) -> Plan {
        let old = or_fail!(self.lookup(dir, path, false));
        let Some(src) = old.ino else {
            return Plan::fail(Errno::ENOENT);
        };
        let (parent, name) = or_fail!(self.create_at(new_dir, new_path));
        if self.sb(parent) != self.inodes[src].sb {
            return Plan::fail(Errno::EXDEV);
        }
        if self.inodes[src].is_dir() {
            return Plan::fail(Errno::EPERM);
        }
        Plan::with(Allowed::ok(0), move |fs, _| {
            fs.inodes[src].nlink += 1;
            fs.link_entry(parent, &name, src);
        })
    }

    pub(crate) fn plan_symlink(&self, target: &str, dir: Dir, path: &str) -> Plan {
        let (parent, name) = or_fail!(self.create_at(dir, path));
        let sb = self.sb(parent);
        let target = target.to_string();
        Plan::with(Allowed::ok(0), move |fs, _| {
            let ino = fs.alloc(Inode {
                kind: Kind::Symlink(target),
                perm: 0o777,
                nlink: 1,
                sb,
                xattrs: Default::default(),
            });
            fs.link_entry(parent, &name, ino);
        })
    }

    pub(crate) fn plan_mknod(
        &self,
        dir: Dir,
        path: &str,
        node_type: NodeType,
        perm: u32,
        dev: (u32, u32),
    ) -> Plan {
        // may_mknod runs before the path is looked up.
        let ifmt = node_type.type_bits() & 0o170000;
        match ifmt {
            0 | 0o100000 | 0o010000 | 0o140000 | 0o020000 | 0o060000 => {}
            0o040000 => return Plan::fail(Errno::EPERM),
            _ => return Plan::fail(Errno::EINVAL),
        }
        let (parent, name) = or_fail!(self.create_at(dir, path));
        // vfs_mknod: devices need CAP_MKNOD, except the whiteout (chr 0:0).
        let whiteout = ifmt == 0o020000 && dev == (0, 0);
        if matches!(ifmt, 0o020000 | 0o060000) && !self.profile.privileged && !whiteout {
            return Plan::fail(Errno::EPERM);
        }
        if matches!(ifmt, 0o020000 | 0o060000) && !self.profile.fs.dev_fits(dev.0, dev.1) {
            return Plan::fail(Errno::EINVAL);
        }
        let perm = self.masked(perm);
        let sb = self.sb(parent);
        let bs = self.profile.fs.block_size;
        let btrfs = self.profile.fs.kind == crate::profile::FsKind::Btrfs;
        Plan::with(Allowed::ok(0), move |fs, _| {
            let kind = match ifmt {
                0o010000 => Kind::Fifo(Pipe::default()),
                0o140000 => Kind::Sock,
                0o020000 => Kind::Chr(dev.0, dev.1),
                0o060000 => Kind::Blk(dev.0, dev.1),
                _ => Kind::File(SparseFile {
                    grow_writes_eof_block: btrfs,
                    ..SparseFile::new(bs)
                }),
            };
            let ino = fs.alloc(Inode {
                kind,
                perm,
                nlink: 1,
                sb,
                xattrs: Default::default(),
            });
            fs.link_entry(parent, &name, ino);
        })
    }
}
