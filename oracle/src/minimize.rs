//! Sequence minimization after proptest's shrinking: delta debugging over the
//! op list (Zeller's ddmin, then single-op removal to a fixpoint), so that a
//! finding at op N is reported with at most N + 1 ops and usually a handful.
//!
//! proptest shrinks values well (a boundary length shrinks to the smallest
//! listed boundary that still fails) but removes elements of a long sequence
//! slowly; ddmin removes whole chunks at once. The predicate decides what
//! "still fails" means (the campaign asks for the same kind of divergence on
//! the same target).

use std::time::{Duration, Instant};

/// Limits of one minimization: it stops early (keeping the smallest failing
/// sequence so far) when either runs out.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Predicate evaluations at most.
    pub tests: u32,
    /// Wall time at most.
    pub time: Duration,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            tests: 4000,
            time: Duration::from_secs(120),
        }
    }
}

/// What a minimization did.
#[derive(Debug, Clone)]
pub struct Minimized<T> {
    /// The smallest failing sequence found.
    pub items: Vec<T>,
    /// Predicate evaluations spent.
    pub tests: u32,
    /// Whether the budget (or a stop request) cut it short: the result is
    /// then failing but perhaps not 1-minimal.
    pub exhausted: bool,
}

/// Minimizes `items`, for which `fails` must hold, to a sequence for which it
/// still holds and from which no single item can be removed (unless the
/// budget ran out). `fails` is called on candidate subsequences (order kept).
pub fn ddmin<T: Clone>(
    items: Vec<T>,
    budget: Budget,
    mut fails: impl FnMut(&[T]) -> bool,
) -> Minimized<T> {
    let started = Instant::now();
    let mut tests = 0u32;
    let mut exhausted = false;
    let mut test = |c: &[T], tests: &mut u32, exhausted: &mut bool| -> bool {
        if *tests >= budget.tests || started.elapsed() >= budget.time || sys::interrupt::requested()
        {
            *exhausted = true;
            return false;
        }
        *tests += 1;
        fails(c)
    };
    let mut cur = items;
    let mut n = 2usize;
    while cur.len() >= 2 && !exhausted {
        let chunk = cur.len().div_ceil(n);
        let mut reduced = false;
        // Try each complement (the sequence without one chunk).
        let mut start = 0;
        while start < cur.len() {
            let end = (start + chunk).min(cur.len());
            let candidate: Vec<T> = cur[..start].iter().chain(&cur[end..]).cloned().collect();
            if !candidate.is_empty() && test(&candidate, &mut tests, &mut exhausted) {
                cur = candidate;
                n = (n - 1).max(2);
                reduced = true;
                break;
            }
            if exhausted {
                break;
            }
            start = end;
        }
        if !reduced {
            if n >= cur.len() {
                break;
            }
            n = (n * 2).min(cur.len());
        }
    }
    // One-minimal: no single item can go.
    let mut changed = true;
    while changed && !exhausted {
        changed = false;
        let mut i = 0;
        while i < cur.len() && cur.len() > 1 {
            let candidate: Vec<T> = cur[..i].iter().chain(&cur[i + 1..]).cloned().collect();
            if test(&candidate, &mut tests, &mut exhausted) {
                cur = candidate;
                changed = true;
            } else {
                if exhausted {
                    break;
                }
                i += 1;
            }
        }
    }
    Minimized {
        items: cur,
        tests,
        exhausted,
    }
}

/// Shrinks the integers inside each item (through its TOML form), keeping
/// the sequence failing: for every integer leaf whose key `candidates`
/// gives smaller values for, the first candidate (in the order given) for
/// which `fails` still holds replaces it. Items whose changed form does not
/// deserialize, or that `valid` rejects, are not tried. Stops early when the
/// budget runs out, keeping what it has.
pub fn shrink_integers<T>(
    items: Vec<T>,
    budget: Budget,
    candidates: impl Fn(&str, i64) -> Vec<i64>,
    valid: impl Fn(&T) -> bool,
    mut fails: impl FnMut(&[T]) -> bool,
) -> Minimized<T>
where
    T: Clone + serde::Serialize + serde::de::DeserializeOwned,
{
    let started = Instant::now();
    let mut tests = 0u32;
    let mut exhausted = false;
    let mut cur = items;
    'items: for i in 0..cur.len() {
        let Ok(mut value) = toml::Value::try_from(&cur[i]) else {
            continue;
        };
        let mut leaves = Vec::new();
        integer_leaves(&value, &mut Vec::new(), &mut leaves);
        for (path, v) in leaves {
            let key = path.last().map_or("", |k: &String| k.as_str()).to_string();
            for c in candidates(&key, v) {
                if tests >= budget.tests
                    || started.elapsed() >= budget.time
                    || sys::interrupt::requested()
                {
                    exhausted = true;
                    break 'items;
                }
                set_leaf(&mut value, &path, c);
                let Ok(item) = value.clone().try_into::<T>() else {
                    continue;
                };
                if !valid(&item) {
                    continue;
                }
                let mut candidate = cur.clone();
                candidate[i] = item;
                tests += 1;
                if fails(&candidate) {
                    cur = candidate;
                    break;
                }
            }
            // Leave the leaf as it now stands in `cur`.
            value = toml::Value::try_from(&cur[i]).expect("it serialized before");
        }
    }
    Minimized {
        items: cur,
        tests,
        exhausted,
    }
}

/// Paths (table keys; array elements as their index) of the integers in `v`.
fn integer_leaves(v: &toml::Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, i64)>) {
    match v {
        toml::Value::Integer(n) => out.push((path.clone(), *n)),
        toml::Value::Table(t) => {
            for (k, x) in t {
                path.push(k.clone());
                integer_leaves(x, path, out);
                path.pop();
            }
        }
        toml::Value::Array(a) => {
            for (k, x) in a.iter().enumerate() {
                path.push(k.to_string());
                integer_leaves(x, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

fn set_leaf(v: &mut toml::Value, path: &[String], n: i64) {
    let mut cur = v;
    for k in path {
        cur = match cur {
            toml::Value::Table(t) => t.get_mut(k).expect("the path exists"),
            toml::Value::Array(a) => &mut a[k.parse::<usize>().expect("an index")],
            _ => unreachable!("paths lead through tables and arrays"),
        };
    }
    *cur = toml::Value::Integer(n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_two_items_that_matter() {
        let items: Vec<u32> = (0..500).collect();
        let m = ddmin(items, Budget::default(), |c| {
            c.contains(&17) && c.contains(&401)
        });
        assert_eq!(m.items, vec![17, 401]);
        assert!(!m.exhausted);
        assert!(m.tests < 200, "{} tests", m.tests);
    }

    #[test]
    fn keeps_order_dependent_failures() {
        // Fails when a 3 comes somewhere after a 9.
        let items = vec![1, 9, 4, 4, 2, 3, 8, 3];
        let m = ddmin(items, Budget::default(), |c| {
            c.iter()
                .position(|&x| x == 9)
                .is_some_and(|i| c[i..].contains(&3))
        });
        assert_eq!(m.items, vec![9, 3]);
    }

    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Item {
        name: String,
        len: i64,
    }

    #[test]
    fn integers_shrink_to_the_first_failing_candidate() {
        let items = vec![
            Item {
                name: "a".into(),
                len: 50,
            },
            Item {
                name: "b".into(),
                len: 1 << 33,
            },
        ];
        let m = shrink_integers(
            items,
            Budget::default(),
            |key, v| {
                assert_eq!(key, "len");
                [0, 1 << 31, 1 << 32, 1 << 33]
                    .into_iter()
                    .filter(|&c| c < v)
                    .collect()
            },
            |_| true,
            // Fails while some item is 2^32 or longer.
            |c| c.iter().any(|i| i.len >= 1 << 32),
        );
        assert_eq!(m.items[0].len, 0);
        assert_eq!(m.items[1].len, 1 << 32);
    }

    #[test]
    fn a_spent_budget_keeps_the_smallest_failing_sequence() {
        let items: Vec<u32> = (0..100).collect();
        let m = ddmin(
            items,
            Budget {
                tests: 3,
                time: Duration::from_secs(10),
            },
            |c| c.contains(&50),
        );
        assert!(m.exhausted);
        assert!(m.items.contains(&50));
        assert!(m.items.len() < 100);
    }
}
