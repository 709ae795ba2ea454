//! Every minimized sequence under corpus/regressions/ replays cleanly through
//! the syscalls and every io_uring submission path.

use oracle::campaign::{self, Submission};
use oracle::regression::Regression;
use sys::scratch::Scratch;

#[test]
fn regressions_replay_all_targets() {
    let all = Regression::load_dir(&oracle::corpus_dir().join("regressions"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(!all.is_empty(), "no regression files");
    let Some(scratch) = Scratch::from_env_or_skip("regressions_replay_all_targets") else {
        return;
    };
    let mut targets = vec![campaign::syscalls_target(&scratch)];
    targets.extend(
        campaign::uring_targets(&scratch, &Submission::ALL).unwrap_or_else(|e| panic!("{e}")),
    );
    let (mut replayed, mut failures) = (0, Vec::new());
    for (i, (path, r)) in all.iter().enumerate() {
        for t in &targets {
            if !r.only_fs.is_empty() && !r.only_fs.iter().any(|f| f == t.profile.fs.kind.name()) {
                continue;
            }
            let res = campaign::run_one(&scratch, &format!("r{i}"), t, &r.ops)
                .unwrap_or_else(|e| panic!("{e}"));
            replayed += 1;
            if let Err(e) = r.judge(&t.name, &res.verdict) {
                failures.push(format!("{} on {}: {e}", path.display(), t.name));
            }
        }
    }
    eprintln!("regressions: {replayed} replays, {} failed", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
