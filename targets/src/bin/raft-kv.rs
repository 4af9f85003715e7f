//! raft-kv: a replicated key-value store on Raft (read, write, cas, set add).

use clap::Parser;
use faultline_targets::config::{init_tracing, Args, NodeConfig};
use faultline_targets::{kv::Kv, raft};

const BUGS: &[&str] = &[
    raft::BUG_STALE_READ,
    raft::BUG_FORGET_VOTE,
    raft::BUG_EARLY_COMMIT,
];

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    let cfg = NodeConfig::from_args(Args::parse(), BUGS)?;
    tracing::info!(id = %cfg.id, listen = %cfg.listen, bugs = ?cfg.bugs, "raft-kv starting");
    raft::run_node(cfg, Kv::default()).await
}
