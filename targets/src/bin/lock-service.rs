//! lock-service: a replicated lock service with leases and fencing tokens, on Raft.

use clap::Parser;
use faultline_targets::config::{init_tracing, Args, NodeConfig};
use faultline_targets::{lock, raft};

const BUGS: &[&str] = &[lock::BUG_NO_FENCING, lock::BUG_LEASE_BY_LOCAL_CLOCK];

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    let cfg = NodeConfig::from_args(Args::parse(), BUGS)?;
    tracing::info!(id = %cfg.id, listen = %cfg.listen, bugs = ?cfg.bugs, "lock-service starting");
    let locks = lock::Locks::new(&cfg.bugs);
    raft::run_node(cfg, locks).await
}
