//! lock-service on real processes: grants, holds, fencing tokens, leader crash,
//! recovery from disk, and an isolated node.

mod common;

use std::time::{Duration, Instant};

use common::{call_leader, Cluster};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_lock-service");
const T: Duration = Duration::from_secs(10);

fn acquire(holder: &str, lease_ms: u64) -> Value {
    json!({"f": "acquire", "key": "l", "value": {"holder": holder, "lease_ms": lease_ms}})
}

fn with_token(f: &str, holder: &str, token: &Value) -> Value {
    json!({"f": f, "key": "l", "value": {"holder": holder, "token": token}})
}

fn lifecycle(n: usize) {
    let mut c = Cluster::start(BIN, n, &[]);
    let leader = c.wait_leader(T);
    let g1 = call_leader(&c, acquire("c1", 60_000), T);
    assert_eq!(g1["type"], "ok", "{g1}");
    let t1 = g1["value"]["token"].clone();
    let r = call_leader(&c, acquire("c2", 60_000), T);
    assert_eq!(r["error"], "held", "{r}");
    let r = call_leader(&c, with_token("renew", "c1", &t1), T);
    assert_eq!(r["value"]["token"], t1, "{r}");
    let r = call_leader(&c, with_token("renew", "c2", &t1), T);
    assert_eq!(r["error"], "lease-lost", "{r}");
    assert_eq!(
        call_leader(&c, with_token("release", "c1", &t1), T)["type"],
        "ok"
    );
    let r = call_leader(&c, with_token("release", "c1", &t1), T);
    assert_eq!(r["error"], "not-held", "{r}");
    let g2 = call_leader(&c, acquire("c2", 1_000), T);
    let t2 = g2["value"]["token"].clone();
    assert!(t2.as_u64() > t1.as_u64(), "{g2}");

    // Leader crash: the new leader waits out c2's lease, then grants a larger token.
    c.kill(leader);
    c.wait_leader(T);
    let start = Instant::now();
    let g3 = loop {
        let r = call_leader(&c, acquire("c3", 1_000), T);
        if r["type"] == "ok" {
            break r;
        }
        assert_eq!(r["error"], "held", "{r}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        start.elapsed() >= Duration::from_millis(500),
        "granted before c2's lease could end"
    );
    let t3 = g3["value"]["token"].clone();
    assert!(t3.as_u64() > t2.as_u64(), "{g3}");
    let r = call_leader(&c, with_token("renew", "c2", &t2), T);
    assert_eq!(r["error"], "lease-lost", "{r}");

    // Restart the old leader and then the whole cluster: the grant survives.
    c.spawn(leader);
    for i in 0..n {
        c.kill(i);
    }
    for i in 0..n {
        c.spawn(i);
    }
    c.wait_leader(T);
    let r = call_leader(&c, json!({"f": "read", "key": "l"}), T);
    assert_eq!(r["value"], json!({"holder": "c3", "token": t3}));
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
fn isolated_node_grants_nothing() {
    for n in [3, 5] {
        let mut c = Cluster::start(BIN, n, &["--request-timeout-ms", "800"]);
        c.wait_leader(T);
        let g = call_leader(&c, acquire("c1", 300), T);
        let t = g["value"]["token"].clone();
        std::thread::sleep(Duration::from_millis(400));
        for i in 1..n {
            c.kill(i);
        }
        std::thread::sleep(Duration::from_millis(700));
        let mut cl = c.client(0);
        let r = cl.call(acquire("c2", 300)).unwrap();
        assert_ne!(r["type"], "ok", "{r}");
        let r = cl.call(with_token("renew", "c1", &t)).unwrap();
        assert_ne!(r["type"], "ok", "{r}");
    }
}

fn with_bugs(bugs: &[&str]) -> Vec<String> {
    bugs.iter()
        .flat_map(|b| ["--bug".to_string(), b.to_string()])
        .collect()
}

/// c1 holds a long lease; the leader crashes; c2 asks the new leader at once.
fn acquire_after_leader_crash(bugs: &[&str]) -> (Value, Value) {
    let extra = with_bugs(bugs);
    let mut c = Cluster::start(
        BIN,
        3,
        &extra.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let leader = c.wait_leader(T);
    let g1 = call_leader(&c, acquire("c1", 60_000), T);
    // Let the followers apply the grant before the leader dies.
    std::thread::sleep(Duration::from_millis(200));
    c.kill(leader);
    let g2 = call_leader(&c, acquire("c2", 60_000), T);
    (g1, g2)
}

#[test]
fn a_new_leader_waits_out_old_leases_and_no_fencing_does_not() {
    let (_, g2) = acquire_after_leader_crash(&[]);
    assert_eq!(g2["error"], "held", "{g2}");
    let (g1, g2) = acquire_after_leader_crash(&["no-fencing"]);
    assert_eq!(g2["type"], "ok", "{g2}");
    assert_eq!(
        g2["value"]["token"], g1["value"]["token"],
        "no-fencing keeps the token"
    );
}

/// c1 holds a lease; it renews through a follower.
fn renew_at_follower(bugs: &[&str]) -> Value {
    let extra = with_bugs(bugs);
    let c = Cluster::start(
        BIN,
        3,
        &extra.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    let leader = c.wait_leader(T);
    let g = call_leader(&c, acquire("c1", 5_000), T);
    std::thread::sleep(Duration::from_millis(200));
    let follower = (leader + 1) % 3;
    c.client(follower)
        .call(with_token("renew", "c1", &g["value"]["token"]))
        .unwrap()
}

#[test]
fn renewals_go_through_the_leader_and_lease_by_local_clock_does_not() {
    assert_eq!(renew_at_follower(&[])["error"], "not-leader");
    assert_eq!(renew_at_follower(&["lease-by-local-clock"])["type"], "ok");
}
