//! `faultline show <run>`: one run in words: the spec, each checker's verdict
//! and evidence (with the first anomaly: when, at which node, under which
//! fault), a balancing target's load spread, the faults applied, latency
//! quantiles, what was kept of the nodes' data, and the run's files.

use crate::cli::GlobalArgs;
use crate::cmd::ls::table;
use crate::exit::Outcome;
use crate::report::ops::{human_ns, Analysis};
use crate::report::stats::latency_by_f;
use crate::store::{self, RunInfo};
use faultline_checkers::evidence::render_text;
use faultline_checkers::{jsonl, History};
use std::fmt::Write;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The run: `latest`, `test-name/timestamp`, a test name (its newest run),
    /// or a run directory.
    #[arg(default_value = "latest")]
    pub run: String,
}

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    let run = store::resolve(&global.store, &args.run)?;
    let info = RunInfo::load(&run);
    let history_path = run.dir.join("history.jsonl");
    let history = if history_path.is_file() {
        let read =
            jsonl::read_file(&history_path).map_err(|e| crate::exit::bad_input(e.to_string()))?;
        for w in &read.warnings {
            eprintln!("warning: {w}");
        }
        Some(read.history)
    } else {
        None
    };
    print!("{}", render(&info, history.as_ref())?);
    Ok(Outcome::Done)
}

/// The whole report as text.
pub fn render(info: &RunInfo, history: Option<&History>) -> anyhow::Result<String> {
    let mut out = String::new();
    let run = &info.run;
    writeln!(
        out,
        "run      {}  ({})",
        run.id(),
        store::stamp_display(&run.stamp)
    )?;
    writeln!(out, "dir      {}", run.dir.display())?;
    let interrupted = info.results.as_ref().is_some_and(|r| r.interrupted);
    writeln!(
        out,
        "verdict  {}{}",
        info.verdict_name(),
        if interrupted {
            " (interrupted: the verdict covers what was recorded)"
        } else {
            ""
        }
    )?;
    if let Some(c) = info.counts {
        writeln!(
            out,
            "ops      {} ok, {} fail, {} info, {} open over {}; {} faults",
            c.ok,
            c.fail,
            c.info,
            c.open,
            human_ns(c.duration_ns),
            c.faults
        )?;
    }
    for p in &info.problems {
        writeln!(out, "problem  {p}")?;
    }

    writeln!(out, "\n== spec (test.json)")?;
    match &info.spec {
        Some(spec) => writeln!(out, "{}", serde_json::to_string_pretty(spec)?)?,
        None => writeln!(out, "no test.json")?,
    }

    writeln!(out, "\n== checks")?;
    match &info.results {
        Some(results) if !results.checks.is_empty() => {
            for check in &results.checks {
                writeln!(out, "{}", render_text(check).trim_end())?;
            }
            let page = run.dir.join(crate::report::TXN_ANOMALIES);
            if page.is_file() {
                writeln!(out, "  cycles drawn: {}", page.display())?;
            }
        }
        Some(_) => writeln!(out, "no checker ran")?,
        None => writeln!(out, "no results.json: the run was not checked (yet)")?,
    }

    if let Some(load) = info.results.as_ref().and_then(|r| r.load.as_ref()) {
        writeln!(out, "\n== load spread")?;
        out.push_str(&faultline_checkers::load_spread::render_text(load));
    }

    match history {
        None => writeln!(out, "\nno history.jsonl")?,
        Some(history) => {
            let a = Analysis::of(history);
            writeln!(out, "\n== faults applied")?;
            if a.faults.is_empty() {
                writeln!(out, "none")?;
            }
            for f in &a.faults {
                let rel = |t: u64| human_ns(t.saturating_sub(a.first_time));
                let (to, len) = match f.end {
                    Some(e) => (rel(e), human_ns(e - f.start)),
                    None => ("the end".into(), human_ns(a.last_time - f.start)),
                };
                let what = if f.value.is_null() {
                    String::new()
                } else {
                    f.value.to_string()
                };
                writeln!(
                    out,
                    "{:<10} {} to {to} ({len})  {what}",
                    f.fault,
                    rel(f.start)
                )?;
            }
            for op in a.nemesis_ops.iter().filter(|o| o.error.is_some()) {
                writeln!(
                    out,
                    "nemesis op {} {} failed: {}",
                    op.index,
                    op.f,
                    op.error.as_deref().unwrap_or_default()
                )?;
            }

            writeln!(out, "\n== latency of ok ops, per function")?;
            let rows = latency_by_f(&a);
            if rows.is_empty() {
                writeln!(out, "no client operations")?;
            } else {
                let q = |v: Option<u64>| v.map_or("-".into(), human_ns);
                let rows: Vec<Vec<String>> = rows
                    .iter()
                    .map(|r| {
                        vec![
                            r.f.clone(),
                            r.ok.to_string(),
                            r.fail.to_string(),
                            r.info.to_string(),
                            r.open.to_string(),
                            q(r.p50),
                            q(r.p90),
                            q(r.p99),
                            q(r.max),
                        ]
                    })
                    .collect();
                out.push_str(&table(
                    &[
                        "f", "ok", "fail", "info", "open", "p50", "p90", "p99", "max",
                    ],
                    &rows,
                ));
            }
        }
    }

    writeln!(out, "\n== node data")?;
    writeln!(out, "{}", node_data_words(&run.dir)?)?;

    writeln!(out, "\n== files")?;
    for (path, size) in store::files(&run.dir)? {
        writeln!(out, "{:>9}  {path}", store::human_size(size))?;
    }
    Ok(out)
}

/// What was kept of the nodes' data directories (`nodes/<node>/data`).
fn node_data_words(dir: &std::path::Path) -> anyhow::Result<String> {
    if !dir.join("nodes").is_dir() {
        return Ok("no node directories (the nodes ran elsewhere, or never started)".into());
    }
    let kept = store::node_data::data_dirs(dir)?;
    if kept.is_empty() {
        return Ok("removed after the valid run; the nodes' logs are kept in nodes/<node>/".into());
    }
    let total: u64 = kept.iter().map(|(_, size)| size).sum();
    let mut s = format!(
        "kept: {} in {} data director{} (kept after a run that is not valid, or with --keep-data)",
        store::human_size(total),
        kept.len(),
        if kept.len() == 1 { "y" } else { "ies" }
    );
    for (path, size) in kept {
        let rel = path.strip_prefix(dir).unwrap_or(&path);
        s.push_str(&format!(
            "\n{:>9}  {}",
            store::human_size(size),
            rel.display()
        ));
    }
    Ok(s)
}
