//! The fault kinds `--nemesis` accepts. A fault kind is one file here: a type
//! implementing [`FaultPlan`], which says on which cluster kinds it runs and
//! how one occurrence is chosen, started and healed. [`fault_kinds!`] below
//! registers it: one line gives its name and its file.

use super::{Stepper, Until};
use crate::cluster::ClusterKind;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How one fault kind is scheduled, started and healed.
pub trait FaultPlan: Sync {
    /// Why this fault cannot run on `cluster`, if it cannot (checked before
    /// anything starts).
    fn unsupported_on(&self, _cluster: ClusterKind) -> Option<&'static str> {
        None
    }

    /// Whether the nodes must run under libfaketime.
    fn needs_clock(&self) -> bool {
        false
    }

    /// Whether the nodes' data directories must be on faultline-diskfs.
    fn needs_disk(&self) -> bool {
        false
    }

    /// One occurrence, on a blocking thread: choose the fault from `rng`
    /// (and only from it, so the seed replays the schedule), put it in force
    /// through `s` (which records it), hold it about `hold` or until
    /// `until` says the phase is over, and heal what it did.
    fn run(&self, s: &Stepper, hold: Duration, rng: &mut ChaCha8Rng, until: &Until);
}

/// Declares each fault kind's module, [`FaultKind`] (clap lists and checks
/// it; serde writes its name into `test.json`) and [`FaultKind::plan`].
macro_rules! fault_kinds {
    ($($(#[doc = $doc:literal])* $variant:ident = $name:literal => $module:ident :: $plan:ident,)*) => {
        $(mod $module;)*

        /// A fault kind by name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
        pub enum FaultKind {
            $($(#[doc = $doc])* #[serde(rename = $name)] #[value(name = $name)] $variant,)*
        }

        impl FaultKind {
            pub const ALL: &'static [FaultKind] = &[$(FaultKind::$variant),*];

            pub fn name(self) -> &'static str {
                match self {
                    $(FaultKind::$variant => $name,)*
                }
            }

            /// How this kind is scheduled, started and healed.
            pub fn plan(self) -> &'static dyn FaultPlan {
                match self {
                    $(FaultKind::$variant => &$module::$plan,)*
                }
            }
        }
    };
}

fault_kinds! {
    /// Cut the network into a random shape (halves, ring, bridge, one-way, ...).
    Partition = "partition" => partition::Partition,
    /// SIGKILL some nodes; restart them from their data at the end.
    Kill = "kill" => kill::Kill,
    /// SIGSTOP some nodes; SIGCONT at the end.
    Pause = "pause" => pause::Pause,
    /// Hold the traffic of one node's open connections, then deliver it.
    Stall = "stall" => stall::Stall,
    /// Reset one node's open connections.
    Reset = "reset" => reset::Reset,
    /// Skew some nodes' wall clocks by 1-30 s.
    Clock = "clock" => clock::Clock,
    /// Drop a fraction of the packets to and from some nodes.
    Loss = "loss" => loss::Loss,
    /// Cut the current leader off from every other node.
    IsolateLeader = "isolate-leader" => isolate_leader::IsolateLeader,
    /// Split an election and crash-restart the node that decides it.
    VoteRestart = "vote-restart" => vote_restart::VoteRestart,
    /// The isolations of Raft's Figure 8.
    Figure8 = "figure-8" => figure_8::Figure8,
    /// Step the current leader's wall clock ahead, then back.
    ClockLeader = "clock-leader" => clock_leader::ClockLeader,
    /// Kill some nodes, forget every write they did not fsync, restart them.
    PowerLoss = "power-loss" => power_loss::PowerLoss,
    /// Remove 1-2 voters from the configuration (raft-kv), add them back at the end.
    Membership = "membership" => membership::Membership,
    /// A power loss in which the last unsynced write survives in part.
    TornWrite = "torn-write" => torn_write::TornWrite,
    /// The next fsync fails with EIO once and its pages are dropped.
    FsyncError = "fsync-error" => fsync_error::FsyncError,
    /// Writes fail with ENOSPC for a while.
    DiskFull = "disk-full" => disk_full::DiskFull,
    /// Kill some nodes, flip bits in or truncate one of their files, restart.
    Corrupt = "corrupt" => corrupt::Corrupt,
    /// Add or remove a replica group of sharded-kv; the layout returns at the end.
    Rebalance = "rebalance" => rebalance::Rebalance,
}

impl FaultKind {}

faultline_checkers::named_kind!(FaultKind, "fault kind", "kinds");

/// Some nodes, 1 to half of them, in node order.
pub fn some_nodes(n: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    use rand::seq::SliceRandom;
    use rand::Rng;
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(rng);
    let count = rng.gen_range(1..=(n / 2).max(1));
    let mut v = idx[..count].to_vec();
    v.sort();
    v
}

/// One node, a majority, or all of them (a third of the time each), in node
/// order: what a power loss aims at (a majority can lose what it acknowledged).
pub fn one_majority_or_all(n: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    use rand::Rng;
    let count = match rng.gen_range(0..3) {
        0 => 1,
        1 => n / 2 + 1,
        _ => n,
    };
    pick(n, count, rng)
}

/// One node, a minority (1 to half), or all of them, in node order.
pub fn one_minority_or_all(n: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    use rand::Rng;
    match rng.gen_range(0..3) {
        0 => pick(n, 1, rng),
        1 => some_nodes(n, rng),
        _ => (0..n).collect(),
    }
}

fn pick(n: usize, count: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
    use rand::seq::SliceRandom;
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(rng);
    let mut v = idx[..count].to_vec();
    v.sort();
    v
}

/// Where the disk faults (faultline-diskfs) cannot run, and why.
pub fn disk_unsupported_on(cluster: ClusterKind) -> Option<&'static str> {
    match cluster {
        ClusterKind::Local | ClusterKind::Netns => None,
        ClusterKind::Ssh => Some(
            "faultline-diskfs is mounted by the controller, so only on local and netns clusters",
        ),
    }
}

/// Every link to and from one random node.
pub fn links_of_one(names: &[String], rng: &mut ChaCha8Rng) -> Vec<crate::net::Link> {
    use rand::Rng;
    let x = rng.gen_range(0..names.len());
    links_of(names, &[x])
}

/// Every link to and from the nodes `of` (both directions, each link once).
pub fn links_of(names: &[String], of: &[usize]) -> Vec<crate::net::Link> {
    use crate::net::Link;
    let mut links = Vec::new();
    for &x in of {
        for y in 0..names.len() {
            if y == x || (of.contains(&y) && y < x) {
                continue;
            }
            links.push(Link {
                from: names[x].clone(),
                to: names[y].clone(),
            });
            links.push(Link {
                from: names[y].clone(),
                to: names[x].clone(),
            });
        }
    }
    links
}
