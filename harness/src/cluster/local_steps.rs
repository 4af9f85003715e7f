//! A [`Db`]'s own lifecycle commands (install, wipe, stop, kill, pause,
//! resume) run on this machine for the nodes of a local cluster. Systems that
//! run under a supervisor of their own (systemd, a wrapper script with a
//! pidfile) say how to crash or freeze a node; without a command the local
//! cluster signals the node's process itself.

use super::{Db, NodeLaunch, Step};
use anyhow::bail;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A step command that runs longer than this is killed and counts as failed:
/// a fault must not hang the run.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);

const ALL_STEPS: [Step; 6] = [
    Step::Install,
    Step::Wipe,
    Step::Stop,
    Step::Kill,
    Step::Pause,
    Step::Resume,
];

/// One node's step commands, rendered once at cluster start.
pub struct NodeSteps {
    node: String,
    commands: Vec<(Step, Vec<String>)>,
    /// Where the steps' output goes: `nodes/<node>/steps.log`.
    log: PathBuf,
}

impl NodeSteps {
    pub fn new(db: &dyn Db, launch: &NodeLaunch, log: PathBuf) -> anyhow::Result<Self> {
        let mut commands = Vec::new();
        for step in ALL_STEPS {
            if let Some(argv) = db.step_command(step, launch)? {
                commands.push((step, argv));
            }
        }
        Ok(NodeSteps {
            node: launch.name.clone(),
            commands,
            log,
        })
    }

    pub fn has(&self, step: Step) -> bool {
        self.commands.iter().any(|(s, _)| *s == step)
    }

    /// Runs the command for `step`, if the Db gave one. Returns whether it
    /// ran; an exit other than 0, or a run past [`STEP_TIMEOUT`], is an error
    /// naming the node and the step.
    pub fn run(&self, step: Step) -> anyhow::Result<bool> {
        let Some((_, argv)) = self.commands.iter().find(|(s, _)| *s == step) else {
            return Ok(false);
        };
        let name = &self.node;
        let what = format!("node {name}: {step:?} step `{}`", argv.join(" "));
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| anyhow::anyhow!("{what}: open {}: {e}", self.log.display()))?;
        writeln!(log, "== {step:?}: {}", argv.join(" "))?;
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log.try_clone()?)
            .spawn()
            .map_err(|e| anyhow::anyhow!("{what}: cannot start: {e}"))?;
        let deadline = Instant::now() + STEP_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "{what}: still running after {}s, killed it (output in {})",
                    STEP_TIMEOUT.as_secs(),
                    self.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        if !status.success() {
            bail!("{what}: {status} (output in {})", self.log.display());
        }
        Ok(true)
    }
}
