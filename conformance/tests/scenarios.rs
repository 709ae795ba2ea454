//! The scenario corpus through the model and the synchronous syscalls.

use backends::syscalls::Syscalls;
use model::Interface;
use oracle::scenario::{load_dir, matches_filter, ScenarioResult};
use sys::scratch::Scratch;

#[test]
fn scenarios_model_vs_syscalls() {
    let filter = std::env::var("RINGSPEC_SCENARIOS").unwrap_or_default();
    let all = load_dir(&oracle::corpus_dir().join("scenarios")).unwrap_or_else(|e| panic!("{e}"));
    let Some(scratch) = Scratch::from_env_or_skip("scenarios_model_vs_syscalls") else {
        return;
    };
    let profile = oracle::profile::detect(&scratch, Interface::Syscall);
    eprintln!(
        "scenarios on {} (kernel {:?})",
        scratch.describe(),
        profile.kernel
    );
    let (mut pass, mut skipped, mut failures) = (0, 0, Vec::new());
    let mut per_file = std::collections::BTreeMap::<String, (u32, u32)>::new();
    for (i, (file, sc)) in all.iter().enumerate() {
        if !matches_filter(&sc.name, &filter) {
            continue;
        }
        let roots = scratch
            .roots(&format!("s{i}"))
            .unwrap_or_else(|e| panic!("roots: {e}"));
        let mut backend = Syscalls::new(roots);
        let entry = per_file.entry(file.clone()).or_default();
        match sc.run(&profile, &mut backend) {
            ScenarioResult::Pass => {
                pass += 1;
                entry.0 += 1;
            }
            ScenarioResult::Skipped(why) => {
                skipped += 1;
                eprintln!("skip {}: {why}", sc.name);
            }
            ScenarioResult::KnownBug(why) => {
                entry.1 += 1;
                failures.push(format!(
                    "{file}.toml: {}: a known io_uring bug on the syscall path? {why}",
                    sc.name
                ));
            }
            // The model cannot judge it here: neither a pass nor a failure.
            ScenarioResult::NotJudged(why) => {
                skipped += 1;
                eprintln!("not judged {}: {why}", sc.name);
            }
            ScenarioResult::Fail(problems) => {
                entry.1 += 1;
                failures.push(format!(
                    "{file}.toml: {}\n    {}",
                    sc.name,
                    problems.join("\n    ")
                ));
            }
        }
    }
    for (file, (p, f)) in &per_file {
        eprintln!("  {file:<18} {p:>4} passed {f:>4} failed");
    }
    eprintln!(
        "scenarios: {pass} passed, {} failed, {skipped} skipped",
        failures.len()
    );
    assert!(
        pass + failures.len() > 0 || !filter.is_empty(),
        "no scenario ran"
    );
    if !failures.is_empty() {
        panic!(
            "{} scenario(s) failed (replay one with RINGSPEC_SCENARIOS=<name>):\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}
