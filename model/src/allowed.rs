//! Sets of allowed outcomes: what the model answers where the kernel may choose.

use crate::outcome::{Data, Errno, FileType, Outcome};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The outcomes the kernel may legitimately give for one op.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    /// Exactly this outcome: the kernel has no latitude.
    Exact(Outcome),
    /// Success with a count in `min..=max`. If `bytes` is given, the outcome's data
    /// must be its first `count` bytes (a short read returns a prefix).
    Count {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
        /// The bytes a full result would carry; a short one carries a prefix.
        bytes: Option<Vec<u8>>,
        /// Why the kernel may choose.
        why: &'static str,
    },
    /// A transfer (copy_file_range, splice) of `min..=max` bytes. Through the
    /// syscalls the explicit offsets are written back advanced by the count:
    /// `offsets` holds their values before the call (`None` where the file
    /// position was used); through io_uring nothing is written back.
    Transfer {
        /// Smallest allowed value.
        min: i64,
        /// Largest allowed value.
        max: i64,
        /// Explicit offsets before the call (syscalls), or `None` (io_uring).
        offsets: Option<(Option<i64>, Option<i64>)>,
        /// Why the kernel may choose.
        why: &'static str,
    },
    /// Success with one of these values (SEEK_DATA/SEEK_HOLE positions).
    Values(Vec<i64>, &'static str),
    /// Any of the alternatives.
    OneOf(Vec<Allowed>),
    /// A getdents64 result drawn from a directory stream (see [`DirentChoice`]).
    Dirents(DirentChoice),
    /// Behaviour the model does not pin down (an lseek to an arbitrary directory
    /// position, a cookie value). Any outcome is accepted and the run is counted
    /// as poisoned from here on.
    Unspecified(&'static str),
    /// The kernel changes state in a way the model does not follow (a fallocate
    /// mode this filesystem profile does not model yet). The run is poisoned:
    /// counted, and not compared further.
    Unmodelled(&'static str),
    /// A documented kernel bug is reachable here (the reason names it and its
    /// reproducer under corpus/regressions/): the run is poisoned and counted
    /// as such, never passed.
    KnownBug(&'static str),
    /// The op would block forever; it must not be run.
    Blocks,
}

/// What a getdents64 call may return: records for names not yet returned by this
/// stream, each fitting the buffer, and filling it as far as the kernel's choice
/// of the next entry allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirentChoice {
    /// The caller's buffer size.
    pub count: u64,
    /// Entries that must appear before the stream may end (existed since the
    /// stream's start and were not yet returned).
    pub mandatory: BTreeMap<String, FileType>,
    /// Entries that may appear or not (created or removed since the start).
    pub optional: BTreeMap<String, FileType>,
    /// The call may stop after any record: filldir64 ends the fill when a
    /// signal is pending, and io_uring's task-work notification
    /// (TIF_NOTIFY_SIGNAL) counts as one on a thread that uses a ring. Without
    /// it, a call must fill the buffer as far as the next entry allows.
    pub may_stop_early: bool,
    /// Where the filesystem lists entries in a known order: each mandatory
    /// entry's rank (lower comes first). A mandatory entry may not come while
    /// one of lower rank is still unreturned; optional entries are free, and
    /// entries of equal rank may come in either order. Empty: any order.
    pub rank: BTreeMap<String, u64>,
    /// The stream is known exactly: the mandatory entries are the whole rest
    /// of it in rank order (distinct ranks), so EINVAL means the first does not
    /// fit and a call may stop only where the next one does not fit (or early,
    /// see `may_stop_early`).
    pub ordered: bool,
    /// Other types an optional name may carry: entries of that name removed
    /// since the stream started, which a filesystem may still return.
    pub alt_types: BTreeMap<String, BTreeSet<FileType>>,
}

impl DirentChoice {
    fn check(&self, o: &Outcome) -> Result<(), String> {
        let reclen = |n: &str| crate::outcome::dirent_reclen(n.len()) as u64;
        let candidates: BTreeMap<&String, &FileType> =
            self.mandatory.iter().chain(self.optional.iter()).collect();
        // The entry an exactly known stream emits next, once `seen` are out.
        let next_in_order = |seen: &BTreeSet<&String>| {
            self.rank
                .iter()
                .filter(|(n, _)| !seen.contains(n))
                .min_by_key(|(_, &k)| k)
                .map(|(n, _)| n.clone())
        };
        let fits_none = |space: u64| {
            if self.ordered {
                next_in_order(&BTreeSet::new()).is_some_and(|n| reclen(&n) > space)
            } else {
                candidates.keys().any(|n| reclen(n) > space)
            }
        };
        match (&o.result, &o.data) {
            (Err(e), _) if *e == Errno::EINVAL => {
                if fits_none(self.count) {
                    Ok(())
                } else {
                    Err(format!(
                        "EINVAL but every remaining entry fits {} bytes",
                        self.count
                    ))
                }
            }
            (Ok(0), _) => {
                if self.mandatory.is_empty() {
                    Ok(())
                } else {
                    let missing: Vec<&String> = self.mandatory.keys().collect();
                    Err(format!("end of directory before {missing:?} were returned"))
                }
            }
            (Ok(total), Data::Dirents(recs)) => {
                let mut seen = BTreeSet::new();
                let mut sum = 0u64;
                for r in recs {
                    let Some(t) = candidates.get(&r.name) else {
                        return Err(format!("unexpected or repeated entry {:?}", r.name));
                    };
                    if !seen.insert(&r.name) {
                        return Err(format!("entry {:?} returned twice", r.name));
                    }
                    let alt = self
                        .alt_types
                        .get(&r.name)
                        .is_some_and(|ts| ts.contains(&r.file_type));
                    if r.file_type != **t && r.file_type != FileType::Unknown && !alt {
                        return Err(format!(
                            "entry {:?} has type {:?}, not {t:?}",
                            r.name, r.file_type
                        ));
                    }
                    if r.reclen as u64 != reclen(&r.name) {
                        return Err(format!("entry {:?} has reclen {}", r.name, r.reclen));
                    }
                    if let Some(&mine) = self.rank.get(&r.name) {
                        let before: Vec<&String> = self
                            .rank
                            .iter()
                            .filter(|(n, &k)| k < mine && !seen.contains(n))
                            .map(|(n, _)| n)
                            .collect();
                        if !before.is_empty() {
                            return Err(format!(
                                "entry {:?} came before {before:?}, which this filesystem lists first",
                                r.name
                            ));
                        }
                    }
                    sum += r.reclen as u64;
                }
                if sum != *total as u64 || sum > self.count {
                    return Err(format!(
                        "records sum to {sum}, result {total}, buffer {}",
                        self.count
                    ));
                }
                let rest: Vec<&&String> =
                    candidates.keys().filter(|n| !seen.contains(**n)).collect();
                let space = self.count - sum;
                let next_too_big = if self.ordered {
                    next_in_order(&seen).is_some_and(|n| reclen(&n) > space)
                } else {
                    rest.iter().any(|n| reclen(n) > space)
                };
                let could_stop = next_too_big
                    || self.mandatory.keys().all(|n| seen.contains(n))
                    || (self.may_stop_early && !recs.is_empty());
                if could_stop {
                    Ok(())
                } else {
                    Err(format!(
                        "stopped with {space} bytes free while {rest:?} all fit"
                    ))
                }
            }
            _ => Err("expected dirent records, EINVAL or 0".into()),
        }
    }
}

impl Allowed {
    /// Checks an actual outcome against the set; `Err` says why it is not allowed.
    pub fn check(&self, o: &Outcome) -> Result<(), String> {
        match self {
            Allowed::Exact(want) => {
                if want == o {
                    Ok(())
                } else {
                    Err(format!("expected {want}"))
                }
            }
            Allowed::Count {
                min,
                max,
                bytes,
                why,
            } => {
                let Ok(v) = o.result else {
                    return Err(format!("expected a count in [{min}, {max}] ({why})"));
                };
                if v < *min || v > *max {
                    return Err(format!("expected a count in [{min}, {max}] ({why})"));
                }
                match bytes {
                    Some(b) => match &o.data {
                        Data::Bytes(got) if got[..] == b[..v as usize] => Ok(()),
                        _ => Err(format!(
                            "expected the first {v} of {:?}",
                            crate::outcome::Shorten(b)
                        )),
                    },
                    None if o.data == Data::None || matches!(o.data, Data::Offsets(..)) => Ok(()),
                    None => Err("unexpected data".into()),
                }
            }
            Allowed::Transfer {
                min,
                max,
                offsets,
                why,
            } => {
                let Ok(v) = o.result else {
                    return Err(format!(
                        "expected a transfer of [{min}, {max}] bytes ({why})"
                    ));
                };
                if v < *min || v > *max {
                    return Err(format!(
                        "expected a transfer of [{min}, {max}] bytes ({why})"
                    ));
                }
                let want = match offsets {
                    Some((i, out)) => Data::Offsets(i.map(|x| x + v), out.map(|x| x + v)),
                    None => Data::None,
                };
                if o.data == want {
                    Ok(())
                } else {
                    Err(format!("expected written-back offsets {want:?}"))
                }
            }
            Allowed::Values(vs, why) => match o.result {
                Ok(v) if vs.contains(&v) && o.data == Data::None => Ok(()),
                _ => Err(format!("expected one of {vs:?} ({why})")),
            },
            Allowed::OneOf(alts) => {
                let mut why = Vec::new();
                for a in alts {
                    match a.check(o) {
                        Ok(()) => return Ok(()),
                        Err(e) => why.push(e),
                    }
                }
                Err(why.join(" | "))
            }
            Allowed::Dirents(d) => d.check(o),
            Allowed::Unspecified(_) | Allowed::Unmodelled(_) | Allowed::KnownBug(_) => Ok(()),
            Allowed::Blocks => Err("the op would block; it must not run".into()),
        }
    }

    /// A success without data.
    pub fn ok(v: i64) -> Allowed {
        Allowed::Exact(Outcome::ok(v))
    }

    /// A failure.
    pub fn err(e: Errno) -> Allowed {
        Allowed::Exact(Outcome::err(e))
    }

    /// Adds an alternative.
    pub fn or(self, other: Allowed) -> Allowed {
        match self {
            Allowed::OneOf(mut v) => {
                v.push(other);
                Allowed::OneOf(v)
            }
            a => Allowed::OneOf(vec![a, other]),
        }
    }
}

impl fmt::Display for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Allowed::Exact(o) => write!(f, "{o}"),
            Allowed::Count { min, max, why, .. } => write!(f, "count in [{min}, {max}] ({why})"),
            Allowed::Transfer { min, max, why, .. } if min == max => {
                write!(f, "transfer of {min} bytes ({why})")
            }
            Allowed::Transfer { min, max, why, .. } => {
                write!(f, "transfer of [{min}, {max}] bytes ({why})")
            }
            Allowed::Values(v, why) => write!(f, "one of {v:?} ({why})"),
            Allowed::OneOf(alts) => {
                let parts: Vec<String> = alts.iter().map(|a| a.to_string()).collect();
                write!(f, "any of [{}]", parts.join(" | "))
            }
            Allowed::Dirents(d) => write!(
                f,
                "dirents from mandatory {:?} optional {:?} in {} bytes",
                d.mandatory.keys().collect::<Vec<_>>(),
                d.optional.keys().collect::<Vec<_>>(),
                d.count
            ),
            Allowed::Unspecified(why) => write!(f, "unspecified ({why})"),
            Allowed::Unmodelled(why) => write!(f, "not modelled ({why})"),
            Allowed::KnownBug(why) => write!(f, "known kernel bug ({why})"),
            Allowed::Blocks => write!(f, "blocks forever"),
        }
    }
}
