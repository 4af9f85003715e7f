//! A local cluster: each node a child process on a 127.0.0.1 port (see
//! [`super::child`]: nodes die with the controller), peers reaching each
//! other through the fault proxies of [`ProxyNet`]. The node lifecycle is
//! [`Nodes`], shared with the other cluster kinds.

use super::child::{ChildProcess, Spawner};
use super::nodes::{NodeCluster, NodeSlot, Nodes};
use super::{Db, NodeInfo, NodeLaunch};
use crate::net::proxy::ProxyNet;
use crate::net::Net;
use crate::remote::local::LocalRemote;
use crate::remote::Remote;
use anyhow::{bail, Context};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub struct LocalCluster {
    nodes: Nodes,
    net: ProxyNet,
    run_dir: PathBuf,
    /// Each node's data directory on faultline-diskfs, for disk faults.
    disks: Option<super::local_disks::Disks>,
}

/// What the nodes of a local cluster run under, beyond their command.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalOptions {
    /// Under libfaketime (clock faults).
    pub clock: bool,
    /// With their data directories on faultline-diskfs (disk faults).
    pub diskfs: bool,
}

/// Directory of a node's logs and data in the run directory.
pub fn node_dir(run_dir: &Path, node: &str) -> PathBuf {
    run_dir.join("nodes").join(node)
}

/// A free port below Linux's ephemeral range (32768-60999 by default).
/// A killed node restarts on its old port; a port the kernel could hand out
/// as the source port of some outgoing connection meanwhile would make that
/// restart fail, so node ports are never taken from that range.
fn free_port() -> anyhow::Result<u16> {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    for _ in 0..200 {
        let port = rng.gen_range(20_000..32_768);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    anyhow::bail!("no free port in 20000-32767 on 127.0.0.1 after 200 tries")
}

impl LocalCluster {
    /// Starts `n` nodes of `db` and waits until each accepts connections.
    pub fn start(
        rt: &tokio::runtime::Handle,
        db: &dyn Db,
        n: usize,
        bugs: &[String],
        run_dir: &Path,
    ) -> anyhow::Result<Self> {
        Self::start_with_clock(rt, db, n, bugs, run_dir, false)
    }

    /// [`LocalCluster::start`], with every node under libfaketime when `clock`
    /// (a timestamp file per node in its directory, for clock faults).
    pub fn start_with_clock(
        rt: &tokio::runtime::Handle,
        db: &dyn Db,
        n: usize,
        bugs: &[String],
        run_dir: &Path,
        clock: bool,
    ) -> anyhow::Result<Self> {
        let opts = LocalOptions {
            clock,
            ..LocalOptions::default()
        };
        Self::start_with(rt, db, n, bugs, run_dir, opts)
    }

    /// [`LocalCluster::start`] with `opts`.
    pub fn start_with(
        rt: &tokio::runtime::Handle,
        db: &dyn Db,
        n: usize,
        bugs: &[String],
        run_dir: &Path,
        opts: LocalOptions,
    ) -> anyhow::Result<Self> {
        let names: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
        let mut real = Vec::new();
        for name in &names {
            real.push((name.clone(), format!("127.0.0.1:{}", free_port()?)));
        }
        let net = ProxyNet::start(rt, &real)?;
        let host: Arc<dyn Remote> = Arc::new(LocalRemote::host());
        let libfaketime = match opts.clock {
            true => Some(crate::clock::find_libfaketime(host.as_ref())?),
            false => None,
        };
        let spawner = Arc::new(Spawner::start()?);
        // Systems that name members by peer address (etcd) get the real
        // addresses: partitions then need iptables (netns, ssh).
        let proxied = db.peers_through_proxies();
        let mut slots = Vec::new();
        for (name, addr) in &real {
            let peers = real
                .iter()
                .map(|(peer, peer_addr)| {
                    let via = if peer == name || !proxied {
                        peer_addr.clone()
                    } else {
                        net.addr(name, peer).expect("proxy per link").to_string()
                    };
                    (peer.clone(), via)
                })
                .collect();
            let dir = node_dir(run_dir, name);
            fs::create_dir_all(dir.join("data"))
                .with_context(|| format!("node {name}: create {}", dir.display()))?;
            let launch = NodeLaunch {
                name: name.clone(),
                listen: addr.clone(),
                peers,
                data_dir: dir.join("data"),
                bugs: bugs.to_vec(),
            };
            let clock_file = opts.clock.then(|| dir.join("faketime"));
            let env = match (&libfaketime, &clock_file) {
                (Some(lib), Some(file)) => crate::clock::env(lib, file),
                _ => Vec::new(),
            };
            let info = NodeInfo {
                name: name.clone(),
                host: "127.0.0.1".into(),
                client_addr: db.client_addr(&launch)?,
            };
            let process = ChildProcess::new(
                name,
                db.command(&launch)?,
                env,
                dir.clone(),
                spawner.clone(),
            );
            slots.push(NodeSlot::new(
                db,
                info,
                host.clone(),
                Box::new(process),
                dir,
                clock_file,
                launch,
            )?);
        }
        let disks = if opts.diskfs {
            let dirs: Vec<PathBuf> = names.iter().map(|n| node_dir(run_dir, n)).collect();
            Some(super::local_disks::Disks::mount(&names, &dirs)?)
        } else {
            None
        };
        let cluster = LocalCluster {
            nodes: Nodes::new(slots, db.ready_timeout()),
            net,
            run_dir: run_dir.to_path_buf(),
            disks,
        };
        // On failure, Drop stops what started and unmounts the disks.
        cluster.nodes.start_all()?;
        Ok(cluster)
    }
}

impl NodeCluster for LocalCluster {
    fn node_set(&self) -> &Nodes {
        &self.nodes
    }
    fn net_faults(&self) -> &dyn Net {
        &self.net
    }
    /// Node logs are written straight into the run directory: heal, stop
    /// the nodes, unmount their disks.
    fn tear_down(&self, _run_dir: &Path) -> anyhow::Result<()> {
        let done = self.nodes.shut_down(&self.net, self.disks.as_ref());
        done.unwrap_or(Ok(()))
    }
    fn disks(&self) -> Option<&super::local_disks::Disks> {
        self.disks.as_ref()
    }
    fn data_dir_here(&self, node: usize) -> Option<PathBuf> {
        Some(self.nodes.slots[node].launch.data_dir.clone())
    }
}

/// Stop the nodes of a local run whose controller died: every process named
/// in `run_dir/nodes/*/node.pid` that is still the same process (same PID and
/// start time). Returns the nodes stopped (`n1 (PID 123)`).
pub fn stop_leftover_nodes(run_dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut stopped = Vec::new();
    let Ok(entries) = fs::read_dir(run_dir.join("nodes")) else {
        return Ok(stopped);
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let Ok(text) = fs::read_to_string(entry.path().join("node.pid")) else {
            continue;
        };
        let Some(node) = crate::cluster::owner::Owner::parse(&text) else {
            continue;
        };
        if node.liveness() != crate::cluster::owner::Liveness::Alive {
            continue;
        }
        // SAFETY: kill(2) on a PID just checked to be the node's own process
        // (same start time); CONT first so a paused node dies at once.
        unsafe {
            libc::kill(node.pid as i32, libc::SIGCONT);
            if libc::kill(node.pid as i32, libc::SIGKILL) != 0 {
                bail!(
                    "stopping node {} (PID {}): {}",
                    entry.file_name().to_string_lossy(),
                    node.pid,
                    std::io::Error::last_os_error()
                );
            }
        }
        stopped.push(format!(
            "{} (PID {})",
            entry.file_name().to_string_lossy(),
            node.pid
        ));
    }
    stopped.sort();
    Ok(stopped)
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if let Err(e) = self.tear_down(&self.run_dir.clone()) {
            tracing::warn!("stopping the local cluster: {e:#}");
        }
    }
}
