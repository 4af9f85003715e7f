//! One `faultline test` run in a temporary store, for the end-to-end tests
//! that drive the real CLI: its exit code, output, run directory, history
//! and results. Include with `#[path = "support/cli_run.rs"] mod cli_run;`.
#![allow(dead_code)]

use serde_json::Value;
use std::borrow::Borrow;
use std::path::PathBuf;
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_faultline");

/// A finished run. The store (and the run directory in it) lives as long as
/// this value.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// The run's directory in the store.
    pub dir: PathBuf,
    /// How long `faultline test` took, start-up and teardown included.
    pub wall: std::time::Duration,
    _store: tempfile::TempDir,
}

/// `faultline --store TMP test --quiet ARGS`. A run that neither passed nor
/// failed its checks (an exit other than 0 or 1) fails the test, with its
/// output.
pub fn test(args: &[&str]) -> Run {
    let store = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let out = launch(store.path(), args);
    let wall = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "faultline test {args:?} exited {code}\n{stdout}\n{stderr}"
    );
    let dir = std::fs::canonicalize(store.path().join("latest")).unwrap();
    Run {
        code,
        stdout,
        stderr,
        dir,
        wall,
        _store: store,
    }
}

/// `faultline ARGS` run in `cwd`, with its store in `cwd/results`.
pub fn faultline_in(args: &[&str], cwd: &std::path::Path) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .current_dir(cwd)
        .env("FAULTLINE_STORE", cwd.join("results"))
        .output()
        .expect("run faultline")
}

/// A run of the system in `examples/<name>/<name>.toml` with `args`.
pub fn example(name: &str, args: &[&str]) -> Run {
    let toml = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
        .join(format!("{name}.toml"));
    let mut all = vec!["--system", toml.to_str().unwrap()];
    all.extend(args);
    test(&all)
}

/// `faultline --store TMP test --quiet ARGS` that must be refused before
/// anything starts: exit 254 (bad input), nothing recorded in the store.
/// Returns what it said on stderr.
pub fn refused(args: &[&str]) -> String {
    let store = tempfile::tempdir().unwrap();
    let out = launch(store.path(), args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(254), "{args:?}: {stderr}");
    let stored: Vec<_> = std::fs::read_dir(store.path()).unwrap().collect();
    assert!(stored.is_empty(), "{args:?} recorded something: {stored:?}");
    stderr
}

/// `faultline --store STORE test --quiet ARGS`, to its end.
fn launch(store: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .arg("--store")
        .arg(store)
        .args(["test", "--quiet"])
        .args(args)
        .output()
        .unwrap()
}

impl Run {
    /// Every line of history.jsonl.
    pub fn history(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("history.jsonl"))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// history.jsonl as typed ops.
    pub fn ops(&self) -> Vec<faultline_checkers::history::Op> {
        let history = self.dir.join("history.jsonl");
        faultline_checkers::jsonl::read_file(&history)
            .unwrap()
            .history
            .ops
    }

    /// results.json.
    pub fn results(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.dir.join("results.json")).unwrap()).unwrap()
    }

    /// The result of checker `name` in results.json.
    pub fn check(&self, name: &str) -> Value {
        let results = self.results();
        results["checks"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["checker"] == name))
            .unwrap_or_else(|| panic!("no {name} check in {results}"))
            .clone()
    }

    /// What `faultline show` prints for the run.
    pub fn show(&self) -> String {
        let out = Command::new(BIN)
            .arg("--store")
            .arg(self._store.path())
            .args(["show", "latest"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// stdout and stderr, for messages.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// The first run of `seeds` (in order) that `is_caught`, or every run's
/// output: bug-catching tests try a few seeds, since a fault schedule may
/// miss the window a bug needs.
pub fn first_caught<R: Borrow<Run>>(
    seeds: impl IntoIterator<Item = u64>,
    run: impl Fn(u64) -> R,
    is_caught: impl Fn(&R) -> bool,
) -> Result<R, String> {
    let mut outs = Vec::new();
    for seed in seeds {
        let r = run(seed);
        if is_caught(&r) {
            return Ok(r);
        }
        let r: &Run = r.borrow();
        outs.push(format!("seed {seed}: exit {}\n{}", r.code, r.text()));
    }
    Err(outs.join("\n"))
}

/// The completion of the op invoked at history line `index`.
pub fn completion_of(history: &[Value], index: u64) -> &Value {
    let invoke = &history[index as usize];
    history[index as usize + 1..]
        .iter()
        .find(|o| o["process"] == invoke["process"])
        .unwrap_or_else(|| panic!("op {index} never completed"))
}
