//! Markers in the kernel log: before each target and check the suite writes a
//! line to `/dev/kmsg`, so a report that follows names what was running.

/// Prefix of the marker lines the suite writes to `/dev/kmsg`: the rest of
/// the line names what runs next ("uring/single scenarios", "check
/// getdents_cursor", ...).
pub const MARK: &str = "ringspec-mark: ";

/// The environment variable that makes the suite write its markers to
/// `/dev/kmsg` and force kmemleak scans (the gate's guest script sets it;
/// on a host the suite leaves the kernel log alone).
pub const MARKS_ENV: &str = "RINGSPEC_KMSG_MARKS";

/// Whether markers and scans are on ([`MARKS_ENV`] is `1`).
pub fn marks_enabled() -> bool {
    std::env::var(MARKS_ENV).is_ok_and(|v| v == "1")
}

/// Writes `ringspec-mark: <what>` to `/dev/kmsg` when [`marks_enabled`]:
/// the reports that follow in the kernel log happened during `what`.
pub fn mark(what: &str) {
    if !marks_enabled() {
        return;
    }
    let line = format!("{MARK}{what}\n");
    if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
        use std::io::Write;
        let _ = f.write_all(line.as_bytes());
    }
}
