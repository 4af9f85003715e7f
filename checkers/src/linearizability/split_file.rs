//! A `history.jsonl` file read straight into its parts, one per key, in a
//! compact form: the way a history of millions of ops is checked per key
//! without holding its [`History`] (whose ops, with their serde `Value`s
//! and strings, take hundreds of bytes a line; a [`CompactOp`] takes 40).
//!
//! Each line's strings and values are interned; ops are paired with their
//! completions as they are read, as [`calls::collect`](super::calls::collect)
//! pairs them, so each call goes to the part of its key (the invoke's, else
//! the completion's) with the same errors for a history that is not
//! well-formed. A part becomes a small [`History`] of its own ops (and every
//! nemesis op, for the faults in force) only when it is checked.

use crate::history::{History, Op, OpType, Process};
use crate::jsonl::{JsonlReader, ReadError};
use crate::models::Interner;
use crate::stats::{RunStats, Tally};
use rustc_hash::FxHashMap;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::io::Read;
use std::path::Path;
use std::sync::mpsc;

/// Lines handed from the parser to the splitter at a time.
const BATCH: usize = 4096;

/// One line as the file has it: [`Op`]'s fields, with the value left as
/// JSON text so equal values are interned by their text.
#[derive(Deserialize)]
struct Line {
    index: u64,
    #[serde(default)]
    time: u64,
    #[serde(rename = "type")]
    kind: OpType,
    process: Process,
    f: String,
    #[serde(default)]
    key: Option<String>,
    #[serde(default)]
    value: Option<Box<RawValue>>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    node: Option<String>,
}

/// A client op line in 40 bytes: its strings and value as interned ids.
#[derive(Clone, Copy, Debug)]
struct CompactOp {
    index: u64,
    time: u64,
    /// Its line's place among the file's ops (to merge parts back in order).
    pos: u32,
    process: u32,
    f: u32,
    value: u32,
    /// The interned (key, error, node) of the line.
    extra: u32,
    kind: OpType,
}

/// The ops of one key, in file order.
#[derive(Default)]
pub struct PartOps {
    key: Option<u32>,
    ops: Vec<CompactOp>,
    /// Calls in the part that may have taken effect (not `fail`).
    calls: usize,
    /// Position of the first such call's invoke: parts are ordered by it,
    /// as splitting the paired calls orders them.
    first_call: Option<u32>,
    /// An invoke with no key joins its part at its completion, out of order.
    out_of_order: bool,
}

/// An open invocation: where its call goes is known once it completes.
struct Open {
    index: u64,
    f: u32,
    pos: u32,
    key: Option<u32>,
    /// The invoke itself, when it had no key (its part is not known yet).
    held: Option<CompactOp>,
}

/// A history file split per key.
pub struct SplitFile {
    /// Parts in the order their first call was invoked (parts of only
    /// failed calls left out).
    pub parts: Vec<PartOps>,
    /// Ops the load spread reads (`stats` ops), whole.
    pub stats_ops: History,
    pub stats: RunStats,
    pub warnings: Vec<String>,
    /// The first reason the history cannot be paired into calls (what
    /// [`calls::collect`](super::calls::collect) says).
    pub pairing_error: Option<String>,
    store: Store,
}

/// What the compact ops' ids stand for, and the nemesis ops.
#[derive(Default)]
struct Store {
    nemesis: Vec<(u32, Op)>,
    strings: Interner<String>,
    /// Values by their JSON text, parsed once each.
    value_texts: Interner<String>,
    values: Vec<Value>,
    processes: Interner<Process>,
    extras: Interner<(Option<u32>, Option<u32>, Option<u32>)>,
}

impl SplitFile {
    /// Reads and splits a jsonl history file.
    pub fn read_file(path: &Path) -> Result<SplitFile, ReadError> {
        let file = std::fs::File::open(path).map_err(|source| ReadError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        SplitFile::read(file, path)
    }

    /// Reads and splits a jsonl history from `source` (`path` names it in
    /// messages).
    ///
    /// Lines are parsed and interned on one thread, paired and split on
    /// another (parsing is most of the work; each line's strings are freed
    /// by the thread that made them).
    pub fn read(source: impl Read + Send, path: &Path) -> Result<SplitFile, ReadError> {
        let (send, receive) = mpsc::sync_channel::<Vec<Result<Parsed, ReadError>>>(4);
        std::thread::scope(|scope| {
            let parser = scope.spawn(move || {
                let mut reader: JsonlReader<_, Line> = JsonlReader::new(source, path);
                let mut parser = Parser::default();
                let mut batch = Vec::with_capacity(BATCH);
                for line in reader.by_ref() {
                    let failed = line.is_err();
                    batch.push(line.map(|line| parser.parse(line)));
                    if failed {
                        break;
                    }
                    if batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        if send.send(full).is_err() {
                            // The splitter stopped at a bad line.
                            break;
                        }
                    }
                }
                let _ = send.send(batch);
                (parser, reader.warnings)
            });
            let mut split = Splitter::default();
            let mut error = None;
            'read: for batch in receive {
                for parsed in batch {
                    match parsed {
                        Ok(parsed) => split.add(parsed),
                        Err(e) => {
                            error = Some(e);
                            break 'read;
                        }
                    }
                }
            }
            let (parser, warnings) = parser.join().expect("the line parser does not panic");
            match error {
                Some(e) => Err(e),
                None => Ok(split.finish(parser, warnings)),
            }
        })
    }

    /// The key of `part`.
    pub fn key(&self, part: &PartOps) -> Option<&str> {
        part.key.map(|k| self.store.strings.get(k).as_str())
    }

    /// A part's ops as a history, with every nemesis op in its place.
    pub fn history(&self, mut part: PartOps) -> History {
        if part.out_of_order {
            part.ops.sort_by_key(|op| op.pos);
        }
        let nemesis = &self.store.nemesis;
        let mut ops = Vec::with_capacity(part.ops.len() + nemesis.len());
        let mut nemesis = nemesis.iter().peekable();
        for op in &part.ops {
            while let Some((_, n)) = nemesis.next_if(|(pos, _)| *pos < op.pos) {
                ops.push(n.clone());
            }
            ops.push(self.store.op(op));
        }
        ops.extend(nemesis.map(|(_, n)| n.clone()));
        History::new(ops)
    }
}

impl PartOps {
    /// Calls in the part that may have taken effect.
    pub fn calls(&self) -> usize {
        self.calls
    }

    /// Counts a call (invoked at `pos`) that may have taken effect.
    fn count_call(&mut self, pos: u32) {
        self.calls += 1;
        self.first_call = Some(self.first_call.map_or(pos, |p| p.min(pos)));
    }
}

/// A line as the splitter gets it: compacted, or whole for a nemesis op.
enum Parsed {
    Client {
        op: CompactOp,
        key: Option<u32>,
        process: Process,
        /// The whole op, for a `stats` op (the load spread reads it).
        stats: Option<Box<Op>>,
    },
    Nemesis(u32, Box<Op>),
}

/// Parses and interns lines, and counts them.
#[derive(Default)]
struct Parser {
    store: Store,
    tally: Tally,
    pos: u32,
}

impl Parser {
    fn parse(&mut self, line: Line) -> Parsed {
        self.tally.add(line.kind, line.process, line.time, &line.f);
        let pos = self.pos;
        self.pos = self.pos.checked_add(1).expect("at most 2^32 ops a file");
        if line.process == Process::Nemesis {
            return Parsed::Nemesis(pos, Box::new(Store::whole(&line)));
        }
        let op = self.store.compact(&line, pos);
        Parsed::Client {
            op,
            key: self.store.extras.get(op.extra).0,
            process: line.process,
            stats: (line.f == "stats").then(|| Box::new(Store::whole(&line))),
        }
    }
}

/// Why ops do not pair (as [`calls::collect`](super::calls::collect) says
/// it, once the function names are known).
enum Unpaired {
    Reinvoked {
        op: CompactOp,
        process: Process,
        open: u64,
    },
    Orphan {
        op: CompactOp,
        process: Process,
    },
    OtherFunction {
        op: CompactOp,
        process: Process,
        open: Open,
    },
}

/// Pairs ops and puts them into their parts as they come.
#[derive(Default)]
struct Splitter {
    parts: Vec<PartOps>,
    /// Part of each key id (and of no key).
    part_of: FxHashMap<Option<u32>, usize>,
    open: FxHashMap<Process, Open>,
    nemesis: Vec<(u32, Op)>,
    stats_ops: Vec<Op>,
    unpaired: Option<Unpaired>,
}

impl Splitter {
    fn add(&mut self, parsed: Parsed) {
        let (op, key, process) = match parsed {
            Parsed::Nemesis(pos, op) => {
                self.nemesis.push((pos, *op));
                return;
            }
            Parsed::Client {
                op,
                key,
                process,
                stats,
            } => {
                self.stats_ops.extend(stats.map(|op| *op));
                (op, key, process)
            }
        };
        if self.unpaired.is_some() {
            // The check will not run: only the stats are still wanted.
            return;
        }
        if op.kind == OpType::Invoke {
            if let Some(prev) = self.open.get(&process) {
                let open = prev.index;
                self.unpaired = Some(Unpaired::Reinvoked { op, process, open });
                return;
            }
            let held = match key {
                Some(_) => {
                    self.push(key, op);
                    None
                }
                None => Some(op),
            };
            let open = Open {
                index: op.index,
                f: op.f,
                pos: op.pos,
                key,
                held,
            };
            self.open.insert(process, open);
            return;
        }
        let Some(open) = self.open.remove(&process) else {
            self.unpaired = Some(Unpaired::Orphan { op, process });
            return;
        };
        if open.f != op.f {
            self.unpaired = Some(Unpaired::OtherFunction { op, process, open });
            return;
        }
        let call_key = open.key.or(key);
        if let Some(invoke) = open.held {
            self.push(call_key, invoke);
        }
        let part = self.push(call_key, op);
        if op.kind != OpType::Fail {
            self.parts[part].count_call(open.pos);
        }
    }

    /// Puts `op` into the part of `key`; returns the part.
    fn push(&mut self, key: Option<u32>, op: CompactOp) -> usize {
        let parts = &mut self.parts;
        let i = *self.part_of.entry(key).or_insert_with(|| {
            parts.push(PartOps {
                key,
                ..PartOps::default()
            });
            parts.len() - 1
        });
        let part = &mut self.parts[i];
        if part.ops.last().is_some_and(|last| last.pos > op.pos) {
            part.out_of_order = true;
        }
        part.ops.push(op);
        i
    }

    fn finish(mut self, parser: Parser, warnings: Vec<String>) -> SplitFile {
        // Ops still open at the end may have taken effect.
        for open in std::mem::take(&mut self.open).into_values() {
            let part = match open.held {
                Some(invoke) => self.push(None, invoke),
                None => self.part_of[&open.key],
            };
            self.parts[part].count_call(open.pos);
        }
        let mut parts: Vec<PartOps> = self.parts.into_iter().filter(|p| p.calls > 0).collect();
        parts.sort_by_key(|p| p.first_call);
        for part in &mut parts {
            part.ops.shrink_to_fit();
        }
        let mut store = parser.store;
        store.nemesis = self.nemesis;
        SplitFile {
            parts,
            stats_ops: History::new(self.stats_ops),
            stats: parser.tally.finish(),
            warnings,
            pairing_error: self.unpaired.map(|u| store.say(u)),
            store,
        }
    }
}

impl Store {
    fn say(&self, unpaired: Unpaired) -> String {
        let f = |op: &CompactOp| self.strings.get(op.f);
        match unpaired {
            Unpaired::Reinvoked { op, process, open } => format!(
                "op {}: process {process} invokes {} while its op {open} is still open",
                op.index,
                f(&op)
            ),
            Unpaired::Orphan { op, process } => format!(
                "op {}: process {process} completes {} ({}) without an open invocation",
                op.index,
                f(&op),
                op.kind
            ),
            Unpaired::OtherFunction { op, process, open } => format!(
                "op {}: process {process} completes {} but invoked {} (op {})",
                op.index,
                f(&op),
                self.strings.get(open.f),
                open.index
            ),
        }
    }

    fn compact(&mut self, line: &Line, pos: u32) -> CompactOp {
        let mut id = |s: &Option<String>| s.as_deref().map(|s| self.strings.intern_ref(s));
        let extra = (id(&line.key), id(&line.error), id(&line.node));
        CompactOp {
            index: line.index,
            time: line.time,
            pos,
            process: self.processes.intern(line.process),
            f: self.strings.intern_ref(line.f.as_str()),
            value: self.value(line.value.as_deref()),
            extra: self.extras.intern(extra),
            kind: line.kind,
        }
    }

    /// The id of a value, by its JSON text (`null` when absent).
    fn value(&mut self, raw: Option<&RawValue>) -> u32 {
        let text = raw.map_or("null", RawValue::get);
        let id = self.value_texts.intern_ref(text);
        if id as usize == self.values.len() {
            self.values.push(parse(text));
        }
        id
    }

    fn op(&self, op: &CompactOp) -> Op {
        let (key, error, node) = *self.extras.get(op.extra);
        let string = |id: Option<u32>| id.map(|s| self.strings.get(s).clone());
        Op {
            index: op.index,
            time: op.time,
            kind: op.kind,
            process: *self.processes.get(op.process),
            f: self.strings.get(op.f).clone(),
            key: string(key),
            value: self.values[op.value as usize].clone(),
            error: string(error),
            node: string(node),
        }
    }

    /// The line as an [`Op`].
    fn whole(line: &Line) -> Op {
        Op {
            index: line.index,
            time: line.time,
            kind: line.kind,
            process: line.process,
            f: line.f.clone(),
            key: line.key.clone(),
            value: line
                .value
                .as_deref()
                .map_or(Value::Null, |v| parse(v.get())),
            error: line.error.clone(),
            node: line.node.clone(),
        }
    }
}

/// A value serde has read once as raw JSON.
fn parse(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON serde read parses again")
}
