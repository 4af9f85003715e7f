//! Transactions and their micro-ops, read out of a history.
//!
//! A transaction is a client op with `f: "txn"` whose value is a list of
//! micro-ops: `["append", k, v]` and `["r", k, null | [v1, ...]]`
//! (list-append), `["w", k, v]` and `["r", k, null | v]` (rw-register). The
//! completion of an `ok` txn carries the reads; `fail` means it did not
//! commit, `info` (or no completion) that it may have. They are read from a
//! [`History`] ([`parse`]) or straight from its JSON lines (jsonl.rs), into
//! the compact form of [`Txns`].

use super::jsonl::RawValue;
use super::scan;
use crate::history::{History, OpType, Process};
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

/// Where a list read's elements are stored ([`Txns::list`]): a prefix of its
/// key's shared list, or a range of the other reads' storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct List {
    start: u32,
    len: u32,
}

/// `List::start` of a prefix of the key's shared list.
const SHARED: u32 = u32::MAX;

/// One micro-op. Reads are `None` when the value is unknown (an invocation,
/// or a txn that did not complete `ok`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mop {
    Append(Key, i64),
    /// A list read: `Some` of an empty list for an empty or missing list.
    ReadList(Key, Option<List>),
    Write(Key, i64),
    /// A register read: `Some(None)` for an unset register.
    ReadReg(Key, Option<Option<i64>>),
}

impl Mop {
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
pub struct Txn {
    /// Index of the invocation in the history; names the txn (`T12`).
    pub invoke: u64,
    /// Index of the completion, if any.
    pub complete: Option<u64>,
    pub process: Process,
    pub status: Status,
    /// Its micro-ops: a range of `Txns::mops`.
    mops: (u32, u32),
}

/// The transactions of a history, in invocation order, and the key names.
///
/// Compact, so a million txns fit in little memory: micro-ops sit in one flat
/// vector, and a list read is stored once per key where it can be: every
/// read that is a prefix of (or extends) the key's longest read so far is a
/// length into one shared list per key. Reads that disagree with it keep
/// their own copy. Nothing is lost: [`Txns::list`] gives back each read.
#[derive(Debug, Default)]
pub struct Txns {
    pub txns: Vec<Txn>,
    pub keys: Vec<String>,
    mops: Vec<Mop>,
    /// Per key, the longest list read so far that the others extend.
    shared: Vec<Vec<i64>>,
    /// The elements of the reads that are not prefixes of `shared`.
    other: Vec<i64>,
}

impl Txns {
    pub fn key_name(&self, k: Key) -> &str {
        &self.keys[k as usize]
    }

    /// The micro-ops of `txn`.
    pub fn mops(&self, txn: &Txn) -> &[Mop] {
        &self.mops[txn.mops.0 as usize..(txn.mops.0 + txn.mops.1) as usize]
    }

    /// The elements of list read `l` of key `k`.
    pub fn list(&self, k: Key, l: List) -> &[i64] {
        if l.start == SHARED {
            &self.shared[k as usize][..l.len as usize]
        } else {
            &self.other[l.start as usize..(l.start + l.len) as usize]
        }
    }
}

/// Builds [`Txns`]: interns keys, stores list reads, pairs invocations with
/// completions. Both readers (a [`History`] and JSON lines) feed it.
#[derive(Default)]
pub(super) struct Builder {
    out: Txns,
    text: FxHashMap<String, Key>,
    ints: FxHashMap<i64, Key>,
    /// Per process, its open txn.
    open: FxHashMap<Process, usize>,
    /// A list being read, before it is stored.
    pub(super) scratch: Vec<i64>,
    /// Per key, its shared list as text, so a read given as text (jsonl.rs)
    /// is matched against it without parsing its integers.
    texts: Vec<SharedText>,
    ends: Vec<u32>,
}

/// A text of a key's shared list: the elements between the brackets, and
/// where each ends in `text`. Always parses to exactly the shared list.
#[derive(Default)]
struct SharedText {
    text: Vec<u8>,
    ends: Vec<u32>,
}

impl Builder {
    fn fresh(&mut self, name: String) -> Key {
        self.out.keys.push(name);
        self.out.shared.push(Vec::new());
        self.texts.push(SharedText::default());
        (self.out.keys.len() - 1) as Key
    }

    pub(super) fn key_text(&mut self, s: &str) -> Key {
        if let Some(&k) = self.text.get(s) {
            return k;
        }
        let k = self.fresh(s.to_string());
        self.text.insert(s.to_string(), k);
        k
    }

    pub(super) fn key_int(&mut self, i: i64) -> Key {
        if let Some(&k) = self.ints.get(&i) {
            return k;
        }
        let k = self.fresh(i.to_string());
        self.ints.insert(i, k);
        k
    }

    /// Stores the list in `scratch` as a read of `k`.
    fn store_list(&mut self, k: Key) -> Result<List, String> {
        let r = &self.scratch;
        let shared = &mut self.out.shared[k as usize];
        let common = r.len().min(shared.len());
        let len = u32::try_from(r.len()).map_err(|_| "a list of 2^32 elements or more")?;
        if r[..common] == shared[..common] {
            if r.len() > shared.len() {
                shared.extend_from_slice(&r[common..]);
                // Keep the text in step: the new elements, written plainly.
                let t = &mut self.texts[k as usize];
                for v in &r[common..] {
                    if !t.text.is_empty() {
                        t.text.push(b',');
                    }
                    t.text.extend_from_slice(v.to_string().as_bytes());
                    t.ends.push(t.text.len() as u32);
                }
            }
            return Ok(List { start: SHARED, len });
        }
        let start = u32::try_from(self.out.other.len())
            .ok()
            .filter(|s| *s != SHARED && s.checked_add(len).is_some())
            .ok_or("more than 2^32 list elements in reads that disagree")?;
        self.out.other.extend_from_slice(r);
        Ok(List { start, len })
    }

    /// Stores a read of `k` given as the text between its brackets. Most
    /// reads repeat a prefix of the key's longest read, or extend it: their
    /// text is compared with that read's, and only new elements are parsed.
    fn store_list_text(&mut self, k: Key, text: &[u8]) -> Result<List, String> {
        let t = &mut self.texts[k as usize];
        let n = text.len();
        if text.trim_ascii().is_empty() {
            return Ok(List {
                start: SHARED,
                len: 0,
            });
        }
        // A prefix: equal text that ends where an element ends.
        if t.text.starts_with(text) && t.text.get(n).is_none_or(|&c| c == b',') {
            let len = t.ends.partition_point(|&e| e as usize <= n) as u32;
            return Ok(List { start: SHARED, len });
        }
        // An extension: the shared text, a comma, and new elements.
        if !t.text.is_empty() && text.starts_with(&t.text) && text[t.text.len()] == b',' {
            let from = t.text.len() + 1;
            self.ends.clear();
            let shared = &mut self.out.shared[k as usize];
            let had = shared.len();
            if scan::list(&text[from..], shared, &mut self.ends).is_some() {
                t.ends.extend(self.ends.iter().map(|e| e + from as u32));
                t.text.extend_from_slice(&text[t.text.len()..]);
                let len =
                    u32::try_from(shared.len()).map_err(|_| "a list of 2^32 elements or more")?;
                return Ok(List { start: SHARED, len });
            }
            shared.truncate(had);
        }
        // Anything else (another order, other spacing, or not plain
        // integers): parsed whole, and compared by value.
        self.scratch.clear();
        self.ends.clear();
        if scan::list(text, &mut self.scratch, &mut self.ends).is_none() {
            let mut whole = Vec::with_capacity(n + 2);
            whole.push(b'[');
            whole.extend_from_slice(text);
            whole.push(b']');
            match serde_json::from_slice::<RawValue>(&whole) {
                Ok(RawValue::List(l)) => self.scratch = l,
                Ok(_) => return Err("list elements must be integers".into()),
                Err(e) => return Err(format!("a malformed list: {e}")),
            }
        }
        self.store_list(k)
    }

    pub(super) fn mops_len(&self) -> usize {
        self.out.mops.len()
    }

    pub(super) fn push(&mut self, m: Mop) {
        self.out.mops.push(m);
    }

    /// An invocation: a new txn, open until its process completes it.
    pub(super) fn invoke(&mut self, index: u64, process: Process) -> Result<(), String> {
        if let Some(&prev) = self.open.get(&process) {
            return Err(format!(
                "op {index}: process {process} invokes while its op {} is still open",
                self.out.txns[prev].invoke
            ));
        }
        self.open.insert(process, self.out.txns.len());
        let at = self.out.mops.len() as u32;
        self.out.txns.push(Txn {
            invoke: index,
            complete: None,
            process,
            status: Status::Info,
            mops: (at, 0),
        });
        Ok(())
    }

    /// The micro-ops pushed since `from` become the last txn's (its invocation's).
    pub(super) fn invoked_mops(&mut self, from: usize) {
        let t = self.out.txns.last_mut().expect("invoked");
        t.mops = (from as u32, (self.out.mops.len() - from) as u32);
    }

    /// A completion of `process`'s open txn. Returns the txn's position.
    pub(super) fn complete(
        &mut self,
        index: u64,
        process: Process,
        kind: OpType,
    ) -> Result<usize, String> {
        let Some(at) = self.open.remove(&process) else {
            return Err(format!(
                "op {index}: process {process} completes an op it never invoked"
            ));
        };
        let t = &mut self.out.txns[at];
        t.complete = Some(index);
        t.status = match kind {
            OpType::Ok => Status::Ok,
            OpType::Fail => Status::Fail,
            _ => Status::Info,
        };
        Ok(at)
    }

    /// The micro-ops pushed since `from` replace txn `at`'s (an ok
    /// completion's, with what its reads returned).
    pub(super) fn completed_mops(&mut self, at: usize, from: usize) {
        self.out.txns[at].mops = (from as u32, (self.out.mops.len() - from) as u32);
    }

    pub(super) fn finish(mut self) -> Result<Txns, String> {
        if self.out.txns.len() >= u32::MAX as usize || self.out.mops.len() >= u32::MAX as usize {
            return Err("too many transactions (at most 2^32 - 1)".into());
        }
        // Drop the micro-ops that ok completions replaced.
        let mut mops = Vec::with_capacity(self.out.txns.len() * 3);
        for t in &mut self.out.txns {
            let (a, n) = t.mops;
            t.mops = (mops.len() as u32, n);
            mops.extend_from_slice(&self.out.mops[a as usize..(a + n) as usize]);
        }
        self.out.mops = mops;
        Ok(self.out)
    }
}

/// Reads every `txn` op of `history`. Ops with another `f` are an error (a
/// transactional history has nothing else), as is a malformed micro-op.
pub fn parse(history: &History, workload: TxnWorkload) -> Result<Txns, String> {
    let mut b = Builder::default();
    for op in history.client_ops() {
        if op.f != "txn" {
            return Err(format!(
                "op {}: f is {:?}; a transactional history has only \"txn\" ops",
                op.index, op.f
            ));
        }
        let (at, known) = if op.kind == OpType::Invoke {
            b.invoke(op.index, op.process)?;
            (None, false)
        } else {
            let at = b.complete(op.index, op.process, op.kind)?;
            // The completion of an ok txn holds what its reads returned.
            if op.kind != OpType::Ok || op.value.is_null() {
                continue;
            }
            (Some(at), true)
        };
        let items = op.value.as_array().ok_or_else(|| {
            format!(
                "op {}: a txn's value must be a list of micro-ops, found {}",
                op.index,
                short(&op.value)
            )
        })?;
        let from = b.out.mops.len();
        for (i, item) in items.iter().enumerate() {
            let mop = parse_mop(item, workload, known, &mut b)
                .map_err(|e| format!("op {}: micro-op {i} {}: {e}", op.index, short(item)))?;
            b.out.mops.push(mop);
        }
        match at {
            None => b.invoked_mops(from),
            Some(at) => b.completed_mops(at, from),
        }
    }
    b.finish()
}

fn parse_mop(
    item: &Value,
    workload: TxnWorkload,
    known: bool,
    b: &mut Builder,
) -> Result<Mop, String> {
    let parts = match item.as_array() {
        Some(p) if p.len() == 3 => p,
        // An invocation's read may leave its value out (Elle's `[:r :x]`).
        Some(p) if p.len() == 2 && !known && p[0] == "r" => p,
        _ => return Err("expected [f, key, value]".into()),
    };
    let f = parts[0].as_str().ok_or("f must be a string")?;
    let key = match &parts[1] {
        Value::String(s) => b.key_text(s),
        Value::Number(n) if n.as_i64().is_some() => b.key_int(n.as_i64().expect("checked")),
        _ => return Err("the key must be a string or an integer".into()),
    };
    let value = parts.get(2).unwrap_or(&Value::Null);
    let raw = match value {
        Value::Null => Raw::Null,
        Value::Number(n) => n.as_i64().map_or(Raw::Other, Raw::Int),
        Value::Array(items) => {
            b.scratch.clear();
            for v in items {
                b.scratch
                    .push(v.as_i64().ok_or("list elements must be integers")?);
            }
            Raw::List
        }
        _ => Raw::Other,
    };
    mop(workload, f, key, raw, known, b)
}

/// A micro-op's value as read, before it is checked against its `f`. A
/// list's elements are in `Builder::scratch`, or still text.
#[derive(Clone, Copy)]
pub(super) enum Raw<'a> {
    Null,
    Int(i64),
    List,
    /// A list: the text between its brackets.
    ListText(&'a [u8]),
    Other,
}

pub(super) fn mop(
    workload: TxnWorkload,
    f: &str,
    key: Key,
    value: Raw<'_>,
    known: bool,
    b: &mut Builder,
) -> Result<Mop, String> {
    let int = |v: Raw<'_>| match v {
        Raw::Int(i) => Ok(i),
        _ => Err("values must be integers".to_string()),
    };
    Ok(match (workload, f) {
        (TxnWorkload::ListAppend, "append") => Mop::Append(key, int(value)?),
        (TxnWorkload::ListAppend, "r") => Mop::ReadList(
            key,
            match value {
                _ if !known => None,
                Raw::Null => {
                    b.scratch.clear();
                    Some(b.store_list(key)?)
                }
                Raw::List => Some(b.store_list(key)?),
                Raw::ListText(t) => Some(b.store_list_text(key, t)?),
                _ => return Err("a list read returns null or a list".into()),
            },
        ),
        (TxnWorkload::RwRegister, "w") => Mop::Write(key, int(value)?),
        (TxnWorkload::RwRegister, "r") => Mop::ReadReg(
            key,
            match value {
                _ if !known => None,
                Raw::Null => Some(None),
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
pub fn list_text(items: &[i64]) -> String {
    let show = |vs: &[i64]| {
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
