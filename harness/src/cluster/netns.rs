//! `--cluster netns`: one network namespace per node, all on one bridge, with
//! addresses in 198.18.0.0/15. Nodes run inside with `ip netns exec`; network
//! faults are iptables rules inside each namespace. Needs root.
//!
//! Every name starts with `fln-<id>-`, the id being the run's id (the tag of
//! its iptables rules too), and a state file in `/run/faultline/netns/<id>`
//! records which process owns the cluster (see [`Owner`]), so cleanup removes
//! exactly ours: at teardown, on drop, and for clusters whose owner died, at
//! the next run or `faultline heal --cluster netns`.

use super::nodes::{NodeCluster, NodeSlot, Nodes};
use super::owner::Owner;
use super::process::DaemonProcess;
use super::{Cluster, Db, NodeInfo, NodeLaunch};
use crate::clock;
use crate::net::iptables::{self, IptablesNet};
use crate::net::Net;
use crate::remote::local::LocalRemote;
use crate::remote::Remote;
use anyhow::Context;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const STATE_DIR: &str = "/run/faultline/netns";
const TEARDOWN_LOCK: &str = "/run/faultline/netns-teardown.lock";
/// Shared with scripts/netns-hosts: held while choosing a free subnet.
const NET_LOCK: &str = "/run/faultline-net.lock";

/// What to build.
#[derive(Clone, Debug)]
pub struct NetnsOptions {
    pub nodes: usize,
    /// The port every node listens on, in its own namespace.
    pub port: u16,
    /// The run's id: tags its iptables rules and names its namespaces
    /// (`fln-<id>-<n>`), so 1 to 7 characters of `[a-z0-9]`.
    pub run_id: String,
    /// Node data and logs go to `run_dir/nodes/<node>/`.
    pub run_dir: PathBuf,
    pub bugs: Vec<String>,
    /// Start nodes under libfaketime, for clock faults.
    pub clock: bool,
}

pub struct NetnsCluster {
    id: String,
    nodes: Nodes,
    net: IptablesNet,
    /// Each node's data directory on faultline-diskfs, for disk faults.
    disks: Option<super::local_disks::Disks>,
}

fn ns_name(id: &str, i: usize) -> String {
    format!("fln-{id}-{}", i + 1)
}

fn bridge_name(id: &str) -> String {
    format!("fln-{id}-br")
}

/// Run a command on this machine (root namespace); fail with its stderr.
fn sh(argv: &[&str]) -> anyhow::Result<String> {
    LocalRemote::host().run_ok(argv)
}

impl NetnsCluster {
    pub fn start(db: Arc<dyn Db>, opts: &NetnsOptions) -> anyhow::Result<Self> {
        Self::start_with_disks(db, opts, false)
    }

    /// [`NetnsCluster::start`], with each node's data directory on
    /// faultline-diskfs when `diskfs` (disk faults). The namespaces share
    /// this machine's filesystem, so the controller mounts each from the
    /// root namespace before the nodes start (`ip netns exec` copies it).
    pub fn start_with_disks(
        db: Arc<dyn Db>,
        opts: &NetnsOptions,
        diskfs: bool,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            unsafe { libc::geteuid() } == 0,
            "--cluster netns needs root (it creates network namespaces and iptables rules)"
        );
        anyhow::ensure!(
            (1..=200).contains(&opts.nodes),
            "--cluster netns: between 1 and 200 nodes, not {}",
            opts.nodes
        );
        let id = opts.run_id.clone();
        anyhow::ensure!(
            (1..=7).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
            "--cluster netns: run id {id:?} must be 1 to 7 characters of [a-z0-9] (it names interfaces)"
        );
        remove_stale().context("removing namespaces left by an earlier run")?;
        let subnet = create_bridge(&id)?;
        // From here on, whatever fails removes what was made.
        let guard = Destroy(id.clone());
        let mut slots = Vec::new();
        let mut hosts = Vec::new();
        let peers: Vec<(String, String)> = (0..opts.nodes)
            .map(|i| {
                (
                    format!("n{}", i + 1),
                    format!("{subnet}.{}:{}", 11 + i, opts.port),
                )
            })
            .collect();
        for i in 0..opts.nodes {
            let ns = ns_name(&id, i);
            let addr = format!("{subnet}.{}", 11 + i);
            create_host(&id, i, &addr)?;
            let name = format!("n{}", i + 1);
            // Absolute: the nodes' commands run with their own working directory.
            let dir = std::path::absolute(&opts.run_dir)?
                .join("nodes")
                .join(&name);
            let launch = NodeLaunch {
                name: name.clone(),
                listen: format!("{addr}:{}", opts.port),
                peers: peers.clone(),
                data_dir: dir.join("data"),
                bugs: opts.bugs.clone(),
            };
            let remote: Arc<dyn Remote> = Arc::new(LocalRemote::netns(&ns));
            let argv = db.command(&launch)?;
            let client_addr = db.client_addr(&launch)?;
            let clock_file = opts.clock.then(|| dir.join("faketime"));
            let env = match &clock_file {
                Some(file) => clock::env(&clock::find_libfaketime(remote.as_ref())?, file),
                None => vec![],
            };
            std::fs::create_dir_all(&launch.data_dir)
                .with_context(|| format!("creating {}", launch.data_dir.display()))?;
            let process = DaemonProcess::in_dir(remote.clone(), argv, env, &dir);
            let info = NodeInfo {
                name: name.clone(),
                host: addr.clone(),
                client_addr,
            };
            slots.push(NodeSlot::new(
                db.as_ref(),
                info,
                remote.clone(),
                Box::new(process),
                dir.clone(),
                clock_file,
                launch.clone(),
            )?);
            hosts.push(iptables::Host {
                node: name,
                addr,
                remote,
            });
        }
        let disks = if diskfs {
            let names: Vec<String> = slots.iter().map(|s| s.info.name.clone()).collect();
            let dirs: Vec<PathBuf> = slots.iter().map(|s| s.dir.clone()).collect();
            Some(super::local_disks::Disks::mount(&names, &dirs)?)
        } else {
            None
        };
        let cluster = NetnsCluster {
            disks,
            nodes: Nodes::new(slots, db.ready_timeout()),
            net: IptablesNet::new(hosts, &opts.run_id, false),
            id,
        };
        std::mem::forget(guard);
        // The cluster's own Drop removes everything if starting fails.
        cluster
            .nodes
            .start_all()
            .with_context(|| format!("netns cluster fln-{}", cluster.id))?;
        Ok(cluster)
    }

    /// The namespace node `i` runs in.
    pub fn netns(&self, i: usize) -> String {
        ns_name(&self.id, i)
    }
}

impl NodeCluster for NetnsCluster {
    fn node_set(&self) -> &Nodes {
        &self.nodes
    }
    fn net_faults(&self) -> &dyn Net {
        &self.net
    }
    /// Node logs are written straight into the run directory, so there is
    /// nothing to collect: stop the nodes and remove the namespaces.
    fn tear_down(&self, _run_dir: &Path) -> anyhow::Result<()> {
        let Some(stopped) = self.nodes.shut_down(&self.net, self.disks.as_ref()) else {
            return Ok(());
        };
        stopped.and(destroy(&self.id))
    }
    fn disks(&self) -> Option<&super::local_disks::Disks> {
        self.disks.as_ref()
    }
    fn data_dir_here(&self, node: usize) -> Option<PathBuf> {
        Some(self.nodes.slots[node].launch.data_dir.clone())
    }
}

impl Drop for NetnsCluster {
    fn drop(&mut self) {
        if let Err(e) = self.teardown(Path::new(".")) {
            tracing::warn!("removing netns cluster {}: {e:#}", self.id);
        }
    }
}

/// Removes a half-built cluster.
struct Destroy(String);

impl Drop for Destroy {
    fn drop(&mut self) {
        let _ = destroy(&self.0);
    }
}

/// Choose a free /24 in 198.18.0.0/15 and put the bridge on it (its `.1`),
/// under the lock shared with scripts/netns-hosts. Returns `198.18.N`.
fn create_bridge(id: &str) -> anyhow::Result<String> {
    // Released when `_lock` is closed at the end of this function.
    let _lock = exclusive_lock(NET_LOCK)?;
    let used = sh(&["ip", "-o", "-4", "addr", "show"])?;
    let subnet = (1..=255)
        .map(|n| format!("198.18.{n}"))
        .find(|net| !used.contains(&format!(" {net}.")))
        .context("no free /24 left in 198.18.1.0 .. 198.18.255.0")?;
    std::fs::create_dir_all(STATE_DIR)?;
    let state = Path::new(STATE_DIR).join(id);
    let br = bridge_name(id);
    anyhow::ensure!(
        !state.exists() && sh(&["ip", "link", "show", &br]).is_err(),
        "a netns cluster with id {id} exists already ({})",
        state.display()
    );
    // Written whole then renamed: a half-written file would look stale.
    let tmp = state.with_extension("tmp");
    std::fs::write(&tmp, format!("{}\n", Owner::current().to_line()))?;
    std::fs::rename(&tmp, &state)?;
    sh(&["ip", "link", "add", &br, "type", "bridge"])?;
    sh(&["ip", "addr", "add", &format!("{subnet}.1/24"), "dev", &br])?;
    sh(&["ip", "link", "set", &br, "up"])?;
    // Bridged traffic may pass the host's FORWARD chain (br_netfilter); let
    // ours through whatever that chain's policy is.
    sh(&[
        "iptables",
        "-w",
        "10",
        "-I",
        "FORWARD",
        "-i",
        &br,
        "-o",
        &br,
        "-m",
        "comment",
        "--comment",
        &forward_tag(id),
        "-j",
        "ACCEPT",
    ])?;
    Ok(subnet)
}

fn forward_tag(id: &str) -> String {
    format!("faultline-netns:{id}")
}

fn create_host(id: &str, i: usize, addr: &str) -> anyhow::Result<()> {
    let ns = ns_name(id, i);
    sh(&["ip", "netns", "add", &ns])?;
    sh(&[
        "ip", "link", "add", &ns, "type", "veth", "peer", "name", "eth0", "netns", &ns,
    ])?;
    sh(&["ip", "link", "set", &ns, "master", &bridge_name(id), "up"])?;
    sh(&[
        "ip",
        "-n",
        &ns,
        "addr",
        "add",
        &format!("{addr}/24"),
        "dev",
        "eth0",
    ])?;
    sh(&["ip", "-n", &ns, "link", "set", "eth0", "up"])?;
    sh(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
    Ok(())
}

/// The namespaces of cluster `id` (matched by exact name pattern).
fn namespaces_of(id: Option<&str>) -> anyhow::Result<Vec<String>> {
    let list = sh(&["ip", "netns", "list"])?;
    Ok(list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|ns| {
            let Some(rest) = ns.strip_prefix("fln-") else {
                return false;
            };
            let Some((ns_id, num)) = rest.rsplit_once('-') else {
                return false;
            };
            id.is_none_or(|id| id == ns_id) && num.parse::<usize>().is_ok()
        })
        .map(String::from)
        .collect())
}

/// Holds an exclusive `flock` on `path` (created if missing) until dropped.
fn exclusive_lock(path: &str) -> anyhow::Result<std::fs::File> {
    if let Some(dir) = Path::new(path).parent() {
        std::fs::create_dir_all(dir)?;
    }
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening {path}"))?;
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } != 0 {
        anyhow::bail!("locking {path}: {}", std::io::Error::last_os_error());
    }
    Ok(lock)
}

/// Serialises heals and teardowns across processes: a run that starts
/// removes dead runs' namespaces, and `faultline heal` may be working on the
/// same namespaces at that moment (`ip netns exec` into a namespace being
/// deleted fails with EINVAL).
fn teardown_lock() -> anyhow::Result<std::fs::File> {
    exclusive_lock(TEARDOWN_LOCK)
}

/// Remove cluster `id`: kill what runs in its namespaces (all started by us),
/// delete them, the bridge, the FORWARD rule and the state file.
pub fn destroy(id: &str) -> anyhow::Result<()> {
    let _lock = teardown_lock()?;
    let mut errors = Vec::new();
    for ns in namespaces_of(Some(id))? {
        if let Ok(pids) = sh(&["ip", "netns", "pids", &ns]) {
            for pid in pids
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
            {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        if let Err(e) = sh(&["ip", "netns", "del", &ns]) {
            errors.push(format!("{e:#}"));
        }
    }
    let br = bridge_name(id);
    if sh(&["ip", "link", "show", &br]).is_ok() {
        if let Err(e) = sh(&["ip", "link", "del", &br]) {
            errors.push(format!("{e:#}"));
        }
    }
    let tag = forward_tag(id);
    let _ = remove_forward_rules(|c| c == tag);
    let _ = std::fs::remove_file(Path::new(STATE_DIR).join(id));
    anyhow::ensure!(errors.is_empty(), "{}", errors.join("\n"));
    Ok(())
}

fn remove_forward_rules(wanted: impl Fn(&str) -> bool) -> anyhow::Result<()> {
    let rules = sh(&["iptables", "-w", "10", "-S", "FORWARD"])?;
    for line in rules.lines().filter(|l| l.contains("faultline-netns:")) {
        let words = iptables::split_rule(line);
        if iptables::comment_of(&words).is_some_and(&wanted) {
            let mut argv = vec!["iptables", "-w", "10", "-D"];
            argv.extend(words[1..].iter().map(String::as_str));
            sh(&argv)?;
        }
    }
    Ok(())
}

/// A netns cluster on this machine and the process that owns it.
#[derive(Clone, Debug)]
pub struct NetnsRun {
    pub id: String,
    /// From its state file; `None` when the file is missing or unreadable.
    pub owner: Option<Owner>,
}

impl NetnsRun {
    /// Whether its owner is known to be gone (or unknown: then nothing
    /// owns the namespaces any more).
    pub fn is_orphan(&self) -> bool {
        self.owner.as_ref().is_none_or(Owner::is_gone)
    }
}

/// Every netns cluster on this machine: those with a state file and those
/// with namespaces (a state file lost would otherwise hide them).
pub fn runs() -> anyhow::Result<Vec<NetnsRun>> {
    let mut ids = std::collections::BTreeSet::new();
    if let Ok(entries) = std::fs::read_dir(STATE_DIR) {
        for e in entries.filter_map(|e| e.ok()) {
            if e.path().extension().is_none() {
                ids.insert(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    for ns in namespaces_of(None)? {
        if let Some((id, _)) = ns["fln-".len()..].rsplit_once('-') {
            ids.insert(id.to_string());
        }
    }
    Ok(ids
        .into_iter()
        .map(|id| NetnsRun {
            owner: std::fs::read_to_string(Path::new(STATE_DIR).join(&id))
                .ok()
                .and_then(|text| Owner::parse(&text)),
            id,
        })
        .collect())
}

/// Clusters whose owning process is gone.
pub fn stale_clusters() -> Vec<String> {
    runs()
        .unwrap_or_default()
        .into_iter()
        .filter(NetnsRun::is_orphan)
        .map(|r| r.id)
        .collect()
}

/// Remove every cluster whose owner died (a crashed or killed controller).
pub fn remove_stale() -> anyhow::Result<Vec<String>> {
    let stale = stale_clusters();
    for id in &stale {
        tracing::info!("removing netns cluster {id} left by a dead run");
        // And the diskfs mounts whose server died with that run.
        if let Some(record) = super::registry::find(id) {
            super::local_disks::unmount_leftover(&record.run_dir)?;
        }
        destroy(id)?;
    }
    Ok(stale)
}

/// Remove faultline's iptables rules inside cluster `id`'s namespaces.
/// Returns how many rules went.
pub fn heal_run(id: &str) -> anyhow::Result<usize> {
    let _lock = teardown_lock()?;
    let mut removed = 0;
    for ns in namespaces_of(Some(id))? {
        let remote = LocalRemote::netns(&ns);
        removed += iptables::remove_tagged(&remote, false, iptables::is_ours)?;
    }
    Ok(removed)
}
