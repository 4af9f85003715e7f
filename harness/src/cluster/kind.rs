//! Where a test's nodes run (`--cluster`): the kinds of [`super::Cluster`].

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ClusterKind {
    /// Processes on this machine; network faults through userspace proxies.
    Local,
    /// Network namespaces on this machine (root); iptables faults.
    Netns,
    /// Hosts reached over SSH (--nodes host1,host2,...); iptables faults.
    Ssh,
}

impl ClusterKind {
    pub const ALL: [ClusterKind; 3] = [ClusterKind::Local, ClusterKind::Netns, ClusterKind::Ssh];

    pub fn name(self) -> &'static str {
        match self {
            ClusterKind::Local => "local",
            ClusterKind::Netns => "netns",
            ClusterKind::Ssh => "ssh",
        }
    }
}

faultline_checkers::named_kind!(ClusterKind, "cluster kind", "kinds");
