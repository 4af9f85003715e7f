//! dispatcher: a task dispatcher replicated on the bundled Raft, with a
//! worker in every node. Clients enqueue tasks; the leader assigns each to
//! the least-loaded live worker, reassigns the tasks of a worker whose
//! heartbeats stopped, and records each task's result once (completions are
//! fenced by the assignment's epoch); clients dequeue results. See
//! targets/README.md for what it promises and which faults break its broken
//! modes.
//!
//! - [`state`]: the dispatcher as a Raft state machine, without IO;
//! - [`worker`]: the worker each node runs, a TCP client of the dispatcher;
//! - [`shell`]: one node: its Raft node and its worker.

pub mod shell;
pub mod state;
#[cfg(test)]
mod tests;
pub mod worker;

pub use state::Dispatcher;

/// A completion is recorded whatever assignment epoch it carries: a worker
/// whose task was reassigned records it again.
pub const BUG_NO_FENCING: &str = "no-fencing";
/// An enqueue is acknowledged before its task is in the log.
pub const BUG_ACK_BEFORE_REPLICATE: &str = "ack-before-replicate";
/// Every switch, for the binary's `--bug` check.
pub const BUGS: &[&str] = &[BUG_NO_FENCING, BUG_ACK_BEFORE_REPLICATE];
