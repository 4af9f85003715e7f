//! The page of a transactional check's anomalies, for people: each cycle
//! drawn as an inline SVG (transactions as nodes, dependencies as labelled
//! arrows), each edge explained in one line, and the ops of each
//! transaction listed. Only the examples the check kept are shown (a few per
//! type); the rest are counted.

use super::html::escape;
use super::TxnEvidence;
use crate::history::{History, Op, OpType};
use crate::verdict::{CheckResult, Verdict};
use rustc_hash::FxHashMap;
use serde_json::Value;
use std::f64::consts::PI;
use std::fmt::Write;

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:80em}\
h1{font-size:1.3em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd}\
h3{font-size:1em;margin-top:1.2em}.bad{color:#b00}.muted{color:#666}\
table{border-collapse:collapse;font-size:.85em;margin:.4em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}\
th{background:#f3f3f3}code{font-size:.9em}ol.steps li{margin:.15em 0}\
.anomaly{margin:1em 0 2em 0}svg.cycle{border:1px solid #eee;background:#fcfcfc}\
.legend span{display:inline-block;width:1.4em;height:.25em;margin:0 .3em 0 1em;vertical-align:middle}";

/// Edge colours by dependency type.
fn edge_color(kind: &str) -> &'static str {
    match kind {
        "ww" => "#c0392b",
        "wr" => "#2471a3",
        "rw" => "#d68910",
        "process" => "#7d3c98",
        "realtime" => "#1e8449",
        _ => "#555",
    }
}

const EDGE_KINDS: [(&str, &str); 5] = [
    (
        "ww",
        "write-write: the second overwrote (or appended after) the first",
    ),
    ("wr", "write-read: the second read what the first wrote"),
    (
        "rw",
        "read-write: the second overwrote what the first read (anti-dependency)",
    ),
    ("process", "same process, one after the other"),
    (
        "realtime",
        "the first completed before the second was invoked",
    ),
];

/// A transaction's lines in the history: its invocation and completion.
struct TxnOps<'h> {
    invoke: &'h Op,
    completion: Option<&'h Op>,
}

/// Finds each wanted invocation and its process's next completion.
fn txn_ops<'h>(history: &'h History, wanted: &[u64]) -> FxHashMap<u64, TxnOps<'h>> {
    let mut out = FxHashMap::default();
    let pos: FxHashMap<u64, usize> = history
        .ops
        .iter()
        .enumerate()
        .map(|(p, o)| (o.index, p))
        .collect();
    for &i in wanted {
        let Some(&p) = pos.get(&i) else { continue };
        let invoke = &history.ops[p];
        let completion = history.ops[p + 1..]
            .iter()
            .find(|o| o.process == invoke.process && o.kind != OpType::Invoke);
        out.insert(i, TxnOps { invoke, completion });
    }
    out
}

/// A page for `result` (a transactional check) over `history`.
pub fn render_txn_html(result: &CheckResult, history: &History) -> String {
    let mut page = String::new();
    write!(
        page,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{c} anomalies</title>\
         <style>{STYLE}</style></head><body><h1>{c}: <span class=\"{cls}\">{v}</span></h1><p>{s}</p>",
        c = escape(&result.checker),
        cls = if result.verdict == Verdict::Invalid { "bad" } else { "" },
        v = result.verdict,
        s = escape(&result.summary),
    )
    .unwrap();
    if let Some(first) = &result.first_anomaly {
        write!(page, "<p>First anomaly: {}</p>", escape(&first.explanation)).unwrap();
    }
    let Some(e) = result.details.txn() else {
        page.push_str("<p>No transactional evidence in this result.</p></body></html>\n");
        return page;
    };
    models(&mut page, e);
    page.push_str("<p class=\"legend\">Edges:");
    for (kind, what) in EDGE_KINDS {
        write!(
            page,
            "<span style=\"background:{}\"></span><b>{kind}</b> <span class=\"muted\" style=\"width:auto;height:auto;margin:0\">{}</span>",
            edge_color(kind),
            escape(what)
        )
        .unwrap();
    }
    page.push_str("</p>");
    let empty = serde_json::Map::new();
    let by_type = e.anomalies.as_object().unwrap_or(&empty);
    let wanted: Vec<u64> = by_type
        .values()
        .flat_map(|l| l.as_array().into_iter().flatten())
        .flat_map(|a| a["ops"].as_array().into_iter().flatten())
        .filter_map(Value::as_u64)
        .collect();
    let ops = txn_ops(history, &wanted);
    page.push_str("<nav><p>Anomalies: ");
    for (kind, list) in by_type {
        let n = e.anomaly_counts[kind].as_u64().unwrap_or(0);
        let shown = list.as_array().map_or(0, Vec::len);
        write!(
            page,
            "<a href=\"#{k}\">{k}</a> ({n} found, {shown} shown) ",
            k = escape(kind)
        )
        .unwrap();
    }
    page.push_str("</p></nav>");
    for (kind, list) in by_type {
        let examples = list.as_array().map(Vec::as_slice).unwrap_or(&[]);
        let n = e.anomaly_counts[kind]
            .as_u64()
            .unwrap_or(examples.len() as u64);
        write!(
            page,
            "<h2 id=\"{k}\">{k}</h2><p class=\"muted\">{n} found; {} shown{}.</p>",
            examples.len(),
            if n > examples.len() as u64 {
                format!(", {} more not shown", n - examples.len() as u64)
            } else {
                String::new()
            },
            k = escape(kind)
        )
        .unwrap();
        for (i, a) in examples.iter().enumerate() {
            anomaly(&mut page, kind, i + 1, a, &ops);
        }
    }
    page.push_str("</body></html>\n");
    page
}

fn models(page: &mut String, e: &TxnEvidence) {
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    write!(
        page,
        "<table><tr><th>workload</th><td>{}</td></tr><tr><th>checked for</th><td>{}</td></tr>\
         <tr><th>ruled out</th><td>{} (and stronger: {})</td></tr>\
         <tr><th>txns</th><td>{} ({} ok, {} fail, {} info); {} edges</td></tr></table>",
        escape(&e.workload),
        escape(&list(&e.consistency_models)),
        escape(&list(&e.not)),
        escape(&list(&e.also_not)),
        e.stats.txns,
        e.stats.ok,
        e.stats.fail,
        e.stats.info,
        e.stats.edges
    )
    .unwrap();
}

/// One example: the drawing (for a cycle), the explanation, the txns' ops.
fn anomaly(page: &mut String, kind: &str, n: usize, a: &Value, ops: &FxHashMap<u64, TxnOps<'_>>) {
    write!(
        page,
        "<div class=\"anomaly\" data-type=\"{}\"><h3>{} #{n}</h3>",
        escape(kind),
        escape(kind)
    )
    .unwrap();
    let steps: Vec<(u64, u64, &str)> = a["cycle"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["from"].as_u64()?, s["to"].as_u64()?, s["type"].as_str()?)))
        .collect();
    if !steps.is_empty() {
        cycle_svg(page, &steps, ops);
    }
    page.push_str("<ol class=\"steps\">");
    for line in a["explanation"].as_array().into_iter().flatten() {
        write!(
            page,
            "<li>{}</li>",
            escape(line.as_str().unwrap_or_default())
        )
        .unwrap();
    }
    page.push_str("</ol><table><tr><th>txn</th><th>process</th><th>invoked</th><th>completed</th><th>micro-ops</th></tr>");
    for i in a["ops"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
    {
        let Some(t) = ops.get(&i) else {
            write!(
                page,
                "<tr><td>T{i}</td><td colspan=\"4\">not in the history</td></tr>"
            )
            .unwrap();
            continue;
        };
        let (done, value) = match t.completion {
            Some(c) => (
                format!("{} (op {}, {:.3} s)", c.kind, c.index, c.time as f64 / 1e9),
                &c.value,
            ),
            None => ("never".into(), &t.invoke.value),
        };
        write!(
            page,
            "<tr><td>T{i}</td><td>{}</td><td>op {} at {:.3} s</td><td>{}</td><td><code>{}</code></td></tr>",
            escape(&t.invoke.process.to_string()),
            t.invoke.index,
            t.invoke.time as f64 / 1e9,
            escape(&done),
            escape(&mops_text(value))
        )
        .unwrap();
    }
    page.push_str("</table></div>");
}

/// Micro-ops as `append x 1, r y [1]`.
fn mops_text(value: &Value) -> String {
    match value.as_array() {
        Some(list) => list
            .iter()
            .map(|m| match m.as_array() {
                Some(parts) => parts
                    .iter()
                    .map(|p| match p {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                None => m.to_string(),
            })
            .collect::<Vec<_>>()
            .join(", "),
        None => value.to_string(),
    }
}

/// The cycle drawn: its txns on a circle, in cycle order clockwise, each
/// step an arrow bent to its left (so two opposite arrows between the same
/// pair stay apart), labelled with its dependency type.
fn cycle_svg(page: &mut String, steps: &[(u64, u64, &str)], ops: &FxHashMap<u64, TxnOps<'_>>) {
    let mut nodes: Vec<u64> = Vec::new();
    for &(from, to, _) in steps {
        for t in [from, to] {
            if !nodes.contains(&t) {
                nodes.push(t);
            }
        }
    }
    let n = nodes.len() as f64;
    let (node_r, radius) = (24.0, (n * 34.0).max(90.0));
    let size = 2.0 * (radius + node_r + 40.0);
    let c = size / 2.0;
    let at = |t: u64| {
        let k = nodes.iter().position(|&x| x == t).unwrap_or(0) as f64;
        let angle = -PI / 2.0 + 2.0 * PI * k / n;
        (c + radius * angle.cos(), c + radius * angle.sin())
    };
    write!(
        page,
        "<svg class=\"cycle\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{size:.0}\" height=\"{size:.0}\" \
         viewBox=\"0 0 {size:.0} {size:.0}\" font-family=\"sans-serif\" font-size=\"12\"><defs>"
    )
    .unwrap();
    for (kind, _) in EDGE_KINDS {
        write!(
            page,
            "<marker id=\"arrow-{kind}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">\
             <path d=\"M0,0 L10,5 L0,10 z\" fill=\"{}\"/></marker>",
            edge_color(kind)
        )
        .unwrap();
    }
    page.push_str("</defs>");
    for &(from, to, kind) in steps {
        let ((x0, y0), (x1, y1)) = (at(from), at(to));
        let (dx, dy) = (x1 - x0, y1 - y0);
        let len = (dx * dx + dy * dy).sqrt().max(1.0);
        let (ux, uy) = (dx / len, dy / len);
        // Start and end on the node circles; bend to the left of travel.
        let (sx, sy) = (x0 + ux * node_r, y0 + uy * node_r);
        let (ex, ey) = (x1 - ux * (node_r + 2.0), y1 - uy * (node_r + 2.0));
        let bend = 0.18 * len;
        let (cx, cy) = ((sx + ex) / 2.0 + uy * bend, (sy + ey) / 2.0 - ux * bend);
        let (lx, ly) = (
            0.25 * sx + 0.5 * cx + 0.25 * ex,
            0.25 * sy + 0.5 * cy + 0.25 * ey,
        );
        let color = edge_color(kind);
        let marker = if EDGE_KINDS.iter().any(|(k, _)| *k == kind) {
            format!(" marker-end=\"url(#arrow-{kind})\"")
        } else {
            String::new()
        };
        write!(
            page,
            "<g class=\"edge\" data-type=\"{k}\"><title>T{from} -&gt; T{to} ({k})</title>\
             <path d=\"M{sx:.1},{sy:.1} Q{cx:.1},{cy:.1} {ex:.1},{ey:.1}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"{marker}/>\
             <text x=\"{lx:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{color}\" font-weight=\"bold\" \
             paint-order=\"stroke\" stroke=\"#fcfcfc\" stroke-width=\"3\">{k}</text></g>",
            ly + 4.0,
            k = escape(kind),
        )
        .unwrap();
    }
    for &t in &nodes {
        let (x, y) = at(t);
        let tip = ops
            .get(&t)
            .map(|o| mops_text(&o.completion.unwrap_or(o.invoke).value))
            .unwrap_or_default();
        write!(
            page,
            "<g class=\"txn\"><title>T{t}: {}</title><circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{node_r}\" fill=\"#fff\" stroke=\"#333\" stroke-width=\"1.5\"/>\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">T{t}</text></g>",
            escape(&tip),
            y + 4.0
        )
        .unwrap();
    }
    page.push_str("</svg>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Process;
    use crate::registry::{check, CheckerKind, Options};
    use serde_json::json;

    /// G1c: each txn read the other's append.
    fn g1c() -> History {
        let rows = [
            (
                0,
                OpType::Invoke,
                json!([["append", "x", 1], ["r", "y", null]]),
            ),
            (
                1,
                OpType::Invoke,
                json!([["append", "y", 1], ["r", "x", null]]),
            ),
            (0, OpType::Ok, json!([["append", "x", 1], ["r", "y", [1]]])),
            (1, OpType::Ok, json!([["append", "y", 1], ["r", "x", [1]]])),
        ];
        History::new(
            rows.into_iter()
                .enumerate()
                .map(|(i, (p, kind, value))| Op {
                    index: i as u64,
                    time: i as u64 * 1000,
                    kind,
                    process: Process::Client(p),
                    f: "txn".into(),
                    key: None,
                    value,
                    error: None,
                    node: None,
                })
                .collect(),
        )
    }

    #[test]
    fn a_cycle_is_drawn_explained_and_its_txns_listed() {
        let h = g1c();
        let r = check(CheckerKind::ListAppend, &h, &Options::default()).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid);
        let page = render_txn_html(&r, &h);
        assert!(page.starts_with("<!doctype html>"));
        assert!(page.contains("<h2 id=\"G1c\">G1c</h2>"), "{page}");
        assert_eq!(page.matches("<g class=\"txn\">").count(), 2, "{page}");
        assert_eq!(
            page.matches("<g class=\"edge\" data-type=\"wr\">").count(),
            2
        );
        assert!(page.contains("T0 appended 1 to x; T1 read x = [1], so T0 -&gt; T1 (wr)"));
        assert!(page.contains("<code>append y 1, r x [1]</code>"), "{page}");
    }

    #[test]
    fn examples_beyond_the_cap_are_counted() {
        let mut r = check(CheckerKind::ListAppend, &g1c(), &Options::default()).unwrap();
        let Some(crate::evidence::CheckerEvidence::Txn(e)) = (match &mut r.details {
            crate::Evidence::Checker(c) => Some(c),
            _ => None,
        }) else {
            panic!("txn evidence")
        };
        e.anomaly_counts["G1c"] = json!(5);
        let page = render_txn_html(&r, &g1c());
        assert!(
            page.contains("5 found; 1 shown, 4 more not shown."),
            "{page}"
        );
    }
}
