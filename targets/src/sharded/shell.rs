//! One node: a member of every group (configuration group 0 and replica
//! groups 1..=GROUPS), each a [`Core`] with its own data dir (`g<id>/` under
//! the node's), driven by one tokio task as the raft-kv shell drives one:
//! drain a batch of events, make every group's writes durable, then send.
//! Peer messages travel on one connection per peer, tagged with their group.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

use super::group::{GroupBugs, F_ACTIVATE, F_FREEZE};
use super::layout::{self, Layout};
use super::{handoff, route, GroupId, Shard, CONFIG, GROUPS};
use crate::config::NodeConfig;
use crate::raft::{Bugs, Config, Core, Msg, Role};
use crate::raft_storage::RaftStorage;
use crate::server::Event;
use crate::transport::Outbound;
use crate::wire::{Outcome, Request};

type Reply = oneshot::Sender<Outcome>;

/// A Raft message of group `.0`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroupMsg(pub GroupId, pub Msg);

/// What the node's own replica of the configuration group says, for routing
/// and for the handoff driver.
#[derive(Clone, Debug, PartialEq)]
pub struct View {
    pub layout: Layout,
    /// Whether this node leads the configuration group (it drives handoffs).
    pub leads_config: bool,
}

/// An op for group `.0` of this node.
pub type Submit = mpsc::UnboundedSender<(GroupId, Request, Reply)>;

struct Member {
    core: Core<Shard, Reply>,
    store: RaftStorage,
}

/// Serve until the process ends; returns only on a storage failure.
pub async fn run_node(cfg: NodeConfig) -> anyhow::Result<()> {
    let bugs = GroupBugs::from_names(&cfg.bugs);
    let mut members = Vec::new();
    for g in CONFIG..=GROUPS {
        let dir = cfg.data_dir.join(format!("g{g}"));
        std::fs::create_dir_all(&dir)
            .map_err(|e| anyhow::anyhow!("--data-dir {}: cannot create: {e}", dir.display()))?;
        let (store, loaded) = RaftStorage::open(&dir)?;
        let core_cfg = Config {
            id: cfg.id.clone(),
            peers: cfg.peers.iter().map(|(id, _)| id.clone()).collect(),
            election_min: cfg.election_min,
            election_max: cfg.election_max,
            heartbeat: cfg.heartbeat,
            snapshot_every: cfg.snapshot_every,
            bugs: Bugs::from_names(&[]),
            initial_voters: None,
        };
        let core = Core::new(
            core_cfg,
            Shard::initial(g, bugs),
            StdRng::from_entropy(),
            loaded,
            Instant::now(),
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        members.push(Member { core, store });
    }
    let listener = TcpListener::bind(&cfg.listen)
        .await
        .map_err(|e| anyhow::anyhow!("--listen {}: {e}", cfg.listen))?;

    let net = Outbound::<GroupMsg>::start(&cfg.id, &cfg.peers);
    let (tx, mut inbox) = mpsc::channel(crate::server::INBOX);
    tokio::spawn(crate::server::serve(listener, tx, cfg.request_timeout));
    let (submit, mut submitted) = mpsc::unbounded_channel();
    let (view_tx, view_rx) = watch::channel(view_of(&members));
    let mut addrs: BTreeMap<String, String> = cfg.peers.iter().cloned().collect();
    addrs.insert(cfg.id.clone(), cfg.listen.clone());
    tokio::spawn(handoff::drive(view_rx.clone(), cfg.id.clone(), addrs));
    let router = route::Router::new(view_rx, submit.clone(), cfg.request_timeout);

    let tick = (cfg.heartbeat / 2).max(Duration::from_millis(5));
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            ev = inbox.recv() => {
                let Some(ev) = ev else { return Ok(()) };
                handle(&mut members, ev, &router);
                for _ in 0..4096 {
                    match inbox.try_recv() {
                        Ok(ev) => handle(&mut members, ev, &router),
                        Err(_) => break,
                    }
                }
            }
            Some((g, req, reply)) = submitted.recv() => {
                members[g as usize].core.client(req, reply, Instant::now());
            }
            _ = ticker.tick() => {}
        }
        while let Ok((g, req, reply)) = submitted.try_recv() {
            members[g as usize].core.client(req, reply, Instant::now());
        }
        let mut out = Vec::new();
        for (g, m) in members.iter_mut().enumerate() {
            m.core.tick(Instant::now());
            let writes = m.core.take_writes();
            m.store.persist(&writes).with_context(|| {
                format!(
                    "node {} stops: a write to {}/g{g} failed, so nothing more may be acknowledged",
                    cfg.id,
                    cfg.data_dir.display()
                )
            })?;
            out.push(m.core.persisted(Instant::now()));
        }
        for (g, o) in out.into_iter().enumerate() {
            for (to, msg) in o.messages {
                net.send(&to, GroupMsg(g as GroupId, msg));
            }
            for (reply, outcome) in o.replies {
                let _ = reply.send(outcome);
            }
        }
        let view = view_of(&members);
        view_tx.send_if_modified(|v| {
            let changed = *v != view;
            *v = view;
            changed
        });
    }
}

fn view_of(members: &[Member]) -> View {
    let config = &members[CONFIG as usize].core;
    View {
        layout: config
            .state_machine()
            .layout()
            .expect("group 0 is the configuration group")
            .clone(),
        leads_config: config.role() == Role::Leader,
    }
}

fn handle(members: &mut [Member], ev: Event<GroupMsg>, router: &Arc<route::Router>) {
    let now = Instant::now();
    match ev {
        Event::Peer(from, GroupMsg(g, msg)) => {
            if let Some(m) = members.get_mut(g as usize) {
                m.core.step(&from, msg, now);
            }
        }
        Event::Client(req, reply) => match req.f.as_str() {
            "status" | layout::F_ADD | layout::F_REMOVE | layout::F_COMMIT | layout::F_RING => {
                members[CONFIG as usize].core.client(req, reply, now)
            }
            F_FREEZE | F_ACTIVATE => match req.value["group"].as_u64() {
                Some(g) if (1..=GROUPS as u64).contains(&g) => {
                    members[g as usize].core.client(req, reply, now)
                }
                _ => {
                    let _ = reply.send(Outcome::fail("bad-request: no such group"));
                }
            },
            _ => {
                tokio::spawn(route::Router::route(router.clone(), req, reply));
            }
        },
    }
}
