//! `faultline ls` and `faultline show` on a store of generated runs.

mod inspect_support;

use inspect_support::*;
use std::process::Command;

fn faultline(store: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn ls_lists_runs_newest_first_with_verdicts() {
    let tmp = tempfile::tempdir().unwrap();
    three_runs(tmp.path());
    let (code, out, err) = faultline(tmp.path(), &["ls"]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    for col in [
        "time", "test", "target", "workload", "nemesis", "duration", "ops", "verdict",
    ] {
        assert!(lines[0].contains(col), "{out}");
    }
    assert!(lines[1].starts_with("2026-01-01 12:00:00  empty"), "{out}");
    assert!(lines[1].trim_end().ends_with("valid"), "{out}");
    assert!(
        lines[2].contains("register-bad") && lines[2].contains("paxos-register"),
        "{out}"
    );
    assert!(lines[2].contains("partition,kill"), "{out}");
    assert!(lines[2].trim_end().ends_with("invalid"), "{out}");
    assert!(
        lines[3].contains("register-ok") && lines[3].contains(" 300 "),
        "{out}"
    );

    let (_, out, _) = faultline(tmp.path(), &["ls", "register-ok"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    let (_, out, _) = faultline(&tmp.path().join("nothing"), &["ls"]);
    assert!(out.contains("no runs in"), "{out}");
}

#[test]
fn show_tells_the_verdict_evidence_faults_latencies_and_files() {
    let tmp = tempfile::tempdir().unwrap();
    let s = three_runs(tmp.path());
    let (code, out, err) = faultline(tmp.path(), &["show", "register-bad/20260101T110000"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("verdict  invalid"), "{out}");
    assert!(out.contains("\"target\": \"paxos-register\""), "{out}");
    assert!(out.contains("linearizable: invalid"), "{out}");
    // The evidence names the read that cannot be placed.
    let named = format!("op {:>6}  process", s.bad_read);
    assert!(
        out.lines()
            .any(|l| l.contains(&named) && l.contains("read null -> 99")),
        "{out}"
    );
    assert!(out.contains("== faults applied"), "{out}");
    assert!(out.contains("partition "), "{out}");
    assert!(out.contains("[\"n2\"]"), "the killed node is shown: {out}");
    assert!(out.contains("p50") && out.contains("p99"), "{out}");
    let read_row = out
        .lines()
        .find(|l| l.starts_with("read "))
        .expect("a latency row for read");
    assert!(read_row.contains("ms"), "{read_row}");
    for file in [
        "history.jsonl",
        "results.json",
        "timeline.html",
        "latency.svg",
        "rate.svg",
        "linearizability.html",
        "nodes/n1/stderr.log",
    ] {
        assert!(out.contains(file), "{file} listed: {out}");
    }

    // `latest` (the link), a test name, and a path name runs too.
    let (_, latest, _) = faultline(tmp.path(), &["show", "latest"]);
    assert!(
        latest.starts_with("run      empty/20260101T120000"),
        "{latest}"
    );
    assert!(latest.contains("no client operations"), "{latest}");
    assert!(latest.contains("== faults applied\nnone"), "{latest}");
    let (_, by_name, _) = faultline(tmp.path(), &["show", "register-ok"]);
    assert!(by_name.contains("linearizable: valid"), "{by_name}");
    let (_, by_path, _) = faultline(tmp.path(), &["show", s.valid.to_str().unwrap()]);
    assert!(
        by_path.starts_with("run      register-ok/20260101T100000"),
        "{by_path}"
    );

    let (code, _, err) = faultline(tmp.path(), &["show", "no-such-test/20260101T000000"]);
    assert_eq!(code, 254, "{err}");
    assert!(
        err.contains("no run \"no-such-test/20260101T000000\""),
        "{err}"
    );
}

#[test]
fn check_remakes_the_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let s = three_runs(tmp.path());
    for name in ["timeline.html", "latency.svg", "rate.svg"] {
        std::fs::remove_file(s.invalid.join(name)).unwrap();
    }
    let (code, _, err) = faultline(tmp.path(), &["check", s.invalid.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    for name in [
        "timeline.html",
        "latency.svg",
        "rate.svg",
        "linearizability.html",
    ] {
        assert!(s.invalid.join(name).is_file(), "{name}");
    }
    let page = read(s.invalid.join("timeline.html"));
    assert!(page.contains(&format!("<li class=\"failing-op\">op {} ", s.bad_read)));
}
