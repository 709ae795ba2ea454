//! What the io_uring backend sent to the kernel, kept when tracing is on
//! ([`crate::backend::Backend::set_tracing`]): the exact SQEs of every op or
//! group, the memory they point into and what their CQEs mean. A C
//! reproducer (the `repro` crate) replays a sequence from it, so the SQE
//! encoding lives only in the op table's `sqe` column.

use model::Slot;
use std::os::fd::RawFd;

/// How one op, or one group of ops, was run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceStep {
    /// SQEs pushed and submitted together (one op, a batch, or a linked
    /// chain), in op order.
    Ring(Vec<TracedSqe>),
    /// The op ran through the synchronous fallback (no opcode here, or not
    /// supported by this kernel).
    Sync,
}

/// One submitted SQE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracedSqe {
    /// The 64 bytes as pushed, user_data zeroed (IOSQE_ASYNC and IO_LINK
    /// included).
    pub bytes: [u8; 64],
    /// The memory the SQE points into, each at the address it had.
    pub buffers: Vec<TracedBuffer>,
    /// The backend's descriptors at submission and what each one is, so the
    /// reproducer can put its own in their place.
    pub fds: Vec<(RawFd, FdName)>,
    /// What the CQE's result means.
    pub done: TracedDone,
}

/// A buffer an SQE points into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracedBuffer {
    /// Its address in the backend's process.
    pub addr: u64,
    /// Its contents at submission (its size is the length).
    pub bytes: Vec<u8>,
    /// What it holds.
    pub role: BufferRole,
}

/// What a traced buffer is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BufferRole {
    /// Bytes written or read (READ, WRITE, xattr values).
    Data,
    /// getdents64 records are written here.
    Dirents,
    /// A NUL-terminated path or name (the bytes exclude the NUL).
    Path,
    /// A struct statx the kernel fills.
    Statx,
    /// Two ints the kernel fills with a pipe's ends (IORING_OP_PIPE).
    PipeFds,
}

/// A descriptor of the backend, by meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdName {
    /// The descriptor in this slot.
    Slot(Slot),
    /// The main scratch root.
    Root,
    /// The second scratch root.
    Other,
}

/// What a CQE's result means for the op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TracedDone {
    /// The result itself, no data.
    Plain,
    /// That many bytes were read into the [`BufferRole::Data`] buffer.
    Read,
    /// The [`BufferRole::Statx`] buffer holds the result.
    Stat,
    /// The result is a new descriptor for this slot.
    Open(Slot),
    /// The [`BufferRole::PipeFds`] buffer holds the read and write ends for
    /// these slots.
    Pipe(Slot, Slot),
    /// That many bytes of getdents64 records are in the
    /// [`BufferRole::Dirents`] buffer.
    Getdents,
}
