//! Throughput and latency of raft-kv writes and reads: 3 real nodes on
//! loopback, fsync on, 10 clients each with one op in flight, talking to the
//! leader. Run: `cargo bench -p faultline-targets --bench raft_kv`
//! (BENCH_SECS sets the seconds per phase, default 5).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const BIN: &str = env!("CARGO_BIN_EXE_raft-kv");
const CLIENTS: usize = 10;

/// Kills the nodes we spawned, even on panic (and then removes their data dirs).
struct Nodes(Vec<Child>, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Nodes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

async fn call(
    r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
    w: &mut tokio::net::tcp::OwnedWriteHalf,
    op: &Value,
) -> Value {
    w.write_all(format!("{op}\n").as_bytes()).await.unwrap();
    let mut line = String::new();
    r.read_line(&mut line).await.unwrap();
    serde_json::from_str(&line).unwrap()
}

async fn find_leader(addrs: &[String]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for a in addrs {
            if let Ok(s) = TcpStream::connect(a).await {
                let (r, mut w) = s.into_split();
                let v = call(
                    &mut BufReader::new(r),
                    &mut w,
                    &json!({"id": 0, "f": "status"}),
                )
                .await;
                if v["value"]["role"] == "leader" {
                    return a.clone();
                }
            }
        }
        assert!(Instant::now() < deadline, "no leader");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn phase(addr: &str, f: &str, secs: u64) -> (usize, Vec<Duration>) {
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let addr = addr.to_string();
        let f = f.to_string();
        tasks.push(tokio::spawn(async move {
            let (r, mut w) = TcpStream::connect(&addr).await.unwrap().into_split();
            let mut r = BufReader::new(r);
            let mut lat = Vec::new();
            let mut errors = 0;
            let mut i = 0u64;
            while Instant::now() < end {
                i += 1;
                let op = if f == "write" {
                    json!({"id": i, "f": "write", "key": format!("k{c}"), "value": i})
                } else {
                    json!({"id": i, "f": "read", "key": format!("k{c}")})
                };
                let t = Instant::now();
                let v = call(&mut r, &mut w, &op).await;
                if v["type"] == "ok" {
                    lat.push(t.elapsed());
                } else {
                    errors += 1;
                }
            }
            (errors, lat)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (e, l) = t.await.unwrap();
        errors += e;
        all.extend(l);
    }
    all.sort();
    (errors, all)
}

fn pct(v: &[Duration], p: f64) -> f64 {
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    // `cargo test --benches` runs this with --bench absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let secs: u64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let tmp = tempfile::tempdir().unwrap();
    let addrs: Vec<String> = (0..3)
        .map(|_| {
            format!(
                "127.0.0.1:{}",
                TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            )
        })
        .collect();
    let peers = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| format!("n{}={a}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let children = addrs
        .iter()
        .enumerate()
        .map(|(i, a)| {
            Command::new(BIN)
                .args([
                    "--id",
                    &format!("n{}", i + 1),
                    "--listen",
                    a,
                    "--peers",
                    &peers,
                ])
                .arg("--data-dir")
                .arg(tmp.path().join(format!("n{}", i + 1)))
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let _nodes = Nodes(children, tmp);
    let leader = find_leader(&addrs).await;
    println!(
        "raft-kv, 3 nodes, fsync on, {CLIENTS} clients, one op in flight each, {secs} s per phase"
    );
    println!("| op | ops/s | p50 ms | p99 ms | errors |");
    println!("|---|---:|---:|---:|---:|");
    for f in ["write", "read"] {
        let (errors, lat) = phase(&leader, f, secs).await;
        println!(
            "| {f} | {:.0} | {:.2} | {:.2} | {errors} |",
            lat.len() as f64 / secs as f64,
            pct(&lat, 0.50),
            pct(&lat, 0.99)
        );
    }
}
