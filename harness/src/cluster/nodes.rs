//! The node lifecycle every cluster kind shares: install, wipe, start and
//! wait until ready; kill, restart, pause, resume; clock offsets; deaths
//! nobody caused; stop. A cluster kind differs only in how a node's process
//! is started and signalled ([`NodeProcess`]: a child of the controller, or
//! a daemon on a host) and where commands run (its [`Remote`]).

use super::process::{NodeProcess, ProcState};
use super::{Cluster, Db, NodeInfo, NodeLaunch, NodeState, ReadyCheck, Step};
use crate::clock::{self, ClockFaults};
use crate::net::Net;
use crate::remote::parallel::on_all;
use crate::remote::{quote, Remote};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A step command that runs longer than this is killed and counts as failed:
/// a fault must not hang the run.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a node may take to exit after its Db's own kill or stop command
/// before it is killed.
const KILL_STEP_GRACE: Duration = Duration::from_secs(5);
const STOP_GRACE: Duration = Duration::from_secs(3);

const ALL_STEPS: [Step; 6] = [
    Step::Install,
    Step::Wipe,
    Step::Stop,
    Step::Kill,
    Step::Pause,
    Step::Resume,
];

/// One node: where it runs and how.
pub struct NodeSlot {
    pub info: NodeInfo,
    /// The node's host: its step and ready-check commands run there.
    pub remote: Arc<dyn Remote>,
    pub process: Box<dyn NodeProcess>,
    /// The node's directory on its host (logs, pidfile, `steps.log`).
    pub dir: PathBuf,
    /// The libfaketime timestamp file, when the node runs under libfaketime.
    pub clock_file: Option<PathBuf>,
    /// What the node was launched with.
    pub launch: NodeLaunch,
    ready: ReadyCheck,
    /// The Db's own commands for lifecycle steps, rendered for this node.
    steps: Vec<(Step, Vec<String>)>,
}

impl NodeSlot {
    /// A node of `db`, with its ready check and step commands rendered.
    pub fn new(
        db: &dyn Db,
        info: NodeInfo,
        remote: Arc<dyn Remote>,
        process: Box<dyn NodeProcess>,
        dir: PathBuf,
        clock_file: Option<PathBuf>,
        launch: NodeLaunch,
    ) -> anyhow::Result<Self> {
        let mut steps = Vec::new();
        for step in ALL_STEPS {
            if let Some(argv) = db.step_command(step, &launch)? {
                steps.push((step, argv));
            }
        }
        Ok(NodeSlot {
            ready: db.ready_check(&launch)?,
            info,
            remote,
            process,
            dir,
            clock_file,
            launch,
            steps,
        })
    }

    fn named<T>(&self, r: anyhow::Result<T>) -> anyhow::Result<T> {
        r.map_err(|e| anyhow::anyhow!("node {} on {}: {e:#}", self.info.name, self.info.host))
    }

    /// Runs the Db's own command for `step` on the node's host, its output
    /// appended to `steps.log`. Returns false when the Db has none (the caller
    /// does the default). A failure or a run past [`STEP_TIMEOUT`] is an error
    /// naming the node, the step and the log's last lines.
    fn run_step(&self, step: Step) -> anyhow::Result<bool> {
        let Some((_, argv)) = self.steps.iter().find(|(s, _)| *s == step) else {
            return Ok(false);
        };
        let command = quote::command_line(argv);
        let log = quote::quote(&self.dir.join("steps.log").to_string_lossy());
        let banner = quote::quote(&format!("== {step:?}: {command}"));
        // Output to a file, not a pipe: a step that leaves a daemon behind
        // must not keep the controller waiting for the pipe to close.
        let script = format!(
            "{{ echo {banner}; timeout -k 5 {secs} {command}; }} >>{log} 2>&1 </dev/null",
            secs = STEP_TIMEOUT.as_secs()
        );
        let out = self.named(self.remote.run_shell(&script))?;
        if !out.success() {
            let why = match out.status {
                124 | 137 => format!("still running after {}s, killed", STEP_TIMEOUT.as_secs()),
                status => format!("exit status {status}"),
            };
            let tail = self
                .remote
                .run(&[
                    "tail",
                    "-n",
                    "20",
                    &self.dir.join("steps.log").to_string_lossy(),
                ])
                .map(|o| o.stdout)
                .unwrap_or_default();
            anyhow::bail!(
                "node {} on {}: {step:?} step `{command}`: {why}; last lines of {}:\n{tail}",
                self.info.name,
                self.info.host,
                self.dir.join("steps.log").display()
            );
        }
        Ok(true)
    }

    fn state(&self) -> ProcState {
        // Host unreachable: as far as we can tell, the node is not serving.
        self.process.state().unwrap_or(ProcState::Gone)
    }

    /// Waits up to `grace` for the process to exit after the Db's own kill or
    /// stop command; one still there is killed, with a warning, so no
    /// process outlives the cluster.
    fn reap_or_kill(&self, grace: Duration, step: Step) -> anyhow::Result<()> {
        let deadline = Instant::now() + grace;
        while self.state() != ProcState::Gone {
            if Instant::now() > deadline {
                tracing::warn!(
                    "node {}: still running {}s after its {step:?} command; killing it",
                    self.info.name,
                    grace.as_secs()
                );
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.named(self.process.kill())
    }
}

/// The nodes of a cluster and what the nemesis did to them.
pub struct Nodes {
    pub slots: Vec<NodeSlot>,
    pub infos: Vec<NodeInfo>,
    /// Nodes the nemesis killed or the cluster stopped (so their death is
    /// expected).
    killed: Mutex<Vec<bool>>,
    /// Nodes paused and not resumed since: a Db's pause command need not
    /// leave the process in the stopped state (a cgroup freezer does not).
    paused: Mutex<Vec<bool>>,
    ready_timeout: Duration,
    /// Whether [`Nodes::shut_down`] ran.
    shut: Mutex<bool>,
}

impl Nodes {
    pub fn new(slots: Vec<NodeSlot>, ready_timeout: Duration) -> Self {
        let infos = slots.iter().map(|s| s.info.clone()).collect();
        let n = slots.len();
        Nodes {
            slots,
            infos,
            killed: Mutex::new(vec![false; n]),
            paused: Mutex::new(vec![false; n]),
            ready_timeout,
            shut: Mutex::new(false),
        }
    }

    /// Install and wipe (the Db's steps, if it has them), then start every
    /// node (in parallel) and wait until each is ready.
    pub fn start_all(&self) -> anyhow::Result<()> {
        on_all(&self.slots, |i, slot| {
            slot.run_step(Step::Install)?;
            slot.run_step(Step::Wipe)?;
            self.start(i)
        })?;
        Ok(())
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
        slot.named(slot.process.start())?;
        self.wait_ready(slot)
    }

    /// Wait until the node passes its ready check; a node that exits first
    /// is reported with the tail of its output.
    fn wait_ready(&self, slot: &NodeSlot) -> anyhow::Result<()> {
        let run = |argv: &[String]| {
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            slot.remote.run(&argv).is_ok_and(|o| o.success())
        };
        let died = || (slot.state() == ProcState::Gone).then(|| slot.process.output_tail(20));
        super::ready::wait_ready(
            &slot.info.name,
            &slot.ready,
            self.ready_timeout,
            &run,
            &died,
        )
        .map_err(|e| match died() {
            // The tail is in the message already.
            Some(_) => e.context(format!("on {}", slot.info.host)),
            None => anyhow::anyhow!(
                "{e:#} (on {}, listening on {}); last lines of its output:\n{}",
                slot.info.host,
                slot.launch.listen,
                slot.process.output_tail(20)
            ),
        })
    }

    pub fn state(&self, i: usize) -> NodeState {
        match self.slots[i].state() {
            ProcState::Gone => NodeState::Down,
            ProcState::Stopped => NodeState::Paused,
            ProcState::Running if self.paused.lock().unwrap()[i] => NodeState::Paused,
            ProcState::Running => NodeState::Running,
        }
    }

    pub fn kill(&self, i: usize) -> anyhow::Result<()> {
        // Flagged before the signal: a crash check racing with this kill
        // never takes it for a crash.
        self.killed.lock().unwrap()[i] = true;
        self.paused.lock().unwrap()[i] = false;
        let slot = &self.slots[i];
        if slot.run_step(Step::Kill)? {
            return slot.reap_or_kill(KILL_STEP_GRACE, Step::Kill);
        }
        slot.named(slot.process.kill())
    }

    pub fn restart(&self, i: usize) -> anyhow::Result<()> {
        if self.slots[i].state() != ProcState::Gone {
            return Ok(());
        }
        self.start(i)?;
        self.killed.lock().unwrap()[i] = false;
        Ok(())
    }

    /// Removes a stopped node's data: the Db's wipe step, or else every
    /// entry of its data directory (the directory itself stays: it may be a
    /// faultline-diskfs mount point).
    pub fn wipe(&self, i: usize) -> anyhow::Result<()> {
        let slot = &self.slots[i];
        if slot.state() != ProcState::Gone {
            anyhow::bail!("node {}: cannot wipe a running node", slot.info.name);
        }
        if slot.run_step(Step::Wipe)? {
            return Ok(());
        }
        let dir = quote::quote(&slot.launch.data_dir.to_string_lossy());
        let out = slot.named(slot.remote.run_shell(&format!(
            "if [ -d {dir} ]; then find {dir} -mindepth 1 -delete; fi"
        )))?;
        if !out.success() {
            anyhow::bail!(
                "node {} on {}: wiping {dir} failed (exit status {}): {}",
                slot.info.name,
                slot.info.host,
                out.status,
                out.stderr.trim()
            );
        }
        Ok(())
    }

    pub fn pause(&self, i: usize) -> anyhow::Result<()> {
        let slot = &self.slots[i];
        if !slot.run_step(Step::Pause)? {
            slot.named(slot.process.signal("STOP"))?;
        }
        self.paused.lock().unwrap()[i] = true;
        Ok(())
    }

    pub fn resume(&self, i: usize) -> anyhow::Result<()> {
        let slot = &self.slots[i];
        if !slot.run_step(Step::Resume)? {
            slot.named(slot.process.signal("CONT"))?;
        }
        self.paused.lock().unwrap()[i] = false;
        Ok(())
    }

    pub fn unexpected_deaths(&self) -> Vec<(String, String)> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(i, s)| {
                // The flag is read after the process was seen gone: a kill
                // sets it before it signals.
                s.state() == ProcState::Gone && !self.killed.lock().unwrap()[*i]
            })
            .map(|(i, s)| {
                // Reported once.
                self.killed.lock().unwrap()[i] = true;
                (s.info.name.clone(), s.process.output_tail(20))
            })
            .collect()
    }

    /// Stop every node for good: the Db's stop step, or SIGTERM; whatever is
    /// left after a grace period is killed.
    pub fn stop_all(&self) -> anyhow::Result<()> {
        on_all(&self.slots, |i, slot| {
            self.killed.lock().unwrap()[i] = true;
            if slot.state() == ProcState::Gone {
                return Ok(());
            }
            if !slot.run_step(Step::Stop)? {
                slot.named(slot.process.signal("CONT"))?;
                slot.named(slot.process.signal("TERM"))?;
            }
            slot.reap_or_kill(STOP_GRACE, Step::Stop)
        })?;
        Ok(())
    }

    /// The part of a teardown every cluster kind shares, done once: heal the
    /// network, stop every node, then unmount their disks (once the nodes
    /// stopped, nothing holds a file open on them). Every step runs even if
    /// one fails. None when it ran before.
    pub fn shut_down(
        &self,
        net: &dyn Net,
        disks: Option<&super::local_disks::Disks>,
    ) -> Option<anyhow::Result<()>> {
        let mut shut = self.shut.lock().unwrap();
        if std::mem::replace(&mut *shut, true) {
            return None;
        }
        let healed = net.heal();
        let stopped = self.stop_all();
        let unmounted = disks.map_or(Ok(()), |d| d.unmount_all());
        Some(healed.and(stopped).and(unmounted))
    }

    /// Whether any node runs under libfaketime.
    pub fn has_clock(&self) -> bool {
        self.slots.iter().any(|s| s.clock_file.is_some())
    }
}

impl ClockFaults for Nodes {
    fn set_clock_offset(&self, node: usize, offset_ms: i64) -> anyhow::Result<()> {
        let slot = &self.slots[node];
        let file = slot.clock_file.as_ref().ok_or_else(|| {
            anyhow::anyhow!("node {} was not started under libfaketime", slot.info.name)
        })?;
        slot.named(clock::write_offset(slot.remote.as_ref(), file, offset_ms))
    }

    fn reset_clocks(&self) -> anyhow::Result<()> {
        on_all(&self.slots, |_, slot| match &slot.clock_file {
            Some(file) => slot.named(clock::write_offset(slot.remote.as_ref(), file, 0)),
            None => Ok(()),
        })?;
        Ok(())
    }
}

/// A cluster whose node faults go to its [`Nodes`] and network faults to
/// its [`Net`]: every cluster kind. Only building it and tearing it down
/// differ between kinds.
pub trait NodeCluster: Send + Sync {
    fn node_set(&self) -> &Nodes;
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

impl<T: NodeCluster> Cluster for T {
    fn nodes(&self) -> &[NodeInfo] {
        &self.node_set().infos
    }
    fn state(&self, node: usize) -> NodeState {
        self.node_set().state(node)
    }
    fn kill(&self, node: usize) -> anyhow::Result<()> {
        self.node_set().kill(node)
    }
    fn restart(&self, node: usize) -> anyhow::Result<()> {
        self.node_set().restart(node)
    }
    fn wipe(&self, node: usize) -> anyhow::Result<()> {
        self.node_set().wipe(node)
    }
    fn pause(&self, node: usize) -> anyhow::Result<()> {
        self.node_set().pause(node)
    }
    fn resume(&self, node: usize) -> anyhow::Result<()> {
        self.node_set().resume(node)
    }
    fn net(&self) -> &dyn Net {
        self.net_faults()
    }
    fn unexpected_deaths(&self) -> Vec<(String, String)> {
        self.node_set().unexpected_deaths()
    }
    fn clock(&self) -> Option<&dyn ClockFaults> {
        let n = self.node_set();
        n.has_clock().then_some(n as &dyn ClockFaults)
    }
    fn teardown(&self, run_dir: &Path) -> anyhow::Result<()> {
        self.tear_down(run_dir)
    }
    fn disk_fault(&self, node: usize, command: &str) -> anyhow::Result<String> {
        match self.disks() {
            Some(disks) => disks.command(node, command),
            None => anyhow::bail!(
                "node {}: its data directory is not on faultline-diskfs",
                self.node_set().infos[node].name
            ),
        }
    }
    fn local_data_dir(&self, node: usize) -> Option<PathBuf> {
        self.data_dir_here(node)
    }
}
