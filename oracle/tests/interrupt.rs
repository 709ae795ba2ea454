//! Ctrl-C during `ringspec run` on a loop-mounted filesystem: the run stops
//! with exit 130 and leaves no loop device, mount or scratch directory behind.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The scratch base directory named in `ringspec run`'s first line
/// ("... in a private mount namespace at /tmp/ringspec-XXXX ...").
fn base_of(line: &str) -> Option<String> {
    let at = line.find(" at /")? + 4;
    let rest = &line[at..];
    let end = rest.find([' ', ';', ')']).unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

fn interrupt_run(fs: &str) {
    let mkfs = format!("mkfs.{fs}");
    let has_mkfs = std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| d.join(&mkfs).exists())
            || ["/sbin", "/usr/sbin"]
                .iter()
                .any(|d| std::path::Path::new(d).join(&mkfs).exists())
    });
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !(has_mkfs && root) {
        // The reason is printed by the scratch tests; CI requires the tools.
        if std::env::var_os("RINGSPEC_REQUIRE_FS").is_some() {
            panic!("{fs}: needs root and {mkfs} (RINGSPEC_REQUIRE_FS is set)");
        }
        eprintln!("interrupt_{fs}: skipped (needs root and {mkfs})");
        return;
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringspec"))
        .args(["run", "--fs", fs, "--duration", "120", "--seed", "7"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ringspec starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let first = lines
        .next()
        .expect("a first line")
        .expect("readable stderr");
    let base = base_of(&first).unwrap_or_else(|| panic!("no scratch path in {first:?}"));
    assert!(
        first.contains(&format!("private {fs}")),
        "not on a private {fs}: {first}"
    );
    let bound = |base: &str| {
        oracle::loopdev::bound_devices()
            .into_iter()
            .filter(|(_, backing)| backing.starts_with(base))
            .count()
    };
    assert_eq!(bound(&base), 2, "{fs}: two loop devices while running");
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("ringspec exits");
    assert_eq!(
        status.code(),
        Some(130),
        "{fs}: exit after Ctrl-C; stderr:\n{}",
        rest.join("\n")
    );
    let started = Instant::now();
    while bound(&base) > 0 && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(bound(&base), 0, "{fs}: loop devices left bound to {base}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    assert!(!mounts.contains(&base), "{fs}: {base} still mounted");
    assert!(
        !std::path::Path::new(&base).exists(),
        "{fs}: {base} left behind"
    );
}

#[test]
fn interrupted_ext4_run_leaves_nothing_behind() {
    interrupt_run("ext4");
}

#[test]
fn interrupted_btrfs_run_leaves_nothing_behind() {
    interrupt_run("btrfs");
}
