//! sharded-kv: registers (read, write, cas) spread over replica groups by a
//! consistent-hash ring, each group a Raft group of the bundled Raft, and a
//! configuration group (group 0) holding the ring and its version.
//!
//! Layout: every node process hosts one member of every group (group 0 and
//! replica groups 1..=[`GROUPS`]), so a cluster of N nodes runs
//! `GROUPS + 1` Raft groups of N members each over one port per node (peer
//! messages carry their group id). The ring starts with groups [`START`];
//! the others are spare until `add-group` puts them in.
//!
//! - [`ring`]: the ring (pure);
//! - [`group`]: a replica group's state machine and its handoff entries;
//! - [`layout`]: the configuration group's state machine;
//! - [`handoff`]: the driver that moves shards when the ring changes;
//! - [`route`]: how a node sends a client's op to the group that owns its key;
//! - [`shell`]: the tokio event loop running all the groups of one node.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::raft::{Admit, StateMachine};
use crate::wire::{Outcome, Request};

pub mod group;
pub mod handoff;
pub mod layout;
pub mod ring;
pub mod route;
pub mod shell;

pub use ring::{GroupId, Ring};

/// The old group keeps answering reads of keys it froze or handed off.
pub const BUG_STALE_SHARD_READS: &str = "stale-shard-reads";
/// Writes taken while a shard moves stay behind: the source keeps taking
/// writes after the freeze, but moves the data as of the freeze.
pub const BUG_DROP_TRANSFER_WRITES: &str = "drop-transfer-writes";
pub const BUGS: &[&str] = &[BUG_STALE_SHARD_READS, BUG_DROP_TRANSFER_WRITES];

/// The configuration group's id.
pub const CONFIG: GroupId = 0;
/// Replica groups 1..=GROUPS exist on every node.
pub const GROUPS: GroupId = 4;
/// The groups on the ring at start (and after every rebalance heals).
pub const START: [GroupId; 3] = [1, 2, 3];

/// The state machine of one Raft group on a node: the configuration group's
/// or a replica group's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Shard {
    Config(layout::Layout),
    Group(group::Group),
}

impl Shard {
    /// Group `g`'s state machine at start.
    pub fn initial(g: GroupId, bugs: group::GroupBugs) -> Shard {
        let ring = Ring::with_groups(&START);
        if g == CONFIG {
            Shard::Config(layout::Layout::new(ring, GROUPS))
        } else {
            Shard::Group(group::Group::new(g, 1, ring, bugs))
        }
    }

    pub fn layout(&self) -> Option<&layout::Layout> {
        match self {
            Shard::Config(l) => Some(l),
            Shard::Group(_) => None,
        }
    }
}

impl StateMachine for Shard {
    fn admit(&mut self, req: &Request, _leader: bool, _now: Instant) -> Admit {
        let r = match self {
            Shard::Config(l) => l.admit(req),
            Shard::Group(g) => g.admit(req),
        };
        match r {
            Ok(cmd) => Admit::Append(cmd),
            Err(o) => Admit::Answer(o),
        }
    }

    fn is_query(&self, req: &Request) -> bool {
        match self {
            Shard::Config(_) => req.f == layout::F_RING,
            Shard::Group(_) => req.f == "read",
        }
    }

    fn query(&self, req: &Request) -> Outcome {
        match self {
            Shard::Config(l) => Outcome::ok(l.view()),
            Shard::Group(g) => match req.key.as_deref() {
                Some(k) => g.read(k),
                None => Outcome::fail("bad-request"),
            },
        }
    }

    fn apply(&mut self, _index: u64, cmd: &Value, _now: Instant) -> Outcome {
        match self {
            Shard::Config(l) => l.apply(cmd),
            Shard::Group(g) => g.apply(cmd),
        }
    }

    fn snapshot(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    fn restore(&mut self, data: &Value) {
        if let Ok(s) = serde_json::from_value(data.clone()) {
            *self = s;
        }
    }
}
