//! The set checker: clients add unique elements (`add`), then read the whole
//! set (`read`, an array). Every acknowledged add must be in every final read.
//! Ops on different keys are different sets, each checked on its own.
//!
//! A final read is an `ok` read invoked after every add has completed (or, for
//! an add still open, been invoked). Against the final reads it finds:
//! - lost: an acknowledged add missing from a final read, or an element a
//!   final read saw that a later final read no longer has;
//! - unexpected: an element no client ever tried to add;
//! - duplicated: an element a read lists more than once;
//! - failed-but-present: an add that `fail`ed (certainly never happened) but is read;
//! - recovered: an indeterminate (`info`) add that is read (fine, counted).

use crate::evidence::{Elements, SetAck, SetEvidence};
use crate::history::{History, OpType};
use crate::pairs::{pairs, Pair};
use crate::verdict::{CheckResult, Verdict};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// At most this many elements of each kind go into the evidence.
const SHOWN: usize = 50;

/// A set element: integers sort as numbers, anything else by its JSON text.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Element {
    Int(i64),
    Other(String),
}

impl Element {
    fn of(v: &Value) -> Element {
        match v.as_i64() {
            Some(i) => Element::Int(i),
            None => Element::Other(v.to_string()),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Element::Int(i) => json!(i),
            Element::Other(s) => serde_json::from_str(s).unwrap_or(Value::String(s.clone())),
        }
    }
}

impl fmt::Display for Element {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Element::Int(i) => write!(f, "{i}"),
            Element::Other(s) => f.write_str(s),
        }
    }
}

/// What became of the attempts to add one element (the best outcome wins).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum AddOutcome {
    Failed,
    Indeterminate,
    Acknowledged,
}

/// Checks every set in the history (one a key; most histories have one).
pub fn check(history: &History) -> Result<CheckResult, String> {
    let ops = pairs(history)?;
    let mut by_key: BTreeMap<Option<&str>, Vec<Pair<'_>>> = BTreeMap::new();
    for pair in ops {
        by_key
            .entry(pair.invoke.key.as_deref())
            .or_default()
            .push(pair);
    }
    if by_key.len() <= 1 {
        let ops = by_key.into_values().next().unwrap_or_default();
        let (mut result, evidence) = check_one(&ops)?;
        result.details = evidence.into();
        return Ok(result);
    }
    let mut verdicts = Vec::new();
    let mut summaries = Vec::new();
    let mut blamed = Vec::new();
    let mut keys = BTreeMap::new();
    for (key, ops) in &by_key {
        let key = key.unwrap_or("");
        let (r, evidence) = check_one(ops)?;
        verdicts.push(r.verdict);
        if r.verdict != Verdict::Valid {
            summaries.push(format!("key {key:?}: {}", r.summary));
        }
        blamed.extend(r.blamed);
        keys.insert(key.to_string(), evidence);
    }
    let verdict = Verdict::combine(verdicts);
    let summary = if summaries.is_empty() {
        format!("all {} sets are intact", by_key.len())
    } else {
        summaries.join("; ")
    };
    blamed.sort_unstable();
    Ok(CheckResult {
        checker: "set".into(),
        verdict,
        summary,
        blamed,
        first_anomaly: None,
        details: SetEvidence {
            keys,
            ..SetEvidence::default()
        }
        .into(),
    })
}

/// Checks one set's adds and reads; the result's details are left for the
/// caller to fill with the evidence.
fn check_one(ops: &[Pair<'_>]) -> Result<(CheckResult, SetEvidence), String> {
    let mut attempts: BTreeMap<Element, AddOutcome> = BTreeMap::new();
    // Element -> its first acknowledgement, cited when it is lost.
    let mut acks: BTreeMap<Element, SetAck> = BTreeMap::new();
    let mut adds_end: Option<u64> = None;
    let mut reads: Vec<&Pair<'_>> = Vec::new();
    for pair in ops {
        match pair.invoke.f.as_str() {
            "add" => {
                let outcome = match pair.outcome() {
                    OpType::Ok => AddOutcome::Acknowledged,
                    OpType::Fail => AddOutcome::Failed,
                    _ => AddOutcome::Indeterminate,
                };
                let e = Element::of(&pair.invoke.value);
                if let (Some(c), AddOutcome::Acknowledged) = (pair.completion, outcome) {
                    acks.entry(e.clone()).or_insert_with(|| SetAck {
                        element: pair.invoke.value.clone(),
                        invoke: pair.invoke.index,
                        ack: c.index,
                        time_ns: c.time,
                        node: c.node.clone(),
                    });
                }
                let slot = attempts.entry(e).or_insert(outcome);
                *slot = (*slot).max(outcome);
                let end = pair.completion.map_or(pair.invoke.index, |c| c.index);
                adds_end = adds_end.max(Some(end));
            }
            "read" if pair.is_ok() => reads.push(pair),
            "read" => {}
            other => {
                return Err(format!(
                    "op {}: the set checker knows add and read, not {other:?}",
                    pair.invoke.index
                ))
            }
        }
    }
    let finals: Vec<(&Pair<'_>, Vec<Element>)> = reads
        .into_iter()
        .filter(|r| !matches!(adds_end, Some(end) if r.invoke.index <= end))
        .map(|r| {
            let c = r.completion.expect("ok reads are complete");
            match &c.value {
                Value::Array(items) => Ok((r, items.iter().map(Element::of).collect())),
                other => Err(format!(
                    "op {}: a read's value must be an array, got {other}",
                    c.index
                )),
            }
        })
        .collect::<Result<_, String>>()?;

    let count = |o: AddOutcome| attempts.values().filter(|&&v| v == o).count();
    let acknowledged = count(AddOutcome::Acknowledged);
    let indeterminate = count(AddOutcome::Indeterminate);
    let failed = count(AddOutcome::Failed);
    if finals.is_empty() {
        let summary = format!(
            "no ok read after all {} adds completed: nothing says what the set ended as",
            attempts.len()
        );
        let evidence = SetEvidence {
            attempted: attempts.len(),
            acknowledged,
            indeterminate,
            failed,
            ..SetEvidence::default()
        };
        return Ok((CheckResult::unknown("set", summary), evidence));
    }

    let mut lost = BTreeSet::new();
    let mut unexpected = BTreeSet::new();
    let mut duplicated = BTreeSet::new();
    let mut failed_present = BTreeSet::new();
    let mut recovered = BTreeSet::new();
    // The final reads that saw an anomaly: the ops the checker blames.
    let mut blamed = BTreeSet::new();
    for (i, (read, seen)) in finals.iter().enumerate() {
        let anomalies_before =
            lost.len() + unexpected.len() + duplicated.len() + failed_present.len();
        let mut set = BTreeSet::new();
        for e in seen {
            if !set.insert(e) {
                duplicated.insert(e.clone());
            }
            match attempts.get(e) {
                None => {
                    unexpected.insert(e.clone());
                }
                Some(AddOutcome::Failed) => {
                    failed_present.insert(e.clone());
                }
                Some(AddOutcome::Indeterminate) => {
                    recovered.insert(e.clone());
                }
                Some(AddOutcome::Acknowledged) => {}
            }
        }
        for (e, outcome) in &attempts {
            if *outcome == AddOutcome::Acknowledged && !set.contains(e) {
                lost.insert(e.clone());
            }
        }
        // What an earlier final read saw must still be there.
        for (earlier, earlier_seen) in &finals[..i] {
            if earlier.end_index() < read.invoke.index {
                let missing: Vec<Element> = earlier_seen
                    .iter()
                    .filter(|e| !set.contains(e))
                    .cloned()
                    .collect();
                if !missing.is_empty() {
                    blamed.insert(read.invoke.index);
                }
                lost.extend(missing);
            }
        }
        let missed_acknowledged = attempts
            .iter()
            .any(|(e, o)| *o == AddOutcome::Acknowledged && !set.contains(e));
        let anomalies_after =
            lost.len() + unexpected.len() + duplicated.len() + failed_present.len();
        if missed_acknowledged || anomalies_after > anomalies_before {
            blamed.insert(read.invoke.index);
        }
    }

    let bad = [&lost, &unexpected, &duplicated, &failed_present];
    let verdict = if bad.iter().all(|s| s.is_empty()) {
        Verdict::Valid
    } else {
        Verdict::Invalid
    };
    let mut problems = Vec::new();
    for (set, what) in [
        (&lost, "lost"),
        (&unexpected, "unexpected"),
        (&duplicated, "duplicated"),
        (&failed_present, "failed but present"),
    ] {
        if !set.is_empty() {
            problems.push(format!("{} {what} ({})", set.len(), preview(set)));
        }
    }
    let summary = if problems.is_empty() {
        format!(
            "all {acknowledged} acknowledged adds are in the {} final read(s); {} of {indeterminate} indeterminate adds recovered",
            finals.len(),
            recovered.len()
        )
    } else {
        format!(
            "{} attempted elements: {}",
            attempts.len(),
            problems.join("; ")
        )
    };
    let list = |s: &BTreeSet<Element>| Elements {
        count: s.len(),
        shown: s.iter().take(SHOWN).map(Element::to_json).collect(),
    };
    let evidence = SetEvidence {
        attempted: attempts.len(),
        acknowledged,
        indeterminate,
        failed,
        final_reads: finals.iter().map(|(r, _)| r.invoke.index).collect(),
        lost: list(&lost),
        lost_acks: lost
            .iter()
            .take(SHOWN)
            .filter_map(|e| acks.get(e).cloned())
            .collect(),
        lost_acked_by: lost.iter().filter_map(|e| acks.get(e)).fold(
            BTreeMap::new(),
            |mut by, a| {
                *by.entry(a.node.clone().unwrap_or_else(|| "?".into()))
                    .or_default() += 1;
                by
            },
        ),
        unexpected: list(&unexpected),
        duplicated: list(&duplicated),
        failed_but_present: list(&failed_present),
        recovered: list(&recovered),
        keys: BTreeMap::new(),
    };
    let blamed = if verdict == Verdict::Invalid {
        blamed.into_iter().collect()
    } else {
        Vec::new()
    };
    let result = CheckResult {
        checker: "set".into(),
        verdict,
        summary,
        blamed,
        first_anomaly: None,
        details: Default::default(),
    };
    Ok((result, evidence))
}

/// The first few elements of a set, for a summary line.
fn preview(set: &BTreeSet<Element>) -> String {
    let mut s: Vec<String> = set.iter().take(8).map(Element::to_string).collect();
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
    use serde_json::json;

    fn add(p: u64, v: i64, end: OpType) -> [(u64, OpType, &'static str, Value); 2] {
        [(p, Invoke, "add", json!(v)), (p, end, "add", json!(v))]
    }

    fn read(p: u64, v: Value) -> [(u64, OpType, &'static str, Value); 2] {
        [(p, Invoke, "read", Value::Null), (p, Done, "read", v)]
    }

    fn ev(r: &CheckResult) -> &SetEvidence {
        r.details.set().expect("set evidence")
    }

    fn shown(v: Value) -> Vec<Value> {
        v.as_array().unwrap().clone()
    }

    fn run(parts: &[[(u64, OpType, &'static str, Value); 2]]) -> CheckResult {
        let rows: Vec<_> = parts.iter().flatten().cloned().collect();
        check(&history(&rows)).unwrap()
    }

    #[test]
    fn all_present_is_valid_and_info_adds_count_as_recovered() {
        let r = run(&[
            add(1, 1, Done),
            add(2, 2, Info),
            add(3, 3, Fail),
            add(4, 4, Info),
            read(5, json!([1, 2])),
        ]);
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
        assert_eq!(ev(&r).recovered.shown, shown(json!([2])));
        assert_eq!(ev(&r).failed, 1);
    }

    #[test]
    fn finds_lost_unexpected_duplicated_and_failed_elements() {
        let r = run(&[
            add(1, 1, Done),
            add(1, 2, Done),
            add(2, 3, Fail),
            read(5, json!([2, 2, 3, 9])),
        ]);
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(ev(&r).lost.shown, shown(json!([1])));
        assert_eq!(ev(&r).duplicated.shown, shown(json!([2])));
        assert_eq!(ev(&r).unexpected.shown, shown(json!([9])));
        assert_eq!(ev(&r).failed_but_present.shown, shown(json!([3])));
        assert!(r.summary.contains("1 lost (1)"), "{}", r.summary);
        assert_eq!(r.blamed, vec![6], "the read that saw it all is blamed");
    }

    #[test]
    fn lost_elements_cite_their_acknowledgements() {
        let rows: Vec<_> = [
            add(1, 1, Done),
            add(2, 2, Done),
            add(3, 3, Done),
            add(4, 4, Info),
            read(5, json!([2, 4])),
        ]
        .iter()
        .flatten()
        .cloned()
        .collect();
        let mut h = history(&rows);
        h.ops[1].node = Some("n1".into());
        h.ops[5].node = Some("n1".into());
        let r = check(&h).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid);
        let acks = &ev(&r).lost_acks;
        assert_eq!(acks.len(), 2, "{acks:?}");
        assert_eq!(
            (acks[0].element.clone(), acks[0].invoke, acks[0].ack),
            (json!(1), 0, 1)
        );
        assert_eq!(acks[0].time_ns, 10);
        assert_eq!(acks[0].node.as_deref(), Some("n1"));
        assert_eq!(
            (acks[1].element.clone(), acks[1].ack, acks[1].time_ns),
            (json!(3), 5, 50)
        );
        assert_eq!(acks[1].node, Some("n1".into()));
        let by: Vec<_> = ev(&r)
            .lost_acked_by
            .iter()
            .map(|(k, v)| (k.as_str(), *v))
            .collect();
        assert_eq!(by, vec![("n1", 2)]);
        // A recovered info add and a kept one are not cited.
        let r = run(&[add(1, 1, Done), read(2, json!([1]))]);
        assert!(ev(&r).lost_acks.is_empty() && ev(&r).lost_acked_by.is_empty());
    }

    #[test]
    fn an_element_vanishing_between_final_reads_is_lost() {
        let r = run(&[add(1, 1, Info), read(5, json!([1])), read(6, json!([]))]);
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(ev(&r).lost.shown, shown(json!([1])));
    }

    #[test]
    fn reads_during_the_adds_are_not_final() {
        let rows: Vec<_> = [
            (1, Invoke, "add", json!(1)),
            (2, Invoke, "read", Value::Null),
            (2, Done, "read", json!([])),
            (1, Done, "add", json!(1)),
        ]
        .into_iter()
        .chain(read(3, json!([1])))
        .collect();
        let r = check(&history(&rows)).unwrap();
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
        assert_eq!(ev(&r).final_reads, vec![4]);
    }

    #[test]
    fn no_final_read_is_unknown() {
        let r = run(&[add(1, 1, Done)]);
        assert_eq!(r.verdict, Verdict::Unknown);
    }

    #[test]
    fn each_key_is_its_own_set() {
        let mut rows: Vec<_> = [add(1, 1, Done), read(2, json!([1]))]
            .iter()
            .flatten()
            .cloned()
            .collect();
        rows.extend(
            [add(3, 1, Done), read(4, json!([]))]
                .iter()
                .flatten()
                .cloned(),
        );
        let mut h = history(&rows);
        for op in &mut h.ops[4..] {
            op.key = Some("t".into());
        }
        let r = check(&h).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid);
        assert!(r.summary.starts_with("key \"t\": "), "{}", r.summary);
        assert_eq!(ev(&r).keys["t"].lost.shown, shown(json!([1])));
        assert_eq!(ev(&r).keys[""].lost.shown, shown(json!([])));
    }

    #[test]
    fn malformed_ops_are_errors() {
        let rows: Vec<_> = read(1, json!(5)).into_iter().collect();
        assert!(check(&history(&rows))
            .unwrap_err()
            .contains("must be an array"));
        let rows = vec![(1, Invoke, "cas", json!(5))];
        assert!(check(&history(&rows)).unwrap_err().contains("not \"cas\""));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::history::Op;
    use proptest::prelude::*;

    /// How one add ends, and whether a correct server applied it.
    #[derive(Clone, Copy, Debug)]
    enum Fate {
        Ok,
        Fail,
        /// Indeterminate; the flag says whether it took effect.
        Info(bool),
    }

    fn fate() -> impl Strategy<Value = Fate> {
        prop_oneof![
            6 => Just(Fate::Ok),
            1 => Just(Fate::Fail),
            2 => any::<bool>().prop_map(Fate::Info),
        ]
    }

    /// Concurrent adds by `clients` clients against a correct set, then one
    /// final read per client. Returns the history and the acknowledged elements.
    fn run(fates: &[Fate], clients: u64, drop: Option<usize>) -> (History, Vec<i64>) {
        let mut ops = Vec::new();
        let mut push = |p: u64, kind: OpType, f: &str, value: Value| {
            ops.push(Op::client(ops.len() as u64, kind, p, f, value))
        };
        let mut applied = Vec::new();
        let mut acked = Vec::new();
        // Invocations of a round overlap; each info retires its process.
        let mut process: Vec<u64> = (0..clients).collect();
        let mut next_process = clients;
        for (r, round) in fates.chunks(clients as usize).enumerate() {
            // Unique elements: the round, then the client.
            let base = r as i64 * 100;
            for (c, _) in round.iter().enumerate() {
                push(process[c], OpType::Invoke, "add", json!(base + c as i64));
            }
            for (c, fate) in round.iter().enumerate() {
                let e = base + c as i64;
                let kind = match fate {
                    Fate::Ok => {
                        applied.push(e);
                        acked.push(e);
                        OpType::Ok
                    }
                    Fate::Fail => OpType::Fail,
                    Fate::Info(took) => {
                        if *took {
                            applied.push(e);
                        }
                        OpType::Info
                    }
                };
                push(process[c], kind, "add", json!(e));
                if kind == OpType::Info {
                    process[c] = next_process;
                    next_process += 1;
                }
            }
        }
        let mut read = applied.clone();
        if let Some(i) = drop {
            if !acked.is_empty() {
                let lost = acked[i % acked.len()];
                read.retain(|&e| e != lost);
            }
        }
        read.sort_unstable();
        for &p in &process {
            push(p, OpType::Invoke, "read", Value::Null);
            push(p, OpType::Ok, "read", json!(read));
        }
        (History::new(ops), acked)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn a_correct_set_is_always_valid(fates in prop::collection::vec(fate(), 0..60), clients in 1u64..6) {
            let (h, _) = run(&fates, clients, None);
            let r = check(&h).unwrap();
            prop_assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
        }

        #[test]
        fn a_lost_acknowledged_add_is_always_found(fates in prop::collection::vec(fate(), 1..60), clients in 1u64..6, pick in any::<usize>()) {
            let (h, acked) = run(&fates, clients, Some(pick));
            let r = check(&h).unwrap();
            if acked.is_empty() {
                prop_assert_eq!(r.verdict, Verdict::Valid);
            } else {
                prop_assert_eq!(r.verdict, Verdict::Invalid, "{}", r.summary);
                prop_assert_eq!(r.details.set().unwrap().lost.count, 1);
            }
        }
    }
}
