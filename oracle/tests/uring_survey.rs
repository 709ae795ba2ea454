//! Surveys of the io_uring backend against the syscalls over the scenario
//! corpus and random sequences: not pass/fail checks (ignored by default), the
//! evidence behind the model's io_uring profile.

use backends::backend::Backend;
use backends::compare::{comparable, run_both};
use backends::sqe::ProposedOpcodes;
use backends::syscalls::Syscalls;
use backends::uring::{Mode, Uring};
use model::{Op, Outcome};
use std::collections::BTreeMap;
use std::time::Duration;
use sys::scratch::Scratch;

fn op(text: &str) -> Op {
    model::parse_op(text).unwrap_or_else(|e| panic!("{e}"))
}

fn ops(texts: &[&str]) -> Vec<Op> {
    texts.iter().map(|t| op(t)).collect()
}

/// Runs every scenario of the corpus, then random sequences, through the
/// syscalls and through io_uring in every mode, and prints every op whose
/// outcome differs (the first one per sequence: states diverge after it).
/// A survey for the model's io_uring profile, not a pass/fail check:
/// `cargo test -p oracle --test uring_survey -- --ignored --nocapture`.
#[test]
#[ignore]
fn uring_survey_differences() {
    use proptest::strategy::{Strategy, ValueTree};
    let scenarios =
        oracle::scenario::load_dir(&oracle::corpus_dir().join("scenarios")).expect("corpus");
    let s = Scratch::new().expect("scratch");
    let cases: usize = std::env::var("RINGSPEC_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strat = oracle::gen::sequence(oracle::gen::default_kinds(), 30);
    let random: Vec<(String, Vec<Op>, Option<oracle::scenario::Expect>)> = (0..cases)
        .map(|i| {
            let seq = strat.new_tree(&mut runner).unwrap().current();
            (format!("random#{i}"), seq, None)
        })
        .collect();
    let cross = s.cross_fs();
    let all: Vec<(String, Vec<Op>, Option<oracle::scenario::Expect>)> = scenarios
        .iter()
        .filter(|(_, c)| {
            // Same applicability rules as Scenario::run (tmpfs here).
            (c.only_fs.is_empty() || c.only_fs.iter().any(|f| *f == s.fs().name))
                && (cross
                    || !c
                        .setup
                        .iter()
                        .chain([&c.run])
                        .any(|op| op.dirs().contains(&model::Dir::Other)))
        })
        .map(|(file, c)| {
            let mut seq = c.setup.clone();
            seq.push(c.run.clone());
            let want = c.uring.clone().unwrap_or_else(|| c.expect.clone());
            (format!("{file}/{}", c.name), seq, Some(want))
        })
        .chain(random)
        .collect();
    let mut n = 0usize;
    let mut signatures: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for mode in Mode::ALL {
        for (name, seq, want) in &all {
            let only = std::env::var("RINGSPEC_SURVEY_ONLY").unwrap_or_default();
            if !only.is_empty() && only != *name {
                continue;
            }
            n += 1;
            let mut sys = Syscalls::new(s.roots(&format!("s{n}")).unwrap());
            let mut u = Uring::new(
                s.roots(&format!("u{n}")).unwrap(),
                mode,
                ProposedOpcodes::default(),
            )
            .unwrap();
            u.set_deadline(Duration::from_millis(300));
            let outs = run_both(&mut sys, &mut u, seq);
            if !only.is_empty() && std::env::var("RINGSPEC_SURVEY_DUMP").is_ok() {
                for (j, (o, (a, b))) in seq.iter().zip(&outs).enumerate() {
                    let t = serde_json::to_string(o).unwrap();
                    println!("  {mode} #{j} {t}: {a} | {b}");
                }
            }
            if let (Some(want), Some((_, b))) = (want, outs.last()) {
                if let Err(e) = want.check(b) {
                    println!("{mode} {name}: TABLE: the uring outcome {b} does not match: {e}");
                }
            }
            if let Some((i, (a, b))) = outs
                .iter()
                .enumerate()
                .find(|(_, (a, b))| comparable(a) != comparable(b))
            {
                let o = &seq[i];
                if !only.is_empty() {
                    for (j, (o, (a, b))) in seq.iter().zip(&outs).enumerate().take(i + 1) {
                        let t = serde_json::to_string(o).unwrap();
                        println!("  #{j} {t}: {a} | {b}");
                    }
                }
                let text = serde_json::to_string(o).unwrap();
                println!("{mode} {name} op#{i} {text}: syscalls {a} | uring {b}");
                let short = |x: &Outcome| match x.result {
                    Ok(_) => "ok".to_string(),
                    Err(e) => e.to_string(),
                };
                signatures
                    .entry(format!(
                        "{} syscalls {} uring {}",
                        o.kind(),
                        short(a),
                        short(b)
                    ))
                    .or_default()
                    .push(format!("{mode} {name}"));
            } else {
                let d = model::diff("syscalls", &sys.snapshot(), "uring", &u.snapshot());
                if !d.is_empty() {
                    println!("{mode} {name}: state differs: {}", d.join("; "));
                }
            }
        }
    }
    println!("\n== signatures ==");
    for (sig, where_) in &signatures {
        println!(
            "{sig}: {} ({})",
            where_.len(),
            where_
                .iter()
                .take(4)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// Targeted probes of the differences the survey found, printed per mode next
/// to the syscall's outcome:
/// `cargo test -p oracle --test uring_survey -- --ignored uring_survey_targeted --nocapture`.
#[test]
#[ignore]
fn uring_survey_targeted() {
    let setup = ops(&[
        r#"{ op = "mknod", path = "fifo", type = "fifo" }"#,
        r#"{ op = "mkdir", path = "d" }"#,
        r#"{ op = "open", slot = 0, path = "d", flags = ["directory"] }"#,
        r#"{ op = "pipe", read_slot = 1, write_slot = 2, nonblock = true }"#,
        r#"{ op = "write", fd = 2, data = "0123456789" }"#,
        r#"{ op = "pipe", read_slot = 3, write_slot = 4 }"#,
    ]);
    let probes = [
        r#"{ op = "open", slot = 5, path = "fifo", flags = ["rdonly"] }"#,
        r#"{ op = "open", slot = 5, path = "fifo", flags = ["wronly"] }"#,
        r#"{ op = "open", slot = 5, path = "fifo", flags = ["rdwr"] }"#,
        r#"{ op = "open", slot = 5, path = "fifo", flags = ["rdonly", "creat"] }"#,
        r#"{ op = "open", slot = 5, path = "fifo", flags = ["wronly", "trunc"] }"#,
        r#"{ op = "open", slot = 5, path = "fifo", flags = ["wronly", "nonblock"] }"#,
        r#"{ op = "open", slot = 5, path = "fifo", flags = ["rdonly", "nonblock"] }"#,
        r#"{ op = "read", fd = 0, len = 0 }"#,
        r#"{ op = "read", fd = 0, len = 0, offset = 5 }"#,
        r#"{ op = "read", fd = 0, len = 1 }"#,
        r#"{ op = "write", fd = 0, data = "" }"#,
        r#"{ op = "read", fd = 1, len = 2, offset = 0 }"#,
        r#"{ op = "read", fd = 1, len = 2, offset = -5 }"#,
        r#"{ op = "read", fd = 1, len = 2, offset = 9223372036854775805 }"#,
        r#"{ op = "read", fd = 1, len = 2, offset = 9223372036854775806 }"#,
        r#"{ op = "read", fd = 1, len = 2, offset = 9223372036854775807 }"#,
        r#"{ op = "read", fd = 2, len = 2, offset = 0 }"#,
        r#"{ op = "write", fd = 2, data = "ab", offset = -7 }"#,
        r#"{ op = "write", fd = 2, data = "ab", offset = 123 }"#,
        r#"{ op = "read", fd = 3, len = 2 }"#,
        r#"{ op = "splice", fd_in = 3, fd_out = 2, len = 2 }"#,
        r#"{ op = "tee", fd_in = 3, fd_out = 2, len = 2 }"#,
        r#"{ op = "splice", fd_in = 1, off_in = 0, fd_out = 4, len = 2 }"#,
        r#"{ op = "splice", fd_in = 1, fd_out = 4, off_out = 3, len = 2 }"#,
        r#"{ op = "splice", fd_in = 1, fd_out = 4, len = 4294967296 }"#,
        r#"{ op = "tee", fd_in = 1, fd_out = 4, len = 4294967297 }"#,
        r#"{ op = "ftruncate", fd = 0, len = -1 }"#,
        r#"{ op = "fadvise", fd = 0, len = -1, advice = "normal" }"#,
        r#"{ op = "fadvise", fd = 1, len = -1, advice = "normal" }"#,
        r#"{ op = "fallocate", fd = 1, offset = 0, len = 1 }"#,
        r#"{ op = "fsync", fd = 1 }"#,
    ];
    let s = Scratch::new().expect("scratch");
    let mut n = 0;
    for probe in probes {
        let mut line = format!("{probe}:");
        for mode in [
            None,
            Some(Mode::Single),
            Some(Mode::Async),
            Some(Mode::Fixed),
            Some(Mode::Sqpoll),
        ] {
            n += 1;
            let roots = s.roots(&format!("t{n}")).unwrap();
            let mut b: Box<dyn Backend> = match mode {
                None => Box::new(Syscalls::new(roots)),
                Some(m) => {
                    let mut u = Uring::new(roots, m, ProposedOpcodes::default()).unwrap();
                    u.set_deadline(Duration::from_millis(300));
                    Box::new(u)
                }
            };
            for o in &setup {
                b.exec(o);
            }
            let out = b.exec(&op(probe));
            let fds = b.snapshot().fds;
            let extra = fds
                .get(&5)
                .map(|f| format!(" slot5={}", f.flags))
                .unwrap_or_default();
            line += &format!(" {}={out}{extra}", mode.map_or("sys", |m| m.name()));
        }
        println!("{line}");
    }
}
