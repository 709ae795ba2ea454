//! The named, model-checked op sequences of the proposed opcodes: each runs
//! through a target (syscalls, or io_uring in one submission path) and every op
//! and the final state are judged by the model, as in the campaign.

use model::{Dir, FdRef, Op, OpenFlag};

/// Parses one op written as in corpus/scenarios/*.toml.
fn op(text: &str) -> Op {
    crate::scenario::parse_op(text).unwrap_or_else(|e| panic!("checks: bad op {e}"))
}

fn ops(texts: &[&str]) -> Vec<Op> {
    texts.iter().map(|t| op(t)).collect()
}

fn create(path: String) -> Op {
    Op::Mknod {
        dir: Dir::Root,
        path,
        node_type: model::NodeType::Reg,
        perm: 0o644,
        major: 0,
        minor: 0,
    }
}

fn getdents(count: u64) -> Op {
    Op::Getdents {
        fd: FdRef::Slot(0),
        count,
    }
}

/// Entries of the directory [`getdents_cursor`] lists: enough for a multi-block,
/// hashed (htree) directory on ext4 with 4 KiB blocks.
pub const CURSOR_ENTRIES: usize = 600;

/// `getdents_cursor`: a directory of [`CURSOR_ENTRIES`] entries (hashed on
/// ext4: d_off cookies are hashes, not indices) listed in small buffers with
/// creates and unlinks between calls, then resumed (seekdir) from the cookies of
/// records returned earlier, each resumption read to the end. No entry that
/// existed throughout may be lost or returned twice (the model's rule); through
/// io_uring the cursor is the file position the opcode advances.
pub fn getdents_cursor() -> Vec<Op> {
    big_directory_stream(&DirStream {
        entries: CURSOR_ENTRIES,
        rounds: 40,
        buffers: [200, 512],
        drain: 8,
        resume_step: 131,
        reads_per_resume: 8,
        rewind: true,
    })
}

/// The shape of a [`big_directory_stream`].
#[derive(Debug, Clone, Copy)]
pub struct DirStream {
    /// Files in `big/` before the stream opens.
    pub entries: usize,
    /// Small-buffer getdents64 calls in the first pass; every third one is
    /// followed by a create and an unlink.
    pub rounds: u32,
    /// The buffer sizes of those calls, alternating.
    pub buffers: [u64; 2],
    /// 4096-byte calls that end the first pass.
    pub drain: usize,
    /// Resume from the cookie of every `resume_step`-th record returned.
    pub resume_step: usize,
    /// 8192-byte calls after each resumption.
    pub reads_per_resume: usize,
    /// Rewind (lseek 0) and list again at the end.
    pub rewind: bool,
}

/// A directory `big/` of `entries` files (hashed, multi-block on ext4), opened
/// as slot 0 and listed in small buffers with creates and unlinks between
/// calls, then resumed (seekdir) from the cookies of records returned earlier.
/// The model judges every call: no entry that existed throughout may be lost
/// or returned twice; entries added or removed meanwhile may appear or not.
pub fn big_directory_stream(shape: &DirStream) -> Vec<Op> {
    let mut v = vec![Op::Mkdir {
        dir: Dir::Root,
        path: "big".into(),
        mode: 0o755,
    }];
    v.extend((0..shape.entries).map(|i| create(format!("big/f{i:04}"))));
    v.push(Op::Open {
        slot: 0,
        dir: Dir::Root,
        path: "big".into(),
        flags: vec![OpenFlag::Directory],
        mode: 0,
    });
    for round in 0..shape.rounds {
        v.push(getdents(shape.buffers[round as usize % 2]));
        if round % 3 == 0 {
            v.push(create(format!("big/n{round:03}")));
            v.push(Op::Unlink {
                dir: Dir::Root,
                path: format!("big/f{:04}", round * 7),
                removedir: false,
            });
        }
    }
    v.extend((0..shape.drain).map(|_| getdents(4096)));
    for k in (0..shape.entries as u32).step_by(shape.resume_step) {
        v.push(Op::SeekDirent {
            fd: FdRef::Slot(0),
            entry: k,
        });
        v.extend((0..shape.reads_per_resume).map(|_| getdents(8192)));
    }
    if shape.rewind {
        v.push(Op::Lseek {
            fd: FdRef::Slot(0),
            offset: 0,
            whence: model::Whence::Set,
        });
        v.extend((0..8).map(|_| getdents(8192)));
    }
    v
}

/// `cfr_short_copies`: copies that come up short (past the input's end of
/// file, from the file position and from explicit offsets), zero-length copies
/// at and past the end, and the file positions they must advance by exactly
/// the bytes copied (the final state compares every descriptor's offset).
pub fn cfr_short_copies() -> Vec<Op> {
    ops(&[
        r#"{ op = "open", slot = 0, path = "src", flags = ["creat", "rdwr"], mode = 0o644 }"#,
        r#"{ op = "write", fd = 0, data = "0123456789" }"#,
        r#"{ op = "open", slot = 1, path = "dst", flags = ["creat", "rdwr"], mode = 0o644 }"#,
        r#"{ op = "lseek", fd = 0, offset = 4, whence = "set" }"#,
        // 6 of 100 bytes from the position: both positions advance by 6.
        r#"{ op = "copy_file_range", fd_in = 0, fd_out = 1, len = 100 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, fd_out = 1, len = 100 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, off_in = 7, fd_out = 1, len = 50 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, off_in = 9, fd_out = 1, off_out = 100, len = 4096 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, off_in = 10, fd_out = 1, len = 8 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, off_in = 4096, fd_out = 1, len = 8 }"#,
        r#"{ op = "lseek", fd = 0, offset = 0, whence = "set" }"#,
        r#"{ op = "copy_file_range", fd_in = 0, fd_out = 1, off_out = 3, len = 10 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, fd_out = 1, len = 0 }"#,
        r#"{ op = "read", fd = 1, len = 64, offset = 0 }"#,
        // A bigger file copied in pieces from the position.
        r#"{ op = "write", fd = 0, data = { fill = "a", len = 20000 }, offset = 10 }"#,
        r#"{ op = "lseek", fd = 0, offset = 1, whence = "set" }"#,
        r#"{ op = "copy_file_range", fd_in = 0, fd_out = 1, len = 12345 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, fd_out = 1, len = 12345 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, fd_out = 1, len = 12345 }"#,
        r#"{ op = "fstat", fd = 1 }"#,
    ])
}

/// `cfr_same_file`: copy_file_range within one file: overlapping ranges
/// (EINVAL), disjoint ones, the same description on both sides with the file
/// position (an overlap by construction), and two descriptions of one file.
pub fn cfr_same_file() -> Vec<Op> {
    ops(&[
        r#"{ op = "open", slot = 0, path = "f", flags = ["creat", "rdwr"], mode = 0o644 }"#,
        r#"{ op = "write", fd = 0, data = "abcdefghijklmnopqrstuvwxyz" }"#,
        r#"{ op = "copy_file_range", fd_in = 0, off_in = 0, fd_out = 0, off_out = 4, len = 8 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, off_in = 4, fd_out = 0, off_out = 0, len = 8 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, off_in = 0, fd_out = 0, off_out = 8, len = 8 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, off_in = 0, fd_out = 0, off_out = 26, len = 26 }"#,
        r#"{ op = "lseek", fd = 0, offset = 2, whence = "set" }"#,
        r#"{ op = "copy_file_range", fd_in = 0, fd_out = 0, len = 4 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, fd_out = 0, off_out = 60, len = 4 }"#,
        r#"{ op = "open", slot = 1, path = "f", flags = ["rdwr"] }"#,
        r#"{ op = "copy_file_range", fd_in = 0, fd_out = 1, len = 5 }"#,
        r#"{ op = "copy_file_range", fd_in = 1, off_in = 0, fd_out = 0, len = 3 }"#,
        r#"{ op = "read", fd = 1, len = 128, offset = 0 }"#,
    ])
}

/// `cfr_errors`: copy_file_range across filesystems (the other root is another
/// superblock: EXDEV as the model says for this filesystem), on a directory
/// (EISDIR), a pipe (EINVAL), a read-only output and an O_APPEND output
/// (EBADF), a bad flag (EINVAL) and a negative offset (EINVAL).
pub fn cfr_errors() -> Vec<Op> {
    ops(&[
        r#"{ op = "open", slot = 0, path = "a", flags = ["creat", "rdwr"], mode = 0o644 }"#,
        r#"{ op = "write", fd = 0, data = "cross filesystem data" }"#,
        r#"{ op = "open", slot = 1, dir = "other", path = "b", flags = ["creat", "rdwr"], mode = 0o644 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, off_in = 0, fd_out = 1, len = 5 }"#,
        r#"{ op = "copy_file_range", fd_in = 1, fd_out = 0, len = 5 }"#,
        r#"{ op = "mkdir", path = "d" }"#,
        r#"{ op = "open", slot = 2, path = "d", flags = ["directory"] }"#,
        r#"{ op = "copy_file_range", fd_in = 2, fd_out = 0, len = 5 }"#,
        r#"{ op = "pipe", read_slot = 3, write_slot = 4 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, off_in = 0, fd_out = 4, len = 5 }"#,
        r#"{ op = "open", slot = 5, path = "a", flags = ["rdonly"] }"#,
        r#"{ op = "copy_file_range", fd_in = 0, off_in = 0, fd_out = 5, len = 5 }"#,
        r#"{ op = "open", slot = 6, path = "c", flags = ["creat", "wronly", "append"], mode = 0o644 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, off_in = 0, fd_out = 6, len = 5 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, off_in = 0, fd_out = 5, len = 5, flags = 1 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, off_in = -5, fd_out = 1, len = 5 }"#,
        r#"{ op = "copy_file_range", fd_in = 7, fd_out = 1, len = 5 }"#,
    ])
}

/// `mknod_types_umask`: mknodat of every file type (none, regular, FIFO,
/// socket, character and block device, directory, symlink and an invalid
/// type) under four umasks, set-id and sticky bits, an existing name (EEXIST),
/// a missing parent (ENOENT) and a file as parent (ENOTDIR). The final state
/// compares every node's type, permission bits and rdev.
pub fn mknod_types_umask() -> Vec<Op> {
    let types = [
        "none", "reg", "fifo", "sock", "chr", "blk", "dir", "lnk", "0o170000",
    ];
    let mut v = Vec::new();
    for (u, mask) in [0o000u32, 0o022, 0o077, 0o777].iter().enumerate() {
        v.push(Op::Umask { mask: *mask });
        for t in types {
            let ty = if t.starts_with("0o") {
                t.to_string()
            } else {
                format!("\"{t}\"")
            };
            for perm in ["0o777", "0o4755", "0o1640"] {
                let name = format!("n{u}_{}_{}", t.trim_start_matches("0o"), &perm[2..]);
                v.push(op(&format!(
                    r#"{{ op = "mknod", path = "{name}", type = {ty}, perm = {perm}, major = 1, minor = 7 }}"#
                )));
            }
        }
    }
    v.extend(ops(&[
        r#"{ op = "umask", mask = 0o022 }"#,
        r#"{ op = "mknod", path = "n0_fifo_777", type = "fifo" }"#,
        r#"{ op = "mknod", path = "n0_reg_777", type = "reg" }"#,
        r#"{ op = "mknod", path = "n0_chr_777", type = "chr", major = 1, minor = 3 }"#,
        r#"{ op = "mkdir", path = "d" }"#,
        r#"{ op = "mknod", path = "d", type = "fifo" }"#,
        r#"{ op = "mknod", path = "missing/x", type = "fifo" }"#,
        r#"{ op = "mknod", path = "n0_reg_777/x", type = "fifo" }"#,
        r#"{ op = "mknod", path = "d/fifo", type = "fifo", perm = 0o600 }"#,
        r#"{ op = "mknod", dir = "other", path = "sock", type = "sock" }"#,
    ]));
    v
}

/// `getdents_chain`: getdents64 and copy_file_range as members of linked
/// chains (through the linked target): full and short copies, a failing member
/// (getdents64 on a non-directory, a buffer too small for one record) that must
/// cancel the rest, and directory reads that continue the chain.
pub fn chains() -> Vec<Op> {
    ops(&[
        r#"{ op = "open", slot = 0, path = "a", flags = ["creat", "rdwr"], mode = 0o644 }"#,
        r#"{ op = "write", fd = 0, data = "0123456789abcdef" }"#,
        r#"{ op = "open", slot = 1, path = "b", flags = ["creat", "rdwr"], mode = 0o644 }"#,
        r#"{ op = "mkdir", path = "d" }"#,
        r#"{ op = "mknod", path = "d/x", type = "fifo" }"#,
        r#"{ op = "mknod", path = "d/y", type = "reg" }"#,
        r#"{ op = "open", slot = 2, path = "d", flags = ["directory"] }"#,
        r#"{ op = "copy_file_range", fd_in = 0, off_in = 0, fd_out = 1, len = 4 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, off_in = 4, fd_out = 1, len = 4 }"#,
        r#"{ op = "getdents", fd = 2, count = 48 }"#,
        r#"{ op = "read", fd = 1, len = 8, offset = 0 }"#,
        // A short copy: the rest of this chain is cancelled.
        r#"{ op = "copy_file_range", fd_in = 0, off_in = 12, fd_out = 1, len = 100 }"#,
        r#"{ op = "getdents", fd = 2, count = 4096 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, off_in = 0, fd_out = 1, off_out = 100, len = 2 }"#,
        r#"{ op = "fstat", fd = 1 }"#,
        // A failing getdents64 (a regular file): the rest is cancelled.
        r#"{ op = "getdents", fd = 0, count = 4096 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, off_in = 0, fd_out = 1, len = 3 }"#,
        r#"{ op = "getdents", fd = 2, count = 4096 }"#,
        r#"{ op = "fstat", fd = 1 }"#,
        // A buffer too small for a record: EINVAL, the rest is cancelled.
        r#"{ op = "lseek", fd = 2, offset = 0, whence = "set" }"#,
        r#"{ op = "getdents", fd = 2, count = 10 }"#,
        r#"{ op = "copy_file_range", fd_in = 0, off_in = 0, fd_out = 1, len = 3 }"#,
        r#"{ op = "getdents", fd = 2, count = 4096 }"#,
        r#"{ op = "getdents", fd = 2, count = 4096 }"#,
        r#"{ op = "fstat", fd = 1 }"#,
    ])
}

/// The named sequences: (name, the op kind the row is about, ops).
pub fn all() -> Vec<(&'static str, model::OpKind, Vec<Op>)> {
    use model::OpKind;
    vec![
        ("getdents_cursor", OpKind::Getdents, getdents_cursor()),
        (
            "cfr_short_copies",
            OpKind::CopyFileRange,
            cfr_short_copies(),
        ),
        ("cfr_same_file", OpKind::CopyFileRange, cfr_same_file()),
        ("cfr_errors", OpKind::CopyFileRange, cfr_errors()),
        ("mknod_types_umask", OpKind::Mknod, mknod_types_umask()),
        ("chains", OpKind::CopyFileRange, chains()),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_sequence_is_valid() {
        for (name, _, ops) in super::all() {
            assert!(!ops.is_empty(), "{name}");
            for op in &ops {
                op.validate()
                    .unwrap_or_else(|e| panic!("{name}: {op:?}: {e}"));
            }
        }
    }
}
