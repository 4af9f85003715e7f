//! Client ops as invocation/completion pairs, for checkers that reason about
//! whole operations (set, lock). Unlike the linearizability search's pairing,
//! `fail` ops are kept: a failed add that shows up in a read is an anomaly.

use crate::history::{History, Op, OpType, Process};
use std::collections::HashMap;

/// One client operation.
#[derive(Clone, Copy, Debug)]
pub struct Pair<'a> {
    pub invoke: &'a Op,
    /// `None`: still open at the end of the history (counts as `info`).
    pub completion: Option<&'a Op>,
}

impl Pair<'_> {
    /// How it ended; an open op is `Info`.
    pub fn outcome(&self) -> OpType {
        self.completion.map_or(OpType::Info, |c| c.kind)
    }

    pub fn is_ok(&self) -> bool {
        self.outcome() == OpType::Ok
    }

    /// Position of the completion line, or past the end for an open op.
    pub fn end_index(&self) -> u64 {
        self.completion.map_or(u64::MAX, |c| c.index)
    }
}

/// Pairs every client invocation with its process's next completion, in
/// invocation order. Nemesis ops are left out. A second invocation on a
/// process with an open op, or a completion without one, is an error.
pub fn pairs(history: &History) -> Result<Vec<Pair<'_>>, String> {
    let mut out: Vec<Pair<'_>> = Vec::new();
    let mut open: HashMap<Process, usize> = HashMap::new();
    for op in history.client_ops() {
        if op.kind == OpType::Invoke {
            if let Some(&prev) = open.get(&op.process) {
                return Err(format!(
                    "op {}: process {} invokes while its op {} is still open",
                    op.index, op.process, out[prev].invoke.index
                ));
            }
            open.insert(op.process, out.len());
            out.push(Pair {
                invoke: op,
                completion: None,
            });
        } else {
            let Some(at) = open.remove(&op.process) else {
                return Err(format!(
                    "op {}: process {} completes an op it never invoked",
                    op.index, op.process
                ));
            };
            out[at].completion = Some(op);
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// Builds a history from (process, type, f, value) rows; times are 10 ns apart.
    pub(crate) fn history(rows: &[(u64, OpType, &str, Value)]) -> History {
        History::new(
            rows.iter()
                .enumerate()
                .map(|(i, (p, kind, f, value))| Op {
                    index: i as u64,
                    time: i as u64 * 10,
                    kind: *kind,
                    process: Process::Client(*p),
                    f: f.to_string(),
                    key: None,
                    value: value.clone(),
                    error: None,
                    node: None,
                })
                .collect(),
        )
    }

    #[test]
    fn pairs_ops_and_keeps_open_ones() {
        let h = history(&[
            (1, OpType::Invoke, "add", json!(1)),
            (2, OpType::Invoke, "add", json!(2)),
            (1, OpType::Fail, "add", json!(1)),
        ]);
        let p = pairs(&h).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].outcome(), OpType::Fail);
        assert_eq!(p[1].outcome(), OpType::Info);
        assert_eq!(p[1].end_index(), u64::MAX);
    }

    #[test]
    fn double_invoke_and_orphan_completion_are_errors() {
        let h = history(&[
            (1, OpType::Invoke, "add", json!(1)),
            (1, OpType::Invoke, "add", json!(2)),
        ]);
        assert!(pairs(&h).unwrap_err().contains("still open"));
        let h = history(&[(1, OpType::Ok, "add", json!(1))]);
        assert!(pairs(&h).unwrap_err().contains("never invoked"));
    }
}
