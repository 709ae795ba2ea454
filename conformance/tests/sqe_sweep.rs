//! The SQE rule sweep (`sqefuzz::sqe_sweep`, also `ringspec sqe-check`): every
//! must-be-zero field of every opcode the kernel supports at 1, its top bit and
//! all ones, every undefined flag bit alone (the table's errno, nothing in the
//! sandbox changed), every defined flag bit alone (accepted). Deterministic, a
//! few seconds.
//!
//! It runs in a child process (this test binary re-run with one test): the
//! sweep compares the process's descriptor table before and after each probe,
//! which tests on other threads would change. Without root it says SKIPPED;
//! `RINGSPEC_REQUIRE_FS=1` makes that a failure.

use std::io::Write as _;

const CHILD_ENV: &str = "RINGSPEC_SWEEP_CHILD";

fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

#[test]
fn sqe_sweep_agrees_with_the_table() {
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "sqe_sweep::sqe_sweep_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .expect("run the sweep child");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    for line in text
        .lines()
        .filter(|l| l.starts_with("SKIPPED") || l.starts_with("sqe_sweep") || l.contains(" FAIL "))
    {
        say(line);
    }
    assert!(out.status.success(), "the SQE sweep failed:\n{text}");
    assert!(
        text.contains("1 passed"),
        "the sweep child ran no test:\n{text}"
    );
}

/// The sweep itself; does nothing unless started by
/// `sqe_sweep_agrees_with_the_table`.
#[test]
fn sqe_sweep_child() {
    if std::env::var(CHILD_ENV).as_deref() != Ok("1") {
        return;
    }
    if let Err(e) = sqefuzz::sqe_fuzz::sandbox_ready() {
        let required =
            std::env::var("RINGSPEC_REQUIRE_FS").is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(!required, "sqe_sweep: {e} (RINGSPEC_REQUIRE_FS is set)");
        say(&format!("SKIPPED: sqe_sweep: {e}"));
        return;
    }
    let report = sqefuzz::sqe_fuzz::sweep().expect("the sweep runs");
    let (pass, fail, unsupported) = report.counts();
    say(&format!(
        "sqe_sweep: kernel {}: {} rows ({pass} pass, {fail} fail, {unsupported} unsupported), \
         {} probes in {:.2} s",
        report.release,
        report.rows.len(),
        report.probes,
        report.seconds
    ));
    assert!(pass > 0, "no rule was checked:\n{}", report.text());
    assert!(
        fail == 0,
        "the kernel disagrees with the SQE table:\n{}",
        report.text()
    );
}
