//! Property tests of the linearizability checker:
//! - histories recorded from a real concurrent execution (threads against a
//!   mutex-protected sequential register map, with random info ops and
//!   crashes) are always linearizable;
//! - on small random histories (up to 8 ops) the verdict equals that of a
//!   brute-force checker that tries every order;
//! - the minimal witness's steps (cut, drop) never turn a linearizable
//!   history into one the brute-force checker rejects, and every witness of
//!   an invalid history is rejected by it.

use faultline_checkers::linearizability::online::Online;
use faultline_checkers::linearizability::{
    check_named, register_rules, witness, Options, Strategy as Search,
};
use faultline_checkers::models::ModelKind;
use faultline_checkers::{History, Op, OpType, Process, Verdict};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn record(log: &Mutex<Vec<Op>>, kind: OpType, p: u64, f: &str, key: &str, value: Value) {
    let mut ops = log.lock().unwrap();
    let index = ops.len() as u64;
    ops.push(Op {
        key: Some(key.into()),
        ..Op::client(index, kind, p, f, value)
    });
}

/// Runs `threads` real threads doing `ops` random operations each on a map of
/// registers behind a mutex, recording invocations before and completions
/// after the operation takes effect.
fn concurrent_history(threads: u64, ops: usize, keys: u64, seed: u64) -> History {
    let log = Arc::new(Mutex::new(Vec::new()));
    let store: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (log, store) = (log.clone(), store.clone());
            std::thread::spawn(move || {
                let mut rng =
                    Rng((seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ ((t + 1) * 7919)) | 1);
                let mut process = t;
                for _ in 0..ops {
                    let key = format!("k{}", rng.below(keys));
                    let (f, arg) = match rng.below(3) {
                        0 => ("read", Value::Null),
                        1 => ("write", json!(rng.below(4))),
                        _ => ("cas", json!([rng.below(4), rng.below(4)])),
                    };
                    record(&log, OpType::Invoke, process, f, &key, arg.clone());
                    let fate = rng.below(20);
                    if fate == 0 {
                        // Crashed before the op took effect; the op stays open.
                        return;
                    }
                    if fate == 1 {
                        // Timed out before it took effect: info, never happens.
                        record(&log, OpType::Info, process, f, &key, arg);
                        process += threads;
                        continue;
                    }
                    let (kind, value) = {
                        let mut map = store.lock().unwrap();
                        let current = map.get(&key).copied();
                        match f {
                            "read" => (OpType::Ok, current.map_or(Value::Null, |v| json!(v))),
                            "write" => {
                                map.insert(key.clone(), arg.as_i64().unwrap());
                                (OpType::Ok, arg.clone())
                            }
                            _ => {
                                if current == arg[0].as_i64() {
                                    map.insert(key.clone(), arg[1].as_i64().unwrap());
                                    (OpType::Ok, arg.clone())
                                } else {
                                    (OpType::Fail, arg.clone())
                                }
                            }
                        }
                    };
                    std::thread::yield_now();
                    match fate {
                        // Took effect, but the reply was lost: info.
                        2 | 3 => {
                            record(&log, OpType::Info, process, f, &key, arg);
                            process += threads;
                        }
                        // Took effect, then the client crashed: stays open.
                        4 => return,
                        _ => record(&log, kind, process, f, &key, value),
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    let ops = std::mem::take(&mut *log.lock().unwrap());
    History::new(ops)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn real_concurrent_executions_are_linearizable(
        threads in 2u64..6,
        ops in 1usize..60,
        keys in 1u64..4,
        seed in any::<u64>(),
    ) {
        let h = concurrent_history(threads, ops, keys, seed);
        for split in [true, false] {
            let opts = Options { split, ..Options::default() };
            let r = check_named(&h, "kv", None, &opts).unwrap();
            prop_assert_eq!(r.verdict, Verdict::Valid, "split {}: {}", split, r.summary);
        }
    }
}

/// One op of a small random history, before interleaving.
#[derive(Clone, Debug)]
struct SmallOp {
    f: &'static str,
    arg: Value,
    /// 0 ok, 1 info, 2 fail, 3 open.
    end: u8,
    /// What a read or get returns when it completes ok.
    read_value: Value,
}

fn small_op() -> impl Strategy<Value = SmallOp> {
    (0u8..3, 0i64..3, 0i64..3, 0u8..10, prop::option::of(0i64..3)).prop_map(
        |(f, a, b, end, read_value)| {
            let (f, arg) = match f {
                0 => ("read", Value::Null),
                1 => ("write", json!(a)),
                _ => ("cas", json!([a, b])),
            };
            SmallOp {
                f,
                arg,
                end: end_kind(end),
                read_value: read_value.map_or(Value::Null, |v| json!(v)),
            }
        },
    )
}

/// Every search, and `Auto` with no depth-first first try (so that its
/// refutation with crashed ops taking effect any number of times decides).
fn strategies() -> [Options; 4] {
    let with = |strategy| Options {
        strategy,
        ..Options::default()
    };
    [
        with(Search::Auto),
        Options {
            first_try: std::time::Duration::ZERO,
            ..with(Search::Auto)
        },
        with(Search::DepthFirst),
        with(Search::Frontier),
    ]
}

/// Like [`small_op`], but half the ops end `info` or stay open.
fn crash_heavy_op() -> impl Strategy<Value = SmallOp> {
    (small_op(), 0u8..4).prop_map(|(mut op, fate)| {
        op.end = match fate {
            0 => 1,
            1 => 3,
            _ => op.end,
        };
        op
    })
}

/// A read or a write of 0 or 1, completed ok but one time in ten.
fn twin_heavy_op() -> impl Strategy<Value = SmallOp> {
    (any::<bool>(), 0i64..2, 0u8..10, 0i64..2).prop_map(|(read, v, end, seen)| SmallOp {
        f: if read { "read" } else { "write" },
        arg: if read { Value::Null } else { json!(v) },
        end: if end == 0 { 1 } else { 0 },
        read_value: json!(seen),
    })
}

/// Ops over values 0-7, completed ok but one time in eight: most values
/// have one writer, many are never read, some are read only by reads;
/// where the register rules rename the values no op needs and the
/// frontier search merges dead values and placed write-and-read groups
/// (liveness.rs).
fn wide_value_op() -> impl Strategy<Value = SmallOp> {
    (0u8..4, 0i64..8, 0i64..8, 0u8..8, 0i64..8).prop_map(|(f, a, b, end, seen)| {
        let (f, arg) = match f {
            0 | 1 => ("read", Value::Null),
            2 => ("write", json!(a)),
            _ => ("cas", json!([a, b])),
        };
        SmallOp {
            f,
            arg,
            end: match end {
                0 => 1,
                1 => 3,
                _ => 0,
            },
            read_value: json!(seen),
        }
    })
}

/// One op of a simulated run on a register: what it does (0-1 read, 2
/// write, 3 cas), when it is invoked (0-11), how long it runs (1-6), where
/// in its span it takes effect (0-3), and whether it crashes (0 of 0-7).
type SimOp = (u8, u8, u8, u8, u8);

/// A history from a simulated run of `ops` on one register where every
/// write and cas sets its own value: each op takes effect at one moment in
/// its span; a cas expects the current value when its `at` is even, else
/// one from three writes back (and fails, unless it happens to be
/// current); a crashed op takes effect when its `at` is odd. `stale`: the
/// read of that number (mod reads) returns what the register held that
/// many effects earlier, which may make the history invalid.
fn simulated_history(ops: &[SimOp], stale: Option<(usize, u8)>) -> History {
    let effect = |i: usize, op: &SimOp| {
        let (s, e) = (op.1 as u64 * 8, (op.1 as u64 + op.2 as u64) * 8);
        s + 1 + (e - s - 2) * op.3 as u64 / 3 + i as u64 % 2
    };
    let mut order: Vec<usize> = (0..ops.len()).collect();
    order.sort_by_key(|&i| (effect(i, &ops[i]), i));
    let mut held: Vec<Value> = vec![Value::Null];
    let mut results: Vec<(Value, Value, OpType)> =
        vec![(Value::Null, Value::Null, OpType::Ok); ops.len()];
    let reads: Vec<usize> = order.iter().copied().filter(|&i| ops[i].0 < 2).collect();
    let stale_read = stale
        .filter(|_| !reads.is_empty())
        .map(|(k, back)| (reads[k % reads.len()], back));
    for &i in &order {
        let op = &ops[i];
        let crashed = op.4 == 0;
        let takes_effect = !crashed || op.3 % 2 == 1;
        let current = held.last().unwrap().clone();
        let mine = json!(100 + i);
        results[i] = match op.0 {
            0 | 1 => {
                let mut seen = current.clone();
                if let Some((_, back)) = stale_read.filter(|&(r, _)| r == i) {
                    seen = held[held.len().saturating_sub(1 + back as usize)].clone();
                }
                (
                    Value::Null,
                    seen,
                    if crashed { OpType::Info } else { OpType::Ok },
                )
            }
            2 => {
                if takes_effect {
                    held.push(mine.clone());
                }
                (
                    mine.clone(),
                    mine,
                    if crashed { OpType::Info } else { OpType::Ok },
                )
            }
            _ => {
                let expected = if op.3.is_multiple_of(2) {
                    current.clone()
                } else {
                    held[held.len().saturating_sub(3)].clone()
                };
                let arg = json!([expected, mine]);
                let applies = expected == current;
                if applies && takes_effect {
                    held.push(mine);
                }
                let kind = match (crashed, applies) {
                    (true, _) => OpType::Info,
                    (false, true) => OpType::Ok,
                    (false, false) => OpType::Fail,
                };
                (arg.clone(), arg, kind)
            }
        };
    }
    // Invokes and completions in time order.
    let mut events: Vec<(u64, usize, bool)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        events.push((op.1 as u64 * 8, i, false));
        events.push(((op.1 as u64 + op.2 as u64) * 8, i, true));
    }
    events.sort();
    let f = |op: &SimOp| match op.0 {
        0 | 1 => "read",
        2 => "write",
        _ => "cas",
    };
    let ops_out = events
        .iter()
        .enumerate()
        .map(|(n, &(_, i, done))| {
            let (arg, out, kind) = &results[i];
            if done {
                Op::client(n as u64, *kind, i as u64, f(&ops[i]), out.clone())
            } else {
                Op::client(n as u64, OpType::Invoke, i as u64, f(&ops[i]), arg.clone())
            }
        })
        .collect();
    History::new(ops_out)
}

fn sim_op() -> impl Strategy<Value = SimOp> {
    (0u8..4, 0u8..12, 1u8..7, 0u8..4, 0u8..8)
}

/// 0 ok (most often), 1 info, 2 fail, 3 open, from a number below 10.
fn end_kind(n: u8) -> u8 {
    match n {
        0..=5 => 0,
        6 | 7 => 1,
        8 => 2,
        _ => 3,
    }
}

/// A get, put or append of short strings over "ab", for `append-register`.
fn small_append_op() -> impl Strategy<Value = SmallOp> {
    let word = || prop::sample::select(vec!["", "a", "b", "ab", "ba", "aab", "abb", "bab"]);
    (0u8..3, word(), 0u8..10, word()).prop_map(|(f, arg, end, read)| {
        let (f, arg) = match f {
            0 => ("get", Value::Null),
            1 => ("put", json!(arg)),
            _ => ("append", json!(arg)),
        };
        SmallOp {
            f,
            arg,
            end: end_kind(end),
            read_value: json!(read),
        }
    })
}

/// Interleaves ops (each on its own process) by `order`: each op's invoke and
/// completion go where `order` says, invoke first.
fn small_history(ops: &[SmallOp], order: &[usize]) -> History {
    let mut events: Vec<(usize, bool)> = Vec::new();
    let mut invoked = vec![false; ops.len()];
    for &o in order {
        let i = o % ops.len();
        if !invoked[i] {
            invoked[i] = true;
            events.push((i, false));
        } else if !events.contains(&(i, true)) && ops[i].end != 3 {
            events.push((i, true));
        }
    }
    for (i, op) in ops.iter().enumerate() {
        if !invoked[i] {
            events.push((i, false));
        }
        if op.end != 3 && !events.contains(&(i, true)) {
            events.push((i, true));
        }
    }
    let mut out = Vec::new();
    for (n, &(i, done)) in events.iter().enumerate() {
        let op = &ops[i];
        let (kind, value) = if !done {
            (OpType::Invoke, op.arg.clone())
        } else {
            match op.end {
                0 if op.f == "read" || op.f == "get" => (OpType::Ok, op.read_value.clone()),
                0 => (OpType::Ok, op.arg.clone()),
                1 => (OpType::Info, op.arg.clone()),
                _ => (OpType::Fail, op.arg.clone()),
            }
        };
        out.push(Op::client(n as u64, kind, i as u64, op.f, value));
    }
    History::new(out)
}

/// One op as the brute-force oracle sees it.
struct B {
    f: String,
    arg: Value,
    result: Option<Value>,
    invoke: usize,
    complete: Option<usize>,
}

/// A cas register of integers (`null`: unset).
fn register_step(o: &B, s: &Value) -> Option<Value> {
    match o.f.as_str() {
        "read" => match &o.result {
            None => Some(s.clone()),
            Some(v) => (v == s).then(|| s.clone()),
        },
        "write" => Some(o.arg.clone()),
        _ => (&o.arg[0] == s).then(|| o.arg[1].clone()),
    }
}

/// A string register (`null` reads as "").
fn append_step(o: &B, s: &Value) -> Option<Value> {
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    match o.f.as_str() {
        "get" => match &o.result {
            None => Some(s.clone()),
            Some(v) => (text(v) == text(s)).then(|| s.clone()),
        },
        "put" => Some(json!(text(&o.arg))),
        _ => Some(json!(text(s) + &text(&o.arg))),
    }
}

type Step = fn(&B, &Value) -> Option<Value>;

/// The brute-force oracle: try every order of the ops that may have happened.
fn brute_force(h: &History, step: Step) -> bool {
    let mut ops: Vec<B> = Vec::new();
    let mut open: HashMap<Process, usize> = HashMap::new();
    for (pos, op) in h.ops.iter().enumerate() {
        if op.kind == OpType::Invoke {
            open.insert(op.process, ops.len());
            ops.push(B {
                f: op.f.clone(),
                arg: op.value.clone(),
                result: None,
                invoke: pos,
                complete: None,
            });
        } else {
            let i = open.remove(&op.process).unwrap();
            match op.kind {
                OpType::Ok => {
                    ops[i].complete = Some(pos);
                    ops[i].result = Some(op.value.clone());
                }
                OpType::Fail => ops[i].f = "failed".into(),
                _ => {}
            }
        }
    }
    ops.retain(|o| o.f != "failed");
    fn go(ops: &[B], step: Step, done: &mut Vec<bool>, s: Value) -> bool {
        let all_ok_done = ops
            .iter()
            .zip(done.iter())
            .all(|(o, &d)| d || o.complete.is_none());
        if all_ok_done {
            return true;
        }
        for i in 0..ops.len() {
            if done[i] {
                continue;
            }
            // Every op that completed before this one was invoked comes first.
            let ready = ops
                .iter()
                .zip(done.iter())
                .all(|(p, &d)| d || p.complete.is_none_or(|c| c > ops[i].invoke));
            if !ready {
                continue;
            }
            if let Some(next) = step(&ops[i], &s) {
                done[i] = true;
                if go(ops, step, done, next) {
                    return true;
                }
                done[i] = false;
            }
        }
        false
    }
    let mut done = vec![false; ops.len()];
    go(&ops, step, &mut done, Value::Null)
}

/// Every search gives `h` the brute-force oracle's verdict as a cas register.
fn every_search_agrees_with_brute_force(h: &History) -> Result<(), TestCaseError> {
    let expected = if brute_force(h, register_step) {
        Verdict::Valid
    } else {
        Verdict::Invalid
    };
    for opts in strategies() {
        let r = check_named(h, "cas-register", None, &opts).unwrap();
        prop_assert_eq!(
            r.verdict,
            expected,
            "{:?}: {}\n{:#?}",
            opts,
            r.summary,
            h.ops
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn small_histories_match_brute_force(
        ops in prop::collection::vec(small_op(), 1..=8),
        order in prop::collection::vec(0usize..8, 0..16),
    ) {
        let h = small_history(&ops, &order);
        every_search_agrees_with_brute_force(&h)?;
    }

    /// Most ops crashed: where the frontier search's dominance and blind-op
    /// rules do their work.
    #[test]
    fn crash_heavy_histories_match_brute_force(
        ops in prop::collection::vec(crash_heavy_op(), 1..=10),
        order in prop::collection::vec(0usize..10, 0..20),
    ) {
        let h = small_history(&ops, &order);
        every_search_agrees_with_brute_force(&h)?;
    }

    /// Ops over two values, most of them completed: many open ops with
    /// equal inputs, where the searches place the earliest-returning first.
    #[test]
    fn equal_input_histories_match_brute_force(
        ops in prop::collection::vec(twin_heavy_op(), 1..=10),
        order in prop::collection::vec(0usize..10, 0..20),
    ) {
        let h = small_history(&ops, &order);
        every_search_agrees_with_brute_force(&h)?;
    }

    /// Many values, each written once or never read.
    #[test]
    fn wide_value_histories_match_brute_force(
        ops in prop::collection::vec(wide_value_op(), 1..=10),
        order in prop::collection::vec(0usize..10, 0..20),
    ) {
        let h = small_history(&ops, &order);
        every_search_agrees_with_brute_force(&h)?;
    }

    /// Simulated runs with unique values, some with a stale read: many
    /// ops open at once, most values read once or never (where dead
    /// values and placed groups merge configurations).
    #[test]
    fn simulated_unique_value_histories_match_brute_force(
        ops in prop::collection::vec(sim_op(), 1..=10),
        stale in prop::option::of((0usize..10, 1u8..4)),
    ) {
        let h = simulated_history(&ops, stale);
        every_search_agrees_with_brute_force(&h)?;
    }

    #[test]
    fn small_append_histories_match_brute_force(
        ops in prop::collection::vec(small_append_op(), 1..=8),
        order in prop::collection::vec(0usize..8, 0..16),
    ) {
        let h = small_history(&ops, &order);
        let expected = if brute_force(&h, append_step) { Verdict::Valid } else { Verdict::Invalid };
        for opts in strategies() {
            let r = check_named(&h, "append-register", None, &opts).unwrap();
            prop_assert_eq!(r.verdict, expected, "{:?}: {}\n{:#?}", opts, r.summary, h.ops);
        }
    }
}

/// What a linearizable history becomes by the witness's steps (a cut, cas
/// ops checked as writes, sound drops) is still linearizable.
fn steps_only_relax(
    ops: &[SmallOp],
    order: &[usize],
    cut: usize,
    forget: &[usize],
    drop: &[usize],
) -> Result<(), TestCaseError> {
    let h = small_history(ops, order);
    if let Some(relaxed) = witness::relaxed(&h, None, cut, forget, drop) {
        if brute_force(&h, register_step) {
            prop_assert!(
                brute_force(&relaxed, register_step),
                "cut {} forget {:?} drop {:?} of\n{:#?}\ngave\n{:#?}",
                cut,
                forget,
                drop,
                h.ops,
                relaxed.ops
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Soundness of the witness's steps (see `steps_only_relax`), with
    /// most ops crashed.
    #[test]
    fn witness_steps_only_relax(
        ops in prop::collection::vec(crash_heavy_op(), 1..=8),
        order in prop::collection::vec(0usize..8, 0..16),
        cut in 0usize..18,
        forget in prop::collection::vec(0usize..18, 0..4),
        drop in prop::collection::vec(0usize..18, 0..5),
    ) {
        steps_only_relax(&ops, &order, cut, &forget, &drop)?;
    }

    /// The same with mostly acknowledged ops, where a setter can be
    /// dropped because another one surely overwrote it before a read.
    #[test]
    fn witness_steps_only_relax_with_acknowledged_ops(
        ops in prop::collection::vec(small_op(), 1..=8),
        order in prop::collection::vec(0usize..8, 0..16),
        cut in 0usize..18,
        forget in prop::collection::vec(0usize..18, 0..4),
        drop in prop::collection::vec(0usize..18, 0..5),
    ) {
        steps_only_relax(&ops, &order, cut, &forget, &drop)?;
    }

    /// Every witness of an invalid history is invalid by itself, and no
    /// larger than the history.
    #[test]
    fn witnesses_are_invalid_by_brute_force(
        ops in prop::collection::vec(small_op(), 1..=8),
        order in prop::collection::vec(0usize..8, 0..16),
    ) {
        let h = small_history(&ops, &order);
        if !brute_force(&h, register_step) {
            let w = witness::shrink(
                &h,
                ModelKind::CasRegister,
                None,
                None,
                false,
                std::time::Duration::from_secs(5),
            );
            let w = w.expect("an invalid history has a witness");
            prop_assert!(w.ops.len() <= ops.len());
            let alone = witness::witness_history(&h, &w);
            prop_assert!(
                !brute_force(&alone, register_step),
                "witness {:?} of\n{:#?}\nis linearizable:\n{:#?}", w.ops, h.ops, alone.ops
            );
        }
    }
}

/// The online check's first anomaly, fed `h` one op at a time.
fn online_anomaly(h: &History, model: ModelKind) -> Option<u64> {
    let mut online = Online::new(model, None, Default::default()).unwrap();
    h.ops.iter().find_map(|op| online.push(op)).map(|a| a.op)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Soundness of the online check: an anomaly it reports is one the
    /// brute-force oracle and the final check report too; and where no op
    /// is left running (so it walks the whole history), it finds one
    /// whenever they do.
    #[test]
    fn online_anomalies_are_final_ones(
        ops in prop::collection::vec(crash_heavy_op(), 1..=10),
        order in prop::collection::vec(0usize..10, 0..20),
    ) {
        let h = small_history(&ops, &order);
        let valid = brute_force(&h, register_step);
        let online = online_anomaly(&h, ModelKind::CasRegister);
        if online.is_some() {
            prop_assert!(!valid, "online reported {:?} on a linearizable history\n{:#?}", online, h.ops);
            let r = check_named(&h, "cas-register", None, &Options::default()).unwrap();
            prop_assert_eq!(r.verdict, Verdict::Invalid);
        }
        if ops.iter().all(|o| o.end != 3) {
            prop_assert_eq!(online.is_some(), !valid, "every op completed\n{:#?}", h.ops);
        }
    }

    #[test]
    fn online_append_anomalies_are_final_ones(
        ops in prop::collection::vec(small_append_op(), 1..=8),
        order in prop::collection::vec(0usize..8, 0..16),
    ) {
        let h = small_history(&ops, &order);
        let valid = brute_force(&h, append_step);
        let online = online_anomaly(&h, ModelKind::AppendRegister);
        prop_assert!(online.is_none() || !valid, "{:?}\n{:#?}", online, h.ops);
        if ops.iter().all(|o| o.end != 3) {
            prop_assert_eq!(online.is_some(), !valid, "every op completed\n{:#?}", h.ops);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Real executions over several keys: the online check, split per key,
    /// reports nothing.
    #[test]
    fn online_finds_nothing_in_real_executions(
        threads in 2u64..6,
        ops in 1usize..200,
        keys in 1u64..4,
        seed in any::<u64>(),
    ) {
        let h = concurrent_history(threads, ops, keys, seed);
        prop_assert_eq!(online_anomaly(&h, ModelKind::Kv), None);
    }
}

/// `h` without the ops invoked at `dropped` (their invoke and completion).
fn without_ops(h: &History, dropped: &[u64]) -> History {
    let procs: Vec<Process> = h
        .ops
        .iter()
        .filter(|o| o.kind == OpType::Invoke && dropped.contains(&o.index))
        .map(|o| o.process)
        .collect();
    // Each small history's process runs one op, so its lines are that op's.
    reindexed(
        h.ops
            .iter()
            .filter(|o| !procs.contains(&o.process))
            .cloned(),
    )
}

/// `h` with each op of `forced` (invocation index, position) completing
/// `ok` right after the line at that position instead of crashing.
fn with_forced(h: &History, forced: &[(u64, usize)]) -> History {
    let mut out = Vec::new();
    let forced_proc: Vec<(Process, usize)> = forced
        .iter()
        .map(|&(i, pos)| (h.ops.iter().find(|o| o.index == i).unwrap().process, pos))
        .collect();
    for (pos, op) in h.ops.iter().enumerate() {
        let crashed_end =
            op.kind != OpType::Invoke && forced_proc.iter().any(|f| f.0 == op.process);
        if !crashed_end {
            out.push(op.clone());
        }
        for &(p, _) in forced_proc.iter().filter(|f| f.1 == pos) {
            let invoke = h.ops.iter().find(|o| o.process == p).unwrap();
            let mut ok = invoke.clone();
            ok.kind = OpType::Ok;
            out.push(ok);
        }
    }
    reindexed(out.into_iter())
}

fn reindexed(ops: impl Iterator<Item = Op>) -> History {
    History::new(
        ops.enumerate()
            .map(|(i, mut o)| {
                o.index = i as u64;
                o
            })
            .collect(),
    )
}

/// A crash-heavy op of a plain register: its cas ops become writes.
fn crash_heavy_plain_op() -> impl Strategy<Value = SmallOp> {
    crash_heavy_op().prop_map(|mut op| {
        if op.f == "cas" {
            op.f = "write";
            op.arg = op.arg[1].clone();
        }
        op
    })
}

/// Each register rule (register_rules.rs) against the brute-force oracle:
/// an impossible read makes the history invalid; dropping the crashed ops
/// it drops, or making the ones it forces complete, keeps the verdict.
fn register_rules_keep_the_verdict(h: &History, model: ModelKind) -> Result<(), TestCaseError> {
    let valid = brute_force(h, register_step);
    let d = register_rules::decide(h, model, None).unwrap();
    if let Some(op) = d.impossible {
        prop_assert!(
            !valid,
            "op {} called impossible in a valid history\n{:#?}",
            op,
            h.ops
        );
        return Ok(());
    }
    let dropped = without_ops(h, &d.dropped);
    prop_assert_eq!(
        brute_force(&dropped, register_step),
        valid,
        "dropping {:?} of\n{:#?}",
        d.dropped,
        h.ops
    );
    let forced = with_forced(h, &d.forced);
    prop_assert_eq!(
        brute_force(&forced, register_step),
        valid,
        "forcing {:?} of\n{:#?}\ngave\n{:#?}",
        d.forced,
        h.ops,
        forced.ops
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn register_rules_match_brute_force(
        ops in prop::collection::vec(crash_heavy_op(), 1..=10),
        order in prop::collection::vec(0usize..10, 0..20),
    ) {
        register_rules_keep_the_verdict(&small_history(&ops, &order), ModelKind::CasRegister)?;
    }

    #[test]
    fn plain_register_rules_match_brute_force(
        ops in prop::collection::vec(crash_heavy_plain_op(), 1..=10),
        order in prop::collection::vec(0usize..10, 0..20),
    ) {
        let h = small_history(&ops, &order);
        register_rules_keep_the_verdict(&h, ModelKind::Register)?;
        let expected = if brute_force(&h, register_step) { Verdict::Valid } else { Verdict::Invalid };
        for opts in strategies() {
            let r = check_named(&h, "register", None, &opts).unwrap();
            prop_assert_eq!(r.verdict, expected, "{:?}: {}\n{:#?}", opts, r.summary, h.ops);
        }
    }
}

/// Two writes of 1, then a write of 2 that `fate` ends, then a read of 1
/// (the write of 2 began after the writes of 1 ended, and ended before the
/// read).
fn overwritten_then_read(fate: OpType) -> History {
    let op = |i: u64, kind, p, f: &str, v: Value| Op::client(i, kind, p, f, v);
    History::new(vec![
        op(0, OpType::Invoke, 0, "write", json!(1)),
        op(1, OpType::Ok, 0, "write", json!(1)),
        op(2, OpType::Invoke, 3, "write", json!(1)),
        op(3, OpType::Ok, 3, "write", json!(1)),
        op(4, OpType::Invoke, 1, "write", json!(2)),
        op(5, fate, 1, "write", json!(2)),
        op(6, OpType::Invoke, 2, "read", Value::Null),
        op(7, OpType::Ok, 2, "read", json!(1)),
    ])
}

/// A setter read later can be dropped only when an acknowledged write
/// surely came between (a crashed one may never have taken effect), and
/// another setter of its value stays.
#[test]
fn a_setter_is_dropped_only_behind_an_acknowledged_overwrite() {
    let crashed = overwritten_then_read(OpType::Info);
    assert!(brute_force(&crashed, register_step));
    // The later write of 1 stands between the first and the read: the first
    // may go. Nothing acknowledged stands between the later one and the read.
    assert!(witness::relaxed(&crashed, None, usize::MAX, &[], &[0]).is_some());
    assert!(witness::relaxed(&crashed, None, usize::MAX, &[], &[2]).is_none());
    // Acknowledged: the history is not linearizable, and either write of 1
    // may go, not both.
    let acked = overwritten_then_read(OpType::Ok);
    assert!(!brute_force(&acked, register_step));
    let relaxed = witness::relaxed(&acked, None, usize::MAX, &[], &[2]).expect("sound to drop");
    assert_eq!(relaxed.ops.len(), 6);
    assert!(!brute_force(&relaxed, register_step));
    assert!(witness::relaxed(&acked, None, usize::MAX, &[], &[0, 2]).is_none());
}
