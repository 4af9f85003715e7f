//! The runs of `faultline test` going on on this machine: one record per run
//! (its id, its controller, its cluster kind and run directory) in a state
//! directory, written when the run starts and removed when it ends cleanly.
//! A record whose controller is gone marks a run that died: `faultline heal`
//! finds what it left through it.

use super::owner::Owner;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One run, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Tags the run's iptables rules and names its namespaces (`fln-<id>-*`).
    pub run_id: String,
    /// The controller.
    pub owner: Owner,
    /// `local`, `netns` or `ssh`.
    pub cluster: String,
    pub run_dir: PathBuf,
}

/// Where records live: `$FAULTLINE_STATE_DIR` if set, else
/// `/run/faultline/runs` for root, else under `$XDG_RUNTIME_DIR` (or the temp
/// directory) per user.
pub fn state_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FAULTLINE_STATE_DIR") {
        return PathBuf::from(dir);
    }
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    if uid == 0 {
        return PathBuf::from("/run/faultline/runs");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) => PathBuf::from(dir).join("faultline/runs"),
        None => std::env::temp_dir().join(format!("faultline-{uid}/runs")),
    }
}

/// A fresh run id: 6 characters of `[0-9a-f]`, short enough for interface
/// names (`fln-<id>-br`).
pub fn new_run_id() -> String {
    use rand::Rng;
    format!("{:06x}", rand::thread_rng().gen_range(0..0x100_0000u32))
}

/// Removes the run's record when the run ends (not when the process is
/// killed: then the record stays for `faultline heal`).
pub struct Registration {
    path: PathBuf,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Record a starting run, owned by this process, and print its id.
pub fn register_run(run_id: &str, cluster: &str, run_dir: &Path) -> anyhow::Result<Registration> {
    let record = RunRecord {
        run_id: run_id.to_string(),
        owner: Owner::current(),
        cluster: cluster.to_string(),
        run_dir: std::path::absolute(run_dir)?,
    };
    let dir = state_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join(format!("{run_id}.json"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| format!("recording run {run_id} in {}", path.display()))?;
    file.write_all(serde_json::to_string_pretty(&record)?.as_bytes())?;
    println!(
        "run id {run_id} (controller PID {}; `faultline heal --cluster {cluster} --run-id {run_id}` if it dies)",
        record.owner.pid
    );
    Ok(Registration { path })
}

/// Every recorded run on this machine (this user's, or all for root).
pub fn runs() -> Vec<RunRecord> {
    let Ok(entries) = std::fs::read_dir(state_dir()) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .filter_map(|text| serde_json::from_str(&text).ok())
        .collect()
}

/// The record of run `run_id`, if there is one.
pub fn find(run_id: &str) -> Option<RunRecord> {
    runs().into_iter().find(|r| r.run_id == run_id)
}

/// Drop the record of a run that `heal` cleaned up.
pub fn forget(run_id: &str) {
    let _ = std::fs::remove_file(state_dir().join(format!("{run_id}.json")));
}
