//! The bundled targets (crate faultline-targets) as a [`Db`]: their binaries
//! sit next to `faultline` in target/<profile>/.

use super::{Db, NodeLaunch};
use crate::exit::bad_input;
use faultline_workloads::WorkloadKind;
use std::path::{Path, PathBuf};

/// The bundled targets (`--target`): what each runs and which known-bug
/// switches (`--bug`) it has. The switch names are the targets' own
/// (`BUG_*` in targets/src; targets/README.md says what each breaks); a test
/// asks each binary to confirm them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Target {
    /// Raft, a key-value store of registers and sets.
    RaftKv,
    /// CASPaxos, one register per key.
    PaxosRegister,
    /// A lock service with leases and fencing tokens, on Raft.
    Lock,
    /// A primary that streams its log to backups, with failover
    /// (`--set replication=sync|async`).
    PrimaryBackup,
    /// A task dispatcher on Raft with a worker in every node (queue workload).
    Dispatcher,
    /// Registers over Raft replica groups placed by a consistent-hash ring,
    /// with shard handoff as groups join and leave (kv workload).
    ShardedKv,
}

impl Target {
    pub const ALL: [Target; 6] = [
        Target::RaftKv,
        Target::PaxosRegister,
        Target::Lock,
        Target::PrimaryBackup,
        Target::Dispatcher,
        Target::ShardedKv,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Target::RaftKv => "raft-kv",
            Target::PaxosRegister => "paxos-register",
            Target::Lock => "lock",
            Target::PrimaryBackup => "primary-backup",
            Target::Dispatcher => "dispatcher",
            Target::ShardedKv => "sharded-kv",
        }
    }

    /// The binary that runs a node (in target/<profile>/).
    pub fn binary(self) -> &'static str {
        match self {
            Target::RaftKv => "raft-kv",
            Target::PaxosRegister => "paxos-register",
            Target::Lock => "lock-service",
            Target::PrimaryBackup => "primary-backup",
            Target::Dispatcher => "dispatcher",
            Target::ShardedKv => "sharded-kv",
        }
    }

    /// The known-bug switches the target understands.
    pub fn bugs(self) -> &'static [&'static str] {
        match self {
            Target::RaftKv => &[
                "stale-read",
                "forget-vote",
                "early-commit",
                "no-fsync",
                "membership-no-joint",
                "txn-split",
                "txn-stale-reads",
                "txn-snapshot-isolation",
            ],
            Target::PaxosRegister => &["no-prepare-quorum", "no-fsync"],
            Target::Lock => &["no-fencing", "lease-by-local-clock"],
            Target::PrimaryBackup => &["promote-on-timeout"],
            Target::Dispatcher => &["no-fencing", "ack-before-replicate"],
            Target::ShardedKv => &["stale-shard-reads", "drop-transfer-writes"],
        }
    }

    /// The workload when `--workload` is not given.
    pub fn default_workload(self) -> WorkloadKind {
        match self {
            Target::Lock => WorkloadKind::Lock,
            Target::Dispatcher => WorkloadKind::Queue,
            Target::ShardedKv => WorkloadKind::Kv,
            Target::RaftKv | Target::PaxosRegister | Target::PrimaryBackup => {
                WorkloadKind::Register
            }
        }
    }

    /// The workloads whose ops this target implements: a run of any other
    /// would see every op refused (`unknown-op`) and pass vacuously.
    pub fn workloads(self) -> Vec<WorkloadKind> {
        use WorkloadKind::*;
        match self {
            Target::Lock => vec![Lock],
            Target::Dispatcher => vec![Queue],
            Target::ShardedKv => vec![Kv],
            Target::PaxosRegister => vec![Register, Kv],
            Target::RaftKv | Target::PrimaryBackup => WorkloadKind::ALL
                .iter()
                .copied()
                .filter(|w| !matches!(w, Lock | Queue))
                .collect(),
        }
    }

    /// Checks `--workload` against [`Target::workloads`] before anything
    /// starts.
    pub fn check_workload(self, workload: WorkloadKind) -> anyhow::Result<()> {
        if self.workloads().contains(&workload) {
            return Ok(());
        }
        let known: Vec<String> = self.workloads().iter().map(|w| w.to_string()).collect();
        Err(bad_input(format!(
            "--workload {workload}: --target {} does not implement its ops; its workloads: {}",
            self.name(),
            known.join(", ")
        )))
    }

    /// Checks `--bug` switches before anything starts: an unknown one is bad
    /// input naming the switches this target knows.
    pub fn check_bugs(self, bugs: &[String]) -> anyhow::Result<()> {
        match bugs.iter().find(|b| !self.bugs().contains(&b.as_str())) {
            Some(bug) => Err(bad_input(format!(
                "--bug {bug:?} is not a switch of --target {}; its switches: {}",
                self.name(),
                self.bugs().join(", ")
            ))),
            None => Ok(()),
        }
    }
}

faultline_checkers::named_kind!(Target, "target", "targets");

/// A bundled target, with its binary found.
pub struct BundledTarget {
    name: String,
    binary: PathBuf,
    /// `--set` parameters, checked (target_params.rs), passed to every node.
    sets: Vec<(String, String)>,
}

impl BundledTarget {
    /// `target` with its binary found next to the running executable (or one
    /// directory up, for test binaries in target/<profile>/deps).
    pub fn find(target: Target) -> anyhow::Result<Self> {
        let (name, bin) = (target.name(), target.binary());
        let exe = std::env::current_exe()?;
        let dir = exe.parent().unwrap_or(Path::new("."));
        let candidates = [dir.join(bin), dir.join("..").join(bin)];
        match candidates.iter().find(|p| p.is_file()) {
            Some(p) => Ok(BundledTarget {
                name: name.to_string(),
                binary: p.clone(),
                sets: Vec::new(),
            }),
            None => Err(bad_input(format!(
                "--target {name}: binary {bin} not found in {}; build the workspace first \
                 (cargo build --release)",
                dir.display()
            ))),
        }
    }
}

impl BundledTarget {
    /// Passes these parameters (checked by [`Target::check_sets`]) to every node.
    pub fn with_sets(self, sets: Vec<(String, String)>) -> Self {
        BundledTarget { sets, ..self }
    }
}

impl Db for BundledTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn command(&self, node: &NodeLaunch) -> anyhow::Result<Vec<String>> {
        let peers: Vec<String> = node.peers.iter().map(|(n, a)| format!("{n}={a}")).collect();
        let mut cmd = vec![
            self.binary.display().to_string(),
            "--id".into(),
            node.name.clone(),
            "--listen".into(),
            node.listen.clone(),
            "--peers".into(),
            peers.join(","),
            "--data-dir".into(),
            node.data_dir.display().to_string(),
        ];
        for bug in &node.bugs {
            cmd.push("--bug".into());
            cmd.push(bug.clone());
        }
        for (name, value) in &self.sets {
            cmd.push("--set".into());
            cmd.push(format!("{name}={value}"));
        }
        Ok(cmd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_bug_switches_name_the_targets_switches() {
        Target::RaftKv
            .check_bugs(&["early-commit".into(), "stale-read".into()])
            .unwrap();
        let e = Target::Lock
            .check_bugs(&["no-fencing".into(), "no-such".into()])
            .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("no-such") && text.contains("no-fencing, lease-by-local-clock"),
            "{text}"
        );
        assert!(e.downcast_ref::<crate::exit::BadInput>().is_some());
        // A switch of another target is not one of this one's.
        assert!(Target::PaxosRegister
            .check_bugs(&["stale-read".into()])
            .is_err());
    }
}
