//! Interrupts: SIGINT and SIGTERM ask every long-running loop (campaign,
//! suite, gate, kernel build, the per-filesystem children of `--fs all`) to
//! stop at the next safe point, clean up and exit `128 + signal` ("not a
//! pass"). The handler only records which signal came; the loops poll
//! [`requested`].

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

/// Set once SIGINT or SIGTERM arrived: loops stop after their current step.
pub static STOP: AtomicBool = AtomicBool::new(false);

/// The first stopping signal received (0: none).
static SIGNAL: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    let _ = SIGNAL.compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst);
    STOP.store(true, Ordering::SeqCst);
}

/// Installs the SIGINT and SIGTERM handlers (with `SA_RESTART`, so a
/// blocking wait for a child is not cut short: the loops poll [`requested`]).
pub fn install() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to atomics; sa is fully initialised.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Whether a stop was requested (by a signal or by [`request`]).
pub fn requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Requests a stop as if `sig` had arrived (tests, and a parent relaying a
/// child's interruption).
pub fn request(sig: libc::c_int) {
    on_signal(sig);
}

/// The signal that stopped the run, if any.
pub fn signal() -> Option<libc::c_int> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 if requested() => Some(libc::SIGINT),
        0 => None,
        s => Some(s),
    }
}

/// The exit status of an interrupted run: 130 for SIGINT, 143 for SIGTERM.
pub fn exit_code() -> u8 {
    128 + signal().unwrap_or(libc::SIGINT) as u8
}

/// The signal's name for messages ("SIGINT", "SIGTERM").
pub fn signal_name() -> &'static str {
    match signal() {
        Some(libc::SIGTERM) => "SIGTERM",
        _ => "SIGINT",
    }
}

/// In a child process: ask the kernel to send SIGTERM when the parent dies,
/// so a killed parent (even by SIGKILL) leaves no orphan running. Returns
/// false if the parent is already gone.
pub fn die_with_parent(expected_parent: libc::pid_t) -> bool {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) };
    // SAFETY: getppid cannot fail.
    unsafe { libc::getppid() == expected_parent }
}
