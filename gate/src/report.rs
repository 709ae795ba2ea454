//! The gate's reports: KTAP (Documentation/dev-tools/ktap.rst), JUnit XML
//! (quick-junit), a short markdown summary and the JSON report ([`json`]: the
//! [`GateReport`] itself).
//!
//! KTAP: one top-level test per (filesystem, target) with a nested KTAP block
//! of its rows ("splice scenarios:splice"); an unsupported row is
//! `ok N name # SKIP reason`, and so is a row the model cannot judge (`# SKIP
//! not judged: ...`, counted with the skips); failure messages are diagnostic lines just before
//! the result line. The kernel probe rows form the "- io_uring" group. An
//! infrastructure failure is one `not ok 1 infrastructure` test.
//!
//! JUnit: one `<testsuite>` per (filesystem, target), one `<testcase>` per row
//! (a failure per failing row, `<skipped>` per unsupported row and per row the
//! model cannot judge, of type "unsupported" or "not judged"); an
//! infrastructure failure is an `<error>`.

use super::baseline::ChangeKind;
use super::{GateReport, Row, RowKey, Status, Verdict};
use quick_junit::{NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestSuite};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Rows grouped by (filesystem, target), in key order.
fn groups(rows: &[Row]) -> BTreeMap<(String, String), Vec<&Row>> {
    let mut g: BTreeMap<(String, String), Vec<&Row>> = BTreeMap::new();
    for r in rows {
        g.entry((r.filesystem.clone(), r.target.clone()))
            .or_default()
            .push(r);
    }
    g
}

/// One line, no '#' (KTAP descriptions may not contain it), no newline.
fn ktap_text(s: &str) -> String {
    s.replace(['\n', '\r'], " ").replace('#', "no.")
}

fn baseline_failures(report: &GateReport) -> BTreeSet<RowKey> {
    report
        .comparison
        .as_ref()
        .map(|c| c.known_failures.iter().cloned().collect())
        .unwrap_or_default()
}

/// For a report without a result: the single test's name ("infrastructure",
/// or "kernel" when the kernel crashed) and why.
fn no_result(report: &GateReport) -> (&'static str, String) {
    match &report.infrastructure {
        Some(why) => ("infrastructure", why.clone()),
        None if report.reasons.is_empty() => ("infrastructure", "no result".to_string()),
        None => ("kernel", report.reasons.join("\n")),
    }
}

/// The JSON report (report.json): the [`GateReport`], pretty-printed.
pub fn json(report: &GateReport) -> String {
    serde_json::to_string_pretty(report).expect("a GateReport serializes") + "\n"
}

/// The KTAP report.
pub fn ktap(report: &GateReport) -> String {
    let mut out = String::from("KTAP version 1\n");
    let release = report
        .result
        .as_ref()
        .map_or("unknown", |r| r.kernel.release.as_str());
    let _ = writeln!(
        out,
        "# ringspec gate: kernel {release} ({}): {}",
        ktap_text(&report.kernel_image),
        report.verdict.title()
    );
    let Some(result) = report
        .result
        .as_ref()
        .filter(|_| report.infrastructure.is_none())
    else {
        let (name, why) = no_result(report);
        out.push_str("1..1\n");
        for line in why.lines() {
            let _ = writeln!(out, "# {}", ktap_text(line));
        }
        let _ = writeln!(out, "not ok 1 {name}");
        let (fail, error) = if name == "infrastructure" {
            (0, 1)
        } else {
            (1, 0)
        };
        let _ = writeln!(
            out,
            "# Totals: pass:0 fail:{fail} xfail:0 xpass:0 skip:0 error:{error}"
        );
        return out;
    };
    let io = &result.kernel.io_uring;
    let supported = io.opcodes.iter().filter(|o| o.supported).count();
    let _ = writeln!(
        out,
        "# io_uring: {}, {supported} opcodes supported (IORING_OP_LAST {})",
        if io.usable { "usable" } else { "unusable" },
        io.last_op
    );
    if !result.kernel.config.is_empty() {
        let cfg: Vec<String> = result
            .kernel
            .config
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(out, "# config: {}", cfg.join(" "));
    }
    let known = baseline_failures(report);
    let g = groups(&result.rows);
    let _ = writeln!(out, "1..{}", g.len());
    let (mut pass, mut fail, mut skip) = (0, 0, 0);
    for (n, ((fs, target), rows)) in g.iter().enumerate() {
        out.push_str("  KTAP version 1\n");
        let _ = writeln!(out, "  # Subtest: {fs} {target}");
        let _ = writeln!(out, "  1..{}", rows.len());
        for (i, r) in rows.iter().enumerate() {
            let name = ktap_text(&format!("{} {}", r.opcode, r.property));
            match r.status {
                Status::Pass => {
                    pass += 1;
                    let _ = writeln!(out, "  ok {} {name}", i + 1);
                }
                Status::Unsupported | Status::NotJudged => {
                    skip += 1;
                    let why = r.note.as_deref().unwrap_or(skip_default(r.status));
                    let _ = writeln!(out, "  ok {} {name} # SKIP {}", i + 1, ktap_text(why));
                }
                Status::Fail => {
                    fail += 1;
                    let c = &r.counts;
                    if c.pass + c.fail > 0 {
                        let _ = writeln!(out, "  # {} of {} cases failed", c.fail, c.pass + c.fail);
                    }
                    if known.contains(&r.key()) {
                        out.push_str("  # known failure (in the baseline)\n");
                    }
                    for f in &r.failures {
                        let _ = writeln!(out, "  # {}", ktap_text(f));
                    }
                    let _ = writeln!(out, "  not ok {} {name}", i + 1);
                }
            }
        }
        let statuses: BTreeSet<Status> = rows.iter().map(|r| r.status).collect();
        let parent = ktap_text(&format!("{fs} {target}"));
        if statuses.contains(&Status::Fail) {
            let _ = writeln!(out, "not ok {} {parent}", n + 1);
        } else if statuses.iter().all(|s| *s == Status::Unsupported) {
            let _ = writeln!(out, "ok {} {parent} # SKIP all unsupported", n + 1);
        } else if !statuses.contains(&Status::Pass) {
            let _ = writeln!(
                out,
                "ok {} {parent} # SKIP unsupported or not judged",
                n + 1
            );
        } else {
            let _ = writeln!(out, "ok {} {parent}", n + 1);
        }
    }
    let _ = writeln!(
        out,
        "# Totals: pass:{pass} fail:{fail} xfail:0 xpass:0 skip:{skip} error:0"
    );
    out
}

/// The skip reason of a row without a note.
fn skip_default(s: Status) -> &'static str {
    if s == Status::NotJudged {
        "not judged by the model"
    } else {
        "unsupported"
    }
}

/// The JUnit XML report.
pub fn junit(report: &GateReport) -> String {
    let mut junit = Report::new("ringspec-gate");
    let release = report
        .result
        .as_ref()
        .map_or("unknown".to_string(), |r| r.kernel.release.clone());
    let props = |suite: &mut TestSuite| {
        suite.add_property(Property::new("kernel", release.as_str()));
        suite.add_property(Property::new("image", report.kernel_image.as_str()));
    };
    let result = report
        .result
        .as_ref()
        .filter(|_| report.infrastructure.is_none());
    let Some(result) = result else {
        let (name, why) = no_result(report);
        let mut suite = TestSuite::new(name);
        props(&mut suite);
        let mut status = TestCaseStatus::non_success(if name == "infrastructure" {
            NonSuccessKind::Error
        } else {
            NonSuccessKind::Failure
        });
        status.set_message(why.lines().next().unwrap_or(&why));
        status.set_type(name);
        status.set_description(why.as_str());
        let mut case = TestCase::new(name, status);
        case.set_classname("ringspec.gate");
        suite.add_test_case(case);
        junit.add_test_suite(suite);
        return junit.to_string().expect("junit serializes");
    };
    let known = baseline_failures(report);
    for ((fs, target), rows) in groups(&result.rows) {
        let mut suite = TestSuite::new(format!("{fs} {target}"));
        props(&mut suite);
        for r in rows {
            let status = match r.status {
                Status::Pass => TestCaseStatus::success(),
                Status::Unsupported | Status::NotJudged => {
                    let mut s = TestCaseStatus::skipped();
                    s.set_message(r.note.as_deref().unwrap_or(skip_default(r.status)));
                    s.set_type(if r.status == Status::NotJudged {
                        "not judged"
                    } else {
                        "unsupported"
                    });
                    s
                }
                Status::Fail => {
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(r.failures.first().map_or("failed", String::as_str));
                    s.set_type(if known.contains(&r.key()) {
                        "known failure"
                    } else {
                        "divergence"
                    });
                    if !r.failures.is_empty() {
                        s.set_description(r.failures.join("\n"));
                    }
                    s
                }
            };
            let mut case = TestCase::new(format!("{} {}", r.opcode, r.property), status);
            case.set_classname(format!("ringspec.{fs}.{target}"));
            suite.add_test_case(case);
        }
        junit.add_test_suite(suite);
    }
    junit.to_string().expect("junit serializes")
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// "- **title**: first line", then the other lines (a log tail) as a code block.
fn md_message(out: &mut String, title: &str, text: &str) {
    let mut lines = text.lines();
    let first = md_escape(lines.next().unwrap_or(""));
    let _ = writeln!(out, "- **{title}**: {first}");
    let rest: Vec<&str> = lines.collect();
    if !rest.is_empty() {
        let block = rest.join("\n").replace("```", "'''");
        let _ = writeln!(out, "\n```text\n{block}\n```\n");
    }
}

/// At most this many lines per list in the markdown summary.
const MD_LIST: usize = 20;

/// The short markdown summary (also printed by `ringspec gate`).
pub fn markdown(report: &GateReport) -> String {
    let mut out = String::new();
    let release = report
        .result
        .as_ref()
        .map_or("unknown kernel", |r| r.kernel.release.as_str());
    let _ = writeln!(
        out,
        "## ringspec gate: {} (exit {}): {release}\n",
        report.verdict.title(),
        report.exit_code
    );
    let _ = writeln!(
        out,
        "- kernel: {} ({:.1} s wall time)",
        report.kernel_image, report.wall_seconds
    );
    for n in &report.notes {
        let _ = writeln!(out, "- note: {}", md_escape(n));
    }
    if let Some(why) = &report.infrastructure {
        md_message(&mut out, "no verdict", why);
    } else if report.result.is_none() {
        for r in &report.reasons {
            md_message(&mut out, "kernel failure", r);
        }
    }
    let Some(result) = &report.result else {
        return out;
    };
    let io = &result.kernel.io_uring;
    if io.usable {
        let missing: Vec<&str> = result
            .rows
            .iter()
            .filter(|r| r.property == "probe" && r.status == Status::Unsupported)
            .map(|r| r.opcode.as_str())
            .collect();
        let _ = writeln!(
            out,
            "- io_uring: usable, {} opcodes supported (IORING_OP_LAST {}); our op kinds without their opcode: {}",
            io.opcodes.iter().filter(|o| o.supported).count(),
            io.last_op,
            if missing.is_empty() { "none".to_string() } else { missing.join(", ") }
        );
    } else {
        let _ = writeln!(
            out,
            "- io_uring: **unusable**: {}",
            io.error.as_deref().unwrap_or("?")
        );
    }
    if !result.kernel.config.is_empty() {
        let cfg: Vec<String> = result
            .kernel
            .config
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(
            out,
            "- config ({}): {}",
            result.kernel.config_source.as_deref().unwrap_or("?"),
            cfg.join(" ")
        );
    }
    for f in &result.filesystems {
        let _ = writeln!(out, "- {}: {}", f.requested, md_escape(&f.describe));
    }
    if result.fuzz.is_empty() {
        let _ = writeln!(
            out,
            "- suite: seed {:#x}, {} sequences per target, {:.1} s",
            result.settings.seed, result.settings.cases, result.seconds
        );
    } else {
        let _ = writeln!(
            out,
            "- fuzzing instead of the suite (--fuzz): {} runs, {:.1} s",
            result.fuzz.len(),
            result.seconds
        );
    }
    if let Some(b) = &report.baseline {
        let c = report.comparison.as_ref();
        let n = |k: ChangeKind| c.map_or(0, |c| c.of_kind(k).count());
        let _ = writeln!(
            out,
            "- baseline {b}: {} regressions, {} new failures, {} improvements, {} known failures{}",
            n(ChangeKind::Regression),
            n(ChangeKind::NewFailure),
            n(ChangeKind::Improvement),
            c.map_or(0, |c| c.known_failures.len()),
            match n(ChangeKind::NotJudged) {
                0 => String::new(),
                k => format!(", {k} now not judged"),
            }
        );
        if let Some(c) = c {
            if c.not_compared > 0 {
                let _ = writeln!(
                    out,
                    "- {} baseline rows not compared (filesystems or targets not in this run)",
                    c.not_compared
                );
            }
            if c.baseline_release != result.kernel.release {
                let _ = writeln!(
                    out,
                    "- note: the baseline was made on {}, not {}",
                    c.baseline_release, result.kernel.release
                );
            }
        }
    } else {
        out.push_str("- baseline: none (every failing row fails the gate)\n");
    }
    out.push_str(
        "\n| filesystem | target | pass | fail | unsupported | not judged | ops (sequences) | via the ring | probes (sqe) |\n",
    );
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for ((fs, target), rows) in groups(&result.rows) {
        let n = |s: Status| rows.iter().filter(|r| r.status == s).count();
        let sum = |f: fn(&super::Counts) -> u64| rows.iter().map(|r| f(&r.counts)).sum::<u64>();
        let seq = |r: &&&Row| r.property == "sequences";
        let ops: u64 = rows.iter().filter(seq).map(|r| r.counts.ops).sum();
        let ring: u64 = rows.iter().filter(seq).map(|r| r.counts.ring).sum();
        let probes = if target == super::sqe_rows::TARGET {
            sum(|c| c.pass + c.fail)
        } else {
            0
        };
        let _ = writeln!(
            out,
            "| {fs} | {} | {} | {} | {} | {} | {ops} | {ring} | {probes} |",
            md_escape(&target),
            n(Status::Pass),
            n(Status::Fail),
            n(Status::Unsupported),
            n(Status::NotJudged)
        );
    }
    let mut list = |title: &str, lines: Vec<String>| {
        if lines.is_empty() {
            return;
        }
        let _ = writeln!(out, "\n### {title} ({})\n", lines.len());
        for l in lines.iter().take(MD_LIST) {
            let _ = writeln!(out, "- {}", md_escape(l));
        }
        if lines.len() > MD_LIST {
            let _ = writeln!(out, "- ... {} more in report.json", lines.len() - MD_LIST);
        }
    };
    if let Some(c) = &report.comparison {
        for (kind, title) in [
            (ChangeKind::Regression, "Regressions"),
            (ChangeKind::NewFailure, "New failures"),
            (ChangeKind::Improvement, "Improvements"),
            (
                ChangeKind::NotJudged,
                "Now not judged (never fails the gate)",
            ),
        ] {
            list(title, c.of_kind(kind).map(|c| c.to_string()).collect());
        }
    }
    let failures: Vec<String> = result
        .rows
        .iter()
        .filter(|r| r.status == Status::Fail)
        .map(|r| {
            format!(
                "`{}`: {}",
                r.key(),
                r.failures.first().map_or("failed", String::as_str)
            )
        })
        .collect();
    list("Failing rows", failures);
    let not_judged: Vec<String> = result
        .rows
        .iter()
        .filter(|r| r.status == Status::NotJudged)
        .map(|r| {
            format!(
                "`{}`: {}",
                r.key(),
                r.note.as_deref().unwrap_or("not judged by the model")
            )
        })
        .collect();
    list(
        "Not judged: the model cannot judge these rows here (not failures, not passes)",
        not_judged,
    );
    list(
        "Findings (saved as regression files)",
        result
            .findings
            .iter()
            .map(|f| {
                format!(
                    "{} on {} {}: {}; C reproducer: `{}` (run the C on this kernel)",
                    f.file,
                    f.filesystem,
                    f.target,
                    first(&f.divergence),
                    oracle::regression::repro_command(&f.file, &f.target, Some(&f.filesystem))
                )
            })
            .collect(),
    );
    out.push_str(&crate::fuzz::markdown_section(&result.fuzz));
    // The kernel's own reports, with their excerpts (kernel-log rows).
    let alarms: Vec<&crate::Row> = result
        .rows
        .iter()
        .filter(|r| r.opcode == crate::kernel_log::ROW_OPCODE)
        .collect();
    if !alarms.is_empty() {
        let _ = writeln!(out, "\n### Kernel log ({})\n", alarms.len());
        for r in alarms {
            let _ = writeln!(
                out,
                "- `{} {}` ({}): {}\n\n```\n{}\n```",
                r.opcode,
                r.property,
                r.status,
                md_escape(&r.target),
                r.failures
                    .iter()
                    .skip(1)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
    if report.verdict == Verdict::Failed && report.comparison.is_none() {
        out.push_str(
            "\nTo accept these failures, copy baseline.json to corpus/baselines/<release>.json.\n",
        );
    }
    out
}

fn first(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::{compare, Baseline, BaselineRow};
    use crate::{
        Counts, FsRun, IoUringFacts, KernelFacts, OpcodeFact, SuiteResult, SuiteSettings, FORMAT,
    };
    use std::time::Duration;

    fn row(opcode: &str, property: &str, target: &str, status: Status) -> Row {
        Row {
            opcode: opcode.into(),
            property: property.into(),
            filesystem: if property == "probe" { "-" } else { "tmpfs" }.into(),
            target: target.into(),
            status,
            counts: Counts::default(),
            failures: Vec::new(),
            note: None,
        }
    }

    fn fixed_result() -> SuiteResult {
        let mut fail = row("splice", "scenarios:splice", "syscalls", Status::Fail);
        fail.counts = Counts {
            pass: 5,
            fail: 1,
            ..Counts::default()
        };
        fail.failures = vec!["splice_len0: run: kernel: expected 0, got -EBADF # see".into()];
        let mut unsup = row("tee", "sequences", "uring/single", Status::Unsupported);
        unsup.note =
            Some("IORING_OP_TEE (33) unsupported by this kernel (via uring/single)".into());
        let mut probe = row("tee", "probe", "io_uring", Status::Unsupported);
        probe.note = Some("IORING_OP_TEE (33)".into());
        SuiteResult {
            fuzz: Vec::new(),
            format: FORMAT,
            kernel: KernelFacts {
                release: "6.12.100+deb12-amd64".into(),
                version: (6, 12),
                io_uring: IoUringFacts {
                    usable: true,
                    error: None,
                    disabled_sysctl: Some("0".into()),
                    last_op: 2,
                    opcodes: vec![
                        OpcodeFact {
                            opcode: 0,
                            name: "NOP".into(),
                            supported: true,
                        },
                        OpcodeFact {
                            opcode: 1,
                            name: "READV".into(),
                            supported: true,
                        },
                    ],
                },
                config_source: Some("/proc/config.gz".into()),
                config: [("CONFIG_IO_URING".to_string(), "y".to_string())].into(),
            },
            settings: SuiteSettings {
                seed: 7,
                cases: 10,
                max_len: 40,
                filter: String::new(),
                scenarios: "corpus/scenarios".into(),
            },
            filesystems: vec![FsRun {
                requested: "tmpfs".into(),
                name: "tmpfs".into(),
                describe: "private tmpfs".into(),
                available: true,
            }],
            targets: vec!["syscalls".into(), "uring/single".into()],
            rows: vec![
                probe,
                row("read", "sequences", "syscalls", Status::Pass),
                fail,
                unsup,
                row("read", "sequences", "uring/single", Status::Pass),
            ],
            findings: Vec::new(),
            problems: Vec::new(),
            seconds: 1.5,
        }
    }

    fn fixed_report() -> GateReport {
        let mut r = fixed_result();
        r.rows.sort_by_key(Row::key);
        GateReport::judge("host", Ok(r), None, Duration::from_secs(2))
    }

    // The rendered reports of one fixed report, as insta snapshots
    // (snapshots/oracle__gate__report__tests__*.snap). The fixture fixes what
    // would vary between runs: the kernel release, the wall and suite times, the
    // image ("host"); no temporary path reaches a report. `cargo insta review`
    // (or INSTA_UPDATE=always) accepts an intended change; CI sets
    // INSTA_UPDATE=no, so a mismatch fails it.

    #[test]
    fn ktap_golden() {
        insta::assert_snapshot!("ktap", ktap(&fixed_report()));
    }

    #[test]
    fn junit_golden() {
        insta::assert_snapshot!("junit", junit(&fixed_report()));
    }

    #[test]
    fn markdown_golden() {
        insta::assert_snapshot!("markdown", markdown(&fixed_report()));
    }

    #[test]
    fn json_golden() {
        insta::assert_snapshot!("json", json(&fixed_report()));
    }

    #[test]
    fn infrastructure_reports_have_no_verdict() {
        let r = GateReport::judge(
            "/k/vmlinuz",
            Err("the VM timed out after 5 s".into()),
            None,
            Duration::from_secs(5),
        );
        assert_eq!(r.exit_code, 2);
        insta::assert_snapshot!("infrastructure_ktap", ktap(&r));
        insta::assert_snapshot!("infrastructure_junit", junit(&r));
        insta::assert_snapshot!("infrastructure_markdown", markdown(&r));
        insta::assert_snapshot!("infrastructure_json", json(&r));
    }

    #[test]
    fn rows_the_model_cannot_judge_are_skips_and_pass_the_gate() {
        let mut result = fixed_result();
        result.rows.retain(|r| r.status != Status::Fail);
        let mut nj = row("tee", "scenarios:tee", "uring/async", Status::NotJudged);
        nj.counts = Counts {
            pass: 40,
            not_judged: 1,
            ..Counts::default()
        };
        nj.note = Some(
            "not judged: 1 of 41 cases the model cannot judge here: \
             tee_output_without_readers_epipe: run: tee not modelled here (lazy)"
                .into(),
        );
        result.rows.push(nj);
        result.targets.push("uring/async".into());
        result.rows.sort_by_key(Row::key);
        // No baseline: not judged is not a failure.
        let r = GateReport::judge("host", Ok(result.clone()), None, Duration::from_secs(1));
        assert_eq!(r.verdict, Verdict::Passed, "{:?}", r.reasons);
        let k = ktap(&r);
        assert!(
            k.contains(
                "  ok 1 tee scenarios:tee # SKIP not judged: 1 of 41 cases the model cannot \
                 judge here: tee_output_without_readers_epipe: run: tee not modelled here (lazy)\n\
                 ok 3 tmpfs uring/async # SKIP unsupported or not judged\n"
            ),
            "{k}"
        );
        assert!(
            k.ends_with("# Totals: pass:2 fail:0 xfail:0 xpass:0 skip:3 error:0\n"),
            "{k}"
        );
        let x = junit(&r);
        assert!(x.contains("type=\"not judged\""), "{x}");
        let md = markdown(&r);
        assert!(
            md.contains("| tmpfs | uring/async | 0 | 0 | 0 | 1 |"),
            "{md}"
        );
        assert!(
            md.contains("### Not judged: the model cannot judge these rows here"),
            "{md}"
        );
        assert!(md.contains("`tmpfs uring/async tee scenarios:tee`: not judged: 1 of 41"));
        // A baseline that had the row as a known failure: passes, reported.
        let mut b = Baseline::from_result(&result);
        for row in b.rows.iter_mut().filter(|r| r.status == Status::NotJudged) {
            row.status = Status::Fail;
        }
        let r = GateReport::judge(
            "host",
            Ok(result),
            Some((std::path::Path::new("b.json"), &b)),
            Duration::from_secs(1),
        );
        assert_eq!(r.verdict, Verdict::Passed, "{:?}", r.reasons);
        let md = markdown(&r);
        assert!(md.contains("0 known failures, 1 now not judged"), "{md}");
        assert!(
            md.contains("### Now not judged (never fails the gate) (1)"),
            "{md}"
        );
    }

    #[test]
    fn a_baseline_that_knows_the_failure_passes_the_gate() {
        let result = {
            let mut r = fixed_result();
            r.rows.sort_by_key(Row::key);
            r
        };
        let mut b = Baseline::from_result(&result);
        let r = GateReport::judge(
            "host",
            Ok(result.clone()),
            Some((std::path::Path::new("b.json"), &b)),
            Duration::from_secs(1),
        );
        assert_eq!(r.verdict, Verdict::Passed, "{:?}", r.reasons);
        assert!(ktap(&r).contains("# known failure (in the baseline)"));
        assert!(markdown(&r)
            .contains("0 regressions, 0 new failures, 0 improvements, 1 known failures"));
        // The same baseline with read passing before and failing now: exit 1.
        let mut worse = result.clone();
        for row in worse.rows.iter_mut().filter(|r| r.opcode == "read") {
            row.status = Status::Fail;
        }
        let r = GateReport::judge(
            "host",
            Ok(worse),
            Some((std::path::Path::new("b.json"), &b)),
            Duration::from_secs(1),
        );
        assert_eq!(r.exit_code, 1);
        assert_eq!(r.reasons.len(), 2);
        assert!(markdown(&r).contains("### Regressions (2)"));
        // An improvement alone passes.
        b.rows.push(BaselineRow {
            opcode: "x".into(),
            property: "sequences".into(),
            filesystem: "tmpfs".into(),
            target: "syscalls".into(),
            status: Status::Fail,
        });
        let mut better = result;
        better
            .rows
            .push(row("x", "sequences", "syscalls", Status::Pass));
        let c = compare(&b, &better.rows);
        assert_eq!(c.of_kind(ChangeKind::Improvement).count(), 1);
        let r = GateReport::judge(
            "host",
            Ok(better),
            Some((std::path::Path::new("b.json"), &b)),
            Duration::from_secs(1),
        );
        assert_eq!(r.verdict, Verdict::Passed);
    }
}
