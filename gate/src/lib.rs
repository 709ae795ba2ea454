//! The kernel gate behind `ringspec suite` and `ringspec gate`.
//!
//! `ringspec suite` runs inside the kernel being gated (a VM, or the host in
//! place): it probes io_uring, runs every scenario and a seeded campaign through
//! every target on each requested filesystem, and writes a [`SuiteResult`]: rows
//! of (opcode, property, filesystem, target) with a [`Status`] (pass, fail,
//! unsupported, not judged) and counts, plus the kernel facts that matter.
//!
//! `ringspec gate` gets such a result (from a guest booted with virtme-ng, see
//! [`vm`], or from an in-process run on the host), compares it with a baseline
//! ([`baseline`]), writes the reports ([`report`]: JSON, KTAP, JUnit, markdown)
//! and decides the exit code: [`EXIT_PASS`], [`EXIT_FAIL`] (a regression or a
//! divergence) or [`EXIT_INFRA`] (the verdict could not be reached: image
//! missing, VM not booting or timing out, io_uring disabled in the guest, a
//! filesystem that cannot be set up). The three are never mixed: an
//! infrastructure failure has no verdict.

pub mod baseline;
pub mod build;
pub mod coverage;
pub mod fuzz;
pub mod kernel_log;
pub mod report;
pub mod result;
pub mod run;
pub mod sqe_rows;
pub mod suite;
pub mod verdict;
pub mod vm;

pub use result::*;
pub use run::*;
pub use verdict::*;
