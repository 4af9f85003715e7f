//! A small reader for EDN, the Clojure data notation Jepsen writes its histories in.
//!
//! It reads what histories contain: maps, vectors, lists, sets, keywords, symbols,
//! strings, characters, integers (with an `N` suffix too), floats (with `M`), nil,
//! booleans, comments and `#_` discards. A tagged literal (`#inst "..."`,
//! `#jepsen.history.Op{...}`) reads as the value it tags: the tag names a type we
//! have no use for, and the data inside is what matters.

use std::fmt;

/// One EDN value.
#[derive(Clone, Debug, PartialEq)]
pub enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Without the leading colon: `:read` is `Keyword("read")`.
    Keyword(String),
    Symbol(String),
    Char(char),
    Vector(Vec<Edn>),
    List(Vec<Edn>),
    Set(Vec<Edn>),
    /// Entries in written order (EDN maps are unordered; order helps messages).
    Map(Vec<(Edn, Edn)>),
}

impl Edn {
    /// The value of `:name` in a map, if this is a map that has it.
    pub fn get(&self, name: &str) -> Option<&Edn> {
        match self {
            Edn::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Edn::Keyword(k) if k == name))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// What kind of value this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Edn::Nil => "nil",
            Edn::Bool(_) => "a boolean",
            Edn::Int(_) => "an integer",
            Edn::Float(_) => "a float",
            Edn::Str(_) => "a string",
            Edn::Keyword(_) => "a keyword",
            Edn::Symbol(_) => "a symbol",
            Edn::Char(_) => "a character",
            Edn::Vector(_) => "a vector",
            Edn::List(_) => "a list",
            Edn::Set(_) => "a set",
            Edn::Map(_) => "a map",
        }
    }

    /// The JSON form: keywords and symbols become strings without the colon, sets
    /// and lists become arrays, map keys become strings.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Edn::Nil => Value::Null,
            Edn::Bool(b) => Value::Bool(*b),
            Edn::Int(i) => Value::from(*i),
            Edn::Float(f) => serde_json::Number::from_f64(*f)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => Value::String(s.clone()),
            Edn::Char(c) => Value::String(c.to_string()),
            Edn::Vector(items) | Edn::List(items) | Edn::Set(items) => {
                Value::Array(items.iter().map(Edn::to_json).collect())
            }
            Edn::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.as_key(), v.to_json()))
                    .collect(),
            ),
        }
    }

    /// A map key or independent-key name as a plain string.
    pub fn as_key(&self) -> String {
        match self {
            Edn::Str(s) | Edn::Keyword(s) | Edn::Symbol(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Edn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn seq(f: &mut fmt::Formatter<'_>, open: &str, items: &[Edn], close: &str) -> fmt::Result {
            f.write_str(open)?;
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{item}")?;
            }
            f.write_str(close)
        }
        match self {
            Edn::Nil => f.write_str("nil"),
            Edn::Bool(b) => write!(f, "{b}"),
            Edn::Int(i) => write!(f, "{i}"),
            Edn::Float(x) => write!(f, "{x:?}"),
            Edn::Str(s) => write!(f, "{s:?}"),
            Edn::Keyword(k) => write!(f, ":{k}"),
            Edn::Symbol(s) => f.write_str(s),
            Edn::Char(c) => write!(f, "\\{c}"),
            Edn::Vector(items) => seq(f, "[", items, "]"),
            Edn::List(items) => seq(f, "(", items, ")"),
            Edn::Set(items) => seq(f, "#{", items, "}"),
            Edn::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// What went wrong, and on which line (1-based) of the text given to the parser.
#[derive(Clone, Debug, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
    /// The text ended in the middle of a value (a truncated file).
    pub unexpected_end: bool,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Reads EDN values one after another out of a text.
pub struct Parser<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Parser<'a> {
    pub fn new(text: &'a str) -> Self {
        Parser {
            text,
            pos: 0,
            line: 1,
        }
    }

    /// The 1-based line the parser is at.
    pub fn line(&self) -> usize {
        self.line
    }

    /// Skips whitespace, commas and comments; the line the next value starts on.
    pub fn skip_blank(&mut self) -> usize {
        while let Some(c) = self.peek() {
            match c {
                ';' => {
                    while let Some(c) = self.peek() {
                        if c == '\n' {
                            break;
                        }
                        self.bump();
                    }
                }
                c if c.is_whitespace() || c == ',' => {
                    self.bump();
                }
                _ => break,
            }
        }
        self.line
    }

    pub fn at_end(&mut self) -> bool {
        self.skip_blank();
        self.pos >= self.text.len()
    }

    /// The next value, or `None` at the end of the text.
    pub fn next_value(&mut self) -> Result<Option<Edn>, ParseError> {
        loop {
            if self.at_end() {
                return Ok(None);
            }
            if self.text[self.pos..].starts_with("#_") {
                self.pos += 2;
                self.value()?;
                continue;
            }
            return self.value().map(Some);
        }
    }

    /// If the next thing opens a vector or a list, consumes it and returns
    /// the character that will close it.
    pub fn open_sequence(&mut self) -> Option<char> {
        self.skip_blank();
        let close = match self.peek()? {
            '[' => ']',
            '(' => ')',
            _ => return None,
        };
        self.bump();
        Some(close)
    }

    /// If the next thing is `close`, consumes it.
    pub fn close_sequence(&mut self, close: char) -> bool {
        self.skip_blank();
        if self.peek() == Some(close) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            line: self.line,
            message: message.into(),
            unexpected_end: false,
        }
    }

    fn end_error(&self, what: &str) -> ParseError {
        ParseError {
            line: self.line,
            message: format!("the text ends inside {what}"),
            unexpected_end: true,
        }
    }

    /// Exactly one value (discards before it are skipped).
    fn value(&mut self) -> Result<Edn, ParseError> {
        loop {
            self.skip_blank();
            let Some(c) = self.peek() else {
                return Err(self.end_error("a value"));
            };
            return match c {
                '{' => {
                    self.bump();
                    let items = self.seq('}', "a map")?;
                    if items.len() % 2 != 0 {
                        return Err(self.error("a map needs an even number of forms"));
                    }
                    let mut entries = Vec::with_capacity(items.len() / 2);
                    let mut it = items.into_iter();
                    while let (Some(k), Some(v)) = (it.next(), it.next()) {
                        entries.push((k, v));
                    }
                    Ok(Edn::Map(entries))
                }
                '[' => {
                    self.bump();
                    self.seq(']', "a vector").map(Edn::Vector)
                }
                '(' => {
                    self.bump();
                    self.seq(')', "a list").map(Edn::List)
                }
                '"' => self.string(),
                '\\' => self.character(),
                '#' => {
                    self.bump();
                    match self.peek() {
                        Some('{') => {
                            self.bump();
                            self.seq('}', "a set").map(Edn::Set)
                        }
                        Some('_') => {
                            self.bump();
                            self.value()?;
                            continue;
                        }
                        Some(c) if c.is_alphabetic() => {
                            // A tagged literal: the tag is dropped, the value kept.
                            self.token();
                            self.value()
                        }
                        Some(c) => Err(self.error(format!("unsupported dispatch `#{c}`"))),
                        None => Err(self.end_error("a tagged value")),
                    }
                }
                ')' | ']' | '}' => Err(self.error(format!("unexpected `{c}`"))),
                _ => self.atom(),
            };
        }
    }

    fn seq(&mut self, close: char, what: &str) -> Result<Vec<Edn>, ParseError> {
        let mut items = Vec::new();
        loop {
            self.skip_blank();
            match self.peek() {
                None => return Err(self.end_error(what)),
                Some(c) if c == close => {
                    self.bump();
                    return Ok(items);
                }
                Some(_) => {
                    if self.text[self.pos..].starts_with("#_") {
                        self.pos += 2;
                        self.value()?;
                        continue;
                    }
                    items.push(self.value()?)
                }
            }
        }
    }

    fn string(&mut self) -> Result<Edn, ParseError> {
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return Err(self.end_error("a string")),
                Some('"') => return Ok(Edn::Str(s)),
                Some('\\') => match self.bump() {
                    Some('n') => s.push('\n'),
                    Some('t') => s.push('\t'),
                    Some('r') => s.push('\r'),
                    Some('"') => s.push('"'),
                    Some('\\') => s.push('\\'),
                    Some('u') => {
                        let start = self.pos;
                        let hex = self.text.get(start..start + 4).unwrap_or("");
                        let c = u32::from_str_radix(hex, 16)
                            .ok()
                            .and_then(char::from_u32)
                            .ok_or_else(|| self.error("bad \\u escape in a string"))?;
                        self.pos += 4;
                        s.push(c);
                    }
                    Some(c) => {
                        return Err(self.error(format!("unknown escape `\\{c}` in a string")))
                    }
                    None => return Err(self.end_error("a string")),
                },
                Some(c) => s.push(c),
            }
        }
    }

    fn character(&mut self) -> Result<Edn, ParseError> {
        self.bump();
        let name = self.token();
        let c = match name {
            "newline" => '\n',
            "space" => ' ',
            "tab" => '\t',
            "return" => '\r',
            _ if name.len() == 5 && name.starts_with('u') => u32::from_str_radix(&name[1..], 16)
                .ok()
                .and_then(char::from_u32)
                .ok_or_else(|| self.error(format!("unknown character `\\{name}`")))?,
            _ => {
                let mut chars = name.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => c,
                    // A delimiter right after the backslash: `\(`, `\ `.
                    (None, _) => self.bump().ok_or_else(|| self.end_error("a character"))?,
                    _ => return Err(self.error(format!("unknown character `\\{name}`"))),
                }
            }
        };
        Ok(Edn::Char(c))
    }

    /// The run of characters up to the next delimiter.
    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c.is_whitespace() || matches!(c, ',' | '(' | ')' | '[' | ']' | '{' | '}' | '"' | ';')
            {
                break;
            }
            self.bump();
        }
        &self.text[start..self.pos]
    }

    fn atom(&mut self) -> Result<Edn, ParseError> {
        let token = self.token();
        if token.is_empty() {
            let c = self.peek().unwrap_or(' ');
            return Err(self.error(format!("unexpected `{c}`")));
        }
        Ok(match token {
            "nil" => Edn::Nil,
            "true" => Edn::Bool(true),
            "false" => Edn::Bool(false),
            _ if token.starts_with(':') => Edn::Keyword(token[1..].to_string()),
            _ if starts_number(token) => {
                number(token).ok_or_else(|| self.error(format!("`{token}` is not a number")))?
            }
            _ => Edn::Symbol(token.to_string()),
        })
    }
}

fn starts_number(token: &str) -> bool {
    let mut chars = token.chars();
    match chars.next() {
        Some(c) if c.is_ascii_digit() => true,
        Some('+' | '-') => chars.next().is_some_and(|c| c.is_ascii_digit()),
        _ => false,
    }
}

fn number(token: &str) -> Option<Edn> {
    if let Some(int) = token.strip_suffix('N') {
        return int.parse().ok().map(Edn::Int);
    }
    if let Some(dec) = token.strip_suffix('M') {
        return dec.parse().ok().map(Edn::Float);
    }
    if let Ok(i) = token.parse::<i64>() {
        return Some(Edn::Int(i));
    }
    if let Some((n, d)) = token.split_once('/') {
        let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
        return Some(Edn::Float(n / d));
    }
    token.parse::<f64>().ok().map(Edn::Float)
}

/// Parses a text that holds exactly one value.
pub fn parse_one(text: &str) -> Result<Edn, ParseError> {
    let mut p = Parser::new(text);
    let value = p.next_value()?.ok_or_else(|| ParseError {
        line: 1,
        message: "empty".into(),
        unexpected_end: true,
    })?;
    if !p.at_end() {
        return Err(p.error("more than one value"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(s: &str) -> Edn {
        Edn::Keyword(s.into())
    }

    #[test]
    fn reads_a_jepsen_op_map() {
        let v = parse_one(
            r#"{:type :ok, :f :cas, :value [1 2], :process 3, :time 120, :error "x\ny"}"#,
        )
        .unwrap();
        assert_eq!(v.get("type"), Some(&kw("ok")));
        assert_eq!(
            v.get("value"),
            Some(&Edn::Vector(vec![Edn::Int(1), Edn::Int(2)]))
        );
        assert_eq!(v.get("process"), Some(&Edn::Int(3)));
        assert_eq!(v.get("error"), Some(&Edn::Str("x\ny".into())));
        assert_eq!(v.get("missing"), None);
    }

    #[test]
    fn reads_scalars_sets_lists_and_numbers() {
        let v = parse_one(
            r#"[nil true false -4 12N 1.5 2.5M 1/2 "s" \a \newline \u00e9 sym #{1 2} (3 4)]"#,
        )
        .unwrap();
        assert_eq!(
            v,
            Edn::Vector(vec![
                Edn::Nil,
                Edn::Bool(true),
                Edn::Bool(false),
                Edn::Int(-4),
                Edn::Int(12),
                Edn::Float(1.5),
                Edn::Float(2.5),
                Edn::Float(0.5),
                Edn::Str("s".into()),
                Edn::Char('a'),
                Edn::Char('\n'),
                Edn::Char('é'),
                Edn::Symbol("sym".into()),
                Edn::Set(vec![Edn::Int(1), Edn::Int(2)]),
                Edn::List(vec![Edn::Int(3), Edn::Int(4)]),
            ])
        );
    }

    #[test]
    fn tags_are_dropped_and_discards_and_comments_skipped() {
        let v = parse_one(
            "; a comment\n#jepsen.history.Op{:index 0, #_ :skipped #_ 1 :time #inst \"2020-01-01\"}",
        )
        .unwrap();
        assert_eq!(v.get("index"), Some(&Edn::Int(0)));
        assert_eq!(v.get("time"), Some(&Edn::Str("2020-01-01".into())));
    }

    #[test]
    fn converts_to_json() {
        let v = parse_one(r#"{:a [1 :b nil], "k" #{2}, 3 4.5}"#).unwrap();
        assert_eq!(
            v.to_json(),
            serde_json::json!({"a": [1, "b", null], "k": [2], "3": 4.5})
        );
    }

    #[test]
    fn errors_name_the_line_and_what_is_wrong() {
        let e = parse_one("{:a 1\n :b}").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("even number"), "{e}");
        let e = parse_one("[1 2").unwrap_err();
        assert!(e.unexpected_end, "{e}");
        let e = parse_one("{:a 1]").unwrap_err();
        assert!(e.message.contains("unexpected `]`"), "{e}");
        let e = parse_one("\"abc").unwrap_err();
        assert!(e.unexpected_end);
        let e = parse_one("12x").unwrap_err();
        assert!(e.message.contains("not a number"), "{e}");
        assert!(parse_one("1 2")
            .unwrap_err()
            .message
            .contains("more than one"));
    }

    #[test]
    fn display_round_trips() {
        let text = r#"{:f :cas, :value [1 2], :s #{"a"}, :l (nil true)}"#;
        let v = parse_one(text).unwrap();
        assert_eq!(parse_one(&v.to_string()).unwrap(), v);
    }
}
