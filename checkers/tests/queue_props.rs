//! Property test of the queue checker: on small random histories its verdict
//! agrees with a brute-force oracle that tries every way the indeterminate
//! dequeues and drains could have ended, looking for a queue run that
//! explains what clients saw (no item taken twice, none taken that could not
//! have been enqueued, and, once a drain emptied the queue, every
//! acknowledged item taken).

use faultline_checkers::registry::{check, CheckerKind, Options};
use faultline_checkers::{History, Op, OpType, Verdict};
use proptest::prelude::*;
use serde_json::{json, Value};

/// Items are 0..ITEMS; dequeues may also return ITEMS, never enqueued.
const ITEMS: u64 = 4;

#[derive(Clone, Debug)]
enum Step {
    Enqueue(u64, OpType),
    /// `Some(item)` ok, `None` fail.
    Dequeue(Option<u64>),
    DequeueInfo,
    Drain(Vec<u64>),
    DrainInfo,
}

fn outcome() -> impl Strategy<Value = OpType> {
    prop_oneof![Just(OpType::Ok), Just(OpType::Fail), Just(OpType::Info)]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..ITEMS, outcome()).prop_map(|(v, o)| Step::Enqueue(v, o)),
        3 => proptest::option::of(0..=ITEMS).prop_map(Step::Dequeue),
        1 => Just(Step::DequeueInfo),
        1 => proptest::collection::vec(0..=ITEMS, 0..4).prop_map(Step::Drain),
        1 => Just(Step::DrainInfo),
    ]
}

fn history(steps: &[Step]) -> History {
    let mut ops = Vec::new();
    let mut push = |p: u64, kind: OpType, f: &str, value: Value| {
        let index = ops.len() as u64;
        ops.push(Op::client(index, kind, p, f, value));
    };
    for (p, s) in steps.iter().enumerate() {
        let p = p as u64;
        let (f, inv, kind, out) = match s {
            Step::Enqueue(v, o) => ("enqueue", json!(v), *o, json!(v)),
            Step::Dequeue(Some(v)) => ("dequeue", Value::Null, OpType::Ok, json!(v)),
            Step::Dequeue(None) => ("dequeue", Value::Null, OpType::Fail, Value::Null),
            Step::DequeueInfo => ("dequeue", Value::Null, OpType::Info, Value::Null),
            Step::Drain(vs) => ("drain", Value::Null, OpType::Ok, json!(vs)),
            Step::DrainInfo => ("drain", Value::Null, OpType::Info, Value::Null),
        };
        push(p, OpType::Invoke, f, inv);
        push(p, kind, f, out);
    }
    History::new(ops)
}

/// Every way to pick what the indeterminate ops took: each dequeue one item
/// or none, each drain any subset.
fn choices(dequeues: usize, drains: usize) -> Vec<Vec<u64>> {
    let domain = ITEMS + 1;
    let mut all = vec![Vec::new()];
    for _ in 0..dequeues {
        all = all
            .into_iter()
            .flat_map(|c: Vec<u64>| {
                (0..=domain).map(move |v| {
                    let mut c = c.clone();
                    if v < domain {
                        c.push(v);
                    }
                    c
                })
            })
            .collect();
    }
    for _ in 0..drains {
        all = all
            .into_iter()
            .flat_map(|c: Vec<u64>| {
                (0..1u64 << domain).map(move |mask| {
                    let mut c = c.clone();
                    c.extend((0..domain).filter(|v| mask & (1 << v) != 0));
                    c
                })
            })
            .collect();
    }
    all
}

/// Can some queue run explain the history? `drained`: an ok drain emptied
/// the queue, so every acknowledged item must have been taken.
fn explainable(steps: &[Step], drained: bool) -> bool {
    let mut best = [None::<OpType>; ITEMS as usize + 1];
    let rank = |o: OpType| match o {
        OpType::Fail => 0,
        OpType::Ok => 2,
        _ => 1,
    };
    let mut seen = Vec::new();
    let (mut dq, mut dr) = (0, 0);
    for s in steps {
        match s {
            Step::Enqueue(v, o) => {
                let b = &mut best[*v as usize];
                if b.is_none_or(|b| rank(*o) > rank(b)) {
                    *b = Some(*o);
                }
            }
            Step::Dequeue(Some(v)) => seen.push(*v),
            Step::Dequeue(None) => {}
            Step::DequeueInfo => dq += 1,
            Step::Drain(vs) => seen.extend(vs),
            Step::DrainInfo => dr += 1,
        }
    }
    choices(dq, dr).into_iter().any(|extra| {
        let mut count = [0u32; ITEMS as usize + 1];
        for v in seen.iter().chain(&extra) {
            count[*v as usize] += 1;
        }
        (0..=ITEMS as usize).all(|v| {
            let could_enqueue = matches!(best[v], Some(o) if o != OpType::Fail);
            let acked = best[v] == Some(OpType::Ok);
            count[v] <= 1
                && (count[v] == 0 || could_enqueue)
                && (!drained || !acked || count[v] == 1)
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn verdict_matches_the_brute_force_oracle(steps in proptest::collection::vec(step(), 0..9)) {
        // The oracle tries every outcome of each crashed dequeue (6) and
        // drain (32): keep that product small, or a rare draw of many
        // crashed drains takes all memory (32^8 choices).
        let infos = |f: fn(&Step) -> bool| steps.iter().filter(|s| f(s)).count() as u32;
        let dq = infos(|s| matches!(s, Step::DequeueInfo));
        let dr = infos(|s| matches!(s, Step::DrainInfo));
        prop_assume!(6u64.pow(dq) * 32u64.pow(dr) <= 1 << 16);
        let h = history(&steps);
        let r = check(CheckerKind::Queue, &h, &Options::default()).unwrap();
        let drained = steps.iter().any(|s| matches!(s, Step::Drain(_)));
        let strict = explainable(&steps, true);
        let loose = explainable(&steps, false);
        let expected = if strict {
            Verdict::Valid
        } else if loose && !drained {
            Verdict::Unknown
        } else {
            Verdict::Invalid
        };
        prop_assert_eq!(r.verdict, expected, "{}", r.summary);
        prop_assert_eq!(r.blamed.is_empty(), r.verdict != Verdict::Invalid);
    }
}
