//! The generator of the transactional workloads (`list-append`,
//! `rw-register`): txns of 1-4 micro-ops, each a read or a write of a key
//! drawn from about ten active keys with an exponential distribution (a few
//! hot keys, a long tail), as in Elle's generators. A key retires after
//! [`MAX_WRITES_PER_KEY`] writes and a fresh key takes its place, so no
//! key's version order grows without bound; each write to a key carries a
//! value unique for that key (1, 2, 3, ...), which is what lets the checker
//! tell versions apart.

use crate::generator::{Gen, OpSpec};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// Keys in use at a time.
pub const ACTIVE_KEYS: usize = 10;
/// Writes to one key before it retires.
pub const MAX_WRITES_PER_KEY: u64 = 256;
/// Micro-ops in one txn: 1 to this many.
pub const MAX_MOPS: usize = 4;
/// Keys a final read txn reads at most.
const FINAL_READ_KEYS: usize = 16;

/// Which micro-ops the txns use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// `["append", k, v]` and `["r", k, null]`.
    ListAppend,
    /// `["w", k, v]` and `["r", k, null]`.
    RwRegister,
}

impl Style {
    fn write_f(self) -> &'static str {
        match self {
            Style::ListAppend => "append",
            Style::RwRegister => "w",
        }
    }
}

/// The active keys, shared by every worker's generator.
pub struct TxnKeys {
    state: Mutex<Pool>,
}

struct Pool {
    /// Each slot's key and the writes handed out on it so far.
    slots: Vec<(u64, u64)>,
    next_key: u64,
}

impl Default for TxnKeys {
    fn default() -> Self {
        TxnKeys {
            state: Mutex::new(Pool {
                slots: (0..ACTIVE_KEYS as u64).map(|k| (k, 0)).collect(),
                next_key: ACTIVE_KEYS as u64,
            }),
        }
    }
}

impl TxnKeys {
    /// A slot drawn so that slot i is twice as likely as slot i+1.
    fn pick(rng: &mut ChaCha8Rng) -> usize {
        let mut r = rng.gen_range(0..(1u64 << ACTIVE_KEYS) - 1);
        // Slot i owns the next 2^(ACTIVE_KEYS-1-i) outcomes.
        for i in 0..ACTIVE_KEYS {
            let share = 1u64 << (ACTIVE_KEYS - 1 - i);
            if r < share {
                return i;
            }
            r -= share;
        }
        ACTIVE_KEYS - 1
    }

    /// The key in `slot`, to read.
    fn read(&self, slot: usize) -> u64 {
        self.state.lock().expect("txn keys").slots[slot].0
    }

    /// A key in `slot` and a value never written to it before; the slot's
    /// key retires first if it had its share of writes.
    fn write(&self, slot: usize) -> (u64, u64) {
        let mut p = self.state.lock().expect("txn keys");
        if p.slots[slot].1 >= MAX_WRITES_PER_KEY {
            p.slots[slot] = (p.next_key, 0);
            p.next_key += 1;
        }
        p.slots[slot].1 += 1;
        p.slots[slot]
    }

    /// Every key handed out so far, in order.
    pub fn keys(&self) -> Vec<u64> {
        (0..self.state.lock().expect("txn keys").next_key).collect()
    }

    /// Txns that read every key handed out so far, a few keys each.
    pub fn final_reads(&self) -> Vec<OpSpec> {
        self.keys()
            .chunks(FINAL_READ_KEYS)
            .map(|keys| {
                let mops: Vec<Value> = keys.iter().map(|k| json!(["r", k, null])).collect();
                OpSpec::new("txn", None, Value::Array(mops))
            })
            .collect()
    }
}

/// One worker's txns.
pub struct Txns {
    pub keys: Arc<TxnKeys>,
    pub style: Style,
}

impl Gen for Txns {
    fn next(&mut self, rng: &mut ChaCha8Rng) -> Option<OpSpec> {
        let n = rng.gen_range(1..=MAX_MOPS);
        let mops: Vec<Value> = (0..n)
            .map(|_| {
                let slot = TxnKeys::pick(rng);
                if rng.gen_bool(0.5) {
                    json!(["r", self.keys.read(slot), null])
                } else {
                    let (key, value) = self.keys.write(slot);
                    json!([self.style.write_f(), key, value])
                }
            })
            .collect();
        Some(OpSpec::new("txn", None, Value::Array(mops)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generator::Outcome;
    use crate::WorkloadKind;
    use faultline_checkers::history::{History, Op, OpType};
    use faultline_checkers::registry::{self, Options};
    use faultline_checkers::Verdict;
    use rand::SeedableRng;
    use std::collections::BTreeMap;

    /// Runs `ops` txns of workload `kind` round-robin over `workers` against
    /// a correct serial store, then its final reads; the history they make.
    fn drive(kind: WorkloadKind, workers: usize, ops: usize) -> History {
        let w = kind.build();
        let mut gens: Vec<_> = (0..workers).map(|i| w.generator(i)).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut store: BTreeMap<String, Value> = BTreeMap::new();
        let mut history = Vec::new();
        let mut run = |worker: usize, op: OpSpec| {
            let mut mops = op.value.as_array().unwrap().clone();
            for m in mops.iter_mut() {
                let key = m[1].to_string();
                match m[0].as_str().unwrap() {
                    "r" => m[2] = store.get(&key).cloned().unwrap_or(Value::Null),
                    "w" => {
                        store.insert(key, m[2].clone());
                    }
                    "append" => {
                        let list = store.entry(key).or_insert_with(|| json!([]));
                        list.as_array_mut().unwrap().push(m[2].clone());
                    }
                    f => panic!("micro-op {f}"),
                }
            }
            for (kind, value) in [(OpType::Invoke, op.value), (OpType::Ok, Value::Array(mops))] {
                let i = history.len() as u64;
                history.push(Op::client(i, kind, worker as u64, &op.f, value));
            }
        };
        for n in 0..ops {
            let worker = n % workers;
            let op = gens[worker].next(&mut rng).expect("endless");
            gens[worker].observe(&op, &Outcome::Ok(Value::Null));
            run(worker, op);
        }
        for op in w.final_reads() {
            run(workers, op);
        }
        History::new(history)
    }

    fn check(kind: WorkloadKind, h: &History) -> faultline_checkers::CheckResult {
        let checker = kind.build().checkers()[0];
        registry::check(checker, h, &Options::default()).unwrap()
    }

    #[test]
    fn txns_have_one_to_four_micro_ops_and_keys_retire() {
        let h = drive(WorkloadKind::ListAppend, 5, 20_000);
        let mut writes: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
        let mut sizes = [0usize; MAX_MOPS + 1];
        for op in h.ops.iter().filter(|o| o.kind == OpType::Invoke) {
            let mops = op.value.as_array().unwrap();
            if mops.iter().all(|m| m[0] == "r") && mops.len() > MAX_MOPS {
                continue; // a final read
            }
            sizes[mops.len()] += 1;
            for m in mops {
                let k = m[1].as_i64().unwrap();
                if m[0] == "append" {
                    writes.entry(k).or_default().push(m[2].as_i64().unwrap());
                }
            }
        }
        assert_eq!(sizes[0], 0);
        assert!(sizes[1..].iter().all(|&n| n > 3_000), "{sizes:?}");
        for (k, vs) in &writes {
            assert!(
                vs.len() as u64 <= MAX_WRITES_PER_KEY,
                "key {k}: {}",
                vs.len()
            );
            let mut unique = vs.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), vs.len(), "key {k}: a value written twice");
        }
        // The hot keys retired many times over; the coldest slot still got some.
        assert!(writes.len() > 2 * ACTIVE_KEYS, "{} keys", writes.len());
    }

    #[test]
    fn a_serial_store_passes_and_a_lost_append_is_caught() {
        for kind in [WorkloadKind::ListAppend, WorkloadKind::RwRegister] {
            let mut h = drive(kind, 5, 3_000);
            let r = check(kind, &h);
            assert_eq!(r.verdict, Verdict::Valid, "{kind}: {}", r.summary);
            // A txn's completion that misses the previous txn's write (a
            // stale read after it completed) breaks strict serializability.
            let (i, j) = (0..h.ops.len())
                .filter(|&i| h.ops[i].kind == OpType::Ok)
                .find_map(|i| {
                    let mops = h.ops[i].value.as_array()?;
                    let pos = mops.iter().position(|m| m[0] == "r" && !m[2].is_null())?;
                    Some((i, pos))
                })
                .expect("a read that saw something");
            h.ops[i].value[j][2] = Value::Null;
            let r = check(kind, &h);
            assert_eq!(r.verdict, Verdict::Invalid, "{kind}: {}", r.summary);
        }
    }
}
