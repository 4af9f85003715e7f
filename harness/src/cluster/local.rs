//! A local cluster: each node a child process on a 127.0.0.1 port, peers
//! reaching each other through the fault proxies of [`ProxyNet`].
//!
//! Nodes die with the controller: each is started with a parent-death signal
//! (SIGKILL), from one long-lived thread because the kernel sends it when the
//! *thread* that forked the child exits. Each node's PID and start time go to
//! `nodes/<node>/node.pid`, so `faultline heal --cluster local --stop-nodes`
//! can stop what a dead run left (a node that forked away from its process).

use super::local_steps::NodeSteps;
use super::{Cluster, Db, NodeInfo, NodeLaunch, NodeState, ReadyCheck, Step};
use crate::net::proxy::ProxyNet;
use crate::net::Net;
use anyhow::{bail, Context};
use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

/// How long a node may take to accept connections after it starts.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

struct Proc {
    child: Option<Child>,
    state: NodeState,
}

pub struct LocalCluster {
    nodes: Vec<NodeInfo>,
    launches: Vec<NodeLaunch>,
    command: Vec<Vec<String>>,
    /// The Db's ready check of each node, and how long it may take.
    ready: Vec<ReadyCheck>,
    ready_timeout: Duration,
    /// The Db's own install/wipe/stop/kill/pause/resume commands, if any.
    steps: Vec<NodeSteps>,
    procs: Mutex<Vec<Proc>>,
    spawner: Spawner,
    net: ProxyNet,
    run_dir: PathBuf,
    /// libfaketime and each node's timestamp file, when nodes run under
    /// libfaketime for clock faults.
    clock: Option<(String, Vec<PathBuf>)>,
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

/// The last lines of a node's stderr and stdout, for error messages.
pub fn log_tail(run_dir: &Path, node: &str) -> String {
    let mut out = String::new();
    for file in ["stderr.log", "stdout.log"] {
        let text = fs::read_to_string(node_dir(run_dir, node).join(file)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = &lines[lines.len().saturating_sub(10)..];
        if !tail.is_empty() {
            out.push_str(&format!(
                "--- {file} (last {} lines)\n{}\n",
                tail.len(),
                tail.join("\n")
            ));
        }
    }
    if out.is_empty() {
        out.push_str("(no output)");
    }
    out
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
        let clock = opts.clock;
        let names: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
        let mut real = Vec::new();
        for name in &names {
            real.push((name.clone(), format!("127.0.0.1:{}", free_port()?)));
        }
        let net = ProxyNet::start(rt, &real)?;
        let mut launches = Vec::new();
        let mut command = Vec::new();
        let mut ready = Vec::new();
        let mut client_addrs = Vec::new();
        let mut steps = Vec::new();
        // Systems that name members by peer address (etcd) get the real
        // addresses: partitions then need iptables (netns, ssh).
        let proxied = db.peers_through_proxies();
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
            command.push(db.command(&launch)?);
            ready.push(db.ready_check(&launch)?);
            client_addrs.push(db.client_addr(&launch)?);
            steps.push(NodeSteps::new(db, &launch, dir.join("steps.log"))?);
            launches.push(launch);
        }
        let clock = if clock {
            let lib = crate::clock::find_libfaketime(&crate::remote::local::LocalRemote::host())?;
            let files: Vec<PathBuf> = names
                .iter()
                .map(|name| node_dir(run_dir, name).join("faketime"))
                .collect();
            for file in &files {
                crate::clock::write_offset(&crate::remote::local::LocalRemote::host(), file, 0)?;
            }
            Some((lib, files))
        } else {
            None
        };
        let disks = if opts.diskfs {
            let dirs: Vec<PathBuf> = names.iter().map(|n| node_dir(run_dir, n)).collect();
            Some(super::local_disks::Disks::mount(&names, &dirs)?)
        } else {
            None
        };
        let cluster = LocalCluster {
            clock,
            disks,
            nodes: real
                .iter()
                .zip(client_addrs)
                .map(|((name, _), client_addr)| NodeInfo {
                    name: name.clone(),
                    host: "127.0.0.1".into(),
                    client_addr,
                })
                .collect(),
            launches,
            command,
            ready,
            ready_timeout: db.ready_timeout().max(READY_TIMEOUT),
            steps,
            procs: Mutex::new(
                (0..n)
                    .map(|_| Proc {
                        child: None,
                        state: NodeState::Down,
                    })
                    .collect(),
            ),
            spawner: Spawner::start()?,
            net,
            run_dir: run_dir.to_path_buf(),
        };
        for i in 0..n {
            let prepared = (cluster.steps[i].run(Step::Install))
                .and_then(|_| cluster.steps[i].run(Step::Wipe));
            if let Err(e) = prepared.and_then(|_| cluster.spawn(i)) {
                let _ = cluster.teardown(run_dir);
                return Err(e);
            }
        }
        for i in 0..n {
            if let Err(e) = cluster.wait_ready(i) {
                let _ = cluster.teardown(run_dir);
                return Err(e);
            }
        }
        Ok(cluster)
    }

    fn spawn(&self, i: usize) -> anyhow::Result<()> {
        let name = &self.nodes[i].name;
        let dir = node_dir(&self.run_dir, name);
        let open = |f: &str| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(f))
                .with_context(|| format!("node {name}: open {f}"))
        };
        let argv = &self.command[i];
        let clock_env = match &self.clock {
            Some((lib, files)) => crate::clock::env(lib, &files[i]),
            None => Vec::new(),
        };
        let mut command = Command::new(&argv[0]);
        command
            .args(&argv[1..])
            .envs(clock_env)
            .stdin(Stdio::null())
            .stdout(open("stdout.log")?)
            .stderr(open("stderr.log")?);
        let child = self
            .spawner
            .spawn(command)
            .with_context(|| format!("node {name}: start {}", argv[0]))?;
        if let Some(me) = crate::cluster::owner::Owner::local(child.id()) {
            fs::write(dir.join("node.pid"), format!("{}\n", me.to_line()))
                .with_context(|| format!("node {name}: write node.pid"))?;
        }
        let mut procs = self.procs.lock().unwrap();
        procs[i] = Proc {
            child: Some(child),
            state: NodeState::Running,
        };
        Ok(())
    }

    fn wait_ready(&self, i: usize) -> anyhow::Result<()> {
        let name = &self.nodes[i].name;
        let start = Instant::now();
        let (ready, addr) = match &self.ready[i] {
            ReadyCheck::TcpConnect(addr) => (None, addr.clone()),
            ReadyCheck::Command(argv) => (Some(argv), argv.join(" ")),
        };
        loop {
            let is_ready = match ready {
                None => std::net::TcpStream::connect(&addr).is_ok(),
                Some(argv) => crate::system::lifecycle::run_local(argv),
            };
            if is_ready {
                return Ok(());
            }
            {
                let mut procs = self.procs.lock().unwrap();
                if let Some(child) = procs[i].child.as_mut() {
                    if let Ok(Some(status)) = child.try_wait() {
                        procs[i].state = NodeState::Down;
                        bail!(
                            "node {name} exited during startup ({status})\n{}",
                            log_tail(&self.run_dir, name)
                        );
                    }
                }
            }
            if start.elapsed() > self.ready_timeout {
                bail!(
                    "node {name} (listening on {}) was not ready ({addr}) within {}s\n{}",
                    self.launches[i].listen,
                    self.ready_timeout.as_secs(),
                    log_tail(&self.run_dir, name)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits up to `grace` for the node's process to exit after the Db's own
    /// `step` command; one still alive then is killed, with a warning, so no
    /// process outlives the cluster.
    fn reap_or_kill(&self, i: usize, child: &mut Child, grace: Duration, step: &str) {
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        tracing::warn!(
            "node {}: still running {}s after its {step} command; killing it",
            self.nodes[i].name,
            grace.as_secs()
        );
        // SAFETY: kill(2) on the PID of our own child, not yet reaped.
        unsafe { libc::kill(child.id() as i32, libc::SIGCONT) };
        let _ = child.kill();
        let _ = child.wait();
    }

    fn signal(&self, i: usize, sig: i32) -> anyhow::Result<()> {
        let procs = self.procs.lock().unwrap();
        let Some(child) = procs[i].child.as_ref() else {
            bail!("node {} is not running", self.nodes[i].name);
        };
        // SAFETY: plain kill(2) on the PID of our own child.
        if unsafe { libc::kill(child.id() as i32, sig) } != 0 {
            bail!(
                "node {}: signal {sig}: {}",
                self.nodes[i].name,
                std::io::Error::last_os_error()
            );
        }
        Ok(())
    }
}

impl Cluster for LocalCluster {
    fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }

    fn state(&self, node: usize) -> NodeState {
        self.procs.lock().unwrap()[node].state
    }

    fn kill(&self, node: usize) -> anyhow::Result<()> {
        // Taken out first, so its death is never reported as unexpected.
        let mut child = {
            let mut procs = self.procs.lock().unwrap();
            procs[node].state = NodeState::Down;
            procs[node].child.take()
        };
        let own_kill = self.steps[node].run(Step::Kill);
        if let Some(child) = child.as_mut() {
            if let Ok(true) = own_kill {
                self.reap_or_kill(node, child, Duration::from_secs(5), "kill");
            } else {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        own_kill.map(|_| ())
    }

    fn restart(&self, node: usize) -> anyhow::Result<()> {
        if self.state(node) != NodeState::Down {
            return Ok(());
        }
        self.spawn(node)?;
        self.wait_ready(node)
    }

    fn pause(&self, node: usize) -> anyhow::Result<()> {
        if !self.steps[node].run(Step::Pause)? {
            self.signal(node, libc::SIGSTOP)?;
        }
        self.procs.lock().unwrap()[node].state = NodeState::Paused;
        Ok(())
    }

    fn resume(&self, node: usize) -> anyhow::Result<()> {
        if !self.steps[node].run(Step::Resume)? {
            self.signal(node, libc::SIGCONT)?;
        }
        self.procs.lock().unwrap()[node].state = NodeState::Running;
        Ok(())
    }

    fn net(&self) -> &dyn Net {
        &self.net
    }

    fn clock(&self) -> Option<&dyn crate::clock::ClockFaults> {
        self.clock
            .as_ref()
            .map(|_| self as &dyn crate::clock::ClockFaults)
    }

    fn unexpected_deaths(&self) -> Vec<(String, String)> {
        let mut dead = Vec::new();
        let mut procs = self.procs.lock().unwrap();
        for (i, p) in procs.iter_mut().enumerate() {
            if let Some(child) = p.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    p.child = None;
                    p.state = NodeState::Down;
                    let name = &self.nodes[i].name;
                    dead.push((
                        name.clone(),
                        format!("{status}\n{}", log_tail(&self.run_dir, name)),
                    ));
                }
            }
        }
        dead
    }

    fn teardown(&self, _run_dir: &Path) -> anyhow::Result<()> {
        let _ = self.net.heal();
        // The Db's own stop command first, for the nodes still running; what
        // it leaves behind is killed below.
        for (i, steps) in self.steps.iter().enumerate() {
            if !steps.has(Step::Stop) {
                continue;
            }
            let Some(mut child) = self.procs.lock().unwrap()[i].child.take() else {
                continue;
            };
            match steps.run(Step::Stop) {
                Ok(_) => self.reap_or_kill(i, &mut child, Duration::from_secs(3), "stop"),
                Err(e) => {
                    tracing::warn!("{e:#}; killing it");
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        let mut procs = self.procs.lock().unwrap();
        for p in procs.iter_mut() {
            if let Some(mut child) = p.child.take() {
                // SAFETY: kill(2) on our own child's PID; a stopped process must
                // be continued to die promptly on some kernels' accounting.
                unsafe { libc::kill(child.id() as i32, libc::SIGCONT) };
                let _ = child.kill();
                let _ = child.wait();
            }
            p.state = NodeState::Down;
        }
        drop(procs);
        match &self.disks {
            Some(disks) => disks.unmount_all(),
            None => Ok(()),
        }
    }

    fn local_data_dir(&self, node: usize) -> Option<PathBuf> {
        Some(self.launches[node].data_dir.clone())
    }

    fn disk_fault(&self, node: usize, command: &str) -> anyhow::Result<String> {
        match &self.disks {
            Some(disks) => disks.command(node, command),
            None => bail!(
                "node {}: its data directory is not on faultline-diskfs",
                self.nodes[node].name
            ),
        }
    }
}

impl crate::clock::ClockFaults for LocalCluster {
    fn set_clock_offset(&self, node: usize, offset_ms: i64) -> anyhow::Result<()> {
        let Some((_, files)) = &self.clock else {
            bail!(
                "node {} was not started under libfaketime",
                self.nodes[node].name
            );
        };
        crate::clock::write_offset(
            &crate::remote::local::LocalRemote::host(),
            &files[node],
            offset_ms,
        )
        .with_context(|| format!("node {}: clock offset", self.nodes[node].name))
    }

    fn reset_clocks(&self) -> anyhow::Result<()> {
        for i in 0..self.nodes.len() {
            if self.clock.is_some() {
                self.set_clock_offset(i, 0)?;
            }
        }
        Ok(())
    }
}

/// Starts node processes from one thread that lives as long as the cluster,
/// each with SIGKILL as its parent-death signal.
struct Spawner {
    requests: Mutex<mpsc::Sender<SpawnRequest>>,
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

impl Spawner {
    fn start() -> anyhow::Result<Spawner> {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("node-spawner".into())
            .spawn(move || {
                // Ends when the cluster is dropped (after its teardown).
                for (mut command, reply) in rx {
                    let _ = reply.send(spawn_bound_to_parent(&mut command));
                }
            })
            .context("starting the node spawner thread")?;
        Ok(Spawner {
            requests: Mutex::new(tx),
        })
    }

    fn spawn(&self, command: Command) -> anyhow::Result<Child> {
        let (tx, rx) = mpsc::channel();
        self.requests
            .lock()
            .unwrap()
            .send((command, tx))
            .map_err(|_| anyhow::anyhow!("the node spawner thread is gone"))?;
        Ok(rx
            .recv()
            .map_err(|_| anyhow::anyhow!("the node spawner thread is gone"))??)
    }
}

/// Spawn with PR_SET_PDEATHSIG = SIGKILL: the child dies when this thread
/// (the controller's spawner) does.
fn spawn_bound_to_parent(command: &mut Command) -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the forked child before exec and calls
    // only async-signal-safe functions (prctl, getppid), allocating nothing.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            // The controller died between fork and prctl: no signal will come.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        })
    };
    command.spawn()
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
        let _ = self.teardown(&self.run_dir.clone());
    }
}
