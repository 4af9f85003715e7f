//! A fault as data: what the nemesis does to the cluster, decided before it
//! is applied so it can be recorded in the history (`start-<kind>` with
//! [`Fault::describe`] as value), and undone by [`stop`]. The fault kinds of
//! `--nemesis` (`faults/`) are made of these.

use crate::cluster::{Cluster, NodeState};
use crate::net::{Link, NetFault};
use serde_json::{json, Value};

#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    Partition {
        shape: &'static str,
        grudge: crate::net::Grudge,
    },
    Kill(Vec<usize>),
    /// Kill these nodes and drop what they did not fsync (faultline-diskfs).
    PowerLoss(Vec<usize>),
    /// A power loss in which the last unsynced write survives in part.
    TornWrite(Vec<usize>),
    /// The next fsync on these nodes' disks fails with EIO, its pages dropped.
    FsyncError(Vec<usize>),
    /// Writes and creations on these nodes' disks fail with ENOSPC.
    DiskFull(Vec<usize>),
    /// Kill these nodes and damage one file in each one's data directory.
    Corrupt(crate::cluster::corrupt::Corruption),
    Pause(Vec<usize>),
    Stall(Vec<Link>),
    Reset(Vec<Link>),
    /// Clock offsets (ms) by node name, through libfaketime.
    Clock(crate::clock::ClockOffsets),
    /// Drop this fraction of the packets on these links.
    Loss {
        links: Vec<Link>,
        probability: f64,
    },
}

impl Fault {
    /// The name recorded as `start-<kind>` / `stop-<kind>`.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "partition",
            Fault::Kill(_) => "kill",
            Fault::PowerLoss(_) => "power-loss",
            Fault::TornWrite(_) => "torn-write",
            Fault::FsyncError(_) => "fsync-error",
            Fault::DiskFull(_) => "disk-full",
            Fault::Corrupt(_) => "corrupt",
            Fault::Pause(_) => "pause",
            Fault::Stall(_) => "stall",
            Fault::Reset(_) => "reset",
            Fault::Clock(_) => "clock",
            Fault::Loss { .. } => "loss",
        }
    }

    /// The value recorded with `start-<kind>`.
    pub fn describe(&self, names: &[String]) -> Value {
        let nodes = |v: &[usize]| json!(v.iter().map(|&i| names[i].clone()).collect::<Vec<_>>());
        let links = |v: &[Link]| {
            json!(v
                .iter()
                .map(|l| [l.from.clone(), l.to.clone()])
                .collect::<Vec<_>>())
        };
        match self {
            Fault::Partition { grudge, .. } => json!(grudge),
            Fault::Kill(v)
            | Fault::Pause(v)
            | Fault::PowerLoss(v)
            | Fault::TornWrite(v)
            | Fault::FsyncError(v)
            | Fault::DiskFull(v) => nodes(v),
            Fault::Corrupt(c) => json!({"nodes": nodes(&c.nodes), "how": c.how.name()}),
            Fault::Stall(v) | Fault::Reset(v) => links(v),
            Fault::Clock(offsets) => json!(offsets),
            Fault::Loss {
                links: v,
                probability,
            } => json!({"links": links(v), "probability": probability}),
        }
    }

    /// A short text for the progress line and the log.
    pub fn label(&self, names: &[String]) -> String {
        match self {
            Fault::Partition { shape, .. } => format!("partition({shape})"),
            Fault::Loss { links, probability } => {
                format!("loss({:.0}% on {} links)", probability * 100.0, links.len())
            }
            other => format!("{}{}", other.kind(), other.describe(names)),
        }
    }
}

/// Puts a fault in force.
pub fn start(cluster: &dyn Cluster, fault: &Fault) -> anyhow::Result<()> {
    match fault {
        Fault::Partition { grudge, .. } => {
            cluster.net().apply(&NetFault::Partition(grudge.clone()))
        }
        Fault::Kill(nodes) => nodes.iter().try_for_each(|&i| cluster.kill(i)),
        // Dead first, so nothing writes between the loss and the restart.
        Fault::PowerLoss(nodes) => nodes.iter().try_for_each(|&i| {
            cluster.kill(i)?;
            cluster.disk_fault(i, "power-loss").map(|_| ())
        }),
        Fault::TornWrite(nodes) => nodes.iter().try_for_each(|&i| {
            cluster.kill(i)?;
            cluster.disk_fault(i, "torn-write").map(|_| ())
        }),
        Fault::FsyncError(nodes) => nodes
            .iter()
            .try_for_each(|&i| cluster.disk_fault(i, "fsync-error").map(|_| ())),
        Fault::DiskFull(nodes) => nodes
            .iter()
            .try_for_each(|&i| cluster.disk_fault(i, "disk-full on").map(|_| ())),
        // Dead first: the file is damaged at rest, not under a writer.
        Fault::Corrupt(c) => c.nodes.iter().try_for_each(|&i| {
            cluster.kill(i)?;
            crate::cluster::corrupt::apply(cluster, i, c)
        }),
        Fault::Pause(nodes) => nodes.iter().try_for_each(|&i| cluster.pause(i)),
        Fault::Stall(links) => cluster.net().apply(&NetFault::Stall(links.clone())),
        Fault::Reset(links) => cluster.net().apply(&NetFault::Reset(links.clone())),
        Fault::Clock(offsets) => {
            let clock = cluster.clock().ok_or_else(|| {
                anyhow::anyhow!(
                    "clock faults need nodes under libfaketime (--nemesis clock starts them so)"
                )
            })?;
            crate::clock::apply(clock, cluster.nodes(), offsets)
        }
        Fault::Loss { links, probability } => cluster.net().apply(&NetFault::Loss {
            links: links.clone(),
            probability: *probability,
        }),
    }
}

/// Ends a fault: heal the network, restart killed nodes, resume paused ones.
pub fn stop(cluster: &dyn Cluster, fault: &Fault) -> anyhow::Result<()> {
    match fault {
        Fault::Partition { .. } | Fault::Stall(_) | Fault::Loss { .. } => cluster.net().heal(),
        Fault::Kill(nodes) | Fault::PowerLoss(nodes) | Fault::TornWrite(nodes) => {
            nodes.iter().try_for_each(|&i| cluster.restart(i))
        }
        Fault::Corrupt(c) => restart_each(cluster, &c.nodes),
        Fault::FsyncError(nodes) => disarm_disks(cluster, nodes, "fsync-error off"),
        Fault::DiskFull(nodes) => disarm_disks(cluster, nodes, "disk-full off"),
        Fault::Pause(nodes) => nodes.iter().try_for_each(|&i| cluster.resume(i)),
        // A reset happens once; there is nothing to undo.
        Fault::Reset(_) => Ok(()),
        Fault::Clock(_) => match cluster.clock() {
            Some(clock) => clock.reset_clocks(),
            None => Ok(()),
        },
    }
}

/// Restarts every one of `nodes`, also after one fails (a node may rightly
/// refuse its damaged files); the errors together.
fn restart_each(cluster: &dyn Cluster, nodes: &[usize]) -> anyhow::Result<()> {
    let errors: Vec<String> = nodes
        .iter()
        .filter_map(|&i| cluster.restart(i).err().map(|e| format!("{e:#}")))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{}", errors.join("\n"))
    }
}

/// Ends an fsync-error or disk-full: disarms the disks (`off`), then
/// restarts the nodes that stopped themselves on the error (what a careful
/// program does after EIO or ENOSPC). Each disk's `status` goes to the log,
/// as evidence of what the fault did. Another node found dead is an error.
fn disarm_disks(cluster: &dyn Cluster, nodes: &[usize], off: &str) -> anyhow::Result<()> {
    // Notices the nodes that exited, so a local cluster restarts them.
    let dead = cluster.unexpected_deaths();
    let names: Vec<&str> = nodes
        .iter()
        .map(|&i| cluster.nodes()[i].name.as_str())
        .collect();
    for &i in nodes {
        cluster.disk_fault(i, off)?;
        // Logged with its counts of EIO/ENOSPC returned.
        cluster.disk_fault(i, "status")?;
        if cluster.state(i) == NodeState::Down {
            cluster.restart(i)?;
        }
    }
    let others: Vec<String> = dead
        .into_iter()
        .filter(|(n, _)| !names.contains(&n.as_str()))
        .map(|(n, tail)| format!("node {n} died unexpectedly: {tail}"))
        .collect();
    if !others.is_empty() {
        anyhow::bail!("{}", others.join("\n"));
    }
    Ok(())
}

/// Heals everything, whatever is in force: the network, paused and dead nodes.
pub fn heal_all(cluster: &dyn Cluster) -> anyhow::Result<()> {
    cluster.net().heal()?;
    if let Some(clock) = cluster.clock() {
        clock.reset_clocks()?;
    }
    for i in 0..cluster.nodes().len() {
        match cluster.state(i) {
            NodeState::Paused => cluster.resume(i)?,
            NodeState::Down => cluster.restart(i)?,
            NodeState::Running => {}
        }
    }
    Ok(())
}
