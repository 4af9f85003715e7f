//! `queue`: clients enqueue unique items and dequeue them; after the cluster
//! healed a final `drain` takes whatever is left. The queue checker (Jepsen's
//! total-queue) finds acknowledged items never taken, items taken twice and
//! items from nowhere. Order is not judged, so it fits any queue, and the
//! dispatcher target, whose dequeue takes one completed task's result.
//!
//! Worker 0 also asks for `stats` every [`STATS_EVERY`] ops: a target that
//! balances load (the dispatcher) answers with the tasks each worker ran,
//! from which the run's report shows the load spread
//! (`faultline_checkers::load_spread`). A queue that does not know the op
//! answers `fail`; after [`STATS_GIVE_UP`] of those and no `ok`, worker 0
//! stops asking.

use crate::generator::{Gen, OpSpec, Outcome};
use crate::workload::Workload;
use crate::WorkloadKind;
use faultline_checkers::registry::CheckerKind;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// The share of enqueues among a client's ops.
const ENQUEUE_SHARE: f64 = 0.75;
/// Worker 0 asks for the target's load stats once every this many ops.
pub const STATS_EVERY: u64 = 10;
/// Failed stats requests, with none ok, after which worker 0 stops asking.
pub const STATS_GIVE_UP: u64 = 3;

#[derive(Default)]
pub struct Queue;

impl Workload for Queue {
    fn kind(&self) -> WorkloadKind {
        WorkloadKind::Queue
    }

    fn generator(&self, worker: usize) -> Box<dyn Gen> {
        Box::new(QueueClient::new(worker))
    }

    /// Take everything left: the server answers once nothing is in flight
    /// (the controller retries a `fail`), so the drain sees the whole rest.
    fn final_reads(&self) -> Vec<OpSpec> {
        vec![OpSpec::new("drain", None, Value::Null)]
    }

    fn checkers(&self) -> &'static [CheckerKind] {
        &[CheckerKind::Queue]
    }
}

/// Enqueues of unique items (worker w enqueues w*10^9 + 0, 1, 2, ...) and
/// dequeues, three to one. A dequeue sent to a leader cut off from the
/// majority hangs until it times out (`info`), and each such dequeue may
/// have taken one item unseen; with enqueues the larger share, a client
/// gets several acknowledged enqueues in before it hangs, so lost items
/// outnumber what the indeterminate dequeues could hide.
struct QueueClient {
    next: u64,
    /// Whether this client asks for stats (worker 0, until the target
    /// shows it does not know them).
    stats: bool,
    ops: u64,
    stats_ok: u64,
    stats_failed: u64,
}

impl QueueClient {
    fn new(worker: usize) -> Self {
        QueueClient {
            next: worker as u64 * 1_000_000_000,
            stats: worker == 0,
            ops: 0,
            stats_ok: 0,
            stats_failed: 0,
        }
    }
}

impl Gen for QueueClient {
    fn next(&mut self, rng: &mut ChaCha8Rng) -> Option<OpSpec> {
        self.ops += 1;
        if self.stats && self.ops.is_multiple_of(STATS_EVERY) {
            return Some(OpSpec::new("stats", None, Value::Null));
        }
        Some(if rng.gen_bool(ENQUEUE_SHARE) {
            self.next += 1;
            OpSpec::new("enqueue", None, json!(self.next - 1))
        } else {
            OpSpec::new("dequeue", None, Value::Null)
        })
    }

    fn observe(&mut self, op: &OpSpec, outcome: &Outcome) {
        if op.f != "stats" {
            return;
        }
        match outcome {
            Outcome::Ok(_) => self.stats_ok += 1,
            Outcome::Fail => self.stats_failed += 1,
            Outcome::Info => {}
        }
        if self.stats_ok == 0 && self.stats_failed >= STATS_GIVE_UP {
            self.stats = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn enqueues_are_unique_across_workers_and_dequeues_are_mixed_in() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut seen = std::collections::BTreeSet::new();
        let mut dequeues = 0;
        for worker in 0..3 {
            let mut g = Queue.generator(worker);
            for _ in 0..100 {
                let op = g.next(&mut rng).unwrap();
                match op.f.as_str() {
                    "enqueue" => assert!(seen.insert(op.value.as_u64().unwrap())),
                    "dequeue" => dequeues += 1,
                    "stats" => assert_eq!(worker, 0, "only worker 0 asks for stats"),
                    other => panic!("unexpected op {other}"),
                }
            }
        }
        assert!(dequeues > 30 && seen.len() > 150, "{dequeues} {}", seen.len());
    }

    #[test]
    fn worker_0_asks_for_stats_until_the_target_shows_it_has_none() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut g = Queue.generator(0);
        let mut asked = 0;
        for _ in 0..(STATS_EVERY * 10) {
            let op = g.next(&mut rng).unwrap();
            if op.f == "stats" {
                asked += 1;
                g.observe(&op, &Outcome::Fail);
            }
        }
        assert_eq!(asked, STATS_GIVE_UP, "stops after the give-up count");
        // A target that answers keeps being asked, whatever fails later.
        let mut g = Queue.generator(0);
        let mut asked = 0;
        for _ in 0..(STATS_EVERY * 10) {
            let op = g.next(&mut rng).unwrap();
            if op.f == "stats" {
                let outcome = if asked == 0 { Outcome::Ok(json!({})) } else { Outcome::Fail };
                asked += 1;
                g.observe(&op, &outcome);
            }
        }
        assert_eq!(asked, 10);
    }
}
