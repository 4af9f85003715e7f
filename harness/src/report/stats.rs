//! Latency quantiles per function, for `faultline show` and the run page.

use super::ops::{Analysis, Outcome};

/// Latencies of the completed ops of one function.
#[derive(Clone, Debug, PartialEq)]
pub struct FnLatency {
    pub f: String,
    pub ok: usize,
    pub fail: usize,
    pub info: usize,
    pub open: usize,
    /// Quantiles of the `ok` ops' latencies, in nanoseconds (None: no ok op).
    pub p50: Option<u64>,
    pub p90: Option<u64>,
    pub p99: Option<u64>,
    pub max: Option<u64>,
}

/// One row per function, in order of first appearance.
pub fn latency_by_f(analysis: &Analysis<'_>) -> Vec<FnLatency> {
    analysis
        .functions()
        .into_iter()
        .map(|f| {
            let spans = analysis.spans.iter().filter(|s| s.invoke.f == f);
            let count = |o: Outcome| spans.clone().filter(|s| s.outcome == o).count();
            let mut ok: Vec<u64> = spans
                .clone()
                .filter(|s| s.outcome == Outcome::Ok)
                .filter_map(|s| s.latency())
                .collect();
            ok.sort_unstable();
            FnLatency {
                f: f.to_string(),
                ok: ok.len(),
                fail: count(Outcome::Fail),
                info: count(Outcome::Info),
                open: count(Outcome::Open),
                p50: quantile(&ok, 0.5),
                p90: quantile(&ok, 0.9),
                p99: quantile(&ok, 0.99),
                max: ok.last().copied(),
            }
        })
        .collect()
}

/// The nearest-rank quantile of sorted values.
pub fn quantile(sorted: &[u64], q: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ops::tests::op;
    use faultline_checkers::{History, OpType::*, Process::Client};

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), Some(50));
        assert_eq!(quantile(&v, 0.99), Some(99));
        assert_eq!(quantile(&v, 1.0), Some(100));
        assert_eq!(quantile(&[7], 0.5), Some(7));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn one_row_per_function() {
        let h = History::new(vec![
            op(0, 0, Invoke, Client(0), "read"),
            op(1, 10, Ok, Client(0), "read"),
            op(2, 10, Invoke, Client(0), "read"),
            op(3, 40, Ok, Client(0), "read"),
            op(4, 0, Invoke, Client(1), "write"),
            op(5, 50, Fail, Client(1), "write"),
        ]);
        let rows = latency_by_f(&Analysis::of(&h));
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].ok, rows[0].p50, rows[0].max),
            (2, Some(10), Some(30))
        );
        assert_eq!((rows[1].ok, rows[1].fail, rows[1].p50), (0, 1, None));
    }
}
