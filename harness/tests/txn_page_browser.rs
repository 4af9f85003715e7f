//! The transaction anomalies page in a real browser: a list-append history
//! with G1c, G-single and G2-item cycles, checked by the real binary
//! (`faultline check`, which writes `txn-anomalies.html` into the run), then
//! opened in headless Chromium straight from the run directory and through
//! `faultline serve`, whose run page and timeline link to it.

#[path = "support/browser.rs"]
mod browser;
mod inspect_support;

use browser::{chromium, output_dir, Browser};
use inspect_support::Server;
use serde_json::{json, Value};
use std::process::Command;

/// (process, type, micro-ops) rows: three pairs of concurrent txns, each
/// pair a cycle, then a final read that orders the appends.
fn history() -> String {
    let pairs = [
        // G1c: each read the other's append.
        (
            json!([["append", "x", 1], ["r", "y", [1]]]),
            json!([["append", "y", 1], ["r", "x", [1]]]),
        ),
        // G-single: T read a before U appended to it, and read U's append to b.
        (
            json!([["r", "a", null], ["r", "b", [1]]]),
            json!([["append", "a", 1], ["append", "b", 1]]),
        ),
        // G2-item (write skew): each read what the other then appended to.
        (
            json!([["r", "c", null], ["append", "d", 1]]),
            json!([["r", "d", null], ["append", "c", 1]]),
        ),
    ];
    let invoked = |v: &Value| -> Value {
        let mops: Vec<Value> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|m| match m[0].as_str() {
                Some("r") => json!(["r", m[1], null]),
                _ => m.clone(),
            })
            .collect();
        Value::Array(mops)
    };
    let mut rows: Vec<(u64, &str, Value)> = Vec::new();
    for (t, u) in &pairs {
        rows.push((0, "invoke", invoked(t)));
        rows.push((1, "invoke", invoked(u)));
        rows.push((0, "ok", t.clone()));
        rows.push((1, "ok", u.clone()));
    }
    let keys = ["x", "y", "a", "b", "c", "d"];
    let read: Vec<Value> = keys.iter().map(|k| json!(["r", k, null])).collect();
    let seen: Vec<Value> = keys.iter().map(|k| json!(["r", k, [1]])).collect();
    rows.push((2, "invoke", Value::Array(read)));
    rows.push((2, "ok", Value::Array(seen)));
    rows.iter()
        .enumerate()
        .map(|(i, (p, kind, value))| {
            json!({"index": i, "time": i as u64 * 1_000_000, "type": kind, "process": p,
                   "f": "txn", "value": value})
            .to_string()
                + "\n"
        })
        .collect()
}

#[test]
fn the_cycles_page_draws_each_cycle_and_is_linked_from_the_run() {
    let Some(bin) = chromium() else {
        return;
    };
    let store = tempfile::tempdir().unwrap();
    let dir = store.path().join("txn-bad").join("20260101T100000");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("history.jsonl"), history()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("check")
        .arg(&dir)
        .args(["--workload", "list-append"])
        .output()
        .unwrap();
    let words = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(1), "{words}");
    for kind in ["G1c", "G-single", "G2-item"] {
        assert!(words.contains(kind), "{kind} in {words}");
    }
    let page = dir.join("txn-anomalies.html");
    assert!(page.is_file(), "no page in {}", dir.display());

    let browser = Browser::new(bin);
    let dom = browser.dump_dom(&format!("file://{}", page.display()));
    for kind in ["G1c", "G-single", "G2-item"] {
        assert!(
            dom.contains(&format!("<h2 id=\"{kind}\">")),
            "{kind}: {dom}"
        );
    }
    // Each pair's cycle: two txn nodes and two labelled arrows.
    let cycles = dom.matches("<svg class=\"cycle\"").count();
    assert!(cycles >= 3, "{cycles} cycles drawn");
    assert!(dom.matches("<g class=\"txn\">").count() >= 2 * cycles);
    for edge in ["wr", "rw"] {
        assert!(
            dom.contains(&format!("<g class=\"edge\" data-type=\"{edge}\">")),
            "{edge}"
        );
    }
    // Explained one edge a line, with each txn's ops listed.
    assert!(
        dom.contains("T0 appended 1 to x; T1 read x = [1], so T0 -&gt; T1 (wr)"),
        "{dom}"
    );
    assert!(dom.contains("<code>append y 1, r x [1]</code>"), "{dom}");
    // The browser laid the drawing out: nodes sit inside their svg.
    browser.screenshot(
        &format!("file://{}", page.display()),
        &output_dir("txn-page-browser").join("txn-anomalies.png"),
        "1200,1600",
    );

    let server = Server::start(store.path());
    let run = browser.dump_dom(&server.url("/runs/txn-bad/20260101T100000"));
    assert!(run.contains("<h2 id=\"txn-anomalies\">"), "{run}");
    assert!(run.contains("/files/txn-bad/20260101T100000/txn-anomalies.html"));
    let timeline = browser.dump_dom(&server.url("/files/txn-bad/20260101T100000/timeline.html"));
    assert!(
        timeline.contains("id=\"txn-anomalies-link\" href=\"txn-anomalies.html\""),
        "{timeline}"
    );
    let show = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("--store")
        .arg(store.path())
        .args(["show", "txn-bad/20260101T100000"])
        .output()
        .unwrap();
    let show = String::from_utf8_lossy(&show.stdout);
    assert!(show.contains("cycles drawn: "), "{show}");
    assert!(show.contains("txn-anomalies.html"), "{show}");
}
