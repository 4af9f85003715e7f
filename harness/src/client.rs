//! The client abstraction: how a worker sends one operation to the system under
//! test and learns its outcome.
//!
//! There is one abstraction and several transports: the op protocol over TCP to a
//! bundled target, an adapter process speaking the same protocol on its
//! stdin/stdout, or a Rust implementation embedded by a library user.

use serde_json::Value;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A future that can move between tokio worker threads.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One operation to perform: the `f`, `key` and `value` of a history `invoke`.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub f: String,
    pub key: Option<String>,
    pub value: Value,
}

/// How an operation ended, as it will be recorded in the history.
#[derive(Clone, Debug, PartialEq)]
pub enum Completion {
    /// It took effect; `value` is what it returned (a read's value, a token, ...).
    Ok { value: Value },
    /// It certainly did not take effect and never will.
    Fail { error: String },
    /// Unknown: it may have taken effect, or may later. Timeouts end up here.
    Info { error: String },
}

/// A connection of one worker to the system under test.
///
/// `invoke` must return within `timeout` (plus a small margin): when the system
/// does not answer in time the result is `Completion::Info` with error
/// `"timeout"`. After an `Info` the controller may drop this client and open a
/// new one, since the old connection's state is unknown.
pub trait Client: Send {
    fn invoke<'a>(
        &'a mut self,
        request: &'a Request,
        timeout: Duration,
    ) -> BoxFuture<'a, Completion>;
}

/// Opens clients. The controller calls `open` once per worker, and again after
/// a client had to be dropped.
pub trait ClientFactory: Send + Sync {
    /// A client for worker number `worker`, talking to `node` (an index into
    /// the cluster's nodes; the factory may ignore it and spread load itself).
    fn open(&self, worker: usize, node: usize) -> BoxFuture<'_, anyhow::Result<Box<dyn Client>>>;
}
