//! Every minimized sequence under corpus/regressions/ replays cleanly.

use model::Interface;
use oracle::differential::check_sequence;
use oracle::regression::Regression;
use oracle::scratch::Scratch;
use oracle::syscalls::Syscalls;

#[test]
fn regressions_replay_model_vs_syscalls() {
    let all = Regression::load_dir(&oracle::corpus_dir().join("regressions"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!all.is_empty(), "no regression files");
    let Some(scratch) = Scratch::from_env_or_skip("regressions_replay_model_vs_syscalls") else {
        return;
    };
    let profile = oracle::profile::detect(&scratch, Interface::Syscall);
    let mut failures = Vec::new();
    for (i, (path, r)) in all.iter().enumerate() {
        if !r.only_fs.is_empty() && !r.only_fs.iter().any(|f| f == profile.fs.kind.name()) {
            eprintln!("skip {}: only on {}", r.name, r.only_fs.join(", "));
            continue;
        }
        let roots = scratch
            .roots(&format!("r{i}"))
            .unwrap_or_else(|e| panic!("roots: {e}"));
        let mut backend = Syscalls::new(roots);
        let res = check_sequence(&profile, &r.ops, &mut backend);
        if let Err(e) = r.judge(&res.verdict) {
            failures.push(format!("{}: {e}", path.display()));
        }
    }
    eprintln!(
        "regressions: {} replayed, {} failed",
        all.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
