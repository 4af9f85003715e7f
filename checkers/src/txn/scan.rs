//! A fast path for the bulk of a txn history: a line
//! `{"index":4,"type":"ok","process":2,"f":"txn","value":[["append",3,7],["r",3,[1,2,7]]]}`
//! scanned byte by byte, in one pass.
//! Long list reads are most of a list-append history's bytes, and parsing
//! their integers made reading a million txns several times slower than
//! checking them; so a list is not parsed here at all: its text between the
//! brackets is found with memchr and kept as bytes, and the builder compares
//! it with the text of its key's longest read (most reads are a prefix of
//! it) and parses only what is new ([`list`]). Anything outside the plain
//! shape (escaped strings, floats, huge integers, other values) returns
//! `None`, and the serde path reads the line instead and says what is wrong
//! with it.

use super::jsonl::{RawKey, RawMop, RawValue};
use crate::history::{OpType, Process};
use std::borrow::Cow;

struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    #[inline]
    fn ws(&mut self) {
        while let Some(c) = self.b.get(self.i) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                break;
            }
            self.i += 1;
        }
    }

    /// The next byte after any whitespace.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// An integer of at most 18 digits (so it cannot overflow), not followed
    /// by a fraction or exponent.
    #[inline]
    fn int(&mut self) -> Option<i64> {
        self.ws();
        let neg = self.b.get(self.i) == Some(&b'-');
        if neg {
            self.i += 1;
        }
        let start = self.i;
        let mut v: i64 = 0;
        while let Some(&c) = self.b.get(self.i) {
            if !c.is_ascii_digit() {
                break;
            }
            v = v * 10 + (c - b'0') as i64;
            self.i += 1;
        }
        let digits = self.i - start;
        let leading_zero = digits > 1 && self.b[start] == b'0';
        if digits == 0 || digits > 18 || leading_zero {
            return None;
        }
        if matches!(self.b.get(self.i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        Some(if neg { -v } else { v })
    }

    /// A string without escapes, as bytes.
    #[inline]
    fn plain_bytes(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.i;
        let end = start + memchr::memchr(b'"', &self.b[start..])?;
        let s = &self.b[start..end];
        if s.iter().any(|&c| c == b'\\' || c < 0x20) {
            return None;
        }
        self.i = end + 1;
        Some(s)
    }

    /// A string without escapes.
    #[inline]
    fn plain_str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.plain_bytes()?).ok()
    }

    fn value(&mut self) -> Option<RawValue<'a>> {
        match self.peek()? {
            b'n' => {
                if self.b[self.i..].starts_with(b"null") {
                    self.i += 4;
                    Some(RawValue::Null)
                } else {
                    None
                }
            }
            b'[' => {
                // Unparsed: the builder reads it (see the module's comment).
                let start = self.i + 1;
                let end = start + memchr::memchr(b']', &self.b[start..])?;
                self.i = end + 1;
                Some(RawValue::Text(&self.b[start..end]))
            }
            _ => self.int().map(RawValue::Int),
        }
    }

    fn mop(&mut self) -> Option<RawMop<'a>> {
        self.eat(b'[')?;
        let f = self.plain_str()?;
        self.eat(b',')?;
        let key = match self.peek()? {
            b'"' => RawKey::Text(Cow::Borrowed(self.plain_str()?)),
            _ => RawKey::Int(self.int()?),
        };
        self.eat(b',')?;
        let value = self.value()?;
        self.eat(b']')?;
        Some(RawMop {
            f: Cow::Borrowed(f),
            key,
            value,
        })
    }
}

/// A line's fields, as the fast path read them.
pub(super) struct FastLine<'a> {
    pub index: u64,
    pub time: u64,
    pub kind: OpType,
    pub process: Process,
    pub f: &'a str,
    /// Its micro-ops, a range of the `mops` given to [`line`]; `None`: the
    /// value is null or absent.
    pub value: Option<(u32, u32)>,
}

/// A whole line, if it has the plain shape: a client op whose other fields
/// (`time`, `node`, `error`, `key`) are numbers, plain strings or null. Its
/// micro-ops are pushed onto `mops` (and left there if it has not).
pub(super) fn line<'a>(b: &'a [u8], mops: &mut Vec<RawMop<'a>>) -> Option<FastLine<'a>> {
    let mut s = Scan { b, i: 0 };
    s.eat(b'{')?;
    let (mut index, mut kind, mut process, mut f, mut value) = (None, None, None, None, None);
    let mut time = 0;
    loop {
        let field = s.plain_bytes()?;
        s.eat(b':')?;
        match field {
            b"index" => index = Some(u64::try_from(s.int()?).ok()?),
            b"time" => time = u64::try_from(s.int()?).ok()?,
            b"type" => {
                kind = Some(match s.plain_bytes()? {
                    b"invoke" => OpType::Invoke,
                    b"ok" => OpType::Ok,
                    b"fail" => OpType::Fail,
                    b"info" => OpType::Info,
                    _ => return None,
                })
            }
            b"process" => process = Some(Process::Client(u64::try_from(s.int()?).ok()?)),
            b"f" => f = Some(s.plain_str()?),
            b"value" => {
                value = match s.peek()? {
                    b'n' => {
                        s.value()?;
                        None
                    }
                    _ => {
                        let from = mops.len() as u32;
                        s.mops(mops)?;
                        Some((from, mops.len() as u32))
                    }
                }
            }
            _ => match s.peek()? {
                b'"' => {
                    s.plain_bytes()?;
                }
                _ => {
                    s.value()?;
                }
            },
        }
        match s.peek()? {
            b',' => s.i += 1,
            b'}' => {
                s.i += 1;
                break;
            }
            _ => return None,
        }
    }
    s.ws();
    (s.i == s.b.len()).then_some(())?;
    Some(FastLine {
        index: index?,
        time,
        kind: kind?,
        process: process?,
        f: f?,
        value,
    })
}

/// A list's elements, `text` being what is between its brackets: pushed
/// onto `out`, with where each ends in `text` onto `ends`. `None` if they
/// are not all plain integers (then serde reads the list and names what is
/// wrong).
pub(super) fn list(text: &[u8], out: &mut Vec<i64>, ends: &mut Vec<u32>) -> Option<()> {
    let mut s = Scan { b: text, i: 0 };
    if s.peek().is_none() {
        return Some(());
    }
    loop {
        out.push(s.int()?);
        ends.push(s.i as u32);
        match s.peek() {
            None => return Some(()),
            Some(b',') => s.i += 1,
            Some(_) => return None,
        }
    }
}

/// The micro-ops of a txn's value `text`, if it has the plain shape.
#[cfg(test)]
pub(super) fn mops(text: &str) -> Option<Vec<RawMop<'_>>> {
    let mut s = Scan {
        b: text.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    s.mops(&mut out)?;
    s.ws();
    (s.i == s.b.len()).then_some(out)
}

impl<'a> Scan<'a> {
    fn mops(&mut self, out: &mut Vec<RawMop<'a>>) -> Option<()> {
        let s = self;
        s.eat(b'[')?;
        if s.peek()? == b']' {
            s.i += 1;
        } else {
            loop {
                out.push(s.mop()?);
                match s.peek()? {
                    b',' => s.i += 1,
                    b']' => {
                        s.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(text: &str) -> Option<String> {
        mops(text).map(|ms| {
            ms.iter()
                .map(|m| {
                    let key = match &m.key {
                        RawKey::Text(s) => format!("{s:?}"),
                        RawKey::Int(i) => i.to_string(),
                    };
                    let value = match &m.value {
                        RawValue::Null => "null".to_string(),
                        RawValue::Int(i) => i.to_string(),
                        RawValue::Text(t) => {
                            let (mut l, mut ends) = (Vec::new(), Vec::new());
                            match list(t, &mut l, &mut ends) {
                                Some(()) => format!("{l:?}"),
                                None => "?".to_string(),
                            }
                        }
                        _ => "?".to_string(),
                    };
                    format!("{} {key} {value}", m.f)
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    #[test]
    fn plain_values_scan() {
        assert_eq!(
            shape(r#"[["append", 3, -7], ["r","x",[1, 2,7]], ["r", 1, null], ["r", 1, []]]"#)
                .unwrap(),
            "append 3 -7; r \"x\" [1, 2, 7]; r 1 null; r 1 []"
        );
        assert_eq!(shape(" [ ] ").unwrap(), "");
    }

    #[test]
    fn plain_lines_scan() {
        let mut mops = Vec::new();
        let l = line(br#"{"index":4,"time":9,"type":"ok","process":2,"f":"txn","value":[["r",1,[2]]],"node":"n1"}"#, &mut mops).unwrap();
        assert_eq!(
            (l.index, l.kind, l.process, l.f),
            (4, OpType::Ok, Process::Client(2), "txn")
        );
        assert_eq!(l.value.unwrap(), (0, 1));
        let l = line(
            br#" { "f" : "txn", "value": null, "process": 0, "type": "fail", "index": 1 } "#,
            &mut mops,
        )
        .unwrap();
        assert!(l.value.is_none());
        for text in [
            r#"{"index":4,"type":"info","process":"nemesis","f":"kill","value":{"n1":1}}"#,
            r#"{"index":4,"type":"ok","process":2,"f":"txn"}x"#,
            r#"{"index":4,"type":"ok","process":2}"#,
            r#"{"index":4,"type":"done","process":2,"f":"txn"}"#,
            r#"{"index":4,"type":"ok","process":2,"f":"txn","error":"a"b"}"#,
        ] {
            assert!(line(text.as_bytes(), &mut mops).is_none(), "{text}");
        }
    }

    #[test]
    fn anything_else_is_left_to_serde() {
        for text in [
            r#"[["r", "x", 1.5]]"#,
            r#"[["r", "x", 1e3]]"#,
            r#"[["r", "x\n", 1]]"#,
            r#"[["r", "x", 1234567890123456789]]"#,
            r#"[["r", "x", 01]]"#,
            r#"[["r", "x"]]"#,
            r#"[["r", "x", 1, 2]]"#,
            r#"[["r", "x", 1]"#,
            r#"[["r", "x", 1]] x"#,
            r#"[["r", "x", nul]]"#,
            r#"{"r": 1}"#,
        ] {
            assert!(mops(text).is_none(), "{text}");
        }
    }

    #[test]
    fn lists_parse_with_where_each_element_ends() {
        let (mut l, mut ends) = (Vec::new(), Vec::new());
        assert_eq!(list(b" 1 , -22,3", &mut l, &mut ends), Some(()));
        assert_eq!((l, ends), (vec![1, -22, 3], vec![2, 8, 10]));
        for text in ["", " "] {
            let (mut l, mut ends) = (Vec::new(), Vec::new());
            assert_eq!(list(text.as_bytes(), &mut l, &mut ends), Some(()));
            assert!(l.is_empty() && ends.is_empty());
        }
        for text in [
            "1, \"a\"",
            "1.5",
            "1,,2",
            "01",
            "1 2",
            "1,",
            ",1",
            "[1",
            "1234567890123456789",
        ] {
            let (mut l, mut ends) = (Vec::new(), Vec::new());
            assert!(list(text.as_bytes(), &mut l, &mut ends).is_none(), "{text}");
        }
    }
}
