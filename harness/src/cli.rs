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
    /// What goes into a run's faultline.log: error, warn, info, debug, trace,
    /// or a filter such as `faultline=debug` (default: RUST_LOG, else info).
    /// Warnings and errors also go to stderr.
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
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

/// One word of `--nemesis`: a fault kind, or `none`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NemesisChoice {
    None,
    Fault(crate::nemesis::FaultKind),
}

impl clap::ValueEnum for NemesisChoice {
    fn value_variants<'a>() -> &'a [Self] {
        static ALL: std::sync::OnceLock<Vec<NemesisChoice>> = std::sync::OnceLock::new();
        ALL.get_or_init(|| {
            crate::nemesis::FaultKind::ALL
                .iter()
                .map(|&k| NemesisChoice::Fault(k))
                .chain([NemesisChoice::None])
                .collect()
        })
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        match self {
            NemesisChoice::None => {
                Some(clap::builder::PossibleValue::new("none").help("No faults"))
            }
            NemesisChoice::Fault(kind) => kind.to_possible_value(),
        }
    }
}

/// The fault kinds of a `--nemesis` list, each once, in order (`none`: no faults).
pub fn fault_kinds(choices: &[NemesisChoice]) -> Vec<crate::nemesis::FaultKind> {
    let mut kinds = Vec::new();
    for choice in choices {
        if let NemesisChoice::Fault(kind) = *choice {
            if !kinds.contains(&kind) {
                kinds.push(kind);
            }
        }
    }
    kinds
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nemesis::FaultKind;

    fn parse(args: &[&str]) -> Result<crate::cmd::test::Args, clap::Error> {
        let cli = Cli::try_parse_from([&["faultline", "test"], args].concat())?;
        match cli.command {
            Command::Test(args) => Ok(*args),
            _ => unreachable!("parsed a test command"),
        }
    }

    #[test]
    fn nemesis_lists_parse_to_kinds_once_each_and_none_to_no_faults() {
        let a = parse(&["--nemesis", "partition,kill,partition,figure-8"]).unwrap();
        assert_eq!(
            fault_kinds(&a.nemesis),
            [FaultKind::Partition, FaultKind::Kill, FaultKind::Figure8]
        );
        assert!(fault_kinds(&parse(&["--nemesis", "none"]).unwrap().nemesis).is_empty());
        let default = parse(&[]).unwrap();
        assert_eq!(
            fault_kinds(&default.nemesis),
            [FaultKind::Partition, FaultKind::Kill]
        );
    }

    #[test]
    fn unknown_values_get_an_error_listing_the_valid_ones() {
        let e = parse(&["--nemesis", "partition,flood"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("flood") && e.contains("--nemesis"), "{e}");
        assert!(
            e.contains("isolate-leader") && e.contains("loss") && e.contains("none"),
            "{e}"
        );
        let e = parse(&["--workload", "ledger"]).unwrap_err().to_string();
        assert!(
            e.contains("ledger")
                && e.contains("register, kv, set, lock, list-append, rw-register, queue"),
            "{e}"
        );
        let e = parse(&["--cluster", "k8s"]).unwrap_err().to_string();
        assert!(e.contains("local, netns, ssh"), "{e}");
        let e = parse(&["--target", "etcd"]).unwrap_err().to_string();
        assert!(
            e.contains("raft-kv, paxos-register, lock, primary-backup"),
            "{e}"
        );
    }
}
