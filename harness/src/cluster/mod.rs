//! Clusters: the nodes of the system under test, wherever they run, and the
//! process-level faults the nemesis applies to them.
//!
//! A cluster kind (local processes, network-namespace hosts, SSH hosts) is one
//! implementation of [`Cluster`]. What to run on a node comes from a [`Db`]:
//! the bundled targets, or a user's system described in a TOML file.

pub mod child;
pub mod corrupt;
pub mod hosts;
pub mod kind;
pub mod netns;
pub mod nodes;
pub mod owner;
pub mod process;
pub mod ready;
pub mod registry;
pub mod ssh;

pub use kind::ClusterKind;

use crate::net::Net;
use std::path::Path;

pub use faultline_api::{Db, NodeInfo, NodeLaunch, ReadyCheck, Step};

/// What a node is doing, as far as the cluster knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    Running,
    /// Stopped with SIGSTOP.
    Paused,
    /// Killed by the nemesis, or exited by itself.
    Down,
}

/// The nodes of a running test, and the faults that act on their processes.
///
/// Methods block (they start processes, run SSH commands); the async controller
/// calls them through `spawn_blocking`. Errors name the node and say what went
/// wrong, with the tail of the node's log where that helps.
pub trait Cluster: Send + Sync {
    fn nodes(&self) -> &[NodeInfo];
    fn state(&self, node: usize) -> NodeState;
    /// SIGKILL the node's process.
    fn kill(&self, node: usize) -> anyhow::Result<()>;
    /// Start a killed node again from its data directory and wait until ready.
    fn restart(&self, node: usize) -> anyhow::Result<()>;
    /// Remove a killed node's data (its Db's wipe step, or everything in its
    /// data directory), so its next restart starts it fresh.
    fn wipe(&self, node: usize) -> anyhow::Result<()> {
        anyhow::bail!(
            "node {}: this cluster cannot wipe a node's data",
            self.nodes()[node].name
        )
    }
    /// SIGSTOP.
    fn pause(&self, node: usize) -> anyhow::Result<()>;
    /// SIGCONT.
    fn resume(&self, node: usize) -> anyhow::Result<()>;
    /// Network faults for this cluster's links.
    fn net(&self) -> &dyn Net;
    /// Nodes that died without the nemesis killing them (name, log tail).
    fn unexpected_deaths(&self) -> Vec<(String, String)>;
    /// Heal the network, stop every node, collect logs into `run_dir/nodes/<node>/`
    /// and remove everything the cluster created. Safe to call twice.
    fn teardown(&self, run_dir: &Path) -> anyhow::Result<()>;
    /// Clock faults, when the cluster started its nodes under libfaketime.
    fn clock(&self) -> Option<&dyn crate::clock::ClockFaults> {
        None
    }
    /// Sends a faultline-diskfs command (`power-loss`, ...) to the node's
    /// data directory, when the cluster mounted it on diskfs.
    fn disk_fault(&self, node: usize, _command: &str) -> anyhow::Result<String> {
        anyhow::bail!(
            "node {}: this cluster kind does not run nodes on faultline-diskfs",
            self.nodes()[node].name
        )
    }
    /// The node's data directory as a path on this machine, when the
    /// controller can reach its files (local and netns clusters).
    fn local_data_dir(&self, _node: usize) -> Option<std::path::PathBuf> {
        None
    }
}

pub mod local;
pub mod local_disks;
pub mod target_params;
pub mod targets;
