//! examples/redlock through the real CLI: Redlock over five Redis servers
//! under process pauses. Without fencing, a holder whose write to the
//! protected resource waits in a paused server past its validity time is
//! answered after another client acquired the lock (Kleppmann 2016): the lock
//! checker must find two holders at once. With `--set fencing=on` (tokens
//! from a counter the resource checks) the run must be valid.

#[path = "support/require.rs"]
mod require;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// redis-server present, or: in CI a failure, elsewhere a skip with a message.
fn redis_present() -> bool {
    require::require(&[require::Need::File("/usr/bin/redis-server", "redis-server")])
}

fn system_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/redlock/redlock.toml")
}

/// One short seeded run of the README's command on a local cluster.
fn run(store: &Path, seed: u64, fencing: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["--store", store.to_str().unwrap(), "test", "--system"])
        .arg(system_file())
        .args(["--workload", "lock", "--nemesis", "pause"])
        .args(["--op-timeout", "5", "--nemesis-interval", "3"])
        .args(["--time-limit", "18", "--settle", "1", "--quiet"])
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
fn unfenced_redlock_is_caught_and_fenced_passes() {
    if !redis_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();

    // A catch needs a pause of n1 (the resource's server) while a holder
    // writes: the seeds whose schedule pauses n1 (README: 3 of their 4
    // pauses of n1 caught), the one with three such pauses first.
    let mut tried = Vec::new();
    let caught = SEEDS_OFF.into_iter().any(|seed| {
        let output = run(&tmp.path().join(format!("off-{seed}")), seed, "off");
        let out = text(&output);
        assert!(matches!(output.status.code(), Some(0 | 1)), "{out}");
        tried.push(out.clone());
        output.status.code() == Some(1) && out.contains("overlapping holds")
    });
    assert!(
        caught,
        "no overlap in 2 unfenced runs:\n{}",
        tried.join("\n")
    );

    // Fenced, on a seed that pauses n1 while a holder writes: valid.
    let output = run(&tmp.path().join("on"), SEED_ON, "on");
    let out = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}");
    assert!(out.contains("lock: valid"), "{out}");
}

/// Unfenced seeds whose schedule pauses n1 (README: "What faultline found").
const SEEDS_OFF: [u64; 2] = [5, 3];
/// The fenced seed that pauses n1 most (at 3, 9 and 15 s).
const SEED_ON: u64 = 5;
