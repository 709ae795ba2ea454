//! Raw Linux helpers: named failed calls, getdents64 records, scratch roots in a private mount
//! namespace (tmpfs or loop-mounted images), loop devices, per-op deadlines,
//! interrupts, rlimits, kernel facts, kernel-log markers and KCOV kernel
//! coverage. No op semantics.

pub mod call;
pub mod deadline;
pub mod dirent;
pub mod interrupt;
pub mod kcov;
pub mod kernel;
pub mod kmsg;
pub mod loopdev;
pub mod rlimit;
pub mod scratch;
