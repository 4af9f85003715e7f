//! The load spread (faultline_checkers::load_spread) as an HTML table for
//! the run's page: a row a worker, a column for the whole run and one for
//! each time window, then max, min and max/min.

use super::html::escape;
use faultline_checkers::load_spread::{LoadSpread, Spread};
use std::fmt::Write;

/// The table, with the tasks moved off silent workers under it.
pub fn html(l: &LoadSpread) -> String {
    let mut b =
        String::from("<table class=\"load\"><tr><th>worker</th><th class=\"num\">whole run</th>");
    for w in &l.windows {
        let _ = write!(
            b,
            "<th class=\"num\">{:.1}-{:.1} s</th>",
            w.start_ns as f64 / 1e9,
            w.end_ns as f64 / 1e9
        );
    }
    b.push_str("</tr>");
    let columns: Vec<&Spread> = std::iter::once(&l.total)
        .chain(l.windows.iter().map(|w| &w.spread))
        .collect();
    let row = |b: &mut String, name: &str, cell: &dyn Fn(&Spread) -> String| {
        let _ = write!(b, "<tr><td>{}</td>", escape(name));
        for s in &columns {
            let _ = write!(b, "<td class=\"num\">{}</td>", cell(s));
        }
        b.push_str("</tr>");
    };
    for worker in l.total.done_by.keys() {
        row(&mut b, worker, &|s| {
            s.done_by.get(worker).copied().unwrap_or(0).to_string()
        });
    }
    row(&mut b, "max", &|s| format!("<b>{}</b>", s.max));
    row(&mut b, "min", &|s| format!("<b>{}</b>", s.min));
    row(&mut b, "max/min", &|s| {
        s.ratio().map_or("-".into(), |r| format!("{r:.2}"))
    });
    b.push_str("</table>");
    let _ = write!(
        b,
        "<p class=\"muted\">Tasks each worker completed, from {} stats samples (the last at {:.1} s).</p>",
        l.samples,
        l.last_ns as f64 / 1e9
    );
    if !l.moved_from.is_empty() {
        let moved: Vec<String> = l
            .moved_from
            .iter()
            .map(|(w, n)| format!("{} {n}", escape(w)))
            .collect();
        let _ = write!(
            b,
            "<p>Tasks moved off a worker that stopped polling: {}</p>",
            moved.join(", ")
        );
    }
    b
}
