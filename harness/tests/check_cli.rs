//! `faultline check` as a user runs it: the real binary on real files.

#[path = "support/cli_run.rs"]
mod cli_run;

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;

use cli_run::faultline_in as faultline;

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited normally")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One jsonl line; times are the index in ms.
fn line(index: u64, kind: &str, process: u64, f: &str, value: Value) -> String {
    let mut op = json!({"index": index, "time": index * 1_000_000, "type": kind, "process": process, "f": f});
    if !value.is_null() {
        op["value"] = value;
    }
    op.to_string()
}

fn jsonl(ops: &[(&str, u64, &str, Value)]) -> String {
    ops.iter()
        .enumerate()
        .map(|(i, (kind, p, f, v))| line(i as u64, kind, *p, f, v.clone()) + "\n")
        .collect()
}

/// A cas-register history: write 1, then a read that returns `read`.
fn register_history(read: i64) -> String {
    jsonl(&[
        ("invoke", 0, "write", json!(1)),
        ("ok", 0, "write", json!(1)),
        ("invoke", 1, "read", Value::Null),
        ("ok", 1, "read", json!(read)),
    ])
}

fn run_dir(root: &Path, workload: &str, history: &str) -> PathBuf {
    let dir = root.join("results/reg/20260101T000000");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("test.json"),
        json!({"name": "reg", "workload": workload}).to_string(),
    )
    .unwrap();
    std::fs::write(dir.join("history.jsonl"), history).unwrap();
    dir
}

fn porcupine_dir() -> Option<PathBuf> {
    let found = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|a| a.join("shared/data/porcupine"))
        .find(|d| d.join("expected.csv").is_file());
    if found.is_none() {
        let msg = "shared/data/porcupine not found beside the repository";
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("skipping: {msg}");
    }
    found
}

#[test]
fn run_dir_verdicts_are_written_back() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_dir(tmp.path(), "register", &register_history(2));
    let out = faultline(&["check", dir.to_str().unwrap()], tmp.path());
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("verdict: INVALID"),
        "{}",
        stdout(&out)
    );
    // Said in the words of the register (the witness's sentence).
    assert!(
        stdout(&out).contains("returned 2 at")
            && stdout(&out).contains(
                "but the only value that could still be current then is 1 (op 0, done at"
            )
            && stdout(&out).contains("no op ever wrote 2"),
        "{}",
        stdout(&out)
    );
    let results: Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["verdict"], "invalid");
    assert_eq!(results["checks"][0]["checker"], "linearizable");
    let page = std::fs::read_to_string(dir.join("linearizability.html")).unwrap();
    assert!(page.contains("<html"), "{page}");

    // Fixed history: valid, and the stale counterexample page goes away.
    std::fs::write(dir.join("history.jsonl"), register_history(1)).unwrap();
    let out = faultline(&["check", "reg/20260101T000000"], tmp.path());
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(!dir.join("linearizability.html").exists());
    let results: Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["verdict"], "valid");
}

#[test]
fn json_and_junit_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let history = tmp.path().join("h.jsonl");
    std::fs::write(&history, register_history(7)).unwrap();
    let junit = tmp.path().join("junit.xml");
    let out = faultline(
        &[
            "check",
            "h.jsonl",
            "--model",
            "register",
            "--json",
            "--junit",
            junit.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let results: Value = serde_json::from_str(&stdout(&out)).expect("--json prints JSON");
    assert_eq!(results["verdict"], "invalid");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<testcase classname=\"faultline.h.jsonl\" name=\"linearizable\""),
        "{xml}"
    );
    assert!(xml.contains("<failure message=\"not linearizable"), "{xml}");
}

#[test]
fn initial_state_changes_the_verdict() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("h.jsonl"),
        jsonl(&[
            ("invoke", 0, "read", Value::Null),
            ("ok", 0, "read", json!(0)),
        ]),
    )
    .unwrap();
    let out = faultline(&["check", "h.jsonl", "--model", "register"], tmp.path());
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    let out = faultline(
        &["check", "h.jsonl", "--model", "register", "--initial", "0"],
        tmp.path(),
    );
    assert_eq!(code(&out), 0, "{}", stdout(&out));
    let out = faultline(
        &[
            "check",
            "h.jsonl",
            "--model",
            "register",
            "--initial",
            "{oops",
        ],
        tmp.path(),
    );
    assert_eq!(code(&out), 254);
    assert!(stderr(&out).contains("--initial"), "{}", stderr(&out));
}

#[test]
fn set_and_lock_histories_are_recognised_by_their_functions() {
    let tmp = tempfile::tempdir().unwrap();
    let set = jsonl(&[
        ("invoke", 0, "add", json!(1)),
        ("ok", 0, "add", json!(1)),
        ("invoke", 1, "add", json!(2)),
        ("ok", 1, "add", json!(2)),
        ("invoke", 2, "read", Value::Null),
        ("ok", 2, "read", json!([2])),
    ]);
    std::fs::write(tmp.path().join("set.jsonl"), &set).unwrap();
    let out = faultline(&["check", "set.jsonl"], tmp.path());
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("1 lost (1)"), "{}", stdout(&out));

    // Adds but no final read: nothing to judge by.
    let adds_only: String = set.lines().take(4).map(|l| format!("{l}\n")).collect();
    std::fs::write(tmp.path().join("adds.jsonl"), adds_only).unwrap();
    let out = faultline(&["check", "adds.jsonl"], tmp.path());
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));

    let lock = jsonl(&[
        (
            "invoke",
            0,
            "acquire",
            json!({"holder": "c0", "lease_ms": 1000}),
        ),
        ("ok", 0, "acquire", json!({"token": 1, "lease_ms": 1000})),
        (
            "invoke",
            1,
            "acquire",
            json!({"holder": "c1", "lease_ms": 1000}),
        ),
        ("ok", 1, "acquire", json!({"token": 2, "lease_ms": 1000})),
    ]);
    std::fs::write(tmp.path().join("lock.jsonl"), lock).unwrap();
    let out = faultline(&["check", "lock.jsonl"], tmp.path());
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("overlapping holds"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn bad_input_exits_254_with_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let mut text = register_history(1);
    text = text.replacen("\"type\":\"ok\"", "\"type\":\"maybe\"", 1);
    std::fs::write(tmp.path().join("history.jsonl"), text).unwrap();
    let out = faultline(
        &["check", "history.jsonl", "--model", "register"],
        tmp.path(),
    );
    assert_eq!(code(&out), 254);
    assert!(
        stderr(&out).contains("history.jsonl:2: "),
        "{}",
        stderr(&out)
    );

    std::fs::write(
        tmp.path().join("history.edn"),
        "{:type :invoke, :f :read, :process 0}\n[:not :a :map]\n{:type :ok, :f :read, :process 0}\n",
    )
    .unwrap();
    let out = faultline(&["check", "history.edn", "--model", "register"], tmp.path());
    assert_eq!(code(&out), 254);
    assert!(
        stderr(&out).contains("history.edn:2: expected an op map, found a vector"),
        "{}",
        stderr(&out)
    );

    std::fs::write(tmp.path().join("plain.jsonl"), register_history(1)).unwrap();
    let out = faultline(&["check", "plain.jsonl"], tmp.path());
    assert_eq!(code(&out), 254);
    assert!(stderr(&out).contains("--model"), "{}", stderr(&out));
    let out = faultline(&["check", "plain.jsonl", "--model", "btree"], tmp.path());
    assert_eq!(code(&out), 254);
    let out = faultline(&["check", "plain.jsonl", "--format", "csv"], tmp.path());
    assert_eq!(code(&out), 254);
    let out = faultline(&["check", "missing.jsonl"], tmp.path());
    assert_eq!(code(&out), 254);
    std::fs::create_dir(tmp.path().join("empty")).unwrap();
    let out = faultline(&["check", "empty"], tmp.path());
    assert_eq!(code(&out), 254);
    assert!(
        stderr(&out).contains("no history.jsonl"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn truncated_last_line_is_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let text = register_history(1) + "{\"index\":4,\"type\":\"inv";
    std::fs::write(tmp.path().join("h.jsonl"), text).unwrap();
    let out = faultline(&["check", "h.jsonl", "--model", "cas-register"], tmp.path());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("warning: ") && stderr(&out).contains("h.jsonl:5"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn jepsen_nil_reads_tell_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let edn = "[{:type :invoke, :f :write, :value 1, :process 0, :time 1}\n\
               {:type :ok, :f :write, :value 1, :process 0, :time 2}\n\
               {:type :invoke, :f :read, :value nil, :process 1, :time 3}\n\
               {:type :ok, :f :read, :value nil, :process 1, :time 4}\n\
               {:type :info, :f :start, :process :nemesis, :time 5}\n\
               {:type :info, :f :start, :process :nemesis, :time 6, :value :partitioned}]\n";
    std::fs::write(tmp.path().join("history.edn"), edn).unwrap();
    let out = faultline(
        &["check", "history.edn", "--model", "cas-register"],
        tmp.path(),
    );
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("jepsen-edn"), "{}", stdout(&out));
}

#[test]
fn porcupine_logs_get_their_verdicts() {
    let Some(data) = porcupine_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    for (file, want) in [
        ("jepsen/etcd_002.log", 0),
        ("jepsen/etcd_000.log", 1),
        ("kv/c01-ok.txt", 0),
        ("kv/c01-bad.txt", 1),
    ] {
        let path = data.join(file);
        let out = faultline(&["check", path.to_str().unwrap()], tmp.path());
        assert_eq!(code(&out), want, "{file}: {}{}", stdout(&out), stderr(&out));
    }
    // A budget that runs out gives unknown, exit 2 (etcd_002 needs ~75k states).
    let path = data.join("jepsen/etcd_002.log");
    let out = faultline(
        &["check", path.to_str().unwrap(), "--timeout", "0.000001"],
        tmp.path(),
    );
    assert_eq!(code(&out), 2, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("UNKNOWN"), "{}", stdout(&out));
    // The format given explicitly works too.
    let path = data.join("kv/c01-ok.txt");
    let out = faultline(
        &["check", path.to_str().unwrap(), "--format", "porcupine-kv"],
        tmp.path(),
    );
    assert_eq!(code(&out), 0);
}

#[test]
fn jepsen_independent_keys_are_checked_per_key() {
    let tmp = tempfile::tempdir().unwrap();
    let edn = "{:type :invoke, :f :write, :value [1 5], :process 0}\n\
               {:type :ok, :f :write, :value [1 5], :process 0}\n\
               {:type :invoke, :f :read, :value [2 nil], :process 1}\n\
               {:type :ok, :f :read, :value [2 nil], :process 1}\n\
               {:type :invoke, :f :read, :value [1 nil], :process 1}\n\
               {:type :ok, :f :read, :value [1 6], :process 1}\n";
    std::fs::write(tmp.path().join("history.edn"), edn).unwrap();
    let out = faultline(&["check", "history.edn", "--model", "kv"], tmp.path());
    assert_eq!(code(&out), 1, "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("key \"1\""), "{}", stdout(&out));
}

/// A kv history of two keys, a crashed write and a partition: key `a` is
/// written 1 and read `read`.
fn kv_history(read: i64) -> String {
    let keyed = |(i, kind, p, f, key, v): (u64, &str, u64, &str, &str, Value)| {
        let mut op: Value = serde_json::from_str(&line(i, kind, p, f, v)).unwrap();
        op["key"] = json!(key);
        op.to_string() + "\n"
    };
    let nemesis = |i: u64, f: &str| {
        json!({"index": i, "time": i * 1_000_000, "type": "info", "process": "nemesis",
               "f": f, "value": {"n1": ["n2", "n3"]}})
        .to_string()
            + "\n"
    };
    [
        keyed((0, "invoke", 0, "write", "a", json!(1))),
        keyed((1, "invoke", 1, "write", "b", json!(3))),
        keyed((2, "ok", 0, "write", "a", json!(1))),
        nemesis(3, "start-partition"),
        keyed((4, "info", 1, "write", "b", json!(3))),
        keyed((5, "invoke", 0, "read", "a", Value::Null)),
        keyed((6, "invoke", 3, "read", "b", Value::Null)),
        keyed((7, "ok", 0, "read", "a", json!(read))),
        keyed((8, "ok", 3, "read", "b", json!(3))),
    ]
    .concat()
}

/// `--json` output without its timings.
fn untimed_json(out: &Output) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.remove("elapsed_ms");
                m.values_mut().for_each(strip);
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    strip(&mut v);
    v
}

#[test]
fn a_kv_file_checked_per_key_says_what_its_run_directory_says() {
    let tmp = tempfile::tempdir().unwrap();
    for (read, verdict, exit) in [(1, "valid", 0), (2, "invalid", 1)] {
        let history = kv_history(read);
        std::fs::write(tmp.path().join("h.jsonl"), &history).unwrap();
        let dir = run_dir(tmp.path(), "none", &history);
        // The file is read per key; the run directory into a History.
        let file = faultline(&["check", "h.jsonl", "--model", "kv", "--json"], tmp.path());
        let run = faultline(
            &["check", dir.to_str().unwrap(), "--model", "kv", "--json"],
            tmp.path(),
        );
        assert_eq!(code(&file), exit, "{}", stderr(&file));
        assert_eq!(code(&run), exit, "{}", stderr(&run));
        let json = untimed_json(&file);
        assert_eq!(json, untimed_json(&run));
        assert_eq!(json["verdict"], verdict);
        assert_eq!(json["stats"]["info"], 1);
        if verdict == "invalid" {
            let check = &json["checks"][0];
            assert_eq!(check["blamed"], json!([5]));
            assert!(
                check["first_anomaly"]["explanation"]
                    .as_str()
                    .is_some_and(|e| e.contains("partition")),
                "{check}"
            );
        }
    }
    // A bad line: the file and line, and nothing judged.
    let bad = kv_history(1).replacen("\"type\":\"ok\"", "\"type\":\"maybe\"", 1);
    std::fs::write(tmp.path().join("bad.jsonl"), bad).unwrap();
    let out = faultline(&["check", "bad.jsonl", "--model", "kv"], tmp.path());
    assert_eq!(code(&out), 254);
    assert!(stderr(&out).contains("bad.jsonl:3: "), "{}", stderr(&out));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}
