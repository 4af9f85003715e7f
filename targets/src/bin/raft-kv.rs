//! raft-kv: a replicated key-value store on Raft (read, write, cas, set add).

use clap::Parser;
use faultline_targets::config::{init_tracing, Args, NodeConfig};
use faultline_targets::{kv::Kv, raft};

const BUGS: &[&str] = &[
    raft::BUG_STALE_READ,
    raft::BUG_FORGET_VOTE,
    raft::BUG_EARLY_COMMIT,
    raft::BUG_NO_FSYNC,
    raft::BUG_MEMBERSHIP_NO_JOINT,
];

/// Exit code for bad input: flags, or a data dir that cannot be loaded.
const EXIT_BAD_INPUT: i32 = 254;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    init_tracing();
    let args = Args::parse();
    let id = args.id.clone();
    let started = async {
        let cfg = NodeConfig::from_args(args, BUGS)?;
        tracing::info!(id = %cfg.id, listen = %cfg.listen, bugs = ?cfg.bugs, "raft-kv starting");
        raft::Node::open(cfg, Kv::default()).await
    };
    let node = match started.await {
        Ok(node) => node,
        Err(e) => {
            eprintln!("raft-kv {id}: cannot start: {e:#}");
            std::process::exit(EXIT_BAD_INPUT);
        }
    };
    if let Err(e) = node.run().await {
        eprintln!("raft-kv {id}: {e:#}");
        std::process::exit(1);
    }
}
