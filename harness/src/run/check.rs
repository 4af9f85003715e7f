//! Checking a history, for `faultline test` at the end of a run and for
//! `faultline check`: the same budget flags, the same handling of a checker
//! that errs or panics, the same results file and reports.

use crate::exit::{bad_input, Outcome};
use faultline_checkers::linearizability;
use faultline_checkers::models::ModelKind;
use faultline_checkers::registry::{self, CheckerKind};
use faultline_checkers::txn::{self, TxnWorkload};
use faultline_checkers::{CheckResult, History, Results, RunStats};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

/// The search budget of the linearizability checker.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Budget {
    /// Give up with `unknown` after this many seconds of searching
    /// (default: no limit for `check`, 120 for `test`).
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// Give up with `unknown` before the search uses more memory than this
    /// (default: half the machine's memory).
    #[arg(long = "memory-limit", value_name = "MB")]
    pub memory_limit: Option<u64>,
}

/// How long an invalid verdict may spend finding its minimal witness.
const WITNESS_BUDGET: Duration = Duration::from_secs(10);

impl Budget {
    /// Sets the budget into `opts`; a timeout that is not a positive number
    /// is bad input.
    pub fn apply(
        &self,
        opts: &mut faultline_checkers::linearizability::Options,
        default_timeout: Option<Duration>,
    ) -> anyhow::Result<()> {
        opts.timeout = match self.timeout {
            Some(s) if !(s.is_finite() && s > 0.0) => {
                return Err(bad_input(format!(
                    "--timeout {s}: must be a positive number of seconds"
                )))
            }
            Some(s) => Some(Duration::from_secs_f64(s)),
            None => default_timeout,
        };
        opts.memory_limit_bytes = self.memory_limit.map(|mb| mb.saturating_mul(1 << 20));
        // An invalid register history is shrunk to a few ops a person can read.
        opts.witness = Some(WITNESS_BUDGET);
        Ok(())
    }
}

/// What checking a history gave.
pub struct Checked {
    /// The verdicts, with the history's op counts.
    pub results: Results,
    /// Each check's time, in `results.checks` order.
    pub durations: Vec<Duration>,
    /// A checker that could not read the history (bad input) or panicked
    /// (internal error); its check is `unknown` in `results`.
    pub error: Option<anyhow::Error>,
}

impl Checked {
    /// The command's outcome: the verdict, or the checker's error (after
    /// the results were written).
    pub fn outcome(self) -> anyhow::Result<Outcome> {
        match self.error {
            Some(e) => Err(e),
            None if self.results.interrupted => Ok(Outcome::Interrupted(self.results.verdict)),
            None => Ok(Outcome::Verdict(self.results.verdict)),
        }
    }
}

/// Runs `checkers` on `history` (read from `source`, named in errors).
pub fn run_checkers(
    checkers: &[CheckerKind],
    history: &History,
    opts: &registry::Options,
    source: &Path,
) -> Checked {
    let mut checks = Vec::with_capacity(checkers.len());
    let mut durations = Vec::with_capacity(checkers.len());
    let mut error = None;
    for &name in checkers {
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            registry::check(name, history, opts)
        }));
        let check = judged(name, outcome, source, &mut error);
        checks.push(check);
        durations.push(started.elapsed());
    }
    let mut results = Results::new(checks);
    results.stats = Some(RunStats::of(history));
    results.load = faultline_checkers::load_spread::of(history);
    Checked {
        results,
        durations,
        error,
    }
}

/// The transactional workload a checker checks, if it is one.
pub fn txn_workload(name: CheckerKind) -> Option<TxnWorkload> {
    match name {
        CheckerKind::ListAppend => Some(TxnWorkload::ListAppend),
        CheckerKind::RwRegister => Some(TxnWorkload::RwRegister),
        _ => None,
    }
}

/// A transactional check of a `history.jsonl` file with no History in
/// memory (`faultline check FILE --workload list-append`): a million txns
/// check in a few hundred MB instead of the gigabytes their ops would take.
/// The op counts come from the same pass; there is no load spread (a txn
/// history has no `stats` ops).
pub fn check_txn_file(
    name: CheckerKind,
    workload: TxnWorkload,
    opts: &txn::Options,
    source: &Path,
) -> Checked {
    let started = Instant::now();
    let mut error = None;
    let mut stats = None;
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        txn::check_file(source, workload, opts).map(|c| {
            for warning in &c.warnings {
                eprintln!("warning: {warning}");
            }
            stats = Some(c.stats);
            c.result
        })
    }));
    let check = judged(name, outcome, source, &mut error);
    let mut results = Results::new(vec![check]);
    results.stats = stats;
    Checked {
        results,
        durations: vec![started.elapsed()],
        error,
    }
}

/// The linearizable check of a map of independent keys in a
/// `history.jsonl` file, read per key with no History in memory
/// (`faultline check FILE --model kv`): ten million ops check in 1.2 GB.
/// The op counts and load spread come from the same pass. `Err` (bad
/// input) for a file that cannot be read, as when reading a History.
pub fn check_keyed_file(
    model: ModelKind,
    initial: Option<&Value>,
    opts: &linearizability::Options,
    source: &Path,
) -> anyhow::Result<Checked> {
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        linearizability::file::check_file(source, model, initial, opts)
    }));
    let (outcome, stats, load) = match outcome {
        Ok(Err(e)) => return Err(bad_input(e.to_string())),
        Ok(Ok(checked)) => {
            for warning in &checked.warnings {
                eprintln!("warning: {warning}");
            }
            (Ok(checked.result), Some(checked.stats), checked.load)
        }
        Err(panic) => (Err(panic), None, None),
    };
    let mut error = None;
    let check = judged(CheckerKind::Linearizable, outcome, source, &mut error);
    let mut results = Results::new(vec![check]);
    results.stats = stats;
    results.load = load;
    Ok(Checked {
        results,
        durations: vec![started.elapsed()],
        error,
    })
}

/// A checker's outcome as a check: an error (bad input) or a panic (a bug)
/// is an `unknown` check, and the first of them is kept in `error`.
fn judged(
    name: CheckerKind,
    outcome: std::thread::Result<Result<CheckResult, String>>,
    source: &Path,
    error: &mut Option<anyhow::Error>,
) -> CheckResult {
    match outcome {
        Ok(Ok(result)) => result,
        Ok(Err(message)) => {
            // The file reader's messages name the file and line already.
            let e = if message.starts_with(&format!("{}:", source.display())) {
                bad_input(format!("{message} ({name})"))
            } else {
                bad_input(format!("{}: {name}: {message}", source.display()))
            };
            let check =
                CheckResult::unknown(name.name(), format!("checker could not run: {message}"));
            error.get_or_insert(e);
            check
        }
        Err(_) => {
            error.get_or_insert(anyhow::anyhow!(
                "internal error: the {name} checker panicked on {}",
                source.display()
            ));
            CheckResult::unknown(
                name.name(),
                "the checker panicked (a bug in faultline)".into(),
            )
        }
    }
}

/// Checks a history with a workload's checkers (and model).
pub fn check_workload(
    workload: &dyn faultline_workloads::Workload,
    history: &History,
    budget: &Budget,
    default_timeout: Option<Duration>,
    source: &Path,
) -> anyhow::Result<Checked> {
    check_workload_for(workload, &[], history, budget, default_timeout, source)
}

/// [`check_workload`], with the consistency models a transactional
/// workload's history must satisfy (empty: the default).
pub fn check_workload_for(
    workload: &dyn faultline_workloads::Workload,
    consistency_models: &[faultline_checkers::txn::ConsistencyModel],
    history: &History,
    budget: &Budget,
    default_timeout: Option<Duration>,
    source: &Path,
) -> anyhow::Result<Checked> {
    let mut opts = registry::Options {
        model: workload.model(),
        initial: None,
        linearizability: Default::default(),
        txn: faultline_checkers::txn::Options {
            models: consistency_models.to_vec(),
            ..Default::default()
        },
    };
    budget.apply(&mut opts.linearizability, default_timeout)?;
    Ok(run_checkers(workload.checkers(), history, &opts, source))
}

/// Writes `results.json` and the reports into a run directory. Reports are
/// for people: failing to draw them is a warning, never the verdict's loss.
pub fn write_run(run_dir: &Path, history: &History, results: &Results) -> anyhow::Result<()> {
    crate::store::writer::write_results(run_dir, results)?;
    if let Err(e) = crate::report::write_all(run_dir, history, results) {
        tracing::warn!("reports not written: {e:#}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checkers::{History, Verdict};

    #[test]
    fn a_checker_that_errs_is_unknown_and_bad_input() {
        let history = History::default();
        let opts = registry::Options::default();
        // The linearizable checker without a model errs.
        let checked = run_checkers(
            &[CheckerKind::Linearizable, CheckerKind::Set],
            &history,
            &opts,
            Path::new("h.jsonl"),
        );
        assert_eq!(checked.results.checks[0].verdict, Verdict::Unknown);
        assert_eq!(checked.results.checks.len(), 2);
        assert_eq!(checked.results.stats, Some(RunStats::default()));
        let e = checked.outcome().err().expect("an error");
        assert!(e.to_string().contains("h.jsonl: linearizable"), "{e}");
        assert_eq!(crate::exit::code_of(Err(e)), crate::exit::BAD_INPUT);
    }

    #[test]
    fn budgets_are_checked() {
        let mut opts = faultline_checkers::linearizability::Options::default();
        let b = Budget {
            timeout: Some(-1.0),
            memory_limit: None,
        };
        assert!(b.apply(&mut opts, None).is_err());
        let b = Budget {
            timeout: None,
            memory_limit: Some(2),
        };
        b.apply(&mut opts, Some(Duration::from_secs(5))).unwrap();
        assert_eq!(opts.timeout, Some(Duration::from_secs(5)));
        assert_eq!(opts.memory_limit_bytes, Some(2 << 20));
    }
}
