//! The controller end to end against a real process: a one-node register
//! server (tests/fixtures/single_register_node.py) on a local cluster, under
//! kills and pauses. The durable server must pass; the forgetful one (state
//! in memory, lost on SIGKILL) must be caught.

#[path = "support/py_register.rs"]
mod support;

use faultline::client::ClientFactory;
use faultline::cluster::local::LocalCluster;
use faultline::cluster::Cluster;
use faultline::controller::{Config, Controller, Live};
use faultline::nemesis::FaultKind;
use faultline::store::writer::Recorder;
use faultline::tcp_client::TcpClientFactory;
use faultline_checkers::Verdict;
use faultline_workloads::WorkloadKind;
use std::sync::Arc;
use std::time::Duration;
use support::{python_available, PyRegister};

fn run(durable: bool, seed: u64) -> (Verdict, usize, std::path::PathBuf) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap().keep();
    let cluster: Arc<dyn Cluster> =
        Arc::new(LocalCluster::start(rt.handle(), &PyRegister { durable }, 1, &[], &dir).unwrap());
    let clients: Arc<dyn ClientFactory> = Arc::new(TcpClientFactory {
        nodes: cluster
            .nodes()
            .iter()
            .map(|n| (n.name.clone(), n.client_addr.clone()))
            .collect(),
    });
    let recorder = Arc::new(Recorder::create(Some(&dir.join("history.jsonl"))).unwrap());
    let workload = WorkloadKind::Register.build();
    let ctl = Controller {
        cluster: cluster.clone(),
        clients,
        workload: workload.clone(),
        recorder: recorder.clone(),
        config: Config {
            concurrency: 4,
            rate: 200.0,
            stagger: Duration::ZERO,
            time_limit: Duration::from_secs(6),
            op_timeout: Duration::from_secs(1),
            seed,
            nemesis: vec![FaultKind::Kill, FaultKind::Pause],
            nemesis_interval: Duration::from_millis(700),
            settle: Duration::from_millis(300),
            membership_voters: None,
        },
        log: Arc::new(|_: &str| {}),
        live: Arc::new(Live::default()),
    };
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let report = rt.block_on(ctl.run(rx));
    cluster.teardown(&dir).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let history = recorder.finish().unwrap();
    // The file on disk is the same history the checker saw.
    let on_disk = faultline_checkers::jsonl::read_file(&dir.join("history.jsonl")).unwrap();
    assert_eq!(on_disk.history, history);
    let faults = history.ops.iter().filter(|o| o.is_nemesis()).count();
    let checked = faultline::run::check::check_workload(
        &*workload,
        &history,
        &Default::default(),
        None,
        &dir.join("history.jsonl"),
    )
    .unwrap();
    (checked.results.verdict, faults, dir)
}

#[test]
fn durable_register_passes_under_kill_and_pause() {
    if !python_available() {
        return;
    }
    let (verdict, faults, dir) = run(true, 1);
    assert!(faults >= 4, "faults were applied and recorded: {faults}");
    assert_eq!(verdict, Verdict::Valid, "run in {}", dir.display());
    assert!(dir.join("nodes/n1/stderr.log").exists());
}

#[test]
fn forgetful_register_is_caught_under_kills() {
    if !python_available() {
        return;
    }
    // Losing state on a kill is caught when a kill follows an acknowledged
    // write and a read follows the restart; a few seeds make that certain.
    let caught = (1..=3).any(|seed| run(false, seed).0 == Verdict::Invalid);
    assert!(caught, "a register that forgets on SIGKILL must be caught");
}
