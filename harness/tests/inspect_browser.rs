//! The web UI in a real browser: headless Chromium loads the run list, a run
//! page and timelines from `faultline serve`, the test checks the elements
//! are there, saves screenshots, and records how long the timeline of a
//! 100k-op run takes to open (no assertion on the time: a number for the
//! record, in target/test-output/inspect-browser/timings.txt).

#[path = "support/browser.rs"]
mod browser;
mod inspect_support;

use browser::{chromium, output_dir, Browser};
use inspect_support::*;
use std::time::Instant;

/// A data attribute of the <html> element in a dumped DOM.
fn html_attr(dom: &str, name: &str) -> Option<f64> {
    let start = dom.find("<html")?;
    let tag = &dom[start..start + dom[start..].find('>')?];
    let at = tag.find(&format!("{name}=\""))? + name.len() + 2;
    tag[at..at + tag[at..].find('"')?].parse().ok()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
fn list_run_page_and_timelines_in_headless_chromium() {
    let Some(bin) = chromium() else {
        return;
    };
    let out = output_dir("inspect-browser");
    let tmp = tempfile::tempdir().unwrap();
    let s = three_runs(tmp.path());
    let (big, _) = register_history(&Gen {
        ops: 100_000,
        concurrency: 20,
        seed: 100,
        ..Gen::default()
    });
    let started = Instant::now();
    let big_dir = write_run(
        tmp.path(),
        "register-100k",
        "20260101T130000",
        &spec("register-100k", 100_000),
        &big,
    );
    let write_s = started.elapsed().as_secs_f64();
    let server = Server::start(tmp.path());
    let browser = Browser::new(bin);

    let list = browser.dump_dom(&server.url("/"));
    assert!(list.contains("<table id=\"runs\">"), "{list}");
    assert_eq!(list.matches("<tr class=\"run\"").count(), 4);
    assert!(list.contains("<select name=\"verdict\""));
    assert!(list.contains("<span class=\"verdict invalid\">invalid</span>"));
    browser.screenshot(&server.url("/"), &out.join("list.png"), "1280,700");

    let page = server.url("/runs/register-bad/20260101T110000");
    let run = browser.dump_dom(&page);
    for id in [
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
        assert!(run.contains(&format!("<h2 id=\"{id}\">")), "{id}");
    }
    assert!(run.contains("id=\"latency-plot\""));
    assert!(run.contains("<iframe class=\"timeline\""));
    browser.screenshot(&page, &out.join("run.png"), "1280,3000");

    // The timeline's script ran and drew: it marks the <html> element.
    let timeline = server.url("/files/register-bad/20260101T110000/timeline.html");
    let dom = browser.dump_dom(&timeline);
    assert!(
        html_attr(&dom, "data-draw-ms").is_some(),
        "timeline not drawn"
    );
    assert_eq!(html_attr(&dom, "data-ops"), Some(300.0));
    assert!(dom.contains("failing ops") || dom.contains("Failing ops"));
    assert!(
        !dom.contains("id=\"goto-failure\" hidden"),
        "the go-to-failure button shows"
    );
    browser.screenshot(&timeline, &out.join("timeline.png"), "1280,800");

    // The 100k-op timeline: time to the first frame, from navigation start
    // (fetch, parse, draw), over several loads.
    let url = server.url("/files/register-100k/20260101T130000/timeline.html");
    let (mut first_frame, mut draw, mut wall) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        let began = Instant::now();
        let dom = browser.dump_dom(&url);
        wall.push(began.elapsed().as_secs_f64() * 1e3);
        assert_eq!(html_attr(&dom, "data-ops"), Some(100_000.0));
        first_frame.push(html_attr(&dom, "data-drawn-at").unwrap());
        draw.push(html_attr(&dom, "data-draw-ms").unwrap());
    }
    browser.screenshot(&url, &out.join("timeline-100k.png"), "1280,800");
    let size = std::fs::metadata(big_dir.join("timeline.html"))
        .unwrap()
        .len();
    let report = format!(
        "100k-op timeline ({:.1} MB): first frame {:.0} ms after navigation start (median of 5; all {:?}); \
         draw of one frame {:.0} ms; whole chromium --dump-dom run {:.0} ms; \
         writing the run (check + reports) {:.1} s\n",
        size as f64 / 1e6,
        median(first_frame.clone()),
        first_frame.iter().map(|v| v.round()).collect::<Vec<_>>(),
        median(draw),
        median(wall),
        write_s,
    );
    eprint!("{report}");
    std::fs::write(out.join("timings.txt"), &report).unwrap();
    let _ = s;
}
