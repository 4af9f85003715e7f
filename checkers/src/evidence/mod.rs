//! Evidence: what each checker found, as a typed struct per checker, written
//! into `results.json` (`details`, tagged by `kind`) and rendered for people
//! by [`render`].
//!
//! Readers match on [`Evidence`] instead of looking keys up in free JSON.
//! A `results.json` written before evidence was typed still loads: its
//! details become [`Evidence::Untyped`].

mod cycles_page;
pub mod html;
mod render;

pub use cycles_page::render_txn_html;
pub use render::{render_html, render_text};

use crate::history::Process;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A checker's evidence.
// One a check, mostly typed: boxing the common variant to shrink the rare
// untyped one would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Evidence {
    Checker(CheckerEvidence),
    /// Details that are not one of the typed kinds: from an older
    /// `results.json`, or `null` when the checker could not run.
    Untyped(Value),
}

impl Default for Evidence {
    fn default() -> Self {
        Evidence::Untyped(Value::Null)
    }
}

/// The typed evidence of each checker, tagged by `kind`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum CheckerEvidence {
    Linearizability(LinearizabilityEvidence),
    Set(SetEvidence),
    Lock(LockEvidence),
    Txn(TxnEvidence),
    Queue(QueueEvidence),
    Bank(BankEvidence),
}

impl From<BankEvidence> for Evidence {
    fn from(e: BankEvidence) -> Self {
        Evidence::Checker(CheckerEvidence::Bank(e))
    }
}

impl From<QueueEvidence> for Evidence {
    fn from(e: QueueEvidence) -> Self {
        Evidence::Checker(CheckerEvidence::Queue(e))
    }
}

impl From<TxnEvidence> for Evidence {
    fn from(e: TxnEvidence) -> Self {
        Evidence::Checker(CheckerEvidence::Txn(e))
    }
}

impl From<LinearizabilityEvidence> for Evidence {
    fn from(e: LinearizabilityEvidence) -> Self {
        Evidence::Checker(CheckerEvidence::Linearizability(e))
    }
}

impl From<SetEvidence> for Evidence {
    fn from(e: SetEvidence) -> Self {
        Evidence::Checker(CheckerEvidence::Set(e))
    }
}

impl From<LockEvidence> for Evidence {
    fn from(e: LockEvidence) -> Self {
        Evidence::Checker(CheckerEvidence::Lock(e))
    }
}

impl Evidence {
    pub fn linearizability(&self) -> Option<&LinearizabilityEvidence> {
        match self {
            Evidence::Checker(CheckerEvidence::Linearizability(e)) => Some(e),
            _ => None,
        }
    }

    pub fn set(&self) -> Option<&SetEvidence> {
        match self {
            Evidence::Checker(CheckerEvidence::Set(e)) => Some(e),
            _ => None,
        }
    }

    pub fn txn(&self) -> Option<&TxnEvidence> {
        match self {
            Evidence::Checker(CheckerEvidence::Txn(e)) => Some(e),
            _ => None,
        }
    }

    pub fn bank(&self) -> Option<&BankEvidence> {
        match self {
            Evidence::Checker(CheckerEvidence::Bank(e)) => Some(e),
            _ => None,
        }
    }

    pub fn queue(&self) -> Option<&QueueEvidence> {
        match self {
            Evidence::Checker(CheckerEvidence::Queue(e)) => Some(e),
            _ => None,
        }
    }

    pub fn lock(&self) -> Option<&LockEvidence> {
        match self {
            Evidence::Checker(CheckerEvidence::Lock(e)) => Some(e),
            _ => None,
        }
    }
}

// ---- transactions -----------------------------------------------------------

/// What the transactional (Elle-style) check found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TxnEvidence {
    /// `list-append` or `rw-register`.
    pub workload: String,
    /// The models checked against.
    pub consistency_models: Vec<String>,
    /// Anomaly names as Elle writes them (`G1c`, `G-single-realtime`, ...),
    /// sorted.
    pub anomaly_types: Vec<String>,
    /// Anomaly name -> examples (capped per type).
    pub anomalies: Value,
    /// Anomaly name -> how many were found.
    pub anomaly_counts: Value,
    /// The weakest models the history rules out.
    pub not: Vec<String>,
    /// The stronger models it rules out with them.
    pub also_not: Vec<String>,
    /// Each anomaly explained, one edge per line.
    pub explanation: String,
    pub stats: TxnStats,
}

/// Sizes of a transactional check.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TxnStats {
    pub txns: usize,
    pub ok: usize,
    pub fail: usize,
    pub info: usize,
    pub edges: usize,
    pub cyclic_components: usize,
}

// ---- bank -----------------------------------------------------------------

/// What the bank check found (checkers/src/bank.rs).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BankEvidence {
    /// The accounts the setup opened, and their total.
    pub accounts: Vec<String>,
    pub total: i64,
    /// Ok reads of the accounts, and how many of them came before the bank
    /// opened (every account null).
    pub reads: usize,
    pub before_setup: usize,
    pub transfers_ok: usize,
    pub transfers_failed: usize,
    /// Transfers that may or may not have happened (`info` or open).
    pub transfers_info: usize,
    pub wrong_total_count: usize,
    /// At most the first 20.
    pub wrong_totals: Vec<BankRead>,
    pub negative_count: usize,
    /// At most the first 20.
    pub negatives: Vec<BankRead>,
}

/// One read of the accounts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BankRead {
    /// Index of its invocation, and of its completion.
    pub op: u64,
    pub completion: u64,
    /// When it completed, ns since the history's start.
    pub time_ns: u64,
    /// Account -> balance read (null: not there).
    pub balances: BTreeMap<String, Value>,
    pub total: i64,
    /// The accounts it read below zero.
    pub negative: Vec<String>,
}

// ---- linearizability ------------------------------------------------------

/// What the linearizability search did, and what it found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LinearizabilityEvidence {
    pub model: String,
    /// Client calls checked.
    pub ops: usize,
    /// Independent parts (keys) searched.
    pub parts: usize,
    pub states_visited: u64,
    pub elapsed_ms: f64,
    /// Set when the history is not linearizable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Box<Counterexample>>,
    /// Set when a budget ran out before the search decided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unfinished: Option<Unfinished>,
}

/// The window around the op that cannot be placed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Counterexample {
    /// The key of the part that failed, for a map of independent keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The op that cannot be placed after the longest linearizable prefix.
    pub failed_op: CallView,
    /// Invocation indexes of that prefix, in linearization order.
    pub linearized: Vec<u64>,
    /// The model's state after the prefix.
    pub state: Value,
    /// The end of the prefix, each op with the state after it.
    pub tail: Vec<CallView>,
    /// Ops concurrent with the failed one (the nearest few).
    pub concurrent: Vec<CallView>,
    /// A few ops of the history that by themselves cannot be linearized
    /// (register models; see `linearizability::witness`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub witness: Option<Witness>,
    /// Why the failed op can never be placed, when the checker knew without
    /// a search (a read of a value nothing wrote).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A minimal witness: ops of the history that cannot be linearized even
/// alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Witness {
    /// What went wrong in the words of the register (a read no write could
    /// explain), when the witness shows it that way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub words: Option<String>,
    /// Invocation indexes of its ops, ascending.
    pub ops: Vec<u64>,
    /// Its ops, as the evidence shows them (open: its completion came after
    /// the point the witness is cut at, so it may or may not take effect).
    pub calls: Vec<CallView>,
    /// How long the shrinking took.
    pub elapsed_ms: f64,
}

/// One client call as the evidence shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CallView {
    /// Index of the invoke line.
    pub index: u64,
    /// Index of the completion line, if it completed.
    #[serde(default)]
    pub completion: Option<u64>,
    pub process: Process,
    pub f: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default)]
    pub value: Value,
    /// The result of an `ok` completion.
    #[serde(default)]
    pub result: Value,
    /// `ok`, `info` or `open`.
    #[serde(rename = "type")]
    pub outcome: String,
    /// The model's state after this op (ops of the prefix's tail only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Value>,
}

/// Why the search stopped without a verdict, and how far it got.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unfinished {
    /// `timeout`, `memory` or `cancelled`.
    pub reason: String,
    pub parts_unfinished: usize,
    pub ops_placed: u64,
    pub ops_unfinished: usize,
}

// ---- set ------------------------------------------------------------------

/// What became of the elements of one set, or (`keys`) of each of several.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SetEvidence {
    pub attempted: usize,
    pub acknowledged: usize,
    #[serde(default)]
    pub indeterminate: usize,
    #[serde(default)]
    pub failed: usize,
    /// Invocation indexes of the final reads.
    #[serde(default)]
    pub final_reads: Vec<u64>,
    #[serde(default)]
    pub lost: Elements,
    /// The acknowledgements of the lost elements shown (those that were
    /// acknowledged): which op, when, and which node answered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lost_acks: Vec<SetAck>,
    /// Every lost acknowledged element counted by the node that acknowledged
    /// it (`?` when the client did not know).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lost_acked_by: BTreeMap<String, usize>,
    #[serde(default)]
    pub unexpected: Elements,
    #[serde(default)]
    pub duplicated: Elements,
    #[serde(default)]
    pub failed_but_present: Elements,
    #[serde(default)]
    pub recovered: Elements,
    /// With several sets (keys): each one's evidence; the fields above are
    /// then left empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub keys: BTreeMap<String, SetEvidence>,
}

/// An acknowledged add, as the evidence of a lost element cites it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SetAck {
    pub element: Value,
    /// Index of the add's invoke line.
    pub invoke: u64,
    /// Index of its `ok` completion.
    pub ack: u64,
    /// When the `ok` was recorded, nanoseconds since the run started.
    pub time_ns: u64,
    /// The node that answered, when the client knew it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// Elements of one kind: how many, and the first few.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Elements {
    pub count: usize,
    /// At most the first 50.
    pub shown: Vec<Value>,
}

// ---- queue ----------------------------------------------------------------

/// What became of a queue's items (checkers/src/queue.rs).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueEvidence {
    /// Distinct items some client tried to enqueue.
    pub attempted: usize,
    pub acknowledged: usize,
    pub indeterminate: usize,
    pub failed: usize,
    /// Items returned by ok dequeues and drains, counting repeats.
    pub taken: usize,
    /// Ok drains.
    pub drains: usize,
    /// Dequeues that may have taken one item unseen (`info` or open).
    pub in_doubt_dequeues: usize,
    /// Drains that may have taken any items unseen.
    pub in_doubt_drains: usize,
    pub lost: QueueItems,
    pub duplicated: QueueItems,
    pub unexpected: QueueItems,
    pub recovered: QueueItems,
}

/// Items of one kind: how many, and the first few with their ops.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QueueItems {
    pub count: usize,
    /// At most the first 50.
    pub shown: Vec<QueueItem>,
}

/// One item and the ops that enqueued and took it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueueItem {
    pub value: Value,
    /// Invocation index of its (best) enqueue, if any was attempted.
    pub enqueue: Option<u64>,
    /// Index of that enqueue's `ok` completion: the acknowledgement.
    pub ack: Option<u64>,
    /// Invocation indexes of the dequeues and drains that returned it.
    pub taken_by: Vec<u64>,
}

// ---- lock -----------------------------------------------------------------

/// Leases that overlapped and fencing tokens that did not rise.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LockEvidence {
    pub grants: usize,
    pub holds: usize,
    pub overlap_count: usize,
    /// At most the first 20.
    pub overlaps: Vec<Overlap>,
    pub token_anomaly_count: usize,
    /// At most the first 20.
    pub token_anomalies: Vec<TokenAnomaly>,
}

/// Two holders that both relied on holding the lock at once.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Overlap {
    pub key: String,
    pub first: HoldView,
    pub second: HoldView,
}

/// A stretch of time one holder could rely on holding the lock.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HoldView {
    pub holder: String,
    pub token: i64,
    pub start_ns: u64,
    pub end_ns: u64,
    /// Invocation index of the acquire or renew that began it.
    pub op: u64,
}

/// A fencing-token anomaly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum TokenAnomaly {
    /// A renew answered with another token than the one it renewed.
    RenewChangedToken {
        /// Index of the renew's completion.
        op: u64,
        sent: i64,
        got: i64,
    },
    /// Two acquires were granted the same token.
    TokenGrantedTwice {
        key: String,
        token: i64,
        /// Indexes of the two acquires' completions.
        ops: [u64; 2],
    },
    /// An acquire that returned before another was sent has the larger token.
    TokenNotRising {
        key: String,
        earlier: TokenAt,
        later: TokenAt,
    },
    /// A fenced write was accepted after a grant or write with a higher
    /// token had completed (`write` is the write's completion).
    StaleTokenAccepted {
        key: String,
        write: TokenAt,
        newer: TokenAt,
    },
    /// In the resource's own order (`rev`), a fenced write with a lower
    /// token landed after one with a higher token.
    TokenOrderBroken {
        key: String,
        applied_first: TokenAt,
        applied_later: TokenAt,
    },
}

/// A token and the completion that carried it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenAt {
    pub op: u64,
    pub token: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_evidence_round_trips_and_old_details_still_load() {
        let e: Evidence = SetEvidence {
            attempted: 3,
            lost: Elements {
                count: 1,
                shown: vec![json!(2)],
            },
            ..SetEvidence::default()
        }
        .into();
        let text = serde_json::to_string(&e).unwrap();
        assert!(text.contains("\"kind\":\"set\""), "{text}");
        let back: Evidence = serde_json::from_str(&text).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.set().unwrap().lost.count, 1);

        let old: Evidence = serde_json::from_str(r#"{"failed_op": {"index": 3}}"#).unwrap();
        assert!(matches!(old, Evidence::Untyped(_)));
        assert!(old.linearizability().is_none());
    }
}
