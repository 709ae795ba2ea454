//! `step` and `commit`: each op is planned as (allowed outcomes, effect), and the
//! effect is applied with the outcome that actually happened.

use crate::allowed::Allowed;
use crate::fs::Fs;
use crate::op::Op;
use crate::outcome::Outcome;

/// Unwraps a `Result<T, Errno>` inside a `plan_*` method, ending the plan with
/// that errno on `Err`.
macro_rules! or_fail {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return $crate::exec::Plan::fail(e),
        }
    };
}
pub(crate) use or_fail;

/// A state change parameterised by the actual outcome (e.g. how many bytes a
/// short copy really moved). Called only for successful outcomes.
pub type Effect = Box<dyn FnOnce(&mut Fs, &Outcome)>;

/// What an op may return and what it does.
pub struct Plan {
    /// The outcomes the kernel may give.
    pub allowed: Allowed,
    /// The state change, applied with the actual outcome on success.
    pub effect: Option<Effect>,
    /// Apply `effect` on failures too (for ops whose failure still changes
    /// state, e.g. a getdents64 that read the directory before EINVAL).
    pub effect_on_error: bool,
    /// An ENOSPC from this op is about its own object (the extended
    /// attributes one inode can hold), not a sign that the scratch
    /// filesystem filled up.
    pub local_enospc: bool,
}

impl Plan {
    /// A plan without side effects.
    pub fn pure(allowed: Allowed) -> Plan {
        Plan {
            allowed,
            effect: None,
            effect_on_error: false,
            local_enospc: false,
        }
    }

    /// A failure without side effects.
    pub fn fail(e: crate::Errno) -> Plan {
        Plan::pure(Allowed::err(e))
    }

    /// A plan with an effect applied on success.
    pub fn with(allowed: Allowed, effect: impl FnOnce(&mut Fs, &Outcome) + 'static) -> Plan {
        Plan {
            allowed,
            effect: Some(Box::new(effect)),
            effect_on_error: false,
            local_enospc: false,
        }
    }

    /// Marks an ENOSPC from this op as about its own object (see
    /// [`Plan::local_enospc`]).
    pub fn with_local_enospc(mut self) -> Plan {
        self.local_enospc = true;
        self
    }

    /// Makes the effect apply whatever the outcome.
    pub fn even_on_error(mut self) -> Plan {
        self.effect_on_error = true;
        self
    }
}

/// The splice(2)/tee(2) flags io_uring's SPLICE and TEE accept:
/// SPLICE_F_MOVE, NONBLOCK, MORE, GIFT and SPLICE_F_FD_IN_FIXED.
const VALID_SPLICE_FLAGS: u32 = 0x0f | (1 << 31);

/// Why a run is poisoned once the scratch filesystem may be full.
pub const SCRATCH_MAY_BE_FULL: &str =
    "the scratch filesystem may be full (a large transfer came back short or ENOSPC)";

/// True when an outcome says the scratch filesystem may have filled up: an
/// ENOSPC, or a transfer allowed to move more than
/// [`crate::limits::ENOSPC_THRESHOLD`] bytes that moved fewer than the
/// most it could (a splice-based copy of a huge hole writes zeros until the
/// filesystem is full; seen on xfs and tmpfs).
fn filled_scratch(allowed: &Allowed, actual: &Outcome) -> bool {
    fn most(a: &Allowed) -> Option<i64> {
        match a {
            Allowed::Transfer { max, .. } => Some(*max),
            Allowed::OneOf(alts) => alts.iter().filter_map(most).max(),
            _ => None,
        }
    }
    match actual.result {
        Err(e) => e == crate::Errno::ENOSPC,
        Ok(n) => most(allowed).is_some_and(|m| m as u64 > crate::limits::ENOSPC_THRESHOLD && n < m),
    }
}

/// Why an outcome was refused by [`Fs::commit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// What the model allowed.
    pub allowed: String,
    /// Why the actual outcome is not in it.
    pub why: String,
}

impl Fs {
    /// The outcomes the kernel may give for `op` in the current state.
    pub fn step(&self, op: &Op) -> Allowed {
        self.plan(op).allowed
    }

    /// Checks `actual` against the allowed set and, if it is allowed, advances the
    /// model by it. The model is unchanged when the outcome is refused.
    pub fn commit(&mut self, op: &Op, actual: &Outcome) -> Result<(), Mismatch> {
        let plan = self.plan(op);
        if let Err(why) = plan.allowed.check(actual) {
            return Err(Mismatch {
                allowed: plan.allowed.to_string(),
                why,
            });
        }
        self.clock += 1;
        let local = plan.local_enospc && actual.result == Err(crate::Errno::ENOSPC);
        if !local && filled_scratch(&plan.allowed, actual) {
            self.may_be_full = true;
        }
        if actual.result.is_ok() || plan.effect_on_error {
            if let Some(effect) = plan.effect {
                effect(self, actual);
            }
        }
        Ok(())
    }

    /// The error an io_uring SQE for `op` fails with at submission (the
    /// opcode's prep), before anything runs: invalid splice/tee flags and the
    /// proposed COPY_FILE_RANGE's flags. In a linked chain such a failure
    /// cancels every member, earlier ones included (io_submit_fail_init).
    /// OPENAT's O_CREAT|O_DIRECTORY is not one: build_open_flags runs at issue
    /// (io_openat2), so earlier members run (measured on 6.18: a chain
    /// open, open(O_CREAT|O_DIRECTORY) completes 5, -EINVAL).
    pub fn uring_prep_error(&self, op: &Op) -> Option<crate::Errno> {
        use crate::Errno;
        crate::op_table!(prep (self) op)
    }

    /// Plans one op: [`Fs::plan_op`], except that once the scratch
    /// filesystem may be full ([`Fs::may_be_full`]) every op that may run is
    /// [`Allowed::Unmodelled`] (the model does not track free space).
    pub fn plan(&self, op: &Op) -> Plan {
        let p = self.plan_op(op);
        if self.may_be_full && p.allowed != Allowed::Blocks {
            return Plan::pure(Allowed::Unmodelled(SCRATCH_MAY_BE_FULL));
        }
        p
    }

    /// Plans one op (dispatch to the op families).
    pub fn plan_op(&self, op: &Op) -> Plan {
        let iface = if self.profile.sync_kinds.contains(&op.kind()) {
            crate::profile::Interface::Syscall
        } else {
            self.profile.interface
        };
        self.interface.set(iface);
        crate::op_table!(plan (self) op)
    }
}
