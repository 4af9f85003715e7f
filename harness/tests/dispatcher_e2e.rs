//! The dispatcher target end to end with the queue workload: real node
//! processes (each with its worker), real TCP through the fault proxies,
//! real faults. The fenced mode passes under partitions and kills;
//! `--bug no-fencing` records a task twice and `--bug ack-before-replicate`
//! loses acknowledged tasks, each caught in one of a few short seeded runs
//! (rates over longer runs in scripts/detection-matrix).

#[path = "support/cli_run.rs"]
mod cli_run;
#[path = "support/require.rs"]
mod require;

use cli_run::{completion_of, first_caught, Run};
use serde_json::Value;

fn built() -> bool {
    require::require(&[require::Need::Built("dispatcher")])
}

/// `faultline test` on 3 dispatcher nodes for 10 s, faults every 2 s.
fn run(args: &[&str], seed: u64) -> Run {
    let seed = seed.to_string();
    let mut all = vec![
        "--target",
        "dispatcher",
        "--nodes",
        "3",
        "--time-limit",
        "10",
    ];
    all.extend(["--nemesis-interval", "2", "--seed", &seed]);
    all.extend(args);
    cli_run::test(&all)
}

/// The queue check of a run.
fn queue(r: &Run) -> Value {
    r.check("queue")
}

/// The first of `seeds` whose run is invalid, or every run's output.
fn caught(args: &[&str], seeds: std::ops::RangeInclusive<u64>) -> Result<Run, String> {
    first_caught(seeds, |seed| run(args, seed), |r| r.code == 1)
}

#[test]
fn fenced_dispatcher_passes_under_partitions_and_kills() {
    if !built() {
        return;
    }
    let r = run(&["--nemesis", "partition,kill"], 11);
    assert_eq!(r.code, 0, "false alarm:\n{}", r.stdout);
    let queue = queue(&r);
    let taken = queue["details"]["taken"].as_u64().unwrap();
    assert!(
        taken > 50,
        "too few tasks went through: {taken}\n{}",
        r.stdout
    );
    // The drain found the queue settled and took the rest.
    assert_eq!(queue["details"]["drains"], 1, "{queue}");
}

#[test]
fn without_fencing_a_reassigned_task_is_completed_twice() {
    if !built() {
        return;
    }
    let args = ["--bug", "no-fencing", "--nemesis", "partition"];
    let r = caught(&args, 1..=4).unwrap_or_else(|outs| panic!("no-fencing not caught:\n{outs}"));
    let (queue, history) = (queue(&r), r.history());
    let dup = &queue["details"]["duplicated"];
    assert!(dup["count"].as_u64().unwrap() > 0, "{queue}");
    for item in dup["shown"].as_array().unwrap() {
        let by = item["taken_by"].as_array().unwrap();
        assert!(by.len() >= 2, "{item}");
        for op in by {
            let c = completion_of(&history, op.as_u64().unwrap());
            assert_eq!(c["type"], "ok", "{c}");
        }
    }
}

#[test]
fn acknowledging_before_replicating_loses_tasks() {
    if !built() {
        return;
    }
    let args = [
        "--bug",
        "ack-before-replicate",
        "--nemesis",
        "isolate-leader",
    ];
    let r = caught(&args, 1..=4)
        .unwrap_or_else(|outs| panic!("ack-before-replicate not caught:\n{outs}"));
    let (queue, history) = (queue(&r), r.history());
    let lost = &queue["details"]["lost"];
    assert!(lost["count"].as_u64().unwrap() > 0, "{queue}");
    // Each lost task's enqueue was acknowledged: the evidence cites the ack.
    for item in lost["shown"].as_array().unwrap() {
        let ack = item["ack"].as_u64().unwrap_or_else(|| panic!("{item}"));
        let line = &history[ack as usize];
        assert_eq!(
            (&line["type"], &line["f"]),
            (&"ok".into(), &"enqueue".into())
        );
        assert_eq!(line["value"], item["value"], "{line}");
    }
}
