//! Every adapter failure mode through the real `faultline test --system`: the
//! run finishes, the history is checked valid, the broken ops are `info` with
//! a message that says what happened, and faultline.log tells of the restart.

#[path = "support/run_dir.rs"]
mod support;

use std::path::PathBuf;
use std::process::Command;
use support::only_run;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flaky-system.toml")
}

/// Runs a short test against the fixture adapter misbehaving as `mode` at its
/// `at`-th op; returns the info errors of the history and faultline.log.
fn run(mode: &str, at: usize) -> (Vec<String>, String) {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let output = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["--store", store.to_str().unwrap(), "test", "--system"])
        .arg(fixture())
        .args([
            "--workload",
            "register",
            "--nemesis",
            "none",
            "--nodes",
            "1",
            "--concurrency",
            "2",
            "--time-limit",
            "3",
            "--op-timeout",
            "2",
            "--settle",
            "0",
            "--rate",
            "50",
            "--seed",
            "1",
            "--quiet",
        ])
        .env("FIXTURE_STATE", tmp.path().join("register.json"))
        .env("FIXTURE_MODE", mode)
        .env("FIXTURE_AT", at.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "mode {mode}: not valid\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(stdout.contains("verdict: valid"), "{stdout}");
    let dir = only_run(&store, "flaky-register");
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let infos = history
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|op| op["type"] == "info" && op["process"] != "nemesis")
        .map(|op| op["error"].as_str().unwrap_or_default().to_string())
        .collect();
    let log = std::fs::read_to_string(dir.join("faultline.log")).unwrap();
    (infos, log)
}

#[test]
fn a_crashing_adapter() {
    let (infos, log) = run("crash", 5);
    assert!(!infos.is_empty(), "no info ops");
    // Crashes, and (on a loaded machine) the odd slow start timing out.
    let crashed = |e: &String| e.contains("exited while op") && e.contains("exit status 3");
    assert!(infos.iter().any(crashed), "{infos:?}");
    assert!(
        infos.iter().all(|e| crashed(e) || e == "timeout"),
        "{infos:?}"
    );
    assert!(
        log.contains("restarting it") && log.contains("adapter crashing on purpose"),
        "{log}"
    );
}

#[test]
fn a_hanging_adapter() {
    let (infos, log) = run("hang", 7);
    assert!(infos.iter().any(|e| e == "timeout"), "{infos:?}");
    assert!(
        log.contains("did not answer op") && log.contains("will restart it"),
        "{log}"
    );
}

#[test]
fn an_adapter_writing_bad_json() {
    let (infos, log) = run("badjson", 4);
    assert!(
        infos
            .iter()
            .any(|e| e.contains("not a completion (not JSON")),
        "{infos:?}"
    );
    assert!(log.contains("this is not json"), "{log}");
}

#[test]
fn an_adapter_answering_an_unknown_id() {
    let (infos, log) = run("unknown", 6);
    assert!(
        infos.iter().any(|e| e.contains("answered unknown id")),
        "{infos:?}"
    );
    assert!(log.contains("restarting it"), "{log}");
}

#[test]
fn an_adapter_with_stray_output() {
    let (_infos, log) = run("stray", 3);
    // Between ops it is caught before the next op; during one, that op is info.
    assert!(
        log.contains("while no op was in flight") || log.contains("not a completion"),
        "{log}"
    );
}

#[test]
fn an_adapter_that_cannot_start_stops_the_run_with_its_error() {
    let tmp = tempfile::tempdir().unwrap();
    let toml = tmp.path().join("missing.toml");
    std::fs::write(
        &toml,
        "name = \"missing\"\n[node]\nstart = [\"sleep\", \"3600\"]\nready = { command = [\"true\"] }\n\
         [client]\nadapter = [\"./no-such-adapter\"]\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "--store",
            tmp.path().join("store").to_str().unwrap(),
            "test",
            "--system",
        ])
        .arg(&toml)
        .args([
            "--nemesis",
            "none",
            "--nodes",
            "1",
            "--time-limit",
            "2",
            "--quiet",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(254), "{stderr}");
    assert!(
        stderr.contains("the adapter of missing") && stderr.contains("./no-such-adapter"),
        "{stderr}"
    );
}

#[test]
fn a_bad_system_file_is_bad_input_with_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let toml = tmp.path().join("typo.toml");
    std::fs::write(
        &toml,
        "name = \"typo\"\n[node]\nstart = [\"x\", \"--name\", \"{nod}\"]\n[client]\nadapter = [\"a\"]\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "--store",
            tmp.path().join("store").to_str().unwrap(),
            "test",
            "--system",
        ])
        .arg(&toml)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(254), "{stderr}");
    assert!(
        stderr.contains("typo.toml:3:") && stderr.contains("unknown placeholder {nod}"),
        "{stderr}"
    );
}
