//! ringspec's oracle: backends that run ops (model, syscalls, io_uring), scratch
//! roots, scenario tables and the differential runner.

pub mod backend;
pub mod scenario;
