//! The raft-kv state machine: independent registers (read, write, cas),
//! grow-only integer sets (add; read returns the sorted elements), lists
//! (append), counters that never go negative (incr) and transactions over
//! lists and registers (txn, see kv/txn.rs).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::{json, Value};

use crate::raft::{Admit, StateMachine};
use crate::wire::{Outcome, Request};

pub mod txn;

/// The txn bug switches this state machine was started with.
#[derive(Clone, Copy, Debug, Default)]
pub struct TxnBugs {
    pub split: bool,
    pub stale_reads: bool,
    pub snapshot_isolation: bool,
}

impl TxnBugs {
    pub fn from_names(names: &[String]) -> Self {
        let on = |n: &str| names.iter().any(|b| b == n);
        TxnBugs {
            split: on(txn::BUG_TXN_SPLIT),
            stale_reads: on(txn::BUG_TXN_STALE_READS),
            snapshot_isolation: on(txn::BUG_TXN_SNAPSHOT_ISOLATION),
        }
    }
}

#[derive(Default)]
pub struct Kv {
    registers: BTreeMap<String, Value>,
    sets: BTreeMap<String, BTreeSet<i64>>,
    lists: BTreeMap<String, Vec<i64>>,
    /// The log index of each txn key's last committed write (first committer
    /// wins under `txn-snapshot-isolation`).
    written_at: BTreeMap<String, u64>,
    /// The index of the last command applied.
    applied: u64,
    bugs: TxnBugs,
}

impl txn::Store for Kv {
    fn get(&self, key: &str) -> Value {
        match self.lists.get(key) {
            Some(list) => json!(list),
            None => self.registers.get(key).cloned().unwrap_or(Value::Null),
        }
    }
    fn append(&mut self, key: &str, v: i64) {
        self.lists.entry(key.to_string()).or_default().push(v);
    }
    fn write(&mut self, key: &str, v: Value) {
        self.registers.insert(key.to_string(), v);
    }
}

impl Kv {
    pub fn new(bugs: TxnBugs) -> Self {
        Kv {
            bugs,
            ..Kv::default()
        }
    }

    /// A txn as the leader takes it: one log entry, or (bugs) an answer now.
    fn admit_txn(&self, req: &Request, leader: bool) -> Admit {
        let mut mops = match txn::parse(&req.value) {
            Ok(m) => m,
            Err(e) => return Admit::Answer(Outcome::fail(&format!("bad-request: {e}"))),
        };
        if self.bugs.stale_reads && !txn::has_writes(&mops) {
            // BUG txn-stale-reads: whichever node is asked answers from what
            // it has applied, without a word to the others.
            txn::execute(&mut self.view(), &mut mops);
            return Admit::Answer(Outcome::ok(txn::to_value(&mops)));
        }
        if self.bugs.snapshot_isolation && leader {
            // BUG txn-snapshot-isolation: the reads run now, on the state as
            // of the last applied entry (the txn's start snapshot); the
            // writes wait for the commit and are checked for conflicts then.
            if let Some(e) = txn::refusal(self, &mops) {
                return Admit::Answer(Outcome::fail(&e));
            }
            txn::execute(&mut self.view(), &mut mops);
            return Admit::Append(json!({
                "f": "txn-si", "start": self.applied, "value": txn::to_value(&mops)
            }));
        }
        Admit::Append(json!({"f": "txn", "value": req.value}))
    }

    fn view(&self) -> txn::Overlay<'_, Kv> {
        txn::Overlay {
            base: self,
            own: BTreeMap::new(),
        }
    }

    fn apply_txn(&mut self, index: u64, cmd: &Value) -> Outcome {
        let Ok(mut mops) = txn::parse(&cmd["value"]) else {
            return Outcome::fail("bad-request");
        };
        let snapshot = cmd["f"] == "txn-si";
        if snapshot {
            let start = cmd["start"].as_u64().unwrap_or_default();
            let conflict = mops.iter().any(|m| {
                m.f != txn::MopKind::Read
                    && self.written_at.get(&m.name).is_some_and(|&w| w > start)
            });
            if conflict {
                return Outcome::fail("conflict");
            }
            // The reads were answered at the start; only the writes run now.
            let mut writes: Vec<_> = mops
                .iter()
                .filter(|m| m.f != txn::MopKind::Read)
                .cloned()
                .collect();
            if let Some(e) = txn::refusal(self, &writes) {
                return Outcome::fail(&e);
            }
            txn::execute(self, &mut writes);
        } else {
            // A refused incr aborts the whole txn: nothing of it is applied.
            if let Some(e) = txn::refusal(self, &mops) {
                return Outcome::fail(&e);
            }
            txn::execute(self, &mut mops);
        }
        for m in mops.iter().filter(|m| m.f != txn::MopKind::Read) {
            self.written_at.insert(m.name.clone(), index);
        }
        Outcome::ok(txn::to_value(&mops))
    }

    fn validate(req: &Request) -> Result<Value, Outcome> {
        let Some(key) = req.key.clone() else {
            return Err(Outcome::fail("bad-request"));
        };
        match req.f.as_str() {
            "write" => Ok(json!({"f": "write", "key": key, "value": req.value})),
            "cas" => match req.value.as_array() {
                Some(pair) if pair.len() == 2 => {
                    Ok(json!({"f": "cas", "key": key, "value": req.value}))
                }
                _ => Err(Outcome::fail("bad-request")),
            },
            "add" | "append" | "incr" => match req.value.as_i64() {
                Some(_) => Ok(json!({"f": req.f, "key": key, "value": req.value})),
                None => Err(Outcome::fail("bad-request")),
            },
            _ => Err(Outcome::fail("unknown-op")),
        }
    }
}

impl StateMachine for Kv {
    fn admit(&mut self, req: &Request, leader: bool, _now: Instant) -> Admit {
        if req.f == "txn" {
            return self.admit_txn(req, leader);
        }
        match Self::validate(req) {
            Ok(cmd) => Admit::Append(cmd),
            Err(o) => Admit::Answer(o),
        }
    }

    fn is_query(&self, req: &Request) -> bool {
        req.f == "read"
    }

    fn query(&self, req: &Request) -> Outcome {
        let Some(key) = req.key.as_deref() else {
            return Outcome::fail("bad-request");
        };
        if let Some(set) = self.sets.get(key) {
            return Outcome::ok(json!(set.iter().collect::<Vec<_>>()));
        }
        Outcome::ok(txn::Store::get(self, key))
    }

    fn split(&self, req: &Request) -> Option<Vec<Request>> {
        // BUG txn-split: the shell runs the parts one by one.
        (self.bugs.split && req.f == "txn")
            .then(|| txn::split(req))
            .flatten()
    }

    fn join(req: &Request, outcomes: Vec<Outcome>) -> Outcome {
        txn::join(req, outcomes)
    }

    fn apply(&mut self, index: u64, cmd: &Value, _now: Instant) -> Outcome {
        self.applied = index;
        if matches!(cmd["f"].as_str(), Some("txn" | "txn-si")) {
            return self.apply_txn(index, cmd);
        }
        let key = cmd["key"].as_str().unwrap_or_default().to_string();
        let value = &cmd["value"];
        match cmd["f"].as_str() {
            Some("write") => {
                self.registers.insert(key, value.clone());
                Outcome::done()
            }
            Some("cas") => {
                let current = self.registers.get(&key).cloned().unwrap_or(Value::Null);
                if current == value[0] {
                    self.registers.insert(key, value[1].clone());
                    Outcome::done()
                } else {
                    Outcome::fail("precondition")
                }
            }
            Some("add") => {
                self.sets
                    .entry(key)
                    .or_default()
                    .insert(value.as_i64().unwrap_or_default());
                Outcome::done()
            }
            Some("append") => {
                txn::Store::append(self, &key, value.as_i64().unwrap_or_default());
                Outcome::done()
            }
            Some("incr") => {
                let current = txn::Store::get(self, &key);
                match txn::incremented(&current, value) {
                    Ok(sum) => {
                        self.registers.insert(key, json!(sum));
                        Outcome::done()
                    }
                    Err(e) => Outcome::fail(&e),
                }
            }
            _ => Outcome::fail("unknown-op"),
        }
    }

    fn snapshot(&self) -> Value {
        json!({
            "registers": self.registers, "sets": self.sets, "lists": self.lists,
            "written_at": self.written_at, "applied": self.applied,
        })
    }

    fn restore(&mut self, data: &Value) {
        let field = |name: &str| data[name].clone();
        self.registers = serde_json::from_value(field("registers")).unwrap_or_default();
        self.sets = serde_json::from_value(field("sets")).unwrap_or_default();
        self.lists = serde_json::from_value(field("lists")).unwrap_or_default();
        self.written_at = serde_json::from_value(field("written_at")).unwrap_or_default();
        self.applied = data["applied"].as_u64().unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(f: &str, key: &str, value: Value) -> Request {
        Request {
            id: json!(1),
            f: f.into(),
            key: Some(key.into()),
            value,
        }
    }

    #[test]
    fn cas_write_add_and_snapshot_round_trip() {
        let mut kv = Kv::default();
        let now = Instant::now();
        let Admit::Append(w) = kv.admit(&req("write", "k", json!(5)), true, now) else {
            panic!()
        };
        assert_eq!(kv.apply(1, &w, now), Outcome::done());
        let Admit::Append(c) = kv.admit(&req("cas", "k", json!([4, 6])), true, now) else {
            panic!()
        };
        assert_eq!(kv.apply(2, &c, now), Outcome::fail("precondition"));
        let Admit::Append(c) = kv.admit(&req("cas", "k", json!([5, 6])), true, now) else {
            panic!()
        };
        assert_eq!(kv.apply(3, &c, now), Outcome::done());
        for v in [3, 1, 3] {
            let Admit::Append(a) = kv.admit(&req("add", "s", json!(v)), true, now) else {
                panic!()
            };
            kv.apply(4, &a, now);
        }
        let mut copy = Kv::default();
        copy.restore(&kv.snapshot());
        assert_eq!(
            copy.query(&req("read", "k", Value::Null)),
            Outcome::ok(json!(6))
        );
        assert_eq!(
            copy.query(&req("read", "s", Value::Null)),
            Outcome::ok(json!([1, 3]))
        );
        assert_eq!(
            copy.query(&req("read", "x", Value::Null)),
            Outcome::ok(Value::Null)
        );
        assert!(matches!(
            kv.admit(&req("cas", "k", json!(1)), true, now),
            Admit::Answer(_)
        ));
    }

    fn txn(value: Value) -> Request {
        Request {
            id: json!(1),
            f: "txn".into(),
            key: None,
            value,
        }
    }

    fn append(kv: &mut Kv, index: u64, req: &Request) -> Outcome {
        let now = Instant::now();
        match kv.admit(req, true, now) {
            Admit::Append(cmd) => kv.apply(index, &cmd, now),
            Admit::Answer(o) => o,
        }
    }

    #[test]
    fn a_txn_is_one_entry_and_reads_its_own_writes() {
        let mut kv = Kv::default();
        let t = txn(json!([
            ["append", 1, 5],
            ["r", 1, null],
            ["w", 2, 7],
            ["r", 2, null]
        ]));
        let Admit::Append(cmd) = kv.admit(&t, true, Instant::now()) else {
            panic!("a txn goes through the log");
        };
        assert_eq!(
            kv.query(&req("read", "1", Value::Null)),
            Outcome::ok(Value::Null)
        );
        assert_eq!(
            kv.apply(1, &cmd, Instant::now()),
            Outcome::ok(json!([
                ["append", 1, 5],
                ["r", 1, [5]],
                ["w", 2, 7],
                ["r", 2, 7]
            ]))
        );
        let mut copy = Kv::default();
        copy.restore(&kv.snapshot());
        assert_eq!(
            append(
                &mut copy,
                2,
                &txn(json!([["append", 1, 6], ["r", 1, null]]))
            ),
            Outcome::ok(json!([["append", 1, 6], ["r", 1, [5, 6]]]))
        );
        let Admit::Answer(Outcome::Fail { error, .. }) =
            kv.admit(&txn(json!([["r", 1]])), true, Instant::now())
        else {
            panic!("a malformed txn is refused");
        };
        assert!(error.contains("micro-op 0"), "{error}");
    }

    #[test]
    fn an_incr_that_would_go_negative_aborts_the_whole_txn() {
        let mut kv = Kv::default();
        let setup = txn(json!([["w", 0, 10], ["w", 1, 10]]));
        append(&mut kv, 1, &setup);
        let transfer = |n: i64| txn(json!([["incr", 0, -n], ["incr", 1, n]]));
        assert_eq!(
            append(&mut kv, 2, &transfer(4)),
            Outcome::ok(json!([["incr", 0, -4], ["incr", 1, 4]]))
        );
        // 6 left in account 0: a transfer of 7 is refused, and its credit
        // to account 1 is not applied either.
        assert_eq!(append(&mut kv, 3, &transfer(7)), Outcome::fail("negative"));
        let read = txn(json!([["r", 0, null], ["r", 1, null], ["r", 2, null]]));
        assert_eq!(
            append(&mut kv, 4, &read),
            Outcome::ok(json!([["r", 0, 6], ["r", 1, 14], ["r", 2, null]]))
        );
        // As a single op (txn-split's parts), the same rule.
        let now = Instant::now();
        let Admit::Append(cmd) = kv.admit(&req("incr", "0", json!(-7)), true, now) else {
            panic!()
        };
        assert_eq!(kv.apply(5, &cmd, now), Outcome::fail("negative"));
        assert_eq!(
            append(&mut kv, 6, &txn(json!([["incr", 2, 3]]))),
            Outcome::ok(json!([["incr", 2, 3]]))
        );
    }

    #[test]
    fn snapshot_isolation_reads_the_start_and_the_first_committer_wins() {
        let mut kv = Kv::new(TxnBugs::from_names(&[
            txn::BUG_TXN_SNAPSHOT_ISOLATION.into()
        ]));
        let now = Instant::now();
        let admit = |kv: &mut Kv, v: Value| match kv.admit(&txn(v), true, now) {
            Admit::Append(cmd) => cmd,
            Admit::Answer(o) => panic!("{o:?}"),
        };
        // Both start from the same snapshot: the second writer of x loses,
        // the writer of y alone wins though x changed under its read (skew).
        let a = admit(&mut kv, json!([["r", "x", null], ["append", "x", 1]]));
        let b = admit(&mut kv, json!([["r", "x", null], ["append", "x", 2]]));
        let c = admit(&mut kv, json!([["r", "x", null], ["append", "y", 3]]));
        assert_eq!(
            kv.apply(1, &a, now),
            Outcome::ok(json!([["r", "x", null], ["append", "x", 1]]))
        );
        assert_eq!(kv.apply(2, &b, now), Outcome::fail("conflict"));
        assert_eq!(
            kv.apply(3, &c, now),
            Outcome::ok(json!([["r", "x", null], ["append", "y", 3]]))
        );
        assert_eq!(
            kv.query(&req("read", "x", Value::Null)),
            Outcome::ok(json!([1]))
        );
    }

    #[test]
    fn stale_reads_answer_read_only_txns_anywhere_and_split_splits() {
        let mut kv = Kv::new(TxnBugs::from_names(&[
            txn::BUG_TXN_STALE_READS.into(),
            txn::BUG_TXN_SPLIT.into(),
        ]));
        let read = txn(json!([["r", 1, null]]));
        let Admit::Answer(o) = kv.admit(&read, false, Instant::now()) else {
            panic!("answered by a follower");
        };
        assert_eq!(o, Outcome::ok(json!([["r", 1, null]])));
        let write = txn(json!([["append", 1, 1], ["r", 1, null]]));
        assert!(matches!(
            kv.admit(&write, false, Instant::now()),
            Admit::Append(_)
        ));
        assert_eq!(kv.split(&write).map(|p| p.len()), Some(2));
        assert!(Kv::default().split(&write).is_none());
    }
}
