//! The handoff driver. The node that leads the configuration group, when the
//! ring has a change under way (`next`: version t, ring R), moves the shards:
//!
//! 1. `freeze t R` in every replica group (a Raft entry in each): from then on
//!    a group takes no op on a key R gives to another group, and its reply
//!    carries those keys' values;
//! 2. `activate t R data` in every replica group, where `data` is what the
//!    freezes returned for the keys R gives to that group: the group installs
//!    them, archives what went out, and serves R from then on;
//! 3. `commit-ring t` in the configuration group: R is the ring in force.
//!
//! Only keys whose owner differs between the two rings move, and between a
//! key's freeze at its old group and its activation at its new one no group
//! takes an op on it (ops answer `wrong-group` and nodes retry), so every
//! write the old group acknowledged is in the data moved. Every step is
//! idempotent, so a driver that loses its leadership half-way is simply
//! replaced by the next leader's, which runs all three steps again.
//!
//! The op protocol has no client sessions, so there is no dedup table to
//! move with the data (the harness never re-sends an op).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use faultline_protocol::{decode_completion, request_line, Completion, Request};
use serde_json::{json, Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

use super::group::{F_ACTIVATE, F_FREEZE};
use super::layout::F_COMMIT;
use super::ring::{GroupId, Ring};
use super::shell::View;
use super::{CONFIG, GROUPS};

/// How long one step may take before the driver starts over.
const STEP_LIMIT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(50);

struct Driver {
    view: watch::Receiver<View>,
    /// Every node's id and client address (this node's too).
    addrs: BTreeMap<String, String>,
    /// The node last seen leading each group.
    leaders: BTreeMap<GroupId, String>,
}

/// Runs forever: whenever this node leads the configuration group and a
/// change is under way, carry it out.
pub async fn drive(view: watch::Receiver<View>, me: String, addrs: BTreeMap<String, String>) {
    let mut d = Driver {
        view,
        addrs,
        leaders: (CONFIG..=GROUPS).map(|g| (g, me.clone())).collect(),
    };
    loop {
        tokio::time::sleep(POLL).await;
        let v = d.view.borrow().clone();
        let Some((t, ring)) = v.layout.next.filter(|_| v.leads_config) else {
            continue;
        };
        let started = Instant::now();
        match d.handoff(t, &ring).await {
            Ok(()) => {
                tracing::info!(version = t, groups = ?ring.groups(), took = ?started.elapsed(), "handoff done")
            }
            Err(e) => tracing::warn!(version = t, "handoff stopped: {e:#}"),
        }
    }
}

impl Driver {
    async fn handoff(&mut self, t: u64, ring: &Ring) -> anyhow::Result<()> {
        let mut moving: BTreeMap<GroupId, Map<String, Value>> = BTreeMap::new();
        let mut sources = Vec::new();
        for g in 1..=GROUPS {
            let out = self
                .call(g, F_FREEZE, json!({"group": g, "version": t, "ring": ring}))
                .await?;
            if out["data"].as_object().is_some_and(|d| !d.is_empty()) {
                sources.push(g);
            }
            for (k, v) in out["data"].as_object().into_iter().flatten() {
                let to = ring.owner(k).ok_or_else(|| anyhow!("empty ring"))?;
                moving.entry(to).or_default().insert(k.clone(), v.clone());
            }
        }
        // The groups that take keys first: a moved key is served again once
        // its new group activates, whenever its old group does.
        let order = (1..=GROUPS)
            .filter(|g| !sources.contains(g))
            .chain(sources.iter().copied());
        for g in order {
            let data = moving.remove(&g).unwrap_or_default();
            self.call(
                g,
                F_ACTIVATE,
                json!({"group": g, "version": t, "ring": ring, "data": data}),
            )
            .await?;
        }
        self.call(CONFIG, F_COMMIT, json!(t)).await?;
        Ok(())
    }

    /// Has group `g`'s leader take one request, following `not-leader`
    /// hints, until it is answered `ok` or this node stops leading the
    /// configuration group.
    async fn call(&mut self, g: GroupId, f: &str, value: Value) -> anyhow::Result<Value> {
        let req = Request {
            f: f.into(),
            key: None,
            value,
        };
        let end = Instant::now() + STEP_LIMIT;
        let nodes: Vec<String> = self.addrs.keys().cloned().collect();
        let mut last = String::new();
        loop {
            if !self.view.borrow().leads_config {
                bail!("{f} at group {g}: no longer leading the configuration group");
            }
            if Instant::now() >= end {
                bail!("{f} at group {g}: not done in time (last answer: {last})");
            }
            let node = self.leaders[&g].clone();
            let reply = ask(&self.addrs[&node], &req).await;
            let next_node = || {
                let i = nodes.iter().position(|n| *n == node).unwrap_or(0);
                nodes[(i + 1) % nodes.len()].clone()
            };
            match reply {
                Some((Completion::Ok { value }, _)) => return Ok(value),
                Some((Completion::Fail { error }, leader)) if error == "not-leader" => {
                    let hint = leader.filter(|l| self.addrs.contains_key(l) && *l != node);
                    let had_hint = hint.is_some();
                    self.leaders.insert(g, hint.unwrap_or_else(next_node));
                    if !had_hint {
                        tokio::time::sleep(POLL).await;
                    }
                    last = error;
                    continue;
                }
                Some((Completion::Fail { error }, _)) if error.starts_with("version-mismatch") => {
                    bail!("{f} at group {g}: {error}")
                }
                Some((Completion::Fail { error } | Completion::Info { error }, _)) => last = error,
                None => {
                    last = format!("{node} did not answer");
                    self.leaders.insert(g, next_node());
                }
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// One request on a fresh connection: the completion and its leader hint.
async fn ask(addr: &str, req: &Request) -> Option<(Completion, Option<String>)> {
    let io = async {
        let mut s = TcpStream::connect(addr).await.ok()?;
        s.write_all(request_line(1, req).as_bytes()).await.ok()?;
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line).await.ok()?;
        let reply = decode_completion(line.as_bytes()).ok()?;
        Some((reply.completion, reply.leader))
    };
    tokio::time::timeout(Duration::from_secs(3), io)
        .await
        .ok()
        .flatten()
}
