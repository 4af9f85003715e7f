//! `faultline check`: judge a recorded history, from a run directory or a file.
//!
//! Which checkers run, and against which model, comes from (first that says):
//! the flags, the run's `test.json` (`workload`, `model`), the file format
//! (Porcupine logs fix their data type), or the functions in the history
//! (`add` means a set, `acquire` a lock). With a run directory the verdict is
//! written back: `results.json`, and the reports (the counterexample page
//! when the history is not linearizable).

use crate::cli::GlobalArgs;
use crate::exit::{bad_input, Outcome};
use crate::junit;
use anyhow::Context;
use faultline_checkers::evidence::{render_html, render_text};
use faultline_checkers::import::{read_any, Format, ReadOutcome};
use faultline_checkers::linearizability;
use faultline_checkers::models::ModelKind;
use faultline_checkers::registry::{self, CheckerKind};
use faultline_checkers::txn::{self, ConsistencyModel, TxnWorkload};
use faultline_checkers::{CheckResult, History, Results, Verdict};
use faultline_workloads::WorkloadKind;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A run directory (with history.jsonl and test.json), a run in the store
    /// (`latest`, `<test>/<time>`), or a history file.
    pub path: PathBuf,
    /// Linearizability model.
    #[arg(long, value_enum)]
    pub model: Option<ModelKind>,
    /// The model's initial state, as JSON (`0`, `null`, `"x"`).
    #[arg(long, value_name = "JSON")]
    pub initial: Option<String>,
    /// The history file's format (default: told from its name and content).
    #[arg(long, value_parser = parse_format)]
    pub format: Option<Format>,
    /// A transactional history: check it as this workload (Elle-style).
    #[arg(long, value_enum, value_name = "W")]
    pub workload: Option<TxnWorkload>,
    /// Consistency models a transactional history must satisfy, comma
    /// separated (default strict-serializable).
    #[arg(
        long = "consistency-models",
        value_enum,
        value_delimiter = ',',
        value_name = "M,.."
    )]
    pub consistency_models: Vec<ConsistencyModel>,
    /// Checkers to run; repeatable. Default: inferred.
    #[arg(long = "checker", value_name = "NAME", value_enum)]
    pub checkers: Vec<CheckerKind>,
    /// Give up with `unknown` after this many seconds of searching.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<f64>,
    /// Give up with `unknown` before the search uses more memory than this.
    #[arg(long = "memory-limit", value_name = "MB")]
    pub memory_limit: Option<u64>,
    /// Print the results as JSON (as in results.json) instead of words.
    #[arg(long)]
    pub json: bool,
    /// Also write the verdicts as a JUnit XML file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

/// What `check` was pointed at.
struct Input {
    history: PathBuf,
    /// Set when checking a run directory: results are written back into it.
    run_dir: Option<PathBuf>,
    spec: Option<SpecFields>,
}

/// The fields of a run's `test.json` (`crate::spec::TestSpec`) that say how
/// to check it. Read on their own so a spec from another version still works.
#[derive(Debug, Default, Deserialize)]
struct SpecFields {
    #[serde(default)]
    workload: Option<String>,
    #[serde(default)]
    model: Option<String>,
}

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    let input = resolve(global, &args.path)?;
    let read = read_any(&input.history, args.format).map_err(|e| bad_input(e.to_string()))?;
    for warning in &read.warnings {
        eprintln!("warning: {warning}");
    }
    let (checkers, opts) = plan(&args, &input, &read)?;

    let mut checks = Vec::with_capacity(checkers.len());
    let mut durations = Vec::with_capacity(checkers.len());
    for &checker in &checkers {
        let started = Instant::now();
        checks.push(run_checker(checker, &read.history, &opts, &input.history)?);
        durations.push(started.elapsed());
    }
    let results = Results::new(checks);

    if let Some(dir) = &input.run_dir {
        let json = serde_json::to_string_pretty(&results)?;
        let path = dir.join("results.json");
        std::fs::write(&path, json + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        write_reports(dir, &read.history, &results)?;
    }
    if let Some(path) = &args.junit {
        let suite = input.run_dir.as_deref().unwrap_or(&input.history);
        junit::write(path, &suite.display().to_string(), &results, &durations)
            .map_err(|e| bad_input(format!("--junit {}: {e}", path.display())))?;
    }

    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        print_words(&input, &read, &results);
    }
    Ok(Outcome::Verdict(results.verdict))
}

/// Finds the history to check: a run directory, a run in the store, or a file.
fn resolve(global: &GlobalArgs, path: &Path) -> anyhow::Result<Input> {
    let path = if !path.exists() && global.store.join(path).is_dir() {
        global.store.join(path)
    } else {
        path.to_path_buf()
    };
    if !path.exists() {
        return Err(bad_input(format!(
            "{}: no such file or directory",
            path.display()
        )));
    }
    if !path.is_dir() {
        return Ok(Input {
            history: path,
            run_dir: None,
            spec: None,
        });
    }
    let history = path.join("history.jsonl");
    if !history.is_file() {
        return Err(bad_input(format!(
            "{}: no history.jsonl here; is this a run directory?",
            path.display()
        )));
    }
    let spec_path = path.join("test.json");
    let spec = if spec_path.is_file() {
        let text = std::fs::read_to_string(&spec_path)
            .with_context(|| format!("reading {}", spec_path.display()))?;
        let spec: SpecFields = serde_json::from_str(&text)
            .map_err(|e| bad_input(format!("{}:{}: {e}", spec_path.display(), e.line())))?;
        Some(spec)
    } else {
        None
    };
    Ok(Input {
        history,
        run_dir: Some(path),
        spec,
    })
}

/// Which checkers run, and the options they get.
fn plan(
    args: &Args,
    input: &Input,
    read: &ReadOutcome,
) -> anyhow::Result<(Vec<CheckerKind>, registry::Options)> {
    let spec = input.spec.as_ref();
    // A workload this version does not know tells nothing; the flags or the
    // history may still say how to check.
    let workload = spec
        .and_then(|s| s.workload.as_deref())
        .and_then(|w| w.parse::<WorkloadKind>().ok())
        .map(WorkloadKind::build);
    let spec_model = match spec.and_then(|s| s.model.as_deref()) {
        Some(m) => Some(m.parse::<ModelKind>().map_err(|e| {
            bad_input(format!(
                "{}: {e}",
                input.history.with_file_name("test.json").display()
            ))
        })?),
        None => None,
    };
    let model = args
        .model
        .or(spec_model)
        .or_else(|| workload.as_ref().and_then(|w| w.model()))
        .or_else(|| read.format.default_model());
    let checkers: Vec<CheckerKind> = if !args.checkers.is_empty() {
        args.checkers.clone()
    } else if let Some(w) = args.workload {
        vec![txn_checker(w)]
    } else if let Some(w) = &workload {
        w.checkers().to_vec()
    } else if model.is_some() {
        vec![CheckerKind::Linearizable]
    } else if let Some(checker) = checker_from_functions(&read.history) {
        vec![checker]
    } else {
        return Err(bad_input(format!(
            "{}: cannot tell how to check this history; pass --model M (models: {}) or --checker set|lock",
            input.history.display(),
            ModelKind::names()
        )));
    };
    if checkers.contains(&CheckerKind::Linearizable) && model.is_none() {
        return Err(bad_input(format!(
            "the linearizable checker needs a model: pass --model (models: {})",
            ModelKind::names()
        )));
    }
    let initial = match &args.initial {
        Some(text) => Some(
            serde_json::from_str(text)
                .map_err(|e| bad_input(format!("--initial {text:?} is not JSON: {e}")))?,
        ),
        None => None,
    };
    let timeout = match args.timeout {
        Some(s) if !(s.is_finite() && s > 0.0) => {
            return Err(bad_input(format!(
                "--timeout {s}: must be a positive number of seconds"
            )))
        }
        Some(s) => Some(Duration::from_secs_f64(s)),
        None => None,
    };
    let opts = registry::Options {
        model,
        initial,
        linearizability: linearizability::Options {
            timeout,
            memory_limit_bytes: args.memory_limit.map(|mb| mb.saturating_mul(1 << 20)),
            nil_read_is_unknown: read.format.nil_read_is_unknown(),
            ..linearizability::Options::default()
        },
        txn: txn::Options {
            models: args.consistency_models.clone(),
            ..txn::Options::default()
        },
    };
    Ok((checkers, opts))
}

fn txn_checker(w: TxnWorkload) -> CheckerKind {
    match w {
        TxnWorkload::ListAppend => CheckerKind::ListAppend,
        TxnWorkload::RwRegister => CheckerKind::RwRegister,
    }
}

/// A set, lock or transactional history says so by its functions.
fn checker_from_functions(history: &History) -> Option<CheckerKind> {
    let has = |f: &str| history.client_ops().any(|op| op.f == f);
    if let Some(w) = txn::history::sniff(history) {
        Some(txn_checker(w))
    } else if has("acquire") {
        Some(CheckerKind::Lock)
    } else if has("add") {
        Some(CheckerKind::Set)
    } else {
        None
    }
}

/// Runs one checker. A history the checker cannot read is bad input; a
/// panic inside a checker is our fault and becomes an internal error.
fn run_checker(
    name: CheckerKind,
    history: &History,
    opts: &registry::Options,
    path: &Path,
) -> anyhow::Result<CheckResult> {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        registry::check(name, history, opts)
    }));
    match outcome {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(message)) => Err(bad_input(format!("{}: {name}: {message}", path.display()))),
        Err(_) => anyhow::bail!(
            "internal error: the {name} checker panicked on {}",
            path.display()
        ),
    }
}

/// Re-makes the run's reports from the checked history (also for `faultline
/// test` to call at the end of a run).
///
/// Hook for the inspection part: the timeline (`timeline.html`) and plots
/// (`latency.svg`, `rate.svg`) are written here too, by calling its report
/// writer next to the counterexample page below.
pub fn write_reports(run_dir: &Path, history: &History, results: &Results) -> anyhow::Result<()> {
    crate::report::write_all(run_dir, history, results)?;
    let page = run_dir.join("linearizability.html");
    let invalid = results
        .checks
        .iter()
        .find(|c| c.checker == "linearizable" && c.verdict == Verdict::Invalid);
    match invalid {
        Some(check) => std::fs::write(&page, render_html(check, history))
            .with_context(|| format!("writing {}", page.display()))?,
        // A page from an earlier check would now contradict results.json.
        None => match std::fs::remove_file(&page) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("removing {}", page.display()))
            }
            _ => {}
        },
    }
    Ok(())
}

fn print_words(input: &Input, read: &ReadOutcome, results: &Results) {
    let client_ops = read
        .history
        .client_ops()
        .filter(|op| op.kind == faultline_checkers::OpType::Invoke)
        .count();
    println!(
        "{} ({}, {} client operations)",
        input.history.display(),
        read.format,
        client_ops
    );
    for check in &results.checks {
        print!("{}", render_text(check));
    }
    let names = |v: Verdict| -> Vec<&str> {
        results
            .checks
            .iter()
            .filter(|c| c.verdict == v)
            .map(|c| c.checker.as_str())
            .collect()
    };
    let words = match results.verdict {
        Verdict::Valid => "every checker found the history correct".to_string(),
        Verdict::Invalid => format!(
            "{} found the history wrong",
            names(Verdict::Invalid).join(", ")
        ),
        Verdict::Unknown => format!(
            "{} could not decide (a budget ran out or nothing to judge)",
            names(Verdict::Unknown).join(", ")
        ),
    };
    println!(
        "verdict: {}: {words}",
        results.verdict.to_string().to_uppercase()
    );
    if let Some(dir) = &input.run_dir {
        println!("wrote {}", dir.join("results.json").display());
    }
}
