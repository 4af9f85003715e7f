//! `--nemesis membership` on raft-kv, with partitions and kills: voters are
//! removed and added back while the register workload runs, every change is
//! recorded in the history with each node's view of the voters, the cluster
//! ends with the membership it started with, and the run stays linearizable.

#[path = "support/cli_run.rs"]
mod cli_run;
#[path = "support/netfaults.rs"]
mod support;

use faultline_checkers::history::{Op, OpType, Process};
use serde_json::json;

fn nemesis_infos<'a>(ops: &'a [Op], f: &str) -> Vec<&'a Op> {
    ops.iter()
        .filter(|o| o.process == Process::Nemesis && o.kind == OpType::Info && o.f == f)
        .collect()
}

#[test]
fn membership_changes_under_partitions_and_kills_stay_linearizable() {
    if !support::raft_kv_built() {
        return;
    }
    let r = cli_run::test(&[
        "--target",
        "raft-kv",
        "--workload",
        "register",
        "--nemesis",
        "partition,kill,membership",
        "--time-limit",
        "10",
        "--nemesis-interval",
        "1.5",
        "--seed",
        "7",
    ]);
    assert_eq!(r.code, 0, "not valid:\n{}", r.text());
    let ops = r.ops();
    let starts = nemesis_infos(&ops, "start-membership");
    let stops = nemesis_infos(&ops, "stop-membership");
    assert!(!starts.is_empty(), "seed 7 draws no membership fault");
    assert_eq!(starts.len(), stops.len(), "every removal is undone");
    for op in starts.iter().chain(&stops) {
        assert!(op.error.is_none(), "change failed: {op:?}");
    }
    let all = json!(["n1", "n2", "n3", "n4", "n5"]);
    for start in &starts {
        let removed = start.value["remove"].as_array().unwrap();
        assert!((1..=2).contains(&removed.len()), "{start:?}");
        assert_eq!(start.value["voters"], all, "{start:?}");
    }
    // Each node's view, asked after each step: after the last heal every
    // node that answered sees all five voters again.
    let views = nemesis_infos(&ops, "membership-view");
    assert_eq!(views.len(), starts.len() + stops.len());
    let last = views.last().unwrap();
    let seen: Vec<_> = last
        .value
        .as_object()
        .unwrap()
        .values()
        .filter(|v| !v.is_null())
        .collect();
    assert!(seen.len() >= 3, "too few nodes answered: {last:?}");
    assert!(seen.iter().all(|v| **v == all), "{last:?}");
    // And one view in between shows the removal.
    assert!(
        views.iter().any(|v| v
            .value
            .as_object()
            .unwrap()
            .values()
            .any(|x| x.as_array().is_some_and(|a| a.len() < 5))),
        "no view shows fewer voters: {views:?}"
    );
}
