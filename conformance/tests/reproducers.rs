//! C reproducers (`ringspec repro`): every regression file's reproducer is
//! generated, compiled with `cc` and run, and must reproduce (exit 1)
//! exactly when the file's replay fails on this kernel (else exit 0);
//! random sequences on every target run clean; the sqe_fields regressions'
//! reproducers judge as the harness did; and a reproducer whose expectation
//! is made wrong on purpose reports the bug (exit 1).
//!
//! Each runs in a child process (this test binary, one test): they spawn
//! `cc` and the reproducers, and a fork holds a copy of its process's
//! descriptors until its exec. Beside the other tests, a pipe end another
//! test closed would then still have a reader or writer (seen: a false
//! EPIPE divergence of `sequences_model_vs_syscalls`).

use model::{Allowed, Errno, Op, Outcome};
use oracle::regression::Regression;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, TestRunner};
use repro::{Action, Plan};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the test writes and builds reproducers (removed at the end).
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("ringspec-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        Dir(d)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Whether the reproducers can run here (root: they mount their own
/// filesystems); the reason when not.
fn cannot_run() -> Option<String> {
    // SAFETY: geteuid cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: reproducers mount their own scratch filesystems".into());
    }
    None
}

/// Compiles and runs a reproducer; returns its exit code and output.
fn build_and_run(dir: &Path, name: &str, c: &str) -> (i32, String) {
    let src = dir.join(format!("{name}.c"));
    let bin = dir.join(name);
    std::fs::write(&src, c).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let cc = Command::new("cc")
        .args(["-O1", "-Wall", "-Werror", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("cannot run cc (apt-get install gcc): {e}"));
    assert!(
        cc.status.success(),
        "{name}: cc failed:\n{}",
        String::from_utf8_lossy(&cc.stderr)
    );
    let out = Command::new(&bin)
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", bin.display()));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

/// Makes and runs a reproducer until it judges (exit 0 or 1): a reproducer
/// cannot judge (exit 2) when the kernel took another allowed outcome than
/// the run it was made from, which a new plan may share. Returns the last
/// plan, exit code and output.
fn judged(dir: &Path, name: &str, reg: &Regression, target: Option<&str>) -> (Plan, i32, String) {
    let mut last = None;
    for _ in 0..3 {
        let plan = repro::plan(reg, name, target, None).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (code, out) = build_and_run(dir, name, &repro::render(&plan));
        if code != repro::EXIT_CANNOT_JUDGE {
            return (plan, code, out);
        }
        last = Some((plan, code, out));
    }
    last.expect("three tries")
}

/// Runs only in the default (tmpfs) pass: each reproducer makes the
/// filesystem its regression names itself, so the RINGSPEC_FS passes would
/// repeat the same work.
fn default_pass(test: &str) -> bool {
    let fs = std::env::var("RINGSPEC_FS").unwrap_or_default();
    if !fs.trim().is_empty() && fs.trim() != "tmpfs" {
        eprintln!("{test}: runs in the tmpfs pass (its reproducers make their own {fs})");
        return false;
    }
    true
}

#[test]
fn regression_reproducers_reproduce_exactly_when_replay_fails() {
    if default_pass("regression_reproducers") {
        crate::sqe_fields::run_child(
            "reproducers::regression_reproducers_child",
            "repro-regressions",
        );
    }
}

#[test]
fn regression_reproducers_child() {
    if !crate::sqe_fields::is_child("repro-regressions") {
        return;
    }
    if !default_pass("regression_reproducers") {
        return;
    }
    if let Some(why) = cannot_run() {
        panic!("regression_reproducers: {why}");
    }
    let all = Regression::load_dir(&oracle::corpus_dir().join("regressions"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!all.is_empty(), "no regression files");
    let dir = Dir::new("repro");
    let mut failures = Vec::new();
    for (path, reg) in &all {
        let name = path
            .file_stem()
            .expect("a file name")
            .to_string_lossy()
            .into_owned();
        let (plan, code, out) = judged(&dir.0, &name, reg, None);
        let replay_fails = reg.judge(&plan.target, &plan.verdict).is_err();
        let want = if replay_fails {
            repro::EXIT_BUG
        } else {
            repro::EXIT_FIXED
        };
        eprintln!(
            "repro {name} ({} on {}): exit {code}, replay {}",
            plan.target,
            plan.fs.name(),
            if replay_fails { "fails" } else { "passes" }
        );
        if code != want || !out.contains("expected") || !out.contains("actual") {
            failures.push(format!("{name}: exit {code}, want {want}:\n{out}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Random sequences on tmpfs through every target the C covers: every op
/// kind's system call and SQE encoding runs through the C runtime.
#[test]
fn random_sequence_reproducers_agree_with_their_runs() {
    if default_pass("random_sequence_reproducers") {
        crate::sqe_fields::run_child(
            "reproducers::random_sequence_reproducers_child",
            "repro-random",
        );
    }
}

#[test]
fn random_sequence_reproducers_child() {
    if !crate::sqe_fields::is_child("repro-random") {
        return;
    }
    if !default_pass("random_sequence_reproducers") {
        return;
    }
    if let Some(why) = cannot_run() {
        panic!("random_sequence_reproducers: {why}");
    }
    let seed = crate::sequences::env_u64("RINGSPEC_SEED", 0x5eed_2026);
    let cases = 12;
    eprintln!("random_sequence_reproducers: {cases} sequences, seed {seed} (RINGSPEC_SEED={seed} to replay)");
    let mut runner = TestRunner::new_with_rng(Config::default(), oracle::gen::seeded_rng(seed));
    let strategy = oracle::gen::sequence(oracle::gen::default_kinds(), 24);
    let dir = Dir::new("repro-random");
    let mut failures = Vec::new();
    let mut kinds = std::collections::BTreeSet::new();
    for i in 0..cases {
        let ops: Vec<Op> = strategy
            .new_tree(&mut runner)
            .expect("a sequence")
            .current();
        kinds.extend(ops.iter().map(|o| o.kind()));
        let reg = Regression {
            name: format!("random{i}"),
            note: format!("random sequence {i} of seed {seed}"),
            seed: Some(seed),
            only_fs: vec![],
            fs: Some("tmpfs".into()),
            target: None,
            kernel: None,
            found_by: None,
            expect: Default::default(),
            agree_on: vec![],
            ops,
        };
        for target in [
            "syscalls",
            "uring/single",
            "uring/async",
            "uring/fixed",
            "uring/sqpoll",
            "uring/batch",
            "uring/linked",
        ] {
            let name = format!("random{i}-{}", target.replace('/', "-"));
            let (plan, code, out) = judged(&dir.0, &name, &reg, Some(target));
            let diverged = matches!(plan.verdict, oracle::differential::Verdict::Diverged(_));
            let want = if diverged {
                repro::EXIT_BUG
            } else {
                repro::EXIT_FIXED
            };
            if code != want {
                failures.push(format!(
                    "{name} (seed {seed}): exit {code}, want {want}:\n{out}"
                ));
            }
        }
    }
    eprintln!("random_sequence_reproducers: op kinds covered: {kinds:?}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// A plan of a short write-then-read sequence on tmpfs, through `target`.
fn small_plan(target: &str) -> Plan {
    let reg = Regression::parse(
        r#"
name = "tampered"
note = "a reproducer whose expectation is made wrong on purpose"
ops = [
  { op = "open", slot = 0, path = "a", flags = ["rdwr", "creat"] },
  { op = "write", fd = 0, data = "abc", offset = 0 },
  { op = "read", fd = 0, len = 3, offset = 0 },
]
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    repro::plan(&reg, "tampered", Some(target), Some("tmpfs")).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_reproducer_reports_an_outcome_or_state_outside_the_model() {
    crate::sqe_fields::run_child("reproducers::tampered_reproducers_child", "repro-tampered");
}

#[test]
fn tampered_reproducers_child() {
    if !crate::sqe_fields::is_child("repro-tampered") {
        return;
    }
    if let Some(why) = cannot_run() {
        panic!("tampered reproducers: {why}");
    }
    let dir = Dir::new("repro-tampered");
    for target in ["syscalls", "uring/single", "uring/fixed"] {
        // The read's allowed set says EIO: the real "abc" is outside it.
        let mut plan = small_plan(target);
        let (code, out) = build_and_run(&dir.0, "clean", &repro::render(&plan));
        assert_eq!(code, repro::EXIT_FIXED, "{target}, untouched:\n{out}");
        for a in &mut plan.actions {
            if let Action::Run { checks, .. } = a {
                if checks[0].index == 2 {
                    checks[0].allowed = Allowed::Exact(Outcome::err(Errno::EIO));
                }
            }
        }
        let (code, out) = build_and_run(&dir.0, "outcome", &repro::render(&plan));
        assert_eq!(code, repro::EXIT_BUG, "{target}, wrong outcome:\n{out}");
        assert!(
            out.contains("expected -EIO") && out.contains("actual   3 bytes=\"abc\""),
            "{out}"
        );
        // The model's final state says the file is mode 0600: it is 0644.
        let mut plan = small_plan(target);
        for a in &mut plan.actions {
            if let Action::Final { model } = a {
                for tree in model.trees.values_mut() {
                    if let Some(n) = tree.get_mut("a") {
                        n.perm = 0o600;
                    }
                }
            }
        }
        let (code, out) = build_and_run(&dir.0, "state", &repro::render(&plan));
        assert_eq!(code, repro::EXIT_BUG, "{target}, wrong state:\n{out}");
        assert!(out.contains("expected root/a Reg 600"), "{out}");
    }
}

/// The sqe_fields regressions' reproducers judge as the harness did (exit 0
/// exactly when it found nothing), and one whose table is made to refuse the
/// result the kernel gives reports it (exit 1, "disallowed").
///
/// In a child process, as the sqe_fields tests: the sandbox scans and
/// closes descriptors of its whole process.
#[test]
fn sqe_fields_reproducers_judge_as_the_harness() {
    if !default_pass("sqe_fields_reproducers") {
        return;
    }
    if let Some(why) = cannot_run() {
        panic!("sqe_fields_reproducers: {why}");
    }
    crate::sqe_fields::run_child("reproducers::sqe_fields_reproducers_child", "sqe-repro");
}

#[test]
fn sqe_fields_reproducers_child() {
    if !crate::sqe_fields::in_child("sqe-repro", "sqe_fields_reproducers_judge_as_the_harness") {
        return;
    }
    let dir = Dir::new("repro-sqe");
    let corpus = oracle::corpus_dir().join("fuzz/sqe_fields");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap_or_else(|e| panic!("{}: {e}", corpus.display()))
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("regress-"))
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no sqe_fields regressions");
    let mut failures = Vec::new();
    let mut tampered = None;
    for path in &files {
        let name = path
            .file_name()
            .expect("a name")
            .to_string_lossy()
            .into_owned();
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let input = sqefuzz::sqe_fuzz::FuzzInput::from_bytes(&bytes);
        let trace = sqefuzz::sqe_fuzz::trace(&input).unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = match &trace.verdict {
            Some(Ok(())) => repro::EXIT_FIXED,
            Some(Err(_)) => repro::EXIT_BUG,
            None => panic!("{name}: the harness gave no verdict"),
        };
        let c = repro::render_sqe_fields(&trace, &name, "test");
        let (code, out) = build_and_run(&dir.0, &name, &c);
        println!("sqe_fields reproducer {name}: exit {code}, want {want}");
        if code != want {
            failures.push(format!("{name}: exit {code}, want {want}:\n{out}"));
        }
        // The first SQE with a result and a judged set: the set made to refuse it.
        if tampered.is_none() {
            let hit = trace.sqes.iter().enumerate().find_map(|(i, s)| {
                let r = trace.results.get(i).copied().flatten()?;
                s.allowed.as_ref()?;
                (!trace.cancelled.get(i).copied().unwrap_or(false)).then_some((i, r))
            });
            if let Some((i, r)) = hit {
                let mut t = trace.clone();
                let a = t.sqes[i].allowed.as_mut().expect("judged");
                a.values.remove(&r);
                if a.range
                    .is_some_and(|(lo, hi)| (r as i64) >= lo && (r as i64) <= hi)
                {
                    a.range = None;
                }
                tampered = Some((name.clone(), t));
            }
        }
    }
    // A read into the arena with its declared buffer taken away: the bytes
    // it wrote are a changed canary.
    let mut unsorted: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .expect("the corpus")
        .map(|e| e.expect("a directory entry").path())
        .collect();
    unsorted.sort();
    let read = unsorted.iter().find_map(|path| {
        let input = sqefuzz::sqe_fuzz::FuzzInput::from_bytes(&std::fs::read(path).ok()?);
        let mut t = sqefuzz::sqe_fuzz::trace(&input).ok()?;
        let (base, end) = (t.arena_base, t.arena_base + t.arena_len as u64);
        let i = (0..t.sqes.len()).find(|&i| {
            t.sqes[i].sqe.opcode == model::opcode::op::READ
                && t.results.get(i).copied().flatten().is_some_and(|r| r > 0)
                && t.sqes[i].sqe.addr >= base
                && t.sqes[i].sqe.addr < end
        })?;
        t.sqes[i].writes.clear();
        Some((path.display().to_string(), t))
    });
    let (name, t) = read.expect("a corpus input that reads into the arena");
    let (code, out) = build_and_run(
        &dir.0,
        "canary",
        &repro::render_sqe_fields(&t, &name, "test"),
    );
    assert_eq!(code, repro::EXIT_BUG, "canary {name}:\n{out}");
    assert!(out.contains("BUG [canary]"), "{out}");
    let (name, t) = tampered.expect("a regression with a judged result");
    let (code, out) = build_and_run(
        &dir.0,
        "tampered",
        &repro::render_sqe_fields(&t, &name, "test"),
    );
    assert_eq!(code, repro::EXIT_BUG, "tampered {name}:\n{out}");
    assert!(out.contains("BUG [disallowed]"), "{out}");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
