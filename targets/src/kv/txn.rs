//! Transactions on raft-kv: a `txn` request's value is a list of micro-ops,
//! `["append", k, v]` (to a list), `["w", k, v]` (a register),
//! `["incr", k, n]` (adds n to an integer register, null counting as 0; a
//! register it would make negative aborts the whole txn, like a CHECK
//! (balance >= 0) constraint: the bank workload's transfers) and
//! `["r", k, null]` (a list or a register, whichever `k` is). The answer is
//! the same list with the reads filled in.
//!
//! Correctly, a txn is one log entry executed at apply time, so it is atomic
//! and ordered by the log (strict serializable). Three bug switches weaken
//! that, each into a different anomaly class (see targets/README.md):
//! - `txn-split`: the micro-ops run one by one as separate ops through Raft
//!   (the shell drives them), so other txns interleave: not even read-committed.
//! - `txn-stale-reads`: a read-only txn is answered from the local state of
//!   whichever node is asked: serializable, but not strict (real-time order).
//! - `txn-snapshot-isolation`: reads come from the leader's state when the txn
//!   starts, writes commit later unless a key was written since (first
//!   committer wins): snapshot isolation, whose write skew is not serializable.

use serde_json::{json, Value};

use crate::wire::{Outcome, Request};

pub const BUG_TXN_SPLIT: &str = "txn-split";
pub const BUG_TXN_STALE_READS: &str = "txn-stale-reads";
pub const BUG_TXN_SNAPSHOT_ISOLATION: &str = "txn-snapshot-isolation";

/// One micro-op: its kind, the key as the client wrote it, the key as the
/// store names it, and the value (a read's is filled in when it runs).
#[derive(Clone, Debug, PartialEq)]
pub struct Mop {
    pub f: MopKind,
    pub key: Value,
    pub name: String,
    pub value: Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MopKind {
    Append,
    Write,
    Incr,
    Read,
}

impl MopKind {
    fn name(self) -> &'static str {
        match self {
            MopKind::Append => "append",
            MopKind::Write => "w",
            MopKind::Incr => "incr",
            MopKind::Read => "r",
        }
    }
}

/// Reads a txn's micro-ops; an error says which one is wrong and why.
pub fn parse(value: &Value) -> Result<Vec<Mop>, String> {
    let items = value
        .as_array()
        .ok_or("a txn's value must be a list of micro-ops")?;
    let mut mops = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let bad = |why: &str| format!("micro-op {i} {item}: {why}");
        let parts = match item.as_array() {
            Some(p) if p.len() == 3 => p,
            _ => return Err(bad("expected [f, key, value]")),
        };
        let f = match parts[0].as_str() {
            Some("append") => MopKind::Append,
            Some("w") => MopKind::Write,
            Some("incr") => MopKind::Incr,
            Some("r") => MopKind::Read,
            _ => return Err(bad("f must be \"append\", \"w\", \"incr\" or \"r\"")),
        };
        let name = match &parts[1] {
            Value::String(s) => s.clone(),
            Value::Number(n) if n.is_i64() => n.to_string(),
            _ => return Err(bad("the key must be a string or an integer")),
        };
        if f != MopKind::Read && !parts[2].is_i64() {
            return Err(bad("the value written must be an integer"));
        }
        mops.push(Mop {
            f,
            key: parts[1].clone(),
            name,
            value: parts[2].clone(),
        });
    }
    Ok(mops)
}

/// The micro-ops back as the client's list (reads as filled in).
pub fn to_value(mops: &[Mop]) -> Value {
    Value::Array(
        mops.iter()
            .map(|m| json!([m.f.name(), m.key, m.value]))
            .collect(),
    )
}

pub fn has_writes(mops: &[Mop]) -> bool {
    mops.iter().any(|m| m.f != MopKind::Read)
}

/// What a txn runs against: the store itself, or a private view of it.
pub trait Store {
    /// A list (as a JSON array), a register's value, or null for a key never written.
    fn get(&self, key: &str) -> Value;
    fn append(&mut self, key: &str, v: i64);
    fn write(&mut self, key: &str, v: Value);
}

/// Runs `mops` in order against `store`, filling in the reads: a read sees
/// the txn's own earlier writes.
pub fn execute(store: &mut impl Store, mops: &mut [Mop]) {
    for m in mops {
        match m.f {
            MopKind::Append => store.append(&m.name, m.value.as_i64().unwrap_or_default()),
            MopKind::Write => store.write(&m.name, m.value.clone()),
            MopKind::Incr => {
                let sum = incremented(&store.get(&m.name), &m.value).unwrap_or_default();
                store.write(&m.name, json!(sum));
            }
            MopKind::Read => m.value = store.get(&m.name),
        }
    }
}

/// A register's value after `["incr", k, by]`, or why the incr is refused:
/// the value is not an integer, or the sum would be negative.
pub fn incremented(current: &Value, by: &Value) -> Result<i64, String> {
    let now = match current {
        Value::Null => 0,
        v => v.as_i64().ok_or(format!("not-a-number: {v}"))?,
    };
    match now.checked_add(by.as_i64().unwrap_or_default()) {
        Some(sum) if sum >= 0 => Ok(sum),
        _ => Err("negative".into()),
    }
}

/// Why `mops` would abort on `store` (an incr refused), if they would: run
/// on a private view, so the store is untouched either way.
pub fn refusal<S: Store>(store: &S, mops: &[Mop]) -> Option<String> {
    if !mops.iter().any(|m| m.f == MopKind::Incr) {
        return None;
    }
    let mut view = Overlay {
        base: store,
        own: std::collections::BTreeMap::new(),
    };
    for m in mops {
        if m.f == MopKind::Incr {
            if let Err(e) = incremented(&view.get(&m.name), &m.value) {
                return Some(e);
            }
        }
        execute(&mut view, std::slice::from_mut(&mut m.clone()));
    }
    None
}

/// A view of a store that keeps its writes to itself (a txn's reads run on
/// it when they must not change the store).
pub struct Overlay<'a, S> {
    pub base: &'a S,
    pub own: std::collections::BTreeMap<String, Value>,
}

impl<S: Store> Store for Overlay<'_, S> {
    fn get(&self, key: &str) -> Value {
        match self.own.get(key) {
            Some(v) => v.clone(),
            None => self.base.get(key),
        }
    }
    fn append(&mut self, key: &str, v: i64) {
        let mut list = match self.get(key) {
            Value::Array(a) => a,
            _ => Vec::new(),
        };
        list.push(json!(v));
        self.own.insert(key.to_string(), Value::Array(list));
    }
    fn write(&mut self, key: &str, v: Value) {
        self.own.insert(key.to_string(), v);
    }
}

/// `txn-split`: the single ops a txn's micro-ops become.
pub fn split(req: &Request) -> Option<Vec<Request>> {
    let mops = parse(&req.value).ok()?;
    Some(
        mops.into_iter()
            .map(|m| Request {
                id: req.id.clone(),
                f: match m.f {
                    MopKind::Append => "append",
                    MopKind::Write => "write",
                    MopKind::Incr => "incr",
                    MopKind::Read => "read",
                }
                .into(),
                key: Some(m.name),
                value: if m.f == MopKind::Read {
                    Value::Null
                } else {
                    m.value
                },
            })
            .collect(),
    )
}

/// `txn-split`: the txn's answer from its parts' outcomes, in order. A
/// refusal of the first part refused the whole txn; any later trouble leaves
/// some parts done, so the outcome is unknown.
pub fn join(req: &Request, outcomes: Vec<Outcome>) -> Outcome {
    let Ok(mut mops) = parse(&req.value) else {
        return Outcome::fail("bad-request");
    };
    let complete = outcomes.len() == mops.len();
    for (i, (m, o)) in mops.iter_mut().zip(outcomes).enumerate() {
        match o {
            Outcome::Ok(v) if m.f == MopKind::Read => m.value = v.unwrap_or(Value::Null),
            Outcome::Ok(_) => {}
            fail @ Outcome::Fail { .. } if i == 0 => return fail,
            _ => return Outcome::info("txn-split-partial"),
        }
    }
    if !complete {
        return Outcome::info("txn-split-partial");
    }
    Outcome::ok(to_value(&mops))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_micro_ops_are_named() {
        let e = parse(&json!([["r", 1, null], ["x", 1, 2]])).unwrap_err();
        assert!(e.starts_with("micro-op 1 [\"x\",1,2]"), "{e}");
        let e = parse(&json!([["append", 1, "a"]])).unwrap_err();
        assert!(e.contains("integer"), "{e}");
        assert!(parse(&json!({"r": 1})).is_err());
        let m = parse(&json!([["w", "k", 3], ["r", 7, null]])).unwrap();
        assert_eq!((m[0].name.as_str(), m[1].name.as_str()), ("k", "7"));
        assert_eq!(to_value(&m), json!([["w", "k", 3], ["r", 7, null]]));
    }

    #[test]
    fn split_parts_join_back_with_their_reads() {
        let req = Request {
            id: json!(4),
            f: "txn".into(),
            key: None,
            value: json!([["append", 1, 5], ["r", 1, null]]),
        };
        let parts = split(&req).unwrap();
        assert_eq!(parts[0].f, "append");
        assert_eq!(parts[1].f, "read");
        assert_eq!(parts[1].key.as_deref(), Some("1"));
        let ok = join(&req, vec![Outcome::done(), Outcome::ok(json!([5]))]);
        assert_eq!(ok, Outcome::ok(json!([["append", 1, 5], ["r", 1, [5]]])));
        let refused = join(&req, vec![Outcome::not_leader(Some("n2".into()))]);
        assert_eq!(refused, Outcome::not_leader(Some("n2".into())));
        let partial = join(&req, vec![Outcome::done(), Outcome::fail("not-leader")]);
        assert_eq!(partial, Outcome::info("txn-split-partial"));
    }
}
