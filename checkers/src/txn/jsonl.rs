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
use crate::stats::{RunStats, Tally};
use rayon::prelude::*;
use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;
use std::io::Read;
use std::path::Path;

/// Bytes read at a time (more if one line is longer), cut at line ends into
/// 32 pieces that are parsed on all cores; then the lines are fed into the
/// txns in order, on one core. Read, not mapped: a mapped file's pages
/// count in the RSS, and a big history would double the memory used.
const BLOCK: usize = 32 << 20;

/// Txns read from a file, with warnings about it.
pub struct TxnsRead {
    pub txns: Txns,
    pub warnings: Vec<String>,
    /// The counts a History's [`RunStats::of`] gives, tallied on the way.
    pub stats: RunStats,
}

/// Reads the txns of a jsonl history from `source` (`path` names it in messages).
pub fn read(source: impl Read, path: &Path, workload: TxnWorkload) -> Result<TxnsRead, String> {
    read_blocks(source, path, workload, BLOCK)
}

/// [`read`], `block` bytes at a time.
pub(super) fn read_blocks(
    mut source: impl Read,
    path: &Path,
    workload: TxnWorkload,
    block: usize,
) -> Result<TxnsRead, String> {
    let piece = (block / 32).max(1);
    let mut b = Builder::default();
    let mut tally = Tally::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut line_no = 0usize;
    // A bad line held back until we know whether it was the last one.
    let mut pending: Option<(usize, String, bool)> = None;
    let at = |line: usize, e: String| format!("{}:{line}: {e}", path.display());
    let mut eof = false;
    while !eof {
        let want = block.max(buf.len() * 2) - buf.len();
        let got = source
            .by_ref()
            .take(want as u64)
            .read_to_end(&mut buf)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        eof = got < want;
        // Whole lines only, but for the last one.
        let end = if eof {
            buf.len()
        } else {
            match memchr::memrchr(b'\n', &buf) {
                Some(i) => i + 1,
                None => continue,
            }
        };
        let pieces: Vec<Piece<'_>> = cut(&buf[..end], piece)
            .par_iter()
            .map(|p| parse_piece(p))
            .collect();
        for piece in pieces {
            let mut mops = piece.mops;
            for entry in piece.entries {
                let no = line_no + entry.line as usize;
                if let Some((l, e, _)) = pending.take() {
                    return Err(at(l, e));
                }
                match entry.parsed {
                    Ok(line) => {
                        tally.add(
                            line.head.kind,
                            line.head.process,
                            line.head.time,
                            &line.head.f,
                        );
                        feed(&mut b, line, &mut mops, workload).map_err(|e| at(no, e))?
                    }
                    Err((e, whole)) => pending = Some((no, e, whole)),
                }
            }
            // Empty lines after a bad one: it was not the last.
            if let Some((l, e, _)) = pending.as_ref().filter(|p| p.0 < line_no + piece.lines) {
                return Err(at(*l, e.clone()));
            }
            line_no += piece.lines;
        }
        buf.drain(..end);
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
        stats: tally.finish(),
    })
}

/// Reads a jsonl history file's txns.
pub fn read_file(path: &Path, workload: TxnWorkload) -> Result<TxnsRead, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    read(file, path, workload)
}

/// `text` cut after newlines into pieces of about `size` bytes.
fn cut(text: &[u8], size: usize) -> Vec<&[u8]> {
    let mut out = Vec::with_capacity(text.len() / size + 1);
    let mut rest = text;
    while rest.len() > size {
        let Some(i) = memchr::memchr(b'\n', &rest[size..]) else {
            break;
        };
        let (piece, tail) = rest.split_at(size + i + 1);
        out.push(piece);
        rest = tail;
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// The lines of one piece, parsed.
struct Piece<'a> {
    entries: Vec<Entry<'a>>,
    /// Every line's micro-ops; a line holds a range of them.
    mops: Vec<RawMop<'a>>,
    /// Lines in the piece, empty ones included.
    lines: usize,
}

struct Entry<'a> {
    /// Its line number, counted from 1 in the piece.
    line: u32,
    /// The line, or what is wrong with it and whether it looks whole.
    parsed: Result<Line<'a>, (String, bool)>,
}

fn parse_piece(text: &[u8]) -> Piece<'_> {
    let mut p = Piece {
        entries: Vec::with_capacity(text.len() / 256 + 1),
        mops: Vec::with_capacity(text.len() / 128 + 1),
        lines: 0,
    };
    let mut from = 0;
    while from < text.len() {
        let end = memchr::memchr(b'\n', &text[from..]).map_or(text.len(), |i| from + i);
        let raw = &text[from..end];
        from = end + 1;
        p.lines += 1;
        let line = raw.trim_ascii();
        if line.is_empty() {
            continue;
        }
        let parsed = parse_line(line, &mut p.mops).map_err(|e| (e, line.ends_with(b"}")));
        p.entries.push(Entry {
            line: p.lines as u32,
            parsed,
        });
    }
    p
}

/// One line: by the fast scanner when it has the plain shape, by serde
/// (which names what is wrong) otherwise. Its micro-ops go onto `mops`.
fn parse_line<'a>(text: &'a [u8], mops: &mut Vec<RawMop<'a>>) -> Result<Line<'a>, String> {
    let had = mops.len();
    if let Some(l) = scan::line(text, mops) {
        return Ok(Line {
            head: Head {
                index: l.index,
                time: l.time,
                kind: l.kind,
                process: l.process,
                f: Cow::Borrowed(l.f),
            },
            value: l
                .value
                .map_or(TxnValue::Null, |(a, z)| TxnValue::Range(a, z)),
        });
    }
    mops.truncate(had);
    // serde, which says what is wrong: the head first, then the value,
    // except a nemesis op's (anything, `["n1"]` or a map: it is skipped).
    let head: Head<'a> = serde_json::from_slice(text).map_err(|e| e.to_string())?;
    let value = if head.process == Process::Nemesis {
        TxnValue::Other("a nemesis op's value")
    } else {
        serde_json::from_slice::<ValueOf<'a>>(text)
            .map_err(|e| e.to_string())?
            .value
    };
    let mut line = Line { head, value };
    if let TxnValue::Mops(list) = &mut line.value {
        let from = mops.len() as u32;
        mops.append(list);
        line.value = TxnValue::Range(from, mops.len() as u32);
    }
    Ok(line)
}

/// One line, with only what the txn checker needs.
struct Line<'a> {
    head: Head<'a>,
    value: TxnValue<'a>,
}

/// A line without its value.
#[derive(Deserialize)]
struct Head<'a> {
    index: u64,
    #[serde(default)]
    time: u64,
    #[serde(rename = "type")]
    kind: OpType,
    process: Process,
    #[serde(borrow)]
    f: Cow<'a, str>,
}

/// A line's value alone.
#[derive(Deserialize)]
struct ValueOf<'a> {
    #[serde(default, borrow)]
    value: TxnValue<'a>,
}

/// A line's value: micro-ops, or null, or something else (a nemesis op's).
#[derive(Default)]
enum TxnValue<'a> {
    #[default]
    Null,
    /// As serde reads them.
    Mops(Vec<RawMop<'a>>),
    /// Moved into the piece's micro-ops: this range of them.
    Range(u32, u32),
    Other(&'static str),
}

/// `[f, key, value]`.
pub(super) struct RawMop<'a> {
    pub f: Cow<'a, str>,
    pub key: RawKey<'a>,
    pub value: RawValue<'a>,
}

pub(super) enum RawKey<'a> {
    Text(Cow<'a, str>),
    Int(i64),
}

pub(super) enum RawValue<'a> {
    Null,
    Int(i64),
    List(Vec<i64>),
    /// A list as the text between its brackets, unparsed (scan.rs).
    Text(&'a [u8]),
    /// A list holding something other than integers.
    BadList,
    Other,
}

fn feed<'a>(
    b: &mut Builder,
    line: Line<'a>,
    all: &mut [RawMop<'a>],
    workload: TxnWorkload,
) -> Result<(), String> {
    let Line { head, value } = line;
    if head.process == Process::Nemesis {
        return Ok(());
    }
    let index = head.index;
    if head.f != "txn" {
        return Err(format!(
            "op {index}: f is {:?}; a transactional history has only \"txn\" ops",
            head.f
        ));
    }
    let (at, known) = if head.kind == OpType::Invoke {
        b.invoke(index, head.process)?;
        (None, false)
    } else {
        let at = b.complete(index, head.process, head.kind)?;
        // The completion of an ok txn holds what its reads returned.
        if head.kind != OpType::Ok || matches!(value, TxnValue::Null) {
            return Ok(());
        }
        (Some(at), true)
    };
    let mops: &mut [RawMop<'a>] = match value {
        TxnValue::Range(a, z) => &mut all[a as usize..z as usize],
        TxnValue::Null | TxnValue::Mops(_) => &mut [],
        TxnValue::Other(what) => {
            return Err(format!(
                "op {index}: a txn's value must be a list of micro-ops, found {what}"
            ))
        }
    };
    let from = b.mops_len();
    for (i, m) in mops.iter_mut().enumerate() {
        let key = match &m.key {
            RawKey::Text(s) => b.key_text(s),
            RawKey::Int(k) => b.key_int(*k),
        };
        let raw = match &mut m.value {
            RawValue::Null => Raw::Null,
            RawValue::Int(v) => Raw::Int(*v),
            RawValue::Text(t) => Raw::ListText(t),
            RawValue::List(l) => {
                std::mem::swap(&mut b.scratch, l);
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
                let value: RawValue<'a> = s.next_element()?.ok_or_else(short)?;
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

impl<'de, 'a> Deserialize<'de> for RawValue<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de, 'a> Visitor<'de> for V<'a> {
            type Value = RawValue<'a>;
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
        d.deserialize_any(V(std::marker::PhantomData))
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
