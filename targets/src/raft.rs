//! Raft: leader election, log replication, commit rule, snapshots, read-index
//! reads, check-quorum.
//!
//! - [`core`]: the protocol as a state machine without IO (messages, ticks and
//!   storage results in; messages, writes and replies out), unit-tested and
//!   driven by the deterministic simulation in `tests/raft_sim.rs`;
//! - [`log`]: the in-memory log after the last snapshot;
//! - [`membership`]: adding and removing voters, one at a time;
//! - [`message`]: what peers send each other;
//! - [`shell`]: the tokio event loop that feeds the core from TCP and a clock
//!   and persists its writes through [`crate::raft_storage`].

use std::time::Instant;

use serde_json::Value;

use crate::config::NodeConfig;
use crate::wire::{Outcome, Request};

pub mod core;
pub mod log;
pub mod membership;
pub mod message;
pub mod shell;
#[cfg(test)]
mod tests;

pub use self::core::{Bugs, Config, Core, Output, Role};
pub use self::membership::initial_voters;
pub use self::message::Msg;
pub use self::shell::Node;

/// Bug switches the Raft core understands.
pub const BUG_FORGET_VOTE: &str = "forget-vote";
pub const BUG_EARLY_COMMIT: &str = "early-commit";
pub const BUG_STALE_READ: &str = "stale-read";
/// Storage bug: appends and votes are written but never fsynced (see raft_storage.rs).
pub const BUG_NO_FSYNC: &str = "no-fsync";
/// A leader starts a membership change before the previous one committed
/// (see raft/membership.rs).
pub const BUG_MEMBERSHIP_NO_JOINT: &str = "membership-no-joint";

/// What the leader does with a client command before it is appended.
pub enum Admit {
    /// Append this command to the log.
    Append(Value),
    /// Answer now without touching the log.
    Answer(Outcome),
}

/// A deterministic state machine replicated by Raft.
pub trait StateMachine: Send + 'static {
    /// Turn a client request into a command or an immediate answer. `leader`
    /// says whether this node currently believes it leads (only then is a
    /// command appended).
    fn admit(&mut self, req: &Request, leader: bool, now: Instant) -> Admit;
    /// Is this request a read answered by [`query`](Self::query)?
    fn is_query(&self, req: &Request) -> bool;
    fn query(&self, req: &Request) -> Outcome;
    fn apply(&mut self, index: u64, cmd: &Value, now: Instant) -> Outcome;
    /// A request the node runs as several requests, one after the other
    /// (raft-kv's `txn-split` bug); `None` for one that runs as itself.
    fn split(&self, _req: &Request) -> Option<Vec<Request>> {
        None
    }
    /// The answer to a split request from its parts' outcomes, in order (the
    /// parts stop at the first that is not `ok`).
    fn join(_req: &Request, outcomes: Vec<Outcome>) -> Outcome
    where
        Self: Sized,
    {
        outcomes
            .into_iter()
            .last()
            .unwrap_or_else(|| Outcome::fail("bad-request"))
    }
    /// Called when this node becomes leader.
    fn on_leader(&mut self, _now: Instant) {}
    /// Commands the leader appends on its own, asked every tick while this
    /// node leads (the dispatcher's assignments); none by default.
    fn propose(&mut self, _now: Instant) -> Vec<Value> {
        Vec::new()
    }
    fn snapshot(&self) -> Value;
    fn restore(&mut self, data: &Value);
}

/// Start a Raft node with state machine `sm` and serve until the process ends
/// or a storage write fails.
pub async fn run_node<S: StateMachine>(cfg: NodeConfig, sm: S) -> anyhow::Result<()> {
    Node::open(cfg, sm).await?.run().await
}
