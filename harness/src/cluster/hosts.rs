//! The cluster kinds on hosts, `--cluster netns` and `--cluster ssh`, behind
//! one entry point for `faultline test`: the flags they add and how to start
//! one from them.

use super::netns::{NetnsCluster, NetnsOptions};
use super::ssh::{SshArgs, SshCluster, SshOptions};
use super::{Cluster, ClusterKind, Db};
use crate::exit;
use std::path::PathBuf;
use std::sync::Arc;

/// Flags of the host cluster kinds (flattened into `faultline test`).
#[derive(clap::Args, Debug, Clone)]
pub struct HostClusterArgs {
    #[command(flatten)]
    pub ssh: SshArgs,
    /// Port the nodes listen on, on each host or namespace.
    #[arg(long, default_value_t = 7000)]
    pub node_port: u16,
}

/// `--nodes`: a count (`5`) or, for `--cluster ssh`, the hosts (`h1,h2,h3`).
#[derive(Clone, Debug, PartialEq)]
pub enum NodesArg {
    Count(usize),
    Hosts(Vec<String>),
}

impl NodesArg {
    /// How many nodes.
    pub fn count(&self) -> usize {
        match self {
            NodesArg::Count(n) => *n,
            NodesArg::Hosts(h) => h.len(),
        }
    }

    /// As `HostRun::nodes` takes them.
    pub fn to_list(&self) -> Vec<String> {
        match self {
            NodesArg::Count(n) => vec![n.to_string()],
            NodesArg::Hosts(h) => h.clone(),
        }
    }
}

impl std::str::FromStr for NodesArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(n) = s.trim().parse::<usize>() {
            return Ok(NodesArg::Count(n));
        }
        let hosts: Vec<String> = s.split(',').map(|h| h.trim().to_string()).collect();
        if hosts
            .iter()
            .any(|h| h.is_empty() || h.contains(char::is_whitespace))
        {
            return Err(format!(
                "{s:?} is neither a node count nor a list of hosts (h1,h2,...)"
            ));
        }
        Ok(NodesArg::Hosts(hosts))
    }
}

/// Everything else a host cluster needs from the run.
pub struct HostRun {
    /// `--nodes`: a count (`5`) or names; for ssh, the host names.
    pub nodes: Vec<String>,
    pub run_id: String,
    pub run_dir: PathBuf,
    pub bugs: Vec<String>,
    /// Start nodes under libfaketime (`--nemesis` includes `clock`).
    pub clock: bool,
    /// Node data directories on faultline-diskfs (a disk fault is requested).
    pub diskfs: bool,
}

/// Start a `netns` or `ssh` cluster.
pub fn start(
    kind: ClusterKind,
    args: &HostClusterArgs,
    run: &HostRun,
    db: Arc<dyn Db>,
) -> anyhow::Result<Box<dyn Cluster>> {
    match kind {
        ClusterKind::Netns => {
            let nodes = match run.nodes.as_slice() {
                [one] if one.parse::<usize>().is_ok() => one.parse().unwrap(),
                names => names.len(),
            };
            let opts = NetnsOptions {
                nodes,
                port: args.node_port,
                run_id: run.run_id.clone(),
                run_dir: run.run_dir.clone(),
                bugs: run.bugs.clone(),
                clock: run.clock,
            };
            Ok(Box::new(NetnsCluster::start_with_disks(
                db, &opts, run.diskfs,
            )?))
        }
        ClusterKind::Ssh => {
            if run.nodes.is_empty() || run.nodes.iter().all(|n| n.parse::<usize>().is_ok()) {
                return Err(exit::bad_input(
                    "--cluster ssh: --nodes must name the hosts (--nodes host1,host2,...)",
                ));
            }
            let opts = SshOptions {
                hosts: run.nodes.clone(),
                ssh: args.ssh.config(),
                remote_dir: args.ssh.remote_dir.clone(),
                port: args.node_port,
                run_id: run.run_id.clone(),
                bugs: run.bugs.clone(),
                clock: run.clock,
            };
            Ok(Box::new(SshCluster::start(db, &opts)?))
        }
        ClusterKind::Local => Err(exit::bad_input(
            "--cluster local: not a host cluster kind (netns, ssh)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_are_a_count_or_hosts() {
        assert_eq!("5".parse::<NodesArg>().unwrap(), NodesArg::Count(5));
        let hosts: NodesArg = "198.18.1.11,db2".parse().unwrap();
        assert_eq!(hosts.count(), 2);
        assert_eq!(hosts.to_list(), ["198.18.1.11", "db2"]);
        assert!("a,,b".parse::<NodesArg>().is_err());
    }
}
