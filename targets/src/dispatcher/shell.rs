//! One dispatcher node: the Raft node that replicates the dispatcher, and
//! the worker that runs beside it in the same process.

use crate::config::NodeConfig;
use crate::raft;

use super::{worker, Dispatcher};

/// Start the worker, then serve the Raft node until the process ends or a
/// storage write fails.
pub async fn run_node(cfg: NodeConfig) -> anyhow::Result<()> {
    // The worker dials its own node directly and the others at the
    // addresses this node has for them (on a local cluster, the proxies).
    let mut addrs = vec![(cfg.id.clone(), cfg.listen.clone())];
    addrs.extend(cfg.peers.iter().cloned());
    let node = raft::Node::open(cfg.clone(), Dispatcher::new(&cfg.bugs)).await?;
    tokio::spawn(worker::run(cfg.id.clone(), addrs));
    node.run().await
}
