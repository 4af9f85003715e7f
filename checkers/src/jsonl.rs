//! The `history.jsonl` codec: one [`Op`] a line, appended and flushed as a run goes.
//!
//! The reader is streaming and strict: a malformed line is an error that names
//! the file and line, except a truncated *last* line (a writer killed mid-line),
//! which is dropped with a warning so a killed run stays checkable.

use crate::history::{History, Op};
use serde::de::DeserializeOwned;
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

/// A line that could not be read, with where it is.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Malformed {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// A history read from a file, with any warnings about it.
#[derive(Debug, Default)]
pub struct ReadOutcome {
    pub history: History,
    pub warnings: Vec<String>,
}

/// Streams ops (or any line type `T`) out of a jsonl source, one line at a time.
pub struct JsonlReader<R, T = Op> {
    lines: io::Lines<BufReader<R>>,
    path: PathBuf,
    line_no: usize,
    /// A bad line held back until we know whether it was the last one.
    pending_error: Option<(usize, String, String)>,
    pub warnings: Vec<String>,
    line_type: PhantomData<T>,
}

impl<R: Read, T> JsonlReader<R, T> {
    pub fn new(source: R, path: impl Into<PathBuf>) -> Self {
        JsonlReader {
            lines: BufReader::with_capacity(1 << 16, source).lines(),
            path: path.into(),
            line_no: 0,
            pending_error: None,
            warnings: Vec::new(),
            line_type: PhantomData,
        }
    }

    fn malformed(&self, line: usize, message: String) -> ReadError {
        ReadError::Malformed {
            path: self.path.clone(),
            line,
            message,
        }
    }
}

impl<R: Read, T: DeserializeOwned> Iterator for JsonlReader<R, T> {
    type Item = Result<T, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let next = self.lines.next();
            if let Some((line, message, text)) = self.pending_error.take() {
                return match next {
                    // The bad line was the last one: a truncated write. Tolerate it.
                    None if !text.ends_with('}') => {
                        self.warnings.push(format!(
                            "{}:{}: ignoring truncated last line ({message})",
                            self.path.display(),
                            line
                        ));
                        None
                    }
                    _ => Some(Err(self.malformed(line, message))),
                };
            }
            let text = match next? {
                Ok(t) => t,
                Err(source) => {
                    return Some(Err(ReadError::Io {
                        path: self.path.clone(),
                        source,
                    }))
                }
            };
            self.line_no += 1;
            let trimmed = text.trim();
            if trimmed.is_empty() {
                continue;
            }
            match serde_json::from_str::<T>(trimmed) {
                Ok(op) => return Some(Ok(op)),
                Err(e) => {
                    self.pending_error = Some((self.line_no, e.to_string(), trimmed.to_string()));
                }
            }
        }
    }
}

/// Reads a whole `history.jsonl` file.
pub fn read_file(path: &Path) -> Result<ReadOutcome, ReadError> {
    let file = File::open(path).map_err(|source| ReadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read(file, path)
}

/// Reads a whole jsonl history from any source; `path` is only used in messages.
pub fn read(source: impl Read, path: &Path) -> Result<ReadOutcome, ReadError> {
    let mut reader = JsonlReader::new(source, path);
    let mut ops = Vec::new();
    for op in reader.by_ref() {
        ops.push(op?);
    }
    Ok(ReadOutcome {
        history: History::new(ops),
        warnings: reader.warnings,
    })
}

/// Appends ops to a history file, one line each, flushed per op so a killed
/// writer leaves at most a truncated last line.
pub struct JsonlWriter<W: Write> {
    out: BufWriter<W>,
    buf: Vec<u8>,
    flush_each: bool,
}

impl JsonlWriter<File> {
    /// Creates (or truncates) a history file, flushing every op to the OS.
    pub fn create(path: &Path) -> io::Result<Self> {
        Ok(JsonlWriter::new(File::create(path)?, true))
    }
}

impl<W: Write> JsonlWriter<W> {
    /// `flush_each`: hand every line to the OS as it is written (what a live run
    /// wants); otherwise lines are buffered (what bulk conversion wants).
    pub fn new(out: W, flush_each: bool) -> Self {
        JsonlWriter {
            out: BufWriter::with_capacity(1 << 16, out),
            buf: Vec::with_capacity(256),
            flush_each,
        }
    }

    pub fn write(&mut self, op: &Op) -> io::Result<()> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, op).map_err(io::Error::other)?;
        self.buf.push(b'\n');
        self.out.write_all(&self.buf)?;
        if self.flush_each {
            self.out.flush()?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> io::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error())
    }
}

/// Writes a whole history to a file.
pub fn write_file(path: &Path, history: &History) -> io::Result<()> {
    let mut w = JsonlWriter::new(File::create(path)?, false);
    for op in &history.ops {
        w.write(op)?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{OpType, Process};
    use serde_json::json;

    fn op(index: u64, kind: OpType, value: serde_json::Value) -> Op {
        Op {
            index,
            time: index * 10,
            kind,
            process: Process::Client(3),
            f: "write".into(),
            key: Some("k1".into()),
            value,
            error: None,
            node: None,
        }
    }

    #[test]
    fn round_trips_and_matches_the_documented_shape() {
        let h = History::new(vec![
            op(0, OpType::Invoke, json!(4)),
            op(1, OpType::Ok, json!(4)),
        ]);
        let mut w = JsonlWriter::new(Vec::new(), false);
        for o in &h.ops {
            w.write(o).unwrap();
        }
        let bytes = w.into_inner().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert_eq!(
            text.lines().next().unwrap(),
            r#"{"index":0,"time":0,"type":"invoke","process":3,"f":"write","key":"k1","value":4}"#
        );
        let back = read(&bytes[..], Path::new("h.jsonl")).unwrap();
        assert_eq!(back.history, h);
        assert!(back.warnings.is_empty());
    }

    #[test]
    fn nemesis_process_parses() {
        let line = r#"{"index":2,"time":5,"type":"info","process":"nemesis","f":"partition","value":{"n1":["n3"]}}"#;
        let out = read(line.as_bytes(), Path::new("h")).unwrap();
        assert_eq!(out.history.ops[0].process, Process::Nemesis);
    }

    #[test]
    fn truncated_last_line_is_a_warning() {
        let text = "{\"index\":0,\"type\":\"invoke\",\"process\":1,\"f\":\"read\"}\n{\"index\":1,\"type\":\"ok\",\"proc";
        let out = read(text.as_bytes(), Path::new("h.jsonl")).unwrap();
        assert_eq!(out.history.len(), 1);
        assert_eq!(out.warnings.len(), 1);
        assert!(out.warnings[0].contains("h.jsonl:2"), "{:?}", out.warnings);
    }

    #[test]
    fn malformed_middle_line_names_file_and_line() {
        let text = "{\"index\":0,\"type\":\"invoke\",\"process\":1,\"f\":\"read\"}\n{\"index\":1,\"type\":\"maybe\",\"process\":1,\"f\":\"read\"}\n{\"index\":2,\"type\":\"ok\",\"process\":1,\"f\":\"read\"}\n";
        let err = read(text.as_bytes(), Path::new("h.jsonl"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("h.jsonl:2: "), "{err}");
        assert!(err.contains("maybe"), "{err}");
    }
}
