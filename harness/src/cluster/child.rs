//! A local node: a child process of the controller that dies with it.
//!
//! Each child is started with a parent-death signal (SIGKILL), from one
//! long-lived thread ([`Spawner`]) because the kernel sends it when the
//! *thread* that forked the child exits. Each start writes the node's PID and
//! start time to `nodes/<node>/node.pid`, so `faultline heal --cluster local
//! --stop-nodes` can stop what a dead run left (a node that forked away from
//! its process).

use super::process::{NodeProcess, ProcState};
use anyhow::{bail, Context};
use std::fs::{self, OpenOptions};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};

pub struct ChildProcess {
    pub name: String,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    /// The node's directory: `stdout.log`, `stderr.log`, `node.pid`.
    pub dir: PathBuf,
    pub spawner: Arc<Spawner>,
    child: Mutex<Option<Child>>,
    /// How the last child ended, once it was reaped.
    ended: Mutex<Option<ExitStatus>>,
}

impl ChildProcess {
    pub fn new(
        name: &str,
        argv: Vec<String>,
        env: Vec<(String, String)>,
        dir: PathBuf,
        spawner: Arc<Spawner>,
    ) -> Self {
        ChildProcess {
            name: name.to_string(),
            argv,
            env,
            dir,
            spawner,
            child: Mutex::new(None),
            ended: Mutex::new(None),
        }
    }
}

impl NodeProcess for ChildProcess {
    fn start(&self) -> anyhow::Result<()> {
        let name = &self.name;
        let open = |f: &str| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(f))
                .with_context(|| format!("node {name}: open {f}"))
        };
        let mut command = Command::new(&self.argv[0]);
        command
            .args(&self.argv[1..])
            .envs(self.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(open("stdout.log")?)
            .stderr(open("stderr.log")?);
        let child = self
            .spawner
            .spawn(command)
            .with_context(|| format!("node {name}: start {}", self.argv[0]))?;
        if let Some(me) = super::owner::Owner::local(child.id()) {
            fs::write(self.dir.join("node.pid"), format!("{}\n", me.to_line()))
                .with_context(|| format!("node {name}: write node.pid"))?;
        }
        *self.child.lock().unwrap() = Some(child);
        *self.ended.lock().unwrap() = None;
        Ok(())
    }

    fn state(&self) -> anyhow::Result<ProcState> {
        let mut child = self.child.lock().unwrap();
        let Some(c) = child.as_mut() else {
            return Ok(ProcState::Gone);
        };
        if let Ok(Some(status)) = c.try_wait() {
            *child = None;
            *self.ended.lock().unwrap() = Some(status);
            return Ok(ProcState::Gone);
        }
        // Running or stopped: `/proc/<pid>/stat`'s state letter says which.
        let stat = fs::read_to_string(format!("/proc/{}/stat", c.id())).unwrap_or_default();
        let letter = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next());
        Ok(match letter {
            Some("T" | "t") => ProcState::Stopped,
            _ => ProcState::Running,
        })
    }

    fn signal(&self, signal: &str) -> anyhow::Result<()> {
        let sig = match signal {
            "STOP" => libc::SIGSTOP,
            "CONT" => libc::SIGCONT,
            "TERM" => libc::SIGTERM,
            "KILL" => libc::SIGKILL,
            other => bail!("node {}: unknown signal {other}", self.name),
        };
        let child = self.child.lock().unwrap();
        let Some(pid) = child.as_ref().map(|c| c.id() as i32) else {
            return Ok(());
        };
        // SAFETY: kill(2) on the PID of our own child, not yet reaped: only
        // a holder of this lock reaps it.
        let failed = unsafe { libc::kill(pid, sig) } != 0;
        let why = std::io::Error::last_os_error();
        drop(child);
        if failed && self.state()? != ProcState::Gone {
            bail!("node {}: kill -{signal} {pid}: {why}", self.name);
        }
        Ok(())
    }

    fn kill(&self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.lock().unwrap().take() else {
            return Ok(());
        };
        // SAFETY: kill(2) on our own unreaped child. A stopped process is
        // continued so it dies at once.
        unsafe { libc::kill(child.id() as i32, libc::SIGCONT) };
        let _ = child.kill();
        let status = child
            .wait()
            .with_context(|| format!("node {}: waiting for it to die", self.name))?;
        *self.ended.lock().unwrap() = Some(status);
        Ok(())
    }

    fn output_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        if let Some(status) = *self.ended.lock().unwrap() {
            out.push_str(&format!("{status}\n"));
        }
        for file in ["stderr.log", "stdout.log"] {
            let text = fs::read_to_string(self.dir.join(file)).unwrap_or_default();
            let all: Vec<&str> = text.lines().collect();
            let tail = &all[all.len().saturating_sub(lines)..];
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
}

/// Starts node processes from one thread that lives as long as the cluster,
/// each with SIGKILL as its parent-death signal.
pub struct Spawner {
    requests: Mutex<mpsc::Sender<SpawnRequest>>,
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

impl Spawner {
    pub fn start() -> anyhow::Result<Spawner> {
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
