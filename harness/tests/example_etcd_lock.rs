//! examples/etcd-lock through the real CLI: etcd's lock API under process
//! pauses. Without fencing, a holder whose node is paused past its lease
//! writes the protected resource after another client has acquired the lock
//! (Jepsen 2020): the lock checker must find two holders at once. With
//! `--set fencing=on` the fencing tokens must rise.

#[path = "support/require.rs"]
mod require;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// etcd present, or: in CI a failure, elsewhere a skip with a message.
fn etcd_present() -> bool {
    require::require(&[require::Need::File("/usr/bin/etcd", "etcd-server")])
}

fn system_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/etcd-lock/etcd-lock.toml")
}

/// One short seeded run of the README's command on a local cluster.
fn run(store: &Path, seed: u64, fencing: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["--store", store.to_str().unwrap(), "test", "--system"])
        .arg(system_file())
        .args(["--workload", "lock", "--nemesis", "pause"])
        .args(["--op-timeout", "5", "--nemesis-interval", "3"])
        .args(["--time-limit", "30", "--settle", "1", "--quiet"])
        .args(["--seed", &seed.to_string(), "--set"])
        .arg(format!("fencing={fencing}"))
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn unfenced_etcd_locks_are_caught_and_fenced_ones_pass() {
    if !etcd_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();

    // A catch needs a pause of a follower that a holder talks to: 3 of 5
    // seeded runs in the README's table. Up to 3 runs, caught ones first.
    let mut tried = Vec::new();
    let caught = [5, 4, 2].into_iter().any(|seed| {
        let output = run(&tmp.path().join(format!("off-{seed}")), seed, "off");
        let out = text(&output);
        assert!(matches!(output.status.code(), Some(0 | 1)), "{out}");
        tried.push(out.clone());
        output.status.code() == Some(1) && out.contains("overlapping holds")
    });
    assert!(
        caught,
        "no overlap in 3 unfenced runs:\n{}",
        tried.join("\n")
    );

    // Fenced: tokens must rise. Whether the run is valid is not asserted: 1
    // fenced run in 5 of the README's table had an overlap of lease beliefs
    // that is not yet explained (see the README).
    let output = run(&tmp.path().join("on"), 1, "on");
    let out = text(&output);
    assert!(matches!(output.status.code(), Some(0 | 1)), "{out}");
    assert!(!out.contains("fencing-token anomalies"), "{out}");
}
