//! Membership change, one server at a time (Ongaro's dissertation, 4.1).
//!
//! Every node listed in `--peers` is known (addresses, replication), but only
//! the *voters* elect and make a majority; the others are non-voters
//! (learners) that receive the log like any follower. The voters are the
//! latest configuration entry in a node's log, committed or not (it takes
//! effect when appended), else the snapshot's, else every node of `--peers`.
//!
//! The admin requests, answered by the leader:
//!
//! ```text
//! -> {"id":7,"f":"remove-member","value":"n3"}
//! <- {"id":7,"type":"ok"}                        (the change committed)
//! -> {"id":8,"f":"add-member","value":"n3"}
//! <- {"id":8,"type":"fail","error":"catching-up"}  (n3's log is behind: retry)
//! ```
//!
//! A change differs from the last committed configuration by one voter, so
//! any majority of the old and any majority of the new configuration
//! intersect. Hence: a leader refuses a change while an earlier one is not
//! committed (`change-in-progress`) and before an entry of its own term is
//! committed (`not-ready`: the fix of the single-server bug Ongaro found in
//! 2015). Bug switch `membership-no-joint` drops both checks, so two changes
//! can be in flight and the new configuration may differ from the committed
//! one by two voters: two disjoint majorities can then each elect a leader and
//! commit different entries at the same index.

use serde_json::{json, Value};

use crate::config::NodeConfig;
use crate::wire::{Outcome, Request};

pub const F_ADD: &str = "add-member";
pub const F_REMOVE: &str = "remove-member";
/// The `f` of a configuration entry in the log (never a client command's).
const CONFIG_F: &str = "raft-config";

/// The voters of the initial configuration from `--set voters=K`: the first
/// K node ids (shorter first, then alphabetical: n1..n9 before n10); the
/// others start as learners. `None` without the setting (every node votes).
/// An unknown parameter or a K outside 1..=nodes is an error naming it.
pub fn initial_voters(cfg: &NodeConfig, sets: &[String]) -> anyhow::Result<Option<Vec<String>>> {
    let mut ids: Vec<String> = std::iter::once(cfg.id.clone())
        .chain(cfg.peers.iter().map(|(id, _)| id.clone()))
        .collect();
    ids.sort_by(|a, b| (a.len(), a).cmp(&(b.len(), b)));
    let mut out = None;
    for set in sets {
        let k = match set.split_once('=') {
            Some(("voters", k)) => k,
            _ => anyhow::bail!("--set {set}: raft-kv takes only voters=K"),
        };
        match k.parse::<usize>() {
            Ok(k) if (1..=ids.len()).contains(&k) => out = Some(ids[..k].to_vec()),
            _ => anyhow::bail!(
                "--set voters={k}: takes a number of nodes from 1 to {}",
                ids.len()
            ),
        }
    }
    Ok(out)
}

/// One requested change of the voters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Add(String),
    Remove(String),
}

impl Change {
    pub fn node(&self) -> &str {
        match self {
            Change::Add(n) | Change::Remove(n) => n,
        }
    }
}

/// The change an admin request asks for; `None` for other requests, an
/// error outcome for an admin request without a node id.
pub fn parse(req: &Request) -> Option<Result<Change, Outcome>> {
    let add = match req.f.as_str() {
        F_ADD => true,
        F_REMOVE => false,
        _ => return None,
    };
    let Some(node) = req.value.as_str().filter(|n| !n.is_empty()) else {
        return Some(Err(Outcome::fail("bad-request")));
    };
    let node = node.to_string();
    Some(Ok(if add {
        Change::Add(node)
    } else {
        Change::Remove(node)
    }))
}

/// The log command that makes `voters` the configuration.
pub fn entry<'a>(voters: impl IntoIterator<Item = &'a String>) -> Value {
    let mut v: Vec<&String> = voters.into_iter().collect();
    v.sort();
    json!({"f": CONFIG_F, "voters": v})
}

/// The voters a log command sets, if it is a configuration entry.
pub fn voters_of(cmd: &Value) -> Option<Vec<String>> {
    if cmd.get("f")?.as_str()? != CONFIG_F {
        return None;
    }
    serde_json::from_value(cmd.get("voters")?.clone()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(f: &str, value: Value) -> Request {
        serde_json::from_value(json!({"id": 1, "f": f, "value": value})).unwrap()
    }

    #[test]
    fn admin_requests_and_config_entries_round_trip() {
        assert_eq!(
            parse(&req("add-member", json!("n4"))),
            Some(Ok(Change::Add("n4".into())))
        );
        assert_eq!(
            parse(&req("remove-member", json!("n2"))),
            Some(Ok(Change::Remove("n2".into())))
        );
        assert!(matches!(parse(&req("add-member", json!(4))), Some(Err(_))));
        assert_eq!(parse(&req("write", json!("n4"))), None);
        let voters = ["n3".to_string(), "n1".to_string()];
        let e = entry(&voters);
        assert_eq!(voters_of(&e), Some(vec!["n1".into(), "n3".into()]));
        assert_eq!(voters_of(&json!({"f": "write", "key": "k"})), None);
        assert_eq!(voters_of(&Value::Null), None);
    }
}
