//! The interface every executor of ops implements: the model, the synchronous
//! syscalls and io_uring.

use model::{Op, OpKind, Outcome, State};
use std::collections::BTreeMap;

/// Something that runs ops and can show its resulting state.
pub trait Backend {
    /// A short name for reports ("model", "syscalls", "uring").
    fn name(&self) -> &str;
    /// Runs one op and returns its outcome. The op has passed [`Op::validate`].
    fn exec(&mut self, op: &Op) -> Outcome;
    /// The observable state: the trees under both scratch roots and the fd table.
    /// It drains the bytes queued in pipes (they are part of the state), so it
    /// belongs at the end of a sequence.
    fn snapshot(&mut self) -> State;
    /// For io_uring backends: per op kind, (ops submitted through the ring, ops
    /// run through the synchronous fallback). `None` for other backends.
    fn ring_counts(&self) -> Option<BTreeMap<OpKind, (u64, u64)>> {
        None
    }
    /// Submits `ops` together (io_uring: one submission, IOSQE_IO_LINK between
    /// them if `linked`) and returns their outcomes in order; `None` if this
    /// backend cannot run them as a group (the caller runs them one by one).
    fn exec_group(&mut self, _ops: &[Op], _linked: bool) -> Option<Vec<Outcome>> {
        None
    }
    /// Turns keeping a trace of what is sent to the kernel on or off (io_uring
    /// backends; others ignore it). Off by default: tracing copies buffers.
    fn set_tracing(&mut self, _on: bool) {}
    /// The trace kept since tracing was turned on, one step per op or group
    /// run, and empties it; `None` for backends that do not trace.
    fn take_trace(&mut self) -> Option<Vec<crate::trace::TraceStep>> {
        None
    }
}
