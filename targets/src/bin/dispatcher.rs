//! dispatcher: a task dispatcher on Raft; every node also runs a worker
//! (enqueue, dequeue, drain).

use clap::Parser;
use faultline_targets::config::{exit_if_failed, init_tracing, node_config, Args};
use faultline_targets::dispatcher::{shell, BUGS};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    init_tracing();
    let cfg = node_config("dispatcher", Args::parse(), BUGS);
    let id = cfg.id.clone();
    exit_if_failed("dispatcher", &id, shell::run_node(cfg).await);
}
