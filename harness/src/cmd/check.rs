//! `faultline check`: judge a recorded history, from a run directory or a file.
//!
//! Which checkers run, and against which model, comes from (first that says):
//! the flags, the run's `test.json` (`workload`, `model`), the file format
//! (Porcupine logs fix their data type), or the functions in the history
//! (`add` means a set, `acquire` a lock). With a run directory the verdict is
//! written back: `results.json`, and the reports (the counterexample page
//! when the history is not linearizable). Checking itself is the same code
//! a test run ends with ([`crate::run::check`]).

use crate::cli::GlobalArgs;
use crate::exit::{bad_input, Outcome};
use crate::junit;
use crate::run::check::{self as checking, Budget};
use anyhow::Context;
use faultline_checkers::evidence::render_text;
use faultline_checkers::import::{format_of, read_any, Format, ReadOutcome};
use faultline_checkers::linearizability;
use faultline_checkers::models::ModelKind;
use faultline_checkers::registry::{self, CheckerKind};
use faultline_checkers::txn::{self, ConsistencyModel, TxnWorkload};
use faultline_checkers::{History, Results, Verdict};
use faultline_workloads::WorkloadKind;
use serde::Deserialize;
use std::path::{Path, PathBuf};

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
    /// A transactional history: check it as this workload (list-append and
    /// rw-register Elle-style, bank for totals and negative balances).
    #[arg(long, value_enum, value_name = "W")]
    pub workload: Option<CheckWorkload>,
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
    #[command(flatten)]
    pub budget: Budget,
    /// Print the results as JSON (as in results.json) instead of words.
    #[arg(long)]
    pub json: bool,
    /// Also write the verdicts as a JUnit XML file.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// The workloads `check --workload` knows: those whose histories say
/// everything the checker needs.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckWorkload {
    ListAppend,
    RwRegister,
    Bank,
}

impl CheckWorkload {
    fn checker(self) -> CheckerKind {
        match self {
            CheckWorkload::ListAppend => CheckerKind::ListAppend,
            CheckWorkload::RwRegister => CheckerKind::RwRegister,
            CheckWorkload::Bank => CheckerKind::Bank,
        }
    }
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
    #[serde(default)]
    consistency_models: Vec<String>,
}

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    let input = resolve(global, &args.path)?;
    let format = format_of(&input.history, args.format).map_err(|e| bad_input(e.to_string()))?;
    let keyed = keyed_file(&args, &input, format);
    let (checked, heading) = match (streamed(&args, &input, format), keyed) {
        (Some((name, w)), _) => {
            let opts = txn::Options {
                models: consistency_models(&args, &input)?,
                ..txn::Options::default()
            };
            let checked = checking::check_txn_file(name, w, &opts, &input.history);
            let ops = checked.results.stats.map_or(0, |s| s.client_ops());
            (checked, (format, ops))
        }
        (None, Some(model)) => {
            let opts = linearizability_options(&args, format)?;
            let initial = initial(&args)?;
            let checked =
                checking::check_keyed_file(model, initial.as_ref(), &opts, &input.history)?;
            let ops = checked.results.stats.map_or(0, |s| s.client_ops());
            (checked, (format, ops))
        }
        (None, None) => {
            let read =
                read_any(&input.history, Some(format)).map_err(|e| bad_input(e.to_string()))?;
            for warning in &read.warnings {
                eprintln!("warning: {warning}");
            }
            let (checkers, opts) = plan(&args, &input, &read)?;
            let checked = checking::run_checkers(&checkers, &read.history, &opts, &input.history);
            if let Some(dir) = &input.run_dir {
                checking::write_run(dir, &read.history, &checked.results)?;
            }
            let ops = read
                .history
                .client_ops()
                .filter(|op| op.kind == faultline_checkers::OpType::Invoke)
                .count() as u64;
            (checked, (format, ops))
        }
    };
    let results = &checked.results;
    if let Some(path) = &args.junit {
        let suite = input.run_dir.as_deref().unwrap_or(&input.history);
        junit::write(
            path,
            &suite.display().to_string(),
            results,
            &checked.durations,
        )
        .map_err(|e| bad_input(format!("--junit {}: {e}", path.display())))?;
    }

    if args.json {
        println!("{}", serde_json::to_string_pretty(results)?);
    } else {
        print_words(&input, heading, results);
    }
    checked.outcome()
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

/// A jsonl file (not a run directory, whose reports need the History)
/// checked by one transactional checker named on the command line is read
/// straight into txns, never into a History: the way a history of millions
/// of txns checks in little memory.
fn streamed(args: &Args, input: &Input, format: Format) -> Option<(CheckerKind, TxnWorkload)> {
    if input.run_dir.is_some() || format != Format::Jsonl {
        return None;
    }
    let name = match (args.checkers.as_slice(), args.workload) {
        ([], Some(w)) => w.checker(),
        ([one], None) => *one,
        _ => return None,
    };
    checking::txn_workload(name).map(|w| (name, w))
}

/// A jsonl file (not a run directory, whose reports need the History)
/// checked for linearizability against a map of independent keys is read
/// per key, never into a History: the way ten million ops check in 1.2 GB.
/// The model, when the flags make it so.
fn keyed_file(args: &Args, input: &Input, format: Format) -> Option<ModelKind> {
    let only_linearizable = matches!(args.checkers.as_slice(), [] | [CheckerKind::Linearizable]);
    if input.run_dir.is_some() || format != Format::Jsonl || !only_linearizable {
        return None;
    }
    let model = args.model?;
    let opts = linearizability::Options::default();
    (args.workload.is_none() && linearizability::file::applies_to(model, &opts)).then_some(model)
}

/// `--initial`, read as JSON.
fn initial(args: &Args) -> anyhow::Result<Option<serde_json::Value>> {
    let Some(text) = &args.initial else {
        return Ok(None);
    };
    let value = serde_json::from_str(text)
        .map_err(|e| bad_input(format!("--initial {text:?} is not JSON: {e}")))?;
    Ok(Some(value))
}

/// The linearizable checker's options: the format's conventions and the
/// budget flags.
fn linearizability_options(
    args: &Args,
    format: Format,
) -> anyhow::Result<linearizability::Options> {
    let mut opts = linearizability::Options {
        nil_read_is_unknown: format.nil_read_is_unknown(),
        ..linearizability::Options::default()
    };
    args.budget.apply(&mut opts, None)?;
    Ok(opts)
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
        vec![w.checker()]
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
    let opts = registry::Options {
        model,
        initial: initial(args)?,
        linearizability: linearizability_options(args, read.format)?,
        txn: txn::Options {
            models: consistency_models(args, input)?,
            ..txn::Options::default()
        },
    };
    Ok((checkers, opts))
}

/// The flag's models, else the ones the run was tested for (`test.json`).
fn consistency_models(args: &Args, input: &Input) -> anyhow::Result<Vec<ConsistencyModel>> {
    if !args.consistency_models.is_empty() {
        return Ok(args.consistency_models.clone());
    }
    let names = input.spec.iter().flat_map(|s| &s.consistency_models);
    names
        .map(|name| {
            serde_json::from_value(serde_json::Value::String(name.clone())).map_err(|_| {
                bad_input(format!(
                    "{}: consistency model {name:?} is not known",
                    input.history.with_file_name("test.json").display()
                ))
            })
        })
        .collect()
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
    // Transfers (`incr` micro-ops) are a bank's.
    let incr = || {
        history.client_ops().filter(|op| op.f == "txn").any(|op| {
            op.value
                .as_array()
                .into_iter()
                .flatten()
                .any(|m| m.get(0).and_then(|f| f.as_str()) == Some("incr"))
        })
    };
    if incr() {
        Some(CheckerKind::Bank)
    } else if let Some(w) = txn::history::sniff(history) {
        Some(txn_checker(w))
    } else if has("acquire") {
        Some(CheckerKind::Lock)
    } else if has("add") {
        Some(CheckerKind::Set)
    } else {
        None
    }
}

fn print_words(input: &Input, (format, client_ops): (Format, u64), results: &Results) {
    println!(
        "{} ({format}, {client_ops} client operations)",
        input.history.display(),
    );
    if let Some(stats) = &results.stats {
        println!(
            "ops: {} ok, {} fail, {} info, {} open; faults: {}",
            stats.ok, stats.fail, stats.info, stats.open, stats.faults
        );
    }
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
