//! The total-queue checker: clients enqueue unique items (`enqueue`), take
//! them (`dequeue`: `ok` with the item, `fail` when there was none) and, after
//! the cluster healed, take what is left (`drain`: `ok` with an array). Order
//! is not judged, only what became of each item:
//! - lost: an acknowledged enqueue whose item no dequeue or drain returned;
//! - duplicated: an item returned more than once (a task completed twice);
//! - unexpected: an item returned though no enqueue of it could have
//!   happened (never attempted, or its enqueue `fail`ed);
//! - recovered: an item whose enqueue is indeterminate (`info`) yet was
//!   returned (fine, counted).
//!
//! An indeterminate dequeue may have taken one item that nobody saw, and an
//! indeterminate drain any number; so lost items make the history invalid
//! only when there are more of them than indeterminate dequeues could have
//! taken. Without an `ok` drain nothing says what was left in the queue, so
//! lost items are then `unknown`. `tests/queue_props.rs` checks this against
//! a brute-force search for a queue run that explains the history.

use crate::evidence::{QueueEvidence, QueueItem, QueueItems};
use crate::history::{History, OpType};
use crate::pairs::{pairs, Pair};
use crate::verdict::{CheckResult, Verdict};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// At most this many items of each kind go into the evidence.
const SHOWN: usize = 50;

/// An item: integers sort as numbers, anything else by its JSON text.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    Int(i64),
    Other(String),
}

impl Item {
    fn of(v: &Value) -> Item {
        match v.as_i64() {
            Some(i) => Item::Int(i),
            None => Item::Other(v.to_string()),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Item::Int(i) => json!(i),
            Item::Other(s) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
        }
    }
}

/// What became of the attempts to enqueue one item (the best outcome wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Enqueued {
    Failed,
    Indeterminate,
    Acknowledged,
}

/// One item's enqueue, as the evidence cites it.
#[derive(Clone, Copy)]
struct Attempt {
    outcome: Enqueued,
    invoke: u64,
    completion: Option<u64>,
}

/// Checks the history's queue (all keys are one queue).
pub fn check(history: &History) -> Result<CheckResult, String> {
    let ops = pairs(history)?;
    let mut attempts: BTreeMap<Item, Attempt> = BTreeMap::new();
    // Item -> invocation indexes of the dequeues/drains that returned it.
    let mut taken: BTreeMap<Item, Vec<u64>> = BTreeMap::new();
    let (mut in_doubt_dequeues, mut in_doubt_drains, mut drains) = (0usize, 0usize, 0usize);
    for pair in &ops {
        let index = pair.invoke.index;
        match (pair.invoke.f.as_str(), pair.outcome()) {
            ("enqueue", outcome) => {
                let outcome = match outcome {
                    OpType::Ok => Enqueued::Acknowledged,
                    OpType::Fail => Enqueued::Failed,
                    _ => Enqueued::Indeterminate,
                };
                let new = Attempt {
                    outcome,
                    invoke: index,
                    completion: pair.completion.map(|c| c.index),
                };
                attempts
                    .entry(Item::of(&pair.invoke.value))
                    .and_modify(|a| {
                        if outcome > a.outcome {
                            *a = new;
                        }
                    })
                    .or_insert(new);
            }
            ("dequeue", OpType::Ok) => {
                let c = completion(pair);
                taken.entry(Item::of(&c.value)).or_default().push(index);
            }
            ("dequeue", OpType::Fail) | ("drain", OpType::Fail) => {}
            ("dequeue", _) => in_doubt_dequeues += 1,
            ("drain", OpType::Ok) => {
                drains += 1;
                let c = completion(pair);
                let Value::Array(items) = &c.value else {
                    return Err(format!(
                        "op {}: a drain's value must be an array, got {}",
                        c.index, c.value
                    ));
                };
                for v in items {
                    taken.entry(Item::of(v)).or_default().push(index);
                }
            }
            ("drain", _) => in_doubt_drains += 1,
            // The target's load report (crate::load_spread), not a queue op.
            ("stats", _) => {}
            (other, _) => {
                return Err(format!(
                    "op {index}: the queue checker knows enqueue, dequeue, drain and stats, not {other:?}"
                ))
            }
        }
    }

    let mut lost = BTreeSet::new();
    let mut duplicated = BTreeSet::new();
    let mut unexpected = BTreeSet::new();
    let mut recovered = BTreeSet::new();
    for (item, by) in &taken {
        if by.len() > 1 {
            duplicated.insert(item);
        }
        match attempts.get(item).map(|a| a.outcome) {
            None | Some(Enqueued::Failed) => {
                unexpected.insert(item);
            }
            Some(Enqueued::Indeterminate) => {
                recovered.insert(item);
            }
            Some(Enqueued::Acknowledged) => {}
        }
    }
    for (item, a) in &attempts {
        if a.outcome == Enqueued::Acknowledged && !taken.contains_key(item) {
            lost.insert(item);
        }
    }

    // Lost beyond what indeterminate dequeues could have taken unseen.
    let lost_for_sure = if in_doubt_drains > 0 {
        0
    } else {
        lost.len().saturating_sub(in_doubt_dequeues)
    };
    let definite = !duplicated.is_empty() || !unexpected.is_empty();
    let verdict = if definite || (drains > 0 && lost_for_sure > 0) {
        Verdict::Invalid
    } else if drains == 0 && lost_for_sure > 0 {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };

    let count = |o: Enqueued| attempts.values().filter(|a| a.outcome == o).count();
    let acknowledged = count(Enqueued::Acknowledged);
    let mut problems = Vec::new();
    if lost_for_sure > 0 || (verdict == Verdict::Invalid && !lost.is_empty()) {
        problems.push(format!("{} lost ({})", lost.len(), preview(&lost)));
    }
    for (set, what) in [(&duplicated, "duplicated"), (&unexpected, "unexpected")] {
        if !set.is_empty() {
            problems.push(format!("{} {what} ({})", set.len(), preview(set)));
        }
    }
    let summary = match verdict {
        Verdict::Valid if lost.is_empty() => format!(
            "all {acknowledged} acknowledged enqueues were taken exactly once; {} of {} indeterminate enqueues recovered",
            recovered.len(),
            count(Enqueued::Indeterminate)
        ),
        Verdict::Valid => format!(
            "{} acknowledged items never taken, but {} indeterminate dequeue(s) may have taken them",
            lost.len(),
            in_doubt_dequeues + in_doubt_drains
        ),
        Verdict::Unknown => format!(
            "no ok drain: nothing says what was left in the queue; {}",
            problems.join("; ")
        ),
        Verdict::Invalid => {
            let mut s = format!("{} attempted items: {}", attempts.len(), problems.join("; "));
            if !lost.is_empty() && in_doubt_dequeues > 0 {
                s.push_str(&format!(
                    " ({in_doubt_dequeues} indeterminate dequeue(s) may account for some lost)"
                ));
            }
            s
        }
    };

    let item = |i: &Item| {
        let a = attempts.get(i);
        QueueItem {
            value: i.to_json(),
            enqueue: a.map(|a| a.invoke),
            ack: a.and_then(|a| {
                (a.outcome == Enqueued::Acknowledged)
                    .then_some(a.completion)
                    .flatten()
            }),
            taken_by: taken.get(i).cloned().unwrap_or_default(),
        }
    };
    let list = |s: &BTreeSet<&Item>| QueueItems {
        count: s.len(),
        shown: s.iter().take(SHOWN).map(|i| item(i)).collect(),
    };
    // Blame the acknowledged enqueues of lost items, and the dequeues that
    // returned an item a second time or from nowhere.
    let mut blamed = BTreeSet::new();
    if verdict == Verdict::Invalid {
        if lost_for_sure > 0 {
            blamed.extend(
                lost.iter()
                    .filter_map(|i| attempts.get(*i).map(|a| a.invoke)),
            );
        }
        for i in &duplicated {
            blamed.extend(taken[*i].iter().skip(1));
        }
        for i in &unexpected {
            blamed.extend(taken[*i].iter());
        }
    }
    let evidence = QueueEvidence {
        attempted: attempts.len(),
        acknowledged,
        indeterminate: count(Enqueued::Indeterminate),
        failed: count(Enqueued::Failed),
        taken: taken.values().map(Vec::len).sum(),
        drains,
        in_doubt_dequeues,
        in_doubt_drains,
        lost: list(&lost),
        duplicated: list(&duplicated),
        unexpected: list(&unexpected),
        recovered: list(&recovered),
    };
    Ok(CheckResult {
        checker: "queue".into(),
        verdict,
        summary,
        blamed: blamed.into_iter().collect(),
        first_anomaly: None,
        details: evidence.into(),
    })
}

fn completion<'a>(pair: &Pair<'a>) -> &'a crate::history::Op {
    pair.completion.expect("ok ops are complete")
}

/// The first few items of a set, for a summary line.
fn preview(set: &BTreeSet<&Item>) -> String {
    let mut s: Vec<String> = set
        .iter()
        .take(8)
        .map(|i| i.to_json().to_string())
        .collect();
    if set.len() > 8 {
        s.push("...".into());
    }
    s.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::OpType::{Fail, Info, Invoke, Ok as Done};
    use crate::pairs::tests::history;

    type Row = (u64, OpType, &'static str, Value);

    fn op(p: u64, f: &'static str, inv: Value, end: OpType, out: Value) -> [Row; 2] {
        [(p, Invoke, f, inv), (p, end, f, out)]
    }
    fn enq(p: u64, v: i64, end: OpType) -> [Row; 2] {
        op(p, "enqueue", json!(v), end, json!(v))
    }
    fn deq(p: u64, v: Value) -> [Row; 2] {
        op(p, "dequeue", Value::Null, Done, v)
    }
    fn drain(p: u64, v: Value) -> [Row; 2] {
        op(p, "drain", Value::Null, Done, v)
    }
    fn run(parts: &[[Row; 2]]) -> CheckResult {
        let rows: Vec<_> = parts.iter().flatten().cloned().collect();
        check(&history(&rows)).unwrap()
    }
    fn ev(r: &CheckResult) -> &QueueEvidence {
        r.details.queue().expect("queue evidence")
    }
    fn values(items: &QueueItems) -> Vec<Value> {
        items.shown.iter().map(|i| i.value.clone()).collect()
    }

    #[test]
    fn every_item_taken_once_is_valid_and_info_enqueues_count_as_recovered() {
        let r = run(&[
            enq(1, 1, Done),
            enq(2, 2, Info),
            enq(3, 3, Fail),
            deq(4, json!(1)),
            op(5, "dequeue", Value::Null, Fail, Value::Null),
            drain(6, json!([2])),
        ]);
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
        assert_eq!(values(&ev(&r).recovered), vec![json!(2)]);
        assert!(r.blamed.is_empty());
    }

    #[test]
    fn finds_lost_duplicated_and_unexpected_items_with_their_ops() {
        let r = run(&[
            enq(1, 1, Done),
            enq(1, 2, Done),
            enq(2, 3, Fail),
            deq(3, json!(2)),
            drain(4, json!([2, 3, 9])),
        ]);
        assert_eq!(r.verdict, Verdict::Invalid);
        let e = ev(&r);
        assert_eq!(values(&e.lost), vec![json!(1)]);
        assert_eq!(e.lost.shown[0].enqueue, Some(0));
        assert_eq!(e.lost.shown[0].ack, Some(1));
        assert_eq!(values(&e.duplicated), vec![json!(2)]);
        assert_eq!(e.duplicated.shown[0].taken_by, vec![6, 8]);
        assert_eq!(values(&e.unexpected), vec![json!(3), json!(9)]);
        assert!(r.summary.contains("1 lost (1)"), "{}", r.summary);
        assert_eq!(
            r.blamed,
            vec![0, 8],
            "the lost item's enqueue and the drain"
        );
    }

    #[test]
    fn an_indeterminate_dequeue_may_have_taken_one_lost_item() {
        let one = run(&[
            enq(1, 1, Done),
            op(2, "dequeue", Value::Null, Info, Value::Null),
            drain(3, json!([])),
        ]);
        assert_eq!(one.verdict, Verdict::Valid, "{}", one.summary);
        let two = run(&[
            enq(1, 1, Done),
            enq(1, 2, Done),
            op(2, "dequeue", Value::Null, Info, Value::Null),
            drain(3, json!([])),
        ]);
        assert_eq!(two.verdict, Verdict::Invalid, "{}", two.summary);
    }

    #[test]
    fn without_an_ok_drain_lost_is_unknown_but_duplicates_are_not() {
        assert_eq!(run(&[enq(1, 1, Done)]).verdict, Verdict::Unknown);
        let r = run(&[enq(1, 1, Done), deq(2, json!(1)), deq(3, json!(1))]);
        assert_eq!(r.verdict, Verdict::Invalid);
    }

    #[test]
    fn stats_ops_are_not_queue_ops() {
        let r = run(&[
            enq(1, 1, Done),
            op(2, "stats", Value::Null, Done, json!({"done_by": {"n1": 1}})),
            drain(3, json!([1])),
        ]);
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
    }

    #[test]
    fn other_functions_and_bad_drains_are_errors() {
        let rows: Vec<_> = op(1, "read", Value::Null, Done, json!(1)).to_vec();
        assert!(check(&history(&rows)).unwrap_err().contains("not \"read\""));
        let rows: Vec<_> = drain(1, json!(3)).to_vec();
        assert!(check(&history(&rows))
            .unwrap_err()
            .contains("must be an array"));
    }
}
