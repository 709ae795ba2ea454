//! RLIMIT_FSIZE: the scenarios of corpus/scenarios/fsize_limit.toml through the
//! syscalls and io_uring in every mode, then random sequences under a limit.
//!
//! The limit is process-wide (it would cut the writes of any test running
//! beside it, and the mkfs children of the scratch), so this is a test binary
//! of its own with one test that sets the limit only around its own ops.

use oracle::campaign::{self, CampaignConfig, Submission, Target};
use oracle::scenario::load_dir;
use sys::rlimit::FsizeLimit;
use sys::scratch::Scratch;

#[test]
fn fsize_limit_scenarios_and_sequences() {
    let Some(scratch) = Scratch::from_env_or_skip("fsize_limit") else {
        return;
    };
    let mut targets: Vec<Target> = vec![campaign::syscalls_target(&scratch)];
    targets.extend(
        campaign::uring_targets(&scratch, &Submission::ALL).unwrap_or_else(|e| panic!("{e}")),
    );
    let all = load_dir(&oracle::corpus_dir().join("scenarios")).unwrap_or_else(|e| panic!("{e}"));
    let limited: Vec<_> = all
        .iter()
        .filter(|(_, sc)| sc.fsize_limit.is_some())
        .collect();
    assert!(!limited.is_empty(), "no scenario sets fsize_limit");
    let mut tally = conformance::ScenarioTally::default();
    for (i, (file, sc)) in limited.iter().enumerate() {
        for t in &targets {
            let roots = scratch
                .roots(&format!("f{i}"))
                .unwrap_or_else(|e| panic!("{e}"));
            let result = sc
                .under_fsize_limit(|| t.run_scenario(sc, roots))
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|e| panic!("{e}"));
            tally.record(file, sc, &t.name, result);
        }
    }
    eprintln!("fsize_limit scenarios: {}", tally.summary());
    assert!(tally.failures.is_empty(), "{}", tally.failures.join("\n"));
    assert!(tally.pass > 0, "no fsize_limit scenario ran");

    // Random sequences with the model told the limit. 64 KiB is small enough
    // that the generator's offsets and lengths cross it often.
    const LIMIT: u64 = 65536;
    for t in &mut targets {
        t.profile.fsize_limit = Some(LIMIT);
    }
    let cfg = CampaignConfig {
        seed: std::env::var("RINGSPEC_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0xf512e),
        cases: Some(
            std::env::var("RINGSPEC_FSIZE_CASES")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(150),
        ),
        ..CampaignConfig::default()
    };
    eprintln!(
        "fsize_limit sequences: seed {} ({} cases) under RLIMIT_FSIZE={LIMIT}",
        cfg.seed,
        cfg.cases.unwrap_or(0)
    );
    let result = {
        let _limit = FsizeLimit::set(Some(LIMIT)).unwrap_or_else(|e| panic!("{e}"));
        campaign::run(&cfg, &scratch, &targets, &mut |_| {})
    };
    conformance::assert_campaign_agrees(&format!("under RLIMIT_FSIZE={LIMIT}"), &result, &targets);
}
