//! `queue`: clients enqueue unique items and dequeue them; after the cluster
//! healed a final `drain` takes whatever is left. The queue checker (Jepsen's
//! total-queue) finds acknowledged items never taken, items taken twice and
//! items from nowhere. Order is not judged, so it fits any queue, and the
//! dispatcher target, whose dequeue takes one completed task's result.

use crate::generator::{Gen, OpSpec};
use crate::workload::Workload;
use crate::WorkloadKind;
use faultline_checkers::registry::CheckerKind;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// The share of enqueues among a client's ops.
const ENQUEUE_SHARE: f64 = 0.75;

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
}

impl QueueClient {
    fn new(worker: usize) -> Self {
        QueueClient {
            next: worker as u64 * 1_000_000_000,
        }
    }
}

impl Gen for QueueClient {
    fn next(&mut self, rng: &mut ChaCha8Rng) -> Option<OpSpec> {
        Some(if rng.gen_bool(ENQUEUE_SHARE) {
            self.next += 1;
            OpSpec::new("enqueue", None, json!(self.next - 1))
        } else {
            OpSpec::new("dequeue", None, Value::Null)
        })
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
                    other => panic!("unexpected op {other}"),
                }
            }
        }
        assert!(dequeues > 30 && seen.len() > 150, "{dequeues} {}", seen.len());
    }
}
