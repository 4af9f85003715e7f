//! A map of independent keys (`kv`, `append-register`) checked straight
//! from a `history.jsonl` file: read into compact parts, one per key
//! ([`SplitFile`]), each part made a small [`History`] only while it is
//! checked, on all cores, and dropped when done: ten million ops check in
//! 1.2 GB, where a [`History`] of one million takes 1 GB.
//!
//! The verdict is the one [`check`](super::check) gives on the whole
//! history (with the linearizable checker's `first_anomaly`, as
//! [`registry::check`](crate::registry::check) adds it): the same parts,
//! searched the same way, the first invalid part's evidence drawn from its
//! own ops and the nemesis ops around them.

use super::calls;
use super::parts::{check_part, first_failure, run_parts, summarise, Part, PartReport};
use super::split_file::{PartOps, SplitFile};
use super::{add_witness, Options};
use crate::anomaly;
use crate::history::History;
use crate::jsonl::ReadError;
use crate::load_spread::{self, LoadSpread};
use crate::models::{AppendRegister, CasRegister, Model, ModelConfig, ModelKind};
use crate::stats::RunStats;
use crate::verdict::{CheckResult, Verdict};
use serde_json::Value;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

/// What checking a file gave.
pub struct FileCheck {
    /// The linearizable checker's result, or why it could not run (a
    /// history whose ops do not pair, a value the model cannot read).
    pub result: Result<CheckResult, String>,
    pub warnings: Vec<String>,
    /// The counts [`RunStats::of`] gives on the whole history.
    pub stats: RunStats,
    /// What [`load_spread::of`] gives on the whole history.
    pub load: Option<LoadSpread>,
}

/// Whether [`check_file`] can check `model`: a map of independent keys,
/// split per key.
pub fn applies_to(model: ModelKind, opts: &Options) -> bool {
    opts.split && matches!(model, ModelKind::Kv | ModelKind::AppendRegister)
}

/// Checks the history in the jsonl file at `path` against `model` (see
/// [`applies_to`]), from `initial`. `Err` for a file that cannot be read.
pub fn check_file(
    path: &Path,
    model: ModelKind,
    initial: Option<&Value>,
    opts: &Options,
) -> Result<FileCheck, ReadError> {
    let mut split = SplitFile::read_file(path)?;
    let warnings = std::mem::take(&mut split.warnings);
    let load = load_spread::of(&split.stats_ops);
    let stats = split.stats;
    let config = ModelConfig {
        nil_read_is_unknown: opts.nil_read_is_unknown,
    };
    let init = initial.filter(|v| !v.is_null());
    let result = match model {
        ModelKind::Kv => check_parts(split, model, init, opts, || {
            Ok(CasRegister::new(init, config.clone()))
        }),
        ModelKind::AppendRegister => check_parts(split, model, init, opts, || {
            AppendRegister::new(init, config.clone())
        }),
        other => Err(format!(
            "model {other} is one object: a file is split per key only for kv and append-register"
        )),
    };
    Ok(FileCheck {
        result,
        warnings,
        stats,
        load,
    })
}

fn check_parts<M, F>(
    mut split: SplitFile,
    model: ModelKind,
    init: Option<&Value>,
    opts: &Options,
    make: F,
) -> Result<CheckResult, String>
where
    M: Model,
    F: Fn() -> Result<M, String> + Sync,
{
    let started = Instant::now();
    make()?;
    if let Some(e) = split.pairing_error.take() {
        return Err(e);
    }
    let parts = std::mem::take(&mut split.parts);
    let sizes: Vec<usize> = parts.iter().map(PartOps::calls).collect();
    // Each part's ops, until it is checked.
    let unchecked: Vec<Mutex<Option<PartOps>>> =
        parts.into_iter().map(|p| Mutex::new(Some(p))).collect();
    // The histories of invalid parts, for the evidence.
    let invalid: Mutex<Vec<(usize, History)>> = Mutex::new(Vec::new());
    let reports: Vec<PartReport> = run_parts(&sizes, opts, &make, |i, model, budget| {
        let ops = unchecked[i]
            .lock()
            .expect("no part check panics holding it")
            .take()
            .expect("each part is checked once");
        let key = split.key(&ops);
        let history = split.history(ops);
        let part = Part {
            key,
            calls: calls::collect(&history)?,
        };
        let report = check_part(&history, &part, model, budget, opts)?;
        drop(part);
        if report.is_invalid() {
            invalid
                .lock()
                .expect("no part check panics holding it")
                .push((i, history));
        }
        Ok(report)
    })?;
    let mut result = summarise(model.name(), &reports, started.elapsed());
    match first_failure(&reports) {
        Some(first) => {
            let invalid = invalid.into_inner().expect("no part check panicked");
            let (_, history) = invalid
                .iter()
                .find(|(i, _)| *i == first)
                .expect("an invalid part keeps its history");
            add_witness(&mut result, history, model, init, opts);
            debug_assert_eq!(result.verdict, Verdict::Invalid);
            result.first_anomaly = anomaly::first_anomaly(history, &result.blamed);
        }
        None => result.blamed.clear(),
    }
    Ok(result)
}
