//! The online check end to end: real raft-kv nodes, real partitions.
//! - `--stop-on-anomaly` on the stale-read bug (caught within seconds) ends
//!   the run well before its time limit, invalid, with the time faultline
//!   reported the anomaly in results.json; the final check agrees.
//! - A correct run, checked online over many keys, stays valid.

#[path = "support/cli_run.rs"]
mod cli_run;
#[path = "support/require.rs"]
mod require;

use cli_run::{first_caught, Run};

/// `faultline test` on 3 raft-kv nodes under partitions every 2 s.
fn faultline_test(args: &[&str], seed: u64) -> Run {
    let seed = seed.to_string();
    let mut all = vec![
        "--nodes",
        "3",
        "--target",
        "raft-kv",
        "--nemesis",
        "partition",
    ];
    all.extend(["--nemesis-interval", "2", "--seed", &seed]);
    all.extend(args);
    cli_run::test(&all)
}

#[test]
fn stop_on_anomaly_ends_a_stale_read_run_early() {
    if !require::require(&[require::Need::Built("raft-kv")]) {
        return;
    }
    const LIMIT_S: f64 = 60.0;
    let args = [
        "--bug",
        "stale-read",
        "--time-limit",
        "60",
        "--stop-on-anomaly",
    ];
    // Stale reads need a partition that leaves an old leader serving reads:
    // the first partition (at 2 s) almost always does; a few seeds make sure.
    let run = first_caught(1..=3, |seed| faultline_test(&args, seed), |r| r.code == 1)
        .unwrap_or_else(|outs| panic!("stale-read not caught in 3 runs:\n{outs}"));
    let results = run.results();
    let online = &results["online"];
    let found = &online["first_anomaly"];
    let reported = found["reported_s"]
        .as_f64()
        .unwrap_or_else(|| panic!("no online anomaly: {}\n{}", results, run.stdout));
    println!(
        "reported at {reported:.1} s, run took {:.1} s:\n{}",
        run.wall.as_secs_f64(),
        run.stdout
    );
    assert_eq!(online["stopped_run"], true, "{online}");
    assert_eq!(results["verdict"], "invalid");
    // Found while running, a moment after it happened; and the run ended
    // then, far from its time limit (cluster start and teardown included).
    let happened = found["time_s"].as_f64().unwrap();
    assert!(happened <= reported && reported < LIMIT_S / 2.0, "{found}");
    assert!(
        run.wall.as_secs_f64() < reported + LIMIT_S / 2.0 && run.wall.as_secs_f64() < LIMIT_S,
        "the run went on for {:?} after the anomaly at {reported} s",
        run.wall
    );
    // The final check reports it too, with the reported time next to its
    // own first anomaly.
    let lin = results["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["checker"] == "linearizable")
        .expect("a linearizable check");
    assert_eq!(lin["verdict"], "invalid");
    assert_eq!(lin["first_anomaly"]["reported_s"].as_f64(), Some(reported));
    assert!(
        run.stdout.contains("found while running: linearizable")
            && run.stdout.contains("--stop-on-anomaly"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_correct_run_checked_online_stays_valid() {
    if !require::require(&[require::Need::Built("raft-kv")]) {
        return;
    }
    // The kv workload: many keys, each its own part of the online check.
    let run = faultline_test(
        &["--workload", "kv", "--time-limit", "8", "--stop-on-anomaly"],
        11,
    );
    assert_eq!(run.code, 0, "false alarm:\n{}", run.stdout);
    let results = run.results();
    let online = &results["online"];
    assert_eq!(online["checker"], "linearizable", "{results}");
    assert!(online.get("first_anomaly").is_none(), "{online}");
    assert!(online["parts"].as_u64().unwrap() > 1, "{online}");
    assert_eq!(online["gave_up"], 0, "{online}");
    assert!(online.get("fell_behind").is_none(), "{online}");
}
