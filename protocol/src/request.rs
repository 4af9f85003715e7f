//! Requests: `{"id":17,"f":"cas","key":"k1","value":[5,6]}`.
//!
//! `key` is absent for ops without one and `value` when it is `null`; a
//! reader ignores fields it does not know.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One operation to perform: the `f`, `key` and `value` of a history `invoke`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    pub f: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub value: Value,
}

impl Request {
    /// The `status` request (see [`crate::Status`]).
    pub fn status() -> Request {
        Request {
            f: "status".into(),
            key: None,
            value: Value::Null,
        }
    }
}

/// A request line as a server reads it. The `id` is any JSON value; the
/// server echoes it in the completion.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RequestLine {
    pub id: Value,
    pub f: String,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub value: Value,
}

impl RequestLine {
    /// True for ops that never change state, so a lost reply is a definite `fail`.
    pub fn is_read_only(&self) -> bool {
        self.f == "read" || self.f == "status"
    }
}

/// A request as a client sends it, borrowing the request's fields.
#[derive(Serialize)]
struct Outgoing<'a> {
    id: u64,
    f: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Value::is_null")]
    value: &'a Value,
}

/// Appends the line (with its newline) that asks for `request` under `id`.
pub fn encode_request(out: &mut Vec<u8>, id: u64, request: &Request) {
    let line = Outgoing {
        id,
        f: &request.f,
        key: request.key.as_deref(),
        value: &request.value,
    };
    serde_json::to_writer(&mut *out, &line).expect("a request encodes");
    out.push(b'\n');
}

/// The line (with its newline) that asks for `request` under `id`.
pub fn request_line(id: u64, request: &Request) -> String {
    let mut out = Vec::with_capacity(64);
    encode_request(&mut out, id, request);
    String::from_utf8(out).expect("JSON is UTF-8")
}

/// A server's answer to a line that is not a valid request: `fail`
/// `bad-request`, echoing the line's `id` when it has one, and saying why.
pub fn bad_request_line(line: &str, why: &str) -> String {
    let id = serde_json::from_str::<Value>(line)
        .ok()
        .and_then(|v| v.get("id").cloned());
    json!({"id": id.unwrap_or(Value::Null), "type": "fail", "error": "bad-request", "message": why})
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_encode_as_one_json_line_without_empty_fields() {
        let cas = Request {
            f: "cas".into(),
            key: Some("k3".into()),
            value: json!([2, 5]),
        };
        assert_eq!(
            request_line(17, &cas),
            "{\"id\":17,\"f\":\"cas\",\"key\":\"k3\",\"value\":[2,5]}\n"
        );
        assert_eq!(
            request_line(1, &Request::status()),
            "{\"id\":1,\"f\":\"status\"}\n"
        );
        let mut out = b"x".to_vec();
        encode_request(&mut out, 2, &Request::status());
        assert_eq!(out, b"x{\"id\":2,\"f\":\"status\"}\n");
    }

    #[test]
    fn a_server_reads_back_what_a_client_sends() {
        let write = Request {
            f: "write".into(),
            key: Some("r".into()),
            value: json!(3),
        };
        let line: RequestLine = serde_json::from_str(&request_line(9, &write)).unwrap();
        assert_eq!(
            line,
            RequestLine {
                id: json!(9),
                f: "write".into(),
                key: Some("r".into()),
                value: json!(3)
            }
        );
        assert!(!line.is_read_only());
        // Absent key and value; any id; unknown fields ignored.
        let line: RequestLine = serde_json::from_str(r#"{"id":"a","f":"read","extra":1}"#).unwrap();
        assert_eq!((&line.key, &line.value), (&None, &Value::Null));
        assert!(line.is_read_only());
        // The op itself round-trips through serde too.
        let text = serde_json::to_string(&write).unwrap();
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), write);
    }

    #[test]
    fn bad_requests_are_answered_with_their_id_when_they_have_one() {
        let reply: Value = serde_json::from_str(&bad_request_line(
            r#"{"id":4,"key":"r"}"#,
            "missing field `f`",
        ))
        .unwrap();
        assert_eq!(
            reply,
            json!({"id":4,"type":"fail","error":"bad-request","message":"missing field `f`"})
        );
        let reply: Value = serde_json::from_str(&bad_request_line("nope", "not JSON")).unwrap();
        assert_eq!(reply["id"], Value::Null);
        assert!(serde_json::from_str::<RequestLine>(r#"{"f":"read"}"#).is_err());
    }
}
