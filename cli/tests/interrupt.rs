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
        sys::loopdev::bound_devices()
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

/// Whether a process is still there (and not a zombie of ours).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// The children of `pid` (from /proc).
fn children_of(pid: u32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// `ringspec run --fs all` in a process group of its own, signalled alone
/// (not its group, as `kill -INT <pid>` does) once its first child runs:
/// the signal reaches the running child, no further filesystem starts, the
/// exit status is 128 + the signal, and no child is left.
fn signal_all_filesystems_run(sig: libc::c_int, want: i32) {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("signal_all_filesystems_run: skipped (needs root)");
        return;
    }
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringspec"))
        .args([
            "run",
            "--fs",
            "all",
            "--duration",
            "120",
            "--mode",
            "single",
        ])
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ringspec starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let first = lines.next().expect("a line").expect("readable");
    assert_eq!(first, "=== ringspec on tmpfs");
    let started = Instant::now();
    let mut kids = Vec::new();
    while kids.is_empty() && started.elapsed() < Duration::from_secs(10) {
        kids = children_of(child.id());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(kids.len(), 1, "one child per filesystem at a time");
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(child.id() as libc::pid_t, sig) };
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().expect("ringspec exits");
    assert_eq!(status.code(), Some(want), "stderr:\n{}", rest.join("\n"));
    assert!(
        !rest.iter().any(|l| l.starts_with("=== ringspec on")),
        "another filesystem started after the signal:\n{}",
        rest.join("\n")
    );
    assert!(
        rest.iter().any(|l| l.contains("(not a pass)")),
        "no 'not a pass':\n{}",
        rest.join("\n")
    );
    assert!(
        !alive(kids[0]),
        "the tmpfs child {} outlived its parent",
        kids[0]
    );
}

#[test]
fn sigint_to_the_parent_of_all_filesystems_stops_them_all() {
    signal_all_filesystems_run(libc::SIGINT, 130);
}

#[test]
fn sigterm_to_the_parent_of_all_filesystems_stops_them_all() {
    signal_all_filesystems_run(libc::SIGTERM, 143);
}

/// A parent killed outright (SIGKILL, no chance to relay) takes its running
/// child with it, and the next run removes the scratch directory the child
/// could not.
#[test]
fn a_killed_parent_leaves_no_child_and_the_next_run_sweeps_up() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("a_killed_parent_leaves_no_child: skipped (needs root)");
        return;
    }
    use std::os::unix::process::CommandExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringspec"))
        .args([
            "run",
            "--fs",
            "all",
            "--duration",
            "120",
            "--mode",
            "single",
        ])
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ringspec starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let _banner = lines.next();
    let run_line = lines.next().expect("a line").expect("readable");
    let base = base_of(&run_line).unwrap_or_else(|| panic!("no scratch path in {run_line:?}"));
    let kids = children_of(child.id());
    assert_eq!(kids.len(), 1);
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let started = Instant::now();
    while alive(kids[0]) && started.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(kids[0]), "the child outlived its killed parent");
    // The child got SIGTERM and cleaned up; if it could not, a later run
    // removes what is left.
    let out = Command::new(env!("CARGO_BIN_EXE_ringspec"))
        .args(["run", "--cases", "1", "--mode", "none"])
        .output()
        .expect("ringspec runs");
    assert!(out.status.success());
    assert!(
        !std::path::Path::new(&base).exists(),
        "{base} is still there after the next run"
    );
}

/// SIGKILL leaves the scratch directory (and, during mkfs, an image) behind;
/// the next run removes it, since no live process holds its lock.
#[test]
fn what_a_sigkilled_run_leaves_is_removed_by_the_next() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("what_a_sigkilled_run_leaves: skipped (needs root)");
        return;
    }
    let tmp = std::env::temp_dir().join(format!("ringspec-killtest-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringspec"))
        .args(["run", "--duration", "120", "--mode", "none"])
        .env("TMPDIR", &tmp)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ringspec starts");
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let first = lines.next().expect("a line").expect("readable");
    let base = base_of(&first).unwrap_or_else(|| panic!("no scratch path in {first:?}"));
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    assert!(
        std::path::Path::new(&base).exists(),
        "SIGKILL left nothing?"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ringspec"))
        .args(["run", "--cases", "1", "--mode", "none"])
        .env("TMPDIR", &tmp)
        .output()
        .expect("ringspec runs");
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(&format!("removed {base}")), "{said}");
    assert!(!std::path::Path::new(&base).exists());
    std::fs::remove_dir_all(&tmp).unwrap();
}
