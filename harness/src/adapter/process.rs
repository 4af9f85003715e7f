//! One running adapter executable: its stdin to write ops to, a channel of the
//! lines it prints on stdout, and the tail of its stderr for error messages.
//!
//! The adapter runs in a process group of its own, so killing it also ends any
//! helper processes it started (a shell adapter calling `etcdctl`, say), and
//! nothing else.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// Longest stdout line accepted; a longer one is babble.
const MAX_LINE: u64 = 4 << 20;
/// Stderr lines kept for error messages.
const STDERR_TAIL: usize = 10;

/// How to start an adapter: the command line, its environment, and where its
/// stderr goes.
#[derive(Clone, Debug)]
pub struct Launch {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// Append the adapter's stderr here (kept across restarts).
    pub stderr_log: Option<PathBuf>,
}

/// What the stdout reader saw.
#[derive(Debug)]
pub enum Output {
    Line(String),
    /// A line longer than the limit; reading stopped.
    TooLong,
    /// stdout closed: the adapter exited (or closed it).
    Closed,
}

pub struct AdapterProcess {
    child: Child,
    pid: u32,
    stdin: Option<ChildStdin>,
    output: mpsc::Receiver<Output>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
    /// Whether the child was reaped; after that its group must not be signalled.
    reaped: bool,
}

impl AdapterProcess {
    pub fn spawn(launch: &Launch) -> anyhow::Result<AdapterProcess> {
        let (program, args) = launch
            .argv
            .split_first()
            .ok_or_else(|| anyhow::anyhow!("the adapter command is empty"))?;
        let mut command = Command::new(program);
        command
            .args(args)
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &launch.cwd {
            command.current_dir(dir);
        }
        let mut child = command
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start adapter {:?}: {e}", launch.argv))?;
        let pid = child.id().unwrap_or(0);
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");

        // Bounded: an adapter that babbles between ops blocks on its stdout
        // instead of filling our memory; the babble is noticed at the next op.
        let (tx, output) = mpsc::channel(64);
        tokio::spawn(read_stdout(stdout, tx));
        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        tokio::spawn(read_stderr(
            stderr,
            launch.stderr_log.clone(),
            stderr_tail.clone(),
        ));
        Ok(AdapterProcess {
            child,
            pid,
            stdin,
            output,
            stderr_tail,
            reaped: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Writes one line to the adapter's stdin.
    pub async fn send(&mut self, line: &str) -> std::io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::other("stdin closed"))?;
        stdin.write_all(line.as_bytes()).await?;
        stdin.flush().await
    }

    /// The next thing the adapter printed, waiting at most `timeout`
    /// (`None`: the time ran out).
    pub async fn next(&mut self, timeout: Duration) -> Option<Output> {
        match tokio::time::timeout(timeout, self.output.recv()).await {
            Ok(Some(output)) => Some(output),
            Ok(None) => Some(Output::Closed),
            Err(_) => None,
        }
    }

    /// Output already printed, without waiting.
    pub fn pending(&mut self) -> Option<Output> {
        self.output.try_recv().ok()
    }

    /// Kills the adapter's process group and reaps it. Returns how it ended,
    /// for messages ("exit status 3", "killed by signal 9").
    ///
    /// The group is signalled before the leader is reaped: until then its pid
    /// (the group id) cannot be reused by a process we did not start.
    pub async fn kill(&mut self) -> String {
        self.stdin = None;
        if !self.reaped {
            kill_group(self.pid);
        }
        self.reaped = true;
        match tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await {
            Ok(Ok(status)) => describe(status),
            Ok(Err(e)) => format!("unknown exit ({e})"),
            Err(_) => "did not exit after SIGKILL".to_string(),
        }
    }

    /// How an adapter that closed its stdout ended: it gets a moment to finish
    /// exiting by itself, then is killed.
    pub async fn exit_status(&mut self) -> String {
        if !self.reaped {
            let waited = tokio::time::timeout(Duration::from_millis(500), async {
                loop {
                    // try_wait reaps; check without reaping by polling the
                    // zombie state through waitid(WNOWAIT).
                    if exited_not_reaped(self.pid) {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await;
            let _ = waited;
        }
        self.kill().await
    }

    /// The last lines the adapter wrote on stderr, joined, or "" if none.
    pub fn stderr_tail(&self) -> String {
        let tail = self.stderr_tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.iter().cloned().collect::<Vec<_>>().join(" | ")
    }
}

impl Drop for AdapterProcess {
    fn drop(&mut self) {
        if !self.reaped {
            kill_group(self.pid);
        }
    }
}

/// SIGKILL the process group led by `pid`: the adapter we started and its children.
fn kill_group(pid: u32) {
    if pid > 0 {
        // SAFETY: kill(2) with a negative pid signals the group we created with
        // process_group(0); it touches no memory.
        unsafe {
            libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
        }
    }
}

/// Whether `pid` (our child) has exited, leaving it unreaped.
fn exited_not_reaped(pid: u32) -> bool {
    // SAFETY: waitid writes only into the zeroed siginfo we own.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let r = libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        );
        r == 0 && info.si_pid() != 0
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        _ => status.to_string(),
    }
}

async fn read_stdout(stdout: tokio::process::ChildStdout, tx: mpsc::Sender<Output>) {
    let mut reader = BufReader::new(stdout);
    loop {
        let mut buf = Vec::new();
        match (&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut buf)
            .await
        {
            Ok(0) | Err(_) => {
                let _ = tx.send(Output::Closed).await;
                return;
            }
            Ok(n) if n as u64 == MAX_LINE && buf.last() != Some(&b'\n') => {
                let _ = tx.send(Output::TooLong).await;
                return;
            }
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf).into_owned();
                if tx.send(Output::Line(line)).await.is_err() {
                    return;
                }
            }
        }
    }
}

async fn read_stderr(
    stderr: tokio::process::ChildStderr,
    log: Option<PathBuf>,
    tail: Arc<Mutex<VecDeque<String>>>,
) {
    let mut file = match log {
        Some(path) => tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await
            .ok(),
        None => None,
    };
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(f) = file.as_mut() {
            let _ = f.write_all(format!("{line}\n").as_bytes()).await;
        }
        let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
        if tail.len() == STDERR_TAIL {
            tail.pop_front();
        }
        tail.push_back(line);
    }
}
