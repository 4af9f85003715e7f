//! One run path, as a user meets it: `test` and `check` check alike (flags,
//! exit codes, `blamed`, the first anomaly in words), Ctrl-C ends a run with
//! its verdict and exit 130, node data goes after a valid run unless
//! `--keep-data`, and the run's log gets the harness's events.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_faultline");

fn faultline(store: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .expect("run faultline")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn bin_dir() -> PathBuf {
    PathBuf::from(BIN).parent().unwrap().to_path_buf()
}

/// raft-kv is built with the workspace (cargo build --release --workspace).
fn raft_built() -> bool {
    let ok = bin_dir().join("raft-kv").is_file();
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "raft-kv missing in {}: build the workspace",
            bin_dir().display()
        );
        eprintln!("skipping: build the workspace (cargo build --release --workspace)");
    }
    ok
}

fn results(run: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("results.json")).unwrap()).unwrap()
}

/// A register history in a run directory: n4 answers a read of 0 after 1
/// was written, while n3 and n4 are cut off from the majority.
fn stale_read_run(store: &Path) -> PathBuf {
    let dir = store.join("reg/20260101T000000");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("test.json"),
        json!({"workload": "register", "model": "cas-register"}).to_string(),
    )
    .unwrap();
    let grudge = json!({"n1": ["n3", "n4"], "n2": ["n3", "n4"], "n5": ["n3", "n4"],
                        "n3": ["n1", "n2", "n5"], "n4": ["n1", "n2", "n5"]});
    let ms = |t: u64| t * 1_000_000;
    let ops = [
        json!({"type": "invoke", "process": 0, "f": "write", "value": 1, "time": ms(1000)}),
        json!({"type": "ok", "process": 0, "f": "write", "value": 1, "time": ms(1100), "node": "n1"}),
        json!({"type": "invoke", "process": "nemesis", "f": "start-partition", "value": grudge, "time": ms(10_000)}),
        json!({"type": "info", "process": "nemesis", "f": "start-partition", "value": grudge, "time": ms(10_100)}),
        json!({"type": "invoke", "process": 1, "f": "read", "time": ms(14_000)}),
        json!({"type": "ok", "process": 1, "f": "read", "value": 0, "time": ms(14_200), "node": "n4"}),
    ];
    let lines: String = ops
        .iter()
        .enumerate()
        .map(|(i, op)| {
            let mut op = op.clone();
            op["index"] = json!(i);
            op.to_string() + "\n"
        })
        .collect();
    std::fs::write(dir.join("history.jsonl"), lines).unwrap();
    dir
}

#[test]
fn check_blames_ops_and_show_names_the_node_the_fault_and_the_time() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("results");
    let run = stale_read_run(&store);

    let out = faultline(&store, &["check", run.to_str().unwrap(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = &printed["checks"][0];
    assert_eq!(check["blamed"], json!([4]), "{check:#}");
    assert_eq!(check["details"]["kind"], "linearizability");
    assert_eq!(check["first_anomaly"]["time_ns"], json!(14_200_000_000u64));
    assert_eq!(check["first_anomaly"]["node"], "n4");

    // results.json holds the same, and the run's op counts.
    let written = results(&run);
    assert_eq!(written["checks"][0]["blamed"], json!([4]));
    assert_eq!(written["stats"]["ok"], json!(2));
    assert_eq!(written["stats"]["faults"], json!(1));
    assert_eq!(written["stats"]["duration_ns"], json!(13_200_000_000u64));

    let out = faultline(&store, &["show", "reg/20260101T000000"]);
    let shown = text(&out.stdout);
    assert!(
        shown.contains(
            "first anomaly: n4 answered read -> 0 at 14.2 s, during the partition that cut n3, n4 off from the majority"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("ops      2 ok, 0 fail, 0 info, 0 open"),
        "{shown}"
    );

    let out = faultline(&store, &["ls"]);
    let listed = text(&out.stdout);
    assert!(listed.contains("invalid"), "{listed}");
}

#[test]
fn test_and_check_share_budget_flags_and_bad_input_exits_254() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("results");
    let run = stale_read_run(&store);
    for args in [
        vec!["check", run.to_str().unwrap(), "--timeout", "0"],
        vec!["test", "--timeout", "0", "--nodes", "1"],
    ] {
        let out = faultline(&store, &args);
        assert_eq!(out.status.code(), Some(254), "{args:?}");
        assert!(
            text(&out.stderr).contains("--timeout 0: must be a positive"),
            "{args:?}"
        );
    }
    // Both take the memory limit.
    let out = faultline(
        &store,
        &["check", run.to_str().unwrap(), "--memory-limit", "64"],
    );
    assert_eq!(out.status.code(), Some(1));
    let out = faultline(&store, &["--log-level", "loud", "ls"]);
    assert_eq!(out.status.code(), Some(254));
    assert!(text(&out.stderr).contains("--log-level"));
}

/// The only run directory under a test name in the store.
fn only_run(store: &Path, name: &str) -> PathBuf {
    let dirs: Vec<_> = std::fs::read_dir(store.join(name))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs[0].clone()
}

fn short_run(store: &Path, name: &str, extra: &[&str]) -> (Output, PathBuf) {
    let mut args = vec![
        "test",
        "--quiet",
        "--name",
        name,
        "--nodes",
        "3",
        "--time-limit",
        "2",
        "--nemesis",
        "none",
        "--settle",
        "0.5",
        "--seed",
        "7",
    ];
    args.extend_from_slice(extra);
    let out = faultline(store, &args);
    (out, only_run(store, name))
}

#[test]
fn node_data_goes_after_a_valid_run_unless_kept_and_the_log_has_the_run() {
    if !raft_built() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("results");

    let (out, run) = short_run(&store, "plain", &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    for node in ["n1", "n2", "n3"] {
        let dir = run.join("nodes").join(node);
        assert!(!dir.join("data").exists(), "{} kept", dir.display());
        assert!(dir.join("stderr.log").is_file(), "logs are kept");
    }
    assert!(text(&out.stdout).contains("node data removed after the valid run"));
    let shown = text(&faultline(&store, &["show", "plain"]).stdout);
    assert!(shown.contains("removed after the valid run"), "{shown}");
    let r = results(&run);
    assert!(r["stats"]["ok"].as_u64().unwrap() > 0, "{r:#}");
    assert!(r.get("interrupted").is_none());
    // The run's own lines and the harness's events, through one subscriber.
    let log = std::fs::read_to_string(run.join("faultline.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains(" INFO ") && l.contains("cluster up")),
        "{log}"
    );

    let (out, run) = short_run(&store, "kept", &["--keep-data", "--log-level", "warn"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    for node in ["n1", "n2", "n3"] {
        assert!(run.join("nodes").join(node).join("data").is_dir());
    }
    let shown = text(&faultline(&store, &["show", "kept"]).stdout);
    assert!(shown.contains("kept: "), "{shown}");
    assert!(shown.contains("nodes/n1/data"), "{shown}");
    let log = std::fs::read_to_string(run.join("faultline.log")).unwrap();
    assert!(!log.contains("cluster up"), "--log-level warn: {log}");
}

#[test]
fn ctrl_c_heals_checks_what_was_recorded_and_exits_130() {
    if !raft_built() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("results");
    let mut child = Command::new(BIN)
        .arg("--store")
        .arg(&store)
        .args(["test", "--quiet", "--name", "cut", "--nodes", "3"])
        .args(["--time-limit", "120", "--nemesis", "partition"])
        .args(["--nemesis-interval", "1", "--seed", "3"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Wait for the run to be going: ops completing, a partition in force.
    let deadline = Instant::now() + Duration::from_secs(60);
    let history = store.join("latest/history.jsonl");
    loop {
        let h = std::fs::read_to_string(&history).unwrap_or_default();
        let oks = h.matches("\"type\":\"ok\"").count();
        let cut = h
            .lines()
            .any(|l| l.contains("\"f\":\"start-partition\"") && l.contains("\"type\":\"info\""));
        if oks >= 20 && cut {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("faultline test ended early: {status}");
        }
        assert!(Instant::now() < deadline, "no ops recorded within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = child.id() as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);

    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("faultline test did not end within 60 s of Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    assert_eq!(status.code(), Some(130), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("interrupted: checked what was recorded"),
        "{stdout}"
    );
    assert!(stdout.contains("verdict: valid (interrupted)"), "{stdout}");

    let run = only_run(&store, "cut");
    let r = results(&run);
    assert_eq!(r["interrupted"], json!(true));
    assert_eq!(r["verdict"], "valid");
    // Stopped early, healed: a stop-partition follows every start.
    assert!(r["stats"]["duration_ns"].as_u64().unwrap() < 100_000_000_000);
    let h = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    let count = |f: &str| {
        h.lines()
            .filter(|l| l.contains(&format!("\"f\":\"{f}\"")) && l.contains("\"type\":\"info\""))
            .count()
    };
    assert!(count("start-partition") >= 1, "{h}");
    assert_eq!(count("start-partition"), count("stop-partition"), "{h}");
    let shown = text(&faultline(&store, &["show", "cut"]).stdout);
    assert!(
        shown.contains("(interrupted: the verdict covers what was recorded)"),
        "{shown}"
    );
}
