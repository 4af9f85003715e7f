//! lock-service: a replicated lock service with leases and fencing tokens, on Raft.

use clap::Parser;
use faultline_targets::config::{exit_if_failed, init_tracing, node_config, Args};
use faultline_targets::{lock, raft};

const BUGS: &[&str] = &[lock::BUG_NO_FENCING, lock::BUG_LEASE_BY_LOCAL_CLOCK];

#[tokio::main(flavor = "current_thread")]
async fn main() {
    init_tracing();
    let cfg = node_config("lock-service", Args::parse(), BUGS);
    let id = cfg.id.clone();
    let locks = lock::Locks::new(&cfg.bugs);
    exit_if_failed("lock-service", &id, raft::run_node(cfg, locks).await);
}
