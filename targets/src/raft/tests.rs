//! Unit tests of the Raft core: each drives nodes by hand, message by message.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::SeedableRng;
use serde_json::json;

use super::core::{Bugs, Config, Core, Role};
use super::message::Msg;
use crate::kv::Kv;
use crate::raft_storage::{Entry, HardState, Loaded, Write};
use crate::wire::{Outcome, Request};

type Node = Core<Kv, u64>;

const IDS: [&str; 3] = ["n1", "n2", "n3"];

fn config(i: usize, bugs: Bugs) -> Config {
    Config {
        id: IDS[i].into(),
        peers: IDS
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, id)| id.to_string())
            .collect(),
        election_min: Duration::from_millis(150),
        election_max: Duration::from_millis(300),
        heartbeat: Duration::from_millis(30),
        snapshot_every: 1000,
        bugs,
        initial_voters: None,
    }
}

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        term,
        index,
        cmd: json!({"f": "write", "key": "k", "value": index}),
    }
}

/// Three nodes, a clock, and what they said.
struct Cluster {
    nodes: Vec<Node>,
    now: Instant,
    replies: Vec<(u64, Outcome)>,
    /// The writes each node made durable, in order.
    written: Vec<Vec<Write>>,
}

impl Cluster {
    fn new(loaded: [Loaded; 3], bugs: Bugs) -> Self {
        let now = Instant::now();
        let nodes = loaded
            .into_iter()
            .enumerate()
            .map(|(i, l)| {
                Core::new(
                    config(i, bugs),
                    Kv::default(),
                    StdRng::seed_from_u64(i as u64),
                    l,
                    now,
                )
                .unwrap()
            })
            .collect();
        Cluster {
            nodes,
            now,
            replies: Vec::new(),
            written: vec![Vec::new(); 3],
        }
    }

    fn fresh() -> Self {
        Self::new(Default::default(), Bugs::default())
    }

    /// Persist node i's writes and return the messages it may now send.
    fn flush(&mut self, i: usize) -> Vec<(usize, Msg)> {
        let writes = self.nodes[i].take_writes();
        self.written[i].extend(writes);
        let out = self.nodes[i].persisted(self.now);
        self.replies.extend(out.replies);
        out.messages
            .into_iter()
            .map(|(to, m)| (IDS.iter().position(|id| *id == to).unwrap(), m))
            .collect()
    }

    /// Deliver `msgs` from node `from`, and everything they cause, until quiet.
    fn deliver(&mut self, from: usize, msgs: Vec<(usize, Msg)>) {
        let mut queue: Vec<(usize, usize, Msg)> =
            msgs.into_iter().map(|(to, m)| (from, to, m)).collect();
        let mut steps = 0;
        while !queue.is_empty() {
            steps += 1;
            assert!(steps < 10_000, "messages never stop: a replication loop");
            let (from, to, m) = queue.remove(0);
            self.nodes[to].step(IDS[from], m, self.now);
            for (next, m) in self.flush(to) {
                queue.push((to, next, m));
            }
        }
    }

    /// Let node i's election timer fire.
    fn time_out(&mut self, i: usize) -> Vec<(usize, Msg)> {
        self.now += Duration::from_millis(301);
        self.nodes[i].tick(self.now);
        self.flush(i)
    }

    fn elect(&mut self, i: usize) {
        let msgs = self.time_out(i);
        self.deliver(i, msgs);
        assert_eq!(self.nodes[i].role(), Role::Leader);
    }

    fn client(&mut self, i: usize, op: u64, req: serde_json::Value) {
        let req: Request = serde_json::from_value(req).unwrap();
        self.nodes[i].client(req, op, self.now);
        let msgs = self.flush(i);
        self.deliver(i, msgs);
    }

    fn reply(&self, op: u64) -> Option<&Outcome> {
        self.replies.iter().find(|(o, _)| *o == op).map(|(_, r)| r)
    }
}

#[test]
fn a_timed_out_node_persists_its_vote_for_itself_then_asks_for_votes() {
    let mut c = Cluster::fresh();
    let msgs = c.time_out(0);
    assert_eq!(c.nodes[0].role(), Role::Candidate);
    assert_eq!(
        c.written[0],
        vec![Write::HardState(HardState {
            term: 1,
            voted_for: Some("n1".into())
        })]
    );
    assert_eq!(msgs.len(), 2);
    assert!(msgs.iter().all(|(_, m)| matches!(
        m,
        Msg::Vote {
            term: 1,
            last_index: 0,
            last_term: 0
        }
    )));
}

#[test]
fn a_majority_of_votes_makes_a_leader_that_appends_a_term_start_entry() {
    let mut c = Cluster::fresh();
    c.elect(0);
    // The voters wrote their vote before answering.
    for i in [1, 2] {
        assert!(c.written[i].contains(&Write::HardState(HardState {
            term: 1,
            voted_for: Some("n1".into())
        })));
        assert_eq!(c.nodes[i].leader(), Some("n1"));
    }
    // The term-start no-op is replicated and committed everywhere it was acked.
    assert_eq!(c.nodes[0].log().last_index(), 1);
    assert_eq!(c.nodes[0].commit(), 1);
    assert_eq!(c.nodes[1].log().last_term(), 1);
}

#[test]
fn a_node_votes_once_per_term_and_only_for_an_up_to_date_log() {
    let loaded = |entries: Vec<Entry>| Loaded {
        hard: HardState {
            term: 2,
            voted_for: None,
        },
        snapshot: None,
        entries,
    };
    let mut c = Cluster::new(
        [
            loaded(vec![entry(1, 1)]),
            loaded(vec![entry(1, 1), entry(2, 2)]),
            loaded(vec![entry(1, 1)]),
        ],
        Bugs::default(),
    );
    // n1's log is behind n2's: n2 refuses; n3 grants, so n1 still wins.
    let msgs = c.time_out(0);
    let to_n2: Vec<_> = msgs.iter().filter(|(to, _)| *to == 1).cloned().collect();
    c.nodes[1].step("n1", to_n2[0].1.clone(), c.now);
    let answer = c.flush(1);
    assert!(matches!(
        answer[0].1,
        Msg::VoteResp {
            granted: false,
            term: 3
        }
    ));
    // n3 has voted for n1 in term 3; a second candidate of term 3 gets nothing.
    let to_n3: Vec<_> = msgs.into_iter().filter(|(to, _)| *to == 2).collect();
    c.nodes[2].step("n1", to_n3[0].1.clone(), c.now);
    assert!(matches!(
        c.flush(2)[0].1,
        Msg::VoteResp { granted: true, .. }
    ));
    c.nodes[2].step(
        "n2",
        Msg::Vote {
            term: 3,
            last_index: 5,
            last_term: 3,
        },
        c.now,
    );
    assert!(matches!(
        c.flush(2)[0].1,
        Msg::VoteResp { granted: false, .. }
    ));
    assert_eq!(c.nodes[2].voted_for(), Some("n1"));
}

#[test]
fn a_write_is_answered_only_once_a_majority_stored_it() {
    let mut c = Cluster::fresh();
    c.elect(0);
    let req: Request =
        serde_json::from_value(json!({"id": 7, "f": "write", "key": "k", "value": 5})).unwrap();
    c.nodes[0].client(req, 7, c.now);
    let writes = c.nodes[0].take_writes();
    assert!(matches!(&writes[..], [Write::Append(es)] if es[0].index == 2));
    let appends = c.nodes[0].persisted(c.now).messages;
    assert_eq!(appends.len(), 2);
    assert!(c.reply(7).is_none(), "no reply before replication");
    // One follower's acknowledgement makes a majority with the leader.
    let (to, m) = appends.into_iter().next().unwrap();
    let to = IDS.iter().position(|id| *id == to).unwrap();
    c.nodes[to].step("n1", m, c.now);
    let acks = c.flush(to);
    assert!(c.reply(7).is_none());
    c.deliver(to, acks);
    assert_eq!(c.nodes[0].commit(), 2);
    assert_eq!(c.reply(7), Some(&Outcome::done()));
    // A read through the leader sees it, after a heartbeat round.
    c.client(0, 8, json!({"id": 8, "f": "read", "key": "k"}));
    assert_eq!(c.reply(8), Some(&Outcome::ok(json!(5))));
    // A follower redirects.
    c.client(1, 9, json!({"id": 9, "f": "write", "key": "k", "value": 1}));
    assert_eq!(c.reply(9), Some(&Outcome::not_leader(Some("n1".into()))));
}

/// A leader of term 3 whose log holds an uncommitted entry of term 1, with a
/// follower that has acknowledged that entry but not the term-start entry.
fn old_entry_acked(bugs: Bugs) -> Cluster {
    let hard = HardState {
        term: 2,
        voted_for: None,
    };
    let mut c = Cluster::new(
        [
            Loaded {
                hard: hard.clone(),
                snapshot: None,
                entries: vec![entry(1, 1)],
            },
            Loaded {
                hard: hard.clone(),
                snapshot: None,
                entries: vec![],
            },
            Loaded {
                hard,
                snapshot: None,
                entries: vec![],
            },
        ],
        bugs,
    );
    let votes = c.time_out(0);
    for (to, m) in votes {
        c.nodes[to].step("n1", m, c.now);
        let answer = c.flush(to);
        for (_, m) in answer {
            c.nodes[0].step(IDS[to], m, c.now);
        }
    }
    c.flush(0);
    assert_eq!(c.nodes[0].role(), Role::Leader);
    c.nodes[0].step(
        "n2",
        Msg::AppendResp {
            term: 3,
            ok: true,
            index: 1,
            seq: 0,
        },
        c.now,
    );
    c.flush(0);
    c
}

#[test]
fn an_entry_of_an_earlier_term_is_not_committed_by_counting_replicas() {
    let mut c = old_entry_acked(Bugs::default());
    assert_eq!(c.nodes[0].term(), 3);
    assert_eq!(c.nodes[0].commit(), 0, "Figure 8: index 1 is of term 1");
    // Once an entry of term 3 is on a majority, both commit.
    c.nodes[0].step(
        "n2",
        Msg::AppendResp {
            term: 3,
            ok: true,
            index: 2,
            seq: 0,
        },
        c.now,
    );
    c.flush(0);
    assert_eq!(c.nodes[0].commit(), 2);
}

#[test]
fn the_early_commit_bug_commits_an_earlier_term_by_counting() {
    let c = old_entry_acked(Bugs {
        early_commit: true,
        ..Bugs::default()
    });
    assert_eq!(c.nodes[0].commit(), 1);
    assert_eq!(c.nodes[0].log().last_index(), 1, "no term-start entry");
}

#[test]
fn a_leader_steps_down_on_a_higher_term_and_fails_its_pending_reads() {
    let mut c = Cluster::fresh();
    c.elect(0);
    let req: Request = serde_json::from_value(json!({"id": 1, "f": "read", "key": "k"})).unwrap();
    c.nodes[0].client(req, 1, c.now);
    c.nodes[0].step(
        "n3",
        Msg::AppendResp {
            term: 5,
            ok: false,
            index: 0,
            seq: 0,
        },
        c.now,
    );
    assert_eq!(c.nodes[0].role(), Role::Follower);
    assert_eq!((c.nodes[0].term(), c.nodes[0].voted_for()), (5, None));
    let writes = c.nodes[0].take_writes();
    assert_eq!(
        writes[0],
        Write::HardState(HardState {
            term: 5,
            voted_for: None
        })
    );
    c.nodes[0]
        .persisted(c.now)
        .replies
        .iter()
        .for_each(|(op, o)| {
            assert_eq!((*op, o), (1, &Outcome::not_leader(None)));
        });
}

#[test]
fn a_follower_drops_a_conflicting_suffix_and_rewrites_its_log() {
    let mut c = Cluster::new(
        [
            Loaded::default(),
            Loaded {
                hard: HardState {
                    term: 2,
                    voted_for: None,
                },
                snapshot: None,
                entries: vec![entry(1, 1), entry(2, 2), entry(3, 2)],
            },
            Loaded::default(),
        ],
        Bugs::default(),
    );
    c.nodes[1].step(
        "n1",
        Msg::Append {
            term: 3,
            prev_index: 1,
            prev_term: 1,
            entries: vec![entry(2, 3)],
            commit: 2,
            seq: 0,
        },
        c.now,
    );
    let writes = c.nodes[1].take_writes();
    assert!(writes.contains(&Write::RewriteLog(vec![entry(1, 1)])));
    assert!(writes.contains(&Write::Append(vec![entry(2, 3)])));
    assert_eq!(c.nodes[1].log().last_index(), 2);
    let out = c.nodes[1].persisted(c.now);
    assert!(matches!(
        out.messages[0].1,
        Msg::AppendResp {
            ok: true,
            index: 2,
            term: 3,
            ..
        }
    ));
    assert_eq!(c.nodes[1].applied(), 2);
}

#[test]
fn the_forget_vote_bug_writes_the_term_without_the_vote() {
    let mut c = Cluster::new(
        Default::default(),
        Bugs {
            forget_vote: true,
            ..Bugs::default()
        },
    );
    c.time_out(0);
    assert_eq!(
        c.written[0],
        vec![Write::HardState(HardState {
            term: 1,
            voted_for: None
        })]
    );
}

// ---- membership change ----

fn voters(n: &Node) -> Vec<String> {
    n.voters().iter().cloned().collect()
}

#[test]
fn one_membership_change_at_a_time_and_each_answered_once_committed() {
    let mut c = Cluster::fresh();
    c.elect(0);
    // Taken but not yet replicated: the configuration is in force on the
    // leader at once, and a second change waits for it to commit.
    let req = |f: &str, n: &str| -> Request {
        serde_json::from_value(json!({"id": 1, "f": f, "value": n})).unwrap()
    };
    c.nodes[0].client(req("remove-member", "n3"), 1, c.now);
    assert_eq!(voters(&c.nodes[0]), ["n1", "n2"]);
    c.nodes[0].client(req("remove-member", "n2"), 2, c.now);
    let msgs = c.flush(0);
    assert_eq!(c.reply(2), Some(&Outcome::fail("change-in-progress")));
    assert_eq!(c.reply(1), None);
    c.deliver(0, msgs);
    assert_eq!(c.reply(1), Some(&Outcome::done()));
    // Every node, n3 included, has the new configuration.
    for n in &c.nodes {
        assert_eq!(voters(n), ["n1", "n2"], "{}", n.id());
    }
    // n3 is a learner: once a heartbeat tells it its removal committed, it
    // never campaigns, but it still gets the log.
    c.now += Duration::from_millis(31);
    c.nodes[0].tick(c.now);
    let msgs = c.flush(0);
    c.deliver(0, msgs);
    assert_eq!(c.nodes[2].commit(), c.nodes[0].commit());
    c.time_out(2);
    assert_eq!(c.nodes[2].role(), Role::Follower);
    c.client(0, 3, json!({"id": 3, "f": "write", "key": "k", "value": 9}));
    assert_eq!(c.reply(3), Some(&Outcome::done()));
    assert_eq!(c.nodes[2].log().last_index(), c.nodes[0].log().last_index());
    // Adding it back; unknown nodes and non-leaders are refused.
    c.client(0, 4, json!({"id": 4, "f": "add-member", "value": "n3"}));
    assert_eq!(c.reply(4), Some(&Outcome::done()));
    assert_eq!(voters(&c.nodes[2]), ["n1", "n2", "n3"]);
    c.client(0, 5, json!({"id": 5, "f": "add-member", "value": "n9"}));
    assert_eq!(c.reply(5), Some(&Outcome::fail("unknown-member")));
    c.client(1, 6, json!({"id": 6, "f": "remove-member", "value": "n1"}));
    assert!(matches!(c.reply(6), Some(Outcome::Fail { .. })));
    let st = c.nodes[1].status();
    assert_eq!(st["voters"], json!(["n1", "n2", "n3"]));
}

#[test]
fn a_removed_leader_steps_down_once_the_change_commits() {
    let mut c = Cluster::fresh();
    c.elect(0);
    c.client(0, 1, json!({"id": 1, "f": "remove-member", "value": "n1"}));
    assert_eq!(c.reply(1), Some(&Outcome::done()));
    assert_eq!(c.nodes[0].role(), Role::Follower);
    // It never campaigns again; the remaining voters elect one of theirs.
    c.time_out(0);
    assert_eq!(c.nodes[0].role(), Role::Follower);
    c.elect(1);
    c.client(1, 2, json!({"id": 2, "f": "write", "key": "k", "value": 1}));
    assert_eq!(c.reply(2), Some(&Outcome::done()));
}

/// Node i as restarted from an empty data dir, snapshotting every 2 entries.
fn wiped(i: usize, now: Instant) -> Node {
    let cfg = Config {
        snapshot_every: 2,
        ..config(i, Bugs::default())
    };
    Core::new(
        cfg,
        Kv::default(),
        StdRng::seed_from_u64(9),
        Loaded::default(),
        now,
    )
    .unwrap()
}

#[test]
fn a_removed_node_brought_back_wiped_catches_up_by_snapshot_before_it_votes() {
    let mut c = Cluster::fresh();
    for i in 0..3 {
        c.nodes[i] = wiped(i, c.now);
    }
    c.elect(0);
    c.client(0, 1, json!({"id": 1, "f": "remove-member", "value": "n3"}));
    assert_eq!(c.reply(1), Some(&Outcome::done()));
    for op in 2..6 {
        c.client(
            0,
            op,
            json!({"id": op, "f": "write", "key": "k", "value": op}),
        );
        assert_eq!(c.reply(op), Some(&Outcome::done()));
    }
    assert!(c.nodes[0].log().snap_index() > 0, "the leader compacted");
    // n3 loses everything it acknowledged and starts empty.
    c.nodes[2] = wiped(2, c.now);
    assert_eq!(c.nodes[2].log().last_index(), 0);
    // The next heartbeat finds it behind what it acknowledged: the leader
    // starts over from what it has, and the compacted prefix goes as the
    // snapshot.
    c.now += Duration::from_millis(31);
    c.nodes[0].tick(c.now);
    let msgs = c.flush(0);
    c.deliver(0, msgs);
    assert_eq!(c.nodes[2].log().last_index(), c.nodes[0].log().last_index());
    assert_eq!(c.nodes[2].log().snap_index(), c.nodes[0].log().snap_index());
    assert_eq!(
        voters(&c.nodes[2]),
        ["n1", "n2"],
        "the learner knows it is out"
    );
    c.client(0, 6, json!({"id": 6, "f": "add-member", "value": "n3"}));
    assert_eq!(c.reply(6), Some(&Outcome::done()));
    assert_eq!(voters(&c.nodes[2]), ["n1", "n2", "n3"]);
}
