//! Generated kv histories from a simulated execution (for the benchmarks
//! and the tests that compare checking paths on them).

use faultline_checkers::{Op, OpType};
use serde_json::{json, Value};

/// xorshift64*: a small deterministic generator for the synthetic history.
pub struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// How the generated history is made invalid.
#[derive(Clone, Copy, PartialEq)]
pub enum Corrupt {
    /// A read returns -1, which nothing wrote.
    Unwritten,
    /// A read returns the value the register held 200 ops before it was
    /// invoked (overwritten since by ops that completed before it).
    Stale,
}

/// What to generate.
#[derive(Clone, Copy)]
pub struct Spec {
    pub n_ops: usize,
    pub keys: u64,
    pub clients: u64,
    pub seed: u64,
    /// The first read completed after that many ops is corrupted.
    pub corrupt: Option<(usize, Corrupt)>,
    pub values: Values,
    /// An op crashes before (or after) it takes effect with probability
    /// 1 / crash_one_in each: 200 gives about 1% info ops.
    pub crash_one_in: u64,
}

impl Spec {
    pub fn new(n_ops: usize, keys: u64, clients: u64, seed: u64, values: Values) -> Spec {
        Spec {
            n_ops,
            keys,
            clients,
            seed,
            corrupt: None,
            values,
            crash_one_in: 200,
        }
    }
}

/// What values writes and cas ops use.
#[derive(Clone, Copy, PartialEq)]
pub enum Values {
    /// 0-4, as in Jepsen's register workload.
    Few,
    /// Every write and cas target unique.
    Unique,
}

/// A history of `n_ops` operations on `keys` independent cas registers by
/// `clients` clients, from a simulated execution: each op takes effect at one
/// moment between its invocation and completion, so the history is
/// linearizable. About 1% of ops end `info` (half of them took effect).
/// With `corrupt`, the first read completed after that many ops returns a
/// wrong value, which makes the history invalid. Each op goes to `sink` as
/// it is made (ten million ops are written to a file without being held).
pub fn generate_into(spec: Spec, mut sink: impl FnMut(Op)) {
    let Spec {
        n_ops,
        keys,
        clients,
        seed,
        corrupt,
        values,
        crash_one_in,
    } = spec;
    let mut fresh = 100u64;
    // Per key: (ops invoked, value) at each change, for stale reads.
    let mut changes: Vec<Vec<(usize, Option<i64>)>> = vec![vec![(0, None)]; keys as usize];
    struct Pending {
        f: &'static str,
        key: String,
        k: usize,
        arg: Value,
        applied: bool,
        result: Option<Value>,
        succeeded: bool,
    }
    let mut rng = Rng(seed | 1);
    let mut regs: Vec<Option<i64>> = vec![None; keys as usize];
    let mut pending: Vec<Option<Pending>> = (0..clients).map(|_| None).collect();
    let mut process: Vec<u64> = (0..clients).collect();
    let mut next_index = 0u64;
    let mut push = |kind: OpType, p: u64, f: &str, key: Option<&str>, value: Value| {
        sink(Op {
            key: key.map(str::to_string),
            ..Op::client(next_index, kind, p, f, value)
        });
        next_index += 1;
    };
    let (mut invoked, mut open) = (0usize, 0usize);
    let mut corrupted = false;
    while invoked < n_ops || open > 0 {
        let c = rng.below(clients) as usize;
        let p = process[c];
        match pending[c].take() {
            None if invoked < n_ops => {
                let k = rng.below(keys) as usize;
                let key = format!("k{k}");
                let (f, arg) = match rng.below(10) {
                    0..=4 => ("read", Value::Null),
                    5..=7 if values == Values::Unique => {
                        fresh += 1;
                        ("write", json!(fresh))
                    }
                    5..=7 => ("write", json!(rng.below(5))),
                    _ if values == Values::Unique => {
                        // Expect a recent value, so some succeed.
                        fresh += 1;
                        ("cas", json!([fresh - 1 - rng.below(3), fresh]))
                    }
                    _ => ("cas", json!([rng.below(5), rng.below(5)])),
                };
                push(OpType::Invoke, p, f, Some(&key), arg.clone());
                pending[c] = Some(Pending {
                    f,
                    key,
                    k,
                    arg,
                    applied: false,
                    result: None,
                    succeeded: true,
                });
                invoked += 1;
                open += 1;
            }
            None => {}
            Some(mut op) if !op.applied => {
                if rng.below(crash_one_in) == 0 {
                    // Crashed before it took effect: indeterminate, never happens.
                    push(OpType::Info, p, op.f, Some(&op.key), op.arg);
                    process[c] += clients;
                    open -= 1;
                    continue;
                }
                let reg = &mut regs[op.k];
                let before = *reg;
                match op.f {
                    "read" => op.result = Some(reg.map_or(Value::Null, |v| json!(v))),
                    "write" => *reg = op.arg.as_i64(),
                    _ => {
                        let (from, to) = (op.arg[0].as_i64(), op.arg[1].as_i64());
                        op.succeeded = *reg == from;
                        if op.succeeded {
                            *reg = to;
                        }
                    }
                }
                if *reg != before {
                    changes[op.k].push((invoked, *reg));
                }
                op.applied = true;
                pending[c] = Some(op);
            }
            Some(op) => {
                open -= 1;
                if rng.below(crash_one_in) == 0 {
                    // Took effect, but the client never heard back.
                    push(OpType::Info, p, op.f, Some(&op.key), op.arg);
                    process[c] += clients;
                    continue;
                }
                let (kind, value) = match op.result {
                    Some(mut v) => {
                        match corrupt {
                            Some((at, how)) if !corrupted && invoked >= at => {
                                corrupted = true;
                                v = match how {
                                    Corrupt::Unwritten => json!(-1),
                                    Corrupt::Stale => {
                                        let log = &changes[op.k];
                                        let i = log.partition_point(|c| c.0 + 200 <= invoked);
                                        log[i.saturating_sub(1)].1.map_or(Value::Null, |x| json!(x))
                                    }
                                };
                            }
                            _ => {}
                        }
                        (OpType::Ok, v)
                    }
                    None if op.succeeded => (OpType::Ok, op.arg),
                    None => (OpType::Fail, op.arg),
                };
                push(kind, p, op.f, Some(&op.key), value);
            }
        }
    }
}
