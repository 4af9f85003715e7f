//! The load spread of a balancing target (the dispatcher): how many tasks
//! each worker ran, max/min over the workers, how that went in time
//! windows, and whose tasks were moved to another worker. Not a verdict: a
//! measure, recorded in `results.json` (`load`) and shown by `show` and
//! the run's page.
//!
//! It reads the `ok` completions of `stats` ops (the queue workload's
//! worker 0 asks now and then), each a cumulative count as of that moment:
//! `{"done_by": {"n1": 40, ...}, "moved_from": {"n2": 3}}`. A window's
//! counts are the differences between the samples at its ends.

use crate::history::{History, OpType};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The sampled span is cut into about this many time windows.
pub const WINDOWS: usize = 10;

/// Tasks per worker over a stretch of the run, and its spread.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// Tasks each worker completed (every worker seen in any sample,
    /// 0 included).
    pub done_by: BTreeMap<String, u64>,
    pub max: u64,
    pub min: u64,
}

impl Spread {
    fn of(done_by: BTreeMap<String, u64>) -> Spread {
        Spread {
            max: done_by.values().copied().max().unwrap_or(0),
            min: done_by.values().copied().min().unwrap_or(0),
            done_by,
        }
    }

    /// max/min, when min is not 0.
    pub fn ratio(&self) -> Option<f64> {
        (self.min > 0).then(|| self.max as f64 / self.min as f64)
    }
}

/// One time window: from one sample to a later one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Window {
    /// Nanoseconds since the run started, of the samples at its ends.
    pub start_ns: u64,
    pub end_ns: u64,
    #[serde(flatten)]
    pub spread: Spread,
}

/// The load spread of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadSpread {
    /// `ok` stats samples read.
    pub samples: usize,
    /// When the last sample was taken, nanoseconds since the run started.
    pub last_ns: u64,
    /// The whole run, as of the last sample.
    #[serde(flatten)]
    pub total: Spread,
    /// Tasks taken from each worker (it stopped polling) and given to
    /// another, as of the last sample.
    #[serde(default)]
    pub moved_from: BTreeMap<String, u64>,
    /// The run cut into about [`WINDOWS`] windows between samples.
    #[serde(default)]
    pub windows: Vec<Window>,
}

fn counts(v: &Value) -> BTreeMap<String, u64> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, n)| Some((k.clone(), n.as_u64()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// The spread from the history's `stats` samples; `None` without any (a
/// target that does not report load, or another workload).
pub fn of(history: &History) -> Option<LoadSpread> {
    let samples: Vec<(u64, BTreeMap<String, u64>, &Value)> = history
        .ops
        .iter()
        .filter(|o| o.kind == OpType::Ok && o.f == "stats" && o.value.get("done_by").is_some())
        .map(|o| (o.time, counts(&o.value["done_by"]), &o.value))
        .collect();
    let (last_ns, last, last_value) = samples.last()?;
    // Every worker any sample names, so a worker that stopped shows 0.
    let workers: Vec<String> = samples
        .iter()
        .flat_map(|(_, c, _)| c.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let at = |c: &BTreeMap<String, u64>, w: &str| c.get(w).copied().unwrap_or(0);
    let total = Spread::of(workers.iter().map(|w| (w.clone(), at(last, w))).collect());

    // Windows of about a tenth of the sampled span: each ends at the first
    // sample at least that long after its start (or at the last sample).
    let first_ns = samples[0].0;
    let step = (last_ns - first_ns).div_ceil(WINDOWS as u64).max(1);
    let mut windows = Vec::new();
    let mut start = 0;
    for (i, (t, _, _)) in samples.iter().enumerate().skip(1) {
        let due = samples[start].0 + step;
        if *t >= due || i == samples.len() - 1 {
            let (t0, c0, _) = &samples[start];
            let c1 = &samples[i].1;
            windows.push(Window {
                start_ns: *t0,
                end_ns: *t,
                spread: Spread::of(
                    workers
                        .iter()
                        .map(|w| (w.clone(), at(c1, w).saturating_sub(at(c0, w))))
                        .collect(),
                ),
            });
            start = i;
        }
    }
    Some(LoadSpread {
        samples: samples.len(),
        last_ns: *last_ns,
        total,
        moved_from: counts(&last_value["moved_from"]),
        windows,
    })
}

/// The spread in a few lines of text (`faultline show`).
pub fn render_text(l: &LoadSpread) -> String {
    let ratio = |s: &Spread| s.ratio().map_or("-".into(), |r| format!("{r:.2}"));
    let mut out = format!(
        "tasks per worker as of {:.1} s ({} samples): {}; max {}, min {}, max/min {}\n",
        l.last_ns as f64 / 1e9,
        l.samples,
        l.total
            .done_by
            .iter()
            .map(|(w, n)| format!("{w} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        l.total.max,
        l.total.min,
        ratio(&l.total)
    );
    if !l.moved_from.is_empty() {
        let moved: Vec<String> = l
            .moved_from
            .iter()
            .map(|(w, n)| format!("{w} {n}"))
            .collect();
        out.push_str(&format!(
            "tasks moved off a silent worker: {}\n",
            moved.join(", ")
        ));
    }
    for w in &l.windows {
        let per: Vec<String> = w.spread.done_by.values().map(u64::to_string).collect();
        out.push_str(&format!(
            "  {:>6.1}-{:<6.1} s  {}  max {} min {} max/min {}\n",
            w.start_ns as f64 / 1e9,
            w.end_ns as f64 / 1e9,
            per.join(" "),
            w.spread.max,
            w.spread.min,
            ratio(&w.spread)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, Process};
    use serde_json::json;

    fn stats(index: u64, time_s: u64, value: Value) -> Op {
        Op {
            index,
            time: time_s * 1_000_000_000,
            kind: OpType::Ok,
            process: Process::Client(0),
            f: "stats".into(),
            key: None,
            value,
            error: None,
            node: None,
        }
    }

    #[test]
    fn counts_spread_windows_and_moves_from_the_samples() {
        let h = History::new(vec![
            stats(0, 1, json!({"done_by": {"n1": 2, "n2": 2}})),
            stats(1, 2, json!({"done_by": {"n1": 5, "n2": 4, "n3": 1}})),
            // n2 is killed: it runs nothing more, its tasks move.
            stats(
                2,
                11,
                json!({"done_by": {"n1": 20, "n2": 4, "n3": 16}, "moved_from": {"n2": 3}}),
            ),
        ]);
        let l = of(&h).expect("samples");
        assert_eq!(l.samples, 3);
        assert_eq!((l.total.max, l.total.min), (20, 4));
        assert_eq!(l.total.ratio(), Some(5.0));
        assert_eq!(l.moved_from, BTreeMap::from([("n2".to_string(), 3)]));
        assert_eq!(l.windows.len(), 2, "{:?}", l.windows);
        let w = &l.windows[1];
        assert_eq!((w.start_ns, w.end_ns), (2_000_000_000, 11_000_000_000));
        let per: Vec<u64> = w.spread.done_by.values().copied().collect();
        assert_eq!(per, vec![15, 0, 15]);
        assert_eq!(
            (w.spread.max, w.spread.min, w.spread.ratio()),
            (15, 0, None)
        );
        let text = render_text(&l);
        assert!(
            text.contains("n1 20, n2 4, n3 16; max 20, min 4, max/min 5.00"),
            "{text}"
        );
        assert!(text.contains("moved off a silent worker: n2 3"), "{text}");
        // And back from JSON as results.json holds it.
        let back: LoadSpread = serde_json::from_value(serde_json::to_value(&l).unwrap()).unwrap();
        assert_eq!(back, l);
    }

    #[test]
    fn no_ok_stats_is_no_spread() {
        let mut failed = stats(0, 1, json!({"done_by": {"n1": 1}}));
        failed.kind = OpType::Fail;
        assert_eq!(of(&History::new(vec![failed])), None);
        assert_eq!(of(&History::new(vec![])), None);
    }
}
