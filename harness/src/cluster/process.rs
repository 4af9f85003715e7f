//! How one node's process is started and reached. The lifecycle in
//! [`super::nodes`] is the same for every cluster kind; only this differs:
//! a local node is a child of the controller ([`super::child::ChildProcess`]),
//! a node on a host (netns, ssh) a daemon found through its pidfile
//! ([`DaemonProcess`]).

use crate::remote::daemon::Daemon;
pub use crate::remote::daemon::ProcState;
use crate::remote::Remote;
use std::sync::Arc;

pub trait NodeProcess: Send + Sync {
    /// Start the process (again); returns once it is started, not ready.
    fn start(&self) -> anyhow::Result<()>;
    /// What the process is doing now.
    fn state(&self) -> anyhow::Result<ProcState>;
    /// Send `STOP`, `CONT` or `TERM`. A process already gone is not an error.
    fn signal(&self, signal: &str) -> anyhow::Result<()>;
    /// SIGKILL it and wait until it is gone.
    fn kill(&self) -> anyhow::Result<()>;
    /// The last lines of its output (and how it ended, if known), for messages.
    fn output_tail(&self, lines: usize) -> String;
}

/// A daemon on a host: started with `nohup setsid`, found through its pidfile.
pub struct DaemonProcess {
    pub remote: Arc<dyn Remote>,
    pub daemon: Daemon,
}

impl NodeProcess for DaemonProcess {
    fn start(&self) -> anyhow::Result<()> {
        self.daemon.start(self.remote.as_ref()).map(|_| ())
    }
    fn state(&self) -> anyhow::Result<ProcState> {
        self.daemon.state(self.remote.as_ref())
    }
    fn signal(&self, signal: &str) -> anyhow::Result<()> {
        self.daemon.signal(self.remote.as_ref(), signal)
    }
    fn kill(&self) -> anyhow::Result<()> {
        self.daemon.kill(self.remote.as_ref())
    }
    fn output_tail(&self, lines: usize) -> String {
        self.daemon.stderr_tail(self.remote.as_ref(), lines)
    }
}

impl DaemonProcess {
    /// A daemon running `argv` in `dir`, with its pidfile and logs there
    /// (`node.pid`, `stdout.log`, `stderr.log`).
    pub fn in_dir(
        remote: Arc<dyn Remote>,
        argv: Vec<String>,
        env: Vec<(String, String)>,
        dir: &std::path::Path,
    ) -> Self {
        DaemonProcess {
            remote,
            daemon: Daemon {
                argv,
                env,
                cwd: dir.to_path_buf(),
                pidfile: dir.join("node.pid"),
                stdout: dir.join("stdout.log"),
                stderr: dir.join("stderr.log"),
            },
        }
    }
}
