//! Network faults: partitions, one-way drops, stalls, resets and packet loss,
//! applied to the links between nodes by whatever the cluster kind allows
//! (userspace proxies on a local cluster, iptables on hosts).

pub mod iptables;

use std::collections::{BTreeMap, BTreeSet};

/// Who drops whose messages: `grudge["n1"] = {"n3"}` means n1 receives nothing
/// from n3 (the directed link n3 -> n1 is cut). Jepsen's representation, so
/// every partition shape (halves, majority ring, bridge, one-way) is one value.
pub type Grudge = BTreeMap<String, BTreeSet<String>>;

/// A directed link between two nodes: messages from `from` to `to`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Link {
    pub from: String,
    pub to: String,
}

/// A network fault. Several may be in force at once; `heal` ends them all.
#[derive(Clone, Debug, PartialEq)]
pub enum NetFault {
    /// Cut links as a cable cut would: traffic blackholed, connections kept.
    Partition(Grudge),
    /// Hold the traffic of open connections on these links without dropping it.
    Stall(Vec<Link>),
    /// Reset (RST) the open connections on these links, once.
    Reset(Vec<Link>),
    /// Drop this fraction (0..1) of packets on these links.
    Loss { links: Vec<Link>, probability: f64 },
}

/// The network of one cluster.
pub trait Net: Send + Sync {
    /// Put a fault in force. A fault kind the implementation cannot produce is
    /// an error that says so (the nemesis checks `supports` first).
    fn apply(&self, fault: &NetFault) -> anyhow::Result<()>;
    /// Whether `apply` can produce this kind of fault here.
    fn supports(&self, fault: &NetFault) -> bool;
    /// End every fault in force; connectivity as at the start.
    fn heal(&self) -> anyhow::Result<()>;
}

pub mod proxy;
