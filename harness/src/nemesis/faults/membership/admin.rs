//! The admin requests of the `membership` fault: one change retried until a
//! leader takes it, several sent at once without waiting, the voters a
//! leader reports, and the return to a given set of voters.

use crate::cluster::NodeInfo;
use crate::nemesis::leader;
use crate::nemesis::request::{answer, ask, send};
use anyhow::{anyhow, bail};
use faultline_protocol::{Completion, Request};
use serde_json::{json, Value};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub const ADD: &str = "add-member";
pub const REMOVE: &str = "remove-member";

fn request(f: &str, node: &str) -> Request {
    Request {
        f: f.into(),
        key: None,
        value: json!(node),
    }
}

fn describe(c: Option<&Completion>) -> Value {
    match c {
        Some(Completion::Ok { .. }) => json!("ok"),
        Some(Completion::Fail { error }) => json!(format!("fail {error}")),
        Some(Completion::Info { error }) => json!(format!("info {error}")),
        None => json!("no answer"),
    }
}

/// Changes written at once, to every node in `to`, before any is answered.
pub struct Burst {
    sent: Vec<(usize, String, String, Option<TcpStream>)>,
}

impl Burst {
    /// Writes every change in `changes` (`f`, node) to every node of `to`,
    /// one connection each, without waiting for any answer.
    pub fn send(nodes: &[NodeInfo], to: &[usize], changes: &[(&str, String)]) -> Burst {
        let mut sent = Vec::new();
        for &t in to {
            for (f, node) in changes {
                let s = send(
                    &nodes[t].client_addr,
                    &request(f, node),
                    Duration::from_millis(500),
                );
                sent.push((t, f.to_string(), node.clone(), s));
            }
        }
        Burst { sent }
    }

    /// The answers that come by `end`, for the history, and the changes
    /// that some node took (`ok`).
    pub fn answers(self, nodes: &[NodeInfo], end: Instant) -> (Value, Vec<String>) {
        let mut done = Vec::new();
        let list: Vec<Value> = self
            .sent
            .into_iter()
            .map(|(t, f, node, s)| {
                let a = s.and_then(|s| answer(s, end));
                if matches!(a, Some(Completion::Ok { .. })) {
                    done.push(format!("{f} {node}"));
                }
                json!({"to": nodes[t].name, "f": f, "node": node, "answer": describe(a.as_ref())})
            })
            .collect();
        (Value::Array(list), done)
    }
}

/// Asks the leader to make one change, retrying while it is busy (an earlier
/// change not yet committed, a learner still catching up, no leader) until
/// `end`. A refusal that retrying cannot fix is an error at once.
pub fn change(nodes: &[NodeInfo], f: &str, node: &str, end: Instant) -> anyhow::Result<()> {
    let req = request(f, node);
    let mut last = String::from("no node answered");
    while Instant::now() < end {
        let st = leader::statuses(nodes);
        let to = leader::leader(&st).unwrap_or(0);
        match ask(&nodes[to].client_addr, &req, Duration::from_secs(3)) {
            Some(Completion::Ok { .. }) => return Ok(()),
            Some(Completion::Fail { error }) => match error.as_str() {
                "not-leader" | "change-in-progress" | "not-ready" | "catching-up" => last = error,
                _ => bail!("{f} {node}: {} refused: {error}", nodes[to].name),
            },
            // Unknown: the change may have happened; asking again is harmless
            // (a node already in the wanted state is answered ok).
            Some(Completion::Info { error }) => last = error,
            None => last = format!("{} did not answer", nodes[to].name),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(anyhow!("{f} {node}: not done in time (last answer: {last})"))
}

/// The voters the node that leads in the highest term reports, sorted.
pub fn leader_voters(st: &[Option<leader::Status>]) -> Option<Vec<String>> {
    let mut v = st[leader::leader(st)?].as_ref()?.voters.clone()?;
    v.sort();
    Some(v)
}

/// The voters now: the leader's, else any node's, else (a target that does
/// not report voters) every node.
pub fn voters_now(nodes: &[NodeInfo]) -> Vec<String> {
    let st = leader::statuses(nodes);
    leader_voters(&st)
        .or_else(|| {
            let mut v = st.iter().flatten().find_map(|s| s.voters.clone())?;
            v.sort();
            Some(v)
        })
        .unwrap_or_else(|| nodes.iter().map(|n| n.name.clone()).collect())
}

/// Changes the configuration back to `voters`, one change at a time, as the
/// leader sees it, until `end`: adds those missing first, then removes the
/// extra ones.
pub fn restore(nodes: &[NodeInfo], voters: &[String], end: Instant) -> anyhow::Result<()> {
    loop {
        let now = leader_voters(&leader::statuses(nodes));
        let Some(now) = now else {
            if Instant::now() >= end {
                bail!("no leader reported its voters in time");
            }
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        let missing = voters.iter().find(|v| !now.contains(v));
        let extra = now.iter().find(|v| !voters.contains(v));
        match (missing, extra) {
            (None, None) => return Ok(()),
            (Some(n), _) => change(nodes, ADD, n, end)?,
            (None, Some(n)) => change(nodes, REMOVE, n, end)?,
        }
    }
}
