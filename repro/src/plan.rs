//! Running a regression's sequence once, traced, to learn what the C file
//! must submit and check.

use backends::trace::{TraceStep, TracedSqe};
use model::{Allowed, Op, Outcome, State};
use oracle::campaign::{self, Target};
use oracle::differential::{check_traced, TraceEvent, Verdict};
use oracle::regression::Regression;
use oracle::submission::Submission;
use sys::scratch::{FsChoice, Scratch};

/// How the ops of one [`Action::Run`] reach the kernel.
#[derive(Debug, Clone)]
pub enum Exec {
    /// One op, through its system call.
    Sync,
    /// These SQEs, submitted together (one op, a batch or a linked chain).
    Ring(Vec<TracedSqe>),
}

/// One op as judged: the model's allowed set, and what this run returned.
#[derive(Debug, Clone)]
pub struct Check {
    /// The op's position in the sequence.
    pub index: usize,
    /// The allowed set it was judged against.
    pub allowed: Allowed,
    /// What the kernel returned in the run the plan was made from.
    pub actual: Outcome,
}

/// One step of the reproducer, in order.
#[derive(Debug, Clone)]
pub enum Action {
    /// Run ops (one, or a group through the ring) and check each.
    Run {
        /// How.
        exec: Exec,
        /// One check per op, in op order.
        checks: Vec<Check>,
    },
    /// The model says this op would block forever: not run.
    Skip {
        /// Its position.
        index: usize,
    },
    /// From here on the model does not pin the run down: stop comparing.
    Poison {
        /// The op's position.
        index: usize,
        /// Why.
        why: String,
    },
    /// Compare the final state with the model's.
    Final {
        /// The model's state.
        model: State,
    },
}

/// What a reproducer does, learned from one traced run on this machine.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The regression's name.
    pub name: String,
    /// The regression's note.
    pub note: String,
    /// The target ("syscalls", "uring/single", ...).
    pub target: String,
    /// The filesystem both roots are on.
    pub fs: FsChoice,
    /// The kernel the plan was made on.
    pub kernel: String,
    /// The sequence.
    pub ops: Vec<Op>,
    /// The steps.
    pub actions: Vec<Action>,
    /// What the traced run concluded on this machine.
    pub verdict: Verdict,
    /// The command that makes this reproducer again.
    pub command: String,
    /// The io_uring ring's mode (`None` for the syscalls target; batch and
    /// linked run on a single-mode ring).
    pub mode: Option<backends::uring::Mode>,
    /// The SQE rules' view of the ring (kernel version, proposed numbers):
    /// which fields of a traced SQE hold descriptors and pointers.
    pub ring: model::sqe_rules::RingProfile,
}

/// Why no reproducer can be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A target name that is not "syscalls" or `uring/<mode>`.
    #[error(
        "unknown target {0:?}: use syscalls or uring/<single|async|fixed|sqpoll|batch|linked>"
    )]
    UnknownTarget(String),
    /// A filesystem name that is not one of tmpfs, ext4, xfs, btrfs.
    #[error("unknown filesystem {0:?} (tmpfs, ext4, xfs or btrfs)")]
    UnknownFs(String),
    /// The regression does not apply to the filesystem asked for.
    #[error("{name} applies only to {only}, not {fs}")]
    NotForFs {
        /// The regression.
        name: String,
        /// Its filesystems.
        only: String,
        /// The one asked for.
        fs: String,
    },
    /// The scratch area, the target or its backend could not be set up.
    #[error("cannot run it here: {0}")]
    Environment(String),
    /// The backend's trace does not match the ops the model judged (a
    /// harness bug, never a kernel one).
    #[error("the io_uring trace does not match the judged ops at op #{0}")]
    Trace(usize),
}

/// The target a regression is reproduced on: `target`, else the file's,
/// else "syscalls".
fn target_name(reg: &Regression, target: Option<&str>) -> String {
    target
        .map(str::to_string)
        .or_else(|| reg.target.clone())
        .unwrap_or_else(|| "syscalls".into())
}

/// The filesystem: `fs`, else the file's `fs`, else its first `only_fs`,
/// else tmpfs.
fn fs_choice(reg: &Regression, fs: Option<&str>) -> Result<FsChoice, PlanError> {
    let name = fs
        .map(str::to_string)
        .or_else(|| reg.fs.clone())
        .or_else(|| reg.only_fs.first().cloned())
        .unwrap_or_else(|| "tmpfs".into());
    let choice: FsChoice = name
        .parse()
        .map_err(|_| PlanError::UnknownFs(name.clone()))?;
    if !reg.only_fs.is_empty() && !reg.only_fs.iter().any(|f| f == choice.name()) {
        return Err(PlanError::NotForFs {
            name: reg.name.clone(),
            only: reg.only_fs.join(", "),
            fs: choice.name().into(),
        });
    }
    Ok(choice)
}

/// Runs `reg`'s sequence once on `target` (default: the file's, else
/// syscalls) on `fs` (default: the file's) with tracing on, and returns what
/// a reproducer must do. `file` is how the command line names the file.
pub fn plan(
    reg: &Regression,
    file: &str,
    target: Option<&str>,
    fs: Option<&str>,
) -> Result<Plan, PlanError> {
    let target = target_name(reg, target);
    let choice = fs_choice(reg, fs)?;
    let sub =
        Submission::of_target(&target).map_err(|_| PlanError::UnknownTarget(target.clone()))?;
    let env = |e: &dyn std::fmt::Display| PlanError::Environment(e.to_string());
    let scratch = Scratch::with_fs(choice).map_err(|e| env(&e))?;
    let t: Target = match sub {
        None => campaign::syscalls_target(&scratch),
        Some(s) => campaign::uring_targets(&scratch, &[s])
            .map_err(|e| env(&e))?
            .pop()
            .expect("one target per submission path"),
    };
    let mut backend = t.backend(&scratch, "repro").map_err(|e| env(&e))?;
    backend.set_tracing(true);
    let (res, events) = check_traced(&t.profile, &reg.ops, backend.as_mut(), t.group);
    let trace = backend.take_trace();
    drop(backend);
    let actions = actions(events, trace)?;
    let mut ring = model::sqe_rules::RingProfile::from_profile(&t.profile);
    if let Ok(p) = backends::sqe::ProposedOpcodes::from_env() {
        ring.proposed = p.numbers;
    }
    Ok(Plan {
        name: reg.name.clone(),
        note: reg.note.clone(),
        target: target.clone(),
        fs: choice,
        kernel: backends::proposed::running_release(),
        ops: reg.ops.clone(),
        actions,
        verdict: res.verdict,
        command: oracle::regression::repro_command(file, &target, Some(choice.name())),
        mode: sub.map(|s| match s {
            Submission::Mode(m) => m,
            Submission::Grouped(_) => backends::uring::Mode::Single,
        }),
        ring,
    })
}

/// Pairs the judged ops with the backend's trace: a ring step covers as
/// many consecutive judged ops as it has SQEs; without a trace (the
/// syscalls) every op is a call of its own.
fn actions(
    events: Vec<TraceEvent>,
    trace: Option<Vec<TraceStep>>,
) -> Result<Vec<Action>, PlanError> {
    let mut steps = trace.map(|t| t.into_iter());
    let mut out = Vec::new();
    // The ring step being filled: its SQEs and the checks so far.
    let mut open: Option<(Vec<TracedSqe>, Vec<Check>)> = None;
    for ev in events {
        match ev {
            TraceEvent::Op {
                index,
                allowed,
                actual,
            } => {
                let check = Check {
                    index,
                    allowed,
                    actual,
                };
                let (sqes, mut checks) = match open.take() {
                    Some(step) => step,
                    None => match steps
                        .as_mut()
                        .map(|s| s.next().ok_or(PlanError::Trace(index)))
                    {
                        Some(Err(e)) => return Err(e),
                        Some(Ok(TraceStep::Ring(sqes))) => (sqes, vec![]),
                        // The syscalls (no trace), or io_uring's synchronous fallback.
                        None | Some(Ok(TraceStep::Sync)) => {
                            out.push(Action::Run {
                                exec: Exec::Sync,
                                checks: vec![check],
                            });
                            continue;
                        }
                    },
                };
                checks.push(check);
                if checks.len() == sqes.len() {
                    out.push(Action::Run {
                        exec: Exec::Ring(sqes),
                        checks,
                    });
                } else {
                    open = Some((sqes, checks));
                }
            }
            TraceEvent::Skipped { index } => out.push(Action::Skip { index }),
            TraceEvent::Poisoned { index, why } => out.push(Action::Poison { index, why }),
            TraceEvent::Final { model } => out.push(Action::Final { model }),
        }
    }
    // A group cut short by a divergence: its remaining SQEs ran, but the
    // check stopped; the reproducer submits the whole group and judges
    // the ops that were judged.
    if let Some((sqes, checks)) = open {
        out.push(Action::Run {
            exec: Exec::Ring(sqes),
            checks,
        });
    }
    Ok(out)
}
