//! Reading the results store: `results/<test-name>/<YYYYMMDDTHHMMSS>/` run
//! directories (see docs/architecture.md), and `results/latest`.
//! Writing runs is the controller's ([`writer`]); the rest of this module only reads.

pub mod node_data;
mod summary;
pub mod writer;

pub use summary::{Counts, RunInfo};

use crate::exit::bad_input;
use std::io;
use std::path::{Path, PathBuf};

/// The name of the symlink to the newest run.
pub const LATEST: &str = "latest";

/// One run directory in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRef {
    pub test: String,
    /// `YYYYMMDDTHHMMSS`, possibly with a suffix that keeps it unique.
    pub stamp: String,
    pub dir: PathBuf,
}

impl RunRef {
    /// `test-name/timestamp`: how the run is named on the command line and in URLs.
    pub fn id(&self) -> String {
        format!("{}/{}", self.test, self.stamp)
    }
}

/// Whether a directory name is a run's timestamp: `YYYYMMDDTHHMMSS` and
/// maybe a suffix.
pub fn is_stamp(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 15
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
}

/// `20261122T213430` as `2026-11-22 21:34:30`.
pub fn stamp_display(stamp: &str) -> String {
    if !is_stamp(stamp) {
        return stamp.to_string();
    }
    let s = stamp;
    format!(
        "{}-{}-{} {}:{}:{}{}",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15],
        &s[15..]
    )
}

/// Whether a name can be one path component of a run id (no `..`, no `/`).
fn plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// Every run in the store, newest first. A store that does not exist yet
/// has no runs.
pub fn list(store: &Path) -> io::Result<Vec<RunRef>> {
    let mut runs = Vec::new();
    let tests = match std::fs::read_dir(store) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(runs),
        Err(e) => return Err(e),
    };
    for test in tests {
        let test = test?;
        let name = test.file_name().to_string_lossy().into_owned();
        // `latest` is a link to a run, not a test.
        if name == LATEST || !test.file_type()?.is_dir() {
            continue;
        }
        for run in std::fs::read_dir(test.path())? {
            let run = run?;
            let stamp = run.file_name().to_string_lossy().into_owned();
            if is_stamp(&stamp) && run.file_type()?.is_dir() {
                runs.push(RunRef {
                    test: name.clone(),
                    stamp,
                    dir: run.path(),
                });
            }
        }
    }
    runs.sort_by(|a, b| b.stamp.cmp(&a.stamp).then_with(|| a.test.cmp(&b.test)));
    Ok(runs)
}

/// Finds a run by id: `test-name/timestamp`, `latest`, a test name (its
/// newest run), or a path to a run directory.
pub fn resolve(store: &Path, which: &str) -> anyhow::Result<RunRef> {
    if which == LATEST {
        let link = store.join(LATEST);
        if let Ok(target) = std::fs::read_link(&link) {
            let dir = if target.is_absolute() {
                target
            } else {
                store.join(target)
            };
            if let Some(run) = from_dir(&dir) {
                return Ok(run);
            }
        }
        return list(store)?
            .into_iter()
            .next()
            .ok_or_else(|| bad_input(format!("no runs in the store {}", store.display())));
    }
    if let Some((test, stamp)) = which.trim_end_matches('/').split_once('/') {
        if plain_name(test) && plain_name(stamp) {
            let dir = store.join(test).join(stamp);
            if dir.is_dir() {
                return Ok(RunRef {
                    test: test.into(),
                    stamp: stamp.into(),
                    dir,
                });
            }
        }
    } else if plain_name(which) && store.join(which).is_dir() {
        let newest = list(store)?.into_iter().find(|r| r.test == which);
        return newest
            .ok_or_else(|| bad_input(format!("test {which} has no runs in {}", store.display())));
    }
    let path = Path::new(which);
    if path.join("history.jsonl").is_file() || path.join("test.json").is_file() {
        return from_dir(path)
            .ok_or_else(|| bad_input(format!("{which}: cannot read this run directory")));
    }
    Err(bad_input(format!(
        "no run {which:?} in {} (give test-name/timestamp, a test name, `latest`, or a run directory)",
        store.display()
    )))
}

/// A run from its directory: its last two components are test and stamp.
fn from_dir(dir: &Path) -> Option<RunRef> {
    let dir = dir.canonicalize().ok()?;
    let stamp = dir.file_name()?.to_string_lossy().into_owned();
    let test = dir.parent()?.file_name()?.to_string_lossy().into_owned();
    Some(RunRef { test, stamp, dir })
}

/// Every file under a run directory, as (path relative to it, size in
/// bytes), sorted by path.
pub fn files(dir: &Path) -> io::Result<Vec<(String, u64)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                let rel = entry.path();
                let rel = rel.strip_prefix(dir).unwrap_or(&rel);
                out.push((
                    rel.to_string_lossy().replace('\\', "/"),
                    entry.metadata()?.len(),
                ));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Bytes as `1.2 MB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mkrun(store: &Path, test: &str, stamp: &str) -> PathBuf {
        let d = store.join(test).join(stamp);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("history.jsonl"), "").unwrap();
        d
    }

    #[test]
    fn stamps() {
        assert!(is_stamp("20261122T213430"));
        assert!(is_stamp("20261122T213430-2"));
        assert!(!is_stamp("2026-11-22"));
        assert!(!is_stamp("latest"));
        assert_eq!(stamp_display("20261122T213430"), "2026-11-22 21:34:30");
    }

    #[test]
    fn lists_newest_first_and_skips_latest_and_strays() {
        let tmp = tempfile::tempdir().unwrap();
        let s = tmp.path();
        mkrun(s, "a", "20260101T000000");
        mkrun(s, "b", "20260102T000000");
        mkrun(s, "a", "20260103T000000");
        std::fs::create_dir_all(s.join("a/not-a-run")).unwrap();
        std::fs::write(s.join("README"), "x").unwrap();
        std::os::unix::fs::symlink("a/20260103T000000", s.join(LATEST)).unwrap();
        let ids: Vec<_> = list(s).unwrap().iter().map(RunRef::id).collect();
        assert_eq!(
            ids,
            [
                "a/20260103T000000",
                "b/20260102T000000",
                "a/20260101T000000"
            ]
        );
        assert!(list(&s.join("missing")).unwrap().is_empty());
    }

    #[test]
    fn resolves_ids_latest_test_names_and_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let s = tmp.path();
        mkrun(s, "a", "20260101T000000");
        let b = mkrun(s, "b", "20260102T000000");
        mkrun(s, "a", "20260103T000000");
        // No latest link: the newest run.
        assert_eq!(resolve(s, "latest").unwrap().id(), "a/20260103T000000");
        std::os::unix::fs::symlink("b/20260102T000000", s.join(LATEST)).unwrap();
        assert_eq!(resolve(s, "latest").unwrap().id(), "b/20260102T000000");
        assert_eq!(resolve(s, "a").unwrap().id(), "a/20260103T000000");
        assert_eq!(
            resolve(s, "a/20260101T000000").unwrap().id(),
            "a/20260101T000000"
        );
        assert_eq!(
            resolve(s, b.to_str().unwrap()).unwrap().id(),
            "b/20260102T000000"
        );
        let err = resolve(s, "a/../../etc").unwrap_err().to_string();
        assert!(err.contains("no run"), "{err}");
        assert!(resolve(s, "nope").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1_234_567), "1.2 MB");
    }
}
