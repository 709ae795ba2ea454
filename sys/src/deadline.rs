//! Per-op deadlines for the synchronous backend: a blocking syscall the model
//! did not expect to block must become a reported finding, not a hung test.
//!
//! One watchdog thread watches every armed [`Guard`]. When a guard's deadline
//! passes, the watchdog sends SIGUSR2 to the guarded thread; the handler does
//! nothing and is installed without SA_RESTART, so the blocked call returns
//! EINTR and the backend reports the op as timed out (ETIME).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

/// How long one op may take before it is interrupted.
pub const OP_DEADLINE: Duration = Duration::from_secs(2);

struct Armed {
    thread: libc::pthread_t,
    until: Instant,
    fired: Arc<AtomicBool>,
}

fn table() -> &'static Mutex<BTreeMap<u64, Armed>> {
    static TABLE: OnceLock<Mutex<BTreeMap<u64, Armed>>> = OnceLock::new();
    TABLE.get_or_init(|| Mutex::new(BTreeMap::new()))
}

extern "C" fn on_alarm(_: libc::c_int) {}

fn start() {
    static START: Once = Once::new();
    START.call_once(|| {
        // SAFETY: installs a handler that does nothing (async-signal-safe),
        // without SA_RESTART so blocking calls return EINTR.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_alarm as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            sa.sa_flags = 0;
            libc::sigaction(libc::SIGUSR2, &sa, std::ptr::null_mut());
        }
        std::thread::Builder::new()
            .name("ringspec-deadline".into())
            .spawn(|| loop {
                std::thread::sleep(Duration::from_millis(50));
                let now = Instant::now();
                let t = table().lock().unwrap_or_else(|e| e.into_inner());
                for a in t.values().filter(|a| a.until <= now) {
                    a.fired.store(true, Ordering::SeqCst);
                    // SAFETY: the thread is alive: its guard is still armed,
                    // and the guard's drop takes this lock before it returns.
                    unsafe { libc::pthread_kill(a.thread, libc::SIGUSR2) };
                }
            })
            .expect("spawn the deadline watchdog");
    });
}

/// An armed deadline for the calling thread; disarmed on drop.
pub struct Guard {
    id: u64,
    fired: Arc<AtomicBool>,
}

impl Guard {
    /// Arms a deadline `after` from now for the calling thread.
    pub fn arm(after: Duration) -> Guard {
        start();
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        let fired = Arc::new(AtomicBool::new(false));
        table().lock().unwrap_or_else(|e| e.into_inner()).insert(
            id,
            Armed {
                // SAFETY: pthread_self has no preconditions.
                thread: unsafe { libc::pthread_self() },
                until: Instant::now() + after,
                fired: fired.clone(),
            },
        );
        Guard { id, fired }
    }

    /// True if the deadline passed (and the thread was interrupted).
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        table()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_read_is_interrupted() {
        let mut fds = [0; 2];
        // SAFETY: plain calls on our own pipe.
        unsafe { libc::pipe(fds.as_mut_ptr()) };
        let g = Guard::arm(Duration::from_millis(100));
        let mut b = [0u8; 1];
        let started = Instant::now();
        // SAFETY: reads into a local buffer; blocks until interrupted.
        let n = unsafe { libc::read(fds[0], b.as_mut_ptr().cast(), 1) };
        let err = std::io::Error::last_os_error().raw_os_error();
        assert_eq!((n, err), (-1, Some(libc::EINTR)));
        assert!(g.fired());
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(g);
        // SAFETY: closing our own fds.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }

    #[test]
    fn a_quick_op_is_not_interrupted() {
        let g = Guard::arm(Duration::from_secs(5));
        std::thread::sleep(Duration::from_millis(60));
        assert!(!g.fired());
    }
}
