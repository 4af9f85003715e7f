//! What a run list needs to know about each run, read cheaply: the spec, the
//! verdicts, and op counts from one streaming pass over the history.

use super::RunRef;
use faultline_checkers::{OpType, Process, Results, Verdict};
use serde::Deserialize;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// Op counts and span of a history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    /// Invoked and never completed.
    pub open: u64,
    /// Faults started by the nemesis.
    pub faults: u64,
    /// From the first line's time to the last's, in nanoseconds.
    pub duration_ns: u64,
}

impl Counts {
    pub fn client_ops(&self) -> u64 {
        self.ok + self.fail + self.info + self.open
    }
}

/// A run with what its files say, as much as could be read.
#[derive(Clone, Debug)]
pub struct RunInfo {
    pub run: RunRef,
    /// `test.json`, kept as JSON so specs from other versions still show.
    pub spec: Option<Value>,
    pub results: Option<Results>,
    pub counts: Option<Counts>,
    /// Files that could not be read, and why.
    pub problems: Vec<String>,
}

impl RunInfo {
    pub fn load(run: &RunRef) -> RunInfo {
        let mut problems = Vec::new();
        let spec = read_json::<Value>(&run.dir.join("test.json"), &mut problems);
        let results = read_json::<Results>(&run.dir.join("results.json"), &mut problems);
        let history = run.dir.join("history.jsonl");
        let counts = if history.is_file() {
            match count_ops(&history) {
                Ok(c) => Some(c),
                Err(e) => {
                    problems.push(e);
                    None
                }
            }
        } else {
            None
        };
        RunInfo {
            run: run.clone(),
            spec,
            results,
            counts,
            problems,
        }
    }

    /// A string field of the spec, or "" when unknown.
    pub fn spec_str(&self, field: &str) -> String {
        match self.spec.as_ref().and_then(|s| s.get(field)) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(","),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    }

    pub fn target(&self) -> String {
        self.spec_str("target")
    }

    /// The combined verdict, or `None` when the run has no results (yet).
    pub fn verdict(&self) -> Option<Verdict> {
        self.results.as_ref().map(|r| r.verdict)
    }

    /// `valid`, `invalid`, `unknown`, or `none` for a run with no results.
    pub fn verdict_name(&self) -> String {
        self.verdict().map_or("none".into(), |v| v.to_string())
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, problems: &mut Vec<String>) -> Option<T> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            problems.push(format!("{}: {e}", path.display()));
            return None;
        }
    };
    match serde_json::from_str(&text) {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(format!("{}: {e}", path.display()));
            None
        }
    }
}

/// The fields of an op line that counting needs; the rest is skipped.
#[derive(Deserialize)]
struct Line {
    #[serde(rename = "type")]
    kind: OpType,
    process: Process,
    #[serde(default)]
    time: u64,
    f: String,
}

/// Counts ops in one pass without keeping the history. A bad line other
/// than a truncated last one is reported with its line number.
pub fn count_ops(path: &Path) -> Result<Counts, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut c = Counts::default();
    let (mut invokes, mut first, mut last) = (0u64, u64::MAX, 0u64);
    let mut bad: Option<(usize, String)> = None;
    for (n, line) in BufReader::with_capacity(1 << 16, file).lines().enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        if let Some((at, e)) = bad.take() {
            return Err(format!("{}:{at}: {e}", path.display()));
        }
        let op: Line = match serde_json::from_str(&line) {
            Ok(op) => op,
            Err(e) => {
                bad = Some((n + 1, e.to_string()));
                continue;
            }
        };
        first = first.min(op.time);
        last = last.max(op.time);
        match (op.process, op.kind) {
            (Process::Nemesis, OpType::Invoke) if op.f.starts_with("start-") => c.faults += 1,
            (Process::Nemesis, _) => {}
            (_, OpType::Invoke) => invokes += 1,
            (_, OpType::Ok) => c.ok += 1,
            (_, OpType::Fail) => c.fail += 1,
            (_, OpType::Info) => c.info += 1,
        }
    }
    c.open = invokes.saturating_sub(c.ok + c.fail + c.info);
    c.duration_ns = last.saturating_sub(first.min(last));
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_ops_in_one_pass() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("history.jsonl");
        std::fs::write(
            &p,
            r#"{"index":0,"time":100,"type":"invoke","process":0,"f":"read"}
{"index":1,"time":150,"type":"invoke","process":"nemesis","f":"start-kill","value":["n1"]}
{"index":2,"time":160,"type":"info","process":"nemesis","f":"start-kill","value":["n1"]}
{"index":3,"time":200,"type":"ok","process":0,"f":"read","value":3}
{"index":4,"time":300,"type":"invoke","process":1,"f":"write","value":1}
{"index":5,"time":400,"type":"invoke","process":2,"f":"write","value":2}
{"index":6,"time":500,"type":"fail","process":2,"f":"write","value":2}
{"index":7,"time":60"#,
        )
        .unwrap();
        let c = count_ops(&p).unwrap();
        assert_eq!(
            c,
            Counts {
                ok: 1,
                fail: 1,
                info: 0,
                open: 1,
                faults: 1,
                duration_ns: 400
            }
        );
        std::fs::write(
            &p,
            "{\"nope\":1}\n{\"index\":0,\"type\":\"invoke\",\"process\":0,\"f\":\"r\"}\n",
        )
        .unwrap();
        let e = count_ops(&p).unwrap_err();
        assert!(e.contains("history.jsonl:1:"), "{e}");
    }
}
