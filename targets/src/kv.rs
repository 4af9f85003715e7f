//! The raft-kv state machine: independent registers (read, write, cas) and
//! grow-only integer sets (add; read returns the sorted elements).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use serde_json::{json, Value};

use crate::raft::{Admit, StateMachine};
use crate::wire::{Outcome, Request};

#[derive(Default)]
pub struct Kv {
    registers: BTreeMap<String, Value>,
    sets: BTreeMap<String, BTreeSet<i64>>,
}

impl Kv {
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
            "add" => match req.value.as_i64() {
                Some(_) => Ok(json!({"f": "add", "key": key, "value": req.value})),
                None => Err(Outcome::fail("bad-request")),
            },
            _ => Err(Outcome::fail("unknown-op")),
        }
    }
}

impl StateMachine for Kv {
    fn admit(&mut self, req: &Request, _leader: bool, _now: Instant) -> Admit {
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
        Outcome::ok(self.registers.get(key).cloned().unwrap_or(Value::Null))
    }

    fn apply(&mut self, _index: u64, cmd: &Value, _now: Instant) -> Outcome {
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
            _ => Outcome::fail("unknown-op"),
        }
    }

    fn snapshot(&self) -> Value {
        json!({"registers": self.registers, "sets": self.sets})
    }

    fn restore(&mut self, data: &Value) {
        self.registers = serde_json::from_value(data["registers"].clone()).unwrap_or_default();
        self.sets = serde_json::from_value(data["sets"].clone()).unwrap_or_default();
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
}
