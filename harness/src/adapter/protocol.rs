//! The adapter's wire format: one op a line on its stdin, one completion a line
//! on its stdout, matched by `id`. The same JSON as the bundled targets speak
//! over TCP (see docs/adapters.md).

use crate::client::{Completion, Request};
use serde_json::{json, Map, Value};
use std::fmt;

/// The line that asks the adapter to perform `request` under `id`.
pub fn encode_request(id: u64, request: &Request) -> String {
    let mut line = Map::new();
    line.insert("id".into(), json!(id));
    line.insert("f".into(), json!(request.f));
    if let Some(key) = &request.key {
        line.insert("key".into(), json!(key));
    }
    if !request.value.is_null() {
        line.insert("value".into(), request.value.clone());
    }
    let mut text = Value::Object(line).to_string();
    text.push('\n');
    text
}

/// Why a line from the adapter is not a completion.
#[derive(Debug, PartialEq)]
pub enum BadLine {
    NotJson(String),
    NotAnObject,
    MissingId,
    BadType(String),
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadLine::NotJson(e) => write!(f, "not JSON ({e})"),
            BadLine::NotAnObject => f.write_str("not a JSON object"),
            BadLine::MissingId => f.write_str("no integer \"id\""),
            BadLine::BadType(t) => {
                write!(f, "\"type\" is {t}, expected \"ok\", \"fail\" or \"info\"")
            }
        }
    }
}

/// Reads one completion line: `{"id":17,"type":"ok","value":4}`,
/// `{"id":18,"type":"fail","error":"precondition"}`, `{"id":19,"type":"info","error":"timeout"}`.
/// A fail or info without `error` gets a generic one, so the history says something.
pub fn decode_completion(line: &str) -> Result<(u64, Completion), BadLine> {
    let value: Value = serde_json::from_str(line).map_err(|e| BadLine::NotJson(e.to_string()))?;
    let Value::Object(mut fields) = value else {
        return Err(BadLine::NotAnObject);
    };
    let id = fields
        .get("id")
        .and_then(Value::as_u64)
        .ok_or(BadLine::MissingId)?;
    let error = |fields: &Map<String, Value>, default: &str| match fields.get("error") {
        Some(Value::String(s)) => s.clone(),
        Some(other) if !other.is_null() => other.to_string(),
        _ => default.to_string(),
    };
    let completion = match fields.get("type").and_then(Value::as_str) {
        Some("ok") => Completion::Ok {
            value: fields.remove("value").unwrap_or(Value::Null),
        },
        Some("fail") => Completion::Fail {
            error: error(&fields, "fail"),
        },
        Some("info") => Completion::Info {
            error: error(&fields, "info"),
        },
        _ => {
            let shown = fields
                .get("type")
                .map_or("missing".to_string(), Value::to_string);
            return Err(BadLine::BadType(shown));
        }
    };
    Ok((id, completion))
}

/// A line shortened for a log message.
pub fn excerpt(line: &str) -> String {
    const MAX: usize = 200;
    let line = line.trim_end();
    if line.chars().count() <= MAX {
        format!("{line:?}")
    } else {
        let cut: String = line.chars().take(MAX).collect();
        format!("{cut:?}... ({} bytes)", line.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_ops_like_the_targets_protocol() {
        let cas = Request {
            f: "cas".into(),
            key: Some("r".into()),
            value: json!([1, 2]),
        };
        assert_eq!(
            encode_request(7, &cas),
            "{\"f\":\"cas\",\"id\":7,\"key\":\"r\",\"value\":[1,2]}\n"
        );
        let status = Request {
            f: "status".into(),
            key: None,
            value: Value::Null,
        };
        assert_eq!(encode_request(1, &status), "{\"f\":\"status\",\"id\":1}\n");
    }

    #[test]
    fn decodes_each_completion_type() {
        assert_eq!(
            decode_completion(r#"{"id":3,"type":"ok","value":[1,2]}"#),
            Ok((
                3,
                Completion::Ok {
                    value: json!([1, 2])
                }
            ))
        );
        assert_eq!(
            decode_completion(r#"{"id":3,"type":"ok"}"#),
            Ok((3, Completion::Ok { value: Value::Null }))
        );
        assert_eq!(
            decode_completion(r#"{"id":4,"type":"fail","error":"precondition"}"#),
            Ok((
                4,
                Completion::Fail {
                    error: "precondition".into()
                }
            ))
        );
        assert_eq!(
            decode_completion(r#"{"id":5,"type":"info"}"#),
            Ok((
                5,
                Completion::Info {
                    error: "info".into()
                }
            ))
        );
    }

    #[test]
    fn rejects_lines_that_are_not_completions() {
        assert!(matches!(
            decode_completion("hello"),
            Err(BadLine::NotJson(_))
        ));
        assert_eq!(decode_completion("[1]"), Err(BadLine::NotAnObject));
        assert_eq!(
            decode_completion(r#"{"type":"ok"}"#),
            Err(BadLine::MissingId)
        );
        assert_eq!(
            decode_completion(r#"{"id":1,"type":"maybe"}"#),
            Err(BadLine::BadType("\"maybe\"".into()))
        );
        assert_eq!(
            decode_completion(r#"{"id":1}"#),
            Err(BadLine::BadType("missing".into()))
        );
    }

    #[test]
    fn excerpts_are_bounded() {
        let long = "x".repeat(1000);
        assert!(excerpt(&long).len() < 260);
        assert_eq!(excerpt("ab\n"), "\"ab\"");
    }
}
