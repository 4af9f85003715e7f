//! Splitting a history into independently checkable parts, checking them on
//! all cores, and turning what the search found into a [`CheckResult`].

use super::calls::{self, Recorded};
use super::frontier::{search_frontier, Crashed};
use super::register_rules;
use super::search::{search, Budget, Outcome, Problem, Stats, StopReason};
use super::{Options, Strategy};
use crate::evidence::{CallView, Counterexample, LinearizabilityEvidence, Unfinished};
use crate::history::History;
use crate::models::{Encoded, Keyed, Model};
use crate::verdict::{CheckResult, Verdict};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How many states along the end of the linearized prefix the evidence shows.
const TAIL: usize = 40;
/// How many concurrent ops the evidence lists at most.
const CONCURRENT: usize = 64;

/// One part of a history: all ops of one key, or the whole history.
pub(super) struct Part<'h> {
    pub key: Option<&'h str>,
    pub calls: Vec<Recorded<'h>>,
}

/// What the search found in a part, with ops as indices into `Part::calls`.
enum Found {
    Valid,
    Invalid {
        prefix: Vec<usize>,
        state: Value,
        blocked: usize,
        /// (call, state after it) for the last ops of the prefix.
        tail: Vec<(usize, Value)>,
        /// Why `blocked` can never be placed, when no search was needed.
        reason: Option<String>,
    },
    Unknown(StopReason),
}

/// A part's verdict, told apart from the history it came from: an invalid
/// part's evidence is drawn while its history is at hand, so the parts of
/// a big file can be read, checked and dropped one by one.
pub(super) enum PartVerdict {
    Valid,
    Invalid(Box<Invalidity>),
    Unknown(StopReason),
}

/// Why a part is not linearizable.
pub(super) struct Invalidity {
    counterexample: Counterexample,
    summary: String,
    blamed: u64,
}

pub(super) struct PartReport {
    verdict: PartVerdict,
    stats: Stats,
    /// Calls in the part.
    ops: usize,
}

impl PartReport {
    pub(super) fn is_invalid(&self) -> bool {
        matches!(self.verdict, PartVerdict::Invalid(_))
    }
}

/// Checks `history` with models made by `make` (one per part). A `keyed`
/// model is a map of independent keys: split per key when `opts.split`,
/// otherwise checked whole as a [`Keyed`] map.
pub fn check_model<M, F>(
    history: &History,
    name: &str,
    keyed: bool,
    opts: &Options,
    make: F,
) -> Result<CheckResult, String>
where
    M: Model,
    F: Fn() -> Result<M, String> + Sync,
{
    let started = Instant::now();
    make()?;
    let calls = calls::collect(history)?;
    let parts = if keyed && opts.split {
        split_by_key(calls)
    } else {
        if !keyed {
            let mut keys = calls.iter().filter_map(|r| r.call.key);
            if let Some(first) = keys.next() {
                if let Some(other) = keys.find(|k| *k != first) {
                    return Err(format!(
                        "model {name} is one object but the history has keys {first:?} and {other:?}; \
                         use a model of independent keys such as kv"
                    ));
                }
            }
        }
        vec![Part { key: None, calls }]
    };
    let sizes: Vec<usize> = parts.iter().map(|p| p.calls.len()).collect();
    let reports = if keyed && !opts.split {
        run_parts(
            &sizes,
            opts,
            || Ok(Keyed::new(make()?)),
            |i, model, budget| check_part(history, &parts[i], model, budget, opts),
        )?
    } else {
        run_parts(&sizes, opts, &make, |i, model, budget| {
            check_part(history, &parts[i], model, budget, opts)
        })?
    };
    Ok(summarise(name, &reports, started.elapsed()))
}

fn split_by_key(calls: Vec<Recorded<'_>>) -> Vec<Part<'_>> {
    let mut index: FxHashMap<Option<&str>, usize> = FxHashMap::default();
    let mut parts: Vec<Part<'_>> = Vec::new();
    for rec in calls {
        let i = *index.entry(rec.call.key).or_insert_with(|| {
            parts.push(Part {
                key: rec.call.key,
                calls: Vec::new(),
            });
            parts.len() - 1
        });
        parts[i].calls.push(rec);
    }
    parts
}

fn default_memory_limit() -> u64 {
    let total_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(8 << 20);
    total_kib * 1024 / 2
}

/// How long the other parts may go on once one is found invalid.
const INVALID_GRACE: Duration = Duration::from_secs(2);

/// Checks parts of the given sizes (calls) on all cores, biggest first, with
/// one budget; `check(i, model, budget)` decides part `i`. Once a part is
/// invalid the others get [`INVALID_GRACE`] to finish.
pub(super) fn run_parts<M, F, C>(
    sizes: &[usize],
    opts: &Options,
    make: F,
    check: C,
) -> Result<Vec<PartReport>, String>
where
    M: Model,
    F: Fn() -> Result<M, String> + Sync,
    C: Fn(usize, M, &Budget<'_>) -> Result<PartReport, String> + Sync,
{
    let memory_used = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let memory_limit = opts.memory_limit_bytes.unwrap_or_else(default_memory_limit);
    let budget = Budget {
        deadline: opts.timeout.map(|t| Instant::now() + t),
        memory_limit,
        memo_keep: memory_limit / 4,
        memory_used: &memory_used,
        stop: &stop,
    };
    // Biggest parts first, so the last ones to finish are small.
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
    // The first invalid part does not stop the others at once: a part that
    // failed earlier in the history may still be running, and the earliest
    // failure is the one to report. They get a short grace, then stop.
    let done = std::thread::scope(|scope| {
        // `true`: a part was found invalid; `false`: every part is done.
        // Made here so that a panic drops the sender and ends the thread.
        let (found, grace) = std::sync::mpsc::channel::<bool>();
        let stop = &stop;
        // One part (every witness trial) has no others to stop.
        if sizes.len() > 1 {
            scope.spawn(move || stop_after_grace(stop, grace));
        }
        let check_one = |&i: &usize| -> Result<(usize, PartReport), String> {
            let report = check(i, make()?, &budget)?;
            if report.is_invalid() {
                let _ = found.send(true);
            }
            Ok((i, report))
        };
        let run = || -> Result<Vec<(usize, PartReport)>, String> {
            if sizes.len() == 1 {
                order.iter().map(check_one).collect()
            } else {
                order.par_iter().map(check_one).collect()
            }
        };
        let done = match opts.threads {
            Some(n) => rayon::ThreadPoolBuilder::new()
                .num_threads(n.max(1))
                .build()
                .map_err(|e| format!("cannot start {n} checker threads: {e}"))
                .and_then(|pool| pool.install(run)),
            None => run(),
        };
        let _ = found.send(false);
        done
    });
    let mut done = done?;
    done.sort_by_key(|(i, _)| *i);
    Ok(done.into_iter().map(|(_, r)| r).collect())
}

/// Sets `stop` [`INVALID_GRACE`] after the first `true` on `found`, unless
/// a `false` (every part done) or the sender's end comes first.
fn stop_after_grace(stop: &AtomicBool, found: std::sync::mpsc::Receiver<bool>) {
    use std::sync::mpsc::RecvTimeoutError;
    if found.recv() != Ok(true) {
        return;
    }
    let until = Instant::now() + INVALID_GRACE;
    loop {
        match found.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(true) => continue,
            Ok(false) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {
                stop.store(true, Ordering::Relaxed);
                return;
            }
        }
    }
}

/// Decides one part with the search `strategy` names.
fn decide<M: Model>(
    problem: &mut Problem<M>,
    budget: &Budget<'_>,
    opts: &Options,
) -> (Outcome<M::State>, Stats) {
    let has_crashed = problem.return_pos.iter().any(Option::is_none);
    match opts.strategy {
        Strategy::Frontier => {
            // `None`: too many ops open at once for it.
            if let Some(found) = search_frontier(problem, budget, Crashed::AtMostOnce, u64::MAX) {
                return found;
            }
        }
        Strategy::Auto if has_crashed => {
            // Crashed ops are what makes the depth-first search exponential:
            // it finds a linearization of a valid history fast, but must
            // exhaust every use of them to refute an invalid one. So: a
            // short depth-first try; then the frontier search with crashed
            // ops allowed to take effect any number of times (a small
            // frontier whose `invalid` is proof), capped at a few
            // crashed ops tried an op; then the depth-first search for good.
            let n = problem.inputs.len() as u64;
            if !opts.first_try.is_zero() {
                if let Some(decided) = first_try(problem, budget, opts) {
                    return decided;
                }
            }
            if let Some((found @ Outcome::Invalid { .. }, stats)) = search_frontier(
                problem,
                budget,
                Crashed::AnyNumberOfTimes,
                256 * n + 1_000_000,
            ) {
                return (found, stats);
            }
        }
        Strategy::Auto if !opts.first_try.is_zero() => {
            // No crashed ops (or none left after the register rules): the
            // depth-first search is fastest when it does not go astray;
            // when it does (many clients), the frontier search, whose
            // configurations stay few without crashed ops.
            if let Some(decided) = first_try(problem, budget, opts) {
                return decided;
            }
            if let Some(found) = search_frontier(problem, budget, Crashed::AtMostOnce, u64::MAX) {
                return found;
            }
        }
        Strategy::Auto | Strategy::DepthFirst => {}
    }
    search(problem, budget)
}

/// The depth-first search's short first try: `opts.first_try` long, in a
/// quarter of the memory limit (so that the search after it has room).
/// `None` when it ran out of either and the run's own deadline has not
/// passed: the caller goes on with another search.
fn first_try<M: Model>(
    problem: &mut Problem<M>,
    budget: &Budget<'_>,
    opts: &Options,
) -> Option<(Outcome<M::State>, Stats)> {
    let short = Budget {
        deadline: Some(first_of(Instant::now() + opts.first_try, budget.deadline)),
        memory_limit: budget.memory_limit / 4,
        memo_keep: budget.memo_keep / 4,
        ..*budget
    };
    let (found, stats) = search(problem, &short);
    let gave_up = matches!(
        found,
        Outcome::Unknown(StopReason::Timeout | StopReason::Memory)
    );
    (!gave_up || budget_over(budget)).then_some((found, stats))
}

fn first_of(a: Instant, b: Option<Instant>) -> Instant {
    b.map_or(a, |b| a.min(b))
}

/// Whether the run's own deadline has passed.
fn budget_over(budget: &Budget<'_>) -> bool {
    budget.deadline.is_some_and(|d| Instant::now() >= d)
}

/// The search's form of a part's calls: the problem, and for each of its
/// ops the index into `calls` it came from.
pub(super) fn build_problem<M: Model>(
    calls: &[Recorded<'_>],
    mut model: M,
) -> Result<(Problem<M>, Vec<usize>), String> {
    let n = calls.len();
    let mut inputs = Vec::with_capacity(n);
    let mut call_pos = Vec::with_capacity(n);
    let mut return_pos = Vec::with_capacity(n);
    // Search op id -> index into calls.
    let mut origin: Vec<usize> = Vec::with_capacity(n);
    for (i, rec) in calls.iter().enumerate() {
        if let Encoded::Input(input) = model.encode(&rec.call)? {
            inputs.push(input);
            call_pos.push(rec.invoke_pos as u64);
            return_pos.push(if rec.is_ok() {
                rec.complete_pos.map(|p| p as u64)
            } else {
                None
            });
            origin.push(i);
        }
    }
    let problem = Problem {
        model,
        inputs,
        call_pos,
        return_pos,
    };
    Ok((problem, origin))
}

/// Decides one part of `history`.
pub(super) fn check_part<M: Model>(
    history: &History,
    part: &Part<'_>,
    model: M,
    budget: &Budget<'_>,
    opts: &Options,
) -> Result<PartReport, String> {
    let (found, stats) = search_part(part, model, budget, opts)?;
    let verdict = match found {
        Found::Valid => PartVerdict::Valid,
        Found::Unknown(reason) => PartVerdict::Unknown(reason),
        invalid => PartVerdict::Invalid(Box::new(invalidity(history, part, invalid))),
    };
    Ok(PartReport {
        verdict,
        stats,
        ops: part.calls.len(),
    })
}

fn search_part<M: Model>(
    part: &Part<'_>,
    model: M,
    budget: &Budget<'_>,
    opts: &Options,
) -> Result<(Found, Stats), String> {
    let (mut problem, mut origin) = build_problem(&part.calls, model)?;
    let rewrite = match register_rules::simplify(&mut problem, &mut origin) {
        Ok(rewrite) => rewrite,
        Err(call) => {
            // No search needed: nothing could have set the value it observed.
            let model = &mut problem.model;
            let init = model.init();
            let found = Found::Invalid {
                prefix: Vec::new(),
                state: model.state_json(init),
                blocked: call,
                tail: Vec::new(),
                reason: Some(unwritten_value(&part.calls[call])),
            };
            return Ok((found, Stats::default()));
        }
    };
    let (outcome, stats) = decide(&mut problem, budget, opts);
    let found = match outcome {
        Outcome::Valid => Found::Valid,
        Outcome::Unknown(reason) => Found::Unknown(reason),
        Outcome::Invalid {
            prefix, blocked, ..
        } => {
            // Replay the prefix to show the states along its end, with the
            // values the rules renamed as they were (the prefix applies
            // the same way to them).
            if let Some(ops) = problem.model.as_registers(&mut problem.inputs) {
                for &(op, before) in &rewrite.renamed {
                    ops[op as usize] = before;
                }
            }
            let model = &mut problem.model;
            model.for_evidence();
            let mut s = model.init();
            let mut tail = Vec::with_capacity(TAIL);
            let tail_from = prefix.len().saturating_sub(TAIL);
            for (k, &op) in prefix.iter().enumerate() {
                s = model
                    .step(s, &problem.inputs[op as usize])
                    .expect("a prefix the search linearized replays");
                if k >= tail_from {
                    tail.push((origin[op as usize], model.state_json(s)));
                }
            }
            Found::Invalid {
                prefix: prefix.iter().map(|&op| origin[op as usize]).collect(),
                state: model.state_json(s),
                blocked: origin[blocked as usize],
                tail,
                reason: None,
            }
        }
    };
    Ok((found, stats))
}

/// Why `rec` (a read, or a cas) can never be placed: see `register_rules`.
fn unwritten_value(rec: &Recorded<'_>) -> String {
    let value = match (rec.call.f, rec.call.output) {
        ("cas", _) => rec.call.input.get(0).cloned().unwrap_or(Value::Null),
        (_, Some(v)) => v.clone(),
        _ => Value::Null,
    };
    format!(
        "it observed {value}, which is not the initial value and which no write or cas \
         invoked before it returned could have set"
    )
}

/// An op as a person reads it: `read -> 2`, `write 3`, `cas [1,2]` (a
/// read's null input and an echoed result are left out).
pub(super) fn op_words(call: &crate::models::Call<'_>) -> String {
    let mut words = call.f.to_string();
    if !call.input.is_null() {
        words.push_str(&format!(" {}", call.input));
    }
    if let Some(out) = call.output.filter(|o| !o.is_null() && *o != call.input) {
        words.push_str(&format!(" -> {out}"));
    }
    words
}

pub(super) fn describe_call(history: &History, rec: &Recorded<'_>) -> CallView {
    let invoke = &history.ops[rec.invoke_pos];
    CallView {
        index: invoke.index,
        completion: rec
            .complete_pos
            .and_then(|p| history.ops.get(p))
            .map(|op| op.index),
        process: invoke.process,
        f: invoke.f.clone(),
        key: rec.call.key.map(str::to_string),
        value: invoke.value.clone(),
        result: rec.call.output.cloned().unwrap_or(Value::Null),
        outcome: if rec.is_ok() {
            "ok"
        } else if rec.complete_pos.is_some() {
            "info"
        } else {
            "open"
        }
        .into(),
        state: None,
    }
}

/// The evidence of an invalid part of `history`.
fn invalidity(history: &History, part: &Part<'_>, found: Found) -> Invalidity {
    let Found::Invalid {
        prefix,
        state,
        blocked,
        tail,
        reason,
    } = found
    else {
        unreachable!("only an invalid part has evidence")
    };
    let failed = &part.calls[blocked];
    let (lo, hi) = (failed.invoke_pos, failed.complete_pos.unwrap_or(usize::MAX));
    let mut concurrent: Vec<&Recorded<'_>> = part
        .calls
        .iter()
        .filter(|r| {
            r.invoke_pos != lo && r.invoke_pos < hi && r.complete_pos.is_none_or(|c| c > lo)
        })
        .collect();
    concurrent.sort_by_key(|r| r.invoke_pos.abs_diff(lo));
    concurrent.truncate(CONCURRENT);
    concurrent.sort_by_key(|r| r.invoke_pos);
    let key = part
        .key
        .map(|k| format!(" on key {k:?}"))
        .unwrap_or_default();
    let summary = match &reason {
        Some(why) => format!(
            "not linearizable{key}: op {} ({}) cannot be placed: {why}",
            failed.call.index,
            op_words(&failed.call)
        ),
        None => format!(
            "not linearizable{key}: op {} ({}) cannot be placed after a linearizable prefix of {} ops",
            failed.call.index,
            op_words(&failed.call),
            prefix.len()
        ),
    };
    let counterexample = Counterexample {
        key: part.key.map(str::to_string),
        failed_op: describe_call(history, failed),
        linearized: prefix.iter().map(|&c| part.calls[c].call.index).collect(),
        state,
        tail: tail
            .iter()
            .map(|(c, s)| CallView {
                state: Some(s.clone()),
                ..describe_call(history, &part.calls[*c])
            })
            .collect(),
        concurrent: concurrent
            .iter()
            .map(|r| describe_call(history, r))
            .collect(),
        witness: None,
        reason,
    };
    Invalidity {
        counterexample,
        summary,
        blamed: failed.call.index,
    }
}

/// The verdict over all parts (`reports` in part order): the first invalid
/// part's evidence, else what is unfinished, else valid.
/// The invalid part the check reports: the one that failed first in the
/// history (its failed op completed, or, never completing, was invoked,
/// earliest).
pub(super) fn first_failure(reports: &[PartReport]) -> Option<usize> {
    (0..reports.len())
        .filter_map(|i| match &reports[i].verdict {
            PartVerdict::Invalid(why) => {
                let op = &why.counterexample.failed_op;
                Some((op.completion.unwrap_or(op.index), i))
            }
            _ => None,
        })
        .min()
        .map(|(_, i)| i)
}

pub(super) fn summarise(name: &str, reports: &[PartReport], elapsed: Duration) -> CheckResult {
    let n_calls: usize = reports.iter().map(|r| r.ops).sum();
    let states: u64 = reports.iter().map(|r| r.stats.states).sum();
    let mut evidence = LinearizabilityEvidence {
        model: name.to_string(),
        ops: n_calls,
        parts: reports.len(),
        states_visited: states,
        elapsed_ms: elapsed.as_secs_f64() * 1000.0,
        counterexample: None,
        unfinished: None,
    };
    let invalid = first_failure(reports).and_then(|i| match &reports[i].verdict {
        PartVerdict::Invalid(why) => Some(why),
        _ => None,
    });
    if let Some(why) = invalid {
        evidence.counterexample = Some(Box::new(why.counterexample.clone()));
        return CheckResult {
            checker: "linearizable".into(),
            verdict: Verdict::Invalid,
            summary: why.summary.clone(),
            blamed: vec![why.blamed],
            first_anomaly: None,
            details: evidence.into(),
        };
    }
    let unknown: Vec<(usize, StopReason)> = reports
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r.verdict {
            PartVerdict::Unknown(reason) => Some((i, reason)),
            _ => None,
        })
        .collect();
    if let Some(&(_, reason)) = unknown.first() {
        let why = match reason {
            StopReason::Timeout => "the time limit ran out",
            StopReason::Memory => "the memory limit was reached",
            StopReason::Cancelled => "the search was cancelled",
        };
        let placed: u64 = unknown
            .iter()
            .map(|&(i, _)| reports[i].stats.max_depth)
            .sum();
        let open_ops: usize = unknown.iter().map(|&(i, _)| reports[i].ops).sum();
        evidence.unfinished = Some(Unfinished {
            reason: format!("{reason:?}").to_lowercase(),
            parts_unfinished: unknown.len(),
            ops_placed: placed,
            ops_unfinished: open_ops,
        });
        return CheckResult {
            checker: "linearizable".into(),
            verdict: Verdict::Unknown,
            summary: format!(
                "unknown: {why}; {} of {} parts unfinished, at most {placed} of their {open_ops} ops placed, {states} states visited",
                unknown.len(),
                reports.len()
            ),
            blamed: Vec::new(),
            first_anomaly: None,
            details: evidence.into(),
        };
    }
    CheckResult {
        checker: "linearizable".into(),
        verdict: Verdict::Valid,
        summary: format!(
            "linearizable: {n_calls} ops in {} part(s), {states} states visited",
            reports.len()
        ),
        blamed: Vec::new(),
        first_anomaly: None,
        details: evidence.into(),
    }
}
