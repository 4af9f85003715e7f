//! `--cluster ssh`: the nodes run on remote hosts reached over SSH. The
//! target binary is uploaded to each host, nodes run as daemons there,
//! network faults are iptables rules on the hosts, and the node logs are
//! downloaded into the run directory at the end.
//!
//! Each node's directory on its host (`<remote-dir>/<run-id>/<node>/`) holds
//! an `owner` file naming the controller ([`Owner`]). A run starts by removing
//! whatever earlier runs whose controller is gone left there (their iptables
//! rules, their node processes); runs still going are left alone.

use super::nodes::{NodeCluster, NodeSlot, Nodes};
use super::owner::{Liveness, Owner};
use super::process::DaemonProcess;
use super::{Db, NodeInfo, NodeLaunch};
use crate::clock;
use crate::net::iptables::{self, IptablesNet};
use crate::net::Net;
use crate::remote::daemon;
use crate::remote::parallel::on_all;
use crate::remote::ssh::{SshConfig, SshRemote};
use crate::remote::{quote, Remote};
use anyhow::Context;
use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The `--ssh-*` flags (the hosts themselves come from `--nodes`).
#[derive(clap::Args, Debug, Clone)]
pub struct SshArgs {
    /// User to log in as on the SSH hosts (not root: commands needing root use sudo -n).
    #[arg(long, default_value = "root")]
    pub ssh_user: String,
    /// Private key file; without it the SSH agent is asked.
    #[arg(long)]
    pub ssh_key: Option<PathBuf>,
    /// SSH port on the hosts.
    #[arg(long, default_value_t = 22)]
    pub ssh_port: u16,
    /// known_hosts file that host keys are checked against [default: ~/.ssh/known_hosts].
    #[arg(long)]
    pub known_hosts: Option<PathBuf>,
    /// Accept any host key (unsafe: anyone in the middle can pose as a host).
    #[arg(long)]
    pub insecure_accept_host_keys: bool,
    /// Directory on the hosts for binaries, node data and logs.
    #[arg(long, default_value = "/tmp/faultline")]
    pub remote_dir: PathBuf,
}

impl SshArgs {
    pub fn config(&self) -> SshConfig {
        let mut c = SshConfig::new(
            &self.ssh_user,
            self.ssh_key.clone(),
            self.known_hosts
                .clone()
                .unwrap_or_else(SshConfig::default_known_hosts),
        );
        c.port = self.ssh_port;
        c.insecure_accept_host_keys = self.insecure_accept_host_keys;
        c
    }
}

/// What to build.
#[derive(Clone, Debug)]
pub struct SshOptions {
    pub hosts: Vec<String>,
    pub ssh: SshConfig,
    pub remote_dir: PathBuf,
    /// The port every node listens on.
    pub port: u16,
    pub run_id: String,
    pub bugs: Vec<String>,
    pub clock: bool,
}

pub struct SshCluster {
    nodes: Nodes,
    net: IptablesNet,
    /// Per node: its directory on its host (`remote_dir/run_id/<node>`).
    node_dirs: Vec<PathBuf>,
}

/// Connect to every host (in parallel), checking host keys.
pub fn connect_all(hosts: &[String], ssh: &SshConfig) -> anyhow::Result<Vec<Arc<dyn Remote>>> {
    on_all(hosts, |_, h| {
        SshRemote::connect(h, ssh).map(|r| Arc::new(r) as Arc<dyn Remote>)
    })
}

impl SshCluster {
    pub fn start(db: Arc<dyn Db>, opts: &SshOptions) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !opts.hosts.is_empty(),
            "--cluster ssh needs --nodes host1,host2,..."
        );
        let remotes = connect_all(&opts.hosts, &opts.ssh)?;
        let sudo = opts.ssh.user != "root";
        let left = runs_on_hosts(&remotes, sudo, &opts.remote_dir)?;
        let orphans: Vec<String> = left
            .iter()
            .filter(|r| r.is_orphan())
            .map(|r| r.run_id.clone())
            .collect();
        on_all(&remotes, |_, r| {
            clean_host(r.as_ref(), sudo, &opts.remote_dir, Some(&orphans))
        })
        .context("removing what an earlier run left on the hosts")?;
        let owner = Owner::current().to_line();
        // Nodes listen on, and peers reach, the address the host name resolves to.
        let addrs: Vec<String> = opts
            .hosts
            .iter()
            .map(|h| {
                (h.as_str(), opts.port)
                    .to_socket_addrs()
                    .ok()
                    .and_then(|mut a| a.next())
                    .map(|a| a.ip().to_string())
                    .with_context(|| format!("{h}: cannot resolve"))
            })
            .collect::<anyhow::Result<_>>()?;
        let peers: Vec<(String, String)> = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| (format!("n{}", i + 1), format!("{a}:{}", opts.port)))
            .collect();
        let prepared = on_all(&remotes, |i, remote| {
            let name = format!("n{}", i + 1);
            let base = opts.remote_dir.join(&opts.run_id).join(&name);
            let dir = base.join("node");
            let launch = NodeLaunch {
                name: name.clone(),
                listen: format!("{}:{}", addrs[i], opts.port),
                peers: peers.clone(),
                data_dir: dir.join("data"),
                bugs: opts.bugs.clone(),
            };
            let mut argv = db.command(&launch)?;
            let client_addr = db.client_addr(&launch)?;
            // The program itself, when it is a local file, goes to the host.
            let program = PathBuf::from(&argv[0]);
            if program.is_absolute() && program.is_file() {
                let dest = base.join("bin").join(program.file_name().unwrap());
                remote.upload(&program, &dest, 0o755)?;
                argv[0] = dest.to_string_lossy().into_owned();
            }
            remote.run_ok(&["mkdir", "-p", &launch.data_dir.to_string_lossy()])?;
            remote.write_file(&base.join("owner"), owner.as_bytes(), 0o644)?;
            let clock_file = opts.clock.then(|| dir.join("faketime"));
            let env = match &clock_file {
                Some(file) => clock::env(&clock::find_libfaketime(remote.as_ref())?, file),
                None => vec![],
            };
            Ok((launch, argv, env, clock_file, base, client_addr))
        })?;
        let mut slots = Vec::new();
        let mut hosts = Vec::new();
        let mut node_dirs = Vec::new();
        for (i, (launch, argv, env, clock_file, base, client_addr)) in
            prepared.into_iter().enumerate()
        {
            let dir = base.join("node");
            let process = DaemonProcess::in_dir(remotes[i].clone(), argv, env, &dir);
            let info = NodeInfo {
                name: launch.name.clone(),
                host: opts.hosts[i].clone(),
                client_addr,
            };
            slots.push(NodeSlot::new(
                db.as_ref(),
                info,
                remotes[i].clone(),
                Box::new(process),
                dir,
                clock_file,
                launch.clone(),
            )?);
            hosts.push(iptables::Host {
                node: launch.name.clone(),
                addr: addrs[i].clone(),
                remote: remotes[i].clone(),
            });
            node_dirs.push(base);
        }
        let cluster = SshCluster {
            nodes: Nodes::new(slots, db.ready_timeout()),
            net: IptablesNet::new(hosts, &opts.run_id, sudo),
            node_dirs,
        };
        // On failure, Drop stops what started.
        cluster.nodes.start_all()?;
        Ok(cluster)
    }
}

/// A run that left something on the hosts: tagged rules or node directories.
#[derive(Clone, Debug)]
pub struct RunOnHosts {
    pub run_id: String,
    /// From the `owner` file of one of its node directories, if any is left.
    pub owner: Option<Owner>,
}

impl RunOnHosts {
    /// Whether nothing still runs it: its controller is gone, or no owner
    /// file is left to name one.
    pub fn is_orphan(&self) -> bool {
        self.owner.as_ref().is_none_or(Owner::is_gone)
    }

    pub fn liveness(&self) -> Liveness {
        self.owner.as_ref().map_or(Liveness::Gone, Owner::liveness)
    }
}

/// The runs found on the hosts: ids from our rules' tags and from the run
/// directories under `remote_dir`, each with its recorded owner.
pub fn runs_on_hosts(
    remotes: &[Arc<dyn Remote>],
    sudo: bool,
    remote_dir: &Path,
) -> anyhow::Result<Vec<RunOnHosts>> {
    let dir = quote::quote(&remote_dir.to_string_lossy());
    let found = on_all(remotes, |_, r| {
        let mut runs: Vec<(String, Option<Owner>)> = Vec::new();
        for rule in iptables::list_tagged(r.as_ref(), sudo, iptables::is_ours)? {
            let words = iptables::split_rule(&rule);
            if let Some(id) =
                iptables::comment_of(&words).and_then(|c| c.strip_prefix(iptables::TAG_PREFIX))
            {
                runs.push((id.to_string(), None));
            }
        }
        // One line per node directory: `<run-id> <owner JSON or nothing>`.
        let script = format!(
            "cd {dir} 2>/dev/null || exit 0; for d in */*/; do \
             [ -f \"$d/owner\" ] || [ -f \"$d/node/node.pid\" ] || continue; \
             printf '%s %s\\n' \"${{d%%/*}}\" \"$(cat \"$d/owner\" 2>/dev/null)\"; done"
        );
        let out = r.run_shell(&script)?;
        for line in out.stdout.lines() {
            let (id, owner) = line.split_once(' ').unwrap_or((line, ""));
            runs.push((id.to_string(), Owner::parse(owner)));
        }
        Ok(runs)
    })?;
    let mut runs: std::collections::BTreeMap<String, Option<Owner>> = Default::default();
    for (id, owner) in found.into_iter().flatten() {
        let entry = runs.entry(id).or_default();
        if entry.is_none() {
            *entry = owner;
        }
    }
    Ok(runs
        .into_iter()
        .map(|(run_id, owner)| RunOnHosts { run_id, owner })
        .collect())
}

/// Remove faultline's iptables rules from a host and SIGKILL the node
/// processes recorded in pidfiles under `remote_dir`: of the runs `run_ids`,
/// or of every run when `None`. Returns (rules removed, processes killed).
pub fn clean_host(
    remote: &dyn Remote,
    sudo: bool,
    remote_dir: &Path,
    run_ids: Option<&[String]>,
) -> anyhow::Result<(usize, usize)> {
    let tags: Option<Vec<String>> =
        run_ids.map(|ids| ids.iter().map(|id| iptables::tag(id)).collect());
    let rules = iptables::remove_tagged(remote, sudo, |c| match &tags {
        Some(tags) => tags.iter().any(|t| t == c),
        None => iptables::is_ours(c),
    })?;
    let patterns: Vec<String> = match run_ids {
        Some(ids) => ids.iter().map(|id| quote::quote(id)).collect(),
        None => vec!["*".into()],
    };
    let mut killed = 0;
    for id in patterns {
        let pattern = format!(
            "{}/{id}/*/node/node.pid",
            quote::quote(&remote_dir.to_string_lossy()),
        );
        // One `pidfile pid` line per node.
        let out = remote.run_shell(&format!(
            "for f in {pattern}; do [ -f \"$f\" ] && echo \"$f $(cat \"$f\")\"; done; true"
        ))?;
        for (pidfile, pid) in out.stdout.lines().filter_map(|l| {
            let (file, pid) = l.rsplit_once(' ')?;
            Some((file, pid.trim().parse::<u32>().ok()?))
        }) {
            // Only the daemon that file names: the PID may be reused.
            if daemon::is_daemon_of(remote, pid, pidfile)?
                && daemon::proc_state(remote, pid)? != daemon::ProcState::Gone
            {
                daemon::signal_pid(remote, pid, "KILL")?;
                killed += 1;
            }
        }
    }
    Ok((rules, killed))
}

impl NodeCluster for SshCluster {
    fn node_set(&self) -> &Nodes {
        &self.nodes
    }
    fn net_faults(&self) -> &dyn Net {
        &self.net
    }
    /// Heal, stop the nodes, download each node's files (logs, data) into
    /// `run_dir/nodes/<node>/`, then remove the node directories on the hosts.
    fn tear_down(&self, run_dir: &Path) -> anyhow::Result<()> {
        let Some(stopped) = self.nodes.shut_down(&self.net, None) else {
            return Ok(());
        };
        let collected = on_all(&self.nodes.slots, |i, slot| {
            let local = run_dir.join("nodes").join(&slot.info.name);
            let remote = slot.remote.as_ref();
            remote
                .download_dir(&self.node_dirs[i].join("node"), &local)
                .with_context(|| format!("node {}: collecting logs", slot.info.name))?;
            remote.run_ok(&["rm", "-rf", &self.node_dirs[i].to_string_lossy()])?;
            Ok(())
        });
        stopped.and(collected.map(|_| ()))
    }
}

impl Drop for SshCluster {
    fn drop(&mut self) {
        // Not torn down (start failed, or a panic): at least heal and stop.
        let _ = self.nodes.shut_down(&self.net, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::daemon::tests::Reap;
    use crate::remote::daemon::Daemon;
    use crate::remote::local::LocalRemote;

    /// An orphan's node daemon is killed by its pidfile; a pidfile whose PID
    /// now belongs to another process (here this test's) is not acted on.
    #[test]
    fn clean_host_kills_only_the_daemons_its_pidfiles_name() {
        if !nix_root() {
            eprintln!("skipped: needs root (iptables)");
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let remote = LocalRemote::host();
        let node = |name: &str| root.path().join("run1").join(name).join("node");
        let d = Daemon {
            argv: vec!["sleep".into(), "30".into()],
            env: vec![],
            cwd: node("n1"),
            pidfile: node("n1").join("node.pid"),
            stdout: node("n1").join("stdout.log"),
            stderr: node("n1").join("stderr.log"),
        };
        let pid = d.start(&remote).unwrap();
        let _reap = Reap(pid);
        std::fs::create_dir_all(node("n2")).unwrap();
        std::fs::write(
            node("n2").join("node.pid"),
            format!("{}\n", std::process::id()),
        )
        .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !daemon::is_daemon_of(&remote, pid, &d.pidfile.to_string_lossy()).unwrap() {
            assert!(std::time::Instant::now() < deadline, "the daemon never ran");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let (_, killed) = clean_host(&remote, false, root.path(), Some(&["run1".into()])).unwrap();
        assert_eq!(killed, 1);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while d.state(&remote).unwrap() != daemon::ProcState::Gone {
            assert!(
                std::time::Instant::now() < deadline,
                "the daemon outlived its clean-up"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    fn nix_root() -> bool {
        unsafe { libc::geteuid() == 0 }
    }
}
