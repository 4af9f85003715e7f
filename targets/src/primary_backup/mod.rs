//! primary-backup: one primary per epoch takes every op and streams its log
//! to the backups; a backup that stops hearing from it is promoted. See
//! [`core`] for the design, targets/README.md for what it promises and which
//! faults break its broken modes.
//!
//! - [`params`]: its `--set` parameters (`replication`, `quorum`);
//! - [`core`]: replication, failure detection and promotion without IO;
//! - [`message`]: what nodes send each other;
//! - [`storage`]: the epoch, the vote and the log on disk;
//! - [`shell`]: the tokio event loop around the core.

pub mod core;
pub mod message;
pub mod params;
pub mod shell;
pub mod storage;
#[cfg(test)]
mod tests;

pub use params::{Params, Quorum, Replication};

/// A backup promotes itself when the primary's heartbeats stop: no majority
/// vote, no comparison of logs.
pub const BUG_PROMOTE_ON_TIMEOUT: &str = "promote-on-timeout";
