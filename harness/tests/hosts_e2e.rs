//! The controller end to end on host clusters: a durable register server
//! (tests/fixtures/single_register_node.py) on n1 of three namespace nodes or
//! three SSH hosts, under partitions (iptables), kills and pauses. The run is
//! valid, node logs are collected, and no rule or process is left behind.
//! A server that forgets on SIGKILL is caught the same way.

#[path = "support/py_register.rs"]
mod py_register;
#[path = "support/netfaults.rs"]
mod support;

use faultline::client::ClientFactory;
use faultline::cluster::netns::{NetnsCluster, NetnsOptions};
use faultline::cluster::ssh::{SshCluster, SshOptions};
use faultline::cluster::Cluster;
use faultline::controller::{Config, Controller, Live};
use faultline::remote::ssh::SshConfig;
use faultline::store::writer::Recorder;
use faultline::tcp_client::TcpClientFactory;
use faultline_checkers::Verdict;
use faultline_workloads::WorkloadKind;
use py_register::{python_available, PyRegister};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use support::Hosts;

fn ready() -> bool {
    support::prerequisites() && python_available()
}

/// Run the controller for a few seconds against `cluster`, clients on n1
/// only (each node is a separate register). Returns the verdict and faults.
fn run(
    cluster: Arc<dyn Cluster>,
    dir: &Path,
    seed: u64,
    nemesis: &[&str],
) -> (Verdict, Vec<String>) {
    std::fs::create_dir_all(dir).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let n1 = &cluster.nodes()[0];
    let clients: Arc<dyn ClientFactory> = Arc::new(TcpClientFactory {
        nodes: vec![(n1.name.clone(), n1.client_addr.clone())],
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
            time_limit: Duration::from_secs(10),
            op_timeout: Duration::from_secs(1),
            seed,
            nemesis: nemesis.iter().map(|k| k.parse().unwrap()).collect(),
            nemesis_interval: Duration::from_millis(600),
            settle: Duration::from_millis(300),
            membership_voters: None,
        },
        log: Arc::new(|_: &str| {}),
        live: Arc::new(Live::default()),
    };
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let report = rt.block_on(ctl.run(rx));
    cluster.teardown(dir).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    let history = recorder.finish().unwrap();
    let faults = history
        .ops
        .iter()
        .filter(|o| o.is_nemesis())
        .map(|o| format!("{:?}", o.f))
        .collect();
    let checked = faultline::run::check::check_workload(
        &*workload,
        &history,
        &Default::default(),
        None,
        Path::new("history.jsonl"),
    )
    .unwrap();
    (checked.results.verdict, faults)
}

/// Nothing of the run is left: node processes, iptables rules.
fn assert_clean(dir: &Path, nodes: usize, namespaces: &[String]) {
    for node in (1..=nodes).map(|i| format!("n{i}")) {
        let pidfile = dir.join("nodes").join(&node).join("node.pid");
        let pid: u32 = std::fs::read_to_string(&pidfile)
            .unwrap_or_else(|e| panic!("{}: {e}", pidfile.display()))
            .trim()
            .parse()
            .unwrap();
        assert!(!support::alive(pid), "{node} still running");
        assert!(
            dir.join("nodes").join(&node).join("stderr.log").exists(),
            "{node}: no log"
        );
    }
    for ns in namespaces {
        assert!(
            support::faultline_rules(ns).is_empty(),
            "rules left in {ns}"
        );
    }
}

fn partitions(faults: &[String]) -> usize {
    faults
        .iter()
        .filter(|f| f.contains("start-partition"))
        .count()
}

#[test]
fn durable_register_on_ssh_hosts_passes_under_partitions_kills_pauses() {
    if !ready() {
        return;
    }
    let hosts = Hosts::up(3);
    let tmp = tempfile::tempdir().unwrap();
    let dir: PathBuf = tmp.path().join("run");
    let opts = SshOptions {
        hosts: hosts.nodes.clone(),
        ssh: SshConfig::new(
            &hosts.user,
            Some(hosts.key.clone()),
            hosts.known_hosts.clone(),
        ),
        remote_dir: tmp.path().join("remote"),
        port: 7000,
        run_id: support::unique_id('s'),
        bugs: vec![],
        clock: false,
    };
    let cluster =
        Arc::new(SshCluster::start(Arc::new(PyRegister { durable: true }), &opts).unwrap());
    let (verdict, faults) = run(cluster, &dir, 2, ALL);
    // Under load a fault step over SSH is slow, so count two at least.
    assert!(faults.len() >= 4 && partitions(&faults) >= 1, "{faults:?}");
    assert_eq!(verdict, Verdict::Valid, "run in {}", dir.display());
    let namespaces: Vec<String> = (0..3).map(|i| hosts.netns(i)).collect();
    assert_clean(&dir, 3, &namespaces);
}

const ALL: &[&str] = &["partition", "kill", "pause"];

fn netns_run(durable: bool, nodes: usize, seed: u64, nemesis: &[&str]) -> (Verdict, Vec<String>) {
    netns_run_in(&tempfile::tempdir().unwrap(), durable, nodes, seed, nemesis)
}

fn netns_run_in(
    tmp: &tempfile::TempDir,
    durable: bool,
    nodes: usize,
    seed: u64,
    nemesis: &[&str],
) -> (Verdict, Vec<String>) {
    let opts = NetnsOptions {
        nodes,
        port: 7000,
        run_id: support::unique_id('n'),
        run_dir: tmp.path().to_path_buf(),
        bugs: vec![],
        clock: nemesis.contains(&"clock"),
    };
    let cluster = NetnsCluster::start(Arc::new(PyRegister { durable }), &opts).unwrap();
    let namespaces: Vec<String> = (0..nodes).map(|i| cluster.netns(i)).collect();
    let (verdict, faults) = run(Arc::new(cluster), tmp.path(), seed, nemesis);
    assert_clean(tmp.path(), nodes, &[]);
    for ns in &namespaces {
        assert!(
            !support::namespaces_with(ns).contains(ns),
            "{ns} left behind"
        );
    }
    (verdict, faults)
}

#[test]
fn durable_register_on_netns_passes_under_partitions_kills_pauses() {
    if !ready() {
        return;
    }
    let (verdict, faults) = netns_run(true, 3, 2, ALL);
    // Under load a fault step over SSH is slow, so count two at least.
    assert!(faults.len() >= 4 && partitions(&faults) >= 1, "{faults:?}");
    assert_eq!(verdict, Verdict::Valid);
}

#[test]
fn forgetful_register_on_netns_is_caught() {
    if !ready() {
        return;
    }
    // One node, so every kill hits the node the clients use.
    let caught = (1..=3).any(|seed| netns_run(false, 1, seed, &["kill"]).0 == Verdict::Invalid);
    assert!(caught, "a register that forgets on SIGKILL must be caught");
}

#[test]
fn clock_nemesis_on_netns_skews_nodes_and_resets_them() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (verdict, faults) = netns_run_in(&tmp, true, 3, 5, &["clock", "pause"]);
    assert!(
        faults.iter().any(|f| f.contains("start-clock")),
        "{faults:?}"
    );
    assert_eq!(verdict, Verdict::Valid);
    // Every node's clock is back on true time at the end.
    for node in ["n1", "n2", "n3"] {
        let file = tmp.path().join("nodes").join(node).join("faketime");
        assert_eq!(
            std::fs::read_to_string(&file).unwrap().trim(),
            "+0.000s",
            "{node}"
        );
    }
}
