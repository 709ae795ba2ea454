//! The semantics of each op family, as `Fs::plan_*` methods.

pub mod copy;
pub mod dents;
pub mod file;
pub mod names;
pub mod space;
