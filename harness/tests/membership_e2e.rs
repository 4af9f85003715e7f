//! `--nemesis membership` on raft-kv. Correct: voters are removed (some
//! restarted from their data, some wiped) and split across a partition with
//! two removals in flight, every change is recorded in the history with each
//! node's view of the voters, the second of two changes in flight is refused,
//! the cluster ends with the voters it started with, and the run stays
//! linearizable. With `membership-no-joint` the split elects two leaders that
//! both commit, and the checker finds it.

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
    // Seed 3 draws a removal with wiped restarts, a split and another removal.
    let r = cli_run::test(&[
        "--target",
        "raft-kv",
        "--workload",
        "register",
        "--nemesis",
        "partition,kill,membership",
        "--time-limit",
        "12",
        "--nemesis-interval",
        "1",
        "--seed",
        "3",
    ]);
    assert_eq!(r.code, 0, "not valid:\n{}", r.text());
    let ops = r.ops();
    let starts = nemesis_infos(&ops, "start-membership");
    let stops = nemesis_infos(&ops, "stop-membership");
    assert!(starts.len() >= 2, "seed 3 draws too few membership faults");
    assert_eq!(starts.len(), stops.len(), "every change is undone");
    for op in starts.iter().chain(&stops) {
        assert!(op.error.is_none(), "change failed: {op:?}");
    }
    let all = json!(["n1", "n2", "n3", "n4", "n5"]);
    for start in &starts {
        let removed = start.value["remove"].as_array().unwrap();
        assert!((1..=2).contains(&removed.len()), "{start:?}");
        assert_eq!(start.value["voters"], all, "{start:?}");
    }
    let mode = |m: &str| starts.iter().filter(|o| o.value["mode"] == m).count();
    assert!(mode("split") >= 1 && mode("remove") >= 1, "{starts:?}");
    assert!(
        starts.iter().any(|o| o.value["restart"] == "wiped"),
        "no removed node came back wiped: {starts:?}"
    );
    // Two removals in flight: the leader takes one and refuses the other.
    let answers = nemesis_infos(&ops, "membership-answers");
    assert!(
        answers
            .iter()
            .any(|a| a.value.to_string().contains("change-in-progress")),
        "no second change was refused: {answers:?}"
    );
    // Each node's view, asked after each start and stop: after the last
    // heal every node that answered sees all five voters again.
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
    // And one view in between shows a removal.
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

#[test]
fn two_changes_in_flight_across_a_partition_are_caught() {
    if !support::raft_kv_built() {
        return;
    }
    let caught = cli_run::first_caught(
        1..=4,
        |seed| {
            cli_run::test(&[
                "--target",
                "raft-kv",
                "--bug",
                "membership-no-joint",
                "--workload",
                "register",
                "--nemesis",
                "membership",
                "--time-limit",
                "10",
                "--nemesis-interval",
                "1.5",
                "--seed",
                &seed.to_string(),
            ])
        },
        |r| r.code == 1,
    )
    .unwrap_or_else(|e| panic!("membership-no-joint never caught:\n{e}"));
    // The leader took both removals: both answered ok on its side.
    let ops = caught.ops();
    let both = nemesis_infos(&ops, "membership-answers")
        .into_iter()
        .any(|a| {
            let list = a.value.as_array().unwrap();
            list.len() == 2 && list.iter().all(|x| x["answer"] == "ok")
        });
    let split = nemesis_infos(&ops, "start-membership")
        .iter()
        .any(|o| o.value["mode"] == "split");
    assert!(split && both, "caught without a split taking both changes");
    let lin = caught.check("linearizable");
    assert_eq!(lin["verdict"], "invalid", "{lin}");
}

/// The sizes of the voter lists the nodes reported in `membership-view` ops.
fn view_sizes(ops: &[Op]) -> Vec<usize> {
    nemesis_infos(ops, "membership-view")
        .iter()
        .flat_map(|v| v.value.as_object().unwrap().values())
        .filter_map(|x| x.as_array().map(|a| a.len()))
        .collect()
}

#[test]
fn bounds_grow_past_the_starting_voters_and_shrink_to_min() {
    if !support::raft_kv_built() {
        return;
    }
    // Three voters of five to start; the fault keeps 2 to 5. Seeds until one
    // has both a grow and a removal down to 2 (the draws are seeded).
    let run = |seed: u64| {
        cli_run::test(&[
            "--target",
            "raft-kv",
            "--set",
            "voters=3",
            "--membership-voters",
            "2..5",
            "--workload",
            "register",
            "--nemesis",
            "membership",
            "--time-limit",
            "10",
            "--nemesis-interval",
            "1",
            "--seed",
            &seed.to_string(),
        ])
    };
    let r = cli_run::first_caught(1..=4, run, |r| {
        let sizes = view_sizes(&r.ops());
        sizes.contains(&5) && sizes.contains(&2)
    })
    .unwrap_or_else(|e| panic!("no seed grew to 5 and shrank to 2:\n{e}"));
    assert_eq!(r.code, 0, "not valid:\n{}", r.text());
    let ops = r.ops();
    let starts = nemesis_infos(&ops, "start-membership");
    let stops = nemesis_infos(&ops, "stop-membership");
    assert_eq!(starts.len(), stops.len(), "every change is undone");
    let first3 = json!(["n1", "n2", "n3"]);
    for op in starts.iter().chain(&stops) {
        assert!(op.error.is_none(), "change failed: {op:?}");
        assert_eq!(op.value["voters"], first3, "{op:?}");
    }
    assert!(
        starts.iter().any(|o| o.value["mode"] == "grow"),
        "{starts:?}"
    );
    // Never outside the bounds, and back to the three at the end.
    let sizes = view_sizes(&ops);
    assert!(sizes.iter().all(|s| (2..=5).contains(s)), "{sizes:?}");
    let last = nemesis_infos(&ops, "membership-view");
    let last = last.last().unwrap().value.as_object().unwrap();
    let seen: Vec<_> = last.values().filter(|v| !v.is_null()).collect();
    assert!(seen.len() >= 3, "too few nodes answered: {last:?}");
    assert!(seen.iter().all(|v| **v == first3), "{last:?}");
}

#[test]
fn impossible_bounds_are_refused_naming_the_flag() {
    for (args, want) in [
        (
            &["--membership-voters", "0..3"][..],
            "MIN must be at least 1",
        ),
        (&["--membership-voters", "2..6"][..], "at most the 5 nodes"),
        (&["--membership-voters", "4..3"][..], "MIN is above MAX"),
        (&["--membership-voters", "three"][..], "MIN..MAX"),
        (
            &["--membership-voters", "2..4", "--set", "voters=5"][..],
            "starts with 5 voters",
        ),
    ] {
        let mut all = vec!["--nemesis", "membership"];
        all.extend_from_slice(args);
        let stderr = cli_run::refused(&all);
        assert!(
            stderr.contains("--membership-voters") && stderr.contains(want),
            "{args:?}: {stderr}"
        );
    }
}
