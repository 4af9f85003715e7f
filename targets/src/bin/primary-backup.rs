//! primary-backup: a primary streams its log to backups; a backup is
//! promoted when the primary is lost (read, write, cas, set add).

use clap::Parser;
use faultline_targets::config::{init_tracing, Args, NodeConfig};
use faultline_targets::primary_backup::{self, shell, Params};

const BUGS: &[&str] = &[primary_backup::BUG_PROMOTE_ON_TIMEOUT];

/// Exit code for bad input: flags, parameters, or a data dir that cannot be loaded.
const EXIT_BAD_INPUT: i32 = 254;

#[derive(Parser, Debug)]
struct PbArgs {
    #[command(flatten)]
    node: Args,
    /// A parameter: replication=sync|async, quorum=majority|N (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE")]
    sets: Vec<String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    init_tracing();
    let args = PbArgs::parse();
    let id = args.node.id.clone();
    let checked = NodeConfig::from_args(args.node, BUGS)
        .and_then(|cfg| Ok((cfg, Params::parse(&args.sets)?)));
    let (cfg, params) = match checked {
        Ok(c) => c,
        Err(e) => {
            eprintln!("primary-backup {id}: cannot start: {e:#}");
            std::process::exit(EXIT_BAD_INPUT);
        }
    };
    tracing::info!(id = %cfg.id, listen = %cfg.listen, bugs = ?cfg.bugs, "primary-backup starting");
    if let Err(e) = shell::run_node(cfg, params).await {
        eprintln!("primary-backup {id}: {e:#}");
        std::process::exit(1);
    }
}
