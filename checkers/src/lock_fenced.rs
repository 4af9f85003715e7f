//! Fenced writes: what a resource that checks fencing tokens must never do.
//!
//! A holder that fences its work does not rely on its lease: the resource
//! refuses a write whose token is older than one it has seen, so two
//! holders may both believe they hold the lock and no harm is done. For
//! such holders (completions marked `"fenced": true`) the lock checker
//! judges the writes instead of the beliefs (Kleppmann's "How to do
//! distributed locking", 2016). A fenced write is a `renew` that returned
//! `ok`; it is stale, and the resource wrong to have applied it, when
//!
//! - a grant or an accepted write with a higher token completed before the
//!   write was sent (real time: the resource had been told of the newer
//!   holder, or had applied its write, before the stale one arrived); or
//! - the resource reports where each write landed in its own order
//!   (`"rev"`, e.g. etcd's revision or ZooKeeper's zxid) and a write with a
//!   higher token landed before it.

use crate::evidence::{TokenAnomaly, TokenAt};
use crate::history::Op;
use serde_json::Value;
use std::collections::HashMap;

/// A fenced holder's event that the resource orders by token.
#[derive(Clone, Debug)]
pub(crate) struct Fenced {
    pub key: String,
    pub token: i64,
    /// ns: when its request was sent.
    pub sent: u64,
    /// ns: when it completed.
    pub done: u64,
    /// Index of its completion.
    pub op: u64,
    /// true: an accepted write; false: a grant (it writes nothing).
    pub write: bool,
    /// Where the write landed in the resource's order, when it says.
    pub rev: Option<i64>,
}

impl Fenced {
    /// The grant (`write` false) or accepted write that `inv` and `done`
    /// make, with the resource's order (`"rev"`) where a write says it.
    pub(crate) fn of(key: &str, token: i64, inv: &Op, done: &Op, write: bool) -> Fenced {
        Fenced {
            key: key.to_string(),
            token,
            sent: inv.time,
            done: done.time,
            op: done.index,
            write,
            rev: write
                .then(|| done.value.get("rev").and_then(Value::as_i64))
                .flatten(),
        }
    }
}

/// Stale writes the resource accepted.
pub(crate) fn anomalies(events: &[Fenced]) -> Vec<TokenAnomaly> {
    let mut out = Vec::new();
    let mut by_key: HashMap<&str, Vec<&Fenced>> = HashMap::new();
    for e in events {
        by_key.entry(e.key.as_str()).or_default().push(e);
    }
    let mut keys: Vec<&str> = by_key.keys().copied().collect();
    keys.sort_unstable();
    for key in keys {
        let events = &by_key[key];
        // Real time: sweep the writes by when they were sent, keeping the
        // highest token of every event that completed before.
        let mut by_done: Vec<&&Fenced> = events.iter().collect();
        by_done.sort_by_key(|e| e.done);
        let mut writes: Vec<&&Fenced> = events.iter().filter(|e| e.write).collect();
        writes.sort_by_key(|e| e.sent);
        let mut newest: Option<&Fenced> = None;
        let mut next = 0;
        for w in &writes {
            while next < by_done.len() && by_done[next].done < w.sent {
                let e = *by_done[next];
                if newest.is_none_or(|n| e.token > n.token) {
                    newest = Some(e);
                }
                next += 1;
            }
            if let Some(n) = newest.filter(|n| n.token > w.token) {
                out.push(TokenAnomaly::StaleTokenAccepted {
                    key: key.to_string(),
                    write: at(w),
                    newer: at(n),
                });
            }
        }
        // The resource's order: tokens must not go down along it.
        let mut ordered: Vec<&&Fenced> =
            writes.iter().copied().filter(|w| w.rev.is_some()).collect();
        ordered.sort_by_key(|w| w.rev);
        let mut highest: Option<&Fenced> = None;
        for w in ordered {
            if let Some(h) = highest.filter(|h| h.token > w.token) {
                out.push(TokenAnomaly::TokenOrderBroken {
                    key: key.to_string(),
                    applied_first: at(h),
                    applied_later: at(w),
                });
            } else {
                highest = Some(w);
            }
        }
    }
    out
}

fn at(e: &Fenced) -> TokenAt {
    TokenAt {
        op: e.op,
        token: e.token,
    }
}
