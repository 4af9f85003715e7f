//! Completions: `{"id":17,"type":"ok","value":4}`,
//! `{"id":18,"type":"fail","error":"not-leader","leader":"n2"}`,
//! `{"id":19,"type":"info","error":"timeout","node":"n3"}`.
//!
//! `type` is `ok` (it happened), `fail` (it certainly did not happen and never
//! will) or `info` (unknown: it may take effect later, or never). Optional
//! fields: `value` (an `ok`'s result), `error` (why a `fail` or `info`),
//! `leader` (the leader a `not-leader` refusal names) and `node` (the node
//! that answered, when the answer came through something that may have asked
//! another node than the one it was opened for, like an adapter that fails
//! over).

use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::fmt;

/// The `error` of a `fail` or `info` line that has none (or a `null` one).
/// An error that is not a string is kept as its JSON text.
pub const MISSING_ERROR: &str = "unspecified";

/// How an operation ended, as it is recorded in the history.
#[derive(Clone, Debug, PartialEq)]
pub enum Completion {
    /// It took effect; `value` is what it returned (a read's value, a token, ...).
    Ok { value: Value },
    /// It certainly did not take effect and never will.
    Fail { error: String },
    /// Unknown: it may have taken effect, or may later. Timeouts end up here.
    Info { error: String },
}

/// One decoded completion line.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub id: u64,
    pub completion: Completion,
    /// The leader named by a `not-leader` refusal.
    pub leader: Option<String>,
    /// The node that answered, when the line says.
    pub node: Option<String>,
}

/// Why a line is not a completion.
#[derive(Clone, Debug, PartialEq)]
pub enum BadLine {
    NotJson(String),
    NotAnObject,
    MissingId,
    /// `type` is not `ok`, `fail` or `info` (shown as JSON, or `missing`).
    BadType {
        id: u64,
        shown: String,
    },
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadLine::NotJson(e) => write!(f, "not JSON ({e})"),
            BadLine::NotAnObject => f.write_str("not a JSON object"),
            BadLine::MissingId => f.write_str("no integer \"id\""),
            BadLine::BadType { shown, .. } => {
                write!(
                    f,
                    "\"type\" is {shown}, expected \"ok\", \"fail\" or \"info\""
                )
            }
        }
    }
}

/// A well-formed line, decoded without building a map; anything else takes
/// the generic path through a [`Value`].
#[derive(Deserialize)]
struct Plain<'a> {
    id: u64,
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default)]
    value: Value,
    error: Option<String>,
    leader: Option<String>,
    node: Option<String>,
}

/// Decodes one completion line (a trailing newline is fine).
pub fn decode_completion(line: &[u8]) -> Result<Reply, BadLine> {
    if let Ok(p) = serde_json::from_slice::<Plain>(line) {
        let error = || p.error.unwrap_or_else(|| MISSING_ERROR.to_string());
        let completion = match p.kind {
            "ok" => Some(Completion::Ok { value: p.value }),
            "fail" => Some(Completion::Fail { error: error() }),
            "info" => Some(Completion::Info { error: error() }),
            _ => None,
        };
        if let Some(completion) = completion {
            return Ok(Reply {
                id: p.id,
                completion,
                leader: p.leader,
                node: p.node,
            });
        }
    }
    let value: Value = serde_json::from_slice(line).map_err(|e| BadLine::NotJson(e.to_string()))?;
    let Value::Object(mut fields) = value else {
        return Err(BadLine::NotAnObject);
    };
    let id = fields
        .get("id")
        .and_then(Value::as_u64)
        .ok_or(BadLine::MissingId)?;
    let completion = match fields.get("type").and_then(Value::as_str) {
        Some("ok") => Completion::Ok {
            value: fields.remove("value").unwrap_or(Value::Null),
        },
        Some("fail") => Completion::Fail {
            error: error_of(&fields),
        },
        Some("info") => Completion::Info {
            error: error_of(&fields),
        },
        _ => {
            let shown = fields
                .get("type")
                .map_or("missing".to_string(), Value::to_string);
            return Err(BadLine::BadType { id, shown });
        }
    };
    let text = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_string);
    Ok(Reply {
        id,
        completion,
        leader: text("leader"),
        node: text("node"),
    })
}

/// The one rule for `error`: a string is itself, a missing or `null` one is
/// [`MISSING_ERROR`], anything else its JSON text.
fn error_of(fields: &Map<String, Value>) -> String {
    match fields.get("error") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => MISSING_ERROR.to_string(),
        Some(other) => other.to_string(),
    }
}

/// What a server answers for an op (the bundled targets build their replies
/// with it).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It happened; `None` leaves the value field out.
    Ok(Option<Value>),
    /// It certainly did not happen and never will; `leader` names the leader for not-leader.
    Fail {
        error: String,
        leader: Option<String>,
    },
    /// Unknown: it may take effect at any later time, or never.
    Info(String),
}

impl Outcome {
    pub fn ok(v: Value) -> Self {
        Outcome::Ok(Some(v))
    }
    pub fn done() -> Self {
        Outcome::Ok(None)
    }
    pub fn fail(error: &str) -> Self {
        Outcome::Fail {
            error: error.to_string(),
            leader: None,
        }
    }
    pub fn not_leader(leader: Option<String>) -> Self {
        Outcome::Fail {
            error: "not-leader".into(),
            leader,
        }
    }
    pub fn info(error: &str) -> Self {
        Outcome::Info(error.to_string())
    }

    /// The completion line (without the newline) answering request `id`.
    pub fn to_line(&self, id: &Value) -> String {
        let v = match self {
            Outcome::Ok(None) => json!({"id": id, "type": "ok"}),
            Outcome::Ok(Some(v)) => json!({"id": id, "type": "ok", "value": v}),
            Outcome::Fail {
                error,
                leader: None,
            } => json!({"id": id, "type": "fail", "error": error}),
            Outcome::Fail {
                error,
                leader: Some(l),
            } => json!({"id": id, "type": "fail", "error": error, "leader": l}),
            Outcome::Info(error) => json!({"id": id, "type": "info", "error": error}),
        };
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(line: &str) -> Result<Reply, BadLine> {
        decode_completion(line.as_bytes())
    }

    fn reply(id: u64, completion: Completion) -> Reply {
        Reply {
            id,
            completion,
            leader: None,
            node: None,
        }
    }

    #[test]
    fn server_outcomes_round_trip_to_client_completions() {
        let id = json!(7);
        let cases = [
            (
                Outcome::ok(json!([1, 2])),
                Completion::Ok {
                    value: json!([1, 2]),
                },
            ),
            (Outcome::done(), Completion::Ok { value: Value::Null }),
            (
                Outcome::fail("precondition"),
                Completion::Fail {
                    error: "precondition".into(),
                },
            ),
            (
                Outcome::info("timeout"),
                Completion::Info {
                    error: "timeout".into(),
                },
            ),
        ];
        for (outcome, completion) in cases {
            let line = outcome.to_line(&id);
            assert_eq!(decode(&line), Ok(reply(7, completion)), "{line}");
        }
        let hint = decode(&Outcome::not_leader(Some("n2".into())).to_line(&id)).unwrap();
        assert_eq!(hint.leader.as_deref(), Some("n2"));
        assert_eq!(
            hint.completion,
            Completion::Fail {
                error: "not-leader".into()
            }
        );
        assert_eq!(Outcome::done().to_line(&id), r#"{"id":7,"type":"ok"}"#);
    }

    #[test]
    fn a_missing_error_has_one_default_on_every_path() {
        let unspecified = MISSING_ERROR.to_string();
        // The plain path, and the generic one (an escaped type forces it).
        for line in [
            r#"{"id":5,"type":"info"}"#,
            r#"{"id":5,"type":"\u0069nfo"}"#,
            r#"{"id":5,"type":"info","error":null}"#,
        ] {
            assert_eq!(
                decode(line),
                Ok(reply(
                    5,
                    Completion::Info {
                        error: unspecified.clone()
                    }
                )),
                "{line}"
            );
        }
        assert_eq!(
            decode(r#"{"id":6,"type":"fail"}"#).unwrap().completion,
            Completion::Fail { error: unspecified }
        );
        // A non-string error keeps what it said.
        assert_eq!(
            decode(r#"{"id":6,"type":"fail","error":{"code":7}}"#)
                .unwrap()
                .completion,
            Completion::Fail {
                error: r#"{"code":7}"#.into()
            }
        );
    }

    #[test]
    fn the_answering_node_and_the_leader_hint_are_read_on_both_paths() {
        for line in [
            r#"{"id":3,"type":"ok","value":1,"node":"n3"}"#,
            r#"{"id":3,"type":"\u006fk","value":1,"node":"n3"}"#,
        ] {
            let r = decode(line).unwrap();
            assert_eq!(r.node.as_deref(), Some("n3"), "{line}");
            assert_eq!(r.completion, Completion::Ok { value: json!(1) });
        }
        let r = decode("{\"id\":3,\"type\":\"fail\",\"error\":7,\"leader\":\"n1\"}\n").unwrap();
        assert_eq!((r.leader.as_deref(), r.node), (Some("n1"), None));
    }

    #[test]
    fn lines_that_are_not_completions_say_why() {
        assert!(matches!(decode("hello"), Err(BadLine::NotJson(_))));
        assert_eq!(decode("[1]"), Err(BadLine::NotAnObject));
        assert_eq!(decode(r#"{"type":"ok"}"#), Err(BadLine::MissingId));
        assert_eq!(decode(r#"{"id":-1,"type":"ok"}"#), Err(BadLine::MissingId));
        let maybe = decode(r#"{"id":1,"type":"maybe"}"#).unwrap_err();
        assert_eq!(
            maybe,
            BadLine::BadType {
                id: 1,
                shown: "\"maybe\"".into()
            }
        );
        assert_eq!(
            maybe.to_string(),
            r#""type" is "maybe", expected "ok", "fail" or "info""#
        );
        assert_eq!(
            decode(r#"{"id":2}"#),
            Err(BadLine::BadType {
                id: 2,
                shown: "missing".into()
            })
        );
    }
}
