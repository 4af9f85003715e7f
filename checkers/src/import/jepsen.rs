//! Jepsen's `history.edn`: one op map a line, or one EDN vector (or list) of op maps.
//!
//! Jepsen's conventions carry over as they are: `:fail` ops never happened and
//! `:info` ops may have (both are kept, typed so, for the checkers to judge);
//! `:nemesis` ops are faults, recorded as nemesis invoke/info pairs; a read that
//! completes with `nil` tells nothing, which the linearizability checker is told
//! through `Format::nil_read_is_unknown`. Histories of independent keys
//! (`jepsen.independent`, every value a `[key value]` tuple) are split into
//! `key` and `value`.
//!
//! Elle's own example histories leave fields out, and are read as Elle
//! reads them: an op without `:f` whose value is a list of micro-ops
//! (`[:append k v]`, `[:r k v]`, `[:w k v]`) is a `txn`; a history in which
//! no op has a `:process` is one process (with a warning). An op without a
//! `:process` among ops that have one is an error.

use super::edn::{Edn, Parser};
use super::ImportError;
use crate::history::{History, Op, OpType, Process};
use serde_json::Value;
use std::path::Path;

/// Reads a Jepsen history from `text`; `path` is only used in messages.
pub fn parse(text: &str, path: &Path) -> Result<(History, Vec<String>), ImportError> {
    let mut warnings = Vec::new();
    let mut parser = Parser::new(text);
    let sequence = parser.open_sequence();
    let mut ops = Vec::new();
    let mut nemesis_open = false;
    // The line of the first op without a :process, and whether any has one.
    let mut no_process: Option<usize> = None;
    let mut some_process = false;
    loop {
        if sequence.is_some_and(|close| parser.close_sequence(close)) {
            if !parser.at_end() {
                return Err(ImportError::malformed(
                    path,
                    parser.line(),
                    "unexpected text after the history's closing bracket",
                ));
            }
            break;
        }
        let line = parser.skip_blank();
        match parser.next_value() {
            Ok(Some(map)) => {
                let (op, has_process) = to_op(&map, &mut nemesis_open)
                    .map_err(|message| ImportError::malformed(path, line, message))?;
                if has_process {
                    some_process = true;
                } else {
                    no_process.get_or_insert(line);
                }
                if let (true, Some(at)) = (some_process, no_process) {
                    return Err(ImportError::malformed(
                        path,
                        at,
                        "the op has no :process (other ops have one)",
                    ));
                }
                ops.push(op);
            }
            Ok(None) => {
                if sequence.is_some() {
                    warnings.push(format!(
                        "{}:{}: the history's vector or list is not closed (a truncated file?); read {} ops",
                        path.display(),
                        parser.line(),
                        ops.len()
                    ));
                }
                break;
            }
            Err(e) if e.unexpected_end => {
                warnings.push(format!(
                    "{}:{line}: ignoring a truncated last op ({})",
                    path.display(),
                    e.message
                ));
                break;
            }
            Err(e) => return Err(ImportError::malformed(path, e.line, e.message)),
        }
    }

    if no_process.is_some() && !ops.is_empty() {
        warnings.push(format!(
            "{}: no op has a :process; read as one process, as Elle does",
            path.display()
        ));
    }
    if is_independent(&ops) {
        split_tuples(&mut ops);
    }
    let mut history = History::new(ops);
    history.reindex();
    Ok((history, warnings))
}

/// Converts one op map, and says whether it had a `:process` (without one
/// it is put on process 0). `nemesis_open` tracks whether the nemesis has an
/// invocation waiting for its completion (Jepsen types both as `:info`).
fn to_op(map: &Edn, nemesis_open: &mut bool) -> Result<(Op, bool), String> {
    if !matches!(map, Edn::Map(_)) {
        return Err(format!(
            "expected an op map, found {} `{}`",
            map.kind(),
            short(map)
        ));
    }
    let field = |name: &str| map.get(name).filter(|v| **v != Edn::Nil);
    let kind = match field("type") {
        Some(Edn::Keyword(k)) => match k.as_str() {
            "invoke" => OpType::Invoke,
            "ok" => OpType::Ok,
            "fail" => OpType::Fail,
            "info" => OpType::Info,
            other => {
                return Err(format!(
                    ":type must be :invoke, :ok, :fail or :info, found :{other}"
                ))
            }
        },
        Some(other) => return Err(format!(":type must be a keyword, found {}", other.kind())),
        None => return Err("the op has no :type".into()),
    };
    let process = match field("process") {
        Some(Edn::Int(p)) if *p >= 0 => Process::Client(*p as u64),
        Some(Edn::Keyword(k) | Edn::Str(k) | Edn::Symbol(k)) if k == "nemesis" => Process::Nemesis,
        Some(other) => {
            return Err(format!(
                ":process must be a non-negative integer or :nemesis, found `{}`",
                short(other)
            ))
        }
        None => Process::Client(0),
    };
    let has_process = field("process").is_some();
    let f = match field("f") {
        Some(Edn::Keyword(s) | Edn::Str(s) | Edn::Symbol(s)) => s.clone(),
        Some(other) => return Err(format!(":f must be a keyword, found {}", other.kind())),
        None if field("value").is_some_and(is_txn) => "txn".into(),
        None => return Err("the op has no :f".into()),
    };
    let time = match field("time") {
        Some(Edn::Int(t)) if *t >= 0 => *t as u64,
        Some(Edn::Float(t)) if *t >= 0.0 => *t as u64,
        None => 0,
        Some(other) => {
            return Err(format!(
                ":time must be a non-negative number, found `{}`",
                short(other)
            ))
        }
    };
    let error = field("error").map(|e| match e {
        Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => s.clone(),
        other => other.to_string(),
    });
    let raw_value = map.get("value").unwrap_or(&Edn::Nil);

    let (kind, key, value) = if process == Process::Nemesis {
        // Jepsen types a nemesis invocation `:info` too; ours is invoke then info.
        let kind = if *nemesis_open {
            OpType::Info
        } else {
            OpType::Invoke
        };
        *nemesis_open = !*nemesis_open;
        (kind, None, raw_value.to_json())
    } else {
        let key = field("key").map(Edn::as_key);
        (kind, key, raw_value.to_json())
    };
    let op = Op {
        index: 0,
        time,
        kind,
        process,
        f,
        key,
        value,
        error,
        node: None,
    };
    Ok((op, has_process))
}

/// Whether a value is a non-empty list of micro-ops: `[:append k v]`,
/// `[:r k v]` or `[:w k v]`.
fn is_txn(value: &Edn) -> bool {
    let mops = match value {
        Edn::Vector(items) | Edn::List(items) if !items.is_empty() => items,
        _ => return false,
    };
    mops.iter().all(|m| match m {
        Edn::Vector(parts) | Edn::List(parts) => {
            matches!(parts.first(), Some(Edn::Keyword(f)) if matches!(f.as_str(), "append" | "r" | "w"))
        }
        _ => false,
    })
}

/// Whether the client ops are `jepsen.independent` tuples: every value a
/// two-element array, and no `cas` whose pair ends in a plain value (that
/// would be an ordinary `[expected new]` cas, not a `[key [expected new]]`).
fn is_independent(ops: &[Op]) -> bool {
    let mut any = false;
    for op in ops.iter().filter(|op| !op.is_nemesis()) {
        // A txn's value is a list of micro-ops, never a [key value] tuple.
        if op.f == "txn" {
            return false;
        }
        match &op.value {
            Value::Array(kv) if kv.len() == 2 && op.key.is_none() => {
                if op.f == "cas" && !matches!(kv[1], Value::Array(_) | Value::Null) {
                    return false;
                }
                any = true;
            }
            _ => return false,
        }
    }
    any
}

/// Moves the key of each client op's `[key value]` tuple into `key`.
fn split_tuples(ops: &mut [Op]) {
    for op in ops.iter_mut().filter(|op| !op.is_nemesis()) {
        if let Value::Array(mut kv) = op.value.take() {
            let value = kv.pop().unwrap_or(Value::Null);
            op.key = kv.pop().map(|k| match k {
                Value::String(s) => s,
                other => other.to_string(),
            });
            op.value = value;
        }
    }
}

/// A value shortened for a message.
fn short(v: &Edn) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(h: &History) -> Vec<Value> {
        h.ops.iter().map(|o| o.value.clone()).collect()
    }

    fn read(text: &str) -> Result<(History, Vec<String>), ImportError> {
        parse(text, Path::new("history.edn"))
    }

    #[test]
    fn reads_one_op_a_line() {
        let text = "{:type :invoke, :f :write, :value 3, :process 0, :time 10, :index 0}\n\
                    {:type :ok, :f :write, :value 3, :process 0, :time 20, :index 1}\n\
                    {:type :invoke, :f :cas, :value [3 4], :process 1, :time 30}\n\
                    {:type :fail, :f :cas, :value [3 4], :process 1, :time 40, :error :mismatch}\n";
        let (h, warnings) = read(text).unwrap();
        assert!(warnings.is_empty());
        assert_eq!(h.len(), 4);
        assert_eq!(h.ops[1].kind, OpType::Ok);
        assert_eq!(h.ops[1].time, 20);
        assert_eq!(h.ops[2].value, json!([3, 4]));
        assert_eq!(h.ops[3].kind, OpType::Fail);
        assert_eq!(h.ops[3].error.as_deref(), Some("mismatch"));
        assert_eq!(h.ops[3].key, None);
        assert_eq!(
            h.ops.iter().map(|o| o.index).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
    }

    #[test]
    fn reads_a_single_vector_with_record_tags() {
        let text = "[#jepsen.history.Op{:index 0, :time 1, :type :invoke, :process 2, :f :read, :value nil}\n \
                    #jepsen.history.Op{:index 1, :time 2, :type :ok, :process 2, :f :read, :value 5}]\n";
        let (h, _) = read(text).unwrap();
        assert_eq!(values(&h), [Value::Null, json!(5)]);
        assert_eq!(h.ops[0].process, Process::Client(2));
        let (h, _) = read("({:type :invoke, :f :read, :process 0}\n ; a comment\n {:type :ok, :f :read, :value 1, :process 0}\n)\n").unwrap();
        assert_eq!(values(&h), [Value::Null, json!(1)]);
    }

    #[test]
    fn nemesis_ops_become_invoke_info_pairs() {
        let text = "{:type :info, :f :start, :process :nemesis, :value nil}\n\
                    {:type :info, :f :start, :process :nemesis, :value [:isolated {\"n1\" #{\"n2\"}}]}\n\
                    {:type :info, :f :stop, :process :nemesis}\n\
                    {:type :info, :f :stop, :process :nemesis, :value :network-healed}\n";
        let (h, _) = read(text).unwrap();
        let kinds: Vec<_> = h.ops.iter().map(|o| o.kind).collect();
        assert_eq!(
            kinds,
            [OpType::Invoke, OpType::Info, OpType::Invoke, OpType::Info]
        );
        assert!(h.ops.iter().all(|o| o.is_nemesis()));
        assert_eq!(h.ops[1].value, json!(["isolated", {"n1": ["n2"]}]));
    }

    #[test]
    fn independent_tuples_split_into_key_and_value() {
        let text = "{:type :invoke, :f :read, :value [7 nil], :process 0}\n\
                    {:type :ok, :f :read, :value [7 2], :process 0}\n\
                    {:type :invoke, :f :cas, :value [\"k\" [1 2]], :process 1}\n\
                    {:type :info, :f :start, :process :nemesis}\n";
        let (h, _) = read(text).unwrap();
        assert_eq!(h.ops[0].key.as_deref(), Some("7"));
        assert_eq!(h.ops[1].value, json!(2));
        assert_eq!(h.ops[2].key.as_deref(), Some("k"));
        assert_eq!(h.ops[2].value, json!([1, 2]));
        assert_eq!(h.ops[3].key, None);
    }

    #[test]
    fn plain_cas_pairs_are_not_taken_for_tuples() {
        let text = "{:type :invoke, :f :cas, :value [1 2], :process 0}\n\
                    {:type :ok, :f :cas, :value [1 2], :process 0}\n";
        let (h, _) = read(text).unwrap();
        assert_eq!(h.ops[0].key, None);
        assert_eq!(h.ops[0].value, json!([1, 2]));
    }

    /// Elle's example histories: no :f, and no :process anywhere.
    #[test]
    fn txns_without_f_or_process_read_as_elle_reads_them() {
        let text = "{:index 0 :type :invoke :value [[:append 253 1] [:r 9 nil]]}\n\
                    {:index 1 :type :ok :value [[:append 253 1] [:r 9 [2]]]}\n";
        let (h, warnings) = read(text).unwrap();
        assert!(h.ops.iter().all(|o| o.f == "txn"));
        assert!(h.ops.iter().all(|o| o.process == Process::Client(0)));
        assert_eq!(h.ops[1].value, json!([["append", 253, 1], ["r", 9, [2]]]));
        assert!(warnings[0].contains("no op has a :process"), "{warnings:?}");
    }

    #[test]
    fn truncated_last_op_is_a_warning() {
        let text = "{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :re";
        let (h, warnings) = read(text).unwrap();
        assert_eq!(h.len(), 1);
        assert!(warnings[0].starts_with("history.edn:2: "), "{warnings:?}");
        let (h, warnings) = read("[{:type :invoke, :f :read, :process 0}\n").unwrap();
        assert_eq!(h.len(), 1);
        assert!(warnings[0].contains("not closed"), "{warnings:?}");
    }

    #[test]
    fn malformed_ops_name_the_line_and_the_problem() {
        let err = |text: &str| read(text).unwrap_err().to_string();
        let e =
            err("{:type :invoke, :f :read, :process 0}\n[1 2]\n{:type :ok, :f :read, :process 0}");
        assert_eq!(
            e,
            "history.edn:2: expected an op map, found a vector `[1 2]`"
        );
        let e = err("{:type :maybe, :f :read, :process 0}");
        assert!(e.starts_with("history.edn:1: :type must be"), "{e}");
        let e = err("{:type :ok, :f :read, :process 0}\n\n{:type :ok, :f :read}");
        assert_eq!(
            e,
            "history.edn:3: the op has no :process (other ops have one)"
        );
        let e = err("{:type :ok, :value [[:r :x 1]]}\n{:type :ok, :f :read, :process 0}");
        assert!(
            e.starts_with("history.edn:1: the op has no :process"),
            "{e}"
        );
        let e = err("{:type :ok, :value 3, :process 0}");
        assert_eq!(e, "history.edn:1: the op has no :f");
        let e = err("{:type :ok, :f :read, :process -1}");
        assert!(e.contains(":process must be"), "{e}");
        let e = err("{:type :ok, :f :read, :process 1}\n{:type :ok :f}\n{}");
        assert!(e.starts_with("history.edn:2: a map needs"), "{e}");
        let e = err("[{:type :ok, :f :read, :process 1}] junk");
        assert!(e.contains("after the history's closing"), "{e}");
    }
}
