//! The two kernel backends side by side: the same ops through the syscalls and
//! through io_uring, outcomes made comparable.

use crate::backend::Backend;
use crate::syscalls::Syscalls;
use crate::uring::Uring;
use model::{Data, Op, Outcome};

/// The outcome with the syscall-only data removed: io_uring cannot report the
/// offsets splice/copy_file_range advanced.
pub fn comparable(o: &Outcome) -> Outcome {
    match o.data {
        Data::Offsets(..) => Outcome {
            result: o.result,
            data: Data::None,
        },
        _ => o.clone(),
    }
}

/// Runs `seq` through each backend in turn (the umask is per thread, and both
/// run on this one), starting from umask 022.
pub fn run_both(sys: &mut Syscalls, u: &mut Uring, seq: &[Op]) -> Vec<(Outcome, Outcome)> {
    // SAFETY: umask cannot fail; it is per-thread here.
    unsafe { libc::umask(0o022) };
    let a: Vec<Outcome> = seq.iter().map(|o| sys.exec(o)).collect();
    // SAFETY: umask cannot fail; it is per-thread here.
    unsafe { libc::umask(0o022) };
    let b: Vec<Outcome> = seq.iter().map(|o| u.exec(o)).collect();
    // SAFETY: umask cannot fail; it is per-thread here.
    unsafe { libc::umask(0o022) };
    a.into_iter().zip(b).collect()
}
