//! Headless Chromium for the web tests: dump a page's DOM after its scripts
//! ran, or take a screenshot, each with a time limit.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Chromium, or None when it is not installed: then in CI the test fails,
/// elsewhere it is skipped with a message saying what to install.
pub fn chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FAULTLINE_CHROMIUM") {
        return Some(p.into());
    }
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() {
        let what =
            "chromium is not installed: install the Debian package `chromium` (scripts/setup does)";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{what}");
        }
        eprintln!("skipping: {what}");
    }
    found
}

/// Where a test leaves screenshots and timings: target/test-output/<name>.
pub fn output_dir(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test binary>
    let target = exe.ancestors().nth(3).unwrap().to_path_buf();
    let dir = target.join("test-output").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub struct Browser {
    bin: PathBuf,
    profile: tempfile::TempDir,
}

impl Browser {
    /// Chromium at `bin`, with a fresh profile of its own.
    pub fn new(bin: PathBuf) -> Browser {
        Browser {
            bin,
            profile: tempfile::tempdir().unwrap(),
        }
    }

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
    pub fn run(&self, extra: &[&str], url: &str) -> String {
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

    pub fn dump_dom(&self, url: &str) -> String {
        self.run(&["--dump-dom"], url)
    }

    pub fn screenshot(&self, url: &str, file: &Path, size: &str) {
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
