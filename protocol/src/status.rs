//! The `status` op (`{"id":9,"f":"status"}`): a node says what it is. The
//! leader-aware faults ask every node and aim at the one that leads.
//!
//! ```text
//! <- {"id":9,"type":"ok","value":{"id":"n1","role":"leader","term":3,"leader":"n1",
//!     "voted_for":"n1","commit":41,"applied":41,"last_index":42,"last_term":3,"snapshot_index":0,
//!     "voters":["n1","n2","n3"],"config_index":0}}
//! ```
//!
//! `role` and `term` are required; every other field is optional, and unknown
//! ones are ignored. `role` is `leader`, `follower` or `candidate` for Raft
//! and `acceptor` for Paxos (whose `term` is the highest ballot seen).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a node says about itself in a `status` reply's value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// The node's own name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub role: String,
    pub term: u64,
    /// The leader it knows of, if any.
    #[serde(default)]
    pub leader: Option<String>,
    /// The node it voted for in `term`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voted_for: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_index: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_term: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_index: Option<u64>,
    /// The voters in this node's view of the membership (raft-kv: its log's
    /// latest configuration, see targets/src/raft/membership.rs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voters: Option<Vec<String>>,
}

impl Status {
    /// Reads the value of an `ok` status reply; `None` if it lacks `role` or
    /// `term` or has a field of the wrong type.
    pub fn from_value(value: &Value) -> Option<Status> {
        Status::deserialize(value).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn raft_and_paxos_status_values_parse() {
        let raft = json!({"id":"n1","role":"leader","term":3,"leader":"n1","voted_for":null,
            "commit":41,"applied":41,"last_index":42,"last_term":3,"snapshot_index":0,
            "voters":["n1","n3"]});
        let s = Status::from_value(&raft).unwrap();
        assert_eq!(
            (s.role.as_str(), s.term, s.leader.as_deref(), s.voted_for),
            ("leader", 3, Some("n1"), None)
        );
        assert_eq!(
            (s.commit, s.last_index, s.last_term),
            (Some(41), Some(42), Some(3))
        );
        assert_eq!(s.voters, Some(vec!["n1".into(), "n3".into()]));
        let paxos = json!({"id":"n2","role":"acceptor","term":12,"leader":null});
        let s = Status::from_value(&paxos).unwrap();
        assert_eq!(
            (s.role.as_str(), s.term, s.leader.as_deref()),
            ("acceptor", 12, None)
        );
        // Round trip.
        let back = serde_json::to_value(&s).unwrap();
        assert_eq!(Status::from_value(&back).unwrap(), s);
    }

    #[test]
    fn a_status_without_role_or_term_is_not_one() {
        assert!(Status::from_value(&json!({"term": 3})).is_none());
        assert!(Status::from_value(&json!({"role": "leader"})).is_none());
        assert!(Status::from_value(&json!({"role": "leader", "term": "x"})).is_none());
        assert!(Status::from_value(&json!(null)).is_none());
    }
}
