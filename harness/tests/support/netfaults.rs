//! Shared by the netns_* and ssh_* tests: prerequisites, namespace hosts with
//! sshd (scripts/netns-hosts), and guards that remove them.
#![allow(dead_code)]

#[path = "require.rs"]
mod require;
pub use require::{require, Need};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Whether raft-kv was built next to the faultline binary the tests run
/// (skips with a message, or fails when CI=true).
pub fn raft_kv_built() -> bool {
    require(&[Need::Built("raft-kv")])
}

/// Root, `ip netns`, iptables and sshd are needed. Without them the test is
/// skipped with a message, or fails when CI=true.
pub fn prerequisites() -> bool {
    require(&[
        Need::Root,
        Need::IpNetns,
        Need::File("/usr/sbin/sshd", "openssh-server"),
        Need::File("/usr/sbin/iptables", "iptables"),
        Need::File("/usr/bin/ssh-keygen", "openssh-client"),
    ])
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A short ID unique to this test process (namespace and link names are short).
pub fn unique_id(prefix: char) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst) % 10;
    format!("{prefix}{:x}{n}", std::process::id() & 0xffff)
}

/// Namespace hosts with sshd, removed when dropped.
pub struct Hosts {
    pub id: String,
    pub nodes: Vec<String>,
    pub user: String,
    pub key: PathBuf,
    pub known_hosts: PathBuf,
}

impl Hosts {
    pub fn up(n: usize) -> Hosts {
        let id = unique_id('t');
        let out = Command::new(repo_root().join("scripts/netns-hosts"))
            .args(["up", &n.to_string(), &id])
            .output()
            .expect("running scripts/netns-hosts");
        assert!(
            out.status.success(),
            "netns-hosts up failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let flags: Vec<&str> = stdout.lines().last().unwrap().split_whitespace().collect();
        let flag = |name: &str| {
            let i = flags.iter().position(|f| *f == name).unwrap();
            flags[i + 1].to_string()
        };
        Hosts {
            nodes: flag("--nodes").split(',').map(String::from).collect(),
            user: flag("--ssh-user"),
            key: flag("--ssh-key").into(),
            known_hosts: flag("--known-hosts").into(),
            id,
        }
    }

    /// The namespace that host `i` (0-based) lives in.
    pub fn netns(&self, i: usize) -> String {
        format!("flh-{}-{}", self.id, i + 1)
    }

    /// The flags that reach these hosts, as `scripts/netns-hosts` printed them.
    pub fn flags(&self) -> Vec<String> {
        vec![
            "--nodes".into(),
            self.nodes.join(","),
            "--ssh-user".into(),
            self.user.clone(),
            "--ssh-key".into(),
            self.key.display().to_string(),
            "--known-hosts".into(),
            self.known_hosts.display().to_string(),
        ]
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        let _ = Command::new(repo_root().join("scripts/netns-hosts"))
            .args(["down", &self.id])
            .status();
    }
}

/// Whether a TCP connection from inside `netns` to `addr` opens within `within`.
pub fn tcp_reaches(netns: &str, addr: &str, within: Duration) -> bool {
    let (host, port) = addr.rsplit_once(':').unwrap();
    let script = format!("exec 3<>/dev/tcp/{host}/{port}");
    Command::new("timeout")
        .arg(format!("{}", within.as_secs_f64()))
        .args(["ip", "netns", "exec", netns, "bash", "-c", &script])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Poll `cond` until it holds or `limit` passes.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A stand-in node for cluster tests until the bundled targets are used: this
/// test executable itself, re-run as the test `node_helper` with the listen
/// address as an extra filter argument, serving a line echo over TCP.
pub struct EchoDb;

impl faultline::cluster::Db for EchoDb {
    fn name(&self) -> &str {
        "echo"
    }
    fn command(&self, node: &faultline::cluster::NodeLaunch) -> anyhow::Result<Vec<String>> {
        Ok(vec![
            std::env::current_exe()?.display().to_string(),
            "node_helper".into(),
            format!("faultline-echo={}", node.listen),
            "--exact".into(),
            "--nocapture".into(),
            "--test-threads=1".into(),
        ])
    }
}

/// Body of the `node_helper` test: serve when run as a node, else return.
pub fn node_helper() {
    use std::io::{BufRead, BufReader, Write};
    let Some(addr) =
        std::env::args().find_map(|a| a.strip_prefix("faultline-echo=").map(String::from))
    else {
        return;
    };
    let listener = std::net::TcpListener::bind(&addr).expect("bind");
    eprintln!("echo node listening on {addr}");
    for conn in listener.incoming().flatten() {
        std::thread::spawn(move || {
            let mut w = conn.try_clone().unwrap();
            for line in BufReader::new(conn).lines().map_while(Result::ok) {
                // `time` asks for the node's clock (seconds since the epoch).
                let reply = if line == "time" {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap();
                    now.as_secs().to_string()
                } else {
                    line
                };
                if writeln!(w, "{reply}").is_err() {
                    break;
                }
            }
        });
    }
}

/// Send a line to a node from this (root) namespace and read the echo.
pub fn echo(addr: &str) -> bool {
    use std::io::{BufRead, BufReader, Write};
    let Ok(mut s) =
        std::net::TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(2))
    else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    if writeln!(s, "ping").is_err() {
        return false;
    }
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).is_ok() && line == "ping\n"
}

/// A node's clock, asked over TCP (`time`), minus this machine's.
pub fn clock_offset_s(addr: &str) -> i64 {
    use std::io::{BufRead, BufReader, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    writeln!(s, "time").unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    line.trim().parse::<i64>().unwrap() - now
}

/// Network namespaces whose name starts with `prefix`.
pub fn namespaces_with(prefix: &str) -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(String::from)
        .collect()
}

/// Whether a process is alive (zombies count as dead).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start().chars().next());
            !matches!(state, Some(Some('Z')) | Some(Some('X')) | None)
        })
        .unwrap_or(false)
}

/// The iptables rules inside a namespace that carry a faultline comment.
pub fn faultline_rules(netns: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args([
            "netns", "exec", netns, "iptables", "-w", "10", "-S", "INPUT",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("faultline:"))
        .map(String::from)
        .collect()
}

/// A TCP connection opened from inside network namespace `netns` (the
/// socket stays in that namespace; it can be used from any thread).
pub fn connect_from(netns: &str, addr: &str) -> std::io::Result<std::net::TcpStream> {
    let path = format!("/var/run/netns/{netns}");
    let addr: std::net::SocketAddr = addr.parse().unwrap();
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let ns = std::fs::File::open(path)?;
        // Only this short-lived thread changes namespace.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
    })
    .join()
    .unwrap()
}
