//! A history seen as things to draw: client operations as spans of time, and
//! nemesis faults as periods. Tolerant of odd histories (a completion without an
//! invocation is skipped), since a report must render whatever a run left behind.

use faultline_checkers::{History, Op, OpType, Process};
use serde_json::Value;
use std::collections::HashMap;

/// How a client operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    Ok,
    Fail,
    Info,
    /// Never completed: still in flight when the history ends.
    Open,
}

impl Outcome {
    pub const ALL: [Outcome; 4] = [Outcome::Ok, Outcome::Fail, Outcome::Info, Outcome::Open];

    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Fail => "fail",
            Outcome::Info => "info",
            Outcome::Open => "open",
        }
    }

    fn of(kind: OpType) -> Outcome {
        match kind {
            OpType::Ok => Outcome::Ok,
            OpType::Fail => Outcome::Fail,
            _ => Outcome::Info,
        }
    }
}

/// One client operation: its invocation and (maybe) its completion.
#[derive(Clone, Debug)]
pub struct Span<'a> {
    pub invoke: &'a Op,
    pub completion: Option<&'a Op>,
    pub outcome: Outcome,
}

impl Span<'_> {
    pub fn process(&self) -> u64 {
        match self.invoke.process {
            Process::Client(p) => p,
            Process::Nemesis => u64::MAX,
        }
    }

    pub fn start(&self) -> u64 {
        self.invoke.time
    }

    /// Completion time; `None` for an op still open at the end.
    pub fn end(&self) -> Option<u64> {
        self.completion.map(|c| c.time.max(self.invoke.time))
    }

    /// Nanoseconds from invocation to completion.
    pub fn latency(&self) -> Option<u64> {
        self.end().map(|e| e - self.start())
    }
}

/// A fault in force: from the `start-X` nemesis completion to the matching
/// `stop-X` completion (or the end of the history, if it was never stopped).
#[derive(Clone, Debug)]
pub struct FaultPeriod {
    /// The fault kind: `partition`, `kill`, ...
    pub fault: String,
    pub start: u64,
    /// `None`: still in force when the history ends.
    pub end: Option<u64>,
    /// What the start op said about it (grudge, node list).
    pub value: Value,
    /// History index of the start op's completion line.
    pub index: u64,
}

/// A history taken apart for reports.
#[derive(Clone, Debug, Default)]
pub struct Analysis<'a> {
    /// Client ops in invocation order.
    pub spans: Vec<Span<'a>>,
    pub faults: Vec<FaultPeriod>,
    /// Every nemesis line, in order.
    pub nemesis_ops: Vec<&'a Op>,
    /// Time of the first and last line (0, 0 for an empty history).
    pub first_time: u64,
    pub last_time: u64,
}

impl<'a> Analysis<'a> {
    pub fn of(history: &'a History) -> Analysis<'a> {
        let mut spans: Vec<Span<'a>> = Vec::new();
        let mut open: HashMap<Process, usize> = HashMap::new();
        let mut faults: Vec<FaultPeriod> = Vec::new();
        let mut nemesis_ops = Vec::new();
        let mut started: HashMap<String, Vec<usize>> = HashMap::new();
        for op in &history.ops {
            if op.is_nemesis() {
                nemesis_ops.push(op);
                // A nemesis op is an invoke and then an info; the fault takes
                // (or stops taking) effect when the info line is written.
                if op.kind == OpType::Invoke {
                    continue;
                }
                if let Some(fault) = op.f.strip_prefix("start-") {
                    started
                        .entry(fault.to_string())
                        .or_default()
                        .push(faults.len());
                    faults.push(FaultPeriod {
                        fault: fault.to_string(),
                        start: op.time,
                        end: None,
                        value: op.value.clone(),
                        index: op.index,
                    });
                } else if let Some(fault) = op.f.strip_prefix("stop-") {
                    if let Some(queue) = started.get_mut(fault) {
                        if !queue.is_empty() {
                            let at = queue.remove(0);
                            faults[at].end = Some(op.time.max(faults[at].start));
                        }
                    }
                }
                continue;
            }
            if op.kind == OpType::Invoke {
                // A second invocation on a process with an open op: the first
                // never completed; leave it open and start the new one.
                open.insert(op.process, spans.len());
                spans.push(Span {
                    invoke: op,
                    completion: None,
                    outcome: Outcome::Open,
                });
            } else if let Some(at) = open.remove(&op.process) {
                spans[at].completion = Some(op);
                spans[at].outcome = Outcome::of(op.kind);
            }
        }
        let first_time = history.ops.iter().map(|o| o.time).min().unwrap_or(0);
        let last_time = history.ops.iter().map(|o| o.time).max().unwrap_or(0);
        Analysis {
            spans,
            faults,
            nemesis_ops,
            first_time,
            last_time,
        }
    }

    /// Distinct functions of client ops, in order of first appearance.
    pub fn functions(&self) -> Vec<&'a str> {
        let mut out: Vec<&'a str> = Vec::new();
        for s in &self.spans {
            if !out.contains(&s.invoke.f.as_str()) {
                out.push(&s.invoke.f);
            }
        }
        out
    }

    /// Count of client ops by outcome.
    pub fn count(&self, outcome: Outcome) -> usize {
        self.spans.iter().filter(|s| s.outcome == outcome).count()
    }
}

/// Invocation indexes of the ops the invalid checks blame, ascending.
pub fn blamed_ops(results: &faultline_checkers::Results) -> Vec<u64> {
    let mut out: Vec<u64> = results
        .checks
        .iter()
        .filter(|c| c.verdict == faultline_checkers::Verdict::Invalid)
        .flat_map(|c| c.blamed.iter().copied())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Nanoseconds as a short human duration: `850ns`, `12.3ms`, `4.56s`.
pub fn human_ns(ns: u64) -> String {
    let n = ns as f64;
    if ns < 1_000 {
        format!("{ns}ns")
    } else if ns < 1_000_000 {
        format!("{:.1}µs", n / 1e3)
    } else if ns < 1_000_000_000 {
        format!("{:.1}ms", n / 1e6)
    } else {
        format!("{:.2}s", n / 1e9)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub(crate) fn op(index: u64, time: u64, kind: OpType, process: Process, f: &str) -> Op {
        Op {
            index,
            time,
            kind,
            process,
            f: f.into(),
            key: None,
            value: Value::Null,
            error: None,
            node: None,
        }
    }

    #[test]
    fn pairs_ops_and_finds_fault_periods() {
        use OpType::*;
        use Process::*;
        let mut ops = vec![
            op(0, 0, Invoke, Client(0), "read"),
            op(1, 5, Invoke, Nemesis, "start-partition"),
            op(2, 10, Info, Nemesis, "start-partition"),
            op(3, 20, Ok, Client(0), "read"),
            op(4, 25, Invoke, Client(1), "write"),
            op(5, 30, Info, Client(1), "write"),
            op(6, 40, Invoke, Nemesis, "stop-partition"),
            op(7, 50, Info, Nemesis, "stop-partition"),
            op(8, 55, Invoke, Nemesis, "start-kill"),
            op(9, 60, Info, Nemesis, "start-kill"),
            op(10, 70, Invoke, Client(2), "cas"),
            // A completion with no invocation is ignored.
            op(11, 75, Ok, Client(9), "read"),
        ];
        ops[2].value = json!({"n1": ["n2"]});
        let h = History::new(ops);
        let a = Analysis::of(&h);
        assert_eq!(a.spans.len(), 3);
        assert_eq!(a.spans[0].outcome, Outcome::Ok);
        assert_eq!(a.spans[0].latency(), Some(20));
        assert_eq!(a.spans[1].outcome, Outcome::Info);
        assert_eq!(a.spans[2].outcome, Outcome::Open);
        assert_eq!(a.spans[2].end(), None);
        assert_eq!(a.faults.len(), 2);
        assert_eq!(
            (
                a.faults[0].fault.as_str(),
                a.faults[0].start,
                a.faults[0].end
            ),
            ("partition", 10, Some(50))
        );
        assert_eq!(a.faults[0].value, json!({"n1": ["n2"]}));
        assert_eq!(
            (a.faults[1].fault.as_str(), a.faults[1].end),
            ("kill", None)
        );
        assert_eq!(a.nemesis_ops.len(), 6);
        assert_eq!((a.first_time, a.last_time), (0, 75));
        assert_eq!(a.functions(), vec!["read", "write", "cas"]);
    }

    #[test]
    fn blamed_ops_come_from_invalid_checks_only() {
        use faultline_checkers::{CheckResult, Results, Verdict};
        let check = |verdict, blamed: Vec<u64>| CheckResult {
            verdict,
            blamed,
            ..CheckResult::unknown("c", String::new())
        };
        let results = Results::new(vec![
            check(Verdict::Invalid, vec![7]),
            check(Verdict::Invalid, vec![3, 9, 7]),
            check(Verdict::Valid, vec![100]),
        ]);
        assert_eq!(blamed_ops(&results), vec![3, 7, 9]);
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_ns(850), "850ns");
        assert_eq!(human_ns(12_300_000), "12.3ms");
        assert_eq!(human_ns(4_560_000_000), "4.56s");
    }
}
