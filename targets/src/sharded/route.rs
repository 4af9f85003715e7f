//! Routing a client's op: the faultline client talks to one node, and the
//! node acts as the client library of a sharded store would. It keeps a copy
//! of the ring (taken from its own replica of the configuration group once a
//! second, as a client library polls its configuration service) and sends
//! the op to its local member of the owning group. On `wrong-group` it
//! retries the op with the latest ring its replica has: the ring's owner,
//! then the owner under the change under way, until the request's time is up
//! (then `fail wrong-group`: the op did not happen). So for up to a second
//! after a handoff, ops on moved keys first reach their old group, whose
//! refusal is what keeps them correct. Any other answer goes back to
//! the client as it is; a `not-leader` names the node that leads that group,
//! and the client follows it (every node hosts every group).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use super::group::WRONG_GROUP;
use super::layout::Layout;
use super::shell::{Submit, View};
use crate::wire::{Outcome, Request};

/// How often a node refreshes its copy of the ring.
const REFRESH: Duration = Duration::from_secs(1);
/// Pause between two rounds of retries while a shard moves.
const BACKOFF: Duration = Duration::from_millis(20);

pub struct Router {
    view: watch::Receiver<View>,
    submit: Submit,
    cache: Mutex<(Layout, Instant)>,
    /// Retries stop before the connection's own timeout answers.
    budget: Duration,
}

impl Router {
    pub fn new(view: watch::Receiver<View>, submit: Submit, timeout: Duration) -> Arc<Self> {
        let layout = view.borrow().layout.clone();
        Arc::new(Router {
            view,
            submit,
            cache: Mutex::new((layout, Instant::now())),
            budget: timeout.mul_f64(0.8),
        })
    }

    /// The node's copy of the ring, refreshed when it is older than [`REFRESH`].
    fn copy(&self) -> Layout {
        let mut c = self.cache.lock().expect("route cache");
        if c.1.elapsed() > REFRESH {
            *c = (self.view.borrow().layout.clone(), Instant::now());
        }
        c.0.clone()
    }

    pub async fn route(self: Arc<Self>, req: Request, reply: oneshot::Sender<Outcome>) {
        let Some(key) = req.key.clone() else {
            let _ = reply.send(Outcome::fail("bad-request: no key"));
            return;
        };
        let end = Instant::now() + self.budget;
        let mut layout = self.copy();
        let mut attempt = 0usize;
        loop {
            let mut owners: Vec<_> = [
                layout.ring.owner(&key),
                layout.next.as_ref().and_then(|(_, r)| r.owner(&key)),
            ]
            .into_iter()
            .flatten()
            .collect();
            owners.dedup();
            let Some(&g) = owners.get(attempt % owners.len().max(1)) else {
                let _ = reply.send(Outcome::fail("no-groups"));
                return;
            };
            let (tx, rx) = oneshot::channel();
            if self.submit.send((g, req.clone(), tx)).is_err() {
                return;
            }
            let Ok(outcome) = rx.await else { return };
            let wrong = matches!(&outcome, Outcome::Fail { error, .. } if error == WRONG_GROUP);
            if !wrong || Instant::now() >= end {
                let _ = reply.send(outcome);
                return;
            }
            attempt += 1;
            if attempt.is_multiple_of(owners.len()) {
                tokio::time::sleep(BACKOFF).await;
            }
            layout = self.view.borrow().layout.clone();
        }
    }
}
