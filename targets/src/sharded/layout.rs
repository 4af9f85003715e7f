//! The configuration group's state machine: the ring in force, its version,
//! and at most one change under way (`next`: the version and ring the
//! handoff is moving to).
//!
//! ```text
//! -> {"id":1,"f":"add-group","value":4}      <- ok once the change is logged
//! -> {"id":2,"f":"remove-group","value":2}   <- fail change-in-progress (retry)
//! -> {"id":3,"f":"ring"}     <- ok {"version":3,"groups":[1,3,4],"spare":[2],"next":null}
//! ```
//!
//! The change becomes the ring in force with `commit-ring` (sent by the
//! handoff driver once every group serves it).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::ring::{GroupId, Ring};
use crate::wire::{Outcome, Request};

pub const F_ADD: &str = "add-group";
pub const F_REMOVE: &str = "remove-group";
pub const F_COMMIT: &str = "commit-ring";
pub const F_RING: &str = "ring";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Layout {
    pub version: u64,
    pub ring: Ring,
    pub next: Option<(u64, Ring)>,
    /// The replica groups that exist (ids 1..=groups); a change names one.
    groups: GroupId,
}

impl Layout {
    pub fn new(ring: Ring, groups: GroupId) -> Self {
        Layout {
            version: 1,
            ring,
            next: None,
            groups,
        }
    }

    pub fn admit(&self, req: &Request) -> Result<Value, Outcome> {
        match req.f.as_str() {
            F_ADD | F_REMOVE => match req.value.as_u64() {
                Some(g) if (1..=self.groups as u64).contains(&g) => {
                    Ok(json!({"f": req.f, "value": g}))
                }
                _ => Err(Outcome::fail(&format!(
                    "bad-request: {} takes a group id 1..={}",
                    req.f, self.groups
                ))),
            },
            F_COMMIT => Ok(json!({"f": F_COMMIT, "value": req.value})),
            _ => Err(Outcome::fail("unknown-op")),
        }
    }

    /// What `ring` answers (and what a node routes by).
    pub fn view(&self) -> Value {
        let spare: Vec<GroupId> = (1..=self.groups)
            .filter(|&g| !self.ring.contains(g))
            .collect();
        json!({
            "version": self.version, "groups": self.ring.groups(), "spare": spare,
            "next": self.next.as_ref().map(|(v, r)| json!({"version": v, "groups": r.groups()})),
        })
    }

    pub fn apply(&mut self, cmd: &Value) -> Outcome {
        let arg = cmd["value"].as_u64().unwrap_or_default();
        match cmd["f"].as_str() {
            Some(f @ (F_ADD | F_REMOVE)) => {
                let g = arg as GroupId;
                let add = f == F_ADD;
                if let Some((_, r)) = &self.next {
                    // Asked again after an unknown outcome: already under way.
                    return if r.contains(g) == add {
                        Outcome::done()
                    } else {
                        Outcome::fail("change-in-progress")
                    };
                }
                if self.ring.contains(g) == add {
                    return Outcome::done();
                }
                let mut ring = self.ring.clone();
                if add {
                    ring.add(g);
                } else if self.ring.groups().len() == 1 {
                    return Outcome::fail("last-group");
                } else {
                    ring.remove(g);
                }
                self.next = Some((self.version + 1, ring));
                Outcome::done()
            }
            Some(F_COMMIT) => {
                if let Some((v, r)) = self.next.take_if(|(v, _)| *v == arg) {
                    self.version = v;
                    self.ring = r;
                }
                if self.version >= arg {
                    Outcome::done()
                } else {
                    Outcome::fail("version-mismatch")
                }
            }
            _ => Outcome::fail("unknown-op"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(f: &str, value: Value) -> Request {
        serde_json::from_value(json!({"id": 1, "f": f, "value": value})).unwrap()
    }

    fn run(l: &mut Layout, f: &str, value: Value) -> Outcome {
        match l.admit(&req(f, value)) {
            Ok(cmd) => l.apply(&cmd),
            Err(o) => o,
        }
    }

    #[test]
    fn one_change_at_a_time_until_committed() {
        let mut l = Layout::new(Ring::with_groups(&[1, 2]), 3);
        assert_eq!(run(&mut l, F_ADD, json!(3)), Outcome::done());
        assert_eq!(l.next.as_ref().unwrap().0, 2);
        assert_eq!(run(&mut l, F_ADD, json!(3)), Outcome::done());
        assert_eq!(
            run(&mut l, F_REMOVE, json!(1)),
            Outcome::fail("change-in-progress")
        );
        assert_eq!(run(&mut l, F_COMMIT, json!(2)), Outcome::done());
        assert_eq!(l.version, 2);
        assert_eq!(l.view()["groups"], json!([1, 2, 3]));
        assert_eq!(run(&mut l, F_COMMIT, json!(2)), Outcome::done());
        assert!(matches!(run(&mut l, F_ADD, json!(4)), Outcome::Fail { .. }));
        assert_eq!(run(&mut l, F_REMOVE, json!(2)), Outcome::done());
        assert_eq!(run(&mut l, F_COMMIT, json!(3)), Outcome::done());
        assert_eq!(run(&mut l, F_REMOVE, json!(1)), Outcome::done());
        assert_eq!(run(&mut l, F_COMMIT, json!(4)), Outcome::done());
        assert_eq!(run(&mut l, F_REMOVE, json!(3)), Outcome::fail("last-group"));
    }
}
