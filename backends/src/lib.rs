//! The kernel backends: every op through the C library ([`syscalls`]) and
//! through io_uring in every submission path ([`uring`]), behind one
//! [`backend::Backend`] trait; the SQE encoder ([`sqe`]), the proposed-opcode
//! numbers ([`proposed`]), the opcode probe ([`probe`]) and fault injection
//! ([`faults`]).

pub mod backend;
pub mod compare;
pub mod faults;
pub mod probe;
pub mod proposed;
pub mod sqe;
pub mod syscalls;
pub mod trace;
pub mod uring;
