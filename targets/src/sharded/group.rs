//! A replica group's state machine: registers (read, write, cas) for the keys
//! the ring gives this group, and the two handoff entries (see
//! [`super::handoff`] for the protocol):
//!
//! - `freeze {version: t, ring: R}`: from now on, until `activate t`, keys
//!   that R gives to another group are frozen (ops on them answer
//!   `wrong-group`); the reply carries their data, to be moved;
//! - `activate {version: t, ring: R, data}`: install the keys moved in, hand
//!   the keys moved out to an archive, and serve ring R.
//!
//! Both are idempotent, so a new driver may run the whole handoff again: a
//! `freeze t` once `t` is active answers with the archive of what went out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::ring::{GroupId, Ring};
use super::{BUG_DROP_TRANSFER_WRITES, BUG_STALE_SHARD_READS};
use crate::wire::{Outcome, Request};

pub const F_FREEZE: &str = "freeze";
pub const F_ACTIVATE: &str = "activate";
/// The answer for a key this group does not serve now (the op did not happen).
pub const WRONG_GROUP: &str = "wrong-group";

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupBugs {
    pub stale_shard_reads: bool,
    pub drop_transfer_writes: bool,
}

impl GroupBugs {
    pub fn from_names(names: &[String]) -> Self {
        let on = |n: &str| names.iter().any(|b| b == n);
        GroupBugs {
            stale_shard_reads: on(BUG_STALE_SHARD_READS),
            drop_transfer_writes: on(BUG_DROP_TRANSFER_WRITES),
        }
    }
}

/// A handoff in progress at this group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Frozen {
    version: u64,
    ring: Ring,
    /// BUG drop-transfer-writes: the outgoing keys as of the freeze, which is
    /// what moves (writes taken after it stay behind).
    copy: Option<BTreeMap<String, Value>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Group {
    me: GroupId,
    /// The ring version this group serves, and its ring.
    version: u64,
    ring: Ring,
    frozen: Option<Frozen>,
    data: BTreeMap<String, Value>,
    /// What the last handoff moved out (its version and keys): the answer to
    /// a repeated `freeze`, and (bug) where stale reads come from.
    handed: (u64, BTreeMap<String, Value>),
    bugs: GroupBugs,
}

impl Group {
    pub fn new(me: GroupId, version: u64, ring: Ring, bugs: GroupBugs) -> Self {
        Group {
            me,
            version,
            ring,
            frozen: None,
            data: BTreeMap::new(),
            handed: (0, BTreeMap::new()),
            bugs,
        }
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether this group takes ops on `key` now.
    fn serves(&self, key: &str) -> bool {
        if self.ring.owner(key) != Some(self.me) {
            return false;
        }
        match &self.frozen {
            // BUG drop-transfer-writes: a frozen key still takes ops.
            Some(f) if !self.bugs.drop_transfer_writes => f.ring.owner(key) == Some(self.me),
            _ => true,
        }
    }

    /// A client op as the leader takes it: a log command, or an answer now.
    pub fn admit(&self, req: &Request) -> Result<Value, Outcome> {
        match req.f.as_str() {
            F_FREEZE | F_ACTIVATE => Ok(json!({"f": req.f, "value": req.value})),
            "write" | "cas" => {
                let key = req
                    .key
                    .as_deref()
                    .ok_or_else(|| Outcome::fail("bad-request"))?;
                if req.f == "cas" && req.value.as_array().is_none_or(|p| p.len() != 2) {
                    return Err(Outcome::fail("bad-request"));
                }
                if !self.serves(key) {
                    return Err(Outcome::fail(WRONG_GROUP));
                }
                Ok(json!({"f": req.f, "key": key, "value": req.value}))
            }
            _ => Err(Outcome::fail("unknown-op")),
        }
    }

    /// A read, once the leader knows its state is current.
    pub fn read(&self, key: &str) -> Outcome {
        if self.serves(key) {
            return Outcome::ok(self.data.get(key).cloned().unwrap_or(Value::Null));
        }
        if self.bugs.stale_shard_reads {
            // BUG stale-shard-reads: a key this group froze or handed off is
            // still read here, from what it had.
            if let Some(v) = self.data.get(key).or_else(|| self.handed.1.get(key)) {
                return Outcome::ok(v.clone());
            }
        }
        Outcome::fail(WRONG_GROUP)
    }

    pub fn apply(&mut self, cmd: &Value) -> Outcome {
        match cmd["f"].as_str() {
            Some(F_FREEZE) => self.freeze(&cmd["value"]),
            Some(F_ACTIVATE) => self.activate(&cmd["value"]),
            Some(f @ ("write" | "cas")) => {
                let key = cmd["key"].as_str().unwrap_or_default();
                // Checked again here: a freeze may have been applied since admit.
                if !self.serves(key) {
                    return Outcome::fail(WRONG_GROUP);
                }
                let value = &cmd["value"];
                if f == "write" {
                    self.data.insert(key.to_string(), value.clone());
                    return Outcome::done();
                }
                let current = self.data.get(key).cloned().unwrap_or(Value::Null);
                if current != value[0] {
                    return Outcome::fail("precondition");
                }
                self.data.insert(key.to_string(), value[1].clone());
                Outcome::done()
            }
            _ => Outcome::fail("unknown-op"),
        }
    }

    fn target(v: &Value) -> Option<(u64, Ring)> {
        let version = v["version"].as_u64()?;
        let ring = serde_json::from_value(v["ring"].clone()).ok()?;
        Some((version, ring))
    }

    /// The keys of this group that `ring` gives to another group.
    fn outgoing(&self, ring: &Ring) -> BTreeMap<String, Value> {
        self.data
            .iter()
            .filter(|(k, _)| ring.owner(k) != Some(self.me))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn freeze(&mut self, v: &Value) -> Outcome {
        let Some((t, ring)) = Self::target(v) else {
            return Outcome::fail("bad-request");
        };
        if self.version == t && self.handed.0 == t {
            return Outcome::ok(json!({ "data": self.handed.1 }));
        }
        if self.version == t {
            return Outcome::ok(json!({ "data": {} }));
        }
        if self.version + 1 != t {
            return Outcome::fail(&format!("version-mismatch: at {}", self.version));
        }
        if self.frozen.as_ref().is_none_or(|f| f.version != t) {
            let copy = self.bugs.drop_transfer_writes.then(|| self.outgoing(&ring));
            self.frozen = Some(Frozen {
                version: t,
                ring: ring.clone(),
                copy,
            });
        }
        let f = self.frozen.as_ref().expect("just set");
        let data = f.copy.clone().unwrap_or_else(|| self.outgoing(&f.ring));
        Outcome::ok(json!({ "data": data }))
    }

    fn activate(&mut self, v: &Value) -> Outcome {
        let Some((t, ring)) = Self::target(v) else {
            return Outcome::fail("bad-request");
        };
        if self.version >= t {
            return Outcome::done();
        }
        if self.version + 1 != t {
            return Outcome::fail(&format!("version-mismatch: at {}", self.version));
        }
        let incoming: BTreeMap<String, Value> =
            serde_json::from_value(v["data"].clone()).unwrap_or_default();
        let copy = self.frozen.take().and_then(|f| f.copy);
        let out = self.outgoing(&ring);
        self.data.retain(|k, _| ring.owner(k) == Some(self.me));
        self.data.extend(incoming);
        // What moved: the copy taken at the freeze if that is what was sent.
        self.handed = (t, copy.unwrap_or(out));
        self.version = t;
        self.ring = ring;
        Outcome::done()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(f: &str, key: &str, value: Value) -> Request {
        serde_json::from_value(json!({"id": 1, "f": f, "key": key, "value": value})).unwrap()
    }

    fn write(g: &mut Group, key: &str, v: i64) -> Outcome {
        match g.admit(&req("write", key, json!(v))) {
            Ok(cmd) => g.apply(&cmd),
            Err(o) => o,
        }
    }

    /// A key of `from` that `to` takes under `ring`.
    fn moving_key(old: &Ring, new: &Ring, from: GroupId, to: GroupId) -> String {
        (0..10_000)
            .map(|i| format!("k{i}"))
            .find(|k| old.owner(k) == Some(from) && new.owner(k) == Some(to))
            .expect("some key moves")
    }

    fn step(g: &mut Group, f: &str, t: u64, ring: &Ring, data: Value) -> Outcome {
        g.apply(&json!({"f": f, "value": {"version": t, "ring": ring, "data": data}}))
    }

    fn handoff(bugs: GroupBugs) -> (Group, Group, String) {
        let old = Ring::with_groups(&[1]);
        let new = Ring::with_groups(&[1, 2]);
        let mut a = Group::new(1, 1, old.clone(), bugs);
        let mut b = Group::new(2, 1, old.clone(), bugs);
        let k = moving_key(&old, &new, 1, 2);
        assert_eq!(write(&mut a, &k, 1), Outcome::done());
        assert_eq!(write(&mut b, &k, 9), Outcome::fail(WRONG_GROUP));
        let Outcome::Ok(Some(out)) = step(&mut a, F_FREEZE, 2, &new, Value::Null) else {
            panic!("freeze refused")
        };
        // Taken during the transfer: refused, unless the bug is on.
        let during = write(&mut a, &k, 2);
        assert_eq!(during == Outcome::done(), bugs.drop_transfer_writes);
        // A driver asking twice gets the same data.
        assert_eq!(
            step(&mut a, F_FREEZE, 2, &new, Value::Null),
            Outcome::ok(out.clone())
        );
        step(&mut b, F_FREEZE, 2, &new, Value::Null);
        assert_eq!(
            step(&mut b, F_ACTIVATE, 2, &new, out["data"].clone()),
            Outcome::done()
        );
        assert_eq!(
            step(&mut a, F_ACTIVATE, 2, &new, json!({})),
            Outcome::done()
        );
        assert_eq!(
            step(&mut a, F_FREEZE, 2, &new, Value::Null),
            Outcome::ok(out)
        );
        (a, b, k)
    }

    #[test]
    fn a_handoff_moves_the_key_and_its_value() {
        let (mut a, mut b, k) = handoff(GroupBugs::default());
        assert_eq!(b.read(&k), Outcome::ok(json!(1)));
        assert_eq!(a.read(&k), Outcome::fail(WRONG_GROUP));
        assert_eq!(write(&mut a, &k, 3), Outcome::fail(WRONG_GROUP));
        assert_eq!(write(&mut b, &k, 3), Outcome::done());
        assert_eq!(b.read(&k), Outcome::ok(json!(3)));
        // A repeated activate changes nothing; a skipped version is refused.
        let new = Ring::with_groups(&[1, 2]);
        assert_eq!(
            step(&mut b, F_ACTIVATE, 2, &new, json!({&k: 0})),
            Outcome::done()
        );
        assert_eq!(b.read(&k), Outcome::ok(json!(3)));
        assert!(matches!(
            step(&mut b, F_FREEZE, 4, &new, Value::Null),
            Outcome::Fail { .. }
        ));
        let copy: Group = serde_json::from_value(serde_json::to_value(&b).unwrap()).unwrap();
        assert_eq!(copy, b);
    }

    #[test]
    fn the_bugs_lose_a_transfer_write_and_read_a_handed_key() {
        let (_, b, k) = handoff(GroupBugs {
            drop_transfer_writes: true,
            ..GroupBugs::default()
        });
        // The write of 2 during the transfer was acknowledged, and is gone.
        assert_eq!(b.read(&k), Outcome::ok(json!(1)));
        let (a, mut b, k) = handoff(GroupBugs {
            stale_shard_reads: true,
            ..GroupBugs::default()
        });
        assert_eq!(write(&mut b, &k, 5), Outcome::done());
        assert_eq!(
            a.read(&k),
            Outcome::ok(json!(1)),
            "the old group still answers"
        );
    }
}
