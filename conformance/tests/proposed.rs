//! The named checks of the proposed io_uring opcodes (oracle::checks; the
//! patches in kernel/patches/). On a kernel without the opcodes (mainline, the
//! host) each check prints "unsupported on this kernel" and judges nothing;
//! `RINGSPEC_REQUIRE_PROPOSED=1` turns that into a failure (what a patched
//! kernel's CI wants). The gate runs the same checks inside the guest
//! (`ringspec suite`), where they are rows `check:<name>`.

use model::OpKind;
use oracle::campaign::{self, Submission, Target};
use oracle::checks::{self, CheckOutcome};
use sys::scratch::Scratch;

fn require() -> bool {
    std::env::var("RINGSPEC_REQUIRE_PROPOSED").is_ok_and(|v| v == "1")
}

/// Reports the outcomes of one check: failures fail the test; unsupported
/// ones are printed (and fail under RINGSPEC_REQUIRE_PROPOSED=1).
fn report(check: &str, outcomes: Vec<(String, CheckOutcome)>) {
    let mut failures = Vec::new();
    let (mut passed, mut unsupported) = (0, 0);
    for (where_, out) in outcomes {
        match out {
            CheckOutcome::Pass(what) => {
                passed += 1;
                eprintln!("{check} on {where_}: pass ({what})");
            }
            CheckOutcome::Unsupported(why) => {
                unsupported += 1;
                eprintln!("{check} on {where_}: {why}");
                if require() {
                    failures.push(format!("{where_}: {why} (RINGSPEC_REQUIRE_PROPOSED=1)"));
                }
            }
            CheckOutcome::Fail(p) => failures.push(format!("{where_}: {}", p.join("\n    "))),
        }
    }
    eprintln!(
        "{check}: {passed} passed, {unsupported} unsupported, {} failed",
        failures.len()
    );
    assert!(failures.is_empty(), "{check}:\n  {}", failures.join("\n  "));
}

/// The io_uring targets a sequence check runs through: one op at a time,
/// IOSQE_ASYNC, registered files, linked chains.
fn uring_targets(scratch: &Scratch) -> Vec<Target> {
    campaign::uring_targets(
        scratch,
        &[
            Submission::Mode(backends::uring::Mode::Single),
            Submission::Mode(backends::uring::Mode::Async),
            Submission::Mode(backends::uring::Mode::Fixed),
            Submission::Grouped(oracle::differential::Grouping::Linked),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn sequence(name: &str) {
    let Some(scratch) = Scratch::from_env_or_skip(name) else {
        return;
    };
    let (_, kind, ops) = checks::sequences::all()
        .into_iter()
        .find(|(n, _, _)| *n == name)
        .unwrap_or_else(|| panic!("no sequence {name}"));
    let fs = scratch.fs().name.clone();
    let mut outcomes = Vec::new();
    // The syscalls are checked against the model everywhere.
    let sys = campaign::syscalls_target(&scratch);
    outcomes.push((
        format!("{fs} syscalls"),
        checks::run_sequence_check(&scratch, &sys, name, kind, &ops).0,
    ));
    for t in uring_targets(&scratch) {
        let (out, _) = checks::run_sequence_check(&scratch, &t, name, kind, &ops);
        outcomes.push((format!("{fs} {}", t.name), out));
    }
    report(name, outcomes);
}

fn ring(name: &str) {
    let Some(scratch) = Scratch::from_env_or_skip(name) else {
        return;
    };
    let (_, needs, _, f) = checks::ring_checks()
        .into_iter()
        .find(|(n, ..)| *n == name)
        .unwrap_or_else(|| panic!("no ring check {name}"));
    let out = checks::run_ring_check(&scratch, name, &needs, f);
    report(
        name,
        vec![(
            format!("{} {}", scratch.fs().name, checks::RING_TARGET),
            out,
        )],
    );
}

#[test]
fn proposed_getdents_cursor() {
    sequence("getdents_cursor");
}

#[test]
fn proposed_cfr_short_copies() {
    sequence("cfr_short_copies");
}

#[test]
fn proposed_cfr_same_file() {
    sequence("cfr_same_file");
}

#[test]
fn proposed_cfr_errors() {
    sequence("cfr_errors");
}

#[test]
fn proposed_mknod_types_umask() {
    sequence("mknod_types_umask");
}

#[test]
fn proposed_chains() {
    sequence("chains");
}

/// Runs in a child process (this test binary re-run with the one test): the
/// SQE sandbox compares the process's descriptor table before and after each
/// probe, which tests on other threads would change.
#[test]
fn proposed_sqe_fields() {
    const CHILD_ENV: &str = "RINGSPEC_SQE_FIELDS_CHILD";
    if std::env::var(CHILD_ENV).as_deref() == Ok("1") {
        ring("sqe_fields");
        return;
    }
    let exe = std::env::current_exe().expect("the test binary");
    let out = std::process::Command::new(exe)
        .args([
            "proposed::proposed_sqe_fields",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .output()
        .expect("run the sqe_fields child");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    eprint!("{text}");
    assert!(out.status.success(), "check:sqe_fields failed:\n{text}");
    assert!(
        text.contains("1 passed"),
        "the sqe_fields child ran no test:\n{text}"
    );
}

#[test]
fn proposed_getdents_concurrent() {
    ring("getdents_concurrent");
}

#[test]
fn proposed_cfr_crossed_positions() {
    ring("cfr_crossed_positions");
}

#[test]
fn proposed_mknod_eperm() {
    ring("mknod_eperm");
}

#[test]
fn proposed_mknod_prep_failures() {
    ring("mknod_prep_failures");
}

/// On this kernel, the proposed opcodes are supported exactly when configured
/// and probed; on the host (6.15+) the defaults configure nothing, so they are
/// unsupported whatever numbers 58..60 mean there.
#[test]
fn proposed_defaults_match_the_kernel() {
    let p = backends::sqe::ProposedOpcodes::from_env().unwrap_or_else(|e| panic!("{e}"));
    let release = backends::proposed::running_release();
    if std::env::var(backends::sqe::PROPOSED_ENV).is_err() {
        assert_eq!(p, backends::proposed::defaults_for_release(&release));
    }
    for k in [OpKind::CopyFileRange, OpKind::Getdents, OpKind::Mknod] {
        match checks::opcode_number(k, &p) {
            Ok(n) => eprintln!("{release}: {k} through io_uring opcode {n}"),
            Err(why) => eprintln!("{release}: {k}: {why}"),
        }
    }
}
