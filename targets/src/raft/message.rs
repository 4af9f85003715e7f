//! Messages between Raft peers (one JSON object a line on the peer transport).

use serde::{Deserialize, Serialize};

use crate::raft_storage::{Entry, Snapshot};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Msg {
    Vote {
        term: u64,
        last_index: u64,
        last_term: u64,
    },
    VoteResp {
        term: u64,
        granted: bool,
    },
    Append {
        term: u64,
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        commit: u64,
        /// The leader's read round this append belongs to (read-index reads).
        seq: u64,
    },
    Snap {
        term: u64,
        snap: Snapshot,
        seq: u64,
    },
    AppendResp {
        term: u64,
        ok: bool,
        /// On success the follower's match index; on rejection the first index
        /// it may be missing.
        index: u64,
        seq: u64,
    },
}

impl Msg {
    pub fn term(&self) -> u64 {
        match self {
            Msg::Vote { term, .. }
            | Msg::VoteResp { term, .. }
            | Msg::Append { term, .. }
            | Msg::Snap { term, .. }
            | Msg::AppendResp { term, .. } => *term,
        }
    }
}
