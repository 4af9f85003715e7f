//! examples/etcd on the local cluster: three real etcd nodes on 127.0.0.1
//! started from the system file's templated commands (peers get each other's
//! real addresses, clients a port of their own), one adapter process per
//! worker, a node SIGKILLed and restarted in the middle.
//! The workers share one register; the history they record must be
//! linearizable (checked with faultline's checker).

mod common;
#[path = "support/require.rs"]
mod require;

use common::{assert_linearizable, Recorder};
use faultline::adapter::AdapterFactory;
use faultline::client::{ClientFactory, Completion};
use faultline::cluster::local::LocalCluster;
use faultline::cluster::Cluster;
use faultline::system::{SystemConfig, SystemDb};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// etcd present, or: in CI a failure, elsewhere a skip with a message.
fn etcd_present() -> bool {
    require::require(&[require::Need::File("/usr/bin/etcd", "etcd-server")])
}

fn etcd_toml() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/etcd/etcd.toml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_through_the_python_adapter_survives_a_kill() {
    if !etcd_present() {
        return;
    }
    let config = SystemConfig::load(&etcd_toml()).expect("etcd.toml parses");
    assert!(!config.peers_through_proxies());
    let count = config.nodes.unwrap_or(3);
    let db = SystemDb::new(config);
    let tmp = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Handle::current();
    let cluster = Arc::new(tokio::task::block_in_place(|| {
        LocalCluster::start(&rt, &db, count, &[], tmp.path()).expect("etcd cluster starts")
    }));
    let infos = cluster.nodes().to_vec();
    for node in &infos {
        assert!(node.client_addr.starts_with("127.0.0.1:"), "{node:?}");
    }
    let op_timeout = Duration::from_secs(3);
    let factory = AdapterFactory::new(
        db.adapter_spec(op_timeout, Some(tmp.path().join("adapters"))),
        infos,
    );

    // Three workers, one per node, all on the register "r", for ~8 s; node n1
    // is killed after 2 s and restarted after 4 s. The history they record
    // must be linearizable.
    let recorder = Arc::new(Recorder::default());
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..count {
        let mut client = factory.open(worker, worker).await.unwrap();
        let recorder = recorder.clone();
        workers.push(tokio::spawn(async move {
            let mut process = worker as u64;
            let (mut oks, mut others) = (0, 0);
            let mut last_read = Value::Null;
            let mut i = 0i64;
            while started.elapsed() < Duration::from_secs(8) {
                i += 1;
                let request = common::register_op(worker, i, &last_read);
                recorder.invoke(process, &request);
                let completion = client.invoke(&request, op_timeout).await;
                if let (true, Completion::Ok { value }) = (request.f == "read", &completion) {
                    last_read = value.clone();
                }
                match completion {
                    Completion::Ok { .. } => oks += 1,
                    _ => others += 1,
                }
                if recorder.complete(process, &request, &completion) {
                    process += count as u64;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            (oks, others)
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.kill(0).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let restarting = cluster.clone();
    tokio::task::spawn_blocking(move || restarting.restart(0))
        .await
        .unwrap()
        .expect("n1 restarts");

    for (worker, task) in workers.into_iter().enumerate() {
        let (oks, others) = task.await.unwrap();
        assert!(oks >= 20, "worker {worker}: only {oks} ok ops");
        if worker == 0 {
            // Its node was down for 2 s: the adapter said so.
            assert!(
                others > 0,
                "worker 0 saw no failure while its node was down"
            );
        }
    }
    let history = recorder.history();
    let count_of =
        |t: faultline_checkers::OpType| history.ops.iter().filter(|o| o.kind == t).count();
    eprintln!(
        "history: {} ops, ok {}, fail {}, info {}",
        history.len(),
        count_of(faultline_checkers::OpType::Ok),
        count_of(faultline_checkers::OpType::Fail),
        count_of(faultline_checkers::OpType::Info)
    );
    assert_linearizable(&history);
    assert!(cluster.unexpected_deaths().is_empty());
    cluster.teardown(tmp.path()).unwrap();
    let stderr = std::fs::read_to_string(tmp.path().join("nodes/n1/stderr.log")).unwrap();
    assert!(stderr.contains("etcd"), "etcd wrote no log");
}
