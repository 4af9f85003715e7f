//! A system file's parameters through the real `faultline test --system
//! --set`: the value reaches the node's start command and the adapter (whose
//! behaviour it changes, so the verdict does too), the test record keeps
//! every setting, and a wrong name or value stops the run before it starts.

#[path = "support/run_dir.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use support::only_run;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/param-system.toml")
}

/// Runs a short register test of the fixture with `sets`; the output, and the
/// store and the start log under `tmp`.
fn run(tmp: &Path, sets: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_faultline"));
    cmd.args([
        "--store",
        tmp.join("store").to_str().unwrap(),
        "test",
        "--system",
    ])
    .arg(fixture())
    .args([
        "--workload",
        "register",
        "--nemesis",
        "none",
        "--nodes",
        "1",
    ])
    .args(["--concurrency", "2", "--time-limit", "2", "--settle", "0"])
    .args(["--rate", "50", "--seed", "3", "--quiet"])
    .env("FIXTURE_STATE", tmp.join("register.json"))
    .env("FIXTURE_LOG", tmp.join("starts.log"));
    for set in sets {
        cmd.args(["--set", set]);
    }
    cmd.output().unwrap()
}

fn params_of_the_run(tmp: &Path) -> serde_json::Value {
    let dir = only_run(&tmp.join("store"), "param-register");
    let test: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("test.json")).unwrap()).unwrap();
    test["params"].clone()
}

#[test]
fn the_default_reaches_the_node_and_the_adapter() {
    let tmp = tempfile::tempdir().unwrap();
    let output = run(tmp.path(), &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let starts = std::fs::read_to_string(tmp.path().join("starts.log")).unwrap();
    assert_eq!(starts.trim(), "n1 reads=honest");
    assert_eq!(
        params_of_the_run(tmp.path()),
        serde_json::json!(["reads=honest"])
    );
}

#[test]
fn a_setting_changes_what_the_system_does() {
    let tmp = tempfile::tempdir().unwrap();
    let output = run(tmp.path(), &["reads=liar"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The lying adapter's reads of 999 make the history not linearizable.
    assert_eq!(
        output.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("verdict: invalid"), "{stdout}");
    let starts = std::fs::read_to_string(tmp.path().join("starts.log")).unwrap();
    assert_eq!(starts.trim(), "n1 reads=liar");
    assert_eq!(
        params_of_the_run(tmp.path()),
        serde_json::json!(["reads=liar"])
    );
}

#[test]
fn unknown_names_and_values_are_bad_input_before_anything_starts() {
    let tmp = tempfile::tempdir().unwrap();
    for (set, says) in [
        ("read=liar", "--set read: not a parameter of param"),
        (
            "reads=sometimes",
            "--set reads=sometimes: reads of param takes honest, liar",
        ),
    ] {
        let output = run(tmp.path(), &[set]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(254), "{set}: {stderr}");
        assert!(stderr.contains(says), "{set}: {stderr}");
        assert!(
            stderr.contains("reads (honest|liar; default honest)") || set.starts_with("reads="),
            "{stderr}"
        );
    }
    assert!(!tmp.path().join("starts.log").exists(), "a node started");
}
