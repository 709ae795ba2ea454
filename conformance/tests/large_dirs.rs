//! getdents64 on large directories (hashed, multi-block on ext4): listing in
//! small buffers, resuming from the d_off of records the kernel returned, and
//! creates and unlinks between calls. The model checks every call: no entry
//! that existed throughout may be lost or returned twice, and entries added or
//! removed meanwhile may appear or not.

use model::Op;
use oracle::campaign;
use oracle::checks::sequences::{big_directory_stream, DirStream};
use oracle::differential::{check_sequence, Verdict};
use sys::scratch::Scratch;

const ENTRIES: usize = 1000;

/// A big directory, then passes over it with interleaved changes and seeks.
fn sequence() -> Vec<Op> {
    big_directory_stream(&DirStream {
        entries: ENTRIES,
        rounds: 60,
        buffers: [512, 512],
        drain: 20,
        resume_step: 97,
        reads_per_resume: 12,
        rewind: false,
    })
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
