//! sharded-kv: registers spread over Raft replica groups by a consistent-hash
//! ring, with shard handoff when groups join or leave (see
//! faultline_targets::sharded).

use clap::Parser;
use faultline_targets::config::{exit_if_failed, init_tracing, node_config, Args};
use faultline_targets::sharded::{shell, BUGS};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    init_tracing();
    let cfg = node_config("sharded-kv", Args::parse(), BUGS);
    let id = cfg.id.clone();
    exit_if_failed("sharded-kv", &id, shell::run_node(cfg).await);
}
