//! The SQE rule sweep ([`sqefuzz::sqe_sweep`]) as gate rows: one per (opcode,
//! field), target `sqe`, filesystem `-` (the sweep runs in its own private
//! tmpfs sandbox), property `sqe:<field>`; an opcode the kernel lacks is one
//! unsupported row with property `sqe`.

use super::{Counts, Row, Status, MAX_FAILURES};
use sqefuzz::sqe_sweep::{RowStatus, SweepReport};

/// The target name of the sweep's rows.
pub const TARGET: &str = "sqe";

/// The rows of a sweep report. Counts: `pass` probes that agreed with the
/// table, `fail` probes that did not.
pub fn rows(report: &SweepReport) -> Vec<Row> {
    report
        .rows
        .iter()
        .map(|r| {
            let status = match r.status {
                RowStatus::Pass => Status::Pass,
                RowStatus::Fail => Status::Fail,
                RowStatus::Unsupported => Status::Unsupported,
            };
            let property = if r.field == "-" {
                "sqe".to_string()
            } else {
                format!("sqe:{}", r.field)
            };
            Row {
                opcode: r.op.clone(),
                property,
                filesystem: "-".to_string(),
                target: TARGET.to_string(),
                status,
                counts: Counts {
                    pass: r.agreed as u64,
                    fail: (r.probes - r.agreed) as u64,
                    ..Counts::default()
                },
                failures: r
                    .disagreements
                    .iter()
                    .take(MAX_FAILURES)
                    .map(|d| {
                        format!(
                            "{}={}: table {}, kernel {}; reproducer {}; C: ringspec repro \
                             --sqe-probe '{}:{}={}'",
                            r.field, d.value, d.want, d.got, d.sqe, r.op, r.field, d.value
                        )
                    })
                    .collect(),
                note: r.note.clone().or_else(|| Some(r.rules.join("; "))),
            }
        })
        .collect()
}

/// Why the sweep could not run (a problem of the suite: no verdict without it).
#[derive(Debug, thiserror::Error)]
#[error("SQE sweep: {0}")]
pub struct SweepError(#[from] pub sqefuzz::sqe_fuzz::JobError);

/// Runs the sweep in the sandbox and returns its rows, or why it could not
/// run (a problem of the suite: no verdict without it). Says what it did on
/// stderr.
pub fn sweep_rows() -> Result<Vec<Row>, SweepError> {
    let report = sqefuzz::sqe_fuzz::sweep()?;
    let (p, f, u) = report.counts();
    log::info!(
        "ringspec suite: SQE sweep: {} rows ({p} pass, {f} fail, {u} unsupported), {} probes \
         ({:.1} s)",
        report.rows.len(),
        report.probes,
        report.seconds
    );
    Ok(rows(&report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqefuzz::sqe_sweep::{Disagreement, SweepRow};

    #[test]
    fn a_disagreement_fails_its_row_and_keeps_the_reproducer() {
        let row = |field: &str, status, dis: Vec<Disagreement>| SweepRow {
            op: "FALLOCATE".into(),
            opcode: Some(17),
            field: field.into(),
            rules: vec!["must be zero: EINVAL".into()],
            probes: 33,
            rejections: 33,
            acceptances: 0,
            agreed: 33 - dis.len() as u32,
            status,
            disagreements: dis,
            note: None,
        };
        let report = SweepReport {
            release: "6.12.117-gate".into(),
            kernel: (6, 12),
            last_op: 57,
            rows: vec![
                row("buf_index", RowStatus::Pass, vec![]),
                row(
                    "op_flags",
                    RowStatus::Fail,
                    vec![Disagreement {
                        value: "1".into(),
                        want: "-EINVAL".into(),
                        got: "0".into(),
                        sqe: "sqe{op=17}".into(),
                    }],
                ),
            ],
            probes: 66,
            seconds: 0.1,
        };
        let rows = rows(&report);
        assert_eq!(rows[0].status, Status::Pass);
        assert_eq!(rows[1].status, Status::Fail);
        assert_eq!(rows[1].property, "sqe:op_flags");
        assert_eq!(rows[1].counts.fail, 1);
        assert!(rows[1].failures[0].contains("sqe{op=17}"));
    }
}
