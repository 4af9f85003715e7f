//! A netns cluster whose controller was SIGKILLed in the middle of a
//! partition: `faultline heal --cluster netns` lifts the partition, and
//! `--stop-nodes` (or the next netns run) removes the dead run's namespaces
//! and nodes.

#[path = "support/netfaults.rs"]
mod support;

use faultline::cluster::netns::{NetnsCluster, NetnsOptions};
use faultline::cluster::Cluster;
use faultline::net::{Grudge, NetFault};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use support::{eventually, tcp_reaches, EchoDb};

/// Run as a node by the other tests (see `support::EchoDb`).
#[test]
fn node_helper() {
    support::node_helper();
}

/// The "controller": starts a cluster, cuts n2 -> n1, writes the namespace
/// names, waits to be killed.
#[test]
fn crashing_controller_helper() {
    let Ok(dir) = std::env::var("FAULTLINE_TEST_CRASH_DIR") else {
        return;
    };
    let dir = Path::new(&dir);
    let opts = NetnsOptions {
        nodes: 2,
        port: 7000,
        run_id: "crash".into(),
        run_dir: dir.to_path_buf(),
        bugs: vec![],
        clock: false,
    };
    let cluster = NetnsCluster::start(Arc::new(EchoDb), &opts).unwrap();
    let mut grudge = Grudge::new();
    grudge.insert("n1".into(), ["n2".to_string()].into());
    cluster.net().apply(&NetFault::Partition(grudge)).unwrap();
    let info = format!(
        "{} {} {}",
        cluster.netns(0),
        cluster.netns(1),
        cluster.nodes()[0].client_addr
    );
    std::fs::write(dir.join("partitioned"), info).unwrap();
    std::mem::forget(cluster);
    std::thread::sleep(Duration::from_secs(120));
    panic!("never killed");
}

#[test]
fn heal_and_cleanup_after_the_controller_was_killed() {
    if !support::prerequisites() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crashing_controller_helper",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FAULTLINE_TEST_CRASH_DIR", dir.path())
        .spawn()
        .unwrap();
    let marker = dir.path().join("partitioned");
    eventually(Duration::from_secs(60), || {
        marker.exists() || child.try_wait().unwrap().is_some()
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let info = std::fs::read_to_string(&marker).expect("the controller never partitioned");
    let parts: Vec<&str> = info.split_whitespace().collect();
    let (ns1, ns2, n1_addr) = (parts[0], parts[1], parts[2]);
    let pids: Vec<u32> = ["n1", "n2"]
        .iter()
        .map(|n| {
            let f = dir.path().join("nodes").join(n).join("node.pid");
            std::fs::read_to_string(f).unwrap().trim().parse().unwrap()
        })
        .collect();
    // Whatever happens, remove the dead run's namespaces.
    struct Cleanup;
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = faultline::cluster::netns::remove_stale();
        }
    }
    let _cleanup = Cleanup;

    let heal = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["heal", "--cluster", "netns", "--run-id", "crash"])
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
    // Another netns test starting a cluster now would already remove the
    // dead run (it cleans up stale clusters): only check the partition
    // while the namespaces are still there.
    let short = Duration::from_millis(700);
    let present = |ns: &str| support::namespaces_with(ns).contains(&ns.to_string());
    if present(ns1) {
        let cut = !tcp_reaches(ns2, n1_addr, short);
        heal(&[]);
        if present(ns1) && present(ns2) {
            assert!(cut, "no partition after the crash");
            assert!(support::faultline_rules(ns1).is_empty(), "heal left rules");
            // A failed connection counts only if the namespaces were not
            // removed under it.
            let restored = tcp_reaches(ns2, n1_addr, short);
            assert!(
                restored || !present(ns1) || !present(ns2),
                "heal did not restore n2 -> n1"
            );
        }
    }
    heal(&["--stop-nodes"]);
    assert!(
        !support::namespaces_with(ns1).contains(&ns1.to_string()),
        "{ns1} survives"
    );
    assert!(
        !support::namespaces_with(ns2).contains(&ns2.to_string()),
        "{ns2} survives"
    );
    for pid in pids {
        assert!(
            eventually(Duration::from_secs(5), || !support::alive(pid)),
            "node {pid} survives"
        );
    }
}
