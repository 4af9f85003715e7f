//! primary-backup: a primary streams its log to backups; a backup is
//! promoted when the primary is lost (read, write, cas, set add).

use clap::Parser;
use faultline_targets::config::{exit_if_failed, init_tracing, node_config, or_bad_input, Args};
use faultline_targets::primary_backup::{self, shell, Params};

const BUGS: &[&str] = &[primary_backup::BUG_PROMOTE_ON_TIMEOUT];

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
    let cfg = node_config("primary-backup", args.node, BUGS);
    let id = cfg.id.clone();
    let params = or_bad_input("primary-backup", &id, Params::parse(&args.sets));
    exit_if_failed("primary-backup", &id, shell::run_node(cfg, params).await);
}
