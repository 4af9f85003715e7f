//! Reports written into a run directory at the end of a run (and re-made by
//! `faultline check`): `timeline.html`, `latency.svg`, `rate.svg`,
//! `linearizability.html` (the counterexample) when that check is invalid,
//! `txn-anomalies.html` (the cycles drawn) when a transactional check is,
//! and `bank.svg` for bank histories.

pub mod bank;
pub mod html;
pub mod load;
pub mod ops;
pub mod plots;
pub mod stats;
pub mod timeline;

use anyhow::Context;
use faultline_checkers::evidence::{render_html, render_txn_html};
use faultline_checkers::{History, Results, Verdict};
use std::path::Path;

pub const TIMELINE: &str = "timeline.html";
pub const LATENCY: &str = "latency.svg";
pub const RATE: &str = "rate.svg";
pub const COUNTEREXAMPLE: &str = "linearizability.html";
pub const TXN_ANOMALIES: &str = "txn-anomalies.html";

/// Writes every report for a run into `run_dir`.
pub fn write_all(run_dir: &Path, history: &History, results: &Results) -> anyhow::Result<()> {
    let analysis = ops::Analysis::of(history);
    let title = run_title(run_dir);
    let write = |name: &str, content: String| {
        let path = run_dir.join(name);
        std::fs::write(&path, content).with_context(|| format!("writing {}", path.display()))
    };
    write(TIMELINE, timeline::render(&title, history, Some(results)))?;
    write(LATENCY, plots::latency_svg(&analysis)?)?;
    write(RATE, plots::rate_svg(&analysis)?)?;
    let invalid = results
        .checks
        .iter()
        .find(|c| c.checker == "linearizable" && c.verdict == Verdict::Invalid);
    match invalid {
        Some(check) => write(COUNTEREXAMPLE, render_html(check, history))?,
        None => remove_stale(run_dir, COUNTEREXAMPLE)?,
    }
    match invalid_txn_check(results) {
        Some(check) => write(TXN_ANOMALIES, render_txn_html(check, history))?,
        None => remove_stale(run_dir, TXN_ANOMALIES)?,
    }
    match bank::svg(history, &analysis)? {
        Some(svg) => write(bank::FILE, svg)?,
        None => remove_stale(run_dir, bank::FILE)?,
    }
    Ok(())
}

/// The transactional (Elle-style) check that found the history invalid.
pub fn invalid_txn_check(results: &Results) -> Option<&faultline_checkers::CheckResult> {
    results
        .checks
        .iter()
        .find(|c| c.details.txn().is_some() && c.verdict == Verdict::Invalid)
}

/// Removes a report an earlier check wrote: it would now contradict
/// results.json.
fn remove_stale(run_dir: &Path, name: &str) -> anyhow::Result<()> {
    let page = run_dir.join(name);
    match std::fs::remove_file(&page) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", page.display()))
        }
        _ => Ok(()),
    }
}

/// `test-name/timestamp` for a run directory in the store layout, else its path.
pub fn run_title(run_dir: &Path) -> String {
    let parts: Vec<_> = run_dir
        .components()
        .rev()
        .take(2)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    match parts.as_slice() {
        [stamp, test] if crate::store::is_stamp(stamp) => format!("{test}/{stamp}"),
        _ => run_dir.display().to_string(),
    }
}
