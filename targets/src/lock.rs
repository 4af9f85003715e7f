//! The lock-service state machine on Raft: named locks with leases and
//! strictly increasing fencing tokens (the log index of the grant).
//!
//! Lease time is never put in the log (clocks differ between nodes). Instead the
//! leader keeps a local timer per lock, restarted whenever it applies a grant or
//! renewal, and on election restarted for every lock: a new leader waits a full
//! lease (plus a margin) before it grants a held lock to anyone else. A grant
//! carries the lock's version (index of its last grant/renewal) and applies
//! only if the version is unchanged, so a renewal racing a takeover wins.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::raft::{Admit, StateMachine};
use crate::wire::{Outcome, Request};

pub const BUG_NO_FENCING: &str = "no-fencing";
pub const BUG_LEASE_BY_LOCAL_CLOCK: &str = "lease-by-local-clock";

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
struct LockState {
    holder: Option<String>,
    token: u64,
    lease_ms: u64,
    /// Index of the last grant, renewal or release.
    version: u64,
}

pub struct Locks {
    locks: BTreeMap<String, LockState>,
    /// Leader-local lease timers: when this node last saw the lease (re)start.
    timers: HashMap<String, Instant>,
    /// The same moments by this node's wall clock, which the
    /// lease-by-local-clock bug judges leases by.
    wall_timers: HashMap<String, SystemTime>,
    no_fencing: bool,
    lease_by_local_clock: bool,
}

impl Locks {
    pub fn new(bugs: &[String]) -> Self {
        Locks {
            locks: BTreeMap::new(),
            timers: HashMap::new(),
            wall_timers: HashMap::new(),
            no_fencing: bugs.iter().any(|b| b == BUG_NO_FENCING),
            lease_by_local_clock: bugs.iter().any(|b| b == BUG_LEASE_BY_LOCAL_CLOCK),
        }
    }

    /// Has the lease on `key` certainly expired by this node's timer?
    /// The margin covers the gap between the client's and the leader's start of the lease.
    fn expired(&self, key: &str, lease_ms: u64, now: Instant) -> bool {
        let margin = lease_ms / 4 + 20;
        if self.lease_by_local_clock {
            // BUG lease-by-local-clock: the lease is timed by the wall clock
            // (SystemTime, which NTP or an operator may step) instead of the
            // monotonic clock; a node whose clock jumps ahead sees a lease
            // that is still running as expired.
            return match self.wall_timers.get(key) {
                Some(t) => SystemTime::now()
                    .duration_since(*t)
                    .is_ok_and(|d| d >= Duration::from_millis(lease_ms + margin)),
                None => true,
            };
        }
        match self.timers.get(key) {
            Some(t) => now.duration_since(*t) >= Duration::from_millis(lease_ms + margin),
            None => true,
        }
    }
}

impl Locks {
    /// (Re)start the lease timer of `key`, by both clocks.
    fn start_timer(&mut self, key: String, now: Instant) {
        self.wall_timers.insert(key.clone(), SystemTime::now());
        self.timers.insert(key, now);
    }
}

fn field<'a>(req: &'a Request, name: &str) -> Option<&'a Value> {
    req.value.get(name)
}

impl StateMachine for Locks {
    fn admit(&mut self, req: &Request, leader: bool, now: Instant) -> Admit {
        let Some(key) = req.key.clone() else {
            return Admit::Answer(Outcome::fail("bad-request"));
        };
        let Some(holder) = field(req, "holder")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return Admit::Answer(Outcome::fail("bad-request"));
        };
        let state = self.locks.get(&key).cloned().unwrap_or_default();
        let held_by =
            |h: &str, t: Option<u64>| state.holder.as_deref() == Some(h) && t == Some(state.token);
        match req.f.as_str() {
            "acquire" => {
                let Some(lease_ms) = field(req, "lease_ms")
                    .and_then(Value::as_u64)
                    .filter(|l| *l > 0)
                else {
                    return Admit::Answer(Outcome::fail("bad-request"));
                };
                if !leader {
                    return Admit::Append(Value::Null); // answered not-leader by Raft
                }
                if state.holder.is_some() && !self.expired(&key, state.lease_ms, now) {
                    return Admit::Answer(Outcome::fail("held"));
                }
                Admit::Append(json!({"op": "grant", "key": key, "holder": holder,
                    "lease_ms": lease_ms, "expect_version": state.version}))
            }
            "renew" => {
                let token = field(req, "token").and_then(Value::as_u64);
                if self.lease_by_local_clock
                    && held_by(&holder, token)
                    && !self.expired(&key, state.lease_ms, now)
                {
                    // BUG lease-by-local-clock: the node that receives the renewal
                    // trusts its own copy of the lock and its own clock, and extends
                    // the lease locally without a log round or leadership check.
                    self.start_timer(key, now);
                    return Admit::Answer(Outcome::ok(
                        json!({"token": state.token, "lease_ms": state.lease_ms}),
                    ));
                }
                if !leader {
                    return Admit::Append(Value::Null);
                }
                if !held_by(&holder, token) || self.expired(&key, state.lease_ms, now) {
                    return Admit::Answer(Outcome::fail("lease-lost"));
                }
                Admit::Append(json!({"op": "renew", "key": key, "holder": holder, "token": token}))
            }
            "release" => {
                let token = field(req, "token").and_then(Value::as_u64);
                Admit::Append(
                    json!({"op": "release", "key": key, "holder": holder, "token": token}),
                )
            }
            _ => Admit::Answer(Outcome::fail("unknown-op")),
        }
    }

    fn is_query(&self, req: &Request) -> bool {
        req.f == "read"
    }

    fn query(&self, req: &Request) -> Outcome {
        let key = req.key.as_deref().unwrap_or_default();
        match self.locks.get(key) {
            Some(s) if s.holder.is_some() => {
                Outcome::ok(json!({"holder": s.holder, "token": s.token}))
            }
            _ => Outcome::ok(Value::Null),
        }
    }

    fn apply(&mut self, index: u64, cmd: &Value, now: Instant) -> Outcome {
        let key = cmd["key"].as_str().unwrap_or_default().to_string();
        let holder = cmd["holder"].as_str().map(str::to_string);
        let state = self.locks.entry(key.clone()).or_default();
        match cmd["op"].as_str() {
            Some("grant") => {
                if cmd["expect_version"].as_u64() != Some(state.version) {
                    return Outcome::fail("held");
                }
                // BUG no-fencing: a takeover of a held lock keeps its token.
                let takeover = state.holder.is_some();
                if !(self.no_fencing && takeover) {
                    state.token = index;
                }
                state.holder = holder;
                state.lease_ms = cmd["lease_ms"].as_u64().unwrap_or(0);
                state.version = index;
                let out = json!({"token": state.token, "lease_ms": state.lease_ms});
                self.start_timer(key, now);
                Outcome::ok(out)
            }
            Some("renew") => {
                if state.holder != holder || cmd["token"].as_u64() != Some(state.token) {
                    return Outcome::fail("lease-lost");
                }
                state.version = index;
                let out = json!({"token": state.token, "lease_ms": state.lease_ms});
                self.start_timer(key, now);
                Outcome::ok(out)
            }
            Some("release") => {
                if state.holder.is_none()
                    || state.holder != holder
                    || cmd["token"].as_u64() != Some(state.token)
                {
                    return Outcome::fail("not-held");
                }
                state.holder = None;
                state.version = index;
                Outcome::done()
            }
            _ => Outcome::fail("unknown-op"),
        }
    }

    fn on_leader(&mut self, now: Instant) {
        if self.no_fencing {
            // BUG no-fencing (part 2): leases granted by earlier leaders are
            // treated as expired instead of being waited out.
            self.timers.clear();
            self.wall_timers.clear();
            return;
        }
        // Leases granted by earlier leaders may still be held: wait them out in full.
        for key in self.locks.keys() {
            self.wall_timers.insert(key.clone(), SystemTime::now());
            self.timers.insert(key.clone(), now);
        }
    }

    fn snapshot(&self) -> Value {
        json!(self.locks)
    }

    fn restore(&mut self, data: &Value) {
        self.locks = serde_json::from_value(data.clone()).unwrap_or_default();
    }
}
