//! The IO shell around [`Core`]: one tokio task owns the node. It drains a
//! batch of events (peer messages, client ops, ticks), makes the batch's
//! writes durable in the data dir (one fsync for the batch), and only then
//! sends the messages and replies the batch produced. A failed write stops the
//! node: nothing is acknowledged after it.

use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use super::core::{Bugs, Config, Core};
use super::message::Msg;
use super::StateMachine;
use crate::config::NodeConfig;
use crate::raft_storage::RaftStorage;
use crate::server::Event;
use crate::transport::Outbound;
use crate::wire::Outcome;

/// A node whose durable state is loaded and whose port is bound, ready to run.
pub struct Node<S> {
    core: Core<S, oneshot::Sender<Outcome>>,
    store: RaftStorage,
    cfg: NodeConfig,
    listener: TcpListener,
}

impl<S: StateMachine> Node<S> {
    /// Load the data dir (an unreadable or corrupt file is an error naming it)
    /// and bind the listening address.
    pub async fn open(cfg: NodeConfig, sm: S) -> anyhow::Result<Self> {
        Self::open_with_voters(cfg, sm, None).await
    }

    /// [`Node::open`] with the voters of the initial configuration (`None`:
    /// every node); the other nodes start as learners.
    pub async fn open_with_voters(
        cfg: NodeConfig,
        sm: S,
        initial_voters: Option<Vec<String>>,
    ) -> anyhow::Result<Self> {
        let (mut store, loaded) = RaftStorage::open(&cfg.data_dir)?;
        store.no_fsync = cfg.bugs.iter().any(|b| b == super::BUG_NO_FSYNC);
        let core_cfg = Config {
            id: cfg.id.clone(),
            peers: cfg.peers.iter().map(|(id, _)| id.clone()).collect(),
            election_min: cfg.election_min,
            election_max: cfg.election_max,
            heartbeat: cfg.heartbeat,
            snapshot_every: cfg.snapshot_every,
            bugs: Bugs::from_names(&cfg.bugs),
            initial_voters,
        };
        let core = Core::new(core_cfg, sm, StdRng::from_entropy(), loaded, Instant::now())
            .map_err(|e| anyhow::anyhow!("{}: {e}", cfg.data_dir.display()))?;
        let listener = TcpListener::bind(&cfg.listen)
            .await
            .map_err(|e| anyhow::anyhow!("--listen {}: {e}", cfg.listen))?;
        tracing::info!(
            id = %cfg.id, term = core.term(), snap_index = core.log().snap_index(),
            last_index = core.log().last_index(), "raft node recovered"
        );
        Ok(Node {
            core,
            store,
            cfg,
            listener,
        })
    }

    /// Serve until the process ends; returns only on a storage failure.
    pub async fn run(self) -> anyhow::Result<()> {
        let Node {
            mut core,
            mut store,
            cfg,
            listener,
        } = self;
        let net = Outbound::<Msg>::start(&cfg.id, &cfg.peers);
        let (tx, mut inbox) = mpsc::channel(crate::server::INBOX);
        tokio::spawn(crate::server::serve(
            listener,
            tx.clone(),
            cfg.request_timeout,
        ));

        let tick = (cfg.heartbeat / 2).max(Duration::from_millis(5));
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                ev = inbox.recv() => {
                    let Some(ev) = ev else { return Ok(()) };
                    handle(&mut core, ev, &tx);
                    // Drain what else is queued: one fsync for the whole batch.
                    for _ in 0..4096 {
                        match inbox.try_recv() {
                            Ok(ev) => handle(&mut core, ev, &tx),
                            Err(_) => break,
                        }
                    }
                }
                _ = ticker.tick() => {}
            }
            core.tick(Instant::now());
            let writes = core.take_writes();
            store.persist(&writes).with_context(|| {
                format!(
                    "node {} stops: a write to {} failed, so nothing more may be acknowledged",
                    cfg.id,
                    cfg.data_dir.display()
                )
            })?;
            let out = core.persisted(Instant::now());
            for (to, msg) in out.messages {
                net.send(&to, msg);
            }
            for (reply, outcome) in out.replies {
                let _ = reply.send(outcome);
            }
        }
    }
}

fn handle<S: StateMachine>(
    core: &mut Core<S, oneshot::Sender<Outcome>>,
    ev: Event<Msg>,
    inbox: &mpsc::Sender<Event<Msg>>,
) {
    let now = Instant::now();
    match ev {
        Event::Peer(from, msg) => core.step(&from, msg, now),
        Event::Client(req, reply) => match core.state_machine().split(&req) {
            Some(parts) => {
                tokio::spawn(run_split::<S>(req, parts, inbox.clone(), reply));
            }
            None => core.client(req, reply, now),
        },
    }
}

/// Runs a split request's parts through this node's inbox one after the
/// other, as a client would send them, and answers with their join.
async fn run_split<S: StateMachine>(
    req: crate::wire::Request,
    parts: Vec<crate::wire::Request>,
    inbox: mpsc::Sender<Event<Msg>>,
    reply: oneshot::Sender<Outcome>,
) {
    let mut outcomes = Vec::with_capacity(parts.len());
    for part in parts {
        let (tx, rx) = oneshot::channel();
        if inbox.send(Event::Client(part, tx)).await.is_err() {
            break;
        }
        let Ok(o) = rx.await else { break };
        let ok = matches!(o, Outcome::Ok(_));
        outcomes.push(o);
        if !ok {
            break;
        }
    }
    let _ = reply.send(S::join(&req, outcomes));
}
