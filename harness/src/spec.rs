//! `TestSpec`: everything that defines a test run, as saved in `test.json`.

use serde::{Deserialize, Serialize};

/// One run's definition. Saved as `test.json` in the run directory so the run
/// can be understood, re-checked (`model`) and replayed (`seed`) later.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestSpec {
    /// Test name: the first part of the run's path in the store.
    pub name: String,
    /// `raft-kv`, `paxos-register`, `lock`, or a user system's name.
    pub target: String,
    /// `register`, `kv`, `set`, `lock`.
    pub workload: String,
    /// Fault kinds in use: `partition`, `kill`, `pause`, ... (empty: none).
    pub nemesis: Vec<String>,
    /// Seconds between faults.
    pub nemesis_interval_s: f64,
    /// `local`, `netns` or `ssh`.
    pub cluster: String,
    /// Node names, `n1`..`nN`, or host names for remote clusters.
    pub nodes: Vec<String>,
    /// Client-facing address of each node, in `nodes` order.
    #[serde(default)]
    pub node_addrs: Vec<String>,
    pub time_limit_s: f64,
    pub concurrency: usize,
    /// Ops per second across all clients (0: unlimited).
    pub rate: f64,
    /// Mean pause of each client before each op, seconds (`--stagger`).
    #[serde(default)]
    pub stagger_s: f64,
    pub seed: u64,
    /// The checker model for linearizability (`cas-register`, `kv`, ...), if any.
    #[serde(default)]
    pub model: Option<String>,
    /// Known-bug switches passed to the target.
    #[serde(default)]
    pub bugs: Vec<String>,
    /// faultline's version.
    pub version: String,
    /// The run's id: the tag of its iptables rules, the name of its netns
    /// namespaces (`fln-<id>-*`), what `faultline heal --run-id` takes.
    #[serde(default)]
    pub run_id: String,
}
