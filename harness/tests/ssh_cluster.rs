//! `--cluster ssh` against namespace hosts running sshd (scripts/netns-hosts):
//! binaries uploaded, nodes started as daemons, iptables faults, logs
//! collected, nothing left behind; and `faultline heal` after a controller
//! was SIGKILLed in the middle of a partition.

#[path = "support/netfaults.rs"]
mod support;

use faultline::cluster::ssh::{SshCluster, SshOptions};
use faultline::cluster::{Cluster, NodeState};
use faultline::net::{Grudge, NetFault};
use faultline::remote::ssh::SshConfig;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use support::{echo, eventually, tcp_reaches, EchoDb, Hosts};

/// Run as a node by the other tests (see `support::EchoDb`).
#[test]
fn node_helper() {
    support::node_helper();
}

fn options(hosts: &Hosts, remote_dir: &Path, run_id: &str) -> SshOptions {
    SshOptions {
        hosts: hosts.nodes.clone(),
        ssh: SshConfig::new(
            &hosts.user,
            Some(hosts.key.clone()),
            hosts.known_hosts.clone(),
        ),
        remote_dir: remote_dir.to_path_buf(),
        port: 7000,
        run_id: run_id.to_string(),
        bugs: vec![],
        clock: false,
    }
}

fn isolate_n1() -> NetFault {
    let mut grudge = Grudge::new();
    grudge.insert("n1".into(), ["n2".to_string(), "n3".to_string()].into());
    NetFault::Partition(grudge)
}

#[test]
fn nodes_on_ssh_hosts_with_partitions_kills_and_log_collection() {
    if !support::prerequisites() {
        return;
    }
    let hosts = Hosts::up(3);
    let dir = tempfile::tempdir().unwrap();
    let remote_dir = dir.path().join("remote");
    let run_dir = dir.path().join("run");
    let cluster =
        SshCluster::start(Arc::new(EchoDb), &options(&hosts, &remote_dir, "sshtest")).unwrap();
    let nodes = cluster.nodes().to_vec();
    for n in &nodes {
        assert!(echo(&n.client_addr), "{} does not answer", n.name);
    }
    // The node program was uploaded and runs from the remote directory.
    let uploaded = remote_dir.join("sshtest/n1/bin");
    assert!(std::fs::read_dir(&uploaded).unwrap().count() == 1);

    let short = Duration::from_millis(700);
    cluster.net().apply(&isolate_n1()).unwrap();
    assert!(
        !tcp_reaches(&hosts.netns(1), &nodes[0].client_addr, short),
        "n2 still reaches n1"
    );
    assert!(
        !tcp_reaches(&hosts.netns(2), &nodes[0].client_addr, short),
        "n3 still reaches n1"
    );
    // A packet-level one-way cut: n2's answers to n1 are dropped too, so n1
    // cannot open a connection to n2 either (one_way_cuts.rs shows what
    // still flows).
    assert!(
        !tcp_reaches(&hosts.netns(0), &nodes[1].client_addr, short),
        "n1 opened a connection to n2 though n2's answers are dropped"
    );
    assert!(tcp_reaches(&hosts.netns(2), &nodes[1].client_addr, short));
    cluster.net().heal().unwrap();
    assert!(
        tcp_reaches(&hosts.netns(1), &nodes[0].client_addr, short),
        "heal did not restore"
    );

    cluster.kill(1).unwrap();
    assert_eq!(cluster.state(1), NodeState::Down);
    assert!(cluster.unexpected_deaths().is_empty());
    cluster.restart(1).unwrap();
    assert!(echo(&nodes[1].client_addr));
    cluster.pause(2).unwrap();
    assert!(eventually(Duration::from_secs(5), || cluster.state(2)
        == NodeState::Paused));
    cluster.resume(2).unwrap();

    cluster.net().apply(&isolate_n1()).unwrap();
    cluster.teardown(&run_dir).unwrap();
    // Logs came home; the remote side is gone: rules, processes, files.
    for (i, n) in nodes.iter().enumerate() {
        let local = run_dir.join("nodes").join(&n.name);
        let log = std::fs::read_to_string(local.join("stderr.log")).unwrap();
        assert!(log.contains("echo node listening"), "{}: {log}", n.name);
        let pid: u32 = std::fs::read_to_string(local.join("node.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(!support::alive(pid), "{} still running", n.name);
        assert!(
            support::faultline_rules(&hosts.netns(i)).is_empty(),
            "rules left on {}",
            n.name
        );
    }
    assert!(!remote_dir.join("sshtest/n1").exists());
}

/// The "controller" of the crash test: starts a cluster, cuts n1 off, says so,
/// and waits to be killed.
#[test]
fn crashing_controller_helper() {
    let Ok(spec) = std::env::var("FAULTLINE_TEST_CRASH") else {
        return;
    };
    let hosts: Vec<String> = serde_json::from_str(&spec).unwrap();
    let h = Hosts {
        id: String::new(),
        nodes: hosts[0].split(',').map(String::from).collect(),
        user: hosts[1].clone(),
        key: hosts[2].clone().into(),
        known_hosts: hosts[3].clone().into(),
    };
    let remote_dir = Path::new(&hosts[4]).to_path_buf();
    let cluster = SshCluster::start(Arc::new(EchoDb), &options(&h, &remote_dir, "crash")).unwrap();
    let mut grudge = Grudge::new();
    grudge.insert("n1".into(), ["n2".to_string()].into());
    cluster.net().apply(&NetFault::Partition(grudge)).unwrap();
    std::fs::write(remote_dir.join("partitioned"), "").unwrap();
    std::mem::forget(h); // Not ours to take down.
    std::thread::sleep(Duration::from_secs(120));
    panic!("never killed");
}

#[test]
fn heal_after_the_controller_was_killed_mid_partition() {
    if !support::prerequisites() {
        return;
    }
    let hosts = Hosts::up(2);
    let dir = tempfile::tempdir().unwrap();
    let remote_dir = dir.path().join("remote");
    std::fs::create_dir_all(&remote_dir).unwrap();
    let spec = serde_json::to_string(&[
        hosts.nodes.join(","),
        hosts.user.clone(),
        hosts.key.display().to_string(),
        hosts.known_hosts.display().to_string(),
        remote_dir.display().to_string(),
    ])
    .unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crashing_controller_helper",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FAULTLINE_TEST_CRASH", spec)
        .spawn()
        .unwrap();
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let partitioned = eventually(Duration::from_secs(60), || {
        remote_dir.join("partitioned").exists() || child.try_wait().unwrap().is_some()
    }) && remote_dir.join("partitioned").exists();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let _reap = Reap(child);
    assert!(partitioned, "the controller never partitioned");

    let n1 = format!("{}:7000", hosts.nodes[0]);
    let short = Duration::from_millis(700);
    assert!(
        !tcp_reaches(&hosts.netns(1), &n1, short),
        "no partition after the crash"
    );
    assert_eq!(support::faultline_rules(&hosts.netns(0)).len(), 1);

    let heal = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args([
                "heal",
                "--cluster",
                "ssh",
                "--remote-dir",
                &remote_dir.to_string_lossy(),
            ])
            .args(hosts.flags())
            .args(extra)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "heal failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let said = heal(&[]);
    assert!(
        said.contains(&format!("{}: removed 1", hosts.nodes[0])),
        "{said}"
    );
    assert!(
        tcp_reaches(&hosts.netns(1), &n1, short),
        "heal did not restore n2 -> n1"
    );
    assert!(support::faultline_rules(&hosts.netns(0)).is_empty());

    // The dead controller's nodes still run until asked to stop.
    let pidfile = remote_dir.join("crash/n1/node/node.pid");
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(support::alive(pid));
    let said = heal(&["--stop-nodes"]);
    assert!(said.contains("stopped 1 node(s)"), "{said}");
    assert!(
        eventually(Duration::from_secs(5), || !support::alive(pid)),
        "node survives heal --stop-nodes"
    );
}
