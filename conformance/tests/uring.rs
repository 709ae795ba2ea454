//! The three-way check: model vs syscalls vs io_uring in every submission mode,
//! on the filesystem `RINGSPEC_FS` names (tmpfs by default), like the rest of
//! the suite.

use model::OpKind;
use oracle::campaign::Submission;
use oracle::campaign::{self, CampaignConfig, Target};
use oracle::scenario::{load_dir, matches_filter};
use sys::scratch::Scratch;

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number")),
        Err(_) => default,
    }
}

/// Syscalls plus io_uring in every mode. io_uring must be usable where this
/// suite runs: a kernel without it fails here rather than passing silently.
fn all_targets(scratch: &Scratch) -> Vec<Target> {
    let mut t = vec![campaign::syscalls_target(scratch)];
    t.extend(campaign::uring_targets(scratch, &Submission::ALL).unwrap_or_else(|e| panic!("{e}")));
    t
}

#[test]
fn scenarios_model_vs_uring() {
    let Some(scratch) = Scratch::from_env_or_skip("scenarios_model_vs_uring") else {
        return;
    };
    let filter = std::env::var("RINGSPEC_SCENARIOS").unwrap_or_default();
    let all = load_dir(&oracle::corpus_dir().join("scenarios")).unwrap_or_else(|e| panic!("{e}"));
    let targets = all_targets(&scratch);
    let mut tally = conformance::ScenarioTally::default();
    for (i, (file, sc)) in all.iter().enumerate() {
        if !matches_filter(&sc.name, &filter) {
            continue;
        }
        for t in &targets[1..] {
            let roots = scratch
                .roots(&format!("u{i}"))
                .unwrap_or_else(|e| panic!("{e}"));
            let result = t.run_scenario(sc, roots).unwrap_or_else(|e| panic!("{e}"));
            tally.record(file, sc, &t.name, result);
        }
    }
    eprintln!("scenarios through io_uring: {}", tally.summary());
    for why in &tally.not_judged {
        eprintln!("  not judged (neither passed nor failed): {why}");
    }
    assert!(tally.failures.is_empty(), "{}", tally.failures.join("\n"));
}

/// One campaign over `kinds` through every target on the filesystem
/// `RINGSPEC_FS` names; returns the stats, or None when that filesystem cannot
/// be set up here and `RINGSPEC_REQUIRE_FS` is unset (the test is skipped).
fn three_way(kinds: Vec<OpKind>, cases: u64, label: &str) -> Option<campaign::Stats> {
    let scratch = Scratch::from_env_or_skip(label)?;
    let targets = all_targets(&scratch);
    let cfg = CampaignConfig {
        seed: env_u64("RINGSPEC_SEED", 0x5eed_2026),
        cases: Some(env_u64("RINGSPEC_URING_CASES", cases)),
        kinds,
        ..CampaignConfig::default()
    };
    eprintln!(
        "{label}: seed {} ({} cases)",
        cfg.seed,
        cfg.cases.unwrap_or(0)
    );
    let result = campaign::run(&cfg, &scratch, &targets, &mut |_| {});
    conformance::assert_campaign_agrees(label, &result, &targets);
    Some(result.stats)
}

#[test]
fn sequences_all_ops_three_way() {
    three_way(oracle::gen::default_kinds(), 150, "all ops");
}

/// Per mission opcode: sequences drawn around that op (swarm subsets of it
/// plus the foundation ops), through model, syscalls and io_uring. Where the
/// kernel has the opcode it must really run through the ring.
fn mission_op(kind: OpKind) {
    let Some(stats) = three_way(vec![kind], 60, kind.name()) else {
        return;
    };
    let s = stats
        .per_kind
        .get(&kind)
        .unwrap_or_else(|| panic!("no {kind} op ran"));
    let executed: u64 = s.executed.values().sum();
    assert!(executed > 0, "no {kind} op executed");
    eprintln!(
        "{kind}: executed per backend {:?}, through io_uring {}, unsupported via {:?}",
        s.executed, s.via_ring, s.unsupported
    );
    if s.unsupported.is_empty() {
        assert!(
            s.via_ring > 0,
            "{kind} has an opcode here but never ran through io_uring"
        );
    } else {
        assert_eq!(
            s.via_ring, 0,
            "{kind} is unsupported yet ran through io_uring"
        );
    }
}

#[test]
fn copy_file_range_three_way() {
    mission_op(OpKind::CopyFileRange);
}

#[test]
fn splice_three_way() {
    mission_op(OpKind::Splice);
}

#[test]
fn tee_three_way() {
    mission_op(OpKind::Tee);
}

#[test]
fn getdents_three_way() {
    mission_op(OpKind::Getdents);
}

#[test]
fn fadvise_three_way() {
    mission_op(OpKind::Fadvise);
}

#[test]
fn fallocate_three_way() {
    mission_op(OpKind::Fallocate);
}

#[test]
fn mknod_three_way() {
    mission_op(OpKind::Mknod);
}

/// On a kernel that has them (6.8+), splice, tee, fadvise and fallocate must
/// go through io_uring, never silently through the fallback.
#[test]
fn mainline_mission_opcodes_use_the_ring() {
    let Some(scratch) = Scratch::from_env_or_skip("mainline_mission_opcodes_use_the_ring") else {
        return;
    };
    for t in campaign::uring_targets(&scratch, &Submission::ALL).unwrap_or_else(|e| panic!("{e}")) {
        for k in [
            OpKind::Splice,
            OpKind::Tee,
            OpKind::Fadvise,
            OpKind::Fallocate,
        ] {
            assert_eq!(t.supported.get(&k), Some(&true), "{k} on {}", t.name);
            assert!(!t.profile.sync_kinds.contains(&k), "{k} on {}", t.name);
        }
    }
}

fn op(text: &str) -> model::Op {
    let v: toml::Value = toml::from_str(&format!("x = {text}")).expect("toml");
    v["x"].clone().try_into().expect("op")
}

/// The linked-chain rules the model encodes, pinned on one deterministic
/// sequence: a failing MKDIRAT or FALLOCATE (error from the operation itself)
/// does not cancel the next member, a short READ does, and an invalid SPLICE
/// flag (a submission-time error) cancels the whole chain, earlier members too.
#[test]
fn linked_chain_rules() {
    use model::{Errno, Outcome};
    use oracle::differential::{check_sequence_grouped, Grouping, Verdict};
    let Some(scratch) = Scratch::from_env_or_skip("linked_chain_rules") else {
        return;
    };
    let targets = campaign::uring_targets(&scratch, &[Submission::Grouped(Grouping::Linked)])
        .unwrap_or_else(|e| panic!("{e}"));
    let t = &targets[0];
    let ops: Vec<model::Op> = [
        r#"{ op = "open", slot = 0, path = "a", flags = ["rdwr", "creat"] }"#,
        r#"{ op = "write", fd = 0, data = "hi", offset = 0 }"#,
        r#"{ op = "open", slot = 1, path = "a" }"#,
        // chain 1: mkdir fails (ENOENT), fadvise still runs
        r#"{ op = "mkdir", path = "nope/x" }"#,
        r#"{ op = "fadvise", fd = 0, advice = "normal" }"#,
        // fallocate on a read-only fd fails (EBADF), fadvise still runs
        r#"{ op = "fallocate", fd = 1, offset = 0, len = 1 }"#,
        r#"{ op = "fadvise", fd = 0, advice = "random" }"#,
        // a short read breaks the chain: the write is cancelled
        r#"{ op = "read", fd = 0, len = 100, offset = 0 }"#,
        r#"{ op = "write", fd = 0, data = "zz", offset = 10 }"#,
    ]
    .iter()
    .map(|s| op(s))
    .collect();
    let roots = scratch.roots("chain").unwrap_or_else(|e| panic!("{e}"));
    let mut b = (t.make)(roots).unwrap_or_else(|e| panic!("{e}"));
    let res = check_sequence_grouped(&t.profile, &ops, b.as_mut(), Grouping::Linked);
    assert!(matches!(res.verdict, Verdict::Agree), "{:?}", res.verdict);
    assert!(
        res.grouped >= 6,
        "the ops did not run as a chain: {}",
        res.grouped
    );
    let out = |i: usize| {
        res.outcomes
            .iter()
            .find(|(k, _)| *k == i)
            .map(|(_, o)| o.clone())
    };
    assert_eq!(out(3), Some(Outcome::err(Errno::ENOENT)));
    assert_eq!(out(4), Some(Outcome::ok(0)));
    assert_eq!(out(5), Some(Outcome::err(Errno::EBADF)));
    assert_eq!(out(6), Some(Outcome::ok(0)));
    assert_eq!(out(8), Some(Outcome::err(Errno::ECANCELED)));

    // A submission-time failure cancels the members before it as well.
    let ops: Vec<model::Op> = [
        r#"{ op = "open", slot = 0, path = "b", flags = ["rdwr", "creat"] }"#,
        r#"{ op = "write", fd = 0, data = "", offset = 0 }"#,
        r#"{ op = "fadvise", fd = 0, advice = "normal" }"#,
        r#"{ op = "splice", fd_in = 0, fd_out = 0, len = 1, flags = 16 }"#,
    ]
    .iter()
    .map(|s| op(s))
    .collect();
    let roots = scratch.roots("chain2").unwrap_or_else(|e| panic!("{e}"));
    let mut b = (t.make)(roots).unwrap_or_else(|e| panic!("{e}"));
    let res = check_sequence_grouped(&t.profile, &ops, b.as_mut(), Grouping::Linked);
    assert!(matches!(res.verdict, Verdict::Agree), "{:?}", res.verdict);
    let out = |i: usize| {
        res.outcomes
            .iter()
            .find(|(k, _)| *k == i)
            .map(|(_, o)| o.clone())
    };
    assert_eq!(out(1), Some(Outcome::err(Errno::ECANCELED)));
    assert_eq!(out(2), Some(Outcome::err(Errno::ECANCELED)));
    assert_eq!(out(3), Some(Outcome::err(Errno::EINVAL)));
}
