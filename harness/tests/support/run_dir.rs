//! Finding what a `faultline test` run stored.

use std::path::{Path, PathBuf};

/// The single run directory of test `name` under `store`.
pub fn only_run(store: &Path, name: &str) -> PathBuf {
    let test_dir = store.join(name);
    let mut runs: Vec<PathBuf> = std::fs::read_dir(&test_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", test_dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.pop().unwrap()
}
