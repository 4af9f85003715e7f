//! The op protocol over TCP: newline-delimited JSON requests with ids, replies
//! matched by id (so requests could be pipelined on one connection).
//!
//! Error classification: an op is `fail` only when it certainly never reached
//! the node (connect refused before anything was written) or the node said so
//! (`fail` replies, including `not-leader`, which we follow to the named leader
//! once per hop); anything after the bytes left is `info`.

use crate::client::{BoxFuture, Client, ClientFactory, Completion, Request};
use faultline_protocol::{decode_completion, encode_request, BadLine};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

/// Opens [`TcpClient`]s to the nodes' client addresses.
pub struct TcpClientFactory {
    /// (node name, client address), in node order.
    pub nodes: Vec<(String, String)>,
}

impl ClientFactory for TcpClientFactory {
    fn open(&self, _worker: usize, node: usize) -> BoxFuture<'_, anyhow::Result<Box<dyn Client>>> {
        let nodes = self.nodes.clone();
        Box::pin(async move {
            Ok(Box::new(TcpClient {
                node: node % nodes.len(),
                last: node % nodes.len(),
                nodes,
                conn: None,
                next_id: 0,
                leader_hint: None,
            }) as Box<dyn Client>)
        })
    }
}

struct Conn {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    /// The request being sent and the reply being read, kept to reuse them.
    out: Vec<u8>,
    line: Vec<u8>,
}

/// One worker's connection; reconnects lazily.
pub struct TcpClient {
    nodes: Vec<(String, String)>,
    /// The node the next op goes to.
    node: usize,
    /// The node the last op ended at (its answer, or its failure to answer).
    last: usize,
    conn: Option<Conn>,
    next_id: u64,
    /// The leader named by the last not-leader reply.
    leader_hint: Option<String>,
}

/// How many not-leader hints one op follows.
const MAX_HOPS: usize = 3;

impl TcpClient {
    async fn attempt(&mut self, request: &Request, deadline: Instant) -> Completion {
        self.last = self.node;
        if self.conn.is_none() {
            let addr = &self.nodes[self.node].1;
            match timeout_at(deadline, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => {
                    let _ = s.set_nodelay(true);
                    let (r, w) = s.into_split();
                    self.conn = Some(Conn {
                        reader: BufReader::new(r),
                        writer: w,
                        out: Vec::with_capacity(128),
                        line: Vec::with_capacity(128),
                    });
                }
                // Nothing was sent: the op certainly did not happen.
                Ok(Err(e)) => {
                    return Completion::Fail {
                        error: format!("connect {}: {e}", self.nodes[self.node].0),
                    }
                }
                Err(_) => {
                    return Completion::Fail {
                        error: format!("connect {}: timeout", self.nodes[self.node].0),
                    }
                }
            }
        }
        self.next_id += 1;
        let id = self.next_id;
        let conn = self.conn.as_mut().expect("connected");
        conn.out.clear();
        encode_request(&mut conn.out, id, request);
        let result = timeout_at(deadline, async {
            conn.writer.write_all(&conn.out).await?;
            loop {
                conn.line.clear();
                if conn.reader.read_until(b'\n', &mut conn.line).await? == 0 {
                    return Err(std::io::Error::other("connection closed"));
                }
                match parse_reply(&conn.line, id)? {
                    Some(reply) => return Ok(reply),
                    // A reply to an earlier op that timed out: skip it.
                    None => continue,
                }
            }
        })
        .await;
        match result {
            Err(_) => {
                self.conn = None;
                Completion::Info {
                    error: "timeout".into(),
                }
            }
            Ok(Err(e)) => {
                self.conn = None;
                Completion::Info {
                    error: e.to_string(),
                }
            }
            Ok(Ok((completion, leader))) => {
                self.leader_hint = leader;
                completion
            }
        }
    }
}

/// The completion and leader hint of a reply line if it answers `id`;
/// `None` for a line answering an earlier op (or no op).
fn parse_reply(line: &[u8], id: u64) -> std::io::Result<Option<(Completion, Option<String>)>> {
    match decode_completion(line) {
        Ok(reply) if reply.id == id => Ok(Some((reply.completion, reply.leader))),
        Ok(_) | Err(BadLine::MissingId | BadLine::NotAnObject) => Ok(None),
        Err(BadLine::BadType { id: got, shown }) if got == id => Ok(Some((
            Completion::Info {
                error: format!("reply without a known type ({shown})"),
            },
            None,
        ))),
        Err(BadLine::BadType { .. }) => Ok(None),
        Err(bad @ BadLine::NotJson(_)) => {
            let text = String::from_utf8_lossy(line);
            Err(std::io::Error::other(format!("bad reply {text:?}: {bad}")))
        }
    }
}

impl Client for TcpClient {
    fn next_node(&self) -> Option<&str> {
        Some(&self.nodes[self.node].0)
    }

    fn last_node(&self) -> Option<&str> {
        Some(&self.nodes[self.last].0)
    }

    fn invoke<'a>(
        &'a mut self,
        request: &'a Request,
        timeout: Duration,
    ) -> BoxFuture<'a, Completion> {
        Box::pin(async move {
            let deadline = Instant::now() + timeout;
            let mut hops = 0;
            loop {
                let completion = self.attempt(request, deadline).await;
                // Anything but a definite failure is the answer; a failure to
                // connect moves to the next node for the next op.
                let Completion::Fail { error } = &completion else {
                    return completion;
                };
                if error.starts_with("connect ") {
                    self.node = (self.node + 1) % self.nodes.len();
                    return completion;
                }
                if error != "not-leader" || hops >= MAX_HOPS {
                    return completion;
                }
                hops += 1;
                // The node said the op did not happen; retrying at the leader is safe.
                let leader = self.leader_hint.take();
                match leader.and_then(|l| self.nodes.iter().position(|(n, _)| *n == l)) {
                    Some(i) if i != self.node => {
                        self.node = i;
                        self.conn = None;
                    }
                    _ => {
                        // The node knows no leader (an election, or it is cut
                        // off): look elsewhere for the next op.
                        self.node = (self.node + 1) % self.nodes.len();
                        self.conn = None;
                        return completion;
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};
    use tokio::io::AsyncBufReadExt;

    fn parse(line: &str, id: u64) -> Option<(Completion, Option<String>)> {
        parse_reply(line.as_bytes(), id).unwrap()
    }

    #[test]
    fn replies_decode_to_completions() {
        let ok = parse("{\"id\":3,\"type\":\"ok\",\"value\":[1,2]}\n", 3);
        assert_eq!(
            ok,
            Some((
                Completion::Ok {
                    value: json!([1, 2])
                },
                None
            ))
        );
        let hint = parse(
            r#"{"id":3,"type":"fail","error":"not-leader","leader":"n2"}"#,
            3,
        );
        let fail = Completion::Fail {
            error: "not-leader".into(),
        };
        assert_eq!(hint, Some((fail, Some("n2".into()))));
        let bare = parse(r#"{"id":3,"type":"info"}"#, 3);
        let info = Completion::Info {
            error: "unspecified".into(),
        };
        assert_eq!(bare, Some((info, None)));
        // An answer to an earlier op is skipped.
        assert_eq!(parse(r#"{"id":2,"type":"ok"}"#, 3), None);
    }

    #[test]
    fn odd_replies_take_the_generic_path() {
        // An escaped type, a non-string error, an unknown type.
        let escaped = parse(r#"{"id":3,"type":"\u006fk","value":1}"#, 3);
        assert_eq!(escaped, Some((Completion::Ok { value: json!(1) }, None)));
        let numeric_error = parse(r#"{"id":3,"type":"fail","error":7}"#, 3);
        let fail = Completion::Fail { error: "7".into() };
        assert_eq!(numeric_error, Some((fail, None)));
        let Some((Completion::Info { error }, _)) = parse(r#"{"id":3,"type":"maybe"}"#, 3) else {
            panic!("unknown type is info");
        };
        assert!(error.starts_with("reply without a known type"), "{error}");
        assert!(parse_reply(b"not json\n", 3).is_err());
    }

    /// A server that answers the first request late (after `delay`) and
    /// later ones at once, always echoing the id.
    async fn slow_first_server(delay: Duration) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let mut first = true;
            loop {
                let (s, _) = l.accept().await.unwrap();
                let wait = if first { delay } else { Duration::ZERO };
                first = false;
                tokio::spawn(async move {
                    let (r, mut w) = s.into_split();
                    let mut lines = BufReader::new(r).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let v: Value = serde_json::from_str(&line).unwrap();
                        tokio::time::sleep(wait).await;
                        let reply = format!("{{\"id\":{},\"type\":\"ok\"}}\n", v["id"]);
                        let _ = w.write_all(reply.as_bytes()).await;
                    }
                });
            }
        });
        addr
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_op_without_an_answer_in_time_is_info_timeout() {
        let addr = slow_first_server(Duration::from_secs(5)).await;
        let factory = TcpClientFactory {
            nodes: vec![("n1".into(), addr)],
        };
        let mut client = factory.open(0, 0).await.unwrap();
        let read = Request {
            f: "read".into(),
            key: None,
            value: Value::Null,
        };
        let started = Instant::now();
        let c = client.invoke(&read, Duration::from_millis(200)).await;
        assert_eq!(
            c,
            Completion::Info {
                error: "timeout".into()
            }
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        // The next op goes over a fresh connection and is answered.
        let c = client.invoke(&read, Duration::from_secs(2)).await;
        assert_eq!(c, Completion::Ok { value: Value::Null });
    }

    /// A server that answers every request with `reply` (its id filled in).
    async fn fixed_server(reply: &'static str) -> String {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            loop {
                let (s, _) = l.accept().await.unwrap();
                tokio::spawn(async move {
                    let (r, mut w) = s.into_split();
                    let mut lines = BufReader::new(r).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let v: Value = serde_json::from_str(&line).unwrap();
                        let line = format!("{{\"id\":{},{reply}}}\n", v["id"]);
                        let _ = w.write_all(line.as_bytes()).await;
                    }
                });
            }
        });
        addr
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_node_that_knows_no_leader_sends_the_next_op_elsewhere() {
        let lost = fixed_server(r#""type":"fail","error":"not-leader""#).await;
        let leader = fixed_server(r#""type":"ok","value":7"#).await;
        let factory = TcpClientFactory {
            nodes: vec![("n1".into(), lost), ("n2".into(), leader)],
        };
        let mut client = factory.open(0, 0).await.unwrap();
        let read = Request {
            f: "read".into(),
            key: None,
            value: Value::Null,
        };
        let timeout = Duration::from_secs(2);
        assert_eq!(client.next_node(), Some("n1"));
        let first = client.invoke(&read, timeout).await;
        assert_eq!(
            first,
            Completion::Fail {
                error: "not-leader".into()
            }
        );
        assert_eq!(client.last_node(), Some("n1"));
        assert_eq!(client.next_node(), Some("n2"));
        let second = client.invoke(&read, timeout).await;
        assert_eq!(second, Completion::Ok { value: json!(7) });
        assert_eq!(client.last_node(), Some("n2"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_op_that_follows_a_leader_hint_is_answered_by_the_leader() {
        let follower = fixed_server(r#""type":"fail","error":"not-leader","leader":"n3""#).await;
        let other = fixed_server(r#""type":"ok","value":1"#).await;
        let leader = fixed_server(r#""type":"ok","value":3"#).await;
        let factory = TcpClientFactory {
            nodes: vec![
                ("n1".into(), follower),
                ("n2".into(), other),
                ("n3".into(), leader),
            ],
        };
        let mut client = factory.open(0, 0).await.unwrap();
        assert_eq!(client.next_node(), Some("n1"));
        let read = Request {
            f: "read".into(),
            key: None,
            value: Value::Null,
        };
        let c = client.invoke(&read, Duration::from_secs(2)).await;
        assert_eq!(c, Completion::Ok { value: json!(3) });
        assert_eq!(client.last_node(), Some("n3"));
        assert_eq!(client.next_node(), Some("n3"));
    }
}
