//! What primary-backup nodes send each other (one-way, over [`crate::transport`]).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One log entry: a client op (write, cas, add, or a read, which goes through
/// the log so that it is answered only once the primary's epoch is still
/// current), or the no-op a new primary starts its epoch with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The epoch of the primary that appended it.
    pub epoch: u64,
    pub cmd: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Msg {
    /// Primary -> backup: the log from `prev_len` on (empty: a heartbeat).
    /// `prev_epoch` is the epoch of entry `prev_len - 1`, so the backup can
    /// tell whether its log agrees up to there.
    Append {
        epoch: u64,
        prev_len: usize,
        prev_epoch: u64,
        entries: Vec<Entry>,
        commit: usize,
    },
    /// Backup -> primary. `ok`: the backup holds the primary's log up to
    /// `len`, durably. Not `ok`: resend from `len`. An `epoch` above the
    /// primary's tells it that it has been replaced.
    AppendAck { epoch: u64, ok: bool, len: usize },
    /// A backup asks to be promoted into `epoch`; its log ends with an entry
    /// of `last_epoch` at length `len`. `pre`: only asks whether it would get
    /// the vote (nobody's epoch changes), so that a node that was cut off
    /// does not depose a primary the others still hear when it comes back.
    Vote {
        epoch: u64,
        last_epoch: u64,
        len: usize,
        pre: bool,
    },
    VoteAck {
        epoch: u64,
        granted: bool,
        pre: bool,
    },
}
