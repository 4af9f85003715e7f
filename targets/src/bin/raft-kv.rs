//! raft-kv: a replicated key-value store on Raft (read, write, cas, set add,
//! list append, transactions).

use clap::Parser;
use faultline_targets::config::{init_tracing, Args, NodeConfig};
use faultline_targets::kv::{txn, Kv, TxnBugs};
use faultline_targets::raft;

const BUGS: &[&str] = &[
    raft::BUG_STALE_READ,
    raft::BUG_FORGET_VOTE,
    raft::BUG_EARLY_COMMIT,
    raft::BUG_NO_FSYNC,
    raft::BUG_MEMBERSHIP_NO_JOINT,
    txn::BUG_TXN_SPLIT,
    txn::BUG_TXN_STALE_READS,
    txn::BUG_TXN_SNAPSHOT_ISOLATION,
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
        let kv = Kv::new(TxnBugs::from_names(&cfg.bugs));
        raft::Node::open(cfg, kv).await
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
