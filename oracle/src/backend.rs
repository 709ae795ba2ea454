//! The interface every executor of ops implements: the model, the synchronous
//! syscalls and io_uring.

use model::{Op, Outcome, State};

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
}
