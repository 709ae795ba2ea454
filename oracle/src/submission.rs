//! The io_uring submission paths a campaign runs (`--mode`).

use crate::differential::Grouping;
use backends::uring::Mode;

/// A `--mode` name that is not a submission path ([`Submission::parse_list`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown mode {0:?}: use all, none, single, async, fixed, sqpoll, batch or linked")]
pub struct UnknownMode(pub String);

/// How an io_uring target submits: one op at a time in a ring mode, or
/// groups of ops (batches, linked chains) on a plain ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submission {
    /// One SQE per op in this mode.
    Mode(Mode),
    /// Consecutive ops together.
    Grouped(Grouping),
}

impl Submission {
    /// Every submission path: single, async, fixed, sqpoll, batch, linked.
    pub const ALL: [Submission; 6] = [
        Submission::Mode(Mode::Single),
        Submission::Mode(Mode::Async),
        Submission::Mode(Mode::Fixed),
        Submission::Mode(Mode::Sqpoll),
        Submission::Grouped(Grouping::Batch),
        Submission::Grouped(Grouping::Linked),
    ];

    /// Lowercase name, as in `--mode`.
    pub fn name(self) -> &'static str {
        match self {
            Submission::Mode(m) => m.name(),
            Submission::Grouped(Grouping::Batch) => "batch",
            Submission::Grouped(Grouping::Linked) => "linked",
        }
    }

    /// The name of the campaign target that submits this way
    /// ("uring/async").
    pub fn target_name(self) -> String {
        format!("uring/{}", self.name())
    }

    /// The submission path a target name stands for ([`Submission::target_name`]);
    /// `Ok(None)` for "syscalls".
    pub fn of_target(name: &str) -> Result<Option<Submission>, UnknownMode> {
        if name == "syscalls" {
            return Ok(None);
        }
        name.strip_prefix("uring/")
            .and_then(|mode| Submission::ALL.into_iter().find(|m| m.name() == mode))
            .map(Some)
            .ok_or_else(|| UnknownMode(name.to_string()))
    }

    /// Parses a `--mode` list: "all", "none", or names.
    pub fn parse_list(text: &str) -> Result<Vec<Submission>, UnknownMode> {
        let mut out = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "all" => out.extend(Submission::ALL),
                "none" => {}
                name => match Submission::ALL.iter().find(|m| m.name() == name) {
                    Some(m) => out.push(*m),
                    None => return Err(UnknownMode(name.to_string())),
                },
            }
        }
        out.dedup();
        Ok(out)
    }
}
