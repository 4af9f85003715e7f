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

#[derive(Parser, Debug)]
struct RaftKvArgs {
    #[command(flatten)]
    node: Args,
    /// A parameter: voters=K, the first K nodes (n1..nK) start as voters and
    /// the others as learners, for the membership fault to add (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    sets: Vec<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    init_tracing();
    let args = RaftKvArgs::parse();
    let cfg = node_config("raft-kv", args.node, BUGS);
    let id = cfg.id.clone();
    let voters = or_bad_input("raft-kv", &id, raft::initial_voters(&cfg, &args.sets));
    let kv = Kv::new(TxnBugs::from_names(&cfg.bugs));
    let node = or_bad_input(
        "raft-kv",
        &id,
        raft::Node::open_with_voters(cfg, kv, voters).await,
    );
    exit_if_failed("raft-kv", &id, node.run().await);
}
