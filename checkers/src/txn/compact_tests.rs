//! The compact reading of txns: list reads shared per key come back exactly,
//! and reading a history's file straight into txns (jsonl.rs) gives the same
//! verdict and evidence as reading the parsed history.

use super::history::{parse, Mop, TxnWorkload};
use super::tests::build;
use super::*;
use crate::history::{History, OpType};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::path::Path;

fn text(h: &History) -> Vec<u8> {
    let mut w = crate::jsonl::JsonlWriter::new(Vec::new(), false);
    for op in &h.ops {
        w.write(op).unwrap();
    }
    w.into_inner().unwrap()
}

fn via_file(h: &History, w: TxnWorkload, opts: &Options) -> Result<CheckResult, String> {
    let read = jsonl::read(&text(h)[..], Path::new("h.jsonl"), w)?;
    check_txns(&read.txns, w, opts)
}

/// Random list reads of two keys: each a prefix of one of a few lists that
/// share their first elements, so some extend, some repeat, some disagree.
fn reads() -> impl Strategy<Value = Vec<(u8, u8, u8)>> {
    prop::collection::vec((0u8..2, 0u8..3, 0u8..8), 1..30)
}

/// The list `branch` of a key, cut to `len`: branches agree on 3 elements.
fn list(branch: u8, len: u8) -> Vec<i64> {
    (0..len as i64)
        .map(|i| if i < 3 { i } else { i + 100 * branch as i64 })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Every list read comes back as it was read, shared or not.
    #[test]
    fn list_reads_are_stored_losslessly(reads in reads()) {
        let mut lines = Vec::new();
        for (key, branch, len) in &reads {
            let key = ["x", "y"][*key as usize];
            lines.push((0, OpType::Invoke, json!([["r", key, null]])));
            lines.push((0, OpType::Ok, json!([["r", key, list(*branch, *len)]])));
        }
        let h = build(&lines);
        for txns in [parse(&h, TxnWorkload::ListAppend).unwrap(),
                     jsonl::read(&text(&h)[..], Path::new("h"), TxnWorkload::ListAppend).unwrap().txns] {
            prop_assert_eq!(txns.txns.len(), reads.len());
            for (t, (key, branch, len)) in txns.txns.iter().zip(&reads) {
                let m = txns.mops(t);
                prop_assert_eq!(m.len(), 1);
                let Mop::ReadList(k, Some(l)) = m[0] else { panic!("{m:?}") };
                prop_assert_eq!(txns.key_name(k), ["x", "y"][*key as usize]);
                prop_assert_eq!(txns.list(k, l), &list(*branch, *len)[..]);
            }
        }
    }

    /// Reads written with other spacing (matched by value, not by text)
    /// come back as they were read too.
    #[test]
    fn list_reads_in_any_spacing_are_stored_losslessly(
        reads in prop::collection::vec((0u8..2, 0u8..3, 0u8..8, 0u8..3), 1..30)) {
        let mut text = String::new();
        for (i, (key, branch, len, style)) in reads.iter().enumerate() {
            let key = ["x", "y"][*key as usize];
            let items: Vec<String> = list(*branch, *len).iter().map(|v| v.to_string()).collect();
            let l = match style {
                0 => format!("[{}]", items.join(",")),
                1 => format!("[{}]", items.join(", ")),
                _ => format!("[ {} ]", items.join(" ,")),
            };
            text += &format!("{{\"index\":{},\"type\":\"invoke\",\"process\":0,\"f\":\"txn\",\"value\":[[\"r\",\"{key}\",null]]}}\n", 2 * i);
            text += &format!("{{\"index\":{},\"type\":\"ok\",\"process\":0,\"f\":\"txn\",\"value\":[[\"r\",\"{key}\",{l}]]}}\n", 2 * i + 1);
        }
        let txns = jsonl::read(text.as_bytes(), Path::new("h"), TxnWorkload::ListAppend).unwrap().txns;
        for (t, (key, branch, len, _)) in txns.txns.iter().zip(&reads) {
            let Mop::ReadList(k, Some(l)) = txns.mops(t)[0] else { panic!() };
            prop_assert_eq!(txns.key_name(k), ["x", "y"][*key as usize]);
            prop_assert_eq!(txns.list(k, l), &list(*branch, *len)[..]);
        }
    }

    /// The file reader and the history reader agree on everything reported,
    /// for histories with stale reads, failed and unfinished txns.
    #[test]
    fn the_file_reader_agrees(plan in prop::collection::vec(
            (prop::collection::vec((any::<bool>(), 0u8..2, 0u8..6), 1..4), 0u8..4), 1..8),
        register in any::<bool>(), block in 1usize..300) {
        let w = if register { TxnWorkload::RwRegister } else { TxnWorkload::ListAppend };
        let mut lines = Vec::new();
        let mut next = 1i64;
        for (p, (mops, end)) in plan.iter().enumerate() {
            let p = p as u64;
            let (mut inv, mut done) = (Vec::new(), Vec::new());
            for &(write, k, len) in mops {
                let key = ["x", "y"][k as usize];
                if write {
                    let m = json!([if register { "w" } else { "append" }, key, next]);
                    next += 1;
                    inv.push(m.clone());
                    done.push(m);
                } else {
                    inv.push(json!(["r", key, null]));
                    let seen: Vec<i64> = (1..=len as i64).collect();
                    done.push(if register {
                        json!(["r", key, seen.last()])
                    } else {
                        json!(["r", key, seen])
                    });
                }
            }
            lines.push((p, OpType::Invoke, Value::Array(inv)));
            match end {
                0 | 1 => lines.push((p, OpType::Ok, Value::Array(done))),
                2 => lines.push((p, OpType::Fail, Value::Null)),
                _ => {}
            }
        }
        let h = build(&lines);
        let opts = Options::default();
        let a = check(&h, w, &opts);
        let b = via_file(&h, w, &opts);
        // Read a few bytes at a time, so lines straddle blocks and pieces.
        let small = jsonl::read_blocks(&text(&h)[..], Path::new("h.jsonl"), w, block)
            .and_then(|r| {
                // The op counts tallied on the way are the History's.
                assert_eq!(r.stats, crate::RunStats::of(&h));
                check_txns(&r.txns, w, &opts)
            });
        match (&b, small) {
            (Ok(b), Ok(s)) => prop_assert_eq!(
                serde_json::to_value(b).unwrap(), serde_json::to_value(&s).unwrap()),
            (Err(b), Err(s)) => prop_assert_eq!(b, &s),
            (b, s) => prop_assert!(false, "{:?} vs {:?}", b.as_ref().map(|r| &r.summary), s.map(|r| r.summary)),
        }
        match (a, b) {
            (Ok(a), Ok(b)) => prop_assert_eq!(
                serde_json::to_value(&a).unwrap(), serde_json::to_value(&b).unwrap()),
            (Err(a), Err(b)) => prop_assert!(b.ends_with(&a), "{} vs {}", a, b),
            (a, b) => prop_assert!(false, "{:?} vs {:?}", a.map(|r| r.summary), b.map(|r| r.summary)),
        }
    }
}

#[test]
fn file_errors_name_the_line() {
    let h = build(&[(0, OpType::Invoke, json!([["append", "x", "one"]]))]);
    let e = via_file(&h, TxnWorkload::ListAppend, &Options::default()).unwrap_err();
    assert_eq!(e, "h.jsonl:1: op 0: micro-op 0: values must be integers");
    let h = build(&[
        (0, OpType::Invoke, json!([["r", "x", null]])),
        (0, OpType::Ok, json!([["r", "x", [1, "a"]]])),
    ]);
    let e = via_file(&h, TxnWorkload::ListAppend, &Options::default()).unwrap_err();
    assert_eq!(
        e,
        "h.jsonl:2: op 1: micro-op 0: list elements must be integers"
    );
    let h = build(&[(0, OpType::Invoke, json!({"x": 1}))]);
    let e = via_file(&h, TxnWorkload::ListAppend, &Options::default()).unwrap_err();
    assert!(
        e.starts_with("h.jsonl:1: op 0: a txn's value must be a list"),
        "{e}"
    );
    let bad = b"{\"index\":0,\"type\":\"invoke\",\"process\":0,\"f\":\"txn\",\"value\":[[\"r\",\"x\"]]}\n{}\n";
    let e = jsonl::read(&bad[..], Path::new("h.jsonl"), TxnWorkload::ListAppend)
        .err()
        .unwrap();
    assert!(
        e.starts_with("h.jsonl:1: a micro-op is [f, key, value]"),
        "{e}"
    );
}

#[test]
fn odd_lists_in_a_file_are_read_by_serde() {
    let line = |l: &str| {
        format!(
            "{{\"index\":0,\"type\":\"invoke\",\"process\":0,\"f\":\"txn\",\"value\":[[\"r\",\"x\",null]]}}\n\
             {{\"index\":1,\"type\":\"ok\",\"process\":0,\"f\":\"txn\",\"value\":[[\"r\",\"x\",{l}]]}}\n"
        )
    };
    // 19 digits: too long for the scanner, an i64 for serde.
    let t = line("[1234567890123456789]");
    let read = jsonl::read(t.as_bytes(), Path::new("h.jsonl"), TxnWorkload::ListAppend).unwrap();
    let Mop::ReadList(k, Some(l)) = read.txns.mops(&read.txns.txns[0])[0] else {
        panic!()
    };
    assert_eq!(read.txns.list(k, l), [1234567890123456789]);
    for (l, msg) in [
        (
            "[1, 2.5]",
            "h.jsonl:2: op 1: micro-op 0: list elements must be integers",
        ),
        (
            "[1,,2]",
            "h.jsonl:2: op 1: micro-op 0: a malformed list: expected value",
        ),
    ] {
        let e = jsonl::read(
            line(l).as_bytes(),
            Path::new("h.jsonl"),
            TxnWorkload::ListAppend,
        )
        .err()
        .unwrap();
        assert!(e.starts_with(msg), "{l}: {e}");
    }
}

#[test]
fn a_bad_line_then_empty_lines_is_an_error() {
    let t = b"{\"index\":0,\"type\":\"inv\n\n";
    let e = jsonl::read(&t[..], Path::new("h.jsonl"), TxnWorkload::ListAppend)
        .err()
        .unwrap();
    assert!(e.starts_with("h.jsonl:1: "), "{e}");
}

#[test]
fn a_truncated_last_line_is_a_warning() {
    let h = build(&[
        (0, OpType::Invoke, json!([["append", "x", 1]])),
        (0, OpType::Ok, json!([["append", "x", 1]])),
    ]);
    let mut t = text(&h);
    t.extend_from_slice(b"{\"index\":2,\"type\":\"inv");
    let read = jsonl::read(&t[..], Path::new("h.jsonl"), TxnWorkload::ListAppend).unwrap();
    assert_eq!(read.txns.txns.len(), 1);
    assert_eq!(read.warnings.len(), 1);
    assert!(
        read.warnings[0].starts_with("h.jsonl:3: ignoring truncated last line"),
        "{:?}",
        read.warnings
    );
}

#[test]
fn nemesis_ops_with_any_value_are_skipped() {
    let h = build(&[
        (0, OpType::Invoke, json!([["append", "x", 1]])),
        (0, OpType::Ok, json!([["append", "x", 1]])),
    ]);
    let mut t = text(&h);
    for value in [
        r#"["n1"]"#,
        r#"{"n1":1}"#,
        r#""n1""#,
        r#"[["n1","n2"],["n3"]]"#,
    ] {
        t.extend_from_slice(
            format!(
                r#"{{"index":9,"type":"info","process":"nemesis","f":"kill","value":{value}}}"#
            )
            .as_bytes(),
        );
        t.push(b'\n');
    }
    let read = jsonl::read(&t[..], Path::new("h.jsonl"), TxnWorkload::ListAppend).unwrap();
    assert_eq!(read.txns.txns.len(), 1);
    // A client op's bad value is still an error, naming its line.
    t.extend_from_slice(br#"{"index":10,"type":"invoke","process":3,"f":"txn","value":["n1"]}"#);
    t.push(b'\n');
    let e = jsonl::read(&t[..], Path::new("h.jsonl"), TxnWorkload::ListAppend)
        .err()
        .unwrap();
    assert!(e.starts_with("h.jsonl:7: "), "{e}");
}
