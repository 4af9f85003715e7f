//! The history model: every invocation and completion of an operation, in order.
//!
//! One [`Op`] is one line of `history.jsonl`. A client operation appears twice:
//! an `invoke` and, later, its completion (`ok`, `fail` or `info`) from the same
//! process. Nemesis faults are recorded as `info` ops of the `nemesis` process.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::fmt;

/// What an op line says happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpType {
    /// The client sent the operation.
    Invoke,
    /// The operation took effect.
    Ok,
    /// The operation certainly did not take effect, and never will.
    Fail,
    /// Unknown: it may take effect at any later time, or never.
    Info,
}

impl OpType {
    pub fn is_completion(self) -> bool {
        !matches!(self, OpType::Invoke)
    }
}

impl fmt::Display for OpType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpType::Invoke => "invoke",
            OpType::Ok => "ok",
            OpType::Fail => "fail",
            OpType::Info => "info",
        })
    }
}

/// Who performed an op: a client process (a number) or the nemesis.
///
/// A process has at most one open op. After an `info` completion the process is
/// retired and its client continues under a new process id (Jepsen's rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Process {
    Client(u64),
    Nemesis,
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Process::Client(p) => write!(f, "{p}"),
            Process::Nemesis => f.write_str("nemesis"),
        }
    }
}

impl Serialize for Process {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Process::Client(p) => s.serialize_u64(*p),
            Process::Nemesis => s.serialize_str("nemesis"),
        }
    }
}

impl<'de> Deserialize<'de> for Process {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n.as_u64().map(Process::Client).ok_or_else(|| {
                serde::de::Error::custom(format!("process {n} is not a non-negative integer"))
            }),
            Value::String(s) if s == "nemesis" => Ok(Process::Nemesis),
            other => Err(serde::de::Error::custom(format!(
                "process must be a non-negative integer or \"nemesis\", got {other}"
            ))),
        }
    }
}

/// One line of a history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// Position in the history, from 0.
    pub index: u64,
    /// Nanoseconds since the run started (monotonic clock).
    #[serde(default)]
    pub time: u64,
    #[serde(rename = "type")]
    pub kind: OpType,
    pub process: Process,
    /// The function: `read`, `write`, `cas`, `add`, `acquire`, `partition`, ...
    pub f: String,
    /// The key for ops on a map of independent keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The argument (on invoke) or the result (on ok).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub value: Value,
    /// Why an op failed or is indeterminate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The node a client op was sent to (on `invoke`) or ended at (on its
    /// completion: the node that answered, after any redirect), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl Op {
    /// A client op with no key, error or node, timed at its index (for
    /// tests and generated histories).
    pub fn client(index: u64, kind: OpType, process: u64, f: &str, value: Value) -> Op {
        Op {
            index,
            time: index,
            kind,
            process: Process::Client(process),
            f: f.into(),
            key: None,
            value,
            error: None,
            node: None,
        }
    }

    pub fn is_nemesis(&self) -> bool {
        self.process == Process::Nemesis
    }
}

/// A whole history, in the order the lines were recorded.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct History {
    pub ops: Vec<Op>,
}

impl History {
    pub fn new(ops: Vec<Op>) -> Self {
        History { ops }
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Client ops only (no nemesis lines).
    pub fn client_ops(&self) -> impl Iterator<Item = &Op> {
        self.ops.iter().filter(|op| !op.is_nemesis())
    }

    /// Re-number `index` from 0 in order (importers call this).
    pub fn reindex(&mut self) {
        for (i, op) in self.ops.iter_mut().enumerate() {
            op.index = i as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_is_written_when_known_and_optional_when_read() {
        let line = r#"{"index":1,"time":5,"type":"ok","process":3,"f":"read","key":"r","value":4,"node":"n4"}"#;
        let op: Op = serde_json::from_str(line).unwrap();
        assert_eq!(op.node.as_deref(), Some("n4"));
        assert_eq!(serde_json::to_string(&op).unwrap(), line);
        let old = r#"{"index":1,"time":5,"type":"ok","process":3,"f":"read","value":4}"#;
        let op: Op = serde_json::from_str(old).unwrap();
        assert_eq!(op.node, None);
        assert_eq!(serde_json::to_string(&op).unwrap(), old);
    }
}
