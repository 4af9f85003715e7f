//! The transactional checker (Elle-style): infer a dependency graph from a
//! history of transactions, find its cycles and the anomalies that need no
//! cycle, and say which consistency models the history rules out.
//!
//! history.rs reads txns from a history, jsonl.rs straight from its file,
//! both into one compact form; list_append.rs and rw_register.rs infer ww, wr and
//! rw edges (and non-cycle anomalies); order.rs adds process and real-time
//! edges; graph.rs holds the graph and its strongly connected components;
//! cycles.rs searches and names cycles; models.rs says what each model
//! forbids; explain.rs puts cycles in words; anomaly.rs collects them.

pub mod anomaly;
pub mod cycles;
pub mod explain;
pub mod graph;
pub mod history;
pub mod jsonl;
pub mod list_append;
pub mod models;
pub mod order;
pub mod rw_register;
mod scan;

#[cfg(test)]
mod compact_tests;
#[cfg(test)]
mod tests;

pub use history::TxnWorkload;
pub use models::{ConsistencyModel, Order};

use crate::evidence::{TxnEvidence, TxnStats};
use crate::verdict::{CheckResult, Verdict};
use anomaly::Anomalies;
use explain::Inference;
use graph::{Edges, Graph};
use std::fmt::Write;

/// How to check.
#[derive(Clone, Debug)]
pub struct Options {
    /// The models the history must satisfy (empty: strict-serializable).
    pub models: Vec<ConsistencyModel>,
    /// Examples kept in full per anomaly type.
    pub examples: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            models: Vec::new(),
            examples: 8,
        }
    }
}

/// What one check found, before it is written as a [`CheckResult`].
pub struct Outcome {
    pub found: Anomalies,
    pub txns: usize,
    pub edges: usize,
    pub components: usize,
}

/// Checks `history` as a `workload` history against `opts.models`.
pub fn check(
    history: &crate::History,
    workload: TxnWorkload,
    opts: &Options,
) -> Result<CheckResult, String> {
    check_txns(&history::parse(history, workload)?, workload, opts)
}

/// What [`check_file`] found, and what it read.
pub struct FileCheck {
    pub result: CheckResult,
    /// The reader's warnings (a truncated last line).
    pub warnings: Vec<String>,
    /// The history's op counts, as [`crate::RunStats::of`] would give.
    pub stats: crate::RunStats,
}

/// Checks a `history.jsonl` file, read straight into txns (no
/// [`crate::History`] in memory: the way to check millions of txns).
pub fn check_file(
    path: &std::path::Path,
    workload: TxnWorkload,
    opts: &Options,
) -> Result<FileCheck, String> {
    let read = jsonl::read_file(path, workload)?;
    Ok(FileCheck {
        result: check_txns(&read.txns, workload, opts)?,
        warnings: read.warnings,
        stats: read.stats,
    })
}

/// Checks txns already read.
pub fn check_txns(
    txns: &history::Txns,
    workload: TxnWorkload,
    opts: &Options,
) -> Result<CheckResult, String> {
    let models = if opts.models.is_empty() {
        vec![ConsistencyModel::StrictSerializable]
    } else {
        opts.models.clone()
    };
    let n = txns.txns.len();
    if n >= graph::MAX_TXNS {
        return Err(format!(
            "{n} transactions; the checker holds at most {}",
            graph::MAX_TXNS - 1
        ));
    }
    // The strongest order a model asks for says which edges to add.
    let promised = models
        .iter()
        .map(|m| m.order())
        .max()
        .unwrap_or(Order::None);
    let mut found = Anomalies::new(opts.examples.max(1));
    let mut edges = Edges::default();
    // Data edges on one core, process and real-time edges on the other.
    let (inference, order_edges) = rayon::join(
        || -> Result<Inference<'_>, String> {
            Ok(match workload {
                TxnWorkload::ListAppend => {
                    Inference::ListAppend(list_append::infer(txns, &mut edges, &mut found)?)
                }
                TxnWorkload::RwRegister => {
                    Inference::RwRegister(rw_register::infer(txns, &mut edges, &mut found)?)
                }
            })
        },
        || {
            let mut e = Edges::default();
            if promised >= Order::Process {
                order::process_edges(txns, &mut e);
            }
            if promised == Order::Realtime {
                order::realtime_edges(txns, &mut e);
            }
            e
        },
    );
    let inference = inference?;
    edges.extend(order_edges);
    let graph = Graph::build(n, edges);
    let components = graph.cycles_components();
    let extra = match promised {
        Order::None => 0,
        Order::Process => graph::PROCESS,
        Order::Realtime => graph::PROCESS | graph::REALTIME,
    };
    cycles::search(&graph, &components, extra, |name, cycle| {
        let ids = cycle.iter().map(|s| s.from).collect();
        found.add(name, ids, || explain::cycle(txns, &inference, &cycle));
    });
    let outcome = Outcome {
        found,
        txns: n,
        edges: graph.edge_count(),
        components: components.len(),
    };
    Ok(result(txns, workload, &models, outcome))
}

/// The verdict, summary and details of an outcome.
fn result(
    txns: &history::Txns,
    workload: TxnWorkload,
    models: &[ConsistencyModel],
    outcome: Outcome,
) -> CheckResult {
    let found = &outcome.found;
    let types: Vec<&str> = found.types().collect();
    let (not, also_not) = models::ruled_out(types.iter().copied());
    let broken: Vec<&str> = types
        .iter()
        .copied()
        .filter(|a| models.iter().any(|m| m.forbids(a)))
        .collect();
    let verdict = if broken.is_empty() {
        Verdict::Valid
    } else {
        Verdict::Invalid
    };
    let name = |t: history::TxnId| txns.txns[t as usize].invoke;
    let mut blamed: Vec<u64> = found
        .by_type
        .values()
        .flat_map(|(_, list)| list.iter().flat_map(|a| a.txns.iter().map(|&t| name(t))))
        .collect();
    blamed.sort_unstable();
    blamed.dedup();
    let model_names = |ms: &[ConsistencyModel]| ms.iter().map(|m| m.name()).collect::<Vec<_>>();
    let counted: Vec<String> = found
        .by_type
        .iter()
        .map(|(k, (n, _))| format!("{k} ({n})"))
        .collect();
    let summary = if types.is_empty() {
        format!(
            "{} txns: no anomalies; consistent with {}",
            outcome.txns,
            model_names(models).join(", ")
        )
    } else {
        let mut s = format!("{} txns: found {}", outcome.txns, counted.join(", "));
        if !not.is_empty() {
            write!(s, "; not {}", model_names(&not).join(", ")).unwrap();
        }
        if broken.is_empty() {
            write!(s, "; allowed by {}", model_names(models).join(", ")).unwrap();
        }
        s
    };
    let mut text = String::new();
    for (kind, (count, list)) in &found.by_type {
        let shown = if *count > list.len() {
            format!(" ({count} found, {} shown)", list.len())
        } else {
            String::new()
        };
        writeln!(text, "{kind}{shown}:").unwrap();
        for a in list {
            for (i, line) in a.lines.iter().enumerate() {
                let bullet = if i == 0 { "- " } else { "  " };
                writeln!(text, "  {bullet}{line}").unwrap();
            }
        }
    }
    let counts = |s| txns.txns.iter().filter(|t| t.status == s).count();
    CheckResult {
        checker: workload.name().to_string(),
        verdict,
        summary,
        blamed,
        first_anomaly: None,
        details: TxnEvidence {
            workload: workload.name().to_string(),
            consistency_models: strings(model_names(models)),
            anomaly_types: strings(types),
            anomalies: found.to_json(name),
            anomaly_counts: found.counts_json(),
            not: strings(model_names(&not)),
            also_not: strings(model_names(&also_not)),
            explanation: text,
            stats: TxnStats {
                txns: outcome.txns,
                ok: counts(history::Status::Ok),
                fail: counts(history::Status::Fail),
                info: counts(history::Status::Info),
                edges: outcome.edges,
                cyclic_components: outcome.components,
            },
        }
        .into(),
    }
}

fn strings(v: Vec<&str>) -> Vec<String> {
    v.into_iter().map(String::from).collect()
}
