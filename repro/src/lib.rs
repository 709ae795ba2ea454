//! Standalone C reproducers: a sequence of a regression file as one C file
//! that a kernel developer builds with `cc repro.c -o repro` and runs as
//! root (`./repro [DIR]`), without ringspec, liburing or any header beyond
//! the C library's and the kernel's UAPI.
//!
//! The reproducer is made from a run on this machine ([`plan`]): the
//! sequence goes through the model and the chosen target with the
//! io_uring backend's trace on, so the C file holds the exact SQEs that were
//! submitted (the op table's encoding, not a second one), the model's set
//! of allowed outcomes for every op as it judged it, the outcome this run
//! got, and the model's final state. [`render`] writes the C: it makes its
//! own scratch filesystems (tmpfs, or a loop-mounted image made with the
//! same mkfs command as ringspec's), runs every op, prints expected and
//! actual outcome, and exits 1 when an outcome or the final state is
//! outside the model's set (the bug), 0 when everything is allowed (fixed),
//! and 2 when it cannot judge (not root, a set-up step failed, or the
//! kernel took another allowed outcome than the run it was made from, after
//! which the expectations no longer apply).

mod calls;
mod emit;
mod plan;
mod sqe_fields;

pub use emit::render;
pub use plan::{plan, Action, Check, Exec, Plan, PlanError};
pub use sqe_fields::render_sqe_fields;

/// Exit code of a reproducer: every outcome and the final state allowed.
pub const EXIT_FIXED: i32 = 0;
/// Exit code of a reproducer: an outcome or the final state outside the
/// model's allowed set.
pub const EXIT_BUG: i32 = 1;
/// Exit code of a reproducer that cannot judge (see the crate docs).
pub const EXIT_CANNOT_JUDGE: i32 = 2;
