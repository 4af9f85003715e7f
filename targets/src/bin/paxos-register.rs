//! paxos-register: one CASPaxos register per key (read, write, cas).

use clap::Parser;
use faultline_targets::config::{init_tracing, Args, NodeConfig};
use faultline_targets::paxos;

const BUGS: &[&str] = &[paxos::BUG_NO_PREPARE_QUORUM, paxos::BUG_NO_FSYNC];

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    init_tracing();
    let cfg = NodeConfig::from_args(Args::parse(), BUGS)?;
    tracing::info!(id = %cfg.id, listen = %cfg.listen, bugs = ?cfg.bugs, "paxos-register starting");
    paxos::run_node(cfg).await
}
