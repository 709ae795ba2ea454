//! Boundary values reach the kernel and survive shrinking: a kernel bug that
//! shows only at a length of 2^32 or more (`Fault::TruncateLength32`: ftruncate
//! keeps the low 32 bits) is found by the ordinary campaign (`campaign::run`,
//! its generator and its proptest shrinking), and the minimized sequence still
//! holds the boundary value, shrunk to the smallest one that fails: 2^32.
//! Runs on tmpfs (see the test).

use backends::faults::{Fault, Faulty};
use backends::syscalls::Syscalls;
use model::{Interface, Op};
use oracle::campaign::{self, CampaignConfig, Target};
use std::collections::BTreeMap;
use sys::scratch::Scratch;

#[test]
fn a_failure_at_2_pow_32_shrinks_to_2_pow_32() {
    // On tmpfs whatever RINGSPEC_FS says: this tests the generator and the
    // shrinking, and every length from 2^32 up fails there the same way. On
    // ext4 (s_maxbytes 16 TiB) a sequence that first fails at a length past
    // s_maxbytes fails as "expected -EFBIG", which 2^32 does not reproduce, so
    // the minimized length legitimately stays where it was (seen once the
    // xattr ops changed the generated sequences).
    let scratch = Scratch::new().expect("a scratch area");
    eprintln!(
        "a_failure_at_2_pow_32_shrinks_to_2_pow_32: on {}",
        scratch.describe()
    );
    let target = Target {
        name: "syscalls+TruncateLength32".into(),
        profile: oracle::profile::detect(&scratch, Interface::Syscall),
        make: Box::new(|roots| {
            Ok(Box::new(Faulty::new(
                Syscalls::new(roots),
                Fault::TruncateLength32,
            )))
        }),
        group: None,
        supported: BTreeMap::new(),
        unavailable: None,
    };
    let cfg = CampaignConfig {
        seed: 0x5eed_2026,
        cases: Some(1000),
        ..CampaignConfig::default()
    };
    let res = campaign::run(&cfg, &scratch, std::slice::from_ref(&target), &mut |_| {});
    let f = res.finding.unwrap_or_else(|| {
        panic!(
            "seed {:#x}: {} sequences never hit ftruncate at 2^32 or more",
            cfg.seed, res.stats.sequences
        )
    });
    let lens: Vec<i64> = f
        .ops
        .iter()
        .filter_map(|o| match o {
            Op::Ftruncate { len, .. } => Some(*len),
            _ => None,
        })
        .collect();
    eprintln!(
        "boundaries: seed {:#x}, found after {} sequences; minimized to {} ops, ftruncate \
         lengths {lens:?}: {}",
        cfg.seed,
        f.after_sequences,
        f.ops.len(),
        f.divergence.why
    );
    assert_eq!(
        lens.last(),
        Some(&(1i64 << 32)),
        "the minimized sequence's last ftruncate should be at exactly 2^32: {:?}",
        f.ops
    );
    assert!(
        lens.iter()
            .all(|&l| l < 64 || oracle::gen::BOUNDARY_OFFSETS.contains(&l)),
        "shrinking produced an unlisted large length: {lens:?}"
    );
}
