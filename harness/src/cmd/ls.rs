//! `faultline ls`: the runs in the store, newest first, one line each.

use crate::cli::GlobalArgs;
use crate::exit::Outcome;
use crate::report::ops::human_ns;
use crate::store::{self, RunInfo};

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Only runs of this test.
    pub test: Option<String>,
    /// Show at most this many runs.
    #[arg(long, short = 'n', value_name = "N")]
    pub limit: Option<usize>,
}

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    let runs: Vec<_> = store::list(&global.store)?
        .into_iter()
        .filter(|r| match &args.test {
            Some(t) => &r.test == t,
            None => true,
        })
        .take(args.limit.unwrap_or(usize::MAX))
        .collect();
    if runs.is_empty() {
        println!("no runs in {}", global.store.display());
        return Ok(Outcome::Done);
    }
    let header = [
        "time", "test", "target", "workload", "nemesis", "duration", "ops", "ok", "fail", "info",
        "verdict",
    ];
    let rows: Vec<Vec<String>> = runs.iter().map(|r| row(&RunInfo::load(r))).collect();
    print!("{}", table(&header, &rows));
    Ok(Outcome::Done)
}

fn row(info: &RunInfo) -> Vec<String> {
    let count =
        |f: fn(&store::Counts) -> u64| info.counts.map_or("-".into(), |c| f(&c).to_string());
    vec![
        store::stamp_display(&info.run.stamp),
        info.run.test.clone(),
        or_dash(info.target()),
        or_dash(info.spec_str("workload")),
        or_dash(info.spec_str("nemesis")),
        info.counts.map_or("-".into(), |c| human_ns(c.duration_ns)),
        count(|c| c.client_ops()),
        count(|c| c.ok),
        count(|c| c.fail),
        count(|c| c.info + c.open),
        info.verdict_name(),
    ]
}

fn or_dash(s: String) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s
    }
}

/// Left-aligned columns, two spaces apart.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (cell, w) in cells.zip(&widths) {
            l.push_str(&format!("{cell:<w$}  "));
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
    out
}
