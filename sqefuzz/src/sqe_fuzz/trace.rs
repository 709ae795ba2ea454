//! What one sqe_fields input did, kept for a C reproducer (the `repro`
//! crate): the SQEs as sent, the table's allowed results as judged, the
//! fixture's descriptors and the arena as it was at submission, and the
//! verdict ([`super::trace`]).

use model::sqe::{Field, Sqe};
use model::sqe_rules::AllowedSet;
use std::os::fd::RawFd;
use std::time::Duration;

/// One input's run, as the sandbox saw and judged it.
#[derive(Debug, Clone, Default)]
pub struct SqeTrace {
    /// The SQEs as submitted (after confinement), user_data included.
    pub sqes: Vec<SqeTraced>,
    /// The fixture's role descriptors ([`super::ROLE_NAMES`] order).
    pub roles: [RawFd; 9],
    /// The descriptor number the harness keeps closed.
    pub closed_slot: RawFd,
    /// /proc/sys/fs/nr_open (`nr_open + 7` is a descriptor choice).
    pub nr_open: u64,
    /// Where the arena was mapped.
    pub arena_base: u64,
    /// Its length (PROT_NONE outside the parts).
    pub arena_len: usize,
    /// The arena's accessible parts at submission: (offset, bytes, writable).
    pub parts: Vec<(usize, Vec<u8>, bool)>,
    /// The byte range at the end of each own page that holds iovecs (their
    /// bases may point into the arena).
    pub iovecs_at: usize,
    /// The wait for the CQEs before the harness cancels.
    pub deadline: Duration,
    /// How long cancelled requests may take to go away.
    pub grace: Duration,
    /// The CQE results this run got (None: no CQE).
    pub results: Vec<Option<i32>>,
    /// The SQEs that had no CQE at the deadline and were cancelled.
    pub cancelled: Vec<bool>,
    /// What the sandbox concluded (None until the input finished).
    pub verdict: Option<Result<(), super::Finding>>,
}

/// One SQE of a [`SqeTrace`].
#[derive(Debug, Clone)]
pub struct SqeTraced {
    /// The 64 bytes' fields.
    pub sqe: Sqe,
    /// The opcode's name in the table ("?" outside it).
    pub name: &'static str,
    /// The results the table allows had it not been cancelled (None: the
    /// harness stopped before judging, e.g. at a hang).
    pub allowed: Option<AllowedSet>,
    /// Without a CQE it is no finding (CQE_SKIP_SUCCESS in its chain).
    pub skip_ok: bool,
    /// A non-negative result is a new descriptor.
    pub result_is_fd: bool,
    /// A PIPE: its success makes two descriptors.
    pub makes_pipe: bool,
    /// The fields the harness confined as plain descriptors (their values
    /// are the fixture's descriptors, the closed slot or other numbers).
    pub fd_fields: Vec<Field>,
    /// The ranges (absolute, as mapped here) the kernel may write.
    pub writes: Vec<(u64, u64)>,
}
