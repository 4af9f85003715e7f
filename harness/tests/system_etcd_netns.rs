//! examples/etcd on `--cluster netns`: three etcd nodes in network namespaces
//! started from etcd.toml, one Python adapter per worker, partitions by
//! iptables and a kill with restart. The recorded history must be
//! linearizable. Needs root, iproute2 and iptables (scripts/setup); in CI a
//! missing prerequisite fails the test.

mod common;
#[path = "support/require.rs"]
mod require;

use common::{assert_linearizable, Recorder};
use faultline::adapter::AdapterFactory;
use faultline::client::{ClientFactory, Completion};
use faultline::cluster::netns::{NetnsCluster, NetnsOptions};
use faultline::cluster::{Cluster, NodeState};
use faultline::net::{Grudge, NetFault};
use faultline::system::{SystemConfig, SystemDb};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn prerequisites() -> bool {
    use require::{require, Need};
    require(&[
        Need::Root,
        Need::IpNetns,
        Need::File("/usr/sbin/iptables", "iptables"),
        Need::File("/usr/bin/etcd", "etcd-server"),
    ])
}

/// `node` cut off from every other node, both ways.
fn isolate(node: &str, all: &[&str]) -> NetFault {
    let mut grudge = Grudge::new();
    let others: Vec<String> = all
        .iter()
        .filter(|n| **n != node)
        .map(|n| n.to_string())
        .collect();
    grudge.insert(node.to_string(), others.iter().cloned().collect());
    for other in others {
        grudge.insert(other, [node.to_string()].into());
    }
    NetFault::Partition(grudge)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_in_namespaces_under_partitions_and_a_kill_stays_linearizable() {
    if !prerequisites() {
        return;
    }
    let toml = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/etcd/etcd.toml");
    let db = Arc::new(SystemDb::new(SystemConfig::load(&toml).unwrap()));
    let tmp = tempfile::tempdir().unwrap();
    let options = NetnsOptions {
        nodes: 3,
        port: 2380,
        run_id: format!("e{:x}", std::process::id() & 0xffff),
        run_dir: tmp.path().to_path_buf(),
        bugs: vec![],
        clock: false,
    };
    let cluster = Arc::new(NetnsCluster::start(db.clone(), &options).expect("etcd cluster starts"));
    let nodes = cluster.nodes().to_vec();
    for node in &nodes {
        assert!(node.client_addr.ends_with(":2379"), "{node:?}");
    }
    let op_timeout = Duration::from_secs(2);
    let factory = AdapterFactory::new(
        db.adapter_spec(op_timeout, Some(tmp.path().join("adapters"))),
        nodes.clone(),
    );

    // The nemesis, on a thread of its own (cluster calls block).
    let nemesis = {
        let cluster = cluster.clone();
        std::thread::spawn(move || {
            let names = ["n1", "n2", "n3"];
            let at = |s: u64, start: Instant| {
                std::thread::sleep(
                    (start + Duration::from_secs(s)).saturating_duration_since(Instant::now()),
                )
            };
            let start = Instant::now();
            at(2, start);
            cluster.net().apply(&isolate("n1", &names)).unwrap();
            at(5, start);
            cluster.net().heal().unwrap();
            at(6, start);
            cluster.kill(1).unwrap();
            assert_eq!(cluster.state(1), NodeState::Down);
            at(8, start);
            cluster.restart(1).unwrap();
            at(9, start);
            cluster.net().apply(&isolate("n3", &names)).unwrap();
            at(12, start);
            cluster.net().heal().unwrap();
        })
    };

    let recorder = Arc::new(Recorder::default());
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..nodes.len() {
        let mut client = factory.open(worker, worker).await.unwrap();
        let recorder = recorder.clone();
        let concurrency = nodes.len() as u64;
        workers.push(tokio::spawn(async move {
            let mut process = worker as u64;
            let mut outcomes: Vec<Completion> = Vec::new();
            let mut last_read = Value::Null;
            let mut i = 0i64;
            while started.elapsed() < Duration::from_secs(15) {
                i += 1;
                let request = common::register_op(worker, i, &last_read);
                recorder.invoke(process, &request);
                let completion = client.invoke(&request, op_timeout).await;
                if let (true, Completion::Ok { value }) = (request.f == "read", &completion) {
                    last_read = value.clone();
                }
                if recorder.complete(process, &request, &completion) {
                    process += concurrency;
                }
                outcomes.push(completion);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            outcomes
        }));
    }
    let mut all = Vec::new();
    for task in workers {
        all.extend(task.await.unwrap());
    }
    nemesis.join().expect("nemesis ran");
    cluster.teardown(tmp.path()).unwrap();

    let oks = all
        .iter()
        .filter(|c| matches!(c, Completion::Ok { .. }))
        .count();
    let not_ok = all.len() - oks;
    eprintln!("{} ops: {oks} ok, {not_ok} fail or info", all.len());
    assert!(oks >= 100, "only {oks} ok ops of {}", all.len());
    // The isolated node's worker could not commit anything for 3 s.
    assert!(not_ok > 0, "no op failed under partitions and a kill");
    assert_linearizable(&recorder.history());
    assert!(
        cluster.unexpected_deaths().is_empty(),
        "{:?}",
        cluster.unexpected_deaths()
    );
}
