//! sharded-kv end to end with the kv workload: real node processes, each a
//! member of every Raft group, real TCP through the fault proxies, real
//! faults, and `--nemesis rebalance` moving shards while the workload runs.
//! The correct mode passes under `partition,kill,rebalance`;
//! `stale-shard-reads` is caught (linearizability) in one of up to 3 short
//! seeded runs. `drop-transfer-writes` loses only the writes taken in a
//! handoff's ~30 ms, about one 10 s run in five: too rare for a CI test, so
//! it is covered by the handoff core's unit tests (targets/src/sharded/) and
//! measured by scripts/detection-matrix.

#[path = "support/cli_run.rs"]
mod cli_run;
#[path = "support/require.rs"]
mod require;

use cli_run::{first_caught, Run};
use serde_json::Value;

fn built() -> bool {
    require::require(&[require::Need::Built("sharded-kv")])
}

/// `faultline test` on 3 sharded-kv nodes for 8 s, faults every second, 10
/// clients at 300 ops/s (a handoff takes ~30 ms: the bugs need ops in it).
fn run(args: &[&str], seed: u64) -> Run {
    let seed = seed.to_string();
    let mut all = vec![
        "--target",
        "sharded-kv",
        "--nodes",
        "3",
        "--time-limit",
        "8",
    ];
    all.extend([
        "--nemesis-interval",
        "1",
        "--rate",
        "300",
        "--concurrency",
        "10",
    ]);
    all.extend(["--seed", &seed]);
    all.extend(args);
    cli_run::test(&all)
}

/// The nemesis lines named `f` that completed (`info`, not the invocation).
fn nemesis<'a>(h: &'a [Value], f: &str) -> Vec<&'a Value> {
    h.iter()
        .filter(|o| o["process"] == "nemesis" && o["f"] == f && o["type"] == "info")
        .collect()
}

/// The first of `seeds` whose run is invalid, or every run's output.
fn caught(bug: &str, seeds: std::ops::RangeInclusive<u64>) -> Result<Run, String> {
    let args = ["--bug", bug, "--nemesis", "rebalance"];
    first_caught(seeds, |seed| run(&args, seed), |r| r.code == 1)
}

#[test]
fn sharded_kv_passes_under_partitions_kills_and_rebalancing() {
    if !built() {
        return;
    }
    let r = run(&["--nemesis", "partition,kill,rebalance"], 3);
    assert_eq!(r.code, 0, "false alarm:\n{}", r.stdout);
    let history = r.history();
    let oks = history
        .iter()
        .filter(|o| o["type"] == "ok" && o["process"] != "nemesis")
        .count();
    assert!(oks > 100, "too few ops went through: {oks}\n{}", r.stdout);
    let starts = nemesis(&history, "start-rebalance");
    let stops = nemesis(&history, "stop-rebalance");
    assert!(!starts.is_empty(), "seed 3 draws no rebalance");
    assert_eq!(starts.len(), stops.len(), "every change is undone");
    // The last view of the ring is the starting layout, settled.
    let views = nemesis(&history, "ring-view");
    let last = views.last().expect("ring views are recorded");
    assert_eq!(
        last["value"]["groups"],
        serde_json::json!([1, 2, 3]),
        "{last}"
    );
    assert!(last["value"]["next"].is_null(), "{last}");
    assert!(last["value"]["version"].as_u64().unwrap() > 1, "{last}");
}

#[test]
fn stale_shard_reads_are_caught() {
    if !built() {
        return;
    }
    caught("stale-shard-reads", 1..=3)
        .unwrap_or_else(|outs| panic!("stale-shard-reads not caught:\n{outs}"));
}
