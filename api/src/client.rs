//! The client abstraction: how a worker sends one operation to the system under
//! test and learns its outcome.
//!
//! There is one abstraction and several transports: the op protocol over TCP to a
//! bundled target, an adapter process speaking the same protocol on its
//! stdin/stdout, or a Rust implementation embedded by a library user.

use faultline_protocol::{Completion, Request};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A future that can move between tokio worker threads.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

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

    /// The node (its name, `n3`) the next op will be sent to, if the client
    /// knows; recorded on the op's `invoke` line.
    fn next_node(&self) -> Option<&str> {
        None
    }

    /// The node the last op ended at: the one that answered it, after any
    /// redirects (leader hints, fail-over), or the last one tried. Recorded on
    /// the op's completion line; `None` records no node.
    fn last_node(&self) -> Option<&str> {
        None
    }
}

/// Opens clients. The controller calls `open` once per worker, and again after
/// a client had to be dropped.
pub trait ClientFactory: Send + Sync {
    /// A client for worker number `worker`, talking to `node` (an index into
    /// the cluster's nodes; the factory may ignore it and spread load itself).
    fn open(&self, worker: usize, node: usize) -> BoxFuture<'_, anyhow::Result<Box<dyn Client>>>;
}
