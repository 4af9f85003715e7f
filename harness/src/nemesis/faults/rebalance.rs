//! `rebalance`: add a spare replica group to the ring, or remove one of the
//! ring's groups, hold, and undo it (sharded-kv's admin requests
//! `add-group`/`remove-group`, sent to the node that leads the configuration
//! group; see targets/src/sharded/). Each change makes the target move the
//! shards the ring says must move while the workload runs.
//!
//! A group is added when there is a spare one and the draw says so (or the
//! ring holds a single group), else removed. The heal always returns to the
//! starting layout and waits until the handoff has finished (the ring's
//! `next` is empty), retrying for up to [`HEAL_LIMIT`].
//!
//! Recorded in the history: `start-rebalance` (value: `{"add": g}` or
//! `{"remove": g}` and the groups before), `stop-rebalance` (the undo), and
//! after each a `ring-view` op: the configuration leader's `ring` answer
//! (version, groups, spare, the change under way).

use crate::nemesis::request::ask;
use super::FaultPlan;
use crate::cluster::NodeInfo;
use crate::nemesis::{leader, Stepper, Until};
use anyhow::{anyhow, bail};
use faultline_protocol::{Completion, Request};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub struct Rebalance;

/// How long one change may take to be accepted.
const CHANGE_LIMIT: Duration = Duration::from_secs(10);
/// How long the heal keeps trying to restore the starting layout.
const HEAL_LIMIT: Duration = Duration::from_secs(30);

impl FaultPlan for Rebalance {
    fn run(&self, s: &Stepper, hold: Duration, rng: &mut ChaCha8Rng, until: &Until) {
        let nodes = s.cluster.nodes().to_vec();
        // Draws first, from the seeded stream only, whatever the nodes say.
        let pick = rng.gen_range(0..1024usize);
        let add_first = rng.gen_bool(0.5);

        let Ok(view) = ring(&nodes, Instant::now() + CHANGE_LIMIT) else {
            (s.log)("nemesis rebalance: no node answered the ring request");
            return;
        };
        let ids = |k: &str| -> Vec<u64> {
            view[k]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default()
        };
        let (groups, spare) = (ids("groups"), ids("spare"));
        let (f, undo, g) = if !spare.is_empty() && (add_first || groups.len() <= 1) {
            ("add-group", "remove-group", spare[pick % spare.len()])
        } else if groups.len() > 1 {
            ("remove-group", "add-group", groups[pick % groups.len()])
        } else {
            (s.log)(&format!("nemesis rebalance: nothing to change in {view}"));
            return;
        };
        let verb = if f == "add-group" { "add" } else { "remove" };
        let done = std::cell::Cell::new(false);
        s.step(
            "start-rebalance",
            json!({verb: g, "groups": groups}),
            |_| {
                change(&nodes, f, g, Instant::now() + CHANGE_LIMIT)?;
                done.set(true);
                Ok(())
            },
        );
        record_view(s, &nodes);
        until.sleep(hold);
        if !done.get() {
            return;
        }
        let undo_verb = if undo == "add-group" { "add" } else { "remove" };
        s.step("stop-rebalance", json!({undo_verb: g}), |_| {
            let end = Instant::now() + HEAL_LIMIT;
            change(&nodes, undo, g, end)?;
            settled(&nodes, &groups, end)
        });
        record_view(s, &nodes);
    }
}

/// Records the configuration leader's view of the ring as a `ring-view` op.
fn record_view(s: &Stepper, nodes: &[NodeInfo]) {
    let view = ring(nodes, Instant::now() + Duration::from_secs(3)).unwrap_or(Value::Null);
    s.step("ring-view", view, |_| Ok(()));
}

/// Waits until the ring holds `groups` with no change under way.
fn settled(nodes: &[NodeInfo], groups: &[u64], end: Instant) -> anyhow::Result<()> {
    loop {
        let view = ring(nodes, end)?;
        if view["next"].is_null() && view["groups"] == json!(groups) {
            return Ok(());
        }
        if Instant::now() >= end {
            bail!("the ring did not return to {groups:?}: {view}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The configuration group's `ring` answer, from its leader.
fn ring(nodes: &[NodeInfo], end: Instant) -> anyhow::Result<Value> {
    ask_leader(nodes, "ring", Value::Null, end)
}

/// Asks for one change, retrying while an earlier one is under way (or there
/// is no leader) until `end`.
fn change(nodes: &[NodeInfo], f: &str, g: u64, end: Instant) -> anyhow::Result<()> {
    ask_leader(nodes, f, json!(g), end).map(|_| ())
}

/// One request to the node that leads the configuration group, retried on
/// the answers retrying can fix until `end`.
fn ask_leader(nodes: &[NodeInfo], f: &str, value: Value, end: Instant) -> anyhow::Result<Value> {
    let req = Request {
        f: f.into(),
        key: None,
        value,
    };
    let mut last: String;
    loop {
        let st = leader::statuses(nodes);
        let to = leader::leader(&st).unwrap_or(0);
        match ask(&nodes[to].client_addr, &req, Duration::from_secs(3)) {
            Some(Completion::Ok { value }) => return Ok(value),
            Some(Completion::Fail { error }) => match error.as_str() {
                "not-leader" | "change-in-progress" => last = error,
                _ => bail!("{f}: {} refused: {error}", nodes[to].name),
            },
            // Unknown: asking again is harmless (a change already made or
            // under way is answered ok).
            Some(Completion::Info { error }) => last = error,
            None => last = format!("{} did not answer", nodes[to].name),
        }
        if Instant::now() >= end {
            return Err(anyhow!("{f}: not done in time (last answer: {last})"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
