//! sharded-kv: registers spread over Raft replica groups by a consistent-hash
//! ring, with shard handoff when groups join or leave (see
//! faultline_targets::sharded).

use clap::Parser;
use faultline_targets::config::{init_tracing, Args, NodeConfig};
use faultline_targets::sharded::{shell, BUGS};

/// Exit code for bad input: flags or a data dir that cannot be loaded.
const EXIT_BAD_INPUT: i32 = 254;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    init_tracing();
    let args = Args::parse();
    let id = args.id.clone();
    let cfg = match NodeConfig::from_args(args, BUGS) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sharded-kv {id}: cannot start: {e:#}");
            std::process::exit(EXIT_BAD_INPUT);
        }
    };
    tracing::info!(id = %cfg.id, listen = %cfg.listen, bugs = ?cfg.bugs, "sharded-kv starting");
    if let Err(e) = shell::run_node(cfg).await {
        eprintln!("sharded-kv {id}: {e:#}");
        std::process::exit(1);
    }
}
