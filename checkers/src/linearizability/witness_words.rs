//! A witness in the words of the register: which read (or successful cas)
//! is impossible, and which values could still have been current when it
//! ran. A cas that succeeded saw its expected value, as a read would.
//!
//! Judged against every write and cas of the key in the whole history, not
//! only the witness's (the witness drops writes no remaining op observes,
//! and a sentence must be true of the history). A write `w` could be
//! current at read `r` unless `r` finished before `w` began, or some op
//! surely set a value between them (an `ok` write or cas that began after
//! `w` completed and completed before `r` began). That keeps every write
//! some linearization could have current (a superset), so when none of them
//! set the value the read returned, the read is impossible and the sentence
//! says why. When one of them did, the contradiction lies elsewhere (two
//! reads in the wrong order, a cas) and there is no sentence.

use serde_json::Value;

/// One op of the key, as the sentence needs it.
pub(super) struct Spoken<'h> {
    pub index: u64,
    /// A read's result, a cas's expected value (what it saw), or `None`
    /// for a write.
    pub read: Option<&'h Value>,
    /// The value a write or cas sets (`None` for a read).
    pub sets: Option<&'h Value>,
    /// Invocation time, ns since the history's start.
    pub invoked: u64,
    /// Completion time of an op that completed `ok` (others may take effect
    /// at any time after their invocation, or never).
    pub done: Option<u64>,
}

/// Values listed in a sentence before "and N more".
const LISTED: usize = 4;

/// The sentence for the first of `reads` (indexes of ok reads and cas ops,
/// the witness's) that no write of `ops` (every op of the key) could
/// explain, or `None`. `null_reads_unknown`: a read of null tells nothing.
pub(super) fn explain(
    ops: &[Spoken<'_>],
    reads: &[u64],
    initial: &Value,
    key: Option<&str>,
    null_reads_unknown: bool,
) -> Option<String> {
    let writes: Vec<&Spoken<'_>> = ops.iter().filter(|o| o.sets.is_some()).collect();
    let mut chosen: Vec<&Spoken<'_>> = ops
        .iter()
        .filter(|o| reads.contains(&o.index))
        .filter(|o| o.read.is_some_and(|v| !(null_reads_unknown && v.is_null())))
        .collect();
    chosen.sort_by_key(|o| o.done);
    chosen.into_iter().find_map(|r| {
        let (value, r_done) = (r.read?, r.done?);
        // The latest start of an op that surely set a value before `r`
        // began: a write that completed before then is overwritten.
        let last_sure_start = writes
            .iter()
            .filter(|w| w.done.is_some_and(|d| d < r.invoked))
            .map(|w| w.invoked)
            .max();
        let candidates: Vec<&Spoken<'_>> = writes
            .iter()
            .copied()
            .filter(|w| w.index != r.index && w.invoked <= r_done)
            .filter(|w| w.done.zip(last_sure_start).is_none_or(|(d, s)| d >= s))
            .collect();
        let initial_possible = last_sure_start.is_none();
        if candidates.iter().any(|w| w.sets == Some(value))
            || (initial_possible && initial == value)
        {
            return None;
        }
        let object = key.map_or("the register".to_string(), |k| format!("key {k:?}"));
        // The latest candidate for each value, the latest first.
        let mut by_value: Vec<&Spoken<'_>> = Vec::new();
        for w in candidates.iter().rev() {
            if !by_value.iter().any(|b| b.sets == w.sets) {
                by_value.push(w);
            }
        }
        let mut could: Vec<String> = by_value
            .iter()
            .take(LISTED)
            .map(|w| {
                let sets = w.sets.expect("a write");
                match w.done {
                    Some(d) => format!("{sets} (op {}, done at {})", w.index, secs(d)),
                    None => format!(
                        "{sets} (op {}, not acknowledged: it may take effect any time after {})",
                        w.index,
                        secs(w.invoked)
                    ),
                }
            })
            .collect();
        if by_value.len() > LISTED {
            could.push(format!("and {} more", by_value.len() - LISTED));
        }
        if initial_possible && !by_value.iter().any(|w| w.sets == Some(initial)) {
            could.insert(0, format!("{initial} (the initial value)"));
        }
        let never = if writes.iter().any(|w| w.sets == Some(value)) {
            String::new()
        } else {
            format!("; no op ever wrote {value}")
        };
        let read = match r.sets {
            Some(new) => format!(
                "cas of {object} from {value} to {new} succeeded at {}",
                secs(r_done)
            ),
            None => format!("read of {object} returned {value} at {}", secs(r_done)),
        };
        Some(match could.len() {
            0 => format!("{read}, but no value could be current then{never}"),
            1 => format!(
                "{read}, but the only value that could still be current then is {}{never}",
                could[0]
            ),
            _ => format!(
                "{read}, but every value that could still be current then is another: {}{never}",
                could.join(", ")
            ),
        })
    })
}

fn secs(ns: u64) -> String {
    format!("{:.2} s", ns as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const S: u64 = 1_000_000_000;

    /// (index, read value or None, written value or None, invoked s, done s
    /// or None); both values: a cas from the first to the second.
    type Op = (u64, Option<Value>, Option<Value>, u64, Option<u64>);

    fn spoken(ops: &[Op]) -> Vec<Spoken<'_>> {
        ops.iter()
            .map(|(index, read, sets, invoked, done)| Spoken {
                index: *index,
                read: read.as_ref(),
                sets: sets.as_ref(),
                invoked: invoked * S,
                done: done.map(|d| d * S),
            })
            .collect()
    }

    fn words(ops: &[Op]) -> Option<String> {
        // Reads, and cas ops that succeeded.
        let reads: Vec<u64> = ops
            .iter()
            .filter(|o| o.1.is_some() && (o.2.is_none() || o.4.is_some()))
            .map(|o| o.0)
            .collect();
        explain(&spoken(ops), &reads, &json!(0), Some("r"), false)
    }

    #[test]
    fn a_stale_read_names_the_write_that_is_current() {
        let w = words(&[
            (0, None, Some(json!(1)), 0, Some(1)),
            (2, None, Some(json!(4)), 2, Some(3)),
            (4, Some(json!(1)), None, 4, Some(5)),
        ])
        .expect("a sentence");
        assert_eq!(
            w,
            "read of key \"r\" returned 1 at 5.00 s, but the only value that could still be current then is 4 (op 2, done at 3.00 s)"
        );
    }

    #[test]
    fn a_value_never_written_is_said_so_and_unacknowledged_writes_count() {
        let w = words(&[
            (0, None, Some(json!(4)), 0, None),
            (2, Some(json!(7)), None, 2, Some(3)),
        ])
        .expect("a sentence");
        assert_eq!(
            w,
            "read of key \"r\" returned 7 at 3.00 s, but every value that could still be current then is another: 0 (the initial value), 4 (op 0, not acknowledged: it may take effect any time after 0.00 s); no op ever wrote 7"
        );
    }

    #[test]
    fn no_sentence_when_the_read_could_be_explained_by_real_time() {
        // The write of 1 overlaps the write of 4: either may be last.
        assert_eq!(
            words(&[
                (0, None, Some(json!(1)), 0, Some(3)),
                (2, None, Some(json!(4)), 1, Some(2)),
                (4, Some(json!(1)), None, 4, Some(5)),
            ]),
            None
        );
        // A crashed write of 1 may take effect just before the read.
        assert_eq!(
            words(&[
                (0, None, Some(json!(4)), 0, Some(1)),
                (2, None, Some(json!(1)), 0, None),
                (4, Some(json!(1)), None, 4, Some(5)),
            ]),
            None
        );
    }

    #[test]
    fn a_cas_that_saw_an_overwritten_value_is_said_so() {
        let w = words(&[
            (0, None, Some(json!(3)), 0, Some(1)),
            (2, None, Some(json!(4)), 2, Some(3)),
            (4, Some(json!(3)), Some(json!(5)), 4, Some(5)),
        ])
        .expect("a sentence");
        assert_eq!(
            w,
            "cas of key \"r\" from 3 to 5 succeeded at 5.00 s, but the only value that could still be current then is 4 (op 2, done at 3.00 s)"
        );
        // Its own new value does not explain what it saw.
        assert!(words(&[(0, Some(json!(5)), Some(json!(5)), 0, Some(1))]).is_some());
    }

    /// Brute force: some order of the ok ops and any of the unacknowledged
    /// writes, within their times, where every read sees the last write.
    fn linearizable(ops: &[Op]) -> bool {
        fn go(ops: &[Op], placed: &mut Vec<bool>, value: &Value) -> bool {
            if ops
                .iter()
                .zip(placed.iter())
                .all(|(o, &p)| p || o.4.is_none())
            {
                return true;
            }
            for i in 0..ops.len() {
                if placed[i] {
                    continue;
                }
                // Every unplaced ok op that finished before `i` began must
                // come first.
                let blocked = ops
                    .iter()
                    .zip(placed.iter())
                    .enumerate()
                    .any(|(j, (p, &pl))| j != i && !pl && p.4.is_some_and(|d| d < ops[i].3));
                if blocked {
                    continue;
                }
                let next = match (&ops[i].1, &ops[i].2) {
                    (Some(r), _) if r != value => continue,
                    (Some(_), None) => value.clone(),
                    (_, Some(w)) => w.clone(),
                    (None, None) => continue,
                };
                placed[i] = true;
                if go(ops, placed, &next) {
                    return true;
                }
                placed[i] = false;
            }
            false
        }
        go(ops, &mut vec![false; ops.len()], &json!(0))
    }

    fn an_op() -> impl Strategy<Value = (u8, u64, u64, u64, u64, bool)> {
        // (0 read / 1 write / 2 cas, value 0-2, cas's new value 0-2,
        // invoked 0-5, length 0-3, acknowledged?)
        (
            0u8..3,
            0u64..3,
            0u64..3,
            0u64..6,
            0u64..4,
            prop::bool::weighted(0.8),
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// Whenever there is a sentence, the read it names is impossible:
        /// no order of the ops explains the history.
        #[test]
        fn every_sentence_is_about_a_history_that_is_not_linearizable(
            raw in prop::collection::vec(an_op(), 1..=6)
        ) {
            let ops: Vec<Op> = raw
                .iter()
                .enumerate()
                .map(|(i, &(kind, v, new, at, len, acked))| {
                    let done = (acked || kind == 0).then_some(at + len);
                    match kind {
                        0 => (i as u64, Some(json!(v)), None, at, done),
                        1 => (i as u64, None, Some(json!(v)), at, done),
                        _ => (i as u64, Some(json!(v)), Some(json!(new)), at, done),
                    }
                })
                .collect();
            if let Some(w) = words(&ops) {
                prop_assert!(!linearizable(&ops), "{w}\n{ops:?}");
            }
        }
    }
}
