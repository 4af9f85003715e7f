//! Peer transport: ONE-WAY messages. Node i sends to j only over its own
//! outbound connection to j's address and never writes on an inbound
//! connection, so cutting the directed link i->j stops exactly i's messages to j.
//!
//! A peer connection starts with the line `{"peer":"<sender id>"}`; every later
//! line is one message. Messages are best effort: a full queue or a broken
//! connection drops them, and the protocols above retry.

use std::collections::HashMap;
use std::time::Duration;

use serde::{de::DeserializeOwned, Serialize};
use tokio::io::{AsyncWriteExt, BufReader, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

const QUEUE: usize = 8192;
const WRITE_TIMEOUT: Duration = Duration::from_secs(3);

/// Senders for the outbound connection to every peer.
#[derive(Clone)]
pub struct Outbound<M> {
    queues: HashMap<String, mpsc::Sender<M>>,
}

impl<M: Serialize + Send + 'static> Outbound<M> {
    /// Start one connecting/reconnecting task per peer.
    pub fn start(me: &str, peers: &[(String, String)]) -> Self {
        let mut queues = HashMap::new();
        for (id, addr) in peers {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(run_link(me.to_string(), id.clone(), addr.clone(), rx));
            queues.insert(id.clone(), tx);
        }
        Outbound { queues }
    }

    /// Queue a message for `to`; dropped if the queue is full.
    pub fn send(&self, to: &str, msg: M) {
        if let Some(q) = self.queues.get(to) {
            let _ = q.try_send(msg);
        }
    }
}

async fn run_link<M: Serialize>(me: String, peer: String, addr: String, mut rx: mpsc::Receiver<M>) {
    let hello = format!("{}\n", serde_json::json!({ "peer": me }));
    let mut backoff = Duration::from_millis(20);
    loop {
        let conn = tokio::time::timeout(Duration::from_secs(1), TcpStream::connect(&addr)).await;
        let stream = match conn {
            Ok(Ok(s)) => s,
            _ => {
                // Drop what queued up while the peer was unreachable: it is stale.
                while rx.try_recv().is_ok() {}
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_millis(500));
                continue;
            }
        };
        backoff = Duration::from_millis(20);
        let _ = stream.set_nodelay(true);
        tracing::debug!(%peer, %addr, "peer link connected");
        let mut w = BufWriter::new(stream);
        if write_timed(&mut w, hello.as_bytes()).await.is_err() {
            continue;
        }
        loop {
            let Some(first) = rx.recv().await else { return };
            let mut buf = Vec::with_capacity(1024);
            push_line(&mut buf, &first);
            while buf.len() < 1 << 20 {
                match rx.try_recv() {
                    Ok(m) => push_line(&mut buf, &m),
                    Err(_) => break,
                }
            }
            if write_timed(&mut w, &buf).await.is_err() {
                tracing::debug!(%peer, "peer link broken; reconnecting");
                break;
            }
        }
    }
}

fn push_line<M: Serialize>(buf: &mut Vec<u8>, m: &M) {
    if serde_json::to_writer(&mut *buf, m).is_ok() {
        buf.push(b'\n');
    }
}

async fn write_timed(w: &mut BufWriter<TcpStream>, bytes: &[u8]) -> std::io::Result<()> {
    let io = async {
        w.write_all(bytes).await?;
        w.flush().await
    };
    match tokio::time::timeout(WRITE_TIMEOUT, io).await {
        Ok(r) => r,
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "peer write timed out",
        )),
    }
}

/// Read messages from an inbound peer connection (after its hello line) and
/// hand them to `deliver`. Unparseable lines (e.g. cut by a dropped connection)
/// are skipped.
pub async fn read_peer<M: DeserializeOwned>(
    from: String,
    mut lines: tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
    deliver: impl Fn(String, M) -> bool,
) {
    while let Ok(Some(line)) = lines.next_line().await {
        match serde_json::from_str::<M>(&line) {
            Ok(m) => {
                if !deliver(from.clone(), m) {
                    return;
                }
            }
            Err(e) => tracing::debug!(%from, "skipping bad peer line: {e}"),
        }
    }
}

/// If `line` is a peer hello, the sender's id.
pub fn parse_hello(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let obj = v.as_object()?;
    if obj.len() == 1 {
        obj.get("peer")?.as_str().map(str::to_string)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_is_recognised_and_requests_are_not() {
        assert_eq!(parse_hello(r#"{"peer":"n2"}"#), Some("n2".into()));
        assert_eq!(parse_hello(r#"{"id":1,"f":"read","key":"peer"}"#), None);
        assert_eq!(parse_hello("garbage"), None);
    }
}
