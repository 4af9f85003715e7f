//! A history file checked per key (`linearizability::file`, what
//! `faultline check FILE --model kv` runs) gives what the checker gives on
//! the whole History read from it: verdict, summary, blamed op, first
//! anomaly, counterexample and witness, op counts and load spread; and the
//! same errors for a file or history that is not well-formed.

use faultline_checkers::linearizability::{file, Options};
use faultline_checkers::models::ModelKind;
use faultline_checkers::registry::{self, CheckerKind};
use faultline_checkers::{jsonl, load_spread, History, Op, OpType, Process, RunStats, Verdict};
use proptest::prelude::*;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

#[allow(dead_code)] // the tests use the kv generator only
#[path = "../benches/generated/mod.rs"]
mod generated;
use generated::{generate_into, Corrupt, Spec, Values};

/// One thread, so which of several invalid parts is found first is the
/// same on both paths; a witness, to compare it too.
fn options() -> Options {
    Options {
        threads: Some(1),
        witness: Some(Duration::from_secs(5)),
        ..Options::default()
    }
}

/// A result as JSON, without its timings.
fn untimed(mut v: Value) -> Value {
    match &mut v {
        Value::Object(m) => {
            m.remove("elapsed_ms");
            for x in m.values_mut() {
                *x = untimed(x.take());
            }
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                *x = untimed(x.take());
            }
        }
        _ => {}
    }
    v
}

/// Writes `history` to a file, checks it both ways and asserts they agree;
/// returns the verdict.
fn both_ways(history: &History, model: ModelKind, initial: Option<&Value>) -> Option<Verdict> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.jsonl");
    jsonl::write_file(&path, history).unwrap();
    let opts = registry::Options {
        model: Some(model),
        initial: initial.cloned(),
        linearizability: options(),
        ..registry::Options::default()
    };
    let whole = registry::check(CheckerKind::Linearizable, history, &opts);
    let by_key = file::check_file(&path, model, initial, &options()).expect("the file reads");
    assert_eq!(by_key.stats, RunStats::of(history));
    assert_eq!(by_key.load, load_spread::of(history));
    assert!(by_key.warnings.is_empty());
    match (whole, by_key.result) {
        (Ok(a), Ok(b)) => {
            let (a, b) = (
                serde_json::to_value(&a).unwrap(),
                serde_json::to_value(&b).unwrap(),
            );
            assert_eq!(untimed(a.clone()), untimed(b));
            Some(serde_json::from_value(a["verdict"].clone()).unwrap())
        }
        (Err(a), Err(b)) => {
            assert_eq!(a, b);
            None
        }
        (a, b) => panic!("whole: {a:?}\nby key: {b:?}"),
    }
}

/// A small random kv history: few values (so many histories are invalid),
/// crashed, failed and still open ops, invocations that name their key only
/// on completion, and nemesis faults in between.
fn random_history(seed: u64) -> History {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let clients = rng.gen_range(1..=4u64);
    let keys = rng.gen_range(1..=3u64);
    let steps = rng.gen_range(0..60);
    let mut process: Vec<u64> = (0..clients).collect();
    let mut open: Vec<Option<(String, Option<String>, Value)>> = vec![None; clients as usize];
    let mut ops: Vec<Op> = Vec::new();
    let push = |ops: &mut Vec<Op>, kind, process, f: &str, key, value| {
        let index = ops.len() as u64;
        ops.push(Op {
            key,
            time: index * 10,
            ..Op {
                process,
                ..Op::client(index, kind, 0, f, value)
            }
        });
    };
    for _ in 0..steps {
        if rng.gen_ratio(1, 12) {
            let f = if rng.gen() {
                "start-partition"
            } else {
                "stop-partition"
            };
            let grudge = json!({"n1": ["n2"]});
            push(
                &mut ops,
                OpType::Invoke,
                Process::Nemesis,
                f,
                None,
                grudge.clone(),
            );
            push(&mut ops, OpType::Info, Process::Nemesis, f, None, grudge);
            continue;
        }
        let c = rng.gen_range(0..clients as usize);
        let p = Process::Client(process[c]);
        match open[c].take() {
            None => {
                let key = format!("k{}", rng.gen_range(0..keys));
                let (f, arg) = match rng.gen_range(0..3) {
                    0 => ("read", Value::Null),
                    1 => ("write", json!(rng.gen_range(0..3))),
                    _ => ("cas", json!([rng.gen_range(0..3), rng.gen_range(0..3)])),
                };
                let named = (!rng.gen_ratio(1, 8)).then(|| key.clone());
                push(&mut ops, OpType::Invoke, p, f, named.clone(), arg.clone());
                open[c] = Some((f.to_string(), Some(key), arg));
            }
            Some((f, key, arg)) => {
                let (kind, value) = match rng.gen_range(0..10) {
                    0 => (OpType::Info, arg),
                    1 => (OpType::Fail, arg),
                    _ if f == "read" => (
                        OpType::Ok,
                        [Value::Null, json!(0), json!(1), json!(2)][rng.gen_range(0..4)].clone(),
                    ),
                    _ => (OpType::Ok, arg),
                };
                push(&mut ops, kind, p, &f, key, value);
                if kind == OpType::Info {
                    process[c] += clients;
                }
            }
        }
    }
    History::new(ops)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_histories_check_the_same_from_a_file(seed in any::<u64>()) {
        let h = random_history(seed);
        both_ways(&h, ModelKind::Kv, None);
        both_ways(&h, ModelKind::Kv, Some(&json!(0)));
    }
}

#[test]
fn random_histories_are_both_valid_and_invalid() {
    let verdicts: Vec<Option<Verdict>> = (0..40)
        .map(|seed| both_ways(&random_history(seed), ModelKind::Kv, None))
        .collect();
    assert!(verdicts.contains(&Some(Verdict::Valid)), "{verdicts:?}");
    assert!(verdicts.contains(&Some(Verdict::Invalid)), "{verdicts:?}");
}

fn generated(corrupt: Option<Corrupt>) -> History {
    let mut ops = Vec::new();
    let spec = Spec {
        corrupt: corrupt.map(|how| (12_000, how)),
        ..Spec::new(20_000, 50, 10, 5, Values::Few)
    };
    generate_into(spec, |op| ops.push(op));
    History::new(ops)
}

#[test]
fn generated_kv_histories_check_the_same_from_a_file() {
    let valid = generated(None);
    assert_eq!(both_ways(&valid, ModelKind::Kv, None), Some(Verdict::Valid));
    for how in [Corrupt::Unwritten, Corrupt::Stale] {
        let invalid = generated(Some(how));
        assert_eq!(
            both_ways(&invalid, ModelKind::Kv, None),
            Some(Verdict::Invalid)
        );
    }
}

#[test]
fn append_register_histories_check_the_same_from_a_file() {
    let op = |i: u64, kind, p: u64, f: &str, key: &str, value: Value| Op {
        key: Some(key.into()),
        ..Op::client(i, kind, p, f, value)
    };
    let ok = History::new(vec![
        op(0, OpType::Invoke, 0, "append", "a", json!("x")),
        op(1, OpType::Ok, 0, "append", "a", json!("x")),
        op(2, OpType::Invoke, 1, "read", "a", Value::Null),
        op(3, OpType::Invoke, 0, "read", "b", Value::Null),
        op(4, OpType::Ok, 1, "read", "a", json!("x")),
        op(5, OpType::Ok, 0, "read", "b", json!("")),
    ]);
    assert_eq!(
        both_ways(&ok, ModelKind::AppendRegister, None),
        Some(Verdict::Valid)
    );
    let mut bad = ok.clone();
    bad.ops[4].value = json!("y");
    assert_eq!(
        both_ways(&bad, ModelKind::AppendRegister, None),
        Some(Verdict::Invalid)
    );
}

#[test]
fn ops_that_do_not_pair_are_the_same_error() {
    let h = History::new(vec![
        Op::client(0, OpType::Invoke, 1, "write", json!(1)),
        Op::client(1, OpType::Invoke, 1, "write", json!(2)),
    ]);
    assert_eq!(both_ways(&h, ModelKind::Kv, None), None);
    let h = History::new(vec![Op::client(0, OpType::Ok, 1, "read", json!(1))]);
    assert_eq!(both_ways(&h, ModelKind::Kv, None), None);
}

fn check_text(text: &str) -> Result<file::FileCheck, String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.jsonl");
    std::fs::write(&path, text).unwrap();
    file::check_file(&path, ModelKind::Kv, None, &Options::default())
        .map_err(|e| e.to_string().replace(&dir.path().display().to_string(), ""))
}

#[test]
fn a_bad_line_is_an_error_naming_file_and_line() {
    let good = r#"{"index":0,"type":"invoke","process":1,"f":"read","key":"a"}"#;
    let bad = r#"{"index":1,"type":"maybe","process":1,"f":"read","key":"a"}"#;
    let err = check_text(&format!("{good}\n{bad}\n{good}\n"))
        .err()
        .expect("a bad middle line is an error");
    assert!(err.starts_with("/h.jsonl:2: "), "{err}");
    assert!(err.contains("maybe"), "{err}");
    // As the History reader says it.
    let whole = jsonl::read(
        format!("{good}\n{bad}\n{good}\n").as_bytes(),
        Path::new("/h.jsonl"),
    )
    .unwrap_err()
    .to_string();
    assert_eq!(err, whole);

    let read = check_text(&format!("{good}\n{{\"index\":1,\"ty")).expect("a truncated last line");
    assert_eq!(read.warnings.len(), 1);
    assert!(
        read.warnings[0].contains("h.jsonl:2"),
        "{:?}",
        read.warnings
    );
    assert_eq!(read.stats.open, 1);
}
