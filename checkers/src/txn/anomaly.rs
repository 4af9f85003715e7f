//! Found anomalies, by type, each with the txns involved and the words that
//! explain it. Only the first few of each type are kept in full (the
//! explanation is built only for those); the rest are counted.

use super::history::TxnId;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// One anomaly: its type (as Elle names it), the txns it involves, and a
/// person's explanation, one step a line.
#[derive(Clone, Debug)]
pub struct Anomaly {
    pub kind: &'static str,
    pub txns: Vec<TxnId>,
    pub lines: Vec<String>,
    /// Type-specific data (the cycle's steps, the key, ...).
    pub data: Value,
}

/// Anomalies of each type: the first `cap` in full, and how many in all.
#[derive(Debug)]
pub struct Anomalies {
    cap: usize,
    pub by_type: BTreeMap<&'static str, (usize, Vec<Anomaly>)>,
}

impl Anomalies {
    pub fn new(cap: usize) -> Self {
        Anomalies {
            cap,
            by_type: BTreeMap::new(),
        }
    }

    /// Records one anomaly of `kind`; `make` (its explanation and data) runs
    /// only while fewer than `cap` of that type are kept.
    pub fn add(
        &mut self,
        kind: &'static str,
        txns: Vec<TxnId>,
        make: impl FnOnce() -> (Vec<String>, Value),
    ) {
        let entry = self.by_type.entry(kind).or_default();
        entry.0 += 1;
        if entry.1.len() < self.cap {
            let (lines, data) = make();
            entry.1.push(Anomaly {
                kind,
                txns,
                lines,
                data,
            });
        }
    }

    pub fn has(&self, kind: &str) -> bool {
        self.by_type.contains_key(kind)
    }

    pub fn types(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.by_type.keys().copied()
    }

    /// `type -> how many`, kept or not.
    pub fn counts_json(&self) -> Value {
        self.by_type
            .iter()
            .map(|(k, (n, _))| (k.to_string(), json!(n)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    /// `type -> [examples]` for the JSON, with each example's txns as op
    /// indexes (`name` turns a txn into its invocation's index).
    pub fn to_json(&self, name: impl Fn(TxnId) -> u64) -> Value {
        let mut out = serde_json::Map::new();
        for (kind, (_, list)) in &self.by_type {
            let examples: Vec<Value> = list
                .iter()
                .map(|a| {
                    let mut v = json!({
                        "ops": a.txns.iter().map(|&t| name(t)).collect::<Vec<_>>(),
                        "explanation": a.lines,
                    });
                    if let (Value::Object(m), Value::Object(extra)) = (&mut v, &a.data) {
                        m.extend(extra.clone());
                    }
                    v
                })
                .collect();
            out.insert(kind.to_string(), Value::Array(examples));
        }
        Value::Object(out)
    }
}
