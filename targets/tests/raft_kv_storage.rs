//! raft-kv and its data dir: a state file that cannot be loaded stops the node
//! at start with an error naming the file; a write that fails stops a running
//! node, and what it acknowledged before survives a restart.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{call_leader, Cluster};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_raft-kv");
const T: Duration = Duration::from_secs(10);

/// Start a one-node raft-kv on `dir`, which must exit by itself: (exit code, stderr).
fn start_expecting_exit(dir: &Path) -> (Option<i32>, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args(["--id", "n1", "--listen", &addr, "--peers"])
        .arg(format!("n1={addr}"))
        .arg("--data-dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + T;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("raft-kv on {} kept running", dir.display());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.code(), stderr)
}

fn assert_refuses(dir: &Path, names: &str) {
    let (code, stderr) = start_expecting_exit(dir);
    assert_eq!(code, Some(254), "{stderr}");
    assert!(
        stderr.contains(names),
        "stderr should name {names}:\n{stderr}"
    );
}

#[test]
fn a_corrupt_state_file_stops_the_node_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("raft-state.json");
    std::fs::write(&file, b"{\"term\":4,").unwrap();
    assert_refuses(tmp.path(), &file.display().to_string());
}

#[test]
fn a_directory_in_place_of_the_state_file_stops_the_node_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("raft-state.json");
    std::fs::create_dir(&file).unwrap();
    assert_refuses(tmp.path(), &file.display().to_string());
}

#[test]
fn a_corrupt_snapshot_or_inner_log_line_stops_the_node_at_start() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("raft-snapshot.json");
    std::fs::write(&file, b"not json").unwrap();
    assert_refuses(tmp.path(), &file.display().to_string());

    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("raft-log.jsonl");
    let entry = |i: u64| json!({"term": 1, "index": i, "cmd": null}).to_string();
    std::fs::write(&file, format!("{}\n{{torn\n{}\n", entry(1), entry(2))).unwrap();
    assert_refuses(tmp.path(), &format!("{}:2", file.display()));
}

#[test]
fn a_failed_write_stops_the_node_and_acknowledged_writes_survive() {
    let mut c = Cluster::start(BIN, 1, &["--snapshot-every", "4"]);
    c.wait_leader(T);
    // The next snapshot cannot be written: its temporary file's path is taken.
    let dir = c.nodes[0].dir.clone();
    std::fs::create_dir(dir.join("raft-snapshot.json.tmp")).unwrap();
    let mut acked = Vec::new();
    let deadline = Instant::now() + T;
    let status = loop {
        if let Some(status) = c.nodes[0].child.as_mut().unwrap().try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the node kept running");
        let v = acked.len() as i64;
        // The node may be gone by now: then there is nothing to connect to.
        let reply = common::Client::try_connect(&c.nodes[0].addr)
            .and_then(|mut cl| cl.call(json!({"f": "write", "key": format!("k{v}"), "value": v})));
        if let Some(r) = reply {
            if r["type"] == "ok" {
                acked.push(v);
            }
        }
    };
    assert_eq!(status.code(), Some(1));
    let log = std::fs::read_to_string(dir.with_extension("log")).unwrap();
    assert!(
        log.contains("raft-snapshot.json") && log.contains("stops"),
        "{log}"
    );
    // The writes it acknowledged were durable before their acknowledgement.
    std::fs::remove_dir(dir.join("raft-snapshot.json.tmp")).unwrap();
    c.nodes[0].child = None;
    c.spawn(0);
    c.wait_leader(T);
    assert!(!acked.is_empty());
    for v in acked {
        let r = call_leader(&c, json!({"f": "read", "key": format!("k{v}")}), T);
        assert_eq!(r["value"], json!(v), "{r}");
    }
}
