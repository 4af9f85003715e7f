//! `timeline.html`: every client op as a bar in its process's lane across time,
//! coloured by outcome, with the nemesis's fault periods shaded behind.
//!
//! The page is self-contained: the ops are embedded as compact column arrays
//! of integers and drawn to a canvas by `timeline.js`, which only draws what is
//! in view and skips bars that would land on an already painted pixel, so it
//! stays fast at 100k ops. Processes that retire after an `info` hand their
//! lane to the next process, so lanes are the client workers, not process ids.

use super::html::{escape, script_json};
use super::ops::{blamed_ops, human_ns, Analysis, FaultPeriod, Outcome, Span};
use faultline_checkers::anomaly::describe_fault;
use faultline_checkers::{History, Results};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fmt::Write;

const SCRIPT: &str = include_str!("timeline.js");
const STYLE: &str = include_str!("timeline.css");

/// The longest description shown for one op.
const MAX_DESC: usize = 80;

/// Renders the whole page. `title` names the run.
pub fn render(title: &str, history: &History, results: Option<&Results>) -> String {
    let analysis = Analysis::of(history);
    let blamed = results.map(blamed_ops).unwrap_or_default();
    let data = data_json(&analysis, &blamed);
    let mut page = String::with_capacity(data.len() + SCRIPT.len() + 8192);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>timeline · {t}</title><style>{STYLE}</style></head><body>\
         <header><h1>Timeline · {t}</h1>{summary}</header>\n",
        t = escape(title),
        summary = summary_html(&analysis, results),
    );
    if analysis.spans.is_empty() {
        page.push_str(
            "<p id=\"empty\" class=\"empty\">This history has no client operations.</p>\n",
        );
    }
    page.push_str(
        "<div id=\"controls\"><button id=\"zoom-in\" title=\"zoom in (+)\">+</button>\
         <button id=\"zoom-out\" title=\"zoom out (-)\">−</button>\
         <button id=\"reset\" title=\"show everything (0)\">all</button>\
         <button id=\"goto-failure\" hidden>go to failing op</button>\
         <span class=\"hint\">wheel: zoom · drag: pan · hover: op details · click: pin</span>\
         <span id=\"status\"></span></div>\n\
         <div id=\"legend\"></div>\
         <div id=\"view\"><canvas id=\"timeline\"></canvas><div id=\"tip\" hidden></div></div>\n\
         <pre id=\"pinned\"></pre>\n",
    );
    page.push_str(&faults_html(&analysis));
    page.push_str(&blamed_html(&analysis, &blamed));
    let _ = write!(
        page,
        "<script type=\"application/json\" id=\"data\">{}</script>\n<script>{SCRIPT}</script>\n</body></html>\n",
        script_json(&data)
    );
    page
}

fn summary_html(a: &Analysis<'_>, results: Option<&Results>) -> String {
    let mut s = format!(
        "<p class=\"summary\">{} client ops ({} ok, {} fail, {} info, {} open) over {}; {} fault periods",
        a.spans.len(),
        a.count(Outcome::Ok),
        a.count(Outcome::Fail),
        a.count(Outcome::Info),
        a.count(Outcome::Open),
        human_ns(a.last_time - a.first_time),
        a.faults.len(),
    );
    if let Some(r) = results {
        let _ = write!(
            s,
            "; verdict <b class=\"verdict {v}\">{v}</b>",
            v = r.verdict
        );
        // The page next to this one (report::write_all writes both).
        if super::invalid_txn_check(r).is_some() {
            let _ = write!(
                s,
                " · <a id=\"txn-anomalies-link\" href=\"{}\">transaction anomalies, drawn</a>",
                super::TXN_ANOMALIES
            );
        }
    }
    s.push_str("</p>");
    s
}

fn faults_html(a: &Analysis<'_>) -> String {
    let mut s = String::from("<section id=\"faults\"><h2>Fault periods</h2>");
    if a.faults.is_empty() {
        s.push_str("<p>No faults were injected.</p></section>\n");
        return s;
    }
    s.push_str(
        "<table><tr><th>fault</th><th>from</th><th>to</th><th>length</th><th>what</th><th>in words</th></tr>",
    );
    for f in &a.faults {
        let rel = |t: u64| human_ns(t - a.first_time);
        let (to, len) = match f.end {
            Some(e) => (rel(e), human_ns(e - f.start)),
            None => ("end".into(), human_ns(a.last_time - f.start)),
        };
        let _ = write!(
            s,
            "<tr class=\"fault\"><td>{}</td><td>{}</td><td>{to}</td><td>{len}</td><td><code>{}</code></td><td>{}</td></tr>",
            escape(&f.fault),
            rel(f.start),
            escape(&compact(&f.value)),
            escape(&fault_in_words(f)),
        );
    }
    s.push_str("</table></section>\n");
    s
}

/// A fault period in words: what its value means (a partition's
/// `{"n1": ["n4"]}` is "n1 drops what n4 sends", said as the groups it cut).
fn fault_in_words(f: &FaultPeriod) -> String {
    let phrase = describe_fault(&f.fault, &f.value);
    let phrase = phrase
        .strip_prefix("during ")
        .or_else(|| phrase.strip_prefix("while "))
        .unwrap_or(&phrase);
    match f.fault.as_str() {
        "partition" => {
            format!("{phrase}; a node listed as a key drops what the nodes in its list send")
        }
        _ => phrase.to_string(),
    }
}

fn blamed_html(a: &Analysis<'_>, blamed: &[u64]) -> String {
    if blamed.is_empty() {
        return String::new();
    }
    let by_index: HashMap<u64, &Span<'_>> = a
        .spans
        .iter()
        .flat_map(|s| {
            std::iter::once((s.invoke.index, s)).chain(s.completion.map(|c| (c.index, s)))
        })
        .collect();
    let mut s = String::from("<section id=\"failing\"><h2>Failing ops</h2><ul>");
    for i in blamed {
        match by_index.get(i) {
            Some(span) => {
                let _ = write!(
                    s,
                    "<li class=\"failing-op\">op {} · process {} · {} {} · {}</li>",
                    span.invoke.index,
                    span.invoke.process,
                    escape(&span.invoke.f),
                    escape(&describe(span)),
                    span.outcome.name()
                );
            }
            None => {
                let _ = write!(s, "<li class=\"failing-op\">op {i}</li>");
            }
        }
    }
    s.push_str("</ul></section>\n");
    s
}

/// The embedded data: column arrays, one entry an op, times in `unit` ns
/// from the start of the history.
fn data_json(a: &Analysis<'_>, blamed: &[u64]) -> String {
    let span = a.last_time - a.first_time;
    let mut unit: u64 = 1;
    while span / unit > 10_000_000 {
        unit *= 10;
    }
    let rel = |t: u64| (t - a.first_time) / unit;
    let fns = a.functions();
    let f_of: HashMap<&str, usize> = fns.iter().enumerate().map(|(i, f)| (*f, i)).collect();
    let (lane_of, lanes) = lanes(a);
    let n = a.spans.len();
    let (mut lane, mut start, mut dur, mut out, mut f, mut idx, mut proc, mut desc) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for s in &a.spans {
        lane.push(lane_of[&s.process()]);
        start.push(rel(s.start()));
        // -1: open until the end.
        dur.push(s.end().map_or(-1, |e| (rel(e) - rel(s.start())) as i64));
        out.push(s.outcome as u8);
        f.push(f_of[s.invoke.f.as_str()]);
        idx.push(s.invoke.index);
        proc.push(s.process());
        desc.push(describe(s));
    }
    let faults: Vec<Value> = a
        .faults
        .iter()
        .map(|p| {
            json!({
                "kind": p.fault,
                "start": rel(p.start),
                "end": p.end.map(rel),
                "what": compact(&p.value),
                "words": fault_in_words(p),
            })
        })
        .collect();
    json!({
        "unit": unit,
        "end": rel(a.last_time),
        "fns": fns,
        "lanes": lanes,
        "outcomes": Outcome::ALL.iter().map(|o| o.name()).collect::<Vec<_>>(),
        "lane": lane,
        "start": start,
        "dur": dur,
        "out": out,
        "f": f,
        "idx": idx,
        "proc": proc,
        "desc": desc,
        "faults": faults,
        "blamed": blamed,
    })
    .to_string()
}

/// Assigns each process a lane. A lane is reused by a process that starts
/// after the lane's previous process has finished for good (retired after an
/// `info`), so a worker's successive processes share one lane.
/// Returns the lane of each process and the processes of each lane.
fn lanes(a: &Analysis<'_>) -> (HashMap<u64, usize>, Vec<Vec<u64>>) {
    // (first start, last end) of each process; an open op never ends.
    let mut extent: HashMap<u64, (u64, u64)> = HashMap::new();
    let mut order = Vec::new();
    for s in &a.spans {
        let end = s.end().unwrap_or(u64::MAX);
        extent
            .entry(s.process())
            .and_modify(|e| e.1 = e.1.max(end))
            .or_insert_with(|| {
                order.push(s.process());
                (s.start(), end)
            });
    }
    let mut lane_of = HashMap::new();
    let mut lanes: Vec<Vec<u64>> = Vec::new();
    let mut lane_free_at: Vec<u64> = Vec::new();
    for p in order {
        let (first, last) = extent[&p];
        let lane = match lane_free_at.iter().position(|&free| free < first) {
            Some(l) => l,
            None => {
                lanes.push(Vec::new());
                lane_free_at.push(0);
                lanes.len() - 1
            }
        };
        lanes[lane].push(p);
        lane_free_at[lane] = last;
        lane_of.insert(p, lane);
    }
    (lane_of, lanes)
}

/// A short description of an op: key, argument, result, error.
pub(crate) fn describe(s: &Span<'_>) -> String {
    let mut d = String::new();
    if let Some(k) = &s.invoke.key {
        let _ = write!(d, "[{k}] ");
    }
    if !s.invoke.value.is_null() {
        d.push_str(&compact(&s.invoke.value));
    }
    if let Some(c) = s.completion {
        if !c.value.is_null() && c.value != s.invoke.value {
            let _ = write!(d, " → {}", compact(&c.value));
        }
        if let Some(e) = &c.error {
            let _ = write!(d, " ({e})");
        }
    }
    let d = d.trim().to_string();
    if d.chars().count() > MAX_DESC {
        let cut: String = d.chars().take(MAX_DESC).collect();
        format!("{cut}…")
    } else {
        d
    }
}

fn compact(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ops::tests::op;
    use faultline_checkers::{OpType::*, Process::*};

    #[test]
    fn retired_processes_hand_their_lane_on() {
        let h = History::new(vec![
            op(0, 0, Invoke, Client(0), "read"),
            op(1, 0, Invoke, Client(1), "read"),
            op(2, 10, Info, Client(0), "read"),
            op(3, 20, Invoke, Client(2), "read"),
            op(4, 30, Ok, Client(1), "read"),
            op(5, 30, Ok, Client(2), "read"),
        ]);
        let a = Analysis::of(&h);
        let (lane_of, lanes) = lanes(&a);
        assert_eq!(lanes, vec![vec![0, 2], vec![1]]);
        assert_eq!(lane_of[&2], 0);
    }

    #[test]
    fn data_is_column_arrays() {
        let mut ops = vec![
            op(0, 1000, Invoke, Client(0), "write"),
            op(1, 3000, Ok, Client(0), "write"),
            op(2, 4000, Invoke, Client(1), "read"),
        ];
        ops[0].value = json!(5);
        let h = History::new(ops);
        let data: Value = serde_json::from_str(&data_json(&Analysis::of(&h), &[2])).unwrap();
        assert_eq!(data["start"], json!([0, 3000]));
        assert_eq!(data["dur"], json!([2000, -1]));
        assert_eq!(data["out"], json!([0, 3]));
        assert_eq!(data["desc"], json!(["5", ""]));
        assert_eq!(data["blamed"], json!([2]));
        assert_eq!(data["fns"], json!(["write", "read"]));
    }
}
