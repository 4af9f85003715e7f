//! Linearizability checking: is there a total order of the history's
//! operations, consistent with real time, that the model accepts?
//!
//! [`check`] is the entry point. It pairs invocations with completions
//! ([`calls`]), splits the history per key when the model is a map of
//! independent keys ([`parts`]), searches each part on all cores ([`search`])
//! and reports the verdict with its evidence.

pub mod calls;
pub mod file;
mod frontier;
mod liveness;
mod memo;
pub mod online;
mod parts;
pub mod register_rules;
pub mod search;
mod split_file;
pub mod witness;
mod witness_words;

pub use crate::models;
pub use parts::check_model;

use crate::evidence::{CheckerEvidence, Evidence};
use crate::history::History;
use crate::models::{AppendRegister, CasRegister, FifoQueue, ModelConfig, ModelKind, Mutex};
use crate::verdict::CheckResult;
use serde_json::Value;
use std::time::Duration;

/// How to check.
#[derive(Clone, Debug)]
pub struct Options {
    /// Give up with `unknown` after this long.
    pub timeout: Option<Duration>,
    /// Give up with `unknown` before the search's memo and stacks grow past
    /// this (approximate). `None`: half of the machine's memory.
    pub memory_limit_bytes: Option<u64>,
    /// Split a map of independent keys (`kv`, `append-register`) per key.
    pub split: bool,
    /// Worker threads for the parts (`None`: all cores).
    pub threads: Option<usize>,
    /// A read that completed `ok` with a null value tells nothing (Jepsen's
    /// convention; importers of Jepsen histories set this).
    pub nil_read_is_unknown: bool,
    /// Which search decides each part.
    pub strategy: Strategy,
    /// How long [`Strategy::Auto`] lets the depth-first search try a part
    /// with crashed ops before it tries to refute it (zero: no first try).
    pub first_try: Duration,
    /// With a register model, how long an invalid verdict may spend
    /// shrinking its part to a minimal witness (`None`: no witness).
    pub witness: Option<Duration>,
}

/// The search that decides a part of a history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum Strategy {
    /// Where a part has crashed ops, first the frontier search with crashed
    /// ops allowed to take effect any number of times (its `invalid` is
    /// proof, and it is fast), then the depth-first search.
    #[default]
    Auto,
    /// Depth-first over partial linearizations (Wing & Gong, Lowe).
    DepthFirst,
    /// Breadth-first over configurations, with dominance (frontier.rs):
    /// exact; slower than depth-first on crash-heavy cas histories, where
    /// its frontier grows with the crashed cas ops.
    Frontier,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: None,
            memory_limit_bytes: None,
            split: true,
            threads: None,
            nil_read_is_unknown: false,
            strategy: Strategy::Auto,
            first_try: Duration::from_secs(1),
            witness: None,
        }
    }
}

/// Checks `history` against the model called `model` (a [`ModelKind`]
/// name); see [`check`].
pub fn check_named(
    history: &History,
    model: &str,
    initial: Option<&Value>,
    opts: &Options,
) -> Result<CheckResult, String> {
    check(history, model.parse()?, initial, opts)
}

/// Checks `history` against `model`, starting from `initial` (the model's
/// default when `None`).
///
/// `Err` for an initial state the model cannot take, or a history the model
/// cannot read (an unknown function, a malformed value).
pub fn check(
    history: &History,
    model: ModelKind,
    initial: Option<&Value>,
    opts: &Options,
) -> Result<CheckResult, String> {
    let config = ModelConfig {
        nil_read_is_unknown: opts.nil_read_is_unknown,
    };
    let init = initial.filter(|v| !v.is_null());
    let name = model.name();
    let mut result = match model {
        ModelKind::Register => check_model(history, name, false, opts, || {
            Ok(CasRegister::plain(init, config.clone()))
        }),
        ModelKind::CasRegister => check_model(history, name, false, opts, || {
            Ok(CasRegister::new(init, config.clone()))
        }),
        ModelKind::Kv => check_model(history, name, true, opts, || {
            Ok(CasRegister::new(init, config.clone()))
        }),
        ModelKind::AppendRegister => check_model(history, name, true, opts, || {
            AppendRegister::new(init, config.clone())
        }),
        ModelKind::Mutex => check_model(history, name, false, opts, || Mutex::new(init)),
        ModelKind::FifoQueue => check_model(history, name, false, opts, || FifoQueue::new(init)),
    }?;
    add_witness(&mut result, history, model, init, opts);
    Ok(result)
}

/// Shrinks an invalid register verdict's part of `history` to a minimal
/// witness (within `opts.witness`), and says what went wrong in the model's
/// words when the witness can.
pub(super) fn add_witness(
    result: &mut CheckResult,
    history: &History,
    model: ModelKind,
    init: Option<&Value>,
    opts: &Options,
) {
    let Some(budget) = opts.witness.filter(|_| witness::applies_to(model)) else {
        return;
    };
    let mut lin = match &mut result.details {
        Evidence::Checker(CheckerEvidence::Linearizability(e)) => e.counterexample.as_mut(),
        _ => None,
    };
    if let Some(cx) = lin.as_deref_mut() {
        let key = cx.key.clone();
        cx.witness = witness::shrink(
            history,
            model,
            init,
            key.as_deref(),
            opts.nil_read_is_unknown,
            budget,
        );
    }
    // The model's words, when the witness has them, say more than "op N
    // cannot be placed after a prefix".
    let words = lin.and_then(|cx| cx.witness.as_ref()?.words.clone());
    if let Some(words) = words {
        result.summary = format!("not linearizable: {words}");
    }
}

#[cfg(test)]
mod tests;
