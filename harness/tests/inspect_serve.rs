//! `faultline serve` over real HTTP on loopback: the list, the run page, the
//! files, and what it refuses.

mod inspect_support;

use inspect_support::*;

#[test]
fn list_page_shows_runs_and_filters_by_verdict_and_target() {
    let tmp = tempfile::tempdir().unwrap();
    three_runs(tmp.path());
    let server = Server::start(tmp.path());
    let (status, head, body) = server.get("/");
    assert_eq!(status, 200, "{body}");
    assert!(head
        .to_ascii_lowercase()
        .contains("content-type: text/html"));
    assert_eq!(body.matches("<tr class=\"run\"").count(), 3, "{body}");
    for id in [
        "register-ok/20260101T100000",
        "register-bad/20260101T110000",
        "empty/20260101T120000",
    ] {
        assert!(body.contains(&format!("href=\"/runs/{id}\"")), "{id}");
    }
    // Newest first.
    assert!(body.find("empty/").unwrap() < body.find("register-bad/").unwrap());
    assert!(body.contains("<span class=\"verdict invalid\">invalid</span>"));

    let (_, _, body) = server.get("/?verdict=invalid");
    assert_eq!(body.matches("<tr class=\"run\"").count(), 1, "{body}");
    assert!(body.contains("register-bad/20260101T110000"));
    assert!(body.contains("1 of 3 runs"));
    let (_, _, body) = server.get("/?target=paxos-register");
    assert_eq!(body.matches("<tr class=\"run\"").count(), 1, "{body}");
    let (_, _, body) = server.get("/?verdict=valid&target=raft-kv");
    assert_eq!(body.matches("<tr class=\"run\"").count(), 2, "{body}");
    assert!(body.contains("<option selected>raft-kv</option>"));
    let (_, _, body) = server.get("/?verdict=unknown");
    assert!(body.contains("No runs match."));
}

#[test]
fn run_page_has_summary_checks_plots_timeline_counterexample_and_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let s = three_runs(tmp.path());
    let server = Server::start(tmp.path());
    let (status, _, body) = server.get("/runs/register-bad/20260101T110000");
    assert_eq!(status, 200, "{body}");
    for section in [
        "summary",
        "checks",
        "counterexample",
        "faults",
        "latency",
        "plots",
        "timeline",
        "logs",
        "files",
    ] {
        assert!(
            body.contains(&format!("<h2 id=\"{section}\">")),
            "{section}"
        );
    }
    assert!(body.contains("<th>target</th><td>paxos-register</td>"));
    assert!(
        body.contains(&format!("op {:>6}  process", s.bad_read)),
        "evidence names the op"
    );
    let files = "/files/register-bad/20260101T110000";
    for src in [
        "latency.svg",
        "rate.svg",
        "timeline.html",
        "linearizability.html",
    ] {
        assert!(body.contains(&format!("src=\"{files}/{src}\"")), "{src}");
    }
    assert!(body.contains(&format!("href=\"{files}/nodes/n3/stderr.log\"")));
    assert!(body.contains("<tr class=\"fault\"><td>partition</td>"));

    // Every file the page links to is served, with its type.
    for (path, kind) in [
        ("timeline.html", "text/html"),
        ("latency.svg", "image/svg+xml"),
        ("rate.svg", "image/svg+xml"),
        ("linearizability.html", "text/html"),
        ("history.jsonl", "text/plain"),
        ("results.json", "application/json"),
        ("nodes/n3/stderr.log", "text/plain"),
    ] {
        let (status, head, body) = server.get(&format!("{files}/{path}"));
        assert_eq!(status, 200, "{path}");
        assert!(
            head.to_ascii_lowercase()
                .contains(&format!("content-type: {kind}")),
            "{path}: {head}"
        );
        assert_eq!(body, read(s.invalid.join(path)), "{path}");
    }

    // `latest` goes to the newest run; the empty run's page still renders.
    let (status, head, _) = server.get("/runs/latest");
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("/runs/empty/20260101T120000"), "{head}");
    let (status, _, body) = server.get("/runs/empty/20260101T120000");
    assert_eq!(status, 200);
    assert!(body.contains("No faults were injected."));
    assert!(body.contains("No client operations."));
    assert!(!body.contains("id=\"counterexample\""));
}

#[test]
fn reports_missing_from_a_run_are_made_from_its_history() {
    let tmp = tempfile::tempdir().unwrap();
    let s = three_runs(tmp.path());
    for name in ["timeline.html", "latency.svg", "rate.svg"] {
        std::fs::remove_file(s.valid.join(name)).unwrap();
    }
    let server = Server::start(tmp.path());
    let (status, _, page) = server.get("/files/register-ok/20260101T100000/timeline.html");
    assert_eq!(status, 200);
    assert_eq!(timeline_data(&page)["faults"].as_array().unwrap().len(), 2);
    let (status, _, svg) = server.get("/files/register-ok/20260101T100000/latency.svg");
    assert_eq!(status, 200);
    assert!(svg.contains("partition (fault)"));
    // Served, not stored: the store is only read.
    assert!(!s.valid.join("timeline.html").exists());
    // Other missing files are still missing.
    let (status, _, _) = server.get("/files/register-ok/20260101T100000/nothing.svg");
    assert_eq!(status, 404);
}

#[test]
fn files_outside_the_store_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let s = three_runs(&store);
    std::fs::write(tmp.path().join("secret.txt"), "SECRET").unwrap();
    std::os::unix::fs::symlink(tmp.path().join("secret.txt"), s.valid.join("escape.txt")).unwrap();
    let server = Server::start(&store);
    for path in [
        "/files/../secret.txt",
        "/files/register-ok/../../secret.txt",
        "/files/%2e%2e/secret.txt",
        "/files/register-ok/%2E%2E/%2E%2E/secret.txt",
        "/files/..%2fsecret.txt",
        "/files/%2Fetc%2Fpasswd",
        "/files/register-ok/20260101T100000/escape.txt",
        "/runs/..%2F..%2Fetc/passwd",
        "/runs/register-ok/..%2F..%2F..",
    ] {
        let (status, _, body) = server.get(path);
        assert!(status == 403 || status == 404, "{path}: {status}");
        assert!(
            !body.contains("SECRET") && !body.contains("root:"),
            "{path}"
        );
    }
    let (status, _, _) = server.get("/files/register-ok/20260101T100000/escape.txt");
    assert_eq!(status, 403);
}

#[test]
fn missing_runs_and_pages_get_a_404_page() {
    let tmp = tempfile::tempdir().unwrap();
    three_runs(tmp.path());
    let server = Server::start(tmp.path());
    for path in [
        "/runs/nope/20260101T000000",
        "/runs/register-ok/20991231T000000",
        "/nothing/here",
        "/files/nope.txt",
    ] {
        let (status, head, body) = server.get(path);
        assert_eq!(status, 404, "{path}");
        assert!(head.to_ascii_lowercase().contains("text/html"), "{path}");
        assert!(body.contains("<h1>Not found</h1>"), "{path}: {body}");
    }
    // Still serving after all that.
    assert_eq!(server.get("/").0, 200);

    // An empty store: a list with no runs, and `latest` is a 404.
    let empty = tempfile::tempdir().unwrap();
    let server = Server::start(&empty.path().join("not-yet"));
    let (status, _, body) = server.get("/");
    assert_eq!(status, 200);
    assert!(body.contains("0 of 0 runs"));
    assert_eq!(server.get("/runs/latest").0, 404);
}
