//! The replication and epoch rules of [`super::core`], on nodes wired
//! together in memory: messages are delivered by hand, links cut by a set,
//! time moved by hand. Replies are identified by a number.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::{json, Value};

use super::core::{Config, Core, Role};
use super::message::Msg;
use super::Replication;
use crate::wire::{Outcome, Request};

const MS: Duration = Duration::from_millis(1);

struct Cluster {
    nodes: BTreeMap<String, Core<u64>>,
    /// Directed links that drop messages: (from, to).
    cut: HashSet<(String, String)>,
    replies: BTreeMap<u64, Outcome>,
    now: Instant,
    rng: StdRng,
    next_reply: u64,
}

impl Cluster {
    fn new(n: usize, replication: Replication, bug: bool) -> Self {
        let names: Vec<String> = (1..=n).map(|i| format!("n{i}")).collect();
        let now = Instant::now();
        let mut rng = StdRng::seed_from_u64(7);
        let nodes = names
            .iter()
            .map(|id| {
                let cfg = Config {
                    id: id.clone(),
                    peers: names.iter().filter(|p| *p != id).cloned().collect(),
                    replication,
                    copies: n / 2 + 1,
                    promote_on_timeout: bug,
                    heartbeat: 50 * MS,
                    fail_min: 300 * MS,
                    fail_max: 600 * MS,
                };
                (
                    id.clone(),
                    Core::new(cfg, 0, None, Vec::new(), now, &mut rng),
                )
            })
            .collect();
        Cluster {
            nodes,
            cut: HashSet::new(),
            replies: BTreeMap::new(),
            now,
            rng,
            next_reply: 0,
        }
    }

    fn node(&mut self, id: &str) -> &mut Core<u64> {
        self.nodes.get_mut(id).unwrap()
    }

    /// Cuts `a` off from everyone, both ways.
    fn isolate(&mut self, a: &str) {
        for b in self.nodes.keys() {
            if b != a {
                self.cut.insert((a.into(), b.clone()));
                self.cut.insert((b.clone(), a.into()));
            }
        }
    }

    /// Collects every node's replies, delivers their messages until none
    /// are left (the storage is taken as made durable at once).
    fn settle(&mut self) {
        loop {
            let mut sent = Vec::new();
            for (id, core) in self.nodes.iter_mut() {
                core.take_storage();
                for (to, m) in core.take_messages() {
                    sent.push((id.clone(), to, m));
                }
                for (r, o) in core.take_replies() {
                    self.replies.insert(r, o);
                }
            }
            if sent.is_empty() {
                return;
            }
            for (from, to, m) in sent {
                if !self.cut.contains(&(from.clone(), to.clone())) {
                    let (now, rng) = (self.now, &mut self.rng);
                    self.nodes
                        .get_mut(&to)
                        .unwrap()
                        .on_message(from, m, now, rng);
                }
            }
        }
    }

    /// Moves time on in 10 ms ticks, settling after each.
    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now += 10 * MS;
            let (now, rng) = (self.now, &mut self.rng);
            for core in self.nodes.values_mut() {
                core.on_tick(now, rng);
            }
            self.settle();
        }
    }

    fn primaries(&self) -> Vec<String> {
        let mut p: Vec<(u64, String)> = self
            .nodes
            .iter()
            .filter(|(_, c)| c.role() == Role::Primary)
            .map(|(id, c)| (c.epoch(), id.clone()))
            .collect();
        p.sort();
        p.into_iter().map(|(_, id)| id).collect()
    }

    /// Sends an op to `node`; returns the reply's number.
    fn op(&mut self, node: &str, f: &str, key: &str, value: Value) -> u64 {
        self.next_reply += 1;
        let r = self.next_reply;
        let req = Request {
            id: json!(r),
            f: f.into(),
            key: Some(key.into()),
            value,
        };
        let now = self.now;
        self.node(node).on_client(req, r, now);
        self.settle();
        r
    }

    fn reply(&self, r: u64) -> Option<&Outcome> {
        self.replies.get(&r)
    }
}

fn ok(o: Option<&Outcome>) -> bool {
    o.is_some_and(|o| o.to_line(&json!(0)).contains("\"type\":\"ok\""))
}

#[test]
fn a_majority_vote_promotes_one_primary_and_sync_waits_for_the_backups() {
    let mut c = Cluster::new(3, Replication::Sync, false);
    c.run(Duration::from_secs(2));
    let p = c.primaries();
    assert_eq!(p.len(), 1, "{p:?}");
    let p = p[0].clone();
    let backup = c.nodes.keys().find(|n| **n != p).unwrap().clone();
    // Held back from the backups, a write is not answered.
    c.isolate(&p);
    let w = c.op(&p, "write", "r", json!(3));
    assert!(c.reply(w).is_none());
    // A backup refuses ops and names the primary it knows.
    let r = c.op(&backup, "read", "r", Value::Null);
    assert!(c
        .reply(r)
        .unwrap()
        .to_line(&json!(0))
        .contains("not-leader"));
    c.cut.clear();
    c.run(100 * MS);
    assert_eq!(c.reply(w), Some(&Outcome::done()));
    let r = c.op(&p, "read", "r", Value::Null);
    c.run(100 * MS);
    assert_eq!(c.reply(r), Some(&Outcome::ok(json!(3))));
    // Every node holds the log, the primary's epoch included.
    let logs: Vec<_> = c.nodes.values().map(|n| n.log().to_vec()).collect();
    assert!(logs.iter().all(|l| *l == logs[0]), "{logs:?}");
}

#[test]
fn a_replaced_primary_answers_nothing_and_loses_nothing_acknowledged() {
    let mut c = Cluster::new(3, Replication::Sync, false);
    c.run(Duration::from_secs(2));
    let old = c.primaries()[0].clone();
    let acked = c.op(&old, "add", "s", json!(1));
    c.run(50 * MS);
    assert!(ok(c.reply(acked)));
    c.isolate(&old);
    let stranded = c.op(&old, "add", "s", json!(2));
    c.run(Duration::from_secs(2));
    let new = c
        .primaries()
        .into_iter()
        .filter(|p| *p != old)
        .collect::<Vec<_>>();
    assert_eq!(new.len(), 1, "a majority promoted one backup");
    assert!(c.node(&new[0]).epoch() > c.node(&old).epoch());
    // The old primary stepped down without a majority; its op is unknown.
    assert_ne!(c.node(&old).role(), Role::Primary);
    assert_eq!(c.reply(stranded), Some(&Outcome::info("primary-replaced")));
    let later = c.op(&new[0], "add", "s", json!(3));
    c.cut.clear();
    c.run(Duration::from_secs(1));
    assert!(ok(c.reply(later)));
    let r = c.op(&new[0], "read", "s", Value::Null);
    c.run(100 * MS);
    let seen = c.reply(r).unwrap().to_line(&json!(0));
    assert!(seen.contains("[1,3]"), "{seen}");
}

#[test]
fn a_vote_goes_only_to_a_log_as_up_to_date_and_once_an_epoch() {
    let mut c = Cluster::new(3, Replication::Sync, false);
    c.run(Duration::from_secs(2));
    let p = c.primaries()[0].clone();
    let others: Vec<String> = c.nodes.keys().filter(|n| **n != p).cloned().collect();
    let (behind, ahead) = (others[0].clone(), others[1].clone());
    // `behind` misses a committed write.
    c.cut.insert((p.clone(), behind.clone()));
    let w = c.op(&p, "write", "r", json!(4));
    c.run(400 * MS);
    assert!(ok(c.reply(w)));
    let epoch = c.node(&p).epoch();
    let vote = |last_epoch, len| Msg::Vote {
        epoch: epoch + 1,
        last_epoch,
        len,
        pre: false,
    };
    let (now, len) = (c.now, c.node(&behind).log().len());
    let last = c.node(&behind).log().last().unwrap().epoch;
    let mut rng = StdRng::seed_from_u64(1);
    let a = c.node(&ahead);
    a.on_message(behind.clone(), vote(last, len), now, &mut rng);
    let refused = a.take_messages();
    assert!(
        matches!(refused[..], [(_, Msg::VoteAck { granted: false, .. })]),
        "{refused:?}"
    );
    // An up-to-date candidate gets the vote, a second one of the epoch not.
    let (last, len) = (a.log().last().unwrap().epoch, a.log().len());
    a.on_message(p.clone(), vote(last, len), now, &mut rng);
    assert!(matches!(
        a.take_messages()[..],
        [(_, Msg::VoteAck { granted: true, .. })]
    ));
    a.on_message(behind.clone(), vote(last, len + 5), now, &mut rng);
    assert!(matches!(
        a.take_messages()[..],
        [(_, Msg::VoteAck { granted: false, .. })]
    ));
    // The vote is to be made durable before it is sent.
    assert_eq!(a.take_storage().meta, Some((epoch + 1, Some(p.clone()))));
}

#[test]
fn async_answers_at_once_and_loses_what_the_backups_never_had() {
    let mut c = Cluster::new(3, Replication::Async, false);
    c.run(Duration::from_secs(2));
    let old = c.primaries()[0].clone();
    c.isolate(&old);
    let lost = c.op(&old, "add", "s", json!(9));
    assert!(ok(c.reply(lost)), "acknowledged before any backup has it");
    c.run(Duration::from_secs(2));
    let new = c.primaries()[0].clone();
    assert_ne!(new, old);
    c.cut.clear();
    c.run(Duration::from_secs(1));
    let r = c.op(&new, "read", "s", Value::Null);
    let seen = c.reply(r).unwrap().to_line(&json!(0));
    assert!(!seen.contains('9'), "the new primary never had it: {seen}");
    c.run(100 * MS);
    // The old primary's log gave way to the new one's.
    let logs: Vec<_> = c.nodes.values().map(|n| n.log().to_vec()).collect();
    assert!(logs.iter().all(|l| *l == logs[0]));
}

#[test]
fn promote_on_timeout_elects_a_stale_backup_that_overwrites_acknowledged_writes() {
    let mut c = Cluster::new(3, Replication::Sync, true);
    c.run(Duration::from_secs(2));
    assert_eq!(c.primaries().len(), 1);
    let p = c.primaries()[0].clone();
    let stale = c.nodes.keys().find(|n| **n != p).unwrap().clone();
    c.isolate(&stale);
    c.run(Duration::from_secs(1));
    // The cut-off backup took an epoch on its own: two primaries at once.
    assert_eq!(c.primaries().len(), 2, "{:?}", c.primaries());
    let w = c.op(&p, "add", "s", json!(5));
    c.run(100 * MS);
    assert!(ok(c.reply(w)), "the majority side acknowledged it");
    c.cut.clear();
    c.run(Duration::from_secs(1));
    let now = c.primaries();
    assert_eq!(now.len(), 1, "{now:?}");
    let r = c.op(&now[0], "read", "s", Value::Null);
    c.run(100 * MS);
    let seen = c.reply(r).unwrap().to_line(&json!(0));
    assert!(!seen.contains('5'), "the acknowledged add is gone: {seen}");
}
