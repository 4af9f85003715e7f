//! The reports of a valid, an invalid and an empty run: what they say.

mod inspect_support;

use faultline_checkers::{jsonl, Verdict};
use inspect_support::*;
use serde_json::Value;

fn results(dir: &std::path::Path) -> faultline_checkers::Results {
    serde_json::from_str(&read(dir.join("results.json"))).unwrap()
}

#[test]
fn generated_histories_get_the_verdicts_they_were_made_for() {
    let tmp = tempfile::tempdir().unwrap();
    let s = three_runs(tmp.path());
    assert_eq!(results(&s.valid).verdict, Verdict::Valid);
    assert_eq!(results(&s.invalid).verdict, Verdict::Invalid);
    assert_eq!(results(&s.empty).verdict, Verdict::Valid);
    // The checker blames the read of a value never written.
    let r = results(&s.invalid);
    assert_eq!(r.checks[0].blamed, vec![s.bad_read]);
    let cx = r.checks[0].details.linearizability().unwrap();
    assert_eq!(
        cx.counterexample.as_ref().unwrap().failed_op.index,
        s.bad_read
    );
    assert_eq!(r.checks[0].first_anomaly.as_ref().unwrap().op, s.bad_read);
}

#[test]
fn timeline_has_every_op_the_faults_and_names_the_failing_op() {
    let tmp = tempfile::tempdir().unwrap();
    let s = three_runs(tmp.path());

    for dir in [&s.valid, &s.invalid] {
        let page = read(dir.join("timeline.html"));
        let history = jsonl::read_file(&dir.join("history.jsonl"))
            .unwrap()
            .history;
        let invokes = history
            .client_ops()
            .filter(|o| o.kind == faultline_checkers::OpType::Invoke)
            .count();
        let data = timeline_data(&page);
        for column in ["lane", "start", "dur", "out", "f", "idx", "proc", "desc"] {
            assert_eq!(data[column].as_array().unwrap().len(), invokes, "{column}");
        }
        // Retired processes share their worker's lane: 5 workers, 5 lanes.
        assert_eq!(data["lanes"].as_array().unwrap().len(), 5);
        let procs: std::collections::HashSet<_> = data["proc"].as_array().unwrap().iter().collect();
        assert!(procs.len() > 5, "some processes retired after info ops");
        let kinds: Vec<_> = data["faults"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["kind"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(kinds, ["partition", "kill"]);
        for f in data["faults"].as_array().unwrap() {
            assert!(f["end"].as_u64().unwrap() > f["start"].as_u64().unwrap());
        }
        // The tooltip and the table say what a fault's value means.
        let words = |i: usize| data["faults"][i]["words"].as_str().unwrap().to_string();
        assert!(
            words(0).contains("drops what the nodes in its list send"),
            "{}",
            words(0)
        );
        assert!(words(1).contains("killed"), "{}", words(1));
        assert!(
            page.contains(&format!("<td>{}</td></tr>", words(1))),
            "kill row in words"
        );
        assert!(page.contains("<h2>Fault periods</h2>"));
        assert_eq!(
            page.matches("<tr class=\"fault\"><td>partition</td>")
                .count(),
            1
        );
        assert_eq!(page.matches("<tr class=\"fault\"><td>kill</td>").count(), 1);
        assert!(page.contains("<canvas id=\"timeline\">"));
    }

    let valid = read(s.valid.join("timeline.html"));
    assert!(!valid.contains("<li class=\"failing-op\""));
    assert!(valid.contains("verdict valid"));

    let invalid = read(s.invalid.join("timeline.html"));
    let data = timeline_data(&invalid);
    assert_eq!(data["blamed"], Value::from(vec![s.bad_read]));
    let named = format!("<li class=\"failing-op\">op {} · process ", s.bad_read);
    assert!(invalid.contains(&named), "failing op not named");
    assert!(
        invalid.contains("read → 99"),
        "the bad read's result is shown"
    );
    assert!(invalid.contains("verdict invalid"));

    let empty = read(s.empty.join("timeline.html"));
    assert!(empty.contains("This history has no client operations."));
    assert!(empty.contains("No faults were injected."));
    let data = timeline_data(&empty);
    assert_eq!(data["start"].as_array().unwrap().len(), 0);
}

#[test]
fn plots_show_ops_by_function_and_outcome_with_faults_shaded() {
    let tmp = tempfile::tempdir().unwrap();
    let s = three_runs(tmp.path());
    for dir in [&s.valid, &s.invalid] {
        for (name, title) in [
            ("latency.svg", "Latency of each op"),
            ("rate.svg", "Throughput"),
        ] {
            let svg = read(dir.join(name));
            assert!(svg.starts_with("<svg"), "{name}");
            assert!(svg.trim_end().ends_with("</svg>"), "{name}");
            assert!(svg.contains(title), "{name}");
            // One legend entry per fault kind; the shading uses its colour.
            assert!(svg.contains("partition (fault)"), "{name}");
            assert!(svg.contains("kill (fault)"), "{name}");
            assert!(
                svg.contains("fill=\"#3B6FD8\""),
                "{name}: partition shading"
            );
            for series in ["read ok", "write ok", "cas fail"] {
                assert!(svg.contains(series), "{name}: {series}");
            }
        }
        let latency = read(dir.join("latency.svg"));
        assert!(
            latency.contains("read info")
                || latency.contains("write info")
                || latency.contains("cas info")
        );
        assert!(latency.matches("<circle").count() > 50);
    }
    for name in ["latency.svg", "rate.svg"] {
        let svg = read(s.empty.join(name));
        assert!(
            svg.contains("no client operations in this history"),
            "{name}"
        );
    }
}

#[test]
fn counterexample_page_only_for_the_invalid_run() {
    let tmp = tempfile::tempdir().unwrap();
    let s = three_runs(tmp.path());
    assert!(s.invalid.join("linearizability.html").is_file());
    assert!(!s.valid.join("linearizability.html").exists());
    assert!(!s.empty.join("linearizability.html").exists());
}

#[test]
fn a_100k_op_timeline_stays_compact() {
    let (h, _) = register_history(&Gen {
        ops: 100_000,
        concurrency: 20,
        ..Gen::default()
    });
    let results = faultline_checkers::Results::new(vec![]);
    let tmp = tempfile::tempdir().unwrap();
    faultline::report::write_all(tmp.path(), &h, &results).unwrap();
    let page = std::fs::metadata(tmp.path().join("timeline.html"))
        .unwrap()
        .len();
    let latency = std::fs::metadata(tmp.path().join("latency.svg"))
        .unwrap()
        .len();
    // About 60 bytes an op; a scatter of one point a 3x3 cell a series.
    assert!(page < 100 * 100_000, "timeline.html is {page} bytes");
    assert!(latency < 10_000_000, "latency.svg is {latency} bytes");
    let markers = read(tmp.path().join("latency.svg"))
        .matches("<circle")
        .count();
    assert!(
        markers < 60_000,
        "{markers} markers for 100k ops: points in one cell are drawn once"
    );
    let data = timeline_data(&read(tmp.path().join("timeline.html")));
    assert_eq!(data["start"].as_array().unwrap().len(), 100_000);
}
