//! Nodes run as daemons on hosts reached through a [`Remote`]: the part the
//! netns and ssh clusters share (start, wait until ready, kill, restart,
//! pause, resume, clock offsets, unexpected deaths).

use super::{Cluster, Db, NodeInfo, NodeLaunch, NodeState, ReadyCheck, Step};
use crate::clock::{self, ClockFaults};
use crate::net::Net;
use crate::remote::daemon::{Daemon, ProcState};
use crate::remote::parallel::on_all;
use crate::remote::Remote;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One node: where it runs and how.
pub struct NodeSlot {
    pub info: NodeInfo,
    pub remote: Arc<dyn Remote>,
    pub daemon: Daemon,
    /// The libfaketime timestamp file, when the node runs under libfaketime.
    pub clock_file: Option<PathBuf>,
    /// How to tell the node is ready (from the [`super::Db`]).
    pub ready: ReadyCheck,
    /// What the node was launched with (for the Db's step commands).
    pub launch: NodeLaunch,
}

/// A set of daemon nodes and what the nemesis did to them.
pub struct DaemonNodes {
    pub slots: Vec<NodeSlot>,
    db: Arc<dyn Db>,
    pub infos: Vec<NodeInfo>,
    /// Nodes the nemesis killed (so their death is expected).
    killed: Mutex<Vec<bool>>,
    ready_timeout: Duration,
}

impl DaemonNodes {
    pub fn new(slots: Vec<NodeSlot>, db: Arc<dyn Db>) -> Self {
        let infos = slots.iter().map(|s| s.info.clone()).collect();
        let n = slots.len();
        let ready_timeout = db.ready_timeout();
        DaemonNodes {
            slots,
            db,
            infos,
            killed: Mutex::new(vec![false; n]),
            ready_timeout,
        }
    }

    /// Install and wipe (the Db's steps, if it has them), then start every
    /// node (in parallel) and wait until each is ready.
    pub fn start_all(&self) -> anyhow::Result<()> {
        on_all(&self.slots, |i, _| {
            self.run_step(i, Step::Install)?;
            self.run_step(i, Step::Wipe)?;
            self.start(i)
        })?;
        Ok(())
    }

    /// Run the Db's own command for `step` on the node's host. Returns false
    /// when the Db has none (the caller does the default).
    fn run_step(&self, i: usize, step: Step) -> anyhow::Result<bool> {
        let slot = &self.slots[i];
        let Some(argv) = self.db.step_command(step, &slot.launch)? else {
            return Ok(false);
        };
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        self.named(i, slot.remote.run_ok(&argv).map(|_| ()))
            .map_err(|e| e.context(format!("{step:?} step")))?;
        Ok(true)
    }

    fn start(&self, i: usize) -> anyhow::Result<()> {
        let slot = &self.slots[i];
        if let Some(file) = &slot.clock_file {
            // A fresh node starts on true time unless a fault is in force.
            if !slot
                .remote
                .run(&["test", "-f", &file.to_string_lossy()])?
                .success()
            {
                clock::write_offset(slot.remote.as_ref(), file, 0)?;
            }
        }
        slot.daemon
            .start(slot.remote.as_ref())
            .map_err(|e| anyhow::anyhow!("node {} on {}: {e:#}", slot.info.name, slot.info.host))?;
        self.wait_ready(i)
    }

    /// Wait until the node passes its ready check; a node that exits first
    /// is reported with the tail of its log.
    fn wait_ready(&self, i: usize) -> anyhow::Result<()> {
        let slot = &self.slots[i];
        let deadline = Instant::now() + self.ready_timeout;
        loop {
            if self.is_ready(slot)? {
                return Ok(());
            }
            let state = slot.daemon.state(slot.remote.as_ref())?;
            if state == ProcState::Gone || Instant::now() > deadline {
                let why = if state == ProcState::Gone {
                    "exited during startup".to_string()
                } else {
                    format!(
                        "not ready ({:?}) after {:?}",
                        slot.ready, self.ready_timeout
                    )
                };
                anyhow::bail!(
                    "node {} on {}: {why}; last lines of its stderr:\n{}",
                    slot.info.name,
                    slot.info.host,
                    slot.daemon.stderr_tail(slot.remote.as_ref(), 20)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn is_ready(&self, slot: &NodeSlot) -> anyhow::Result<bool> {
        Ok(match &slot.ready {
            ReadyCheck::TcpConnect(addr) => {
                let addr: SocketAddr = addr.parse().map_err(|_| {
                    anyhow::anyhow!(
                        "node {}: bad address {addr} to check readiness",
                        slot.info.name
                    )
                })?;
                TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
            }
            ReadyCheck::Command(argv) => {
                let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
                slot.remote.run(&argv)?.success()
            }
        })
    }

    pub fn state(&self, i: usize) -> NodeState {
        let slot = &self.slots[i];
        match slot.daemon.state(slot.remote.as_ref()) {
            Ok(ProcState::Running) => NodeState::Running,
            Ok(ProcState::Stopped) => NodeState::Paused,
            Ok(ProcState::Gone) => NodeState::Down,
            // Host unreachable: as far as we can tell, the node is not serving.
            Err(_) => NodeState::Down,
        }
    }

    fn named<T>(&self, i: usize, r: anyhow::Result<T>) -> anyhow::Result<T> {
        let slot = &self.slots[i];
        r.map_err(|e| anyhow::anyhow!("node {} on {}: {e:#}", slot.info.name, slot.info.host))
    }

    pub fn kill(&self, i: usize) -> anyhow::Result<()> {
        self.killed.lock().unwrap()[i] = true;
        if self.run_step(i, Step::Kill)? {
            return Ok(());
        }
        let slot = &self.slots[i];
        self.named(i, slot.daemon.kill(slot.remote.as_ref()))
    }

    pub fn restart(&self, i: usize) -> anyhow::Result<()> {
        let slot = &self.slots[i];
        if slot.daemon.state(slot.remote.as_ref())? != ProcState::Gone {
            return Ok(());
        }
        self.start(i)?;
        self.killed.lock().unwrap()[i] = false;
        Ok(())
    }

    pub fn pause(&self, i: usize) -> anyhow::Result<()> {
        if self.run_step(i, Step::Pause)? {
            return Ok(());
        }
        let slot = &self.slots[i];
        self.named(i, slot.daemon.signal(slot.remote.as_ref(), "STOP"))
    }

    pub fn resume(&self, i: usize) -> anyhow::Result<()> {
        if self.run_step(i, Step::Resume)? {
            return Ok(());
        }
        let slot = &self.slots[i];
        self.named(i, slot.daemon.signal(slot.remote.as_ref(), "CONT"))
    }

    pub fn unexpected_deaths(&self) -> Vec<(String, String)> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                // The flag is read after the process was seen gone: a kill
                // sets it before it signals, so a nemesis kill racing with
                // this check is never taken for a crash.
                s.daemon.state(s.remote.as_ref()).ok() == Some(ProcState::Gone)
                    && !self.killed.lock().unwrap()[*i]
            })
            .map(|(_, s)| {
                (
                    s.info.name.clone(),
                    s.daemon.stderr_tail(s.remote.as_ref(), 20),
                )
            })
            .collect()
    }

    /// Stop every node for good: the Db's stop step, or SIGTERM and, after a
    /// grace period, SIGKILL. Whatever is left after a stop step is killed.
    pub fn stop_all(&self) -> anyhow::Result<()> {
        on_all(&self.slots, |i, slot| {
            self.killed.lock().unwrap()[i] = true;
            let r = slot.remote.as_ref();
            if !self.run_step(i, Step::Stop)? {
                self.named(i, slot.daemon.signal(r, "CONT"))?;
                self.named(i, slot.daemon.signal(r, "TERM"))?;
                let deadline = Instant::now() + Duration::from_secs(3);
                while slot.daemon.state(r)? != ProcState::Gone && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            self.named(i, slot.daemon.kill(r))
        })?;
        Ok(())
    }

    /// Whether any node runs under libfaketime.
    pub fn has_clock(&self) -> bool {
        self.slots.iter().any(|s| s.clock_file.is_some())
    }
}

impl ClockFaults for DaemonNodes {
    fn set_clock_offset(&self, node: usize, offset_ms: i64) -> anyhow::Result<()> {
        let slot = &self.slots[node];
        let file = slot.clock_file.as_ref().ok_or_else(|| {
            anyhow::anyhow!("node {} was not started under libfaketime", slot.info.name)
        })?;
        self.named(
            node,
            clock::write_offset(slot.remote.as_ref(), file, offset_ms),
        )
    }

    fn reset_clocks(&self) -> anyhow::Result<()> {
        on_all(&self.slots, |i, slot| match &slot.clock_file {
            Some(file) => self.named(i, clock::write_offset(slot.remote.as_ref(), file, 0)),
            None => Ok(()),
        })?;
        Ok(())
    }
}

/// A cluster of [`DaemonNodes`] on hosts (`netns`, `ssh`): node faults go to
/// the daemons, network faults to `net`; only the teardown differs.
pub trait DaemonCluster: Send + Sync {
    fn daemons(&self) -> &DaemonNodes;
    fn net_faults(&self) -> &dyn Net;
    /// [`Cluster::teardown`]: heal, stop the nodes, collect their files and
    /// remove what the cluster created. Safe to call twice.
    fn tear_down(&self, run_dir: &Path) -> anyhow::Result<()>;
    /// The nodes' data directories on faultline-diskfs, if mounted.
    fn disks(&self) -> Option<&super::local_disks::Disks> {
        None
    }
    /// [`Cluster::local_data_dir`].
    fn data_dir_here(&self, _node: usize) -> Option<PathBuf> {
        None
    }
}

impl<T: DaemonCluster> Cluster for T {
    fn nodes(&self) -> &[NodeInfo] {
        &self.daemons().infos
    }
    fn state(&self, node: usize) -> NodeState {
        self.daemons().state(node)
    }
    fn kill(&self, node: usize) -> anyhow::Result<()> {
        self.daemons().kill(node)
    }
    fn restart(&self, node: usize) -> anyhow::Result<()> {
        self.daemons().restart(node)
    }
    fn pause(&self, node: usize) -> anyhow::Result<()> {
        self.daemons().pause(node)
    }
    fn resume(&self, node: usize) -> anyhow::Result<()> {
        self.daemons().resume(node)
    }
    fn net(&self) -> &dyn Net {
        self.net_faults()
    }
    fn unexpected_deaths(&self) -> Vec<(String, String)> {
        self.daemons().unexpected_deaths()
    }
    fn clock(&self) -> Option<&dyn ClockFaults> {
        let d = self.daemons();
        d.has_clock().then_some(d as &dyn ClockFaults)
    }
    fn teardown(&self, run_dir: &Path) -> anyhow::Result<()> {
        self.tear_down(run_dir)
    }
    fn disk_fault(&self, node: usize, command: &str) -> anyhow::Result<String> {
        match self.disks() {
            Some(disks) => disks.command(node, command),
            None => anyhow::bail!(
                "node {}: its data directory is not on faultline-diskfs",
                self.daemons().infos[node].name
            ),
        }
    }
    fn local_data_dir(&self, node: usize) -> Option<PathBuf> {
        self.data_dir_here(node)
    }
}
