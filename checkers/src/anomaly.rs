//! The first anomaly of an invalid check, in words a stranger can follow:
//! which node answered what, when, and which fault was in force then.
//!
//! "n4 answered read -> 0 at 14.2 s, during the partition that cut n3, n4
//! off from the majority". The node comes from the op (`node`, when the
//! client recorded it); the fault from the nemesis lines of the history:
//! `start-<kind>`/`stop-<kind>` info lines, whose value for a partition is a
//! grudge (`{"n1": ["n3", "n4"]}`: n1 drops what n3 and n4 send).

use crate::history::{History, Op, OpType, Process};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// When and where the first blamed op completed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FirstAnomaly {
    /// Invocation index of the blamed op that completed first.
    pub op: u64,
    /// When it completed (or, never completed, was invoked): nanoseconds
    /// since the run started.
    pub time_ns: u64,
    /// The node that answered it (its completion's `node`), else the node
    /// it was sent to (its invocation's), when the history says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The faults in force at that moment, in words (empty: none).
    #[serde(default)]
    pub faults: Vec<String>,
    /// One sentence saying all of the above.
    pub explanation: String,
    /// When faultline reported an anomaly of this check while the run went
    /// on (seconds since the run started); absent when only the final
    /// check found it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_s: Option<f64>,
}

/// Maps indexes of completions to the invocations they complete (other
/// indexes stay as they are); sorted, without repeats.
pub fn invocations(history: &History, indexes: &[u64]) -> Vec<u64> {
    let pairs = Pairs::of(history);
    let mut out: Vec<u64> = indexes
        .iter()
        .map(|&i| pairs.invoke_of.get(&i).copied().unwrap_or(i))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// The blamed op (by invocation index) that completed first, explained.
pub fn first_anomaly(history: &History, blamed: &[u64]) -> Option<FirstAnomaly> {
    let pairs = Pairs::of(history);
    let (invoke_pos, end_pos) = blamed
        .iter()
        .filter_map(|i| pairs.by_invoke.get(i).copied())
        .min_by_key(|&(inv, end)| {
            let at = end.unwrap_or(inv);
            (history.ops[at].time, at)
        })?;
    let invoke = &history.ops[invoke_pos];
    let end = end_pos.map(|p| &history.ops[p]);
    let at = end_pos.unwrap_or(invoke_pos);
    let time_ns = history.ops[at].time;
    let node = end
        .and_then(|e| e.node.clone())
        .or_else(|| invoke.node.clone());
    let faults = faults_in_force(history, at);
    let what = describe_op(invoke, end, node.as_deref(), time_ns);
    let explanation = if faults.is_empty() {
        // A fault's effects can outlast it (a deposed leader learns late),
        // so say which ended last, and how long before.
        match last_ended(history, at) {
            Some((fault, ended)) => format!(
                "{what}, with no fault in force, {} after {fault} ended",
                seconds(time_ns.saturating_sub(ended))
            ),
            None => format!("{what}, with no fault in force"),
        }
    } else {
        format!("{what}, {}", faults.join(" and "))
    };
    Some(FirstAnomaly {
        op: invoke.index,
        time_ns,
        node,
        faults,
        explanation,
        reported_s: None,
    })
}

/// Invocations and completions paired by process, by history position.
struct Pairs {
    /// Invocation index -> (invoke position, completion position).
    by_invoke: HashMap<u64, (usize, Option<usize>)>,
    /// Completion index -> invocation index.
    invoke_of: HashMap<u64, u64>,
}

impl Pairs {
    fn of(history: &History) -> Pairs {
        let mut open: HashMap<Process, usize> = HashMap::new();
        let mut by_invoke = HashMap::new();
        let mut invoke_of = HashMap::new();
        for (pos, op) in history.ops.iter().enumerate() {
            if op.is_nemesis() {
                continue;
            }
            if op.kind == OpType::Invoke {
                open.insert(op.process, pos);
                by_invoke.insert(op.index, (pos, None));
            } else if let Some(inv) = open.remove(&op.process) {
                let index = history.ops[inv].index;
                by_invoke.insert(index, (inv, Some(pos)));
                invoke_of.insert(op.index, index);
            }
        }
        Pairs {
            by_invoke,
            invoke_of,
        }
    }
}

fn seconds(ns: u64) -> String {
    format!("{:.1} s", ns as f64 / 1e9)
}

fn compact(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() <= 60 {
        return s;
    }
    format!("{}...", s.chars().take(60).collect::<String>())
}

/// `read -> 0`, `write 3`, `cas [1,2]` with the key when there is one.
fn op_words(invoke: &Op, end: Option<&Op>) -> String {
    let mut s = invoke.f.clone();
    if let Some(k) = &invoke.key {
        s.push_str(&format!(" [key {k}]"));
    }
    if !invoke.value.is_null() {
        s.push_str(&format!(" {}", compact(&invoke.value)));
    }
    if let Some(end) = end.filter(|e| e.kind == OpType::Ok) {
        if !end.value.is_null() && end.value != invoke.value {
            s.push_str(&format!(" -> {}", compact(&end.value)));
        }
    }
    s
}

fn describe_op(invoke: &Op, end: Option<&Op>, node: Option<&str>, time_ns: u64) -> String {
    let op = op_words(invoke, end);
    let t = seconds(time_ns);
    let by = |verb: &str| match node {
        Some(n) => format!("{n} {verb} {op} at {t}"),
        None => format!("process {} saw {op} {verb} at {t}", invoke.process),
    };
    let sent = match node {
        Some(n) => format!("{op}, sent to {n},"),
        None => format!("{op} (process {})", invoke.process),
    };
    match end.map(|e| (e.kind, e.error.as_deref())) {
        Some((OpType::Ok, _)) => match node {
            Some(n) => format!("{n} answered {op} at {t}"),
            None => format!("process {} completed {op} at {t}", invoke.process),
        },
        Some((OpType::Fail, _)) => by("refused"),
        Some((_, error)) => format!(
            "{sent} had no definite answer at {t}{}",
            error.map(|e| format!(" ({e})")).unwrap_or_default()
        ),
        None => format!("{sent} invoked at {t}, never completed"),
    }
}

/// The faults started (and not yet stopped) before history position `at`.
pub fn faults_in_force(history: &History, at: usize) -> Vec<String> {
    let mut active: Vec<(String, &Value)> = Vec::new();
    for op in history.ops[..at.min(history.ops.len())]
        .iter()
        .filter(|o| o.is_nemesis() && o.kind != OpType::Invoke)
    {
        if let Some(kind) = op.f.strip_prefix("start-") {
            active.push((kind.to_string(), &op.value));
        } else if let Some(kind) = op.f.strip_prefix("stop-") {
            if let Some(i) = active.iter().position(|(k, _)| k == kind) {
                active.remove(i);
            }
        }
    }
    active
        .iter()
        .map(|(kind, value)| describe_fault(kind, value))
        .collect()
}

/// The fault that ended last before history position `at` (as a noun
/// phrase), and when it ended.
fn last_ended(history: &History, at: usize) -> Option<(String, u64)> {
    let mut active: Vec<(&str, &Value)> = Vec::new();
    let mut last = None;
    for op in history.ops[..at.min(history.ops.len())]
        .iter()
        .filter(|o| o.is_nemesis() && o.kind != OpType::Invoke)
    {
        if let Some(kind) = op.f.strip_prefix("start-") {
            active.push((kind, &op.value));
        } else if let Some(kind) = op.f.strip_prefix("stop-") {
            if let Some(i) = active.iter().position(|(k, _)| *k == kind) {
                let (kind, value) = active.remove(i);
                last = Some((kind, value, op.time));
            }
        }
    }
    let (kind, value, time) = last?;
    Some((name_fault(kind, value), time))
}

/// A fault as a noun phrase: "the partition that cut n3 off ...".
fn name_fault(kind: &str, value: &Value) -> String {
    let phrase = describe_fault(kind, value);
    if let Some(noun) = phrase.strip_prefix("during ") {
        return noun.to_string();
    }
    match (kind, names(value)) {
        ("kill" | "pause", Some(n)) if !n.is_empty() => format!("the {kind} of {}", list(&n)),
        ("loss", _) => match value.get("links").and_then(links) {
            Some(l) => format!("the packet loss on {l}"),
            None => "the packet loss".into(),
        },
        _ => format!("the {kind} fault"),
    }
}

fn names(v: &Value) -> Option<Vec<String>> {
    v.as_array()?
        .iter()
        .map(|n| n.as_str().map(str::to_string))
        .collect()
}

fn list(nodes: &[String]) -> String {
    nodes.join(", ")
}

/// A fault in force, as a phrase that follows a comma.
pub fn describe_fault(kind: &str, value: &Value) -> String {
    match kind {
        "partition" => match serde_json::from_value::<Grudge>(value.clone()) {
            Ok(g) if !g.is_empty() => describe_partition(&g),
            _ => format!("during a partition ({})", compact(value)),
        },
        "kill" => match names(value) {
            Some(n) if !n.is_empty() => format!(
                "while {} {} killed",
                list(&n),
                if n.len() == 1 { "was" } else { "were" }
            ),
            _ => format!("while nodes were killed ({})", compact(value)),
        },
        "pause" => match names(value) {
            Some(n) if !n.is_empty() => format!(
                "while {} {} paused",
                list(&n),
                if n.len() == 1 { "was" } else { "were" }
            ),
            _ => format!("while nodes were paused ({})", compact(value)),
        },
        "stall" | "reset" => match links(value) {
            Some(l) if !l.is_empty() => format!("during the {kind} of the links {l}"),
            _ => format!("during the {kind} fault ({})", compact(value)),
        },
        "loss" => match (
            value.get("links").and_then(links),
            value.get("probability").and_then(Value::as_f64),
        ) {
            (Some(l), Some(p)) if !l.is_empty() => {
                format!("while {:.0}% of the packets on {l} were dropped", p * 100.0)
            }
            _ => format!("during the loss fault ({})", compact(value)),
        },
        other if value.is_null() => format!("during the {other} fault"),
        other => format!("during the {other} fault ({})", compact(value)),
    }
}

/// `[["n1", "n2"], ...]` as `n1->n2, ...`.
fn links(v: &Value) -> Option<String> {
    let pairs: Option<Vec<String>> = v
        .as_array()?
        .iter()
        .map(|l| Some(names(l)?.join("->")))
        .collect();
    Some(pairs?.join(", "))
}

/// `grudge[a]`: the nodes whose messages `a` drops.
type Grudge = BTreeMap<String, BTreeSet<String>>;

fn describe_partition(g: &Grudge) -> String {
    let drops = |a: &String, b: &String| g.get(a).is_some_and(|s| s.contains(b));
    let nodes: BTreeSet<&String> = g.keys().chain(g.values().flatten()).collect();
    let symmetric = nodes
        .iter()
        .all(|a| nodes.iter().all(|b| drops(a, b) == drops(b, a)));
    if symmetric {
        // Groups of nodes that all hear each other; a complete partition
        // has them disjoint and covering every node.
        let mut groups: Vec<Vec<String>> = Vec::new();
        for &n in &nodes {
            match groups
                .iter_mut()
                .find(|grp| grp.iter().all(|m| !drops(n, m)))
            {
                Some(grp) => grp.push(n.clone()),
                None => groups.push(vec![n.clone()]),
            }
        }
        let complete = groups.iter().all(|grp| {
            nodes
                .iter()
                .all(|n| grp.contains(n) || grp.iter().all(|m| drops(n, m)))
        });
        if complete && groups.len() > 1 {
            groups.sort_by_key(|grp| std::cmp::Reverse(grp.len()));
            if groups[0].len() * 2 > nodes.len() {
                let cut: Vec<String> = groups[1..].iter().flatten().cloned().collect();
                return format!(
                    "during the partition that cut {} off from the majority ({})",
                    list(&cut),
                    list(&groups[0])
                );
            }
            let parts: Vec<String> = groups.iter().map(|grp| list(grp)).collect();
            return format!(
                "during the partition into {} with no majority",
                parts.join(" | ")
            );
        }
    }
    // One-way cuts, bridges and rings: say who dropped whom.
    let cuts: Vec<String> = g
        .iter()
        .filter(|(_, from)| !from.is_empty())
        .map(|(node, from)| {
            format!(
                "{node} dropped what {} sent",
                list(&from.iter().cloned().collect::<Vec<_>>())
            )
        })
        .collect();
    format!("during the partition in which {}", cuts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn op(index: u64, secs: f64, kind: OpType, process: Process, f: &str, value: Value) -> Op {
        Op {
            index,
            time: (secs * 1e9) as u64,
            kind,
            process,
            f: f.into(),
            key: None,
            value,
            error: None,
            node: None,
        }
    }

    fn stale_read_during_partition(node: Option<&str>) -> History {
        use OpType::*;
        use Process::*;
        let grudge = json!({"n1": ["n3", "n4"], "n2": ["n3", "n4"], "n5": ["n3", "n4"],
                            "n3": ["n1", "n2", "n5"], "n4": ["n1", "n2", "n5"]});
        let mut ops = vec![
            op(0, 1.0, Invoke, Client(0), "write", json!(1)),
            op(1, 1.1, Ok, Client(0), "write", json!(1)),
            op(2, 10.0, Invoke, Nemesis, "start-partition", grudge.clone()),
            op(3, 10.1, Info, Nemesis, "start-partition", grudge),
            op(4, 14.0, Invoke, Client(1), "read", Value::Null),
            op(5, 14.2, Ok, Client(1), "read", json!(0)),
            op(6, 15.0, Invoke, Nemesis, "stop-partition", Value::Null),
            op(7, 15.1, Info, Nemesis, "stop-partition", Value::Null),
        ];
        ops[5].node = node.map(str::to_string);
        History::new(ops)
    }

    #[test]
    fn names_the_node_the_time_and_the_partition() {
        let h = stale_read_during_partition(Some("n4"));
        let a = first_anomaly(&h, &[4]).unwrap();
        assert_eq!((a.op, a.time_ns), (4, 14_200_000_000));
        assert_eq!(a.node.as_deref(), Some("n4"));
        assert_eq!(
            a.explanation,
            "n4 answered read -> 0 at 14.2 s, during the partition that cut n3, n4 off from the majority (n1, n2, n5)"
        );
    }

    #[test]
    fn reads_well_without_a_node_and_without_a_fault() {
        let h = stale_read_during_partition(None);
        let a = first_anomaly(&h, &[4]).unwrap();
        assert!(
            a.explanation
                .starts_with("process 1 completed read -> 0 at 14.2 s, during the partition"),
            "{}",
            a.explanation
        );
        // After the partition ended, the sentence says which ended when.
        let mut late = h.clone();
        late.ops.truncate(4);
        late.ops.extend([
            op(
                6,
                15.0,
                OpType::Invoke,
                Process::Nemesis,
                "stop-partition",
                Value::Null,
            ),
            op(
                7,
                15.1,
                OpType::Info,
                Process::Nemesis,
                "stop-partition",
                Value::Null,
            ),
            op(
                8,
                15.2,
                OpType::Invoke,
                Process::Client(1),
                "read",
                Value::Null,
            ),
            op(9, 15.5, OpType::Ok, Process::Client(1), "read", json!(0)),
        ]);
        late.ops[7].node = Some("n3".into());
        let late = History::new(late.ops);
        assert_eq!(
            first_anomaly(&late, &[8]).unwrap().explanation,
            "n3 answered read -> 0 at 15.5 s, with no fault in force, 0.4 s after the partition that cut n3, n4 off from the majority (n1, n2, n5) ended"
        );
        let mut h = h;
        h.ops.truncate(2);
        let a = first_anomaly(&h, &[0]).unwrap();
        assert_eq!(
            a.explanation,
            "process 0 completed write 1 at 1.1 s, with no fault in force"
        );
        assert!(first_anomaly(&h, &[99]).is_none());
    }

    #[test]
    fn the_earliest_completion_is_first_and_completions_map_to_invocations() {
        let h = stale_read_during_partition(None);
        assert_eq!(first_anomaly(&h, &[4, 0]).unwrap().op, 0);
        assert_eq!(invocations(&h, &[5, 1, 0]), vec![0, 4]);
    }

    #[test]
    fn faults_in_words() {
        assert_eq!(
            describe_fault("partition", &json!({"n2": ["n1"], "n3": ["n1"]})),
            "during the partition in which n2 dropped what n1 sent; n3 dropped what n1 sent"
        );
        assert_eq!(
            describe_fault(
                "partition",
                &json!({"n1": ["n3", "n4"], "n2": ["n3", "n4"], "n3": ["n1", "n2"], "n4": ["n1", "n2"]})
            ),
            "during the partition into n1, n2 | n3, n4 with no majority"
        );
        assert_eq!(
            describe_fault("kill", &json!(["n2"])),
            "while n2 was killed"
        );
        assert_eq!(
            describe_fault("pause", &json!(["n1", "n3"])),
            "while n1, n3 were paused"
        );
        assert_eq!(
            describe_fault("stall", &json!([["n1", "n2"], ["n3", "n2"]])),
            "during the stall of the links n1->n2, n3->n2"
        );
        assert_eq!(
            describe_fault(
                "loss",
                &json!({"links": [["n1", "n2"]], "probability": 0.25})
            ),
            "while 25% of the packets on n1->n2 were dropped"
        );
        assert_eq!(
            describe_fault("clock", &json!({"n1": 500})),
            "during the clock fault ({\"n1\":500})"
        );
    }
}
