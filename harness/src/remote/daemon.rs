//! Long-running processes on a host: started detached from the session that
//! started them (`nohup setsid`), found again through a pidfile, signalled by PID.

use super::{quote, Remote};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One daemon's command and where its files go.
#[derive(Clone, Debug)]
pub struct Daemon {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Working directory (created if missing).
    pub cwd: PathBuf,
    pub pidfile: PathBuf,
    /// stdout and stderr are appended to, so a restarted daemon keeps the
    /// earlier output.
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

/// What a daemon's process is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcState {
    Running,
    /// Stopped by SIGSTOP.
    Stopped,
    /// No such process (or only a zombie left).
    Gone,
}

/// Set in every daemon's environment to its pidfile's path, so a PID read
/// from a pidfile is killed only if that process is the daemon the file
/// names (the PID may have been reused since), see [`is_daemon_of`].
pub const PIDFILE_VAR: &str = "FAULTLINE_PIDFILE";

/// Whether process `pid` on the host is the daemon started with `pidfile`
/// (its initial environment names that file) and lives in the same network
/// namespace as the shell asking (hosts that share a file system, like the
/// namespace hosts of scripts/netns-hosts, see each other's pidfiles).
pub fn is_daemon_of(remote: &dyn Remote, pid: u32, pidfile: &str) -> anyhow::Result<bool> {
    let marker = quote::quote(&format!("{PIDFILE_VAR}={pidfile}"));
    let out = remote.run_shell(&format!(
        "test \"$(readlink /proc/{pid}/ns/net)\" = \"$(readlink /proc/$$/ns/net)\" && \
         tr '\\0' '\\n' </proc/{pid}/environ | grep -Fqx -- {marker}"
    ))?;
    Ok(out.success())
}

fn p(path: &Path) -> String {
    quote::quote(&path.to_string_lossy())
}

impl Daemon {
    /// Start it and return its PID. The process is the session leader of a new
    /// session, so it outlives the SSH connection or shell that started it.
    pub fn start(&self, remote: &dyn Remote) -> anyhow::Result<u32> {
        anyhow::ensure!(!self.argv.is_empty(), "daemon without a command");
        let mut words: Vec<String> = vec!["nohup".into(), "setsid".into(), "env".into()];
        words.push(format!("{PIDFILE_VAR}={}", self.pidfile.to_string_lossy()));
        words.extend(self.env.iter().map(|(k, v)| format!("{k}={v}")));
        words.extend(self.argv.iter().cloned());
        // nohup, setsid and env all exec, so `$!` is the program's own PID.
        let script = format!(
            "mkdir -p {cwd} && cd {cwd} && {{ {cmd} >>{out} 2>>{err} </dev/null & }} && echo $! >{pid} && cat {pid}",
            cwd = p(&self.cwd),
            cmd = quote::command_line(&words),
            out = p(&self.stdout),
            err = p(&self.stderr),
            pid = p(&self.pidfile),
        );
        let out = remote.run_shell(&script)?;
        anyhow::ensure!(
            out.success(),
            "{}: starting `{}` failed: {}",
            remote.host(),
            quote::command_line(&self.argv),
            out.stderr.trim()
        );
        out.stdout.trim().parse().map_err(|_| {
            anyhow::anyhow!(
                "{}: no PID from starting `{}`: {:?}",
                remote.host(),
                quote::command_line(&self.argv),
                out.stdout
            )
        })
    }

    /// The PID in the pidfile, if there is one.
    pub fn pid(&self, remote: &dyn Remote) -> anyhow::Result<Option<u32>> {
        let out = remote.run(&["cat", &self.pidfile.to_string_lossy()])?;
        Ok(out.stdout.trim().parse().ok().filter(|_| out.success()))
    }

    pub fn state(&self, remote: &dyn Remote) -> anyhow::Result<ProcState> {
        match self.pid(remote)? {
            Some(pid) => proc_state(remote, pid),
            None => Ok(ProcState::Gone),
        }
    }

    /// Send a signal (`KILL`, `STOP`, `CONT`, `TERM`) to the daemon. Signalling
    /// a process that is already gone is not an error.
    pub fn signal(&self, remote: &dyn Remote, signal: &str) -> anyhow::Result<()> {
        if let Some(pid) = self.pid(remote)? {
            signal_pid(remote, pid, signal)?;
        }
        Ok(())
    }

    /// SIGKILL it and wait until the process is gone.
    pub fn kill(&self, remote: &dyn Remote) -> anyhow::Result<()> {
        let Some(pid) = self.pid(remote)? else {
            return Ok(());
        };
        signal_pid(remote, pid, "KILL")?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while proc_state(remote, pid)? != ProcState::Gone {
            anyhow::ensure!(
                Instant::now() < deadline,
                "{}: process {pid} still there 10 s after SIGKILL",
                remote.host()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// The last `lines` lines of its stderr (for error messages).
    pub fn stderr_tail(&self, remote: &dyn Remote, lines: usize) -> String {
        remote
            .run(&[
                "tail",
                "-n",
                &lines.to_string(),
                &self.stderr.to_string_lossy(),
            ])
            .map(|o| o.stdout)
            .unwrap_or_default()
    }
}

/// Signal a PID; a process that no longer exists is fine.
pub fn signal_pid(remote: &dyn Remote, pid: u32, signal: &str) -> anyhow::Result<()> {
    let out = remote.run(&["kill", &format!("-{signal}"), &pid.to_string()])?;
    if !out.success() && proc_state(remote, pid)? != ProcState::Gone {
        anyhow::bail!(
            "{}: kill -{signal} {pid} failed: {}",
            remote.host(),
            out.stderr.trim()
        );
    }
    Ok(())
}

/// The state of a PID, from `/proc/<pid>/stat` (zombies count as gone:
/// where nobody reaps orphans, `kill -0` would still find them).
pub fn proc_state(remote: &dyn Remote, pid: u32) -> anyhow::Result<ProcState> {
    let out = remote.run(&["cat", &format!("/proc/{pid}/stat")])?;
    if !out.success() {
        return Ok(ProcState::Gone);
    }
    // Format: `pid (comm) S ...`; comm may hold spaces and parentheses.
    let state = out
        .stdout
        .rfind(')')
        .and_then(|i| out.stdout[i + 1..].split_whitespace().next())
        .unwrap_or("");
    Ok(match state {
        "Z" | "X" | "x" | "" => ProcState::Gone,
        "T" | "t" => ProcState::Stopped,
        _ => ProcState::Running,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::remote::local::LocalRemote;

    /// SIGKILLs a daemon a test started when the test ends, however it ends.
    pub(crate) struct Reap(pub u32);

    impl Drop for Reap {
        fn drop(&mut self) {
            unsafe { libc::kill(self.0 as i32, libc::SIGKILL) };
        }
    }

    fn sleeper(dir: &Path) -> Daemon {
        Daemon {
            argv: vec![
                "sh".into(),
                "-c".into(),
                "echo \"$GREETING\"; echo oops >&2; exec sleep 30".into(),
            ],
            env: vec![("GREETING".into(), "hello there".into())],
            cwd: dir.join("work dir"),
            pidfile: dir.join("pid"),
            stdout: dir.join("stdout.log"),
            stderr: dir.join("stderr.log"),
        }
    }

    #[test]
    fn start_signal_kill_a_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let remote = LocalRemote::host();
        let d = sleeper(dir.path());
        let pid = d.start(&remote).unwrap();
        // Whatever happens below, do not leave the sleeper behind.
        let _reap = Reap(pid);
        assert_eq!(d.pid(&remote).unwrap(), Some(pid));
        // It becomes a session leader (its own session id) once `setsid`
        // has run, which may be just after `start` returns its PID.
        let deadline = Instant::now() + Duration::from_secs(10);
        while unsafe { libc::getsid(pid as i32) } != pid as i32 {
            assert!(Instant::now() < deadline, "{pid} never led its own session");
            std::thread::sleep(Duration::from_millis(10));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(dir.path().join("stdout.log")).unwrap_or_default()
            != "hello there\n"
        {
            assert!(Instant::now() < deadline, "daemon output never appeared");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(d.stderr_tail(&remote, 5), "oops\n");
        assert_eq!(d.state(&remote).unwrap(), ProcState::Running);
        // Known by its pidfile, and only by it: not another daemon's file,
        // not a process that merely has its PID (this test's own).
        let pidfile = d.pidfile.to_string_lossy();
        assert!(is_daemon_of(&remote, pid, &pidfile).unwrap());
        assert!(!is_daemon_of(&remote, pid, &format!("{pidfile}.other")).unwrap());
        assert!(!is_daemon_of(&remote, std::process::id(), &pidfile).unwrap());
        d.signal(&remote, "STOP").unwrap();
        wait_for(&d, &remote, ProcState::Stopped);
        d.signal(&remote, "CONT").unwrap();
        wait_for(&d, &remote, ProcState::Running);
        d.kill(&remote).unwrap();
        assert_eq!(d.state(&remote).unwrap(), ProcState::Gone);
        // Signalling a dead daemon is fine.
        d.signal(&remote, "KILL").unwrap();
    }

    fn wait_for(d: &Daemon, remote: &dyn Remote, want: ProcState) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while d.state(remote).unwrap() != want {
            assert!(Instant::now() < deadline, "never reached {want:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
