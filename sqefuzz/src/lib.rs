//! SQE field validation: the sandbox that submits raw SQEs ([`sqe_fuzz`]), the
//! verifier that judges each against the model's rule table ([`sqe_verify`]),
//! the sweep of every rule ([`sqe_sweep`]), and the fuzz harness behind
//! `cargo fuzz run sqe_fields`.

pub mod sqe_fuzz;
pub mod sqe_sweep;
pub mod sqe_verify;
