//! The listening socket shared by clients and peers, and the glue between
//! connections and a node's single-threaded event loop.

use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

use crate::transport;
use crate::wire::{bad_request_line, Outcome, Request};

/// What a node's event loop receives.
pub enum Event<M> {
    /// A one-way message from peer `.0`.
    Peer(String, M),
    /// A client op and where to send its outcome.
    Client(Request, oneshot::Sender<Outcome>),
}

/// Capacity of a node's inbox; peer messages beyond it are dropped.
pub const INBOX: usize = 65536;

/// Accept connections forever, routing peer messages and client ops to `inbox`.
pub async fn serve<M: DeserializeOwned + Send + 'static>(
    listener: TcpListener,
    inbox: mpsc::Sender<Event<M>>,
    request_timeout: Duration,
) -> anyhow::Result<()> {
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, inbox.clone(), request_timeout));
    }
}

async fn connection<M: DeserializeOwned + Send + 'static>(
    stream: TcpStream,
    inbox: mpsc::Sender<Event<M>>,
    request_timeout: Duration,
) {
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    let Ok(Some(first)) = lines.next_line().await else {
        return;
    };
    if let Some(from) = transport::parse_hello(&first) {
        let deliver = |from: String, m: M| match inbox.try_send(Event::Peer(from, m)) {
            Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        };
        transport::read_peer(from, lines, deliver).await;
        return;
    }
    // A client connection: pipelined requests, replies in completion order.
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(mut line) = out_rx.recv().await {
            line.push('\n');
            while let Ok(more) = out_rx.try_recv() {
                line.push_str(&more);
                line.push('\n');
            }
            if w.write_all(line.as_bytes()).await.is_err() {
                return;
            }
        }
    });
    let mut next = Some(first);
    loop {
        let line = match next.take() {
            Some(l) => l,
            None => match lines.next_line().await {
                Ok(Some(l)) => l,
                _ => break,
            },
        };
        if line.trim().is_empty() {
            continue;
        }
        let req: Request = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                let _ = out_tx.send(bad_request_line(&line, &e.to_string()));
                continue;
            }
        };
        let inbox = inbox.clone();
        let out_tx = out_tx.clone();
        tokio::spawn(async move {
            let id = req.id.clone();
            let read_only = req.is_read_only();
            let (tx, rx) = oneshot::channel();
            let outcome = if inbox.send(Event::Client(req, tx)).await.is_err() {
                Outcome::fail("shutting-down")
            } else {
                match tokio::time::timeout(request_timeout, rx).await {
                    Ok(Ok(o)) => o,
                    // A read changes nothing, so an unanswered read certainly had no effect.
                    _ if read_only => Outcome::fail("timeout"),
                    _ => Outcome::info("timeout"),
                }
            };
            let _ = out_tx.send(outcome.to_line(&id));
        });
    }
    drop(out_tx);
    let _ = writer.await;
}
