//! An off-the-shelf system on `--cluster netns`: etcd from its system file
//! (examples/etcd), partitioned with iptables. etcd names members by their
//! peer URLs, so it cannot run behind per-link proxies; this is its path.

#[path = "support/netfaults.rs"]
mod support;

use faultline::cluster::netns::{NetnsCluster, NetnsOptions};
use faultline::cluster::Cluster;
use faultline::net::{Grudge, NetFault};
use faultline::system::config::SystemConfig;
use faultline::system::db::SystemDb;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

/// etcd as a system file (like examples/etcd, without its client side).
const ETCD: &str = r#"
name = "etcd"
nodes = 3
client_port = 2379
peers_through_proxies = false

[node]
start = [
  "/usr/bin/etcd", "--name", "{node}", "--data-dir", "{data_dir}/etcd",
  "--listen-peer-urls", "http://{peer_addr}",
  "--initial-advertise-peer-urls", "http://{advertise_peer_addr}",
  "--listen-client-urls", "http://{client_addr}",
  "--advertise-client-urls", "http://{client_addr}",
  "--initial-cluster", "{initial_cluster}", "--initial-cluster-state", "new",
  "--heartbeat-interval", "100", "--election-timeout", "1000",
  "--logger", "zap", "--log-outputs", "stderr",
]
ready = { tcp = "{client_addr}" }
ready_timeout_s = 20

[client]
adapter = ["true"]
workloads = ["register"]
"#;

/// etcd's own view of whether it has a leader (`GET /health`).
fn healthy(client_addr: &str) -> bool {
    let Ok(mut s) =
        std::net::TcpStream::connect_timeout(&client_addr.parse().unwrap(), Duration::from_secs(1))
    else {
        return false;
    };
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let req = format!("GET /health HTTP/1.0\r\nHost: {client_addr}\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    body.contains(r#""health":"true""#)
}

#[test]
fn etcd_loses_and_regains_its_leader_under_an_iptables_partition() {
    if !support::prerequisites() {
        return;
    }
    if !std::path::Path::new("/usr/bin/etcd").exists() {
        let msg = "needs /usr/bin/etcd (etcd-server); run scripts/setup";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("SKIPPED: {msg}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("etcd.toml");
    std::fs::write(&file, ETCD).unwrap();
    let config = SystemConfig::load(&file).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = NetnsOptions {
        nodes: 3,
        port: 2380,
        run_id: support::unique_id('e'),
        run_dir: dir.path().to_path_buf(),
        bugs: vec![],
        clock: false,
    };
    let cluster = NetnsCluster::start(Arc::new(SystemDb::new(config)), &opts).unwrap();
    let nodes = cluster.nodes().to_vec();
    // Clients use etcd's client port, not the peer port the cluster listens on.
    assert!(nodes[0].client_addr.ends_with(":2379"), "{:?}", nodes[0]);
    let limit = Duration::from_secs(30);
    assert!(
        support::eventually(limit, || nodes.iter().all(|n| healthy(&n.client_addr))),
        "etcd never became healthy"
    );

    // Cut n1 off both ways: it loses its leader; the majority keeps one.
    let mut grudge = Grudge::new();
    grudge.insert("n1".into(), ["n2".to_string(), "n3".to_string()].into());
    grudge.insert("n2".into(), ["n1".to_string()].into());
    grudge.insert("n3".into(), ["n1".to_string()].into());
    cluster.net().apply(&NetFault::Partition(grudge)).unwrap();
    assert!(
        support::eventually(limit, || !healthy(&nodes[0].client_addr)),
        "isolated n1 still has a leader"
    );
    // If n1 led, the majority first has to elect a new leader.
    assert!(
        support::eventually(limit, || healthy(&nodes[1].client_addr)
            || healthy(&nodes[2].client_addr)),
        "the majority has no leader"
    );

    cluster.net().heal().unwrap();
    assert!(
        support::eventually(limit, || healthy(&nodes[0].client_addr)),
        "n1 did not rejoin after heal"
    );
    cluster.teardown(dir.path()).unwrap();
    let log = std::fs::read_to_string(dir.path().join("nodes/n1/stderr.log")).unwrap();
    assert!(!log.is_empty());
}
