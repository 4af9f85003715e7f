//! `--nemesis loss`: packet loss on the links of some nodes, recorded in the
//! history as `start-loss` / `stop-loss` like every fault, healed at the end.
//! On netns hosts it is an iptables `statistic` rule; the local cluster's
//! proxies cannot drop a fraction of packets, so there it is refused before
//! anything starts.

#[path = "support/cli_run.rs"]
mod cli_run;
#[path = "support/netfaults.rs"]
mod support;

use faultline_checkers::history::{OpType, Process};

#[test]
fn loss_on_netns_is_recorded_healed_and_the_run_stays_valid() {
    if !support::prerequisites() || !support::raft_kv_built() {
        return;
    }
    let r = cli_run::test(&[
        "--cluster",
        "netns",
        "--nodes",
        "3",
        "--workload",
        "kv",
        "--nemesis",
        "loss",
        "--time-limit",
        "8",
        "--nemesis-interval",
        "1.5",
        "--seed",
        "3",
        "--settle",
        "2",
    ]);
    assert_eq!(r.code, 0, "not valid:\n{}", r.text());
    let ops = r.ops();
    let nemesis: Vec<_> = ops
        .iter()
        .filter(|o| o.process == Process::Nemesis && o.kind == OpType::Info)
        .collect();
    let starts: Vec<_> = nemesis.iter().filter(|o| o.f == "start-loss").collect();
    assert!(!starts.is_empty(), "no loss fault in {nemesis:?}");
    for start in &starts {
        assert!(start.error.is_none(), "loss not applied: {start:?}");
        let p = start.value["probability"].as_f64().unwrap();
        assert!(p > 0.0 && p < 1.0, "{start:?}");
        assert!(!start.value["links"].as_array().unwrap().is_empty());
    }
    let stops = nemesis.iter().filter(|o| o.f == "stop-loss").count();
    assert_eq!(stops, starts.len(), "every loss healed");
    assert!(
        ops.iter().any(|o| o.f == "read" && o.kind == OpType::Ok),
        "clients got through"
    );
    let spec = std::fs::read_to_string(r.dir.join("test.json")).unwrap();
    assert!(spec.contains("\"loss\""), "{spec}");
}

#[test]
fn loss_on_the_local_cluster_is_refused_before_anything_starts() {
    let stderr = cli_run::refused(&["--nemesis", "partition,loss"]);
    assert!(
        stderr.contains("--nemesis loss") && stderr.contains("--cluster local"),
        "{stderr}"
    );
}
