//! getdents64 on large directories (hashed, multi-block on ext4): listing in
//! small buffers, resuming from the d_off of records the kernel returned, and
//! creates and unlinks between calls. The model checks every call: no entry
//! that existed throughout may be lost or returned twice, and entries added or
//! removed meanwhile may appear or not.

use model::{Dir, FdRef, Op, OpenFlag};
use oracle::campaign;
use oracle::differential::{check_sequence, Verdict};
use oracle::scratch::Scratch;

const ENTRIES: usize = 1000;

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

/// A big directory, then passes over it with interleaved changes and seeks.
fn sequence() -> Vec<Op> {
    let mut ops = vec![Op::Mkdir {
        dir: Dir::Root,
        path: "big".into(),
        mode: 0o755,
    }];
    ops.extend((0..ENTRIES).map(|i| create(format!("big/f{i:04}"))));
    ops.push(Op::Open {
        slot: 0,
        dir: Dir::Root,
        path: "big".into(),
        flags: vec![OpenFlag::Directory],
        mode: 0,
    });
    // Pass 1: small buffers, with creates and unlinks every few calls.
    for round in 0..60 {
        ops.push(getdents(512));
        if round % 3 == 0 {
            ops.push(create(format!("big/n{round:03}")));
            ops.push(Op::Unlink {
                dir: Dir::Root,
                path: format!("big/f{:04}", round * 7),
                removedir: false,
            });
        }
    }
    ops.extend((0..20).map(|_| getdents(4096)));
    // Resume from the cookies of records returned in pass 1, each to the end.
    for k in (0..ENTRIES as u32).step_by(97) {
        ops.push(Op::SeekDirent {
            fd: FdRef::Slot(0),
            entry: k,
        });
        ops.extend((0..12).map(|_| getdents(8192)));
    }
    ops
}

#[test]
fn large_directory_streams() {
    let Some(scratch) = Scratch::from_env_or_skip("large_directory_streams") else {
        return;
    };
    let ops = sequence();
    for op in &ops {
        op.validate().unwrap_or_else(|e| panic!("{e}"));
    }
    let target = campaign::syscalls_target(&scratch);
    let roots = scratch.roots("big").unwrap_or_else(|e| panic!("{e}"));
    let mut backend = (target.make)(roots).unwrap_or_else(|e| panic!("{e}"));
    let res = check_sequence(&target.profile, &ops, backend.as_mut());
    let dents = res
        .executed
        .get(&model::OpKind::Getdents)
        .copied()
        .unwrap_or(0);
    eprintln!(
        "large directory on {}: {} ops, {dents} getdents64 calls",
        target.profile.fs.kind.name(),
        ops.len()
    );
    match res.verdict {
        Verdict::Agree => {}
        Verdict::Poisoned(why) => panic!("poisoned: {why}"),
        Verdict::Diverged(d) => panic!("{d}"),
    }
    assert!(dents > 100, "too few getdents64 calls ran: {dents}");
}
