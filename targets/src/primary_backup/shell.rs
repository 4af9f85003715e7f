//! The IO shell around [`Core`]: one tokio task owns the node. It drains a
//! batch of events (peer messages, client ops, ticks), makes the batch's
//! epoch, vote and log changes durable (one fsync for the batch), and only
//! then sends the messages and replies the batch produced. A failed write
//! stops the node: nothing is acknowledged after it.

use std::time::{Duration, Instant};

use anyhow::Context;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

use super::core::{Config, Core};
use super::message::Msg;
use super::storage::{Meta, Store};
use super::{Params, BUG_PROMOTE_ON_TIMEOUT};
use crate::config::NodeConfig;
use crate::server::Event;
use crate::transport::Outbound;
use crate::wire::Outcome;

/// Load the data dir, bind the address, and serve until the process ends;
/// returns only on bad input or a storage failure.
pub async fn run_node(cfg: NodeConfig, params: Params) -> anyhow::Result<()> {
    let copies = params.copies(cfg.peers.len() + 1)?;
    let (mut store, meta, log) = Store::open(&cfg.data_dir)?;
    let core_cfg = Config {
        id: cfg.id.clone(),
        peers: cfg.peers.iter().map(|(id, _)| id.clone()).collect(),
        replication: params.replication,
        copies,
        promote_on_timeout: cfg.bug(BUG_PROMOTE_ON_TIMEOUT),
        heartbeat: cfg.heartbeat,
        fail_min: cfg.election_min,
        fail_max: cfg.election_max,
    };
    let listener = TcpListener::bind(&cfg.listen)
        .await
        .map_err(|e| anyhow::anyhow!("--listen {}: {e}", cfg.listen))?;
    tracing::info!(id = %cfg.id, epoch = meta.epoch, len = log.len(), ?params, copies, "primary-backup node recovered");
    let mut rng = StdRng::from_entropy();
    let mut core: Core<oneshot::Sender<Outcome>> = Core::new(
        core_cfg,
        meta.epoch,
        meta.voted_for,
        log,
        Instant::now(),
        &mut rng,
    );

    let net = Outbound::<Msg>::start(&cfg.id, &cfg.peers);
    let (tx, mut inbox) = mpsc::channel(crate::server::INBOX);
    tokio::spawn(crate::server::serve(listener, tx, cfg.request_timeout));
    let tick = (cfg.heartbeat / 2).max(Duration::from_millis(5));
    let mut ticker = tokio::time::interval(tick);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            ev = inbox.recv() => {
                let Some(ev) = ev else { return Ok(()) };
                handle(&mut core, ev, &mut rng);
                for _ in 0..4096 {
                    match inbox.try_recv() {
                        Ok(ev) => handle(&mut core, ev, &mut rng),
                        Err(_) => break,
                    }
                }
            }
            _ = ticker.tick() => {}
        }
        core.on_tick(Instant::now(), &mut rng);
        let changed = core.take_storage();
        let saved = (|| -> anyhow::Result<()> {
            if let Some((epoch, voted_for)) = changed.meta {
                store.save_meta(&Meta { epoch, voted_for })?;
            }
            if let Some(from) = changed.log_from {
                store.save_log(core.log(), from)?;
            }
            Ok(())
        })();
        saved.with_context(|| {
            format!(
                "node {} stops: a write to {} failed, so nothing more may be acknowledged",
                cfg.id,
                cfg.data_dir.display()
            )
        })?;
        for (to, msg) in core.take_messages() {
            net.send(&to, msg);
        }
        for (reply, outcome) in core.take_replies() {
            let _ = reply.send(outcome);
        }
    }
}

fn handle(core: &mut Core<oneshot::Sender<Outcome>>, ev: Event<Msg>, rng: &mut StdRng) {
    let now = Instant::now();
    match ev {
        Event::Peer(from, msg) => core.on_message(from, msg, now, rng),
        Event::Client(req, reply) => core.on_client(req, reply, now),
    }
}
