//! Findings are minimized for real and confirmed before they are reported:
//! campaigns of long sequences (up to 1000 ops) against the syscall backend
//! with one injected kernel bug each must report a confirmed divergence whose
//! minimal sequence is no longer than the op where the generated sequence
//! first diverged (+ 1), and most of them under 15 ops.

use backends::faults::{Fault, Faulty};
use backends::syscalls::Syscalls;
use model::Interface;
use oracle::campaign::{self, CampaignConfig, Target};
use std::collections::BTreeMap;
use sys::scratch::Scratch;

fn faulty_target(scratch: &Scratch, fault: Fault) -> Target {
    Target {
        name: format!("syscalls+{fault:?}"),
        profile: oracle::profile::detect(scratch, Interface::Syscall),
        make: Box::new(move |roots| Ok(Box::new(Faulty::new(Syscalls::new(roots), fault)))),
        group: None,
        supported: BTreeMap::new(),
        unavailable: None,
    }
}

#[test]
fn long_sequence_findings_minimize_below_their_first_divergence() {
    let Some(scratch) =
        Scratch::from_env_or_skip("long_sequence_findings_minimize_below_their_first_divergence")
    else {
        return;
    };
    let faults = [
        Fault::ShortWrite,
        Fault::StalePosition,
        Fault::CopyUndercount,
        Fault::SkippedDirent,
        Fault::UmaskIgnored,
        Fault::TeeConsumes,
        Fault::PunchKeepsData,
        Fault::MknodFifoAsFile,
    ];
    let mut lens = Vec::new();
    for fault in faults {
        let target = faulty_target(&scratch, fault);
        let cfg = CampaignConfig {
            seed: 0x5eed_2026,
            cases: Some(200),
            max_len: 1000,
            ..CampaignConfig::default()
        };
        let res = campaign::run(&cfg, &scratch, std::slice::from_ref(&target), &mut |_| {});
        assert!(
            res.environment.is_none(),
            "{fault:?}: {:?}",
            res.environment
        );
        let f = res
            .finding
            .unwrap_or_else(|| panic!("{fault:?}: no confirmed finding in 200 long sequences"));
        eprintln!(
            "minimize: {fault:?}: {} generated ops, first divergence at {:?}, minimal {} ops \
             ({} runs), reproduced {} of {}",
            f.generated_len,
            f.generated_index,
            f.ops.len(),
            f.minimize_tests,
            f.reproduced,
            f.replays
        );
        assert!(f.reproduced > 0, "{fault:?}: reported without confirmation");
        if let Some(i) = f.generated_index {
            assert!(
                f.ops.len() <= i + 1,
                "{fault:?}: minimal sequence of {} ops for a divergence at op {i}",
                f.ops.len()
            );
        }
        assert!(f.ops.len() <= f.generated_len);
        lens.push(f.ops.len());
    }
    lens.sort();
    let median = lens[lens.len() / 2];
    assert!(median < 15, "median minimal length {median}: {lens:?}");
}
