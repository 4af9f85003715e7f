//! Unit tests of `check_named` on small hand-written histories.

use super::*;
use crate::history::{Op, OpType, Process};
use crate::verdict::Verdict;
use serde_json::json;

/// Builds a history from (process, type, f, key, value) lines.
fn history(lines: &[(u64, &str, &str, Option<&str>, Value)]) -> History {
    History::new(
        lines
            .iter()
            .enumerate()
            .map(|(i, (p, t, f, key, value))| Op {
                index: i as u64,
                time: i as u64 * 10,
                kind: match *t {
                    "invoke" => OpType::Invoke,
                    "ok" => OpType::Ok,
                    "fail" => OpType::Fail,
                    _ => OpType::Info,
                },
                process: Process::Client(*p),
                f: f.to_string(),
                key: key.map(str::to_string),
                value: value.clone(),
                error: None,
                node: None,
            })
            .collect(),
    )
}

fn check(h: &History, model: &str, initial: Option<Value>) -> CheckResult {
    check_named(h, model, initial.as_ref(), &Options::default()).unwrap()
}

#[test]
fn sequential_history_is_valid() {
    let h = history(&[
        (0, "invoke", "write", None, json!(1)),
        (0, "ok", "write", None, json!(1)),
        (1, "invoke", "read", None, Value::Null),
        (1, "ok", "read", None, json!(1)),
        (0, "invoke", "cas", None, json!([1, 2])),
        (0, "ok", "cas", None, json!([1, 2])),
        (1, "invoke", "read", None, Value::Null),
        (1, "ok", "read", None, json!(2)),
    ]);
    let r = check(&h, "cas-register", None);
    assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
}

#[test]
fn stale_read_is_invalid_with_evidence() {
    let h = history(&[
        (0, "invoke", "write", None, json!(1)),
        (0, "ok", "write", None, json!(1)),
        (1, "invoke", "read", None, Value::Null),
        (1, "ok", "read", None, json!(0)),
    ]);
    let r = check(&h, "register", Some(json!(0)));
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(
        details(&r)["counterexample"]["failed_op"]["index"],
        json!(2)
    );
    assert_eq!(details(&r)["counterexample"]["linearized"], json!([0]));
    assert_eq!(details(&r)["counterexample"]["state"], json!(1));
    // The summary names the read by what it returned, not by its null input.
    assert!(r.summary.contains("op 2 (read -> 0)"), "{}", r.summary);
    // With initial 1... the read of 0 is still impossible; with initial 0 and no
    // write it is fine.
    let h2 = history(&[
        (1, "invoke", "read", None, Value::Null),
        (1, "ok", "read", None, json!(0)),
    ]);
    assert_eq!(
        check(&h2, "register", Some(json!(0))).verdict,
        Verdict::Valid
    );
    assert_eq!(check(&h2, "register", None).verdict, Verdict::Invalid);
}

/// The register rules rename values no op reads to one (here 2 becomes 1);
/// the evidence still shows what the register really held.
#[test]
fn evidence_shows_values_the_rules_renamed() {
    let h = history(&[
        (0, "invoke", "write", None, json!(1)),
        (0, "ok", "write", None, json!(1)),
        (0, "invoke", "write", None, json!(2)),
        (0, "ok", "write", None, json!(2)),
        (1, "invoke", "read", None, Value::Null),
        (1, "ok", "read", None, json!(0)),
    ]);
    for strategy in [Strategy::Auto, Strategy::DepthFirst, Strategy::Frontier] {
        let opts = Options {
            strategy,
            ..Options::default()
        };
        let r = check_named(&h, "register", Some(&json!(0)), &opts).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid);
        let cx = &details(&r)["counterexample"];
        assert_eq!(cx["linearized"], json!([0, 2]), "{strategy:?}");
        assert_eq!(cx["state"], json!(2), "{strategy:?}: {cx}");
    }
}

#[test]
fn concurrent_ops_may_take_effect_in_either_order() {
    let h = history(&[
        (0, "invoke", "write", None, json!(1)),
        (1, "invoke", "read", None, Value::Null),
        (1, "ok", "read", None, json!(1)),
        (2, "invoke", "read", None, Value::Null),
        (2, "ok", "read", None, Value::Null),
        (0, "ok", "write", None, json!(1)),
    ]);
    // Reads 1 then null: impossible, the write is not undone.
    assert_eq!(check(&h, "register", None).verdict, Verdict::Invalid);
    let h = history(&[
        (0, "invoke", "write", None, json!(1)),
        (2, "invoke", "read", None, Value::Null),
        (2, "ok", "read", None, Value::Null),
        (1, "invoke", "read", None, Value::Null),
        (1, "ok", "read", None, json!(1)),
        (0, "ok", "write", None, json!(1)),
    ]);
    assert_eq!(check(&h, "register", None).verdict, Verdict::Valid);
}

#[test]
fn info_ops_may_happen_later_or_never_and_fails_never() {
    let seen_later = history(&[
        (0, "invoke", "write", None, json!(7)),
        (0, "info", "write", None, json!(7)),
        (1, "invoke", "read", None, Value::Null),
        (1, "ok", "read", None, Value::Null),
        (1, "invoke", "read", None, Value::Null),
        (1, "ok", "read", None, json!(7)),
        (1, "invoke", "read", None, Value::Null),
        (1, "ok", "read", None, json!(7)),
    ]);
    assert_eq!(check(&seen_later, "register", None).verdict, Verdict::Valid);
    let never = history(&[
        (0, "invoke", "cas", None, json!([3, 4])),
        (1, "invoke", "read", None, Value::Null),
        (1, "ok", "read", None, Value::Null),
    ]);
    assert_eq!(check(&never, "cas-register", None).verdict, Verdict::Valid);
    let failed = history(&[
        (0, "invoke", "write", None, json!(5)),
        (0, "fail", "write", None, json!(5)),
        (1, "invoke", "read", None, Value::Null),
        (1, "ok", "read", None, json!(5)),
    ]);
    assert_eq!(check(&failed, "register", None).verdict, Verdict::Invalid);
    // An info op cannot take effect before it was invoked.
    let too_early = history(&[
        (1, "invoke", "read", None, Value::Null),
        (1, "ok", "read", None, json!(9)),
        (0, "invoke", "write", None, json!(9)),
        (0, "info", "write", None, json!(9)),
    ]);
    assert_eq!(
        check(&too_early, "register", None).verdict,
        Verdict::Invalid
    );
}

#[test]
fn nil_reads_tell_nothing_when_asked() {
    let h = history(&[
        (0, "invoke", "write", None, json!(1)),
        (0, "ok", "write", None, json!(1)),
        (1, "invoke", "read", None, Value::Null),
        (1, "ok", "read", None, Value::Null),
    ]);
    assert_eq!(check(&h, "register", None).verdict, Verdict::Invalid);
    let opts = Options {
        nil_read_is_unknown: true,
        ..Options::default()
    };
    let r = check_named(&h, "register", None, &opts).unwrap();
    assert_eq!(r.verdict, Verdict::Valid);
}

#[test]
fn kv_is_split_per_key_and_names_the_bad_key() {
    let h = history(&[
        (0, "invoke", "write", Some("a"), json!(1)),
        (0, "ok", "write", Some("a"), json!(1)),
        (1, "invoke", "read", Some("b"), Value::Null),
        (1, "ok", "read", Some("b"), Value::Null),
        (1, "invoke", "read", Some("a"), Value::Null),
        (1, "ok", "read", Some("a"), json!(2)),
    ]);
    let r = check(&h, "kv", None);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(details(&r)["counterexample"]["key"], json!("a"));
    assert_eq!(details(&r)["parts"], json!(2));
    let unsplit = Options {
        split: false,
        ..Options::default()
    };
    let r = check_named(&h, "kv", None, &unsplit).unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(details(&r)["parts"], json!(1));
    // A register model refuses a history of several keys.
    let err = check_named(&h, "register", None, &Options::default()).unwrap_err();
    assert!(err.contains("use a model of independent keys"), "{err}");
}

#[test]
fn mutex_and_queue_histories() {
    let h = history(&[
        (0, "invoke", "acquire", None, Value::Null),
        (0, "ok", "acquire", None, Value::Null),
        (1, "invoke", "acquire", None, Value::Null),
        (1, "ok", "acquire", None, Value::Null),
    ]);
    assert_eq!(check(&h, "mutex", None).verdict, Verdict::Invalid);
    assert_eq!(
        check(&History::default(), "mutex", None).verdict,
        Verdict::Valid
    );
    let q = history(&[
        (0, "invoke", "enqueue", None, json!(1)),
        (1, "invoke", "enqueue", None, json!(2)),
        (0, "ok", "enqueue", None, json!(1)),
        (1, "ok", "enqueue", None, json!(2)),
        (0, "invoke", "dequeue", None, Value::Null),
        (0, "ok", "dequeue", None, json!(2)),
        (0, "invoke", "dequeue", None, Value::Null),
        (0, "ok", "dequeue", None, json!(1)),
    ]);
    assert_eq!(check(&q, "fifo-queue", None).verdict, Verdict::Valid);
    let q_bad = history(&[
        (0, "invoke", "enqueue", None, json!(1)),
        (0, "ok", "enqueue", None, json!(1)),
        (0, "invoke", "enqueue", None, json!(2)),
        (0, "ok", "enqueue", None, json!(2)),
        (0, "invoke", "dequeue", None, Value::Null),
        (0, "ok", "dequeue", None, json!(2)),
    ]);
    assert_eq!(check(&q_bad, "fifo-queue", None).verdict, Verdict::Invalid);
    assert_eq!(
        check(&q_bad, "fifo-queue", Some(json!([]))).verdict,
        Verdict::Invalid
    );
}

#[test]
fn unknown_model_and_bad_initial_are_errors() {
    let h = History::default();
    let o = Options::default();
    assert!(check_named(&h, "nope", None, &o)
        .unwrap_err()
        .contains("models: register"));
    assert!(check_named(&h, "mutex", Some(&json!(3)), &o).is_err());
    assert!(check_named(&h, "append-register", Some(&json!([1])), &o).is_err());
}

/// Many concurrent writes and a read of a value only two crashed cas ops
/// from values that only ops invoked after the read returned could set:
/// the search must try every order of the writes before it can say no.
/// (Each written value is needed by a crashed cas, and so by the last
/// read, so no register rule or dead value takes the writes out.)
fn hard_invalid_history(writers: u64) -> History {
    let mut lines = Vec::new();
    for p in 0..writers {
        lines.push((p, "invoke", "write", None, json!(p)));
    }
    lines.push((200, "invoke", "cas", None, json!([-2, -1])));
    lines.push((201, "invoke", "cas", None, json!([-3, -1])));
    lines.push((999, "invoke", "read", None, Value::Null));
    lines.push((999, "ok", "read", None, json!(-1)));
    for p in 0..writers {
        lines.push((p, "ok", "write", None, json!(p)));
    }
    for p in 0..writers {
        lines.push((p + 100, "invoke", "cas", None, json!([p, -2])));
    }
    lines.push((998, "invoke", "read", None, Value::Null));
    lines.push((998, "ok", "read", None, json!(-2)));
    history(&lines)
}

#[test]
fn budgets_give_unknown_not_a_crash() {
    let h = hard_invalid_history(10);
    let timeout = Options {
        timeout: Some(Duration::ZERO),
        ..Options::default()
    };
    let r = check_named(&h, "cas-register", None, &timeout).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown, "{}", r.summary);
    assert_eq!(details(&r)["unfinished"]["reason"], json!("timeout"));
    // Every search counts what it holds against the cap, and says so.
    for strategy in [Strategy::Auto, Strategy::DepthFirst, Strategy::Frontier] {
        let memory = Options {
            memory_limit_bytes: Some(4096),
            strategy,
            ..Options::default()
        };
        let r = check_named(&h, "cas-register", None, &memory).unwrap();
        assert_eq!(r.verdict, Verdict::Unknown, "{strategy:?}: {}", r.summary);
        assert_eq!(details(&r)["unfinished"]["reason"], json!("memory"));
        assert!(r.summary.contains("memory limit"), "{}", r.summary);
    }
    // With room, the search finishes and finds it invalid.
    let r = check_named(
        &hard_invalid_history(6),
        "cas-register",
        None,
        &Options::default(),
    )
    .unwrap();
    assert_eq!(r.verdict, Verdict::Invalid);
}

#[test]
fn append_register_evidence_shows_strings_the_search_merged() {
    // "zz" is no prefix of any read, so the search keeps it as one merged
    // state; the evidence must still show the real string.
    let h = history(&[
        (0, "invoke", "append", Some("k"), json!("a")),
        (0, "ok", "append", Some("k"), json!("a")),
        (1, "invoke", "get", Some("k"), Value::Null),
        (1, "ok", "get", Some("k"), json!("a")),
        (0, "invoke", "put", Some("k"), json!("zz")),
        (0, "ok", "put", Some("k"), json!("zz")),
        (0, "invoke", "append", Some("k"), json!("b")),
        (0, "ok", "append", Some("k"), json!("b")),
        (1, "invoke", "get", Some("k"), Value::Null),
        (1, "ok", "get", Some("k"), json!("ab")),
    ]);
    for split in [true, false] {
        let opts = Options {
            split,
            ..Options::default()
        };
        let r = check_named(&h, "append-register", None, &opts).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid, "{}", r.summary);
        assert_eq!(
            details(&r)["counterexample"]["failed_op"]["index"],
            json!(8)
        );
        let states: Vec<Value> = details(&r)["counterexample"]["tail"]
            .as_array()
            .unwrap()
            .iter()
            .map(|op| op["state"].clone())
            .chain([details(&r)["counterexample"]["state"].clone()])
            .collect();
        let want = ["a", "a", "zz", "zzb", "zzb"].map(|s| match split {
            true => json!(s),
            false => json!({ "k": s }),
        });
        assert_eq!(states, want);
    }
}

/// The evidence as it is written into results.json.
fn details(r: &crate::verdict::CheckResult) -> Value {
    serde_json::to_value(&r.details).unwrap()
}

#[test]
fn a_read_of_a_value_nothing_set_is_refused_without_a_search() {
    let h = history(&[
        (0, "invoke", "write", None, json!(1)),
        (0, "info", "write", None, json!(1)),
        (1, "invoke", "read", None, Value::Null),
        (1, "ok", "read", None, json!(2)),
        // Written only after the read returned.
        (2, "invoke", "write", None, json!(2)),
        (2, "ok", "write", None, json!(2)),
    ]);
    let r = check(&h, "cas-register", None);
    assert_eq!(r.verdict, Verdict::Invalid);
    assert_eq!(r.blamed, vec![2]);
    assert!(
        r.summary
            .contains("op 2 (read -> 2) cannot be placed: it observed 2"),
        "{}",
        r.summary
    );
    assert_eq!(details(&r)["states_visited"], json!(0));
    assert!(details(&r)["counterexample"]["reason"]
        .as_str()
        .unwrap()
        .contains("no write or cas"));
}

#[test]
fn crashed_ops_the_reads_decide_leave_the_search() {
    // The crashed write of 5 is the only way to 5, which a read returns:
    // it happened. The crashed write of 6 no one reads: it does not matter.
    let h = history(&[
        (0, "invoke", "write", None, json!(5)),
        (0, "info", "write", None, json!(5)),
        (1, "invoke", "write", None, json!(6)),
        (1, "info", "write", None, json!(6)),
        (2, "invoke", "read", None, Value::Null),
        (2, "ok", "read", None, json!(5)),
        (3, "invoke", "read", None, Value::Null),
        (3, "ok", "read", None, Value::Null),
    ]);
    let d = register_rules::decide(&h, ModelKind::CasRegister, None).unwrap();
    assert_eq!(d.impossible, None);
    assert_eq!(d.dropped, vec![2]);
    assert_eq!(d.forced, vec![(0, 5)]);
    // The later read of null: nothing can set null again after 5.
    let r = check(&h, "cas-register", None);
    assert_eq!(r.verdict, Verdict::Invalid, "{}", r.summary);
    assert_eq!(r.blamed, vec![6]);
}

/// Two open writes of 1: the one that returns first must be the one placed
/// first (the other is needed after the write of 2), which the rule "of
/// equal open ops, the earliest-returning first" keeps, in every search.
#[test]
fn equal_open_ops_are_placed_in_order_of_return() {
    let h = history(&[
        (1, "invoke", "write", None, json!(1)),
        (2, "invoke", "write", None, json!(1)),
        (3, "invoke", "read", None, Value::Null),
        (3, "ok", "read", None, json!(1)),
        (4, "invoke", "write", None, json!(2)),
        (4, "ok", "write", None, json!(2)),
        (1, "ok", "write", None, json!(1)),
        (5, "invoke", "read", None, Value::Null),
        (5, "ok", "read", None, json!(2)),
        (6, "invoke", "read", None, Value::Null),
        (6, "ok", "read", None, json!(1)),
        (2, "ok", "write", None, json!(1)),
    ]);
    for strategy in [Strategy::Auto, Strategy::DepthFirst, Strategy::Frontier] {
        let opts = Options {
            strategy,
            first_try: std::time::Duration::ZERO,
            ..Options::default()
        };
        let r = check_named(&h, "cas-register", None, &opts).unwrap();
        assert_eq!(r.verdict, Verdict::Valid, "{strategy:?}: {}", r.summary);
    }
}

/// The stretch memo (memo.rs) against a brute-force oracle: freeing the
/// stretches behind at every chance keeps every verdict.
mod stretch_memo {
    use super::search::{search, Budget, Outcome, Problem};
    use crate::models::{Call, Encoded, Model};
    use proptest::prelude::*;
    use serde_json::Value;
    use std::sync::atomic::{AtomicBool, AtomicU64};

    /// A cas register over small values: (0 read, 1 write, 2 cas; a; b).
    struct Reg;

    impl Model for Reg {
        type State = u8;
        type Input = (u8, u8, u8);
        fn init(&mut self) -> u8 {
            0
        }
        fn encode(&mut self, _call: &Call<'_>) -> Result<Encoded<(u8, u8, u8)>, String> {
            Err("not used".into())
        }
        fn step(&mut self, s: u8, &(f, a, b): &(u8, u8, u8)) -> Option<u8> {
            match f {
                0 => (s == a).then_some(s),
                1 => Some(a),
                _ => (s == a).then_some(b),
            }
        }
        fn state_json(&self, s: u8) -> Value {
            Value::from(s)
        }
    }

    /// Whether some order of the completed ops and any of the crashed ones,
    /// within real time, is a run of the register.
    fn brute_force(p: &Problem<Reg>) -> bool {
        fn go(p: &Problem<Reg>, placed: &mut [bool], s: u8) -> bool {
            let n = placed.len();
            if (0..n).all(|i| placed[i] || p.return_pos[i].is_none()) {
                return true;
            }
            for i in 0..n {
                let ready =
                    (0..n).all(|j| placed[j] || p.return_pos[j].is_none_or(|r| r > p.call_pos[i]));
                if placed[i] || !ready {
                    continue;
                }
                if let Some(next) = Reg.step(s, &p.inputs[i]) {
                    placed[i] = true;
                    if go(p, placed, next) {
                        return true;
                    }
                    placed[i] = false;
                }
            }
            false
        }
        go(p, &mut vec![false; p.inputs.len()], 0)
    }

    fn problem(ops: &[(u8, u8, u8, u64, u64, bool)]) -> Problem<Reg> {
        let at = |t: u64, i: usize| t * 100 + i as u64 * 2;
        Problem {
            model: Reg,
            inputs: ops.iter().map(|o| (o.0, o.1, o.2)).collect(),
            call_pos: ops.iter().enumerate().map(|(i, o)| at(o.3, i)).collect(),
            return_pos: ops
                .iter()
                .enumerate()
                .map(|(i, o)| (!o.5).then(|| at(o.3 + o.4, i) + 1))
                .collect(),
        }
    }

    fn valid(p: &mut Problem<Reg>, memo_keep: u64) -> bool {
        let (used, stop) = (AtomicU64::new(0), AtomicBool::new(false));
        let budget = Budget {
            deadline: None,
            memory_limit: u64::MAX,
            memo_keep,
            memory_used: &used,
            stop: &stop,
        };
        match search(p, &budget).0 {
            Outcome::Valid => true,
            Outcome::Invalid { .. } => false,
            Outcome::Unknown(why) => panic!("no limit, yet {why:?}"),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        #[test]
        fn freeing_the_stretches_behind_keeps_the_verdict(
            ops in prop::collection::vec(
                (0u8..3, 0u8..3, 0u8..3, 0u64..12, 1u64..4, prop::bool::weighted(0.4)),
                1..=9,
            )
        ) {
            let mut p = problem(&ops);
            let expected = brute_force(&p);
            prop_assert_eq!(valid(&mut p, 0), expected, "{:?}", ops);
            prop_assert_eq!(valid(&mut p, u64::MAX), expected, "{:?}", ops);
        }
    }
}

/// Three keys fail: the big one (checked first) late; one whose read began
/// first but ended last; a small one early. The check reports the one that
/// failed first in the history, whatever order the parts ran in.
#[test]
fn of_several_invalid_keys_the_earliest_failure_is_reported() {
    let mut ops = Vec::new();
    let mut push = |kind, p, f: &str, key: &str, value: Value| {
        let i = ops.len() as u64;
        ops.push(Op {
            key: Some(key.into()),
            ..Op::client(i, kind, p, f, value)
        });
    };
    // Key b: a read of a value never written, running from first to last.
    push(OpType::Invoke, 2, "read", "b", Value::Null);
    // Key a: a write, then a read of a value never written, early.
    push(OpType::Invoke, 1, "write", "a", json!(1));
    push(OpType::Ok, 1, "write", "a", json!(1));
    push(OpType::Invoke, 1, "read", "a", Value::Null);
    push(OpType::Ok, 1, "read", "a", json!(7));
    // Key c: forty writes and reads, then a read of a value never written.
    for v in 0..40 {
        push(OpType::Invoke, 0, "write", "c", json!(v));
        push(OpType::Ok, 0, "write", "c", json!(v));
        push(OpType::Invoke, 0, "read", "c", Value::Null);
        push(OpType::Ok, 0, "read", "c", json!(v));
    }
    push(OpType::Invoke, 0, "read", "c", Value::Null);
    push(OpType::Ok, 0, "read", "c", json!(99));
    push(OpType::Ok, 2, "read", "b", json!(5));
    let h = History::new(ops);
    for threads in [1, 2] {
        let opts = Options {
            threads: Some(threads),
            ..Options::default()
        };
        let r = check_named(&h, "kv", None, &opts).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid);
        let cx = r
            .details
            .linearizability()
            .unwrap()
            .counterexample
            .as_ref()
            .unwrap();
        assert_eq!(cx.key.as_deref(), Some("a"), "{}", r.summary);
    }
}
