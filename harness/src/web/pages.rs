//! The HTML pages of `faultline serve`: the run list, a run, and not-found.

use crate::report::html::escape;
use crate::report::ops::{human_ns, Analysis};
use crate::report::stats::latency_by_f;
use crate::report::{LATENCY, RATE, TIMELINE};
use crate::store::{self, RunInfo};
use faultline_checkers::evidence::render_text;
use faultline_checkers::History;
use serde_json::Value;
use std::fmt::Write;

const STYLE: &str = "
body { font: 14px/1.45 system-ui, sans-serif; margin: 0 auto; max-width: 1200px; padding: 0 1rem 3rem; color: #222; }
a { color: #1f5fbf; text-decoration: none; } a:hover { text-decoration: underline; }
nav { padding: .6rem 0; border-bottom: 1px solid #ddd; margin-bottom: .8rem; }
h1 { font-size: 1.35rem; } h2 { font-size: 1.1rem; margin-top: 1.6rem; border-bottom: 1px solid #eee; }
table { border-collapse: collapse; font-size: 13px; }
td, th { border-bottom: 1px solid #e4e4e4; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f6f6f6; }
tr:hover td { background: #fafafa; }
.verdict { font-weight: 600; text-transform: uppercase; font-size: 12px; padding: .1rem .4rem; border-radius: 3px; color: #fff; background: #888; }
.verdict.valid { background: #1a7f37; } .verdict.invalid { background: #c62828; } .verdict.unknown { background: #b26a00; }
pre { background: #f7f7f7; border: 1px solid #e4e4e4; padding: .6rem; overflow-x: auto; font-size: 12px; }
img.plot { max-width: 100%; border: 1px solid #e4e4e4; }
iframe { width: 100%; border: 1px solid #ccc; }
iframe.timeline { height: 640px; } iframe.counterexample { height: 560px; }
form.filters { display: flex; gap: 1rem; align-items: center; margin: .5rem 0 1rem; }
.muted { color: #777; } .num { text-align: right; font-variant-numeric: tabular-nums; }
";

/// A whole page around `body`.
pub fn layout(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{} · faultline</title><style>{STYLE}</style></head>\
         <body><nav><a href=\"/\">faultline runs</a></nav>\n{body}\n</body></html>\n",
        escape(title)
    )
}

/// Percent-encodes a store path for a URL, keeping `/`.
pub fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn verdict_badge(v: &str) -> String {
    format!("<span class=\"verdict {v}\">{v}</span>", v = escape(v))
}

/// Which runs the list shows.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Filter {
    /// `valid`, `invalid`, `unknown` or `none` (not checked); empty: all.
    #[serde(default)]
    pub verdict: String,
    #[serde(default)]
    pub target: String,
}

impl Filter {
    pub fn admits(&self, info: &RunInfo) -> bool {
        (self.verdict.is_empty() || info.verdict_name() == self.verdict)
            && (self.target.is_empty() || info.target() == self.target)
    }
}

pub fn list_page(infos: &[RunInfo], filter: &Filter) -> String {
    let mut body =
        String::from("<h1>Runs</h1>\n<form class=\"filters\" method=\"get\" action=\"/\">");
    let select = |name: &str, current: &str, options: &[String]| {
        let mut s = format!("<label>{name} <select name=\"{name}\" onchange=\"this.form.submit()\"><option value=\"\">all</option>");
        for o in options {
            let sel = if o == current { " selected" } else { "" };
            let _ = write!(s, "<option{sel}>{}</option>", escape(o));
        }
        s.push_str("</select></label>");
        s
    };
    let verdicts: Vec<String> = ["valid", "invalid", "unknown", "none"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut targets: Vec<String> = infos
        .iter()
        .map(RunInfo::target)
        .filter(|t| !t.is_empty())
        .collect();
    targets.sort();
    targets.dedup();
    body.push_str(&select("verdict", &filter.verdict, &verdicts));
    body.push_str(&select("target", &filter.target, &targets));
    body.push_str("<noscript><button>filter</button></noscript></form>\n");

    let shown: Vec<&RunInfo> = infos.iter().filter(|i| filter.admits(i)).collect();
    let _ = writeln!(
        body,
        "<p class=\"muted\" id=\"count\">{} of {} runs</p>",
        shown.len(),
        infos.len()
    );
    if shown.is_empty() {
        body.push_str("<p id=\"no-runs\">No runs match.</p>");
        return layout("runs", &body);
    }
    body.push_str(
        "<table id=\"runs\"><tr><th>time</th><th>test</th><th>target</th><th>workload</th>\
         <th>nemesis</th><th>duration</th><th class=\"num\">ops</th><th class=\"num\">ok</th>\
         <th class=\"num\">fail</th><th class=\"num\">info</th><th>verdict</th></tr>\n",
    );
    for info in shown {
        let c = info.counts;
        let n = |f: fn(&store::Counts) -> u64| c.map_or("-".into(), |c| f(&c).to_string());
        let _ = writeln!(
            body,
            "<tr class=\"run\" data-verdict=\"{v}\"><td><a href=\"/runs/{href}\">{time}</a></td>\
             <td>{test}</td><td>{target}</td><td>{workload}</td><td>{nemesis}</td><td>{dur}</td>\
             <td class=\"num\">{ops}</td><td class=\"num\">{ok}</td><td class=\"num\">{fail}</td>\
             <td class=\"num\">{info_n}</td><td>{badge}</td></tr>",
            v = escape(&info.verdict_name()),
            href = url_path(&info.run.id()),
            time = store::stamp_display(&info.run.stamp),
            test = escape(&info.run.test),
            target = escape(&info.target()),
            workload = escape(&info.spec_str("workload")),
            nemesis = escape(&info.spec_str("nemesis")),
            dur = c.map_or("-".into(), |c| human_ns(c.duration_ns)),
            ops = n(|c| c.client_ops()),
            ok = n(|c| c.ok),
            fail = n(|c| c.fail),
            info_n = n(|c| c.info + c.open),
            badge = verdict_badge(&info.verdict_name()),
        );
    }
    body.push_str("</table>\n");
    layout("runs", &body)
}

pub fn run_page(info: &RunInfo, history: Option<&History>, files: &[(String, u64)]) -> String {
    let id = info.run.id();
    let files_url = format!("/files/{}", url_path(&id));
    let has = |name: &str| files.iter().any(|(p, _)| p == name);
    let mut b = format!(
        "<h1>{} {}</h1>\n<p class=\"muted\">{} · <code>{}</code></p>\n",
        escape(&id),
        verdict_badge(&info.verdict_name()),
        store::stamp_display(&info.run.stamp),
        escape(&info.run.dir.display().to_string())
    );
    for p in &info.problems {
        let _ = writeln!(b, "<p class=\"problem\">cannot read: {}</p>", escape(p));
    }

    // Summary: the spec's fields and the op counts.
    b.push_str("<h2 id=\"summary\">Summary</h2><table class=\"summary\">");
    match &info.spec {
        Some(Value::Object(spec)) => {
            for (k, v) in spec {
                let v = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let _ = write!(b, "<tr><th>{}</th><td>{}</td></tr>", escape(k), escape(&v));
            }
        }
        _ => b.push_str("<tr><td>no test.json</td></tr>"),
    }
    if let Some(c) = info.counts {
        let _ = write!(
            b,
            "<tr><th>ops</th><td>{} client ops: {} ok, {} fail, {} info, {} open; {} faults; {}</td></tr>",
            c.client_ops(),
            c.ok,
            c.fail,
            c.info,
            c.open,
            c.faults,
            human_ns(c.duration_ns)
        );
    }
    b.push_str("</table>\n");

    b.push_str("<h2 id=\"checks\">Checks</h2>");
    if info.results.as_ref().is_some_and(|r| r.interrupted) {
        b.push_str("<p>The run was interrupted: the verdicts cover what was recorded.</p>");
    }
    match &info.results {
        Some(r) if !r.checks.is_empty() => {
            for check in &r.checks {
                let _ = write!(
                    b,
                    "<div class=\"check\"><p>{} <b>{}</b>: {}</p><pre>{}</pre></div>",
                    verdict_badge(&check.verdict.to_string()),
                    escape(&check.checker),
                    escape(&check.summary),
                    escape(&render_text(check))
                );
            }
        }
        Some(_) => b.push_str("<p>No checker ran.</p>"),
        None => b.push_str("<p>No results.json: this run was not checked (yet).</p>"),
    }
    if let Some(load) = info.results.as_ref().and_then(|r| r.load.as_ref()) {
        b.push_str("<h2 id=\"load\">Load spread</h2>");
        b.push_str(&crate::report::load::html(load));
    }
    if has("linearizability.html") {
        let _ = write!(
            b,
            "<h2 id=\"counterexample\">Counterexample</h2>\
             <p><a href=\"{files_url}/linearizability.html\">open the counterexample page</a></p>\
             <iframe class=\"counterexample\" src=\"{files_url}/linearizability.html\" loading=\"lazy\"></iframe>"
        );
    }

    if has(crate::report::TXN_ANOMALIES) {
        let _ = write!(
            b,
            "<h2 id=\"txn-anomalies\">Transaction anomalies</h2>\
             <p><a href=\"{files_url}/{p}\">open the anomaly cycles page</a></p>\
             <iframe class=\"counterexample\" src=\"{files_url}/{p}\" loading=\"lazy\"></iframe>",
            p = crate::report::TXN_ANOMALIES
        );
    }

    if let Some(h) = history {
        let a = Analysis::of(h);
        b.push_str("<h2 id=\"faults\">Faults</h2>");
        if a.faults.is_empty() {
            b.push_str("<p>No faults were injected.</p>");
        } else {
            b.push_str("<table><tr><th>fault</th><th>from</th><th>to</th><th>what</th></tr>");
            for f in &a.faults {
                let rel = |t: u64| human_ns(t.saturating_sub(a.first_time));
                let _ = write!(
                    b,
                    "<tr class=\"fault\"><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                    escape(&f.fault),
                    rel(f.start),
                    f.end.map_or("end".into(), rel),
                    escape(&if f.value.is_null() { String::new() } else { f.value.to_string() })
                );
            }
            b.push_str("</table>");
        }
        b.push_str("<h2 id=\"latency\">Latency of ok ops</h2>");
        let rows = latency_by_f(&a);
        if rows.is_empty() {
            b.push_str("<p>No client operations.</p>");
        } else {
            b.push_str("<table><tr><th>f</th><th class=\"num\">ok</th><th class=\"num\">fail</th><th class=\"num\">info</th><th class=\"num\">open</th><th class=\"num\">p50</th><th class=\"num\">p90</th><th class=\"num\">p99</th><th class=\"num\">max</th></tr>");
            let q = |v: Option<u64>| v.map_or("-".into(), human_ns);
            for r in rows {
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                    escape(&r.f), r.ok, r.fail, r.info, r.open, q(r.p50), q(r.p90), q(r.p99), q(r.max)
                );
            }
            b.push_str("</table>");
        }
    }

    // Plots and the timeline are made on the fly by the server when a run
    // lacks them, so they are linked whenever there is a history.
    let has_history = has("history.jsonl");
    if has_history {
        let bank = if has(crate::report::bank::FILE) {
            format!(
                "<p><img class=\"plot\" id=\"bank-plot\" alt=\"bank totals\" src=\"{files_url}/{}\"></p>",
                crate::report::bank::FILE
            )
        } else {
            String::new()
        };
        let _ = write!(
            b,
            "<h2 id=\"plots\">Plots</h2>\
             <p><img class=\"plot\" id=\"latency-plot\" alt=\"latency\" src=\"{files_url}/{LATENCY}\"></p>\
             <p><img class=\"plot\" id=\"rate-plot\" alt=\"rate\" src=\"{files_url}/{RATE}\"></p>{bank}\
             <h2 id=\"timeline\">Timeline</h2>\
             <p><a href=\"{files_url}/{TIMELINE}\">open the timeline on its own page</a></p>\
             <iframe class=\"timeline\" src=\"{files_url}/{TIMELINE}\" loading=\"lazy\"></iframe>"
        );
    }

    let logs: Vec<&(String, u64)> = files
        .iter()
        .filter(|(p, _)| p.starts_with("nodes/"))
        .collect();
    b.push_str("<h2 id=\"logs\">Node logs</h2>");
    if logs.is_empty() {
        b.push_str("<p>No node logs.</p>");
    } else {
        b.push_str("<ul class=\"logs\">");
        for (p, size) in logs {
            let _ = write!(
                b,
                "<li><a href=\"{files_url}/{}\">{}</a> <span class=\"muted\">{}</span></li>",
                url_path(p),
                escape(p),
                store::human_size(*size)
            );
        }
        b.push_str("</ul>");
    }

    b.push_str("<h2 id=\"files\">Files</h2><table class=\"files\">");
    for (p, size) in files {
        let _ = write!(
            b,
            "<tr><td><a href=\"{files_url}/{}\">{}</a></td><td class=\"num\">{}</td></tr>",
            url_path(p),
            escape(p),
            store::human_size(*size)
        );
    }
    b.push_str("</table>\n");
    layout(&id, &b)
}

pub fn not_found_page(what: &str) -> String {
    layout(
        "not found",
        &format!(
            "<h1>Not found</h1><p id=\"not-found\">{}</p><p><a href=\"/\">all runs</a></p>",
            escape(what)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_paths_are_encoded() {
        assert_eq!(url_path("a b/c?d"), "a%20b/c%3Fd");
        assert_eq!(url_path("reg/20260101T000000"), "reg/20260101T000000");
    }
}
