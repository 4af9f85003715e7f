//! What a run list needs to know about each run, read cheaply: the spec, the
//! verdicts, and the op counts `results.json` records (for runs checked
//! before it did, from one streaming pass over the history).

use super::RunRef;
use faultline_checkers::stats::Tally;
use faultline_checkers::{OpType, Process, Results, Verdict};
use serde::Deserialize;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;

/// Op counts and span of a history.
pub type Counts = faultline_checkers::RunStats;

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
        let recorded = results.as_ref().and_then(|r| r.stats);
        let counts = if recorded.is_some() {
            recorded
        } else if history.is_file() {
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
    let mut tally = Tally::default();
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
        tally.add(op.kind, op.process, op.time, &op.f);
    }
    Ok(tally.finish())
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

#[cfg(test)]
mod recorded {
    use super::*;

    #[test]
    fn counts_come_from_results_json_when_it_has_them() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("t").join("20260101T000000");
        std::fs::create_dir_all(&dir).unwrap();
        // A history that says otherwise: results.json is what is read.
        std::fs::write(
            dir.join("history.jsonl"),
            "{\"index\":0,\"type\":\"invoke\",\"process\":0,\"f\":\"r\"}\n",
        )
        .unwrap();
        let run = RunRef {
            test: "t".into(),
            stamp: "20260101T000000".into(),
            dir: dir.clone(),
        };
        assert_eq!(
            RunInfo::load(&run).counts.unwrap().open,
            1,
            "old run: counted"
        );
        let mut results = Results::new(vec![]);
        results.stats = Some(Counts {
            ok: 7,
            duration_ns: 5,
            ..Counts::default()
        });
        crate::store::writer::write_results(&dir, &results).unwrap();
        let c = RunInfo::load(&run).counts.unwrap();
        assert_eq!((c.ok, c.open, c.duration_ns), (7, 0, 5));
    }
}
