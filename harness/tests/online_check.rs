//! The online check end to end: real raft-kv nodes, real partitions.
//! - `--stop-on-anomaly` on the stale-read bug (caught within seconds) ends
//!   the run well before its time limit, invalid, with the time faultline
//!   reported the anomaly in results.json; the final check agrees.
//! - A correct run, checked online over many keys, stays valid.

#[path = "support/require.rs"]
mod require;

use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

struct Run {
    code: i32,
    stdout: String,
    results: Value,
    wall: Duration,
    _store: tempfile::TempDir,
}

fn faultline_test(args: &[&str], seed: u64) -> Run {
    let store = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("--store")
        .arg(store.path())
        .args(["test", "--quiet", "--nodes", "3", "--target", "raft-kv"])
        .args(["--nemesis", "partition", "--nemesis-interval", "2"])
        .args(["--seed", &seed.to_string()])
        .args(args)
        .output()
        .unwrap();
    let wall = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "faultline test {args:?} exited {code}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results = std::fs::read_to_string(store.path().join("latest/results.json")).unwrap();
    Run {
        code,
        stdout,
        results: serde_json::from_str(&results).unwrap(),
        wall,
        _store: store,
    }
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
    let mut runs = Vec::new();
    let run = (1..=3)
        .map(|seed| faultline_test(&args, seed))
        .find_map(|r| {
            if r.code == 1 {
                return Some(r);
            }
            runs.push(r.stdout);
            None
        })
        .unwrap_or_else(|| panic!("stale-read not caught in 3 runs:\n{}", runs.join("\n")));
    let online = &run.results["online"];
    let found = &online["first_anomaly"];
    let reported = found["reported_s"]
        .as_f64()
        .unwrap_or_else(|| panic!("no online anomaly: {}\n{}", run.results, run.stdout));
    println!(
        "reported at {reported:.1} s, run took {:.1} s:\n{}",
        run.wall.as_secs_f64(),
        run.stdout
    );
    assert_eq!(online["stopped_run"], true, "{online}");
    assert_eq!(run.results["verdict"], "invalid");
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
    let lin = run.results["checks"]
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
    let online = &run.results["online"];
    assert_eq!(online["checker"], "linearizable", "{}", run.results);
    assert!(online.get("first_anomaly").is_none(), "{online}");
    assert!(online["parts"].as_u64().unwrap() > 1, "{online}");
    assert_eq!(online["gave_up"], 0, "{online}");
    assert!(online.get("fell_behind").is_none(), "{online}");
}
