//! Cycles in words: one edge a line, each saying which micro-ops (or which
//! process or clock order) put one txn before the next.

use super::cycles::Step;
use super::graph::{label_name, PROCESS, REALTIME};
use super::history::{TxnId, Txns};
use super::list_append::ListAppend;
use super::rw_register::RwRegister;
use serde_json::{json, Value};

/// What inferred the data edges, to explain them.
pub enum Inference<'t> {
    ListAppend(ListAppend<'t>),
    RwRegister(RwRegister<'t>),
}

/// The lines and JSON steps of a cycle.
pub fn cycle(txns: &Txns, inference: &Inference<'_>, steps: &[Step]) -> (Vec<String>, Value) {
    let name = |x: TxnId| txns.txns[x as usize].invoke;
    let mut lines = Vec::with_capacity(steps.len() + 1);
    let mut json_steps = Vec::with_capacity(steps.len());
    for s in steps {
        let (a, b) = (&txns.txns[s.from as usize], &txns.txns[s.to as usize]);
        let line = match s.label {
            PROCESS => format!(
                "T{} and T{} ran on process {}, T{} first, so T{} -> T{} (process)",
                a.invoke, b.invoke, a.process, a.invoke, a.invoke, b.invoke
            ),
            REALTIME => format!(
                "T{} completed (op {}) before T{} was invoked (op {}), so T{} -> T{} (realtime)",
                a.invoke,
                a.complete.map_or("?".into(), |c| c.to_string()),
                b.invoke,
                b.invoke,
                a.invoke,
                b.invoke
            ),
            label => match inference {
                Inference::ListAppend(la) => la.explain(s.from, s.to, label),
                Inference::RwRegister(rr) => rr.explain(s.from, s.to, label),
            },
        };
        lines.push(line);
        json_steps.push(json!({
            "from": name(s.from),
            "to": name(s.to),
            "type": label_name(s.label),
        }));
    }
    let ring: Vec<String> = steps
        .iter()
        .map(|s| format!("T{}", name(s.from)))
        .chain(steps.first().map(|s| format!("T{}", name(s.from))))
        .collect();
    lines.push(format!("so {}: a cycle", ring.join(" -> ")));
    (lines, json!({ "cycle": json_steps }))
}
