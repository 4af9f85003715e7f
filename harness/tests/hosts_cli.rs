//! `faultline test` from the command line with raft-kv on host clusters:
//! `--cluster ssh` against namespace hosts from scripts/netns-hosts (its last
//! line of flags, as a user would paste it) and `--cluster netns`, under
//! partitions and kills. Valid, node logs in the run directory, nothing left.

#[path = "support/netfaults.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::Hosts;

const BIN: &str = env!("CARGO_BIN_EXE_faultline");

/// Runs `faultline test` and returns the run directory.
fn faultline_test(store: &Path, extra: &[String]) -> PathBuf {
    let out = Command::new(BIN)
        .arg("--store")
        .arg(store)
        .args(["test", "--time-limit", "8", "--nemesis", "partition,kill"])
        .args([
            "--nemesis-interval",
            "1.5",
            "--quiet",
            "--seed",
            "3",
            "--settle",
            "2",
        ])
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "not valid:\n{stdout}\n{stderr}");
    assert!(stdout.contains("verdict: valid"), "{stdout}");
    let run = stdout
        .lines()
        .find_map(|l| l.strip_prefix("run: "))
        .expect("the run's path is printed");
    PathBuf::from(run.trim())
}

fn assert_run_complete(run: &Path, nodes: usize) {
    let history = std::fs::read_to_string(run.join("history.jsonl")).unwrap();
    assert!(
        history.contains("start-partition") || history.contains("start-kill"),
        "no faults"
    );
    for i in 1..=nodes {
        let log = std::fs::read_to_string(run.join(format!("nodes/n{i}/stderr.log"))).unwrap();
        assert!(log.contains("raft-kv starting"), "n{i}: {log}");
        let pid: u32 = std::fs::read_to_string(run.join(format!("nodes/n{i}/node.pid")))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(!support::alive(pid), "n{i} still running");
    }
}

#[test]
fn raft_kv_over_ssh_from_the_pasted_flags() {
    if !support::prerequisites() || !support::raft_kv_built() {
        return;
    }
    let hosts = Hosts::up(3);
    let store = tempfile::tempdir().unwrap();
    let remote_dir = store.path().join("remote");
    let mut extra = vec!["--cluster".to_string(), "ssh".into()];
    extra.extend(hosts.flags());
    extra.extend(["--remote-dir".into(), remote_dir.display().to_string()]);
    let run = faultline_test(store.path(), &extra);
    assert_run_complete(&run, 3);
    for i in 0..3 {
        assert!(
            support::faultline_rules(&hosts.netns(i)).is_empty(),
            "rules left on host {i}"
        );
    }
}

#[test]
fn raft_kv_on_netns() {
    if !support::prerequisites() || !support::raft_kv_built() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    let extra = ["--cluster", "netns", "--nodes", "3"].map(String::from);
    let run = faultline_test(store.path(), &extra);
    assert_run_complete(&run, 3);
    // Teardown (heal, stop, remove the namespaces) went through.
    let log = std::fs::read_to_string(run.join("faultline.log")).unwrap();
    assert!(!log.contains("teardown:"), "{log}");
}

/// The controller SIGKILLed in the middle of a partition leaves its rules on
/// the hosts; `faultline heal --cluster ssh ... --stop-nodes` removes them and
/// the dead run's nodes.
#[test]
fn heal_after_faultline_test_was_sigkilled_mid_partition() {
    if !support::prerequisites() || !support::raft_kv_built() {
        return;
    }
    let hosts = Hosts::up(3);
    let store = tempfile::tempdir().unwrap();
    let remote_dir = store.path().join("remote");
    let mut child = Command::new(BIN)
        .arg("--store")
        .arg(store.path())
        .args([
            "test",
            "--cluster",
            "ssh",
            "--time-limit",
            "60",
            "--nemesis",
            "partition",
        ])
        .args(["--nemesis-interval", "5", "--quiet", "--seed", "4"])
        .args(hosts.flags())
        .arg("--remote-dir")
        .arg(&remote_dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    // Wait until a partition is in force (its start recorded, its stop not yet).
    let history = || -> Option<String> {
        let test_dir = std::fs::read_dir(store.path().join("raft-kv-register")).ok()?;
        let run = test_dir
            .filter_map(|e| e.ok())
            .find(|e| e.path().is_dir())?;
        std::fs::read_to_string(run.path().join("history.jsonl")).ok()
    };
    let in_force = support::eventually(std::time::Duration::from_secs(90), || {
        let Some(h) = history() else { return false };
        let last = h.lines().rfind(|l| l.contains("\"nemesis\"")).unwrap_or("");
        last.contains("\"info\"") && last.contains("start-partition")
    });
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let _reap = Reap(child);
    assert!(in_force, "no partition came into force");
    let rules: usize = (0..3)
        .map(|i| support::faultline_rules(&hosts.netns(i)).len())
        .sum();
    assert!(rules > 0, "no rules on the hosts after the crash");

    let out = Command::new(BIN)
        .args(["heal", "--cluster", "ssh", "--stop-nodes"])
        .args(hosts.flags())
        .arg("--remote-dir")
        .arg(&remote_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for i in 0..3 {
        assert!(
            support::faultline_rules(&hosts.netns(i)).is_empty(),
            "rules left on host {i}"
        );
        let out = Command::new("ip")
            .args(["netns", "pids", &hosts.netns(i)])
            .output()
            .unwrap();
        let pids = String::from_utf8_lossy(&out.stdout).to_string();
        for pid in pids.split_whitespace() {
            let cmdline =
                std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            assert!(
                !cmdline.contains("raft-kv"),
                "a node survives on host {i}: {cmdline}"
            );
        }
    }
}
