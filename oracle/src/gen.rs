//! Random op sequences: a small name space (so EEXIST, ENOENT, same-file copies
//! and overlaps are frequent), live fd slots, boundary values for numbers, and
//! swarm testing (each sequence enables a random subset of op kinds).

use model::{
    Advice, Dir, FallocFlag, FdRef, NodeType, Off, Op, OpKind, OpenFlag, Payload, RenameFlag,
    SpecialFd, Whence,
};
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

/// The path alphabet: a few names at the top, a nested directory `d/e`.
pub const PATHS: &[&str] = &["a", "b", "c", "d", "e", "d/a", "d/b", "d/e", "d/e/a", "e/a"];

/// The generator's random source for `seed`: ChaCha seeded with its
/// little-endian bytes, so a printed seed replays the same draws.
pub fn seeded_rng(seed: u64) -> proptest::test_runner::TestRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    proptest::test_runner::TestRng::from_seed(proptest::test_runner::RngAlgorithm::ChaCha, &bytes)
}

/// Op kinds a sequence may draw from by default (all of them).
pub fn default_kinds() -> Vec<OpKind> {
    OpKind::ALL.to_vec()
}

/// Kinds that make state for the others to act on; every swarm includes them.
const FOUNDATION: &[OpKind] = &[OpKind::Open, OpKind::Write, OpKind::Mkdir, OpKind::Pipe];

fn path() -> impl Strategy<Value = String> {
    select(PATHS).prop_map(str::to_string)
}

fn slot() -> impl Strategy<Value = u8> {
    0u8..8
}

/// A descriptor that is usually one of the prelude's regular files.
fn file_fd() -> impl Strategy<Value = FdRef> {
    prop_oneof![6 => select(vec![0u8, 1]).prop_map(FdRef::Slot), 1 => fd()]
}

/// A descriptor that is usually a directory (the prelude's `d`, or the root).
fn dir_fd() -> impl Strategy<Value = FdRef> {
    prop_oneof![
        6 => Just(FdRef::Slot(2)),
        2 => Just(FdRef::Special(SpecialFd::Root)),
        1 => fd()
    ]
}

/// A descriptor that is usually a pipe read end (slots 3 and 6).
fn pipe_r() -> impl Strategy<Value = FdRef> {
    prop_oneof![6 => select(vec![3u8, 6]).prop_map(FdRef::Slot), 1 => fd()]
}

/// A descriptor that is usually a pipe write end (slots 4 and 7).
fn pipe_w() -> impl Strategy<Value = FdRef> {
    prop_oneof![6 => select(vec![4u8, 7]).prop_map(FdRef::Slot), 1 => fd()]
}

fn fd() -> impl Strategy<Value = FdRef> {
    prop_oneof![
        20 => slot().prop_map(FdRef::Slot),
        1 => Just(FdRef::Special(SpecialFd::Bad)),
    ]
}

fn dir() -> impl Strategy<Value = Dir> {
    prop_oneof![
        20 => Just(Dir::Root),
        2 => Just(Dir::Other),
        1 => Just(Dir::Bad),
        3 => Just(Dir::Fd(2)),
        1 => slot().prop_map(Dir::Fd),
    ]
}

/// Boundary lengths: page +- 1, 2^31 +- 1, 2^32 +- 1, 2^63 - 1. A `select`
/// shrinks only to an earlier element of its list, so a failure that needs
/// one of these values shrinks to the smallest listed value that still fails,
/// never to an unlisted one in between.
pub const BOUNDARY_LENGTHS: [u64; 14] = [
    4095,
    4096,
    4097,
    65535,
    65536,
    65537,
    (1 << 31) - 1,
    1 << 31,
    (1 << 31) + 1,
    (1 << 32) - 1,
    1 << 32,
    (1 << 32) + 1,
    (1 << 40) + 3,
    i64::MAX as u64,
];

/// Boundary offsets (and lengths of ops that take a signed length): -1 where
/// the interface allows it (the file position, or EINVAL), page +- 1, 2^31 +-
/// 1, 2^32 +- 1, 2^63 - 1 and just below; the files are sparse, so large
/// offsets cost nothing. Ascending after -1, so shrinking moves toward the
/// smaller boundaries.
pub const BOUNDARY_OFFSETS: [i64; 15] = [
    -1,
    4095,
    4096,
    4097,
    8192,
    (1 << 31) - 1,
    1 << 31,
    (1 << 31) + 1,
    (1 << 32) - 1,
    1 << 32,
    (1 << 32) + 1,
    (1 << 40) + 3,
    i64::MAX - 5,
    i64::MAX - 1,
    i64::MAX,
];

/// Small counts most of the time, [`BOUNDARY_LENGTHS`] sometimes.
fn length() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => 0u64..64,
        2 => select(BOUNDARY_LENGTHS[..6].to_vec()),
        1 => select(BOUNDARY_LENGTHS[6..].to_vec()),
    ]
}

/// Transfer lengths: like [`length`], but huge values rarely, since a copy from a
/// large sparse file really writes zeros until the scratch filesystem is full.
fn transfer_length() -> impl Strategy<Value = u64> {
    prop_oneof![15 => 0u64..70_000, 1 => length()]
}

/// Offsets: small, page boundaries, and large values on sparse files (see
/// [`BOUNDARY_OFFSETS`]).
pub fn offset_value() -> impl Strategy<Value = i64> {
    prop_oneof![
        8 => 0i64..64,
        2 => select(BOUNDARY_OFFSETS[1..5].to_vec()),
        2 => select([&BOUNDARY_OFFSETS[..1], &BOUNDARY_OFFSETS[5..]].concat()),
    ]
}

fn off() -> impl Strategy<Value = Off> {
    prop_oneof![3 => Just(Off::Pos), 2 => offset_value().prop_map(Off::At)]
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        6 => "[a-z]{0,12}".prop_map(Payload::Text),
        1 => (select(vec![4095u64, 4096, 4097, 65536, 70000]))
            .prop_map(|len| Payload::Fill { fill: "x".into(), len }),
    ]
}

fn open_flags() -> impl Strategy<Value = Vec<OpenFlag>> {
    (
        select(vec![
            OpenFlag::Rdonly,
            OpenFlag::Wronly,
            OpenFlag::Rdwr,
            OpenFlag::Rdwr,
        ]),
        subsequence(
            vec![
                OpenFlag::Creat,
                OpenFlag::Creat,
                OpenFlag::Creat,
                OpenFlag::Excl,
                OpenFlag::Trunc,
                OpenFlag::Append,
                OpenFlag::Directory,
                OpenFlag::Nonblock,
                OpenFlag::Nofollow,
            ],
            0..3,
        ),
        prop::bool::weighted(0.03),
    )
        .prop_map(|(acc, mut rest, path)| {
            rest.insert(0, acc);
            if path {
                rest.push(OpenFlag::Path);
            }
            rest.sort();
            rest.dedup();
            rest
        })
}

/// The generator strategy of one kind: the `strategy` column of the op table.
pub(crate) fn one_op(kind: OpKind) -> BoxedStrategy<Op> {
    model::op_table!(strategy kind)
}

/// The fixed start of every sequence, so that most generated ops act on live
/// handles: two files with data in slots 0 and 1 (1 with a hole), the directory `d` in slot 2,
/// a pipe in slots 3 (read) and 4 (write), `d/e`, a file on the other root
/// in slot 5, a character device `c`, and a second pipe in slots 6 and 7 (one
/// of the two non-blocking).
pub(crate) fn prelude() -> impl Strategy<Value = Vec<Op>> {
    (payload(), payload(), any::<bool>()).prop_map(|(data_a, data_b, nonblock)| {
        let rdwr_creat = vec![OpenFlag::Rdwr, OpenFlag::Creat];
        vec![
            Op::Mkdir {
                dir: Dir::Root,
                path: "d".into(),
                mode: 0o755,
            },
            Op::Mkdir {
                dir: Dir::Root,
                path: "d/e".into(),
                mode: 0o755,
            },
            Op::Open {
                slot: 0,
                dir: Dir::Root,
                path: "a".into(),
                flags: rdwr_creat.clone(),
                mode: 0o644,
            },
            Op::Write {
                fd: FdRef::Slot(0),
                data: data_a,
                offset: Off::At(0),
            },
            Op::Open {
                slot: 1,
                dir: Dir::Root,
                path: "b".into(),
                flags: rdwr_creat.clone(),
                mode: 0o644,
            },
            Op::Write {
                fd: FdRef::Slot(1),
                data: data_b,
                offset: Off::At(0),
            },
            // A hole between the data at 0 and a tail at 20000, so SEEK_DATA,
            // SEEK_HOLE, copies and reads see holes from the start.
            Op::Write {
                fd: FdRef::Slot(1),
                data: Payload::Text("tail".into()),
                offset: Off::At(20000),
            },
            Op::Open {
                slot: 2,
                dir: Dir::Root,
                path: "d".into(),
                flags: vec![OpenFlag::Directory],
                mode: 0o644,
            },
            Op::Pipe {
                read_slot: 3,
                write_slot: 4,
                nonblock,
            },
            Op::Open {
                slot: 5,
                dir: Dir::Other,
                path: "a".into(),
                flags: rdwr_creat,
                mode: 0o644,
            },
            // A device node, so statx rdev and device-open rules get exercised.
            Op::Mknod {
                dir: Dir::Root,
                path: "c".into(),
                node_type: NodeType::Chr,
                perm: 0o644,
                major: 1,
                minor: 3,
            },
            Op::Pipe {
                read_slot: 6,
                write_slot: 7,
                nonblock: !nonblock,
            },
            Op::Write {
                fd: FdRef::Slot(4),
                data: Payload::Text("first pipe".into()),
                offset: Off::Pos,
            },
            Op::Write {
                fd: FdRef::Slot(7),
                data: Payload::Text("second pipe".into()),
                offset: Off::Pos,
            },
        ]
    })
}

/// A sequence: the prelude (see `prelude`), then up to `max_len` ops drawn from a random
/// non-empty subset of `kinds` (swarm testing) plus the foundation kinds.
pub fn sequence(kinds: Vec<OpKind>, max_len: usize) -> impl Strategy<Value = Vec<Op>> {
    let n = kinds.len();
    let body = subsequence(kinds, 1..=n.max(1)).prop_flat_map(move |mut chosen| {
        for k in FOUNDATION {
            if !chosen.contains(k) {
                chosen.push(*k);
            }
        }
        let strategies: Vec<(u32, BoxedStrategy<Op>)> =
            chosen.iter().map(|k| (k.weight(), one_op(*k))).collect();
        let any_op = proptest::strategy::Union::new_weighted(strategies);
        prop::collection::vec(any_op, 1..=max_len)
    });
    (prelude(), body).prop_map(|(mut pre, body)| {
        pre.extend(body);
        pre
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    #[test]
    fn generated_ops_are_valid() {
        let mut runner = TestRunner::deterministic();
        let strat = sequence(default_kinds(), 40);
        for _ in 0..200 {
            let seq = strat.new_tree(&mut runner).unwrap().current();
            for op in seq {
                op.validate().unwrap();
            }
        }
    }

    /// Shrinks `tree` the way proptest's runner does while `fails` holds and
    /// returns the last failing value.
    fn shrink<T: std::fmt::Debug + Clone>(
        tree: &mut impl ValueTree<Value = T>,
        fails: impl Fn(&T) -> bool,
    ) -> T {
        let mut last = tree.current();
        if !tree.simplify() {
            return last;
        }
        loop {
            let v = tree.current();
            if fails(&v) {
                last = v;
                if !tree.simplify() {
                    break;
                }
            } else if !tree.complicate() {
                break;
            }
        }
        last
    }

    #[test]
    fn boundary_values_are_drawn_and_survive_shrinking() {
        let mut runner = TestRunner::deterministic();
        // Every boundary offset is drawn in a few thousand tries.
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..5000 {
            seen.insert(offset_value().new_tree(&mut runner).unwrap().current());
        }
        for b in BOUNDARY_OFFSETS {
            assert!(seen.contains(&b), "{b} never drawn");
        }
        // A property that fails only at 2^32 and above shrinks to exactly
        // 2^32; one that fails only at 2^31 + 1 and above to 2^31 + 1; one
        // that fails only at -1 keeps -1. Never to an unlisted value.
        for (threshold, want) in [(1i64 << 32, 1i64 << 32), ((1 << 31) + 1, (1 << 31) + 1)] {
            let mut shrunk = 0;
            for _ in 0..3000 {
                let mut tree = offset_value().new_tree(&mut runner).unwrap();
                if tree.current() < threshold {
                    continue;
                }
                let v = shrink(&mut tree, |&v| v >= threshold);
                assert_eq!(v, want, "a failure at >= {threshold} shrank to {v}");
                shrunk += 1;
            }
            assert!(shrunk > 50, "only {shrunk} draws at >= {threshold}");
        }
        let mut minus_one = 0;
        for _ in 0..3000 {
            let mut tree = offset_value().new_tree(&mut runner).unwrap();
            if tree.current() == -1 {
                assert_eq!(shrink(&mut tree, |&v| v == -1), -1);
                minus_one += 1;
            }
        }
        assert!(minus_one > 5, "-1 drawn {minus_one} times");
        // Lengths: a failure only at 2^32 - 1 and above shrinks to 2^32 - 1.
        let mut shrunk = 0;
        for _ in 0..3000 {
            let mut tree = length().new_tree(&mut runner).unwrap();
            if tree.current() < (1 << 32) - 1 {
                continue;
            }
            assert_eq!(shrink(&mut tree, |&v| v >= (1 << 32) - 1), (1 << 32) - 1);
            shrunk += 1;
        }
        assert!(shrunk > 20, "only {shrunk} lengths at >= 2^32 - 1");
    }
}
