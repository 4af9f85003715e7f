//! Evidence for a linearizability result, for people: plain text for the
//! terminal and a self-contained HTML page.
//!
//! Both show a window around the failure (the op that cannot be placed, the
//! end of the longest linearizable prefix with its states, and the ops
//! concurrent with it), never the whole history, so they stay small and fast
//! on histories of any length.

use super::html::escape;
use super::{CallView, CheckerEvidence, Counterexample, Evidence};
use crate::history::History;
use crate::verdict::{CheckResult, Verdict};
use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::Value;
use std::fmt::Write;

fn op_line(op: &CallView) -> String {
    let mut s = format!(
        "op {:>6}  process {:<4} {} {}",
        op.index.to_string(),
        op.process.to_string(),
        op.f,
        compact(&op.value),
    );
    match op.outcome.as_str() {
        "ok" => write!(s, " -> {}", compact(&op.result)).unwrap(),
        other => write!(s, " -> ({other})").unwrap(),
    }
    if let Some(k) = &op.key {
        write!(s, "  [key {k}]").unwrap();
    }
    s
}

fn compact(v: &Value) -> String {
    const MAX: usize = 80;
    let s = v.to_string();
    if s.len() <= MAX {
        return s;
    }
    let mut cut = MAX;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...({} chars)", &s[..cut], s.len())
}

/// The result as plain text for a terminal: the summary, the first
/// anomaly, the blamed ops, and the checker's evidence.
pub fn render_text(result: &CheckResult) -> String {
    let mut out = format!(
        "{}: {}\n  {}\n",
        result.checker, result.verdict, result.summary
    );
    if let Some(txn) = result.details.txn() {
        // Transactional checks explain their anomalies in words already.
        for line in txn.explanation.lines() {
            writeln!(out, "  {line}").unwrap();
        }
    }
    if let Some(first) = &result.first_anomaly {
        writeln!(out, "  first anomaly: {}", first.explanation).unwrap();
    }
    if !result.blamed.is_empty() {
        let shown: Vec<String> = result.blamed.iter().take(20).map(u64::to_string).collect();
        let more = if result.blamed.len() > 20 {
            ", ..."
        } else {
            ""
        };
        writeln!(
            out,
            "  blamed ops ({}): {}{more}",
            result.blamed.len(),
            shown.join(", ")
        )
        .unwrap();
    }
    match &result.details {
        Evidence::Checker(CheckerEvidence::Linearizability(e)) => match &e.counterexample {
            Some(cx) if result.verdict == Verdict::Invalid => counterexample_text(&mut out, cx),
            _ => writeln!(out, "  states visited: {}", e.states_visited).unwrap(),
        },
        Evidence::Checker(CheckerEvidence::Set(e)) if result.verdict == Verdict::Invalid => {
            let sets: Vec<(&str, &super::SetEvidence)> = if e.keys.is_empty() {
                vec![("", e)]
            } else {
                e.keys.iter().map(|(k, v)| (k.as_str(), v)).collect()
            };
            for (key, set) in sets {
                for (what, els) in [
                    ("lost", &set.lost),
                    ("unexpected", &set.unexpected),
                    ("duplicated", &set.duplicated),
                    ("failed but present", &set.failed_but_present),
                ] {
                    if els.count > 0 {
                        let key = if key.is_empty() {
                            String::new()
                        } else {
                            format!(" [key {key}]")
                        };
                        let shown: Vec<String> = els.shown.iter().map(compact).collect();
                        writeln!(out, "  {what}{key} ({}): {}", els.count, shown.join(", "))
                            .unwrap();
                    }
                }
                set_acks_text(&mut out, set);
            }
        }
        Evidence::Checker(CheckerEvidence::Bank(e)) if result.verdict == Verdict::Invalid => {
            for (what, count, reads) in [
                ("wrong total", e.wrong_total_count, &e.wrong_totals),
                ("negative balance", e.negative_count, &e.negatives),
            ] {
                for r in reads.iter().take(5) {
                    writeln!(
                        out,
                        "  {what}: op {} (completed op {}, {:.3} s) read {} = {} of {}",
                        r.op,
                        r.completion,
                        r.time_ns as f64 / 1e9,
                        crate::bank::balances_text(&r.balances),
                        r.total,
                        e.total
                    )
                    .unwrap();
                }
                if count > 5 {
                    writeln!(out, "  ... {count} reads with a {what} in all").unwrap();
                }
            }
        }
        Evidence::Checker(CheckerEvidence::Queue(e)) if result.verdict == Verdict::Invalid => {
            for (what, items) in [
                ("lost", &e.lost),
                ("duplicated", &e.duplicated),
                ("unexpected", &e.unexpected),
            ] {
                for i in items.shown.iter().take(5) {
                    let ack = i
                        .ack
                        .map_or(String::new(), |a| format!(", acknowledged by op {a}"));
                    let enq = i
                        .enqueue
                        .map_or("never enqueued".into(), |e| format!("enqueue op {e}"));
                    writeln!(
                        out,
                        "  {what} {}: {enq}{ack}, taken by ops {:?}",
                        compact(&i.value),
                        i.taken_by
                    )
                    .unwrap();
                }
                if items.count > 5 {
                    writeln!(out, "  ... {} {what} in all", items.count).unwrap();
                }
            }
        }
        Evidence::Checker(CheckerEvidence::Lock(e)) if result.verdict == Verdict::Invalid => {
            for o in e.overlaps.iter().take(5) {
                writeln!(
                    out,
                    "  overlap on {:?}: {} (token {}, op {}) and {} (token {}, op {})",
                    o.key,
                    o.first.holder,
                    o.first.token,
                    o.first.op,
                    o.second.holder,
                    o.second.token,
                    o.second.op
                )
                .unwrap();
            }
            for a in e.token_anomalies.iter().take(5) {
                writeln!(
                    out,
                    "  token anomaly: {}",
                    compact(&serde_json::to_value(a).unwrap_or_default())
                )
                .unwrap();
            }
        }
        _ => {}
    }
    out
}

/// The acknowledgements of lost elements: by node, then the first few.
fn set_acks_text(out: &mut String, set: &super::SetEvidence) {
    if !set.lost_acked_by.is_empty() {
        let by: Vec<String> = set
            .lost_acked_by
            .iter()
            .map(|(node, n)| format!("{node}: {n}"))
            .collect();
        writeln!(out, "  lost, acknowledged by: {}", by.join(", ")).unwrap();
    }
    for a in set.lost_acks.iter().take(5) {
        let node = a
            .node
            .as_deref()
            .map_or(String::new(), |n| format!(" by {n}"));
        writeln!(
            out,
            "  lost {}: add op {}, acknowledged by op {} at {:.3} s{node}",
            compact(&a.element),
            a.invoke,
            a.ack,
            a.time_ns as f64 / 1e9
        )
        .unwrap();
    }
}

fn counterexample_text(out: &mut String, cx: &Counterexample) {
    if let Some(w) = &cx.witness {
        writeln!(
            out,
            "\n  Witness: these {} ops alone cannot be linearized (shrunk in {:.0} ms):",
            w.calls.len(),
            w.elapsed_ms
        )
        .unwrap();
        for op in &w.calls {
            writeln!(out, "    {}", op_line(op)).unwrap();
        }
    }
    writeln!(out, "\n  Cannot be placed:\n    {}", op_line(&cx.failed_op)).unwrap();
    writeln!(
        out,
        "\n  State after the longest linearizable prefix ({} ops): {}",
        cx.linearized.len(),
        compact(&cx.state)
    )
    .unwrap();
    writeln!(out, "\n  End of that prefix (op, then the state after it):").unwrap();
    for op in &cx.tail {
        let state = op.state.as_ref().map(compact).unwrap_or_default();
        writeln!(out, "    {}  => {state}", op_line(op)).unwrap();
    }
    writeln!(out, "\n  Ops concurrent with it ({}):", cx.concurrent.len()).unwrap();
    for op in &cx.concurrent {
        writeln!(out, "    {}", op_line(op)).unwrap();
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
h1{font-size:1.3em}h2{font-size:1.1em;margin-top:1.5em}\
table{border-collapse:collapse;font-size:.85em}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}\
th{background:#f3f3f3}code{font-size:.9em}.bad{color:#b00}\
.legend span{display:inline-block;width:1em;height:.8em;margin:0 .3em 0 1em;vertical-align:middle}\
.timeline{overflow-x:auto;max-width:100%}";

/// A self-contained HTML page: the verdict, a timeline of the ops around the
/// failure (one row per process), the end of the partial linearization with
/// its states, and the concurrent ops.
pub fn render_html(result: &CheckResult, history: &History) -> String {
    let mut page = String::new();
    write!(
        page,
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{} {}</title><style>{STYLE}</style></head><body>\
         <h1>{}: <span class=\"{}\">{}</span></h1><p>{}</p>",
        escape(&result.checker),
        result.verdict,
        escape(&result.checker),
        if result.verdict == Verdict::Invalid { "bad" } else { "" },
        result.verdict,
        escape(&result.summary)
    )
    .unwrap();
    if let Some(first) = &result.first_anomaly {
        write!(page, "<p>First anomaly: {}</p>", escape(&first.explanation)).unwrap();
    }
    let cx = result
        .details
        .linearizability()
        .and_then(|e| e.counterexample.as_ref());
    match cx {
        Some(cx) if result.verdict == Verdict::Invalid => invalid_sections(&mut page, cx, history),
        _ => write!(
            page,
            "<pre>{}</pre>",
            escape(&serde_json::to_string_pretty(&result.details).unwrap_or_default())
        )
        .unwrap(),
    }
    page.push_str("</body></html>\n");
    page
}

fn op_row(op: &CallView, extra: &str) -> String {
    format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td>{extra}</tr>",
        op.index,
        escape(&op.process.to_string()),
        escape(op.key.as_deref().unwrap_or("")),
        escape(&op.f),
        escape(&compact(&op.value)),
        escape(&compact(&op.result)),
        escape(&op.outcome),
    )
}

const HEAD: &str =
    "<tr><th>op</th><th>process</th><th>key</th><th>f</th><th>value</th><th>result</th><th>type</th>";

fn invalid_sections(page: &mut String, cx: &Counterexample, history: &History) {
    let failed = &cx.failed_op;
    let tail = &cx.tail;
    let concurrent = &cx.concurrent;
    let linearized = &cx.linearized;
    // Order of each linearized op, for labels; only the window's ops matter.
    let window: Vec<&CallView> = tail
        .iter()
        .chain(concurrent.iter())
        .chain(std::iter::once(failed))
        .collect();
    let window_ids: FxHashSet<u64> = window.iter().map(|o| o.index).collect();
    let order: FxHashMap<u64, usize> = linearized
        .iter()
        .enumerate()
        .filter(|(_, i)| window_ids.contains(i))
        .map(|(k, &i)| (i, k + 1))
        .collect();
    if let Some(w) = cx.witness.as_ref().filter(|w| !w.calls.is_empty()) {
        write!(
            page,
            "<h2>Witness</h2><p>These {} ops alone cannot be linearized (shrunk from the history in {:.0} ms); \
             the full evidence follows.</p>",
            w.calls.len(),
            w.elapsed_ms
        )
        .unwrap();
        let ops: Vec<&CallView> = w.calls.iter().collect();
        let last = ops
            .iter()
            .find(|o| o.index == failed.index)
            .unwrap_or(&ops[0]);
        timeline(
            page,
            "The witness",
            &ops,
            last,
            &FxHashMap::default(),
            history,
        );
        write!(page, "<table>{HEAD}</tr>").unwrap();
        for op in &ops {
            page.push_str(&op_row(op, ""));
        }
        page.push_str("</table><h2>Around the op that cannot be placed</h2>");
    }
    timeline(
        page,
        "Timeline around the failure",
        &window,
        failed,
        &order,
        history,
    );

    write!(
        page,
        "<h2>Cannot be placed</h2><table>{HEAD}</tr>{}</table>\
         <h2>State after the longest linearizable prefix ({} ops)</h2><pre>{}</pre>",
        op_row(failed, ""),
        linearized.len(),
        escape(&serde_json::to_string_pretty(&cx.state).unwrap_or_default())
    )
    .unwrap();
    write!(
        page,
        "<h2>End of the partial linearization</h2><table>{HEAD}<th>#</th><th>state after</th></tr>"
    )
    .unwrap();
    for op in tail {
        let n = order.get(&op.index).copied();
        let extra = format!(
            "<td>{}</td><td><code>{}</code></td>",
            n.map_or(String::new(), |n| n.to_string()),
            escape(&op.state.as_ref().map(compact).unwrap_or_default())
        );
        page.push_str(&op_row(op, &extra));
    }
    write!(
        page,
        "</table><h2>Concurrent ops ({})</h2><table>{HEAD}</tr>",
        concurrent.len()
    )
    .unwrap();
    for op in concurrent {
        page.push_str(&op_row(op, ""));
    }
    page.push_str("</table>");
}

/// Width of one character of the timeline's 11 px monospace labels.
const CHAR_W: f64 = 6.7;
/// A label's longest value text; the bar's tooltip has the whole op.
const LABEL_VALUE_CHARS: usize = 24;

/// The x of each event column of a timeline whose bars run from event
/// `start` to event `end` (`None`: to the right edge) and need `width`
/// pixels each for their labels: columns at least `gap` apart, each moved
/// right just enough that every bar ending there holds its label. One pass
/// in event order suffices, since a bar's start column comes before its end.
fn event_columns(events: usize, bars: &[(usize, Option<usize>, f64)], gap: f64) -> Vec<f64> {
    let mut ending: Vec<Vec<(usize, f64)>> = vec![Vec::new(); events];
    for &(start, end, width) in bars {
        if let Some(end) = end.filter(|&e| e < events) {
            ending[end].push((start, width));
        }
    }
    let mut x: Vec<f64> = Vec::with_capacity(events);
    for bars_ending in &ending {
        let mut at = x.last().map_or(0.0, |prev| prev + gap);
        for &(start, width) in bars_ending {
            // The bar is drawn to its end column plus most of a gap.
            at = at.max(x.get(start).copied().unwrap_or(at) + width - gap * 0.8);
        }
        x.push(at);
    }
    x
}

/// An SVG timeline: one row per process, a bar from each op's invocation to
/// its completion (to the right edge when it never completed). The x axis is
/// the order of events in the history, compressed to the window's events and
/// widened where a bar needs room for its label, so every label is whole.
fn timeline(
    page: &mut String,
    heading: &str,
    window: &[&CallView],
    failed: &CallView,
    order: &FxHashMap<u64, usize>,
    history: &History,
) {
    // History positions of the window's ops, found by op index.
    let wanted: FxHashSet<u64> = window
        .iter()
        .flat_map(|o| [Some(o.index), o.completion])
        .flatten()
        .collect();
    let pos: FxHashMap<u64, usize> = history
        .ops
        .iter()
        .enumerate()
        .filter(|(_, op)| wanted.contains(&op.index))
        .map(|(p, op)| (op.index, p))
        .collect();
    let mut events: Vec<usize> = pos.values().copied().collect();
    events.sort_unstable();
    events.dedup();
    let rank = |p: usize| events.binary_search(&p).unwrap_or(0);
    let mut rows: Vec<String> = window.iter().map(|o| o.process.to_string()).collect();
    rows.sort();
    rows.dedup();
    // Each op drawn once: its label, start and end columns.
    let mut drawn = FxHashSet::default();
    let bars: Vec<(&CallView, String, usize, Option<usize>)> = window
        .iter()
        .filter(|op| drawn.insert(op.index))
        .filter_map(|op| {
            let start = rank(*pos.get(&op.index)?);
            let end = op.completion.and_then(|c| pos.get(&c)).map(|&e| rank(e));
            // A read says what it returned; other ops what they were given.
            let said = if op.value.is_null() && op.outcome == "ok" {
                format!("-> {}", compact(&op.result))
            } else {
                compact(&op.value)
            };
            let said = if said.chars().count() > LABEL_VALUE_CHARS {
                said.chars().take(LABEL_VALUE_CHARS - 1).collect::<String>() + "…"
            } else {
                said
            };
            let label = format!(
                "{}{} {said}",
                order
                    .get(&op.index)
                    .map_or(String::new(), |n| format!("#{n} ")),
                op.f,
            );
            Some((*op, label, start, end))
        })
        .collect();
    let (left, row_h) = (70.0, 22.0);
    let gap = 14.0_f64.max(900.0 / events.len().max(1) as f64);
    let spans: Vec<(usize, Option<usize>, f64)> = bars
        .iter()
        .map(|(_, label, start, end)| (*start, *end, label.chars().count() as f64 * CHAR_W + 8.0))
        .collect();
    let columns = event_columns(events.len(), &spans, gap);
    let column = |e: usize| left + columns.get(e).copied().unwrap_or(0.0);
    // Open bars run to the right edge: leave room for their labels too.
    let open_room = spans
        .iter()
        .filter(|(_, end, _)| end.is_none())
        .map(|&(start, _, w)| column(start) + w)
        .fold(0.0, f64::max);
    let width = (column(events.len().saturating_sub(1)) + gap * 2.0).max(open_room + 4.0);
    let height = row_h * rows.len() as f64 + 30.0;
    write!(
        page,
        "<h2>{heading}</h2><p class=\"legend\"><span style=\"background:#4a4\"></span>linearized (#order)\
         <span style=\"background:#d33\"></span>cannot be placed<span style=\"background:#999\"></span>other concurrent op\
         <span style=\"background:#fff;border:1px dashed #555\"></span>no completion (info/open)</p>\
         <div class=\"timeline\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" font-size=\"11\" font-family=\"monospace\">"
    )
    .unwrap();
    for (r, name) in rows.iter().enumerate() {
        let y = 20.0 + r as f64 * row_h;
        write!(
            page,
            "<text x=\"2\" y=\"{:.0}\">p {}</text><line x1=\"{left}\" x2=\"{width:.0}\" y1=\"{:.0}\" y2=\"{:.0}\" stroke=\"#eee\"/>",
            y + 12.0,
            escape(name),
            y + row_h - 2.0,
            y + row_h - 2.0
        )
        .unwrap();
    }
    for (op, label, start, end) in &bars {
        let row = rows.binary_search(&op.process.to_string()).unwrap_or(0);
        let x0 = column(*start);
        let x1 = end.map_or(width - 2.0, |e| column(e) + gap * 0.8);
        let y = 20.0 + row as f64 * row_h;
        let n = order.get(&op.index);
        let fill = if op.index == failed.index {
            "#d33"
        } else if n.is_some() {
            "#4a4"
        } else {
            "#999"
        };
        // Open ops: a light dashed bar, labelled in dark text.
        let (dash, text) = if end.is_none() || op.outcome == "info" {
            (
                " stroke=\"#555\" stroke-dasharray=\"3 2\" fill-opacity=\"0.35\"",
                "#222",
            )
        } else {
            ("", "#fff")
        };
        write!(
            page,
            "<g><title>{}</title><rect x=\"{x0:.1}\" y=\"{y:.0}\" width=\"{:.1}\" height=\"{:.0}\" rx=\"3\" fill=\"{fill}\"{dash}/>\
             <text x=\"{:.1}\" y=\"{:.0}\" fill=\"{text}\">{}</text></g>",
            escape(&op_line(op)),
            (x1 - x0).max(3.0),
            row_h - 6.0,
            x0 + 3.0,
            y + 12.0,
            escape(label)
        )
        .unwrap();
    }
    page.push_str("</svg></div>");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, OpType};
    use crate::linearizability::{check_named, Options};
    use serde_json::json;

    fn stale_read() -> History {
        let line = |i: u64, kind, p, f: &str, value| Op::client(i, kind, p, f, value);
        History::new(vec![
            line(0, OpType::Invoke, 1, "write", json!(1)),
            line(1, OpType::Ok, 1, "write", json!(1)),
            line(2, OpType::Invoke, 2, "read", Value::Null),
            line(3, OpType::Invoke, 1, "write", json!(3)),
            line(4, OpType::Ok, 2, "read", json!(0)),
            line(5, OpType::Info, 1, "write", json!(3)),
        ])
    }

    #[test]
    fn text_and_html_show_the_failure_window() {
        let h = stale_read();
        let r = check_named(&h, "register", Some(&json!(0)), &Options::default()).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid);
        let text = render_text(&r);
        assert!(text.contains("Cannot be placed"), "{text}");
        assert!(text.contains("op      2"), "{text}");
        assert!(text.contains("Ops concurrent with it (1)"), "{text}");
        let html = render_html(&r, &h);
        assert!(html.starts_with("<!doctype html>"));
        assert!(
            html.contains("<svg") && html.contains("#d33"),
            "failed op drawn in red"
        );
        assert!(html.contains("cannot be placed"));
    }

    /// Every bar of the SVG timeline is wide enough for its whole label.
    fn assert_labels_fit(html: &str) {
        let svg = &html[html.find("<svg").expect("a timeline")..];
        let mut bars = 0;
        for g in svg.split("<g>").skip(1) {
            let width: f64 = g
                .split("width=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let text = g.split("<text").nth(1).unwrap();
            let label = text[text.find('>').unwrap() + 1..]
                .split("</text>")
                .next()
                .unwrap();
            // Whole: the op's name and value as its tooltip has them.
            let title = g
                .split("<title>")
                .nth(1)
                .unwrap()
                .split("</title>")
                .next()
                .unwrap();
            let said = label
                .trim_start_matches(|c: char| c == '#' || c.is_ascii_digit())
                .trim_start();
            let (f, value) = said.split_once(' ').expect("a name and a value");
            // A read's label shows its result, others their input.
            let whole = match value.strip_prefix("-&gt; ") {
                Some(result) => format!(" {f} null -&gt; {result}"),
                None => format!(" {f} {value} "),
            };
            assert!(title.contains(&whole), "label {label:?} cut (op: {title})");
            let chars = label
                .replace("&quot;", "\"")
                .replace("&gt;", ">")
                .replace("&lt;", "<")
                .replace("&amp;", "&")
                .chars()
                .count();
            assert!(
                chars as f64 * CHAR_W + 3.0 <= width,
                "label {label:?} ({chars} chars) on a bar {width} px wide"
            );
            bars += 1;
        }
        assert!(bars > 0);
    }

    #[test]
    fn every_timeline_label_fits_its_bar() {
        // Many short ops among long-running ones: with one column an event,
        // each short op's bar would be one column wide and its "#79 write
        // 1234" label cut. Four clients write unique values and read them
        // back; one read at the end returns a value long overwritten.
        let mut ops = Vec::new();
        let mut i = 0;
        let mut push = |ops: &mut Vec<Op>, kind, p, f: &str, v| {
            ops.push(Op::client(i, kind, p, f, v));
            i += 1;
        };
        push(&mut ops, OpType::Invoke, 9, "write", json!(99_999));
        for round in 0..40_i64 {
            for p in 0..4 {
                push(
                    &mut ops,
                    OpType::Invoke,
                    p,
                    "write",
                    json!(1000 + round * 4 + p as i64),
                );
            }
            for p in 0..4 {
                push(
                    &mut ops,
                    OpType::Ok,
                    p,
                    "write",
                    json!(1000 + round * 4 + p as i64),
                );
            }
        }
        push(&mut ops, OpType::Invoke, 5, "read", Value::Null);
        push(&mut ops, OpType::Ok, 5, "read", json!(1000));
        let h = History::new(ops);
        let r = check_named(&h, "register", Some(&json!(0)), &Options::default()).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid, "{}", r.summary);
        let html = render_html(&r, &h);
        assert!(html.contains("#1"), "linearization order numbers shown");
        assert_labels_fit(&html);
    }

    #[test]
    fn columns_leave_room_for_each_label() {
        let bars = [
            (0, Some(1), 120.0),
            (1, Some(2), 10.0),
            (0, Some(3), 400.0),
            (2, None, 50.0),
        ];
        let x = event_columns(4, &bars, 14.0);
        for &(start, end, width) in &bars {
            if let Some(end) = end {
                assert!(x[end] + 14.0 * 0.8 - x[start] >= width - 1e-9, "{x:?}");
            }
        }
        assert!(x.windows(2).all(|w| w[1] - w[0] >= 14.0 - 1e-9), "{x:?}");
    }

    #[test]
    fn valid_results_render_briefly() {
        let h = History::default();
        let r = check_named(&h, "register", None, &Options::default()).unwrap();
        assert!(render_text(&r).starts_with("linearizable: valid"));
        assert!(!render_html(&r, &h).contains("<svg"));
    }
}
