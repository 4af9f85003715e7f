//! Transactions read straight from `history.jsonl`, without building a
//! [`crate::History`]: a million txns of long list reads as
//! `serde_json::Value` trees take gigabytes, while typed lines parsed in
//! batches on every core and fed into the compact [`Txns`] take a little
//! more than the lists' elements once per key.
//!
//! The same rules as the history reader (crate::jsonl): a malformed line is
//! an error naming the file and line, except a truncated last line, dropped
//! with a warning.

use super::history::{mop, Builder, Raw, TxnWorkload, Txns};
use super::scan;
use crate::history::{OpType, Process};
use rayon::prelude::*;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Lines parsed together, on all cores.
const BATCH: usize = 4096;

/// Txns read from a file, with warnings about it.
pub struct TxnsRead {
    pub txns: Txns,
    pub warnings: Vec<String>,
}

/// Reads the txns of a jsonl history from `source` (`path` names it in messages).
pub fn read(source: impl Read, path: &Path, workload: TxnWorkload) -> Result<TxnsRead, String> {
    let mut input = BufReader::with_capacity(1 << 20, source);
    let mut b = Builder::default();
    let mut batch: Vec<Vec<u8>> = Vec::with_capacity(BATCH);
    let mut line_no = 0usize;
    // A bad line held back until we know whether it was the last one.
    let mut pending: Option<(usize, String, bool)> = None;
    let at = |line: usize, e: String| format!("{}:{line}: {e}", path.display());
    loop {
        let mut n = 0;
        while n < BATCH {
            if batch.len() == n {
                batch.push(Vec::new());
            }
            batch[n].clear();
            let got = input
                .read_until(b'\n', &mut batch[n])
                .map_err(|e| format!("{}: {e}", path.display()))?;
            if got == 0 {
                break;
            }
            n += 1;
        }
        if n == 0 {
            break;
        }
        let parsed: Vec<Result<Option<Line<'_>>, String>> =
            batch[..n].par_iter().map(|t| parse_line(t)).collect();
        for (i, p) in parsed.into_iter().enumerate() {
            line_no += 1;
            if let Some((l, e, _)) = pending.take() {
                return Err(at(l, e));
            }
            match p {
                Ok(None) => {}
                Ok(Some(line)) => feed(&mut b, line, workload).map_err(|e| at(line_no, e))?,
                Err(e) => pending = Some((line_no, e, batch[i].trim_ascii_end().ends_with(b"}"))),
            }
        }
    }
    let mut warnings = Vec::new();
    if let Some((l, e, whole)) = pending {
        if whole {
            return Err(at(l, e));
        }
        warnings.push(format!(
            "{}:{l}: ignoring truncated last line ({e})",
            path.display()
        ));
    }
    Ok(TxnsRead {
        txns: b.finish()?,
        warnings,
    })
}

/// Reads a jsonl history file's txns.
pub fn read_file(path: &Path, workload: TxnWorkload) -> Result<TxnsRead, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    read(file, path, workload)
}

fn parse_line(text: &[u8]) -> Result<Option<Line<'_>>, String> {
    let text = text.trim_ascii();
    if text.is_empty() {
        return Ok(None);
    }
    if let Some(l) = scan::line(text) {
        return Ok(Some(Line {
            index: l.index,
            kind: l.kind,
            process: l.process,
            f: Cow::Borrowed(l.f),
            value: l.value.map_or(TxnValue::Null, TxnValue::Mops),
        }));
    }
    // Anything else: serde reads it, and says what is wrong with it.
    serde_json::from_slice(text)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// One line, with only what the txn checker needs.
#[derive(Deserialize)]
struct Line<'a> {
    index: u64,
    #[serde(rename = "type")]
    kind: OpType,
    process: Process,
    #[serde(borrow)]
    f: Cow<'a, str>,
    #[serde(default, borrow)]
    value: TxnValue<'a>,
}

/// A line's value: micro-ops, or null, or something else (a nemesis op's).
#[derive(Default)]
enum TxnValue<'a> {
    #[default]
    Null,
    Mops(Vec<RawMop<'a>>),
    Other(&'static str),
}

/// `[f, key, value]`.
pub(super) struct RawMop<'a> {
    pub f: Cow<'a, str>,
    pub key: RawKey<'a>,
    pub value: RawValue,
}

pub(super) enum RawKey<'a> {
    Text(Cow<'a, str>),
    Int(i64),
}

pub(super) enum RawValue {
    Null,
    Int(i64),
    List(Vec<i64>),
    /// A list holding something other than integers.
    BadList,
    Other,
}

fn feed(b: &mut Builder, line: Line<'_>, workload: TxnWorkload) -> Result<(), String> {
    if line.process == Process::Nemesis {
        return Ok(());
    }
    let index = line.index;
    if line.f != "txn" {
        return Err(format!(
            "op {index}: f is {:?}; a transactional history has only \"txn\" ops",
            line.f
        ));
    }
    let (at, known) = if line.kind == OpType::Invoke {
        b.invoke(index, line.process)?;
        (None, false)
    } else {
        let at = b.complete(index, line.process, line.kind)?;
        // The completion of an ok txn holds what its reads returned.
        if line.kind != OpType::Ok || matches!(line.value, TxnValue::Null) {
            return Ok(());
        }
        (Some(at), true)
    };
    let mops = match line.value {
        TxnValue::Mops(m) => m,
        TxnValue::Null => Vec::new(),
        TxnValue::Other(what) => {
            return Err(format!(
                "op {index}: a txn's value must be a list of micro-ops, found {what}"
            ))
        }
    };
    let from = b.mops_len();
    for (i, m) in mops.into_iter().enumerate() {
        let key = match &m.key {
            RawKey::Text(s) => b.key_text(s),
            RawKey::Int(k) => b.key_int(*k),
        };
        let raw = match m.value {
            RawValue::Null => Raw::Null,
            RawValue::Int(v) => Raw::Int(v),
            RawValue::List(mut l) => {
                std::mem::swap(&mut b.scratch, &mut l);
                Raw::List
            }
            RawValue::BadList => {
                return Err(format!(
                    "op {index}: micro-op {i}: list elements must be integers"
                ))
            }
            RawValue::Other => Raw::Other,
        };
        let mop = mop(workload, &m.f, key, raw, known, b)
            .map_err(|e| format!("op {index}: micro-op {i}: {e}"))?;
        b.push(mop);
    }
    match at {
        None => b.invoked_mops(from),
        Some(at) => b.completed_mops(at, from),
    }
    Ok(())
}

/// Any JSON value, skipped.
struct Ignore;

impl<'de> Deserialize<'de> for Ignore {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_ignored_any(IgnoredAny)?;
        Ok(Ignore)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for TxnValue<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = TxnValue<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of micro-ops")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(TxnValue::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(s.size_hint().unwrap_or(4));
                while let Some(m) = s.next_element()? {
                    out.push(m);
                }
                Ok(TxnValue::Mops(out))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(TxnValue::Other("an object"))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(TxnValue::Other("a string"))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(TxnValue::Other("a boolean"))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(TxnValue::Other("a number"))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(TxnValue::Other("a number"))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(TxnValue::Other("a number"))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawMop<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = RawMop<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a micro-op [f, key, value]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                let short = || de::Error::custom("a micro-op is [f, key, value]");
                let f: Cow<'a, str> = s.next_element()?.ok_or_else(short)?;
                let key: RawKey<'a> = s.next_element()?.ok_or_else(short)?;
                let value: RawValue = s.next_element()?.ok_or_else(short)?;
                if s.next_element::<Ignore>()?.is_some() {
                    return Err(short());
                }
                Ok(RawMop { f, key, value })
            }
        }
        d.deserialize_seq(V(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawKey<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = RawKey<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key: a string or an integer")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Self::Value, E> {
                Ok(RawKey::Text(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
                Ok(RawKey::Text(Cow::Owned(s.to_string())))
            }
            fn visit_i64<E>(self, i: i64) -> Result<Self::Value, E> {
                Ok(RawKey::Int(i))
            }
            fn visit_u64<E: de::Error>(self, i: u64) -> Result<Self::Value, E> {
                i64::try_from(i)
                    .map(RawKey::Int)
                    .map_err(|_| E::custom("the key must be a string or an integer"))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl<'de> Deserialize<'de> for RawValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawValue;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("null, an integer or a list of integers")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(RawValue::Null)
            }
            fn visit_i64<E>(self, i: i64) -> Result<Self::Value, E> {
                Ok(RawValue::Int(i))
            }
            fn visit_u64<E>(self, i: u64) -> Result<Self::Value, E> {
                Ok(i64::try_from(i).map_or(RawValue::Other, RawValue::Int))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(RawValue::Other)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(RawValue::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(RawValue::Other)
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(RawValue::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(s.size_hint().unwrap_or(0));
                while let Some(v) = s.next_element::<Elem>()? {
                    match v {
                        Elem(Some(i)) => out.push(i),
                        Elem(None) => {
                            while s.next_element::<IgnoredAny>()?.is_some() {}
                            return Ok(RawValue::BadList);
                        }
                    }
                }
                Ok(RawValue::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// A list element: an integer, or `None` for anything else.
struct Elem(Option<i64>);

impl<'de> Deserialize<'de> for Elem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Elem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E>(self, i: i64) -> Result<Self::Value, E> {
                Ok(Elem(Some(i)))
            }
            fn visit_u64<E>(self, i: u64) -> Result<Self::Value, E> {
                Ok(Elem(i64::try_from(i).ok()))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Elem(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Elem(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Elem(None))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Elem(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Self::Value, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Elem(None))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut m: A) -> Result<Self::Value, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Elem(None))
            }
        }
        d.deserialize_any(V)
    }
}
