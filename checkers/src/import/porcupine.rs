//! The two formats of Porcupine's reference logs (`../shared/data/porcupine`).
//!
//! - etcd logs: `INFO  jepsen.util - <process> <type> <f> <value>` a line, one
//!   CAS register, `:timed-out` standing for an unknown result.
//! - kv logs: one EDN op map a line with a `:key`, read like Jepsen's maps.
//!
//! Neither has timestamps: lines are in real-time order, so each op gets the
//! time of its line (1 ms apart) for timelines; the checkers use the order.

use super::{edn, jepsen, ImportError};
use crate::history::{History, Op, OpType, Process};
use serde_json::Value;
use std::path::Path;

const LINE_MARK: &str = "jepsen.util - ";

/// Reads an etcd log.
pub fn parse_etcd(text: &str, path: &Path) -> Result<(History, Vec<String>), ImportError> {
    let mut ops = Vec::new();
    let mut warnings = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        match etcd_op(line) {
            Ok(op) => ops.push(op),
            // A writer killed mid-line leaves a last line without its newline.
            Err(message) if line_no == lines.len() && !text.ends_with('\n') => {
                warnings.push(format!(
                    "{}:{line_no}: ignoring a truncated last line ({message})",
                    path.display()
                ));
            }
            Err(message) => return Err(ImportError::malformed(path, line_no, message)),
        }
    }
    Ok((finish(ops), warnings))
}

fn etcd_op(line: &str) -> Result<Op, String> {
    let rest = match line.find(LINE_MARK) {
        Some(at) => &line[at + LINE_MARK.len()..],
        None => {
            return Err(format!(
                "expected `INFO jepsen.util - <process> <type> <f> <value>`, found `{}`",
                line.trim()
            ))
        }
    };
    let mut fields = rest.split_whitespace();
    let (Some(process), Some(kind), Some(f)) = (fields.next(), fields.next(), fields.next()) else {
        return Err(format!(
            "expected `<process> <type> <f> <value>`, found `{}`",
            rest.trim()
        ));
    };
    let value_text = fields.collect::<Vec<_>>().join(" ");
    let process: u64 = process
        .parse()
        .map_err(|_| format!("the process must be a non-negative integer, found `{process}`"))?;
    let kind = match kind {
        ":invoke" => OpType::Invoke,
        ":ok" => OpType::Ok,
        ":fail" => OpType::Fail,
        ":info" => OpType::Info,
        other => {
            return Err(format!(
                "the type must be :invoke, :ok, :fail or :info, found `{other}`"
            ))
        }
    };
    let f = f
        .strip_prefix(':')
        .ok_or_else(|| format!("the function must be a keyword, found `{f}`"))?
        .to_string();
    if value_text.is_empty() {
        return Err("the value is missing".into());
    }
    let value = edn::parse_one(&value_text)
        .map_err(|e| format!("bad value `{value_text}`: {}", e.message))?;
    let (value, error) = match value {
        edn::Edn::Keyword(k) => (Value::Null, Some(k)),
        other => (other.to_json(), None),
    };
    Ok(Op {
        index: 0,
        time: 0,
        kind,
        process: Process::Client(process),
        f,
        key: None,
        value,
        error,
        node: None,
    })
}

/// Reads a kv log.
pub fn parse_kv(text: &str, path: &Path) -> Result<(History, Vec<String>), ImportError> {
    let (history, warnings) = jepsen::parse(text, path)?;
    Ok((finish(history.ops), warnings))
}

fn finish(ops: Vec<Op>) -> History {
    let mut history = History::new(ops);
    history.reindex();
    for op in &mut history.ops {
        op.time = op.index * 1_000_000;
    }
    history
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_etcd_lines_with_tabs_or_spaces() {
        let text = "INFO  jepsen.util - 4\t:invoke\t:read\tnil\n\
                    INFO  jepsen.util - 4\t:ok\t:read\tnil\n\
                    INFO  jepsen.util - 2 :invoke :cas [2 4]\n\
                    INFO  jepsen.util - 2  :info  :cas  :timed-out\n\
                    INFO  jepsen.util - 3\t:fail\t:read\t:timed-out\n";
        let (h, w) = parse_etcd(text, Path::new("etcd.log")).unwrap();
        assert!(w.is_empty());
        assert_eq!(h.len(), 5);
        assert_eq!(h.ops[1].kind, OpType::Ok);
        assert_eq!(h.ops[1].value, Value::Null);
        assert_eq!(h.ops[2].value, json!([2, 4]));
        assert_eq!(h.ops[2].process, Process::Client(2));
        assert_eq!(h.ops[3].kind, OpType::Info);
        assert_eq!(h.ops[3].error.as_deref(), Some("timed-out"));
        assert_eq!(h.ops[3].value, Value::Null);
        assert_eq!(h.ops[4].kind, OpType::Fail);
        assert!(h.ops[4].time > h.ops[3].time);
    }

    #[test]
    fn malformed_etcd_lines_name_the_line() {
        let e = parse_etcd(
            "INFO  jepsen.util - 1 :invoke :read nil\nhello\nINFO  jepsen.util - 1 :ok :read 1\n",
            Path::new("e.log"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("e.log:2: expected `INFO jepsen.util"), "{e}");
        let e = parse_etcd(
            "INFO  jepsen.util - x :invoke :read nil\n",
            Path::new("e.log"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("process must be"), "{e}");
        let e = parse_etcd(
            "INFO  jepsen.util - 1 :later :read nil\n",
            Path::new("e.log"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("found `:later`"), "{e}");
        let e = parse_etcd("INFO  jepsen.util - 1 :ok :read [1\n", Path::new("e.log"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad value"), "{e}");
    }

    #[test]
    fn truncated_last_etcd_line_is_a_warning() {
        let text = "INFO  jepsen.util - 1 :invoke :read nil\nINFO  jepsen.util - 1 :o";
        let (h, w) = parse_etcd(text, Path::new("e.log")).unwrap();
        assert_eq!(h.len(), 1);
        assert!(w[0].starts_with("e.log:2:"), "{w:?}");
    }

    #[test]
    fn reads_kv_lines() {
        let text = "{:process 0, :type :invoke, :f :get, :key \"5\", :value nil}\n\
                    {:process 0, :type :ok, :f :get, :key \"5\", :value \"\"}\n\
                    {:process 1, :type :invoke, :f :append, :key \"4\", :value \"x 3 7 y\"}\n";
        let (h, _) = parse_kv(text, Path::new("c01.txt")).unwrap();
        assert_eq!(h.ops[1].key.as_deref(), Some("5"));
        assert_eq!(h.ops[1].value, json!(""));
        assert_eq!(h.ops[2].f, "append");
        assert_eq!(h.ops[2].time, 2_000_000);
    }
}
