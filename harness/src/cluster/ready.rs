//! Waiting until a node is ready (its [`ReadyCheck`] passes), whatever runs
//! the check's command (a local process, `ip netns exec`, SSH).

use crate::cluster::ReadyCheck;
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Waits until node `name` passes `check`, polling every 25 ms.
///
/// `run` runs a command on the node's host and says whether it exited 0.
/// `died` says why the node's process is gone, if it is (waiting stops then).
/// Errors name the node and say what was waited for.
pub fn wait_ready(
    name: &str,
    check: &ReadyCheck,
    timeout: Duration,
    run: &dyn Fn(&[String]) -> bool,
    died: &dyn Fn() -> Option<String>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let ready = match check {
            ReadyCheck::TcpConnect(addr) => tcp_open(addr),
            ReadyCheck::Command(argv) => run(argv),
        };
        if ready {
            return Ok(());
        }
        if let Some(why) = died() {
            anyhow::bail!("node {name} exited before it was ready: {why}");
        }
        if Instant::now() >= deadline {
            let what = match check {
                ReadyCheck::TcpConnect(addr) => format!("a TCP connection to {addr}"),
                ReadyCheck::Command(argv) => format!("`{}` to succeed", argv.join(" ")),
            };
            anyhow::bail!(
                "node {name} was not ready after {:.0}s (waited for {what})",
                timeout.as_secs_f64()
            );
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Whether `addr` accepts a TCP connection now.
pub fn tcp_open(addr: &str) -> bool {
    let Ok(mut addrs) = addr.to_socket_addrs() else {
        return false;
    };
    addrs.any(|a| TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::{Db, NodeLaunch};
    use crate::system::{SystemConfig, SystemDb};
    use std::path::Path;

    /// Runs `argv` here and says whether it exited 0.
    fn run_local(argv: &[String]) -> bool {
        let Some((program, args)) = argv.split_first() else {
            return false;
        };
        std::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn db(ready: &str) -> SystemDb {
        let text = format!(
            "name = \"t\"\n[node]\nstart = [\"x\"]\n{ready}\nready_timeout_s = 1\n[client]\nadapter = [\"a\"]\n"
        );
        SystemDb::new(SystemConfig::parse(&text, Path::new("t.toml")).unwrap())
    }

    fn launch(listen: String, dir: &Path) -> NodeLaunch {
        NodeLaunch {
            name: "n1".into(),
            listen: listen.clone(),
            peers: vec![("n1".into(), listen)],
            data_dir: dir.to_path_buf(),
            bugs: vec![],
        }
    }

    fn wait(db: &SystemDb, node: &NodeLaunch, died: Option<&str>) -> anyhow::Result<()> {
        let check = db.ready_check(node).unwrap();
        let died = || died.map(str::to_string);
        wait_ready(&node.name, &check, db.ready_timeout(), &run_local, &died)
    }

    #[test]
    fn waits_for_a_tcp_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let dir = tempfile::tempdir().unwrap();
        let node = launch(addr, dir.path());
        wait(&db(""), &node, None).unwrap();
        drop(listener);
        let e = wait(&db(""), &node, None).unwrap_err();
        assert!(
            e.to_string().contains("node n1 was not ready after 1s"),
            "{e}"
        );
    }

    #[test]
    fn waits_for_a_command_and_notices_death() {
        let dir = tempfile::tempdir().unwrap();
        let node = launch("127.0.0.1:1".into(), dir.path());
        let db = db("ready = { command = \"test -f {data_dir}/up\" }");
        let e = wait(&db, &node, Some("exit status 1")).unwrap_err();
        assert!(
            e.to_string()
                .contains("exited before it was ready: exit status 1"),
            "{e}"
        );
        std::fs::write(dir.path().join("up"), "").unwrap();
        wait(&db, &node, None).unwrap();
    }
}
