//! Test support: spawn real target binaries on loopback with temp data dirs,
//! talk to them over the op protocol, and always kill what we spawned.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub struct Node {
    pub id: String,
    pub addr: String,
    pub dir: PathBuf,
    pub child: Option<Child>,
}

/// A cluster of real processes; Drop kills every process it spawned (by PID).
pub struct Cluster {
    pub bin: PathBuf,
    pub nodes: Vec<Node>,
    pub peers: String,
    pub extra: Vec<String>,
    _tmp: tempfile::TempDir,
}

/// A free port below Linux's ephemeral range, so that no outgoing connection
/// takes it as its source port while its node is down between kill and restart.
fn free_port() -> u16 {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..200)
        .map(|_| rng.gen_range(20_000..32_768))
        .find(|p| TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port in 20000-32767")
}

impl Cluster {
    pub fn start(bin: &str, n: usize, extra: &[&str]) -> Cluster {
        let tmp = tempfile::tempdir().unwrap();
        let nodes: Vec<Node> = (1..=n)
            .map(|i| Node {
                id: format!("n{i}"),
                addr: format!("127.0.0.1:{}", free_port()),
                dir: tmp.path().join(format!("n{i}")),
                child: None,
            })
            .collect();
        let peers = nodes
            .iter()
            .map(|n| format!("{}={}", n.id, n.addr))
            .collect::<Vec<_>>()
            .join(",");
        let mut c = Cluster {
            bin: PathBuf::from(bin),
            nodes,
            peers,
            extra: extra.iter().map(|s| s.to_string()).collect(),
            _tmp: tmp,
        };
        for i in 0..n {
            c.spawn(i);
        }
        c
    }

    pub fn spawn(&mut self, i: usize) {
        let node = &self.nodes[i];
        std::fs::create_dir_all(&node.dir).unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.dir.with_extension("log"))
            .unwrap();
        let child = Command::new(&self.bin)
            .args([
                "--id",
                &node.id,
                "--listen",
                &node.addr,
                "--peers",
                &self.peers,
            ])
            .arg("--data-dir")
            .arg(&node.dir)
            .args([
                "--election-min-ms",
                "150",
                "--election-max-ms",
                "300",
                "--heartbeat-ms",
                "30",
            ])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn target binary");
        self.nodes[i].child = Some(child);
        // Wait until it listens.
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(&self.nodes[i].addr).is_err() {
            let child = self.nodes[i].child.as_mut().expect("just spawned");
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{} exited at start ({status}); see {}",
                    self.nodes[i].id,
                    self.nodes[i].dir.with_extension("log").display()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not start listening",
                self.nodes[i].id
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL node i (a process we spawned).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn index_of(&self, id: &str) -> usize {
        self.nodes.iter().position(|n| n.id == id).unwrap()
    }

    pub fn client(&self, i: usize) -> Client {
        Client::connect(&self.nodes[i].addr)
    }

    pub fn status(&self, i: usize) -> Option<Value> {
        let mut c = Client::try_connect(&self.nodes[i].addr)?;
        let r = c.call(json!({"f": "status"}))?;
        (r["type"] == "ok").then(|| r["value"].clone())
    }

    /// Wait until exactly one live node reports itself leader, with a majority agreeing on it.
    pub fn wait_leader(&self, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            let statuses: Vec<(usize, Value)> = (0..self.nodes.len())
                .filter(|i| self.nodes[*i].child.is_some())
                .filter_map(|i| self.status(i).map(|s| (i, s)))
                .collect();
            let leaders: Vec<&(usize, Value)> = statuses
                .iter()
                .filter(|(_, s)| s["role"] == "leader")
                .collect();
            if let Some((li, ls)) = leaders.iter().max_by_key(|(_, s)| s["term"].as_u64()) {
                let agree = statuses
                    .iter()
                    .filter(|(_, s)| s["leader"] == ls["id"] && s["term"] == ls["term"])
                    .count();
                if agree > self.nodes.len() / 2 {
                    return *li;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no leader within {within:?}: {statuses:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}

/// A blocking op-protocol client.
pub struct Client {
    w: TcpStream,
    r: BufReader<TcpStream>,
    next_id: u64,
}

impl Client {
    pub fn try_connect(addr: &str) -> Option<Client> {
        let s = TcpStream::connect_timeout(&addr.parse().unwrap(), Duration::from_secs(1)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Some(Client {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
            next_id: 1,
        })
    }

    pub fn connect(addr: &str) -> Client {
        Client::try_connect(addr).expect("connect")
    }

    /// Send one op (an "id" is added) and wait for its reply.
    pub fn call(&mut self, mut op: Value) -> Option<Value> {
        let id = self.next_id;
        self.next_id += 1;
        op["id"] = json!(id);
        self.w.write_all(format!("{op}\n").as_bytes()).ok()?;
        let mut line = String::new();
        loop {
            line.clear();
            if self.r.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let v: Value = serde_json::from_str(&line).unwrap();
            if v["id"] == json!(id) {
                return Some(v);
            }
        }
    }
}

/// Retry `op` against the current leader until it is acknowledged `ok` (or fails definitively).
pub fn call_leader(c: &Cluster, op: Value, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let li = c.wait_leader(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1)),
        );
        if let Some(r) = c.client(li).call(op.clone()) {
            if r["type"] == "ok" || (r["type"] == "fail" && r["error"] != "not-leader") {
                return r;
            }
        }
        assert!(
            Instant::now() < deadline,
            "op {op} not acknowledged within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
