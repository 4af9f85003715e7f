//! raft-kv: a replicated key-value store on Raft (read, write, cas, set add,
//! list append, transactions).

use clap::Parser;
use faultline_targets::config::{exit_if_failed, init_tracing, node_config, or_bad_input, Args};
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

#[tokio::main(flavor = "current_thread")]
async fn main() {
    init_tracing();
    let cfg = node_config("raft-kv", Args::parse(), BUGS);
    let id = cfg.id.clone();
    let kv = Kv::new(TxnBugs::from_names(&cfg.bugs));
    let node = or_bad_input("raft-kv", &id, raft::Node::open(cfg, kv).await);
    exit_if_failed("raft-kv", &id, node.run().await);
}
