//! The web UI in a real browser: headless Chromium loads the run list, a run
//! page and timelines from `faultline serve`, the test checks the elements
//! are there, saves screenshots, and records how long the timeline of a
//! 100k-op run takes to open (no assertion on the time: a number for the
//! record, in target/test-output/inspect-browser/timings.txt).

mod inspect_support;

use inspect_support::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Chromium, or None when it is not installed.
fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FAULTLINE_CHROMIUM") {
        return Some(p.into());
    }
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Where this test leaves screenshots and timings: target/test-output/.
fn output_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test binary>
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    let dir = target.join("test-output").join("inspect-browser");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Browser {
    bin: PathBuf,
    profile: tempfile::TempDir,
}

impl Browser {
    fn command(&self, extra: &[&str], url: &str) -> Command {
        let mut c = Command::new(&self.bin);
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-quic",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", self.profile.path().display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stderr(Stdio::null());
        c
    }

    /// Runs Chromium with a time limit; returns its stdout.
    fn run(&self, extra: &[&str], url: &str) -> String {
        let mut child = self
            .command(extra, url)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut stdout, &mut s).map(|_| s)
        });
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            if Instant::now() > deadline {
                // Our own child, by pid.
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish with {url} in 90 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        reader.join().unwrap().unwrap()
    }

    fn dump_dom(&self, url: &str) -> String {
        self.run(&["--dump-dom"], url)
    }

    fn screenshot(&self, url: &str, file: &Path, size: &str) {
        let _ = std::fs::remove_file(file);
        self.run(
            &[
                &format!("--screenshot={}", file.display()),
                &format!("--window-size={size}"),
            ],
            url,
        );
        let len = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
        assert!(len > 1000, "no screenshot at {}", file.display());
    }
}

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
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!(
                "chromium is not installed: install the Debian package `chromium` (scripts/setup)"
            );
        }
        eprintln!("skipping: chromium is not installed; install the Debian package `chromium` (scripts/setup does)");
        return;
    };
    let out = output_dir();
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
    let browser = Browser {
        bin,
        profile: tempfile::tempdir().unwrap(),
    };

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
