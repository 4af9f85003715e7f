//! The dispatcher as a state machine on the bundled Raft, without IO.
//!
//! Replicated (every change goes through the log): the tasks, each with its
//! current assignment (worker and epoch) and whether it is done; the results
//! of done tasks not yet taken; the last epoch handed out; completions per
//! worker. Leader-local (never in the log, rebuilt on election): when each
//! worker last polled, and assignments proposed but not yet applied.
//!
//! - `enqueue v` appends `submit`; the task waits unassigned.
//! - Every tick the leader proposes `assign` for each task that is
//!   unassigned or held by a worker that has not polled for
//!   [`WORKER_TIMEOUT`], to the live worker with the fewest open tasks. An
//!   assign carries the epoch it replaces and applies only if that is still
//!   the task's epoch; applied, it gives the task a new, larger epoch.
//! - A worker polls (its heartbeat) and gets its open assignments; it
//!   reports a completion with the epoch it was given. `complete` applies
//!   only if that epoch is the task's current one and the task is not done
//!   (fencing): the result is recorded once, and a worker whose task was
//!   taken from it cannot record it again.
//! - `dequeue` appends `take` (the oldest result, or `fail empty`); `drain`
//!   takes every result once no task is open (else `fail not-ready`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{BUG_ACK_BEFORE_REPLICATE, BUG_NO_FENCING};
use crate::raft::{Admit, StateMachine};
use crate::wire::{Outcome, Request};

/// A worker that has not polled the leader for this long is taken for dead
/// and its open tasks are reassigned.
pub const WORKER_TIMEOUT: Duration = Duration::from_millis(1000);
/// An assign not applied after this long is proposed again.
const REPROPOSE: Duration = Duration::from_millis(1000);

/// One task: its value (the client's item) and where it stands.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Task {
    pub value: Value,
    pub worker: Option<String>,
    /// Epoch of the current assignment (0: never assigned).
    pub epoch: u64,
    pub done: bool,
}

/// What the log decides.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Replicated {
    /// By the task value's JSON text.
    pub tasks: BTreeMap<String, Task>,
    /// Values of done tasks not yet taken, oldest first.
    pub results: VecDeque<Value>,
    /// The last epoch handed out.
    pub epoch: u64,
    /// Completions accepted per worker (the load spread).
    pub done_by: BTreeMap<String, u64>,
    /// Tasks taken from a worker that held them (it stopped polling) and
    /// given to another, per worker they were taken from.
    #[serde(default)]
    pub moved_from: BTreeMap<String, u64>,
}

pub struct Dispatcher {
    state: Replicated,
    /// Leader-local: when each worker last polled.
    last_seen: HashMap<String, Instant>,
    /// Leader-local: the load each worker last reported.
    reported: HashMap<String, u64>,
    /// Leader-local: task -> (worker, when) of assigns proposed, not applied.
    proposed: HashMap<String, (String, Instant)>,
    /// BUG ack-before-replicate: submits acknowledged, appended next tick.
    unlogged: Vec<Value>,
    no_fencing: bool,
    ack_before_replicate: bool,
}

fn key_of(v: &Value) -> String {
    v.to_string()
}

impl Dispatcher {
    pub fn new(bugs: &[String]) -> Self {
        Dispatcher {
            state: Replicated::default(),
            last_seen: HashMap::new(),
            reported: HashMap::new(),
            proposed: HashMap::new(),
            unlogged: Vec::new(),
            no_fencing: bugs.iter().any(|b| b == BUG_NO_FENCING),
            ack_before_replicate: bugs.iter().any(|b| b == BUG_ACK_BEFORE_REPLICATE),
        }
    }

    pub fn replicated(&self) -> &Replicated {
        &self.state
    }

    fn live(&self, worker: &str, now: Instant) -> bool {
        self.last_seen
            .get(worker)
            .is_some_and(|t| now.duration_since(*t) < WORKER_TIMEOUT)
    }

    /// Open tasks per worker: applied assignments plus proposed ones.
    fn loads(&self) -> HashMap<&str, u64> {
        let mut load: HashMap<&str, u64> = HashMap::new();
        for (k, t) in &self.state.tasks {
            if t.done || self.proposed.contains_key(k) {
                continue;
            }
            if let Some(w) = &t.worker {
                *load.entry(w).or_default() += 1;
            }
        }
        for (w, _) in self.proposed.values() {
            *load.entry(w).or_default() += 1;
        }
        load
    }

    /// The assignments a worker holds, as `[value, epoch]` pairs.
    fn assignments(&self, worker: &str) -> Value {
        let held: Vec<Value> = self
            .state
            .tasks
            .values()
            .filter(|t| !t.done && t.worker.as_deref() == Some(worker))
            .map(|t| json!([t.value, t.epoch]))
            .collect();
        json!(held)
    }

    /// Tasks per worker (done), the spread max/min over the workers, and
    /// the tasks moved off each worker.
    pub fn stats(&self) -> Value {
        let counts: Vec<u64> = self.state.done_by.values().copied().collect();
        json!({
            "done_by": self.state.done_by,
            "moved_from": self.state.moved_from,
            "max": counts.iter().max(),
            "min": counts.iter().min(),
            "open": self.state.tasks.values().filter(|t| !t.done).count(),
            "results": self.state.results.len(),
        })
    }

    fn apply_complete(&mut self, cmd: &Value) -> Outcome {
        let (Some(key), Some(worker), Some(epoch)) = (
            cmd.get("task").map(key_of),
            cmd["worker"].as_str(),
            cmd["epoch"].as_u64(),
        ) else {
            return Outcome::fail("bad-command");
        };
        let Some(task) = self.state.tasks.get_mut(&key) else {
            return Outcome::fail("unknown-task");
        };
        // The fence: only the current assignment's holder, once.
        let current = !task.done && task.epoch == epoch && task.worker.as_deref() == Some(worker);
        // BUG no-fencing: any worker the task was ever assigned to may
        // record its result, whatever epoch it holds, done or not.
        let accepted = current || (self.no_fencing && epoch >= 1 && epoch <= task.epoch);
        if !accepted {
            return Outcome::fail("stale-assignment");
        }
        task.done = true;
        self.state.results.push_back(task.value.clone());
        *self.state.done_by.entry(worker.to_string()).or_default() += 1;
        self.proposed.remove(&key);
        Outcome::done()
    }

    fn apply_assign(&mut self, cmd: &Value) -> Outcome {
        let (Some(key), Some(worker), Some(from)) = (
            cmd["task"].as_str().map(str::to_string),
            cmd["worker"].as_str(),
            cmd["from"].as_u64(),
        ) else {
            return Outcome::fail("bad-command");
        };
        self.proposed.remove(&key);
        let Some(task) = self.state.tasks.get_mut(&key) else {
            return Outcome::fail("unknown-task");
        };
        if task.done || task.epoch != from {
            return Outcome::fail("superseded");
        }
        self.state.epoch += 1;
        task.epoch = self.state.epoch;
        if let Some(old) = task.worker.replace(worker.to_string()) {
            if old != worker {
                *self.state.moved_from.entry(old).or_default() += 1;
            }
        }
        Outcome::done()
    }
}

impl StateMachine for Dispatcher {
    fn admit(&mut self, req: &Request, leader: bool, now: Instant) -> Admit {
        if !leader {
            // Whatever was acknowledged but not appended is gone with the lead.
            self.unlogged.clear();
            // The core answers not-leader, naming the leader it knows.
            return Admit::Append(Value::Null);
        }
        match req.f.as_str() {
            "enqueue" => {
                let cmd = json!({"op": "submit", "task": req.value});
                if self.ack_before_replicate {
                    // BUG ack-before-replicate: acknowledged now, appended at
                    // the next tick; a leader that loses its lead (or dies)
                    // first drops it, and one cut off from the majority
                    // appends it to a log that will be overwritten.
                    self.unlogged.push(cmd);
                    return Admit::Answer(Outcome::ok(req.value.clone()));
                }
                Admit::Append(cmd)
            }
            "dequeue" => Admit::Append(json!({"op": "take"})),
            "drain" => Admit::Append(json!({"op": "drain"})),
            "worker-poll" => {
                let Some(worker) = req.value["worker"].as_str() else {
                    return Admit::Answer(Outcome::fail("worker-poll needs value.worker"));
                };
                self.last_seen.insert(worker.to_string(), now);
                let load = req.value["load"].as_u64().unwrap_or(0);
                self.reported.insert(worker.to_string(), load);
                Admit::Answer(Outcome::ok(json!({"tasks": self.assignments(worker)})))
            }
            "worker-complete" => {
                let v = &req.value;
                Admit::Append(json!({
                    "op": "complete", "task": v["task"], "worker": v["worker"], "epoch": v["epoch"],
                }))
            }
            other => Admit::Answer(Outcome::fail(&format!(
                "unknown op {other:?}; the dispatcher knows enqueue, dequeue, drain, stats"
            ))),
        }
    }

    fn is_query(&self, req: &Request) -> bool {
        req.f == "stats"
    }

    fn query(&self, _req: &Request) -> Outcome {
        let mut s = self.stats();
        s["reported_load"] = json!(self.reported);
        Outcome::ok(s)
    }

    fn apply(&mut self, _index: u64, cmd: &Value, _now: Instant) -> Outcome {
        match cmd["op"].as_str() {
            Some("submit") => {
                let value = cmd["task"].clone();
                self.state.tasks.entry(key_of(&value)).or_insert(Task {
                    value: value.clone(),
                    worker: None,
                    epoch: 0,
                    done: false,
                });
                // The item back, so the history's ack names it.
                Outcome::ok(value)
            }
            Some("assign") => self.apply_assign(cmd),
            Some("complete") => self.apply_complete(cmd),
            Some("take") => match self.state.results.pop_front() {
                Some(v) => Outcome::ok(v),
                None => Outcome::fail("empty"),
            },
            Some("drain") => {
                let open = self.state.tasks.values().filter(|t| !t.done).count();
                if open > 0 {
                    return Outcome::fail(&format!("not-ready: {open} tasks open"));
                }
                Outcome::ok(json!(self.state.results.drain(..).collect::<Vec<_>>()))
            }
            _ => Outcome::fail("bad-command"),
        }
    }

    fn on_leader(&mut self, now: Instant) {
        // A new leader has heard no heartbeats yet: every worker holding a
        // task gets a full timeout before its tasks move.
        self.proposed.clear();
        self.unlogged.clear();
        self.last_seen.clear();
        for t in self.state.tasks.values() {
            if let (false, Some(w)) = (t.done, &t.worker) {
                self.last_seen.insert(w.clone(), now);
            }
        }
    }

    fn propose(&mut self, now: Instant) -> Vec<Value> {
        let mut out = std::mem::take(&mut self.unlogged);
        self.proposed
            .retain(|_, (_, at)| now.duration_since(*at) < REPROPOSE);
        let mut live: Vec<String> = self
            .last_seen
            .keys()
            .filter(|w| self.live(w, now))
            .cloned()
            .collect();
        if live.is_empty() {
            return out;
        }
        live.sort();
        let mut load: HashMap<String, u64> = live.iter().map(|w| (w.clone(), 0)).collect();
        for (w, n) in self.loads() {
            if let Some(l) = load.get_mut(w) {
                *l = n;
            }
        }
        let waiting: Vec<(String, u64)> = self
            .state
            .tasks
            .iter()
            .filter(|(k, t)| {
                !t.done
                    && !self.proposed.contains_key(*k)
                    && t.worker.as_deref().is_none_or(|w| !self.live(w, now))
            })
            .map(|(k, t)| (k.clone(), t.epoch))
            .collect();
        for (key, from) in waiting {
            // Least loaded; ties go to the one that completed fewer.
            let done = |w: &String| self.state.done_by.get(w).copied().unwrap_or(0);
            let Some(w) = live
                .iter()
                .min_by_key(|w| (load[*w], done(w), (*w).clone()))
                .cloned()
            else {
                break;
            };
            *load.get_mut(&w).expect("a live worker") += 1;
            out.push(json!({"op": "assign", "task": key, "worker": w, "from": from}));
            self.proposed.insert(key, (w, now));
        }
        out
    }

    fn snapshot(&self) -> Value {
        serde_json::to_value(&self.state).expect("the dispatcher state encodes")
    }

    fn restore(&mut self, data: &Value) {
        self.state = serde_json::from_value(data.clone()).unwrap_or_default();
        self.proposed.clear();
    }
}
