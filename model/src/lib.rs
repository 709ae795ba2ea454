//! The reference model of ringspec: the semantics of Linux filesystem syscalls and
//! their io_uring opcodes as an executable, in-memory filesystem.
//!
//! [`Fs::step`] returns the set of outcomes the kernel may legitimately give for an
//! op (a set, because short counts, dirent order, EAGAIN and per-filesystem support
//! are the kernel's choice); [`Fs::commit`] then advances the model by the outcome
//! that actually happened, after checking it is in that set.
#![forbid(unsafe_code)]

pub mod allowed;
pub mod exec;
pub mod fs;
pub mod limits;
pub mod op;
pub mod op_table;
pub mod opcode;
pub mod ops;
pub mod outcome;
pub mod pipe;
pub mod profile;
pub mod snapshot;
pub mod sparse;
pub mod sqe;
pub mod sqe_rules;
pub mod state;

pub use allowed::{Allowed, DirentChoice};
pub use exec::{Mismatch, Plan};
pub use fs::Fs;
pub use op::*;
pub use outcome::*;
pub use profile::{FsKind, FsProfile, Interface, Profile};
pub use state::*;
