//! Transactional checker benchmark: generated list-append and rw-register
//! histories (10 clients, 1-4 micro-ops a txn, an exponential choice among
//! 10 active keys, a key retired after `max_writes` writes, values unique per
//! key), valid ones and ones with planted anomalies. Prints a table of
//! median check times; asserts nothing about time.
//!
//! `cargo bench -p faultline-checkers --bench txn [-- SIZES]`, e.g. `-- 100000 1000000`.

use faultline_checkers::history::{History, Op, OpType, Process};
use faultline_checkers::txn::{self, ConsistencyModel, TxnWorkload};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::time::Instant;

const CLIENTS: usize = 10;
const ACTIVE_KEYS: usize = 10;

/// How the generated database behaves.
#[derive(Clone, Copy, PartialEq)]
enum Db {
    /// Each txn takes effect at once at its completion: strict serializable.
    Serial,
    /// One txn in `n` reads the state as of its invocation but writes at its
    /// completion (snapshot-like): lost updates, write skew, stale reads.
    StaleReads(u32),
}

fn generate(n: usize, w: TxnWorkload, db: Db, max_writes: usize, seed: u64) -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut state: Vec<Vec<i64>> = Vec::new();
    let mut active: Vec<usize> = Vec::new();
    let new_key = |state: &mut Vec<Vec<i64>>| {
        state.push(Vec::new());
        state.len() - 1
    };
    for _ in 0..ACTIVE_KEYS {
        let k = new_key(&mut state);
        active.push(k);
    }
    // Per client: the open txn's plan and the snapshot it may read from.
    type Plan = Vec<(bool, usize)>;
    type Snapshot = Vec<(usize, Vec<i64>)>;
    let mut open: Vec<Option<(Plan, Option<Snapshot>)>> = vec![None; CLIENTS];
    let mut ops = Vec::with_capacity(n * 2);
    let mut started = 0;
    let push = |ops: &mut Vec<Op>, kind, p: usize, value| {
        let i = ops.len() as u64;
        ops.push(Op {
            index: i,
            time: i * 1000,
            kind,
            process: Process::Client(p as u64),
            f: "txn".into(),
            key: None,
            value,
            error: None,
            node: None,
        });
    };
    let (wf, register) = match w {
        TxnWorkload::ListAppend => ("append", false),
        TxnWorkload::RwRegister => ("w", true),
    };
    let mut next_value = 0i64;
    while started < n || open.iter().any(Option::is_some) {
        let c = rng.gen_range(0..CLIENTS);
        match open[c].take() {
            None if started < n => {
                started += 1;
                let plan: Plan = (0..rng.gen_range(1..=4))
                    .map(|_| {
                        let mut i = 0;
                        while i + 1 < ACTIVE_KEYS && rng.gen_bool(0.5) {
                            i += 1;
                        }
                        (rng.gen_bool(0.5), active[i])
                    })
                    .collect();
                let inv: Vec<Value> = plan
                    .iter()
                    .map(|&(write, k)| {
                        if write {
                            json!([wf, k, 0])
                        } else {
                            json!(["r", k, null])
                        }
                    })
                    .collect();
                push(&mut ops, OpType::Invoke, c, Value::Array(inv));
                let stale = match db {
                    Db::StaleReads(one_in) => rng.gen_ratio(1, one_in),
                    Db::Serial => false,
                };
                let snapshot = stale.then(|| {
                    plan.iter()
                        .map(|&(_, k)| (k, state[k].clone()))
                        .collect::<Vec<_>>()
                });
                open[c] = Some((plan, snapshot));
            }
            None => {}
            Some((plan, snapshot)) => {
                let mut done = Vec::with_capacity(plan.len());
                let mut own: Vec<(usize, i64)> = Vec::new();
                for (write, k) in plan {
                    if write {
                        next_value += 1;
                        let v = next_value;
                        state[k].push(v);
                        own.push((k, v));
                        done.push(json!([wf, k, v]));
                        if state[k].len() >= max_writes {
                            if let Some(slot) = active.iter().position(|&a| a == k) {
                                active[slot] = new_key(&mut state);
                            }
                        }
                    } else {
                        let mut seen = match &snapshot {
                            Some(s) => s
                                .iter()
                                .find(|e| e.0 == k)
                                .map(|e| e.1.clone())
                                .unwrap_or_default(),
                            None => state[k].clone(),
                        };
                        if snapshot.is_some() {
                            seen.extend(own.iter().filter(|o| o.0 == k).map(|o| o.1));
                        }
                        done.push(if register {
                            json!(["r", k, seen.last()])
                        } else {
                            json!(["r", k, seen])
                        });
                    }
                }
                push(&mut ops, OpType::Ok, c, Value::Array(done));
            }
        }
    }
    // Invocations carry the written values too.
    let mut last_invoke: Vec<usize> = vec![0; CLIENTS];
    for i in 0..ops.len() {
        let p = match ops[i].process {
            Process::Client(p) => p as usize,
            Process::Nemesis => continue,
        };
        if ops[i].kind == OpType::Invoke {
            last_invoke[p] = i;
        } else {
            let done = ops[i].value.clone();
            let inv = &mut ops[last_invoke[p]].value;
            for (m, d) in inv
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .zip(done.as_array().unwrap())
            {
                if m[0] != "r" {
                    *m = d.clone();
                }
            }
        }
    }
    History::new(ops)
}

fn peak_rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if args.is_empty() { vec![100_000] } else { args };
    let runs = 3;
    println!(
        "| txns | workload | max writes/key | history | model | check median (s) | edges | anomaly types | peak RSS (MB) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &n in &sizes {
        for (w, db, max_writes) in [
            (TxnWorkload::ListAppend, Db::Serial, 256),
            (TxnWorkload::ListAppend, Db::Serial, 32),
            (TxnWorkload::ListAppend, Db::StaleReads(1000), 32),
            (TxnWorkload::RwRegister, Db::Serial, 256),
            (TxnWorkload::RwRegister, Db::StaleReads(1000), 256),
        ] {
            let h = generate(n, w, db, max_writes, 42);
            for model in [
                ConsistencyModel::StrictSerializable,
                ConsistencyModel::Serializable,
            ] {
                let opts = txn::Options {
                    models: vec![model],
                    ..Default::default()
                };
                let mut times = Vec::new();
                let mut last = None;
                for _ in 0..runs {
                    let t = Instant::now();
                    let r = txn::check(&h, w, &opts).expect("generated histories are well formed");
                    times.push(t.elapsed().as_secs_f64());
                    last = Some(r);
                }
                times.sort_by(|a, b| a.partial_cmp(b).unwrap());
                let r = last.unwrap();
                let evidence = r.details.txn().expect("a transactional check");
                let types = evidence.anomaly_types.clone();
                println!(
                    "| {n} | {} | {max_writes} | {} | {model} | {:.3} | {} | {} | {} |",
                    w.name(),
                    match db {
                        Db::Serial => "valid".to_string(),
                        Db::StaleReads(k) => format!("stale reads 1/{k}"),
                    },
                    times[runs / 2],
                    evidence.stats.edges,
                    if types.is_empty() {
                        "-".into()
                    } else {
                        types.join(" ")
                    },
                    peak_rss_mb()
                );
                if db == Db::Serial {
                    assert!(
                        types.is_empty(),
                        "a serial execution must pass: {}",
                        r.summary
                    );
                }
            }
        }
    }
}
