//! paxos-register: one CASPaxos register per key (read, write, cas).

use clap::Parser;
use faultline_targets::config::{exit_if_failed, init_tracing, node_config, Args};
use faultline_targets::paxos;

const BUGS: &[&str] = &[paxos::BUG_NO_PREPARE_QUORUM, paxos::BUG_NO_FSYNC];

#[tokio::main(flavor = "current_thread")]
async fn main() {
    init_tracing();
    let cfg = node_config("paxos-register", Args::parse(), BUGS);
    let id = cfg.id.clone();
    exit_if_failed("paxos-register", &id, paxos::run_node(cfg).await);
}
