//! `set`: unique adds to one set and a final read; the set checker finds
//! acknowledged adds that are lost and elements that appear from nowhere.

use crate::generator::{Gen, OpSpec};
use crate::WorkloadKind;
use crate::workload::Workload;
use faultline_checkers::registry::CheckerKind;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// The set's key.
pub const KEY: &str = "s";

#[derive(Default)]
pub struct Set;

impl Workload for Set {
    fn kind(&self) -> WorkloadKind {
        WorkloadKind::Set
    }

    fn generator(&self, worker: usize) -> Box<dyn Gen> {
        Box::new(Adds::new(worker))
    }

    fn final_reads(&self) -> Vec<OpSpec> {
        vec![OpSpec::new("read", Some(KEY), Value::Null)]
    }

    fn checkers(&self) -> &'static [CheckerKind] {
        &[CheckerKind::Set]
    }
}

/// Adds of unique elements: worker w adds w*10^9 + 0, 1, 2, ...
struct Adds {
    next: u64,
}

impl Adds {
    fn new(worker: usize) -> Self {
        Adds {
            next: worker as u64 * 1_000_000_000,
        }
    }
}

impl Gen for Adds {
    fn next(&mut self, _rng: &mut ChaCha8Rng) -> Option<OpSpec> {
        self.next += 1;
        Some(OpSpec::new("add", Some(KEY), json!(self.next - 1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn adds_are_unique_across_workers() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut seen = std::collections::BTreeSet::new();
        for worker in 0..3 {
            let mut g = Set.generator(worker);
            for _ in 0..100 {
                assert!(seen.insert(g.next(&mut rng).unwrap().value.as_u64().unwrap()));
            }
        }
    }
}
