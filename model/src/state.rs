//! The observable state compared between backends after a sequence: the file tree
//! under each scratch root and the fd table.

use crate::op::Slot;
use crate::outcome::FileType;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The namespace of the extended attributes a [`Node`] carries.
pub const USER_XATTR_PREFIX: &str = "user.";

/// One file as observed through stat, read and readlink. Inode numbers, times and
/// block counts are deliberately absent (they are not deterministic).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    #[serde(rename = "type")]
    /// File type.
    pub file_type: FileType,
    /// Permission bits (mode & 07777).
    pub perm: u32,
    /// st_size (0 for directories: their size is filesystem-specific and not compared).
    pub size: u64,
    /// Link count.
    pub nlink: u32,
    /// (major, minor) of a device node, else (0, 0).
    pub rdev: (u32, u32),
    /// Regular files: the maximal runs of non-zero bytes as (offset, bytes); holes
    /// and written zeros look alike here. Symlinks: the target as one run at 0.
    pub data: Vec<(u64, Vec<u8>)>,
    /// Regular files on a real backend: the data extents SEEK_DATA/SEEK_HOLE
    /// report, as (start, end). The model leaves it `None` (where holes fall is
    /// the filesystem's choice); compared only between two real backends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extents: Option<Vec<(u64, u64)>>,
    /// The extended attributes of the `user.` namespace, by full name. Other
    /// namespaces are the filesystem's or a security module's, not compared.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

/// What a descriptor in a slot looks like from outside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdState {
    #[serde(rename = "type")]
    /// File type.
    pub file_type: FileType,
    /// lseek(fd, 0, SEEK_CUR) for regular files; `None` for pipes, FIFOs,
    /// directories (cookies are opaque) and O_PATH descriptors.
    pub offset: Option<i64>,
    /// The O_ACCMODE bits plus O_APPEND/O_NONBLOCK as names ("rdwr|append").
    pub flags: String,
    /// Bytes still queued in a pipe or FIFO, drained at the end through the
    /// first readable slot of that pipe (slot order). `None` elsewhere, and on
    /// the model side where the bytes are not known (spliced pages that changed
    /// since); compared only where both sides know them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Vec<u8>>,
}

/// The whole observable state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct State {
    /// Per scratch root ("root", "other"): relative path -> node. Directories are
    /// listed too, so directory contents are compared by the set of paths.
    pub trees: BTreeMap<String, BTreeMap<String, Node>>,
    /// Occupied slots and what they hold.
    pub fds: BTreeMap<Slot, FdState>,
}

/// Splits a byte buffer into maximal runs of non-zero bytes, offsets relative to
/// `base`. Used by every backend so their snapshots are comparable.
pub fn nonzero_runs(base: u64, bytes: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == 0 {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i] != 0 {
            i += 1;
        }
        out.push((base + start as u64, bytes[start..i].to_vec()));
    }
    out
}

/// Merges runs that touch (the end of one is the start of the next), as produced
/// when a file is read in several chunks.
pub fn merge_runs(runs: Vec<(u64, Vec<u8>)>) -> Vec<(u64, Vec<u8>)> {
    let mut out: Vec<(u64, Vec<u8>)> = Vec::new();
    for (off, bytes) in runs {
        match out.last_mut() {
            Some((o, b)) if *o + b.len() as u64 == off => b.extend_from_slice(&bytes),
            _ => out.push((off, bytes)),
        }
    }
    out
}

/// Describes every difference between two states, one line each (empty if equal).
pub fn diff(left_name: &str, left: &State, right_name: &str, right: &State) -> Vec<String> {
    let mut out = Vec::new();
    let roots: std::collections::BTreeSet<&String> =
        left.trees.keys().chain(right.trees.keys()).collect();
    let empty = BTreeMap::new();
    for root in roots {
        let l = left.trees.get(root).unwrap_or(&empty);
        let r = right.trees.get(root).unwrap_or(&empty);
        let paths: std::collections::BTreeSet<&String> = l.keys().chain(r.keys()).collect();
        for p in paths {
            match (l.get(p), r.get(p)) {
                (Some(_), None) => out.push(format!("{root}/{p}: only in {left_name}")),
                (None, Some(_)) => out.push(format!("{root}/{p}: only in {right_name}")),
                (Some(a), Some(b)) if !same_node(a, b) => {
                    out.push(format!(
                        "{root}/{p}: {left_name} {} vs {right_name} {}",
                        describe(a),
                        describe(b)
                    ));
                }
                _ => {}
            }
        }
    }
    let slots: std::collections::BTreeSet<&Slot> =
        left.fds.keys().chain(right.fds.keys()).collect();
    for s in slots {
        let (a, b) = (left.fds.get(s), right.fds.get(s));
        let known = |x: Option<&FdState>| {
            x.map(|f| FdState {
                pending: None,
                ..f.clone()
            })
        };
        if known(a) != known(b) {
            out.push(format!(
                "fd slot {s}: {left_name} {a:?} vs {right_name} {b:?}"
            ));
        } else if let (Some(Some(pa)), Some(Some(pb))) =
            (a.map(|f| &f.pending), b.map(|f| &f.pending))
        {
            if pa != pb {
                out.push(format!(
                    "fd slot {s}: pipe holds {:?} in {left_name}, {:?} in {right_name}",
                    crate::outcome::Shorten(pa),
                    crate::outcome::Shorten(pb)
                ));
            }
        }
    }
    out
}

/// Node equality, comparing data extents only when both sides report them.
fn same_node(a: &Node, b: &Node) -> bool {
    let strip = |n: &Node| Node {
        extents: None,
        ..n.clone()
    };
    strip(a) == strip(b) && (a.extents.is_none() || b.extents.is_none() || a.extents == b.extents)
}

fn describe(n: &Node) -> String {
    let data: Vec<String> = n
        .data
        .iter()
        .map(|(o, b)| format!("{o}:{:?}", crate::outcome::Shorten(b)))
        .collect();
    let mut extents = match &n.extents {
        Some(e) => format!(" extents={e:?}"),
        None => String::new(),
    };
    for (name, value) in &n.xattrs {
        extents.push_str(&format!(" {name}={:?}", crate::outcome::Shorten(value)));
    }
    format!(
        "{{{:?} {:o} size={} nlink={} rdev={}:{} data=[{}]{extents}}}",
        n.file_type,
        n.perm,
        n.size,
        n.nlink,
        n.rdev.0,
        n.rdev.1,
        data.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs() {
        assert_eq!(
            nonzero_runs(10, b"ab\0\0c"),
            vec![(10, b"ab".to_vec()), (14, b"c".to_vec())]
        );
        assert_eq!(
            merge_runs(vec![
                (0, b"ab".to_vec()),
                (2, b"c".to_vec()),
                (9, b"d".to_vec())
            ]),
            vec![(0, b"abc".to_vec()), (9, b"d".to_vec())]
        );
    }
}
