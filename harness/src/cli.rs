//! Command-line surface: global flags and the subcommands.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "faultline",
    version,
    about = "Jepsen-style correctness and chaos testing"
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// The results store: where runs are written and read.
    #[arg(
        long,
        global = true,
        default_value = "results",
        env = "FAULTLINE_STORE"
    )]
    pub store: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start a cluster, run a workload under faults, record and check the history.
    Test(Box<crate::cmd::test::Args>),
    /// Check a recorded history (a run directory or a history file).
    Check(crate::cmd::check::Args),
    /// List the runs in the store, newest first.
    Ls(crate::cmd::ls::Args),
    /// Show one run: spec, verdicts and evidence, faults, latencies, files.
    Show(crate::cmd::show::Args),
    /// Serve the store as a local web page.
    Serve(crate::cmd::serve::Args),
    /// Remove network faults left by a run whose controller died (netns, ssh).
    Heal(crate::cmd::heal::Args),
}
