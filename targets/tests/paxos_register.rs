//! paxos-register on real processes: any node serves ops, a killed node does
//! not lose acknowledged writes, restart recovers acceptor state from disk,
//! and a node without a majority completes nothing.

mod common;

use std::time::Duration;

use common::Cluster;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_paxos-register");

/// Retry an op on node i until it completes ok or with a definite precondition failure.
fn call(c: &Cluster, i: usize, op: Value) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(r) = c.client(i).call(op.clone()) {
            if r["type"] == "ok" || r["error"] == "precondition" {
                return r;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{op} on n{} never completed",
            i + 1
        );
        std::thread::sleep(Duration::from_millis(30));
    }
}

fn read(c: &Cluster, i: usize, key: &str) -> Value {
    call(c, i, json!({"f": "read", "key": key}))["value"].clone()
}

fn lifecycle(n: usize) {
    let mut c = Cluster::start(BIN, n, &[]);
    assert_eq!(c.status(0).unwrap()["role"], "acceptor");
    // Writes through different nodes; every node reads the latest.
    for i in 0..10 {
        assert_eq!(
            call(&c, i % n, json!({"f": "write", "key": "r", "value": i}))["type"],
            "ok"
        );
    }
    assert_eq!(
        call(&c, 1, json!({"f": "cas", "key": "r", "value": [9, 20]}))["type"],
        "ok"
    );
    let r = call(&c, 2, json!({"f": "cas", "key": "r", "value": [9, 21]}));
    assert_eq!(
        (r["type"].as_str(), r["error"].as_str()),
        (Some("fail"), Some("precondition"))
    );
    for i in 0..n {
        assert_eq!(read(&c, i, "r"), json!(20));
    }
    assert_eq!(read(&c, 0, "unset"), Value::Null);
    // SIGKILL a node; the rest go on and lose nothing.
    c.kill(0);
    assert_eq!(read(&c, 1, "r"), json!(20));
    assert_eq!(
        call(&c, 1, json!({"f": "write", "key": "r", "value": 30}))["type"],
        "ok"
    );
    // It restarts from its data dir and serves the latest value.
    c.spawn(0);
    assert_eq!(read(&c, 0, "r"), json!(30));
    // Whole-cluster restart.
    for i in 0..n {
        c.kill(i);
    }
    for i in 0..n {
        c.spawn(i);
    }
    assert_eq!(read(&c, n - 1, "r"), json!(30));
}

#[test]
fn three_nodes() {
    lifecycle(3);
}

#[test]
fn five_nodes() {
    lifecycle(5);
}

#[test]
fn isolated_node_commits_nothing_and_serves_no_read() {
    for n in [3, 5] {
        let mut c = Cluster::start(BIN, n, &["--request-timeout-ms", "600"]);
        call(&c, 0, json!({"f": "write", "key": "r", "value": 1}));
        for i in 1..n {
            c.kill(i);
        }
        let mut cl = c.client(0);
        let w = cl
            .call(json!({"f": "write", "key": "r", "value": 2}))
            .unwrap();
        assert_ne!(w["type"], "ok", "{w}");
        let r = cl.call(json!({"f": "read", "key": "r"})).unwrap();
        assert_eq!(r["type"], "fail", "{r}");
        // Nothing was accepted by a majority, so a healed cluster still reads 1 ... or 2 if
        // the info write's accept is later completed; never anything else.
        for i in 1..n {
            c.spawn(i);
        }
        let v = read(&c, 1, "r");
        assert!(v == json!(1) || v == json!(2), "{v}");
    }
}

/// n3 misses a write while down; then n2 goes down and n3 reads through n1+n3.
fn read_after_lagging_acceptor(bugs: &[&str]) -> Value {
    let mut extra = vec![];
    for b in bugs {
        extra.extend(["--bug", b]);
    }
    let mut c = Cluster::start(BIN, 3, &extra);
    call(&c, 0, json!({"f": "write", "key": "r", "value": 1}));
    c.kill(2);
    call(&c, 0, json!({"f": "write", "key": "r", "value": 2}));
    c.spawn(2);
    c.kill(1);
    read(&c, 2, "r")
}

#[test]
fn prepare_quorum_sees_the_latest_write_and_the_bug_does_not() {
    assert_eq!(read_after_lagging_acceptor(&[]), json!(2));
    // With no-prepare-quorum, n3 may trust its own stale promise and read an
    // old value (whether it does depends on message timing: 8 tries missed
    // once in CI, so up to 30; each is a 3-node cluster of ~0.1 s).
    let stale = (0..30).any(|_| read_after_lagging_acceptor(&["no-prepare-quorum"]) != json!(2));
    assert!(stale, "no-prepare-quorum never returned a stale value");
}
