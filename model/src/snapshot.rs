//! The model's observable state in the same form the real backends produce.

use crate::fs::{Fs, Ino, Kind};
use crate::outcome::FileType;
use crate::state::{FdState, Node, State};
use std::collections::BTreeMap;

impl Fs {
    /// The trees under both roots and the fd table, as [`State`].
    pub fn snapshot(&self) -> State {
        let mut state = State::default();
        for (i, name) in ["root", "other"].iter().enumerate() {
            let mut tree = BTreeMap::new();
            self.collect(self.roots[i], "", &mut tree);
            state.trees.insert(name.to_string(), tree);
        }
        let mut drained = std::collections::BTreeSet::new();
        for (slot, d) in &self.fds {
            let inode = &self.inodes[d.ino];
            let file_type = inode.file_type();
            let flags = if d.path_only {
                "path".to_string()
            } else {
                let mut f = match (d.readable, d.writable) {
                    (true, true) => "rdwr",
                    (false, true) => "wronly",
                    _ => "rdonly",
                }
                .to_string();
                if d.append {
                    f.push_str("|append");
                }
                if d.nonblock {
                    f.push_str("|nonblock");
                }
                f
            };
            let offset = (file_type == FileType::Reg && !d.path_only).then_some(d.pos);
            let pending = match &inode.kind {
                Kind::Fifo(p) if d.readable && !d.path_only => {
                    let first = drained.insert(d.ino);
                    match (first, p.bufs.iter().any(|b| b.stale)) {
                        (false, _) => Some(vec![]),
                        (true, true) => None,
                        (true, false) => Some(p.bufs.iter().flat_map(|b| b.data.clone()).collect()),
                    }
                }
                _ => None,
            };
            state.fds.insert(
                *slot,
                FdState {
                    file_type,
                    offset,
                    flags,
                    pending,
                },
            );
        }
        state
    }

    fn collect(&self, dir: Ino, prefix: &str, out: &mut BTreeMap<String, Node>) {
        for (name, e) in self.entries(dir) {
            let path = format!("{prefix}{name}");
            let s = self.stat_of(e.ino);
            let data = match &self.inodes[e.ino].kind {
                Kind::File(f) => f.nonzero_runs(),
                Kind::Symlink(t) => vec![(0, t.as_bytes().to_vec())],
                _ => vec![],
            };
            out.insert(
                path.clone(),
                Node {
                    file_type: s.file_type,
                    perm: s.perm,
                    size: s.size,
                    nlink: s.nlink,
                    rdev: s.rdev,
                    data,
                    extents: None,
                    xattrs: self.inodes[e.ino]
                        .xattrs
                        .iter()
                        .filter(|(k, _)| k.starts_with(crate::state::USER_XATTR_PREFIX))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                },
            );
            if self.inodes[e.ino].is_dir() {
                self.collect(e.ino, &format!("{path}/"), out);
            }
        }
    }
}
