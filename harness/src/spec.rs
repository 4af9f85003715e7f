//! `TestSpec`: everything that defines a test run, as saved in `test.json`.

use crate::cluster::ClusterKind;
use crate::nemesis::FaultKind;
use faultline_checkers::models::ModelKind;
use faultline_checkers::txn::ConsistencyModel;
use faultline_workloads::WorkloadKind;
use serde::{Deserialize, Serialize};

/// One run's definition. Saved as `test.json` in the run directory so the run
/// can be understood, re-checked (`model`) and replayed (`seed`) later. The
/// kinds are written as the names the flags take (`"kv"`, `"figure-8"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestSpec {
    /// Test name: the first part of the run's path in the store.
    pub name: String,
    /// `raft-kv`, `paxos-register`, `lock`, or a user system's name.
    pub target: String,
    pub workload: WorkloadKind,
    /// Fault kinds in use (empty: none).
    pub nemesis: Vec<FaultKind>,
    /// Seconds between faults.
    pub nemesis_interval_s: f64,
    pub cluster: ClusterKind,
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
    /// The checker model for linearizability, if any.
    #[serde(default)]
    pub model: Option<ModelKind>,
    /// Consistency models a transactional workload's history must satisfy
    /// (empty: strict-serializable).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consistency_models: Vec<ConsistencyModel>,
    /// Known-bug switches passed to the target.
    #[serde(default)]
    pub bugs: Vec<String>,
    /// `--set name=value` parameters passed to the target.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<String>,
    /// `--membership-voters MIN..MAX`: the membership fault's bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub membership_voters: Option<(usize, usize)>,
    /// faultline's version.
    pub version: String,
    /// The run's id: the tag of its iptables rules, the name of its netns
    /// namespaces (`fln-<id>-*`), what `faultline heal --run-id` takes.
    #[serde(default)]
    pub run_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A test.json as earlier versions wrote it (kinds as plain strings).
    const EARLIER: &str = r#"{
  "name": "raft-kv-kv", "target": "raft-kv", "workload": "kv",
  "nemesis": ["partition", "figure-8", "clock-leader"], "nemesis_interval_s": 5.0,
  "cluster": "netns", "nodes": ["n1", "n2", "n3"], "time_limit_s": 30.0,
  "concurrency": 5, "rate": 100.0, "seed": 7, "model": "kv",
  "bugs": ["early-commit"], "version": "0.1.0"
}"#;

    #[test]
    fn earlier_test_json_reads_into_kinds_and_writes_back_the_same_names() {
        let spec: TestSpec = serde_json::from_str(EARLIER).unwrap();
        assert_eq!(spec.workload, WorkloadKind::Kv);
        assert_eq!(
            spec.nemesis,
            [
                FaultKind::Partition,
                FaultKind::Figure8,
                FaultKind::ClockLeader
            ]
        );
        assert_eq!(spec.cluster, ClusterKind::Netns);
        assert_eq!(spec.model, Some(ModelKind::Kv));
        let back = serde_json::to_value(&spec).unwrap();
        let earlier: serde_json::Value = serde_json::from_str(EARLIER).unwrap();
        for field in ["workload", "nemesis", "cluster", "model"] {
            assert_eq!(back[field], earlier[field], "{field}");
        }
    }
}
