//! `faultline check --workload list-append|rw-register`: the real binary on
//! transactional histories, in Elle's EDN and in our JSON lines.

#[path = "support/cli_run.rs"]
mod cli_run;

use serde_json::{json, Value};
use std::process::Output;

use cli_run::faultline_in as faultline;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Circular information flow (G1c), as Elle writes a history.
const G1C_EDN: &str = r#"{:type :invoke, :f :txn, :value [[:append :x 1] [:r :y nil]], :process 0, :time 10, :index 0}
{:type :invoke, :f :txn, :value [[:append :y 1] [:r :x nil]], :process 1, :time 11, :index 1}
{:type :ok, :f :txn, :value [[:append :x 1] [:r :y [1]]], :process 0, :time 20, :index 2}
{:type :ok, :f :txn, :value [[:append :y 1] [:r :x [1]]], :process 1, :time 21, :index 3}
"#;

fn jsonl(lines: &[(u64, &str, Value)]) -> String {
    lines
        .iter()
        .enumerate()
        .map(|(i, (p, kind, value))| {
            json!({"index": i, "time": i * 1000, "type": kind, "process": p, "f": "txn", "value": value})
                .to_string()
                + "\n"
        })
        .collect()
}

#[test]
fn an_elle_history_with_g1c_is_caught_and_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("history.edn");
    std::fs::write(&path, G1C_EDN).unwrap();
    let p = path.to_str().unwrap();

    let out = faultline(&["check", p, "--workload", "list-append"], tmp.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let words = text(&out);
    assert!(words.contains("G1c"), "{words}");
    assert!(
        words.contains("T0 appended 1 to x; T1 read x = [1], so T0 -> T1 (wr)"),
        "{words}"
    );
    assert!(words.contains("verdict: INVALID"), "{words}");

    let out = faultline(
        &["check", p, "--workload", "list-append", "--json"],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let results: Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &results["checks"][0]["details"];
    assert_eq!(results["checks"][0]["checker"], "list-append");
    assert_eq!(d["anomaly_types"], json!(["G1c"]));
    assert_eq!(d["not"], json!(["read-committed"]));
    assert_eq!(results["checks"][0]["blamed"], json!([0, 1]));
    assert_eq!(d["anomalies"]["G1c"][0]["cycle"][0]["type"], "wr");

    // Read uncommitted allows it; without --workload the txns are recognised.
    let out = faultline(
        &["check", p, "--consistency-models", "read-uncommitted"],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("not read-committed"), "{}", text(&out));
}

#[test]
fn a_valid_history_passes_and_write_skew_depends_on_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let valid = tmp.path().join("valid.jsonl");
    std::fs::write(
        &valid,
        jsonl(&[
            (0, "invoke", json!([["append", "x", 1], ["r", "x", null]])),
            (0, "ok", json!([["append", "x", 1], ["r", "x", [1]]])),
            (1, "invoke", json!([["r", "x", null], ["append", "y", 2]])),
            (1, "ok", json!([["r", "x", [1]], ["append", "y", 2]])),
        ]),
    )
    .unwrap();
    let out = faultline(
        &[
            "check",
            valid.to_str().unwrap(),
            "--workload",
            "list-append",
        ],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("no anomalies"), "{}", text(&out));

    let skew = tmp.path().join("skew.jsonl");
    std::fs::write(
        &skew,
        jsonl(&[
            (0, "invoke", json!([["r", "x", null], ["w", "y", 1]])),
            (1, "invoke", json!([["r", "y", null], ["w", "x", 1]])),
            (0, "ok", json!([["r", "x", null], ["w", "y", 1]])),
            (1, "ok", json!([["r", "y", null], ["w", "x", 1]])),
        ]),
    )
    .unwrap();
    let s = skew.to_str().unwrap();
    let si = ["check", s, "--workload", "rw-register"];
    let out = faultline(
        &[&si[..], &["--consistency-models", "snapshot-isolation"]].concat(),
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = faultline(
        &[
            &si[..],
            &["--consistency-models", "snapshot-isolation,serializable"],
        ]
        .concat(),
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("G2-item"), "{}", text(&out));
}

#[test]
fn bad_txns_and_models_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        jsonl(&[
            (0, "invoke", json!([["append", "x", "one"]])),
            (0, "ok", json!([["append", "x", "one"]])),
        ]),
    )
    .unwrap();
    let b = bad.to_str().unwrap();
    let out = faultline(&["check", b, "--workload", "list-append"], tmp.path());
    assert_eq!(out.status.code(), Some(254), "{}", text(&out));
    assert!(
        // The invocation (op 0) already holds the bad micro-op.
        text(&out).contains("op 0: micro-op 0") && text(&out).contains("integers"),
        "{}",
        text(&out)
    );
    let out = faultline(
        &[
            "check",
            b,
            "--workload",
            "list-append",
            "--consistency-models",
            "linearizable",
        ],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(254), "{}", text(&out));
    assert!(text(&out).contains("strict-serializable"), "{}", text(&out));
}

/// `check FILE.jsonl --workload W` reads the file straight into txns, never
/// into a History; it must say exactly what the History path says (the
/// same lines in a `.txt` file, whose txns are read from a History), and
/// warn about a truncated last line.
#[test]
fn a_streamed_check_says_what_the_history_says() {
    let tmp = tempfile::tempdir().unwrap();
    let mut lines = jsonl(&[
        (0, "invoke", json!([["append", "x", 1], ["r", "y", null]])),
        (1, "invoke", json!([["append", "y", 1], ["r", "x", null]])),
        (0, "ok", json!([["append", "x", 1], ["r", "y", [1]]])),
        (1, "ok", json!([["append", "y", 1], ["r", "x", [1]]])),
        (2, "invoke", json!([["r", "x", null]])),
        (2, "info", Value::Null),
        (3, "invoke", json!([["append", "x", 2]])),
    ]);
    lines += r#"{"index":7,"type":"inv"#;
    let streamed = tmp.path().join("h.jsonl");
    let whole = tmp.path().join("h.txt");
    std::fs::write(&streamed, &lines).unwrap();
    std::fs::write(&whole, &lines).unwrap();
    let run = |p: &std::path::Path, json: bool| {
        let mut args = vec!["check", p.to_str().unwrap(), "--workload", "list-append"];
        if json {
            args.push("--json");
        }
        let out = faultline(&args, tmp.path());
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        out
    };
    let (a, b) = (run(&streamed, true), run(&whole, true));
    let a: Value = serde_json::from_slice(&a.stdout).unwrap();
    let b: Value = serde_json::from_slice(&b.stdout).unwrap();
    assert_eq!(a["checks"], b["checks"]);
    assert_eq!(a["stats"], b["stats"]);
    assert_eq!(a["stats"]["open"], 1, "{a}");
    let words = text(&run(&streamed, false));
    assert!(
        words.contains("h.jsonl (jsonl, 4 client operations)"),
        "{words}"
    );
    assert!(
        words.contains("h.jsonl:8: ignoring truncated last line"),
        "{words}"
    );
    assert_eq!(words.matches("truncated").count(), 1, "{words}");
}

/// A bare bank history checks with `--workload bank`, and is recognised by
/// its transfers without it; an unknown workload is a clear error.
#[test]
fn a_bank_history_checks_with_workload_bank() {
    let tmp = tempfile::tempdir().unwrap();
    let bank = |total_read: i64| {
        jsonl(&[
            (0, "invoke", json!([["w", 0, 10], ["w", 1, 10]])),
            (0, "ok", json!([["w", 0, 10], ["w", 1, 10]])),
            (1, "invoke", json!([["incr", 0, -3], ["incr", 1, 3]])),
            (1, "ok", json!([["incr", 0, -3], ["incr", 1, 3]])),
            (2, "invoke", json!([["r", 0, null], ["r", 1, null]])),
            (2, "ok", json!([["r", 0, 7], ["r", 1, total_read - 7]])),
        ])
    };
    let good = tmp.path().join("good.jsonl");
    let bad = tmp.path().join("bad.jsonl");
    std::fs::write(&good, bank(20)).unwrap();
    std::fs::write(&bad, bank(23)).unwrap();
    let (g, b) = (good.to_str().unwrap(), bad.to_str().unwrap());
    let out = faultline(&["check", g, "--workload", "bank"], tmp.path());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for args in [vec!["check", b, "--workload", "bank"], vec!["check", b]] {
        let out = faultline(&args, tmp.path());
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(text(&out).contains("bank"), "{}", text(&out));
    }
    let out = faultline(&["check", g, "--workload", "banks"], tmp.path());
    assert_eq!(out.status.code(), Some(254), "{}", text(&out));
    assert!(
        text(&out).contains("list-append, rw-register, bank"),
        "{}",
        text(&out)
    );
}

/// Process 1 appends 2 to x, then reads x without it (Elle's "Strong
/// Session SI violation"): serializable (the read can go first), but not in
/// the order process 1 ran its txns.
const STALE_OWN_WRITE_EDN: &str = r#"{:process 0, :index 0, :type :invoke, :f :txn, :value [[:append :x 1]]}
{:process 0, :index 1, :type :ok, :f :txn, :value [[:append :x 1]]}
{:process 1, :index 2, :type :invoke, :f :txn, :value [[:append :x 2]]}
{:process 1, :index 3, :type :ok, :f :txn, :value [[:append :x 2]]}
{:process 1, :index 4, :type :invoke, :f :txn, :value [[:r :x nil]]}
{:process 1, :index 5, :type :ok, :f :txn, :value [[:r :x [1]]]}
{:process 2, :index 6, :type :invoke, :f :txn, :value [[:r :x nil]]}
{:process 2, :index 7, :type :ok, :f :txn, :value [[:r :x [1 2]]]}
"#;

#[test]
fn a_stale_read_of_a_process_own_write_breaks_strong_session_serializable() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("history.edn");
    std::fs::write(&path, STALE_OWN_WRITE_EDN).unwrap();
    let p = path.to_str().unwrap();
    let check = |models: &str| {
        let out = faultline(
            &[
                "check",
                p,
                "--workload",
                "list-append",
                "--consistency-models",
                models,
                "--json",
            ],
            tmp.path(),
        );
        let results: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("{e}: {}", text(&out));
        });
        (out.status.code(), results["checks"][0]["details"].clone())
    };
    let (code, d) = check("serializable");
    assert_eq!(code, Some(0), "{d}");
    assert_eq!(d["anomaly_types"], json!([]));

    let (code, d) = check("strong-session-serializable");
    assert_eq!(code, Some(1), "{d}");
    assert_eq!(d["anomaly_types"], json!(["G-single-process"]));
    assert_eq!(d["not"], json!(["strong-session-snapshot-isolation"]));
    assert_eq!(
        d["also_not"],
        json!([
            "strong-session-serializable",
            "strong-snapshot-isolation",
            "strict-serializable"
        ])
    );
    assert!(
        d["explanation"].as_str().unwrap().contains("process"),
        "{d}"
    );

    let (code, _) = check("strong-session-snapshot-isolation");
    assert_eq!(code, Some(1));
    let (code, _) = check("snapshot-isolation,strong-session-read-committed");
    assert_eq!(code, Some(0));
}
