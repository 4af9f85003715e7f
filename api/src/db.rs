//! What runs on a node ([`Db`]) and how the rest of faultline sees a node
//! ([`NodeInfo`]). A cluster (local processes, network namespaces, SSH hosts)
//! starts, stops and faults the nodes a `Db` describes.

use std::path::PathBuf;

/// One node as the rest of the harness sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeInfo {
    /// `n1`, `n2`, ... (also the node's id for the target).
    pub name: String,
    /// Host the node runs on: `127.0.0.1`, a namespace address, an SSH host.
    pub host: String,
    /// Where clients reach the node (`host:port`), without any fault proxy.
    pub client_addr: String,
}

/// What runs on a node: the bundled targets, or a user's system.
pub trait Db: Send + Sync {
    /// The target's name, as in `--target` or the system file.
    fn name(&self) -> &str;
    /// The command line that runs `node` in the foreground (the cluster keeps
    /// it running as a daemon, captures its output and signals it by PID).
    fn command(&self, node: &NodeLaunch) -> anyhow::Result<Vec<String>>;
    /// Files under the node's data directory worth collecting besides the
    /// captured stdout and stderr.
    fn log_files(&self, _node: &NodeLaunch) -> Vec<PathBuf> {
        Vec::new()
    }
    /// Where clients reach `node`, when that is not its listen address (a
    /// system with a client port apart from its peer port, like etcd). Asked
    /// before the node first starts; the answer stays the same across restarts.
    fn client_addr(&self, node: &NodeLaunch) -> anyhow::Result<String> {
        Ok(node.listen.clone())
    }
    /// Whether peer traffic may be routed through per-link fault proxies (each
    /// node told a different address for the same peer). Systems that identify
    /// members by their peer address (etcd) say no: their peers must get the
    /// real addresses, and partitions need iptables (`--cluster netns`/`ssh`).
    fn peers_through_proxies(&self) -> bool {
        true
    }
    /// The command for a lifecycle step on the node's host, if this system
    /// has its own; `None`: the cluster's default (signals by PID; wipe =
    /// remove the data directory; install = nothing).
    fn step_command(&self, _step: Step, _node: &NodeLaunch) -> anyhow::Result<Option<Vec<String>>> {
        Ok(None)
    }
    /// How to tell the node is ready to serve clients.
    fn ready_check(&self, node: &NodeLaunch) -> anyhow::Result<ReadyCheck> {
        Ok(ReadyCheck::TcpConnect(self.client_addr(node)?))
    }
    /// How long a node may take to become ready before it counts as failed.
    fn ready_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(30)
    }
}

/// A lifecycle step a [`Db`] may give its own command for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Once per node before its first start (install packages, copy files).
    Install,
    /// Remove the node's data before the test.
    Wipe,
    /// Stop the node for good at teardown (default SIGTERM, then SIGKILL).
    Stop,
    /// Crash the node (default SIGKILL).
    Kill,
    /// Freeze the node (default SIGSTOP).
    Pause,
    /// Unfreeze the node (default SIGCONT).
    Resume,
}

/// How to tell a node is ready.
#[derive(Clone, Debug, PartialEq)]
pub enum ReadyCheck {
    /// A TCP connection to this `host:port` succeeds.
    TcpConnect(String),
    /// This command, run on the node's host, exits 0.
    Command(Vec<String>),
}

/// Everything a [`Db`] needs to know to run one node.
#[derive(Clone, Debug)]
pub struct NodeLaunch {
    pub name: String,
    /// Address the node listens on (`host:port`).
    pub listen: String,
    /// Every node (including this one) with the address its peers use to reach
    /// it; on a local cluster that is the address of a fault proxy.
    pub peers: Vec<(String, String)>,
    pub data_dir: PathBuf,
    /// Known-bug switches to turn on.
    pub bugs: Vec<String>,
}
