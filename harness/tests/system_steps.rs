//! A system file's own lifecycle commands on a local cluster, through the
//! real `faultline test --system`: install and wipe before the first start,
//! the nemesis's kills and pauses through the system's kill/pause/resume, its
//! stop at the end, and no node process left behind.

#[path = "support/run_dir.rs"]
mod support;

use std::path::PathBuf;
use std::process::Command;
use support::only_run;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/supervised-system.toml")
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only asks whether the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

#[test]
fn kills_pauses_and_stops_go_through_the_system_files_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let steps_log = tmp.path().join("steps.log");
    let output = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["--store", store.to_str().unwrap(), "test", "--system"])
        .arg(fixture())
        // The node pid files below live in the data directories.
        .arg("--keep-data")
        .args([
            "--workload",
            "register",
            "--nemesis",
            "kill,pause",
            "--nemesis-interval",
            "1",
            "--nodes",
            "3",
            "--concurrency",
            "2",
            "--time-limit",
            "6",
            "--settle",
            "0",
            "--rate",
            "50",
            "--seed",
            "3",
            "--quiet",
        ])
        .env("FIXTURE_STATE", tmp.path().join("register.json"))
        .env("STEPS_LOG", &steps_log)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");

    let steps = std::fs::read_to_string(&steps_log).unwrap();
    let lines: Vec<&str> = steps.lines().collect();
    for node in ["n1", "n2", "n3"] {
        for step in ["install", "wipe", "stop"] {
            let line = format!("{step} {node}");
            assert_eq!(
                lines.iter().filter(|l| **l == line).count(),
                1,
                "{line}:\n{steps}"
            );
        }
        // Install and wipe come before anything else happens to the node.
        let first = lines.iter().position(|l| l.ends_with(node)).unwrap();
        assert_eq!(lines[first], format!("install {node}"), "{steps}");
        assert_eq!(
            lines[first + 1..]
                .iter()
                .find(|l| l.ends_with(node))
                .unwrap(),
            &format!("wipe {node}")
        );
    }
    let count = |step: &str| lines.iter().filter(|l| l.starts_with(step)).count();
    assert!(count("kill ") >= 1, "no kill step ran:\n{steps}");
    assert!(count("pause ") >= 1, "no pause step ran:\n{steps}");
    assert_eq!(count("pause "), count("resume "), "{steps}");

    // Each kill the nemesis recorded went through the system's command.
    let dir = only_run(&store, "supervised-register");
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let kills = history
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|op| op["process"] == "nemesis" && op["f"] == "start-kill" && op["type"] == "info")
        .count();
    assert!(kills >= 1, "no kill in the history");
    let log = std::fs::read_to_string(dir.join("faultline.log")).unwrap_or_default();
    assert!(!log.contains("died unexpectedly"), "{log}");
    assert!(!stdout.contains("died unexpectedly"), "{stdout}");

    // Every node process, the last one of each node included, is gone.
    for node in ["n1", "n2", "n3"] {
        let pidfile = dir.join("nodes").join(node).join("data").join("pid");
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap_or_else(|e| panic!("{}: {e}", pidfile.display()))
            .trim()
            .parse()
            .unwrap();
        assert!(!alive(pid), "node {node} (pid {pid}) outlived the run");
        let steps_out = dir.join("nodes").join(node).join("steps.log");
        assert!(steps_out.exists(), "{} missing", steps_out.display());
    }
}
