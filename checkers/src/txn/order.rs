//! Edges that come from when and where txns ran, not from their data:
//! process order (one client's txns, in order) and real-time order (a txn
//! that completed before another was invoked precedes it).
//!
//! Failed txns never happened and get no edges. An `info` txn may have
//! happened at any time after its invocation, so it can follow others but
//! nothing follows it. Real-time edges are kept few: a txn is linked only
//! from the "frontier" of txns completed before its invocation that no later
//! completed txn already follows (the rest are implied transitively).

use super::graph::{Edges, PROCESS, REALTIME};
use super::history::{Status, TxnId, Txns};
use crate::history::Process;
use rustc_hash::FxHashMap;

/// Process edges: each committed txn to the next txn of its process.
pub fn process_edges(txns: &Txns, edges: &mut Edges) {
    let mut last: FxHashMap<Process, TxnId> = FxHashMap::default();
    for (t, txn) in txns.txns.iter().enumerate() {
        if txn.status == Status::Fail {
            continue;
        }
        let t = t as TxnId;
        if let Some(prev) = last.insert(txn.process, t) {
            if txns.txns[prev as usize].status == Status::Ok {
                edges.add(prev, t, PROCESS);
            }
        }
    }
}

/// Real-time edges, in the history's order of invocations and completions.
pub fn realtime_edges(txns: &Txns, edges: &mut Edges) {
    // Events by history position: an invocation or an ok completion.
    let mut events: Vec<(u64, TxnId, bool)> = Vec::with_capacity(txns.txns.len() * 2);
    for (t, txn) in txns.txns.iter().enumerate() {
        if txn.status == Status::Fail {
            continue;
        }
        events.push((txn.invoke, t as TxnId, true));
        if let (Status::Ok, Some(c)) = (txn.status, txn.complete) {
            events.push((c, t as TxnId, false));
        }
    }
    events.sort_unstable_by_key(|e| e.0);
    let mut frontier: Vec<TxnId> = Vec::new();
    // What each open txn saw in the frontier when invoked.
    let mut preds: FxHashMap<TxnId, Vec<TxnId>> = FxHashMap::default();
    for (_, t, invoke) in events {
        if invoke {
            for &p in &frontier {
                edges.add(p, t, REALTIME);
            }
            if txns.txns[t as usize].status == Status::Ok {
                preds.insert(t, frontier.clone());
            }
        } else {
            let before = preds.remove(&t).unwrap_or_default();
            frontier.retain(|x| !before.contains(x));
            frontier.push(t);
        }
    }
}
