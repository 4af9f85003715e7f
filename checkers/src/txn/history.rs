//! Transactions and their micro-ops, read out of a history.
//!
//! A transaction is a client op with `f: "txn"` whose value is a list of
//! micro-ops: `["append", k, v]` and `["r", k, null | [v1, ...]]`
//! (list-append), `["w", k, v]` and `["r", k, null | v]` (rw-register). The
//! completion of an `ok` txn carries the reads; `fail` means it did not
//! commit, `info` (or no completion) that it may have. Reads stay borrowed
//! from the history: a million transactions of long list reads are not copied.

use crate::history::{History, OpType, Process};
use crate::pairs::pairs;
use rustc_hash::FxHashMap;
use serde_json::Value;

/// Which micro-ops a history uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum TxnWorkload {
    /// `append` to lists and `r` of whole lists.
    ListAppend,
    /// `w` and `r` of registers.
    RwRegister,
}

impl TxnWorkload {
    pub fn name(self) -> &'static str {
        match self {
            TxnWorkload::ListAppend => "list-append",
            TxnWorkload::RwRegister => "rw-register",
        }
    }
}

/// A key, interned: its name is `Txns::keys[key]`.
pub type Key = u32;
/// A transaction: its position in `Txns::txns`.
pub type TxnId = u32;

/// Whether a transaction committed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    Fail,
    /// `info`, or never completed: it may or may not have committed.
    Info,
}

/// One micro-op. Reads are `None` when the value is unknown (an invocation,
/// or a txn that did not complete `ok`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mop<'a> {
    Append(Key, i64),
    /// A list read: `Some([])` for an empty or missing list.
    ReadList(Key, Option<&'a [Value]>),
    Write(Key, i64),
    /// A register read: `Some(None)` for an unset register.
    ReadReg(Key, Option<Option<i64>>),
}

impl Mop<'_> {
    pub fn key(&self) -> Key {
        match *self {
            Mop::Append(k, _) | Mop::ReadList(k, _) | Mop::Write(k, _) | Mop::ReadReg(k, _) => k,
        }
    }

    pub fn is_write(&self) -> bool {
        matches!(self, Mop::Append(..) | Mop::Write(..))
    }
}

/// One transaction.
#[derive(Clone, Debug)]
pub struct Txn<'a> {
    /// Index of the invocation in the history; names the txn (`T12`).
    pub invoke: u64,
    /// Index of the completion, if any.
    pub complete: Option<u64>,
    pub process: Process,
    pub status: Status,
    pub mops: Vec<Mop<'a>>,
}

/// The transactions of a history, in invocation order, and the key names.
#[derive(Debug, Default)]
pub struct Txns<'a> {
    pub txns: Vec<Txn<'a>>,
    pub keys: Vec<String>,
}

impl Txns<'_> {
    pub fn key_name(&self, k: Key) -> &str {
        &self.keys[k as usize]
    }
}

/// Reads every `txn` op of `history`. Ops with another `f` are an error (a
/// transactional history has nothing else), as is a malformed micro-op.
pub fn parse(history: &History, workload: TxnWorkload) -> Result<Txns<'_>, String> {
    let mut keys = KeyNames::default();
    let mut out = Txns::default();
    for pair in pairs(history)? {
        let inv = pair.invoke;
        if inv.f != "txn" {
            return Err(format!(
                "op {}: f is {:?}; a transactional history has only \"txn\" ops",
                inv.index, inv.f
            ));
        }
        let status = match pair.outcome() {
            OpType::Ok => Status::Ok,
            OpType::Fail => Status::Fail,
            _ => Status::Info,
        };
        // The completion of an ok txn holds what its reads returned.
        let source = match (status, pair.completion) {
            (Status::Ok, Some(c)) if !c.value.is_null() => c,
            _ => inv,
        };
        let known = status == Status::Ok;
        let items = source.value.as_array().ok_or_else(|| {
            format!(
                "op {}: a txn's value must be a list of micro-ops, found {}",
                source.index,
                short(&source.value)
            )
        })?;
        let mut mops = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let mop = parse_mop(item, workload, known, &mut keys, &mut out.keys)
                .map_err(|e| format!("op {}: micro-op {i} {}: {e}", source.index, short(item)))?;
            mops.push(mop);
        }
        out.txns.push(Txn {
            invoke: inv.index,
            complete: pair.completion.map(|c| c.index),
            process: inv.process,
            status,
            mops,
        });
    }
    if out.txns.len() >= u32::MAX as usize {
        return Err("too many transactions (at most 2^32 - 1)".into());
    }
    Ok(out)
}

/// Interned keys: string keys by their text, integer keys by value (so a
/// history of numbered keys allocates no strings).
#[derive(Default)]
struct KeyNames<'a> {
    text: FxHashMap<&'a str, Key>,
    ints: FxHashMap<i64, Key>,
}

fn parse_mop<'a>(
    item: &'a Value,
    workload: TxnWorkload,
    known: bool,
    keys: &mut KeyNames<'a>,
    names: &mut Vec<String>,
) -> Result<Mop<'a>, String> {
    let parts = match item.as_array() {
        Some(p) if p.len() == 3 => p,
        _ => return Err("expected [f, key, value]".into()),
    };
    let f = parts[0].as_str().ok_or("f must be a string")?;
    let mut fresh = |name: String| {
        names.push(name);
        (names.len() - 1) as Key
    };
    let key = match &parts[1] {
        Value::String(s) => match keys.text.get(s.as_str()) {
            Some(&k) => k,
            None => {
                let k = fresh(s.clone());
                keys.text.insert(s, k);
                k
            }
        },
        Value::Number(n) if n.as_i64().is_some() => {
            let i = n.as_i64().expect("checked");
            match keys.ints.get(&i) {
                Some(&k) => k,
                None => {
                    let k = fresh(i.to_string());
                    keys.ints.insert(i, k);
                    k
                }
            }
        }
        _ => return Err("the key must be a string or an integer".into()),
    };
    let int = |v: &Value| v.as_i64().ok_or("values must be integers");
    let value = &parts[2];
    Ok(match (workload, f) {
        (TxnWorkload::ListAppend, "append") => Mop::Append(key, int(value)?),
        (TxnWorkload::ListAppend, "r") => Mop::ReadList(
            key,
            match value {
                _ if !known => None,
                Value::Null => Some(&[][..]),
                Value::Array(items) => {
                    if items.iter().any(|v| v.as_i64().is_none()) {
                        return Err("list elements must be integers".into());
                    }
                    Some(&items[..])
                }
                _ => return Err("a list read returns null or a list".into()),
            },
        ),
        (TxnWorkload::RwRegister, "w") => Mop::Write(key, int(value)?),
        (TxnWorkload::RwRegister, "r") => Mop::ReadReg(
            key,
            match value {
                _ if !known => None,
                Value::Null => Some(None),
                v => Some(Some(int(v)?)),
            },
        ),
        (TxnWorkload::ListAppend, _) => {
            return Err("list-append micro-ops are \"append\" and \"r\"".into())
        }
        (TxnWorkload::RwRegister, _) => {
            return Err("rw-register micro-ops are \"w\" and \"r\"".into())
        }
    })
}

/// A value shortened for a message.
pub fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(57).collect::<String>())
    } else {
        s
    }
}

/// A list read as text: `[1, 2, 3]`, long ones elided in the middle.
pub fn list_text(items: &[Value]) -> String {
    let show = |vs: &[Value]| {
        vs.iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if items.len() <= 12 {
        format!("[{}]", show(items))
    } else {
        format!(
            "[{}, ... ({} more) ..., {}]",
            show(&items[..4]),
            items.len() - 8,
            show(&items[items.len() - 4..])
        )
    }
}

/// Which workload a history of txns is, from its micro-ops.
pub fn sniff(history: &History) -> Option<TxnWorkload> {
    let mut any = false;
    for op in history.client_ops().filter(|o| o.f == "txn") {
        any = true;
        for m in op.value.as_array().into_iter().flatten() {
            match m.get(0).and_then(Value::as_str) {
                Some("append") => return Some(TxnWorkload::ListAppend),
                Some("w") => return Some(TxnWorkload::RwRegister),
                _ => {}
            }
        }
    }
    any.then_some(TxnWorkload::ListAppend)
}
