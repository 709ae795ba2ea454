//! `ringspec gate` end to end on the running kernel (in place), and its
//! infrastructure exits.

use std::path::{Path, PathBuf};
use std::process::Command;

fn ringspec() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ringspec"))
}

fn out_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ringspec-gate-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
}

fn json(dir: &Path, name: &str) -> serde_json::Value {
    serde_json::from_str(&read(dir, name)).expect("valid JSON")
}

#[test]
fn host_gate_writes_all_reports_and_accepts_its_own_baseline() {
    let out = out_dir("host");
    let run = |extra: &[&str], modes: &str| {
        let o = ringspec()
            .env("RINGSPEC_MODES", modes)
            .args(["gate", "--kernel", "host", "--cases", "40", "--out"])
            .arg(&out)
            .args(extra)
            .output()
            .expect("ringspec runs");
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&["--no-baseline"], "all");
    // 0 or 1 is a verdict on this kernel; 2 would be the harness failing.
    assert!(
        matches!(code, Some(0 | 1)),
        "exit {code:?}\n{stdout}\n{stderr}"
    );
    let report = json(&out, "report.json");
    assert_eq!(report["exit_code"].as_u64(), code.map(|c| c as u64));
    let result = &report["result"];
    assert!(result["kernel"]["io_uring"]["usable"].as_bool().unwrap());
    let rows = result["rows"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["property"] == "sequences"));
    assert!(rows
        .iter()
        .any(|r| r["property"].as_str().unwrap().starts_with("scenarios:")));
    assert!(rows.iter().any(|r| r["property"] == "probe"));

    let ktap = read(&out, "results.ktap");
    assert!(ktap.starts_with("KTAP version 1\n"), "{ktap}");
    let plan = ktap
        .lines()
        .find(|l| l.starts_with("1.."))
        .expect("a plan line");
    let top: usize = plan[3..].parse().unwrap();
    let results = ktap
        .lines()
        .filter(|l| l.starts_with("ok ") || l.starts_with("not ok "))
        .count();
    assert_eq!(top, results, "{ktap}");

    let junit = quick_junit::Report::deserialize_from_str(&read(&out, "junit.xml"))
        .expect("junit.xml parses");
    let non_probe = rows.iter().filter(|r| r["property"] != "probe").count();
    assert!(junit.tests >= non_probe, "{} tests", junit.tests);

    let summary = read(&out, "summary.md");
    assert!(summary.starts_with("## ringspec gate: "), "{summary}");
    assert_eq!(summary, stdout);

    // A run as its own baseline: same seed, same verdicts, so no regression.
    // Syscalls only: some io_uring outcomes are timing-dependent (async
    // teardown of closed descriptors), which a self-comparison must not race.
    let (code, stdout, stderr) = run(&["--no-baseline"], "none");
    assert!(
        matches!(code, Some(0 | 1)),
        "exit {code:?}\n{stdout}\n{stderr}"
    );
    let baseline = out.with_extension("baseline.json");
    std::fs::copy(out.join("baseline.json"), &baseline).unwrap();
    let (code, stdout, stderr) = run(&["--baseline", baseline.to_str().unwrap()], "none");
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    let report = json(&out, "report.json");
    assert_eq!(
        report["comparison"]["changes"].as_array().map(Vec::len),
        Some(0),
        "{stdout}"
    );
    let _ = std::fs::remove_file(&baseline);
    let _ = std::fs::remove_dir_all(&out);
}

/// Runs ringspec with `args`: (exit code, stdout, stderr, wall time).
fn run_ringspec(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String, f64) {
    let started = std::time::Instant::now();
    let o = ringspec().args(args).output().expect("ringspec runs");
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
        started.elapsed().as_secs_f64(),
    )
}

/// Bad input: exit 2 within seconds, one line on stderr that names the
/// problem, nothing on stdout, no backtrace.
fn assert_bad_input(args: &[&str], says: &str) {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    let (code, stdout, stderr, secs) = run_ringspec(&args);
    assert_eq!(code, Some(2), "{args:?}\n{stdout}\n{stderr}");
    assert!(stderr.contains(says), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(stdout.is_empty(), "{args:?}: {stdout}");
    assert!(secs < 20.0, "{args:?}: {secs:.1} s");
}

/// A file QEMU would take for a bzImage (the x86 boot header's magic).
fn fake_image(dir: &Path) -> PathBuf {
    let mut bytes = vec![0u8; 0x400];
    bytes[0x202..0x206].copy_from_slice(b"HdrS");
    let p = dir.join("bzImage");
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn gate_inputs_are_checked_before_any_work() {
    let dir = out_dir("inputs");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out");
    let out = out.to_str().unwrap();
    let image = fake_image(&dir);
    let image = image.to_str().unwrap();
    let not_json = dir.join("b.json");
    std::fs::write(&not_json, "not json").unwrap();
    let not_json = not_json.to_str().unwrap();
    let not_kernel = dir.join("notes.txt");
    std::fs::write(&not_kernel, "hello").unwrap();
    let not_kernel = not_kernel.to_str().unwrap();
    // Each on the host kernel (which would otherwise run the whole suite) or
    // an image (which would otherwise boot).
    for kernel in ["host", image] {
        assert_bad_input(
            &[
                "gate",
                "--kernel",
                kernel,
                "--out",
                out,
                "--baseline",
                not_json,
            ],
            "--baseline",
        );
        assert_bad_input(
            &[
                "gate",
                "--kernel",
                kernel,
                "--out",
                out,
                "--baseline",
                "/nonexistent/b.json",
            ],
            "/nonexistent/b.json",
        );
        assert_bad_input(
            &["gate", "--kernel", kernel, "--fs", "zfs"],
            "unknown filesystem",
        );
        assert_bad_input(
            &["gate", "--kernel", kernel, "--out", "/proc/version/x"],
            "--out /proc/version/x",
        );
    }
    assert!(!Path::new(out).join("report.json").exists());
    assert_bad_input(
        &["gate", "--kernel", "/nonexistent/vmlinuz", "--out", out],
        "kernel image /nonexistent/vmlinuz not found",
    );
    assert_bad_input(
        &["gate", "--kernel", not_kernel, "--out", out],
        "is not a kernel image",
    );
    // A directory from scripts/fetch-kernels.sh without its vmlinuz.
    assert_bad_input(
        &["gate", "--kernel", dir.to_str().unwrap(), "--out", out],
        "vmlinuz not found",
    );
    assert_bad_input(
        &["gate", "--kernel", image, "--out", out, "--cpus", "0"],
        "--cpus 0",
    );
    assert_bad_input(
        &["gate", "--kernel", image, "--out", out, "--memory", "lots"],
        "--memory",
    );
    assert_bad_input(
        &[
            "gate",
            "--kernel",
            image,
            "--out",
            out,
            "--modules",
            "/nonexistent",
        ],
        "lib/modules",
    );
    assert_bad_input(
        &["gate", "--build-kernel", "/nonexistent/linux", "--out", out],
        "not a directory",
    );
    let o = ringspec().args(["gate", "--bogus"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn suite_inputs_are_checked_before_any_work() {
    let dir = out_dir("suite-inputs");
    std::fs::create_dir_all(&dir).unwrap();
    assert_bad_input(
        &["suite", "--out", "/nonexistent/dir/result.json"],
        "does not exist",
    );
    assert_bad_input(&["suite", "--out", dir.to_str().unwrap()], "is a directory");
    assert_bad_input(&["suite", "--out", "/proc/result.json"], "cannot write");
    let r = dir.join("r.json");
    let r = r.to_str().unwrap();
    assert_bad_input(
        &["suite", "--out", r, "--fs", "tmpfs,zfs"],
        "unknown filesystem",
    );
    assert_bad_input(
        &["suite", "--out", r, "--scenarios", "/nonexistent"],
        "scenarios directory",
    );
    // Out of range: clap's message (exit 2 all the same).
    for (flag, value) in [
        ("--cases", "-1"),
        ("--cases", "1000001"),
        ("--max-len", "0"),
    ] {
        let o = ringspec()
            .args(["suite", "--out", r, &format!("{flag}={value}")])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag), "{stderr}");
    }
    assert!(!Path::new(r).exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Writes `script` as a fake vng in `dir` beside a fake kernel image, and
/// returns a closure that runs a quick gate (syscalls only, the fadvise
/// scenarios, no campaign, no SQE sweep) through it into `out`, against
/// `baseline` (None: `--no-baseline`).
fn fake_vm_gate(
    dir: &Path,
    script: &str,
    timeout: &'static str,
) -> impl Fn(&Path, Option<&Path>) -> std::process::Output {
    fake_vm_gate_env(dir, script, timeout, &[])
}

/// [`fake_vm_gate`] with extra environment for the gate.
fn fake_vm_gate_env(
    dir: &Path,
    script: &str,
    timeout: &'static str,
    env: &'static [(&'static str, &'static str)],
) -> impl Fn(&Path, Option<&Path>) -> std::process::Output {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(dir).unwrap();
    let vng = dir.join("vng");
    std::fs::write(&vng, script).unwrap();
    std::fs::set_permissions(&vng, std::fs::Permissions::from_mode(0o755)).unwrap();
    let image = fake_image(dir);
    move |out: &Path, baseline: Option<&Path>| {
        let mut cmd = ringspec();
        cmd.envs(env.iter().copied())
            .env("RINGSPEC_MODES", "none")
            .env("RINGSPEC_SQE_SWEEP", "0")
            .args(["gate", "--cases", "0", "--filter", "fadvise"])
            .args(["--timeout", timeout, "--kernel"])
            .arg(&image)
            .arg("--vng")
            .arg(&vng)
            .arg("--out")
            .arg(out);
        match baseline {
            Some(b) => cmd.arg("--baseline").arg(b),
            None => cmd.arg("--no-baseline"),
        };
        cmd.output().unwrap()
    }
}

/// A stand-in for vng: runs the guest's command on the host (as
/// virtme-ng-init would in the guest), then never exits, like QEMU around a
/// kernel without ACPI whose power-off is a halt.
const HANGING_VNG: &str = r#"#!/bin/sh
while [ $# -gt 0 ]; do
    case "$1" in
    --exec) cmd="$2"; shift 2 ;;
    *) shift ;;
    esac
done
sh -c "$cmd"
echo "fake vng: the guest halted instead of powering off"
exec sleep 600
"#;

#[test]
fn a_guest_that_cannot_power_off_is_ended_once_its_suite_has_finished() {
    let dir = out_dir("hanging-vm");
    let gate = fake_vm_gate(&dir, HANGING_VNG, "10m");
    let out = dir.join("out");
    let started = std::time::Instant::now();
    let o = gate(&out, None);
    let secs = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&o.stderr);
    let stdout = String::from_utf8_lossy(&o.stdout);
    // A verdict (not infrastructure), within seconds of the suite's end rather
    // than at the timeout.
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(secs < 120.0, "took {secs:.0} s\n{stderr}");
    assert!(
        stderr.contains("QEMU killed, the results are complete"),
        "{stderr}"
    );
    let report = json(&out, "report.json");
    assert_eq!(report["verdict"], "passed", "{report}");
    assert!(report["notes"][0]
        .as_str()
        .unwrap()
        .contains("did not power off"));
    assert!(report["result"]["rows"].as_array().unwrap().len() > 1);
    assert!(read(&out, "summary.md").contains("- note: the guest did not power off"));
    // The suite's end to the kill: the grace (10 s) and the polling, not more.
    let log = read(&out.join("vm"), "vng.log");
    assert!(log.contains("fake vng: the guest halted"), "{log}");
    assert!(!stderr.contains("timed out"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A stand-in for vng whose guest kernel prints a WARNING while the suite
/// runs (on its console, as a kernel does), then powers off normally.
const WARNING_VNG: &str = r#"#!/bin/sh
while [ $# -gt 0 ]; do
    case "$1" in
    --exec) cmd="$2"; shift 2 ;;
    *) shift ;;
    esac
done
echo "ringspec-mark: tmpfs syscalls scenarios"
echo "------------[ cut here ]------------"
echo "WARNING: CPU: 0 PID: 77 at io_uring/fs.c:330 io_getdents64+0x2a/0x1c0"
echo "Call Trace:"
echo " <TASK>"
echo " io_issue_sqe+0x1d/0x400"
echo " </TASK>"
echo "---[ end trace 0000000000000000 ]---"
sh -c "$cmd"
"#;

/// The gate fails a kernel whose results are right but whose log has a
/// WARNING (a `kernel-log warning` row naming the target that ran), and a
/// baseline that lists that alarm accepts it.
#[test]
fn a_kernel_that_warns_fails_the_gate_unless_the_baseline_knows_the_alarm() {
    let dir = out_dir("warning-vm");
    let gate = fake_vm_gate(&dir, WARNING_VNG, "10m");
    let out = dir.join("out");
    let o = gate(&out, None);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let report = json(&out, "report.json");
    let rows = report["result"]["rows"].as_array().unwrap();
    let alarm = rows
        .iter()
        .find(|r| r["opcode"] == "kernel-log")
        .unwrap_or_else(|| panic!("no kernel-log row: {report}"));
    assert_eq!(alarm["property"], "warning");
    assert_eq!(alarm["target"], "WARNING in io_getdents64");
    assert_eq!(alarm["status"], "fail");
    assert!(alarm["failures"][0]
        .as_str()
        .unwrap()
        .contains("during tmpfs syscalls scenarios"));
    // Every other row passed: only the kernel's log failed it.
    assert!(rows
        .iter()
        .filter(|r| r["opcode"] != "kernel-log")
        .all(|r| r["status"] != "fail"));
    let summary = read(&out, "summary.md");
    assert!(summary.contains("### Kernel log (1)"), "{summary}");
    assert!(summary.contains("io_getdents64+0x2a/0x1c0"), "{summary}");
    assert!(read(&out, "results.ktap").contains("not ok"));
    assert!(read(&out, "junit.xml").contains("kernel-log"));
    // Its baseline knows the alarm: reported as a known failure, passes.
    let out2 = dir.join("out2");
    let o = gate(&out2, Some(&out.join("baseline.json")));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(read(&out2, "summary.md").contains("1 known failures"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A stand-in for vng whose guest kernel dies after the suite's last
/// checkpoint: no status file, a BUG and a panic on the console.
const CRASHING_VNG: &str = r#"#!/bin/sh
while [ $# -gt 0 ]; do
    case "$1" in
    --exec) cmd="$2"; shift 2 ;;
    *) shift ;;
    esac
done
sh -c "$cmd"
# The guest dies before its status reaches the host.
for s in "$(dirname "$0")"/out/vm/status; do rm -f "$s"; done
echo "ringspec-mark: tmpfs checks"
echo "BUG: kernel NULL pointer dereference, address: 0000000000000008"
echo "Oops: 0000 [#1] PREEMPT SMP"
echo "RIP: 0010:io_getdents64+0x44/0x1c0"
echo "Kernel panic - not syncing: Fatal exception"
"#;

/// A guest whose kernel dies mid-run still yields its rows up to the crash
/// (the suite's checkpoint) and the crash as kernel-log rows: a failed gate,
/// not an infrastructure failure.
#[test]
fn a_crashed_guest_yields_its_rows_and_the_crash() {
    let dir = out_dir("crash-vm");
    let gate = fake_vm_gate(&dir, CRASHING_VNG, "10m");
    let out = dir.join("out");
    let o = gate(&out, None);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let report = json(&out, "report.json");
    assert_eq!(report["verdict"], "failed", "{report}");
    let rows = report["result"]["rows"].as_array().unwrap();
    let classes: Vec<&str> = rows
        .iter()
        .filter(|r| r["opcode"] == "kernel-log")
        .map(|r| r["property"].as_str().unwrap())
        .collect();
    assert!(classes.contains(&"bug"), "{classes:?}");
    assert!(classes.contains(&"panic"), "{classes:?}");
    // The rows the suite finished before the crash are there, and passed.
    assert!(rows
        .iter()
        .any(|r| r["opcode"] == "fadvise" && r["status"] == "pass"));
    assert!(report["notes"].as_array().unwrap().iter().any(|n| n
        .as_str()
        .unwrap()
        .contains("crashed before the suite finished")));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A stand-in for vng whose guest hangs after the suite's checkpoint, with
/// the hung-task detector's report on its console.
const HUNG_VNG: &str = r#"#!/bin/sh
while [ $# -gt 0 ]; do
    case "$1" in
    --exec) cmd="$2"; shift 2 ;;
    *) shift ;;
    esac
done
sh -c "$cmd"
for s in "$(dirname "$0")"/out/vm/status; do rm -f "$s"; done
echo "ringspec-mark: tmpfs uring/single scenarios"
echo "INFO: task ringspec:634 blocked for more than 311 seconds."
echo "Call Trace:"
echo " __mutex_lock+0x1/0x2"
echo " fdget_pos+0x1/0x2"
exec sleep 600
"#;

/// A guest that hangs after its kernel reported a hung task is a failed
/// gate with a `kernel-log hung-task` row when the timeout kills it, not an
/// infrastructure failure.
#[test]
fn a_guest_that_hangs_after_a_kernel_alarm_fails_the_gate() {
    let dir = out_dir("hung-vm");
    // This guest never ends: the gate's timeout kills it.
    let gate = fake_vm_gate(&dir, HUNG_VNG, "40s");
    let out = dir.join("out");
    let o = gate(&out, None);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    let report = json(&out, "report.json");
    let rows = report["result"]["rows"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r["opcode"] == "kernel-log" && r["property"] == "hung-task"),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The same guest, ended by the watcher soon after the hung-task report
/// (the suite silent for RINGSPEC_HUNG_TASK_GRACE seconds), not at the
/// timeout: the same failed verdict, sooner.
#[test]
fn a_silent_guest_is_ended_soon_after_a_hung_task_report() {
    let dir = out_dir("hung-vm-early");
    let gate = fake_vm_gate_env(&dir, HUNG_VNG, "10m", &[("RINGSPEC_HUNG_TASK_GRACE", "3")]);
    let out = dir.join("out");
    let started = std::time::Instant::now();
    let o = gate(&out, None);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{stderr}");
    // Well before the 10 min timeout; the bound leaves room for a loaded
    // machine (the fake guest runs the real suite first).
    assert!(
        started.elapsed() < std::time::Duration::from_secs(400),
        "{stderr}"
    );
    assert!(
        stderr.contains("after the hung-task report: guest ended"),
        "{stderr}"
    );
    let report = json(&out, "report.json");
    let rows = report["result"]["rows"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r["opcode"] == "kernel-log" && r["property"] == "hung-task"),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
