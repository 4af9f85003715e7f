//! The client op protocol: one JSON object a line, replies carry the request id.

use serde::Deserialize;
use serde_json::{json, Value};

/// A client request, e.g. `{"id":17,"f":"cas","key":"k1","value":[5,6]}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Request {
    pub id: Value,
    pub f: String,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub value: Value,
}

impl Request {
    /// True for ops that never change state, so a lost reply is a definite `fail`.
    pub fn is_read_only(&self) -> bool {
        self.f == "read" || self.f == "status"
    }
}

/// How an op ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// It happened; `None` omits the value field.
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

    /// The reply line (without the newline).
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
            } => {
                json!({"id": id, "type": "fail", "error": error, "leader": l})
            }
            Outcome::Info(error) => json!({"id": id, "type": "info", "error": error}),
        };
        v.to_string()
    }
}

/// A reply to a line that is not a valid request.
pub fn bad_request_line(line: &str, why: &str) -> String {
    let id = serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|v| v.get("id").cloned());
    json!({"id": id.unwrap_or(Value::Null), "type": "fail", "error": "bad-request", "message": why})
        .to_string()
}
