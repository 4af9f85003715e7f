//! `kv`: reads, writes and compare-and-sets on many independent keys,
//! checked for linearizability per key (the `kv` model splits the history
//! per key, P-compositionality). Keys rotate: a few are in use at a time and
//! each is retired after `max_ops_per_key` ops, so however long the run, no
//! key's sub-history outgrows what the checker handles quickly.

use crate::generator::{Gen, Independent, KeyRotation, OpSpec};
use crate::WorkloadKind;
use crate::register;
use crate::workload::Workload;
use faultline_checkers::models::ModelKind;
use faultline_checkers::registry::CheckerKind;
use serde_json::Value;
use std::sync::Arc;

/// Keys in use at a time.
pub const KEYS_IN_USE: u64 = 8;
/// Ops on one key before it is retired, unless told otherwise.
pub const MAX_OPS_PER_KEY: u64 = 1000;
/// Ops a worker performs on one key before it moves to another (random) one.
const OPS_PER_VISIT: u64 = 16;

pub struct Kv {
    keys: Arc<KeyRotation>,
}

impl Kv {
    /// A kv workload whose keys each see at most `max_ops_per_key` ops.
    pub fn new(max_ops_per_key: u64) -> Self {
        Kv {
            keys: Arc::new(KeyRotation::new("k", KEYS_IN_USE, max_ops_per_key)),
        }
    }
}

impl Default for Kv {
    fn default() -> Self {
        Kv::new(MAX_OPS_PER_KEY)
    }
}

impl Workload for Kv {
    fn kind(&self) -> WorkloadKind {
        WorkloadKind::Kv
    }

    fn generator(&self, _worker: usize) -> Box<dyn Gen> {
        Box::new(Independent::new(
            self.keys.clone(),
            OPS_PER_VISIT,
            register::ops(None),
        ))
    }

    /// A read of every key the run used, retired ones too: a write lost in
    /// a fault shows in the final read of its key.
    fn final_reads(&self) -> Vec<OpSpec> {
        self.keys
            .keys()
            .iter()
            .map(|k| OpSpec::new("read", Some(k), Value::Null))
            .collect()
    }

    fn checkers(&self) -> &'static [CheckerKind] {
        &[CheckerKind::Linearizable]
    }

    fn model(&self) -> Option<ModelKind> {
        Some(ModelKind::Kv)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::Outcome;
    use faultline_checkers::history::{History, Op, OpType};
    use faultline_checkers::registry::{self, Options};
    use faultline_checkers::Verdict;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;
    use serde_json::json;
    use std::collections::BTreeMap;

    /// Drives `workers` generators of `w` round-robin for `ops` ops against
    /// an in-memory map of registers (a correct, sequential store), and
    /// records the history: each op invoked by its worker, then completed.
    fn drive(w: &dyn Workload, workers: usize, ops: usize) -> History {
        let mut gens: Vec<_> = (0..workers).map(|i| w.generator(i)).collect();
        let mut rngs: Vec<_> = (0..workers)
            .map(|i| ChaCha8Rng::seed_from_u64(i as u64))
            .collect();
        let mut store: BTreeMap<String, Value> = BTreeMap::new();
        let mut history = Vec::new();
        let mut push = |kind, worker: usize, op: &OpSpec, value: Value| {
            let i = history.len() as u64;
            history.push(Op {
 key: op.key.clone(),
 ..Op::client(i, kind, worker as u64, &op.f, value)
 });
        };
        for n in 0..ops {
            let worker = n % workers;
            let op = gens[worker].next(&mut rngs[worker]).expect("endless");
            let key = op.key.clone().expect("kv ops name a key");
            push(OpType::Invoke, worker, &op, op.value.clone());
            let current = store.get(&key).cloned().unwrap_or(Value::Null);
            let (kind, value) = match op.f.as_str() {
                "read" => (OpType::Ok, current),
                "write" => {
                    store.insert(key, op.value.clone());
                    (OpType::Ok, op.value.clone())
                }
                "cas" if current == op.value[0] => {
                    store.insert(key, op.value[1].clone());
                    (OpType::Ok, op.value.clone())
                }
                "cas" => (OpType::Fail, op.value.clone()),
                other => panic!("kv op {other}"),
            };
            let outcome = match kind {
                OpType::Ok => Outcome::Ok(value.clone()),
                _ => Outcome::Fail,
            };
            gens[worker].observe(&op, &outcome);
            push(kind, worker, &op, value);
        }
        History::new(history)
    }

    fn ops_per_key(h: &History) -> BTreeMap<String, usize> {
        let mut n = BTreeMap::new();
        for op in h.ops.iter().filter(|o| o.kind == OpType::Invoke) {
            *n.entry(op.key.clone().unwrap()).or_insert(0) += 1;
        }
        n
    }

    #[test]
    fn no_key_sees_more_than_the_bound_however_long_the_run() {
        for (bound, ops) in [(MAX_OPS_PER_KEY, 60_000), (37, 5_000)] {
            let w = Kv::new(bound);
            let h = drive(&w, 10, ops);
            let per_key = ops_per_key(&h);
            let most = *per_key.values().max().unwrap();
            assert!(most as u64 <= bound, "bound {bound}: a key saw {most} ops");
            // The keys rotate: the run used about ops/bound keys, not a fixed few.
            assert!(
                per_key.len() as u64 >= ops as u64 / bound,
                "bound {bound}: {} keys for {ops} ops",
                per_key.len()
            );
            // The final reads cover every key the run used.
            let finals: Vec<String> = w.final_reads().into_iter().filter_map(|o| o.key).collect();
            assert!(per_key.keys().all(|k| finals.contains(k)));
        }
    }

    #[test]
    fn the_kv_checker_still_judges_each_key_on_its_own() {
        let w = Kv::new(50);
        let mut h = drive(&w, 5, 2_000);
        let opts = Options {
            model: w.model(),
            ..Options::default()
        };
        let check = |h: &History| registry::check(w.checkers()[0], h, &opts).unwrap();
        // A correct store is linearizable per key, though as one register it
        // would not be (a read of one key does not see another's write).
        let r = check(&h);
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
        assert!(ops_per_key(&h).len() >= 2_000 / 50);
        // A stale read on one retired key is caught.
        let (pos, key) = h
            .ops
            .iter()
            .enumerate()
            .rev()
            .find(|(_, o)| {
                o.kind == OpType::Ok
                    && o.f == "read"
                    && o.key.as_deref() == Some("k3")
                    && !o.value.is_null()
            })
            .map(|(i, o)| (i, o.key.clone().unwrap()))
            .expect("a read of k3 that saw a value");
        h.ops[pos].value = json!(99);
        let r = check(&h);
        assert_eq!(r.verdict, Verdict::Invalid, "{}", r.summary);
        let details = serde_json::to_string(&r.details).unwrap();
        assert!(details.contains(&key), "{details}");
    }
}
