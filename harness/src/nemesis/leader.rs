//! Leader-aware faults: the nemesis asks every node who leads (a `status` op
//! over the op protocol) and aims its faults there, the way Jepsen's
//! "primaries" targets do. Each fault is still a sequence of plain faults
//! (partition, kill, restart), every one recorded in the history as a
//! `nemesis` op, and everything is healed when the fault ends.
//!
//! - `isolate-leader`: cut the current leader off from every other node.
//! - `clock-leader`: step the current leader's wall clock ahead by 1-30 s (as
//!   NTP or an operator would), and back to true time at the end. A leader
//!   that times leases or elections by the wall clock misjudges them.
//! - `vote-restart`: force a split election and crash-restart the node that
//!   decides it. The leader `c` is killed while the others are split into two
//!   halves that only `c` bridges; when each half has a candidate of the same
//!   term, `c` comes back and votes for one of them; then `c` is crashed and
//!   restarted at once, and again whenever the other half still campaigns in
//!   the term the first half won. A node that remembers its vote refuses the
//!   second candidate; one that forgets it (votedFor not durable) elects two
//!   leaders in one term, one on each side of the bridge.
//! - `figure-8`: the sequence of Raft's Figure 8. The leader `l1` is cut
//!   off, so the entries its clients hand it (X) stay on it; as soon as the
//!   others elect `l2`, `l2` is cut off too (its entries, Y, of a newer term,
//!   stay on it) and the rest hear only `l1`, which alone can win them with
//!   X. The moment `l1`, leading again, reports a commit index that covers
//!   X, it is cut off and the rest hear only `l2`, whose newer last term
//!   wins. A leader that committed X by counting replicas, with no entry of
//!   its own term beside it, has by then acknowledged entries that `l2` now
//!   overwrites. Clients that pause between ops (`--stagger`) leave it the
//!   quiet moment this needs.
//!
//! Nodes that do not answer `status` count as unknown; the faults then fall
//! back to a node chosen from the seeded random stream.
//!
//! Each of these kinds is a file in `faults/` that aims with [`aim`] and runs
//! the sequence here.

use super::{shapes, Fault, Stepper};
use crate::cluster::NodeInfo;
use crate::net::{Grudge, Link, NetFault};
use faultline_protocol::{Completion, Request};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// What a node says about itself: the `status` reply of the op protocol.
pub use faultline_protocol::Status;

/// Asks one node for its status; `None` when it does not answer in time or
/// does not know the op.
pub fn status(addr: &str, timeout: Duration) -> Option<Status> {
    match super::request::ask(addr, &Request::status(), timeout)? {
        Completion::Ok { value } => Status::from_value(&value),
        _ => None,
    }
}

/// Every node's status, in node order.
pub fn statuses(nodes: &[NodeInfo]) -> Vec<Option<Status>> {
    nodes
        .iter()
        .map(|n| status(&n.client_addr, Duration::from_millis(150)))
        .collect()
}

/// The node that says it leads in the highest term.
pub fn leader(st: &[Option<Status>]) -> Option<usize> {
    st.iter()
        .enumerate()
        .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
        .filter(|(_, s)| s.role == "leader")
        .max_by_key(|(_, s)| s.term)
        .map(|(i, _)| i)
}

/// A node of `group` in `role` with term `term`, if any.
fn in_role(st: &[Option<Status>], group: &[usize], role: &str, term: u64) -> bool {
    group.iter().any(|&i| {
        st[i]
            .as_ref()
            .is_some_and(|s| s.role == role && s.term == term)
    })
}

/// The highest term in which a node of `a` is a candidate while a node of `b`
/// is a candidate or leader of the same term (a split election).
pub fn split_term(st: &[Option<Status>], a: &[usize], b: &[usize]) -> Option<u64> {
    let terms = |g: &[usize], roles: &[&str]| -> Vec<u64> {
        g.iter()
            .filter_map(|&i| st[i].as_ref())
            .filter(|s| roles.contains(&s.role.as_str()))
            .map(|s| s.term)
            .collect()
    };
    let ca = terms(a, &["candidate"]);
    let cb = terms(b, &["candidate", "leader"]);
    ca.into_iter().filter(|t| cb.contains(t)).max()
}

/// Grudge that cuts node `i` off from all others.
pub fn isolate(names: &[String], i: usize) -> Grudge {
    let rest: Vec<String> = names
        .iter()
        .enumerate()
        .filter(|(j, _)| *j != i)
        .map(|(_, n)| n.clone())
        .collect();
    shapes::components(&[vec![names[i].clone()], rest])
}

/// The bridge shape around node `c`: the other nodes, shuffled, in two halves
/// that cannot talk to each other; `c` talks to everyone.
pub fn bridge_around(n: usize, c: usize, rng: &mut ChaCha8Rng) -> (Vec<usize>, Vec<usize>) {
    let mut others: Vec<usize> = (0..n).filter(|&i| i != c).collect();
    others.shuffle(rng);
    let (x, y) = others.split_at(others.len() - others.len() / 2);
    (x.to_vec(), y.to_vec())
}

/// The halves drop each other's messages; the bridge is in neither.
fn bridge_grudge(names: &[String], x: &[usize], y: &[usize]) -> Grudge {
    let side = |g: &[usize]| g.iter().map(|&i| names[i].clone()).collect::<Vec<_>>();
    let mut g = shapes::components(&[side(x), side(y)]);
    g.retain(|_, v| !v.is_empty());
    g
}

/// When a leader-aware fault must give up (the phase's end, or an interrupt).
pub struct Until<'a> {
    pub deadline: Instant,
    pub stopped: &'a (dyn Fn() -> bool + Sync),
}

impl Until<'_> {
    fn over(&self) -> bool {
        Instant::now() >= self.deadline || (self.stopped)()
    }

    /// Sleeps `d` or until over; returns whether it is over.
    pub fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if self.over() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10).min(end - Instant::now()));
        }
        self.over()
    }

    /// Polls statuses every 10 ms until `done` says yes (returns them) or
    /// `limit` passes or it is over (None).
    fn poll(
        &self,
        nodes: &[NodeInfo],
        limit: Duration,
        mut done: impl FnMut(&[Option<Status>]) -> bool,
    ) -> Option<Vec<Option<Status>>> {
        let end = Instant::now() + limit;
        while Instant::now() < end && !self.over() {
            let st = statuses(nodes);
            if done(&st) {
                return Some(st);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        None
    }

    /// Polls one node's status every 2 ms (a step that must act within a
    /// few milliseconds of a change) until `done` says yes or `limit` passes.
    fn poll_one(
        &self,
        node: &NodeInfo,
        limit: Duration,
        done: impl Fn(&Status) -> bool,
    ) -> Option<Status> {
        let end = Instant::now() + limit;
        while Instant::now() < end && !self.over() {
            if let Some(st) = status(&node.client_addr, Duration::from_millis(150)) {
                if done(&st) {
                    return Some(st);
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        None
    }
}

/// The node a leader-aware fault aims at: the one that says it leads
/// (`found`), or else one drawn from `rng`. The draw happens either way, so
/// the rest of the schedule does not depend on whether a leader was found.
pub fn aim(s: &Stepper, rng: &mut ChaCha8Rng) -> (Option<usize>, usize) {
    let found = leader(&statuses(s.cluster.nodes()));
    let guess = rng.gen_range(0..s.cluster.nodes().len());
    (found, found.unwrap_or(guess))
}

pub fn vote_restart(
    s: &Stepper,
    nodes: &[NodeInfo],
    c: usize,
    hold: Duration,
    rng: &mut ChaCha8Rng,
    until: &Until,
) {
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let (x, y) = bridge_around(names.len(), c, rng);
    let grudge = bridge_grudge(&names, &x, &y);
    let split = Fault::Partition {
        shape: "bridge",
        grudge: grudge.clone(),
    };
    let end = Instant::now() + hold;
    s.start(&split, json!({"bridge": names[c]}));
    // Kill the leader: both halves lose it at the same moment and, unable to
    // hear each other, both campaign in the same next term.
    let kill = Fault::Kill(vec![c]);
    s.start(&kill, json!({"why": "leader"}));
    // What the bridge says is held back (delivered intact later), so no
    // candidate learns it won, and no new leader's first entry reaches the
    // bridge, until the bridge has answered both halves.
    let held: Vec<Link> = (0..names.len())
        .filter(|&i| i != c)
        .map(|i| Link {
            from: names[c].clone(),
            to: names[i].clone(),
        })
        .collect();
    let stall = Fault::Stall(held);
    let can_stall = s.cluster.net().supports(&NetFault::Stall(Vec::new()));
    if can_stall {
        s.start(&stall, json!({"why": "hold the bridge's votes"}));
    }
    let everyone: Vec<usize> = x.iter().chain(&y).copied().collect();
    until.poll(nodes, Duration::from_millis(2500), |st| {
        everyone
            .iter()
            .any(|&i| st[i].as_ref().is_some_and(|s| s.role == "candidate"))
    });
    // Back as soon as the first candidate asks: it votes for it.
    s.stop(&kill);
    let side_of = |name: &str| -> Option<bool> {
        let i = names.iter().position(|n| n == name)?;
        Some(x.contains(&i))
    };
    // Each time the bridge holds a vote for one half while the other half
    // campaigns in the same term, crash and restart it at once.
    let mut first: Option<bool> = None;
    let mut voted_both = false;
    let mut restarts = 0;
    let window = Duration::from_millis(1500).min(end.saturating_duration_since(Instant::now()));
    let stop_at = Instant::now() + window;
    while restarts < 4 && Instant::now() < stop_at && !until.over() {
        let Some(st) = until.poll(
            nodes,
            stop_at.saturating_duration_since(Instant::now()),
            |st| {
                let Some(b) = st[c].as_ref() else {
                    return false;
                };
                let Some(side) = b.voted_for.as_deref().and_then(side_of) else {
                    return false;
                };
                if first.is_some_and(|f| f != side) {
                    return true;
                }
                let other = if side { &y } else { &x };
                in_role(st, other, "candidate", b.term)
            },
        ) else {
            break;
        };
        let b = st[c].as_ref().expect("polled");
        let side = b.voted_for.as_deref().and_then(side_of).expect("polled");
        match first {
            Some(f) if f != side => {
                voted_both = true;
                break;
            }
            None => first = Some(side),
            _ => {}
        }
        s.start(
            &kill,
            json!({"why": "voted", "term": b.term, "voted_for": b.voted_for}),
        );
        s.stop(&kill);
        restarts += 1;
    }
    if can_stall {
        // Deliver what was held (ending a stall heals the whole network),
        // then keep the halves apart again.
        s.stop(&stall);
        s.stop(&split);
        s.start(
            &split,
            json!({"why": "keep the halves apart", "voted_both": voted_both}),
        );
    }
    until.sleep(end.saturating_duration_since(Instant::now()));
    s.stop(&split);
}

/// The node that leads in a term above `term`, among `group`.
fn new_leader(st: &[Option<Status>], group: &[usize], term: u64) -> Option<(usize, u64)> {
    group
        .iter()
        .filter_map(|&i| st[i].as_ref().map(|s| (i, s)))
        .filter(|(_, s)| s.role == "leader" && s.term > term)
        .max_by_key(|(_, s)| s.term)
        .map(|(i, s)| (i, s.term))
}

pub fn figure_8(
    s: &Stepper,
    nodes: &[NodeInfo],
    l1: usize,
    hold: Duration,
    _rng: &mut ChaCha8Rng,
    until: &Until,
) {
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    let end = Instant::now() + hold.max(Duration::from_secs(4));
    let limit = || end.saturating_duration_since(Instant::now());
    let term0 = statuses(nodes)[l1].as_ref().map_or(0, |s| s.term);
    let others: Vec<usize> = (0..names.len()).filter(|&i| i != l1).collect();
    // 1. The leader alone: the entries clients hand it now (X, of its term)
    // reach no one, and their clients wait.
    let p1 = Fault::Partition {
        shape: "figure-8",
        grudge: isolate(&names, l1),
    };
    s.start(&p1, json!({"step": 1, "leader": names[l1]}));
    // 2. The others elect l2: cut it off at once, so the entries clients
    // hand it (Y, of a newer term) stay on it alone; the rest hear only l1,
    // which alone can win them with X at the end of its log.
    let Some((l2, t2)) = until
        .poll(nodes, limit(), |st| {
            new_leader(st, &others, term0).is_some()
        })
        .and_then(|st| new_leader(&st, &others, term0))
    else {
        s.stop(&p1);
        return;
    };
    let spokes: Vec<String> = others
        .iter()
        .filter(|&&i| i != l2)
        .map(|&i| names[i].clone())
        .collect();
    let p2 = Fault::Partition {
        shape: "figure-8",
        grudge: shapes::star(&names, &names[l1], &spokes),
    };
    s.switch(
        &p1,
        &p2,
        json!({"step": 2, "leader": names[l2], "term": t2}),
    );
    let st1 = status(&nodes[l1].client_addr, Duration::from_millis(150));
    let x_end = st1.as_ref().and_then(|st| st.last_index).unwrap_or(0);
    let x_from = st1.as_ref().and_then(|st| st.commit).unwrap_or(0);
    // 3. l1 leads again. The moment its commit index covers X, cut it off and
    // let the rest hear only l2. A correct leader commits X only together
    // with an entry of its new term, which outranks Y; a leader that
    // committed X by counting replicas has nothing newer than X out there,
    // so l2 wins with Y and overwrites X.
    let Some(st3) = until.poll_one(&nodes[l1], limit(), |st| {
        st.role == "leader" && st.term > t2 && st.commit.unwrap_or(0) >= x_end
    }) else {
        s.stop(&p2);
        return;
    };
    let p3 = Fault::Partition {
        shape: "figure-8",
        grudge: shapes::star(&names, &names[l2], &spokes),
    };
    s.switch(
        &p2,
        &p3,
        json!({"step": 3, "leader": names[l1], "term": st3.term, "commit": st3.commit,
               "x": [x_from, x_end]}),
    );
    // Who holds what, for the run's log: Y on l2, and whether the rest got
    // any entry of l1's new term.
    let st = statuses(nodes);
    let last_terms: Vec<Value> = st
        .iter()
        .map(|o| json!(o.as_ref().and_then(|s| s.last_term)))
        .collect();
    (s.log)(&format!("figure-8 last terms after step 3: {last_terms:?}"));
    until.sleep(limit());
    s.stop(&p3);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use std::io::{BufRead, BufReader, Write};

    fn st(role: &str, term: u64) -> Option<Status> {
        Some(Status {
            role: role.into(),
            term,
            ..Status::default()
        })
    }

    #[test]
    fn status_replies_parse_and_the_highest_term_leader_wins() {
        let s = Status::from_value(&json!({"role":"leader","term":7,"leader":"n2","commit":3}))
            .unwrap();
        assert_eq!(
            (s.role.as_str(), s.term, s.leader.as_deref()),
            ("leader", 7, Some("n2"))
        );
        assert!(Status::from_value(&json!({"term": 3})).is_none());
        let v = vec![st("leader", 3), None, st("leader", 5), st("follower", 9)];
        assert_eq!(leader(&v), Some(2));
        assert_eq!(leader(&[st("follower", 1), None]), None);
    }

    #[test]
    fn a_split_election_needs_the_same_term_on_both_sides() {
        let v = vec![
            st("candidate", 4),
            st("follower", 4),
            None,
            st("candidate", 5),
            st("leader", 4),
        ];
        assert_eq!(split_term(&v, &[0, 1], &[3, 4]), Some(4));
        let v = vec![
            st("candidate", 4),
            st("follower", 4),
            None,
            st("candidate", 5),
            st("follower", 5),
        ];
        assert_eq!(split_term(&v, &[0, 1], &[3, 4]), None);
    }

    #[test]
    fn the_bridge_is_the_only_link_between_the_halves() {
        let names: Vec<String> = (1..=5).map(|i| format!("n{i}")).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for c in 0..5 {
            let (x, y) = bridge_around(5, c, &mut rng);
            assert_eq!((x.len(), y.len()), (2, 2));
            let g = bridge_grudge(&names, &x, &y);
            let hears =
                |a: usize, b: usize| !g.get(&names[a]).is_some_and(|s| s.contains(&names[b]));
            for &i in x.iter().chain(&y) {
                assert!(hears(c, i) && hears(i, c), "bridge {c} and {i}");
            }
            for &i in &x {
                for &j in &y {
                    assert!(!hears(i, j) && !hears(j, i), "{i} and {j} cut");
                }
            }
        }
        let g = isolate(&names, 1);
        assert_eq!(g["n2"].len(), 4);
        assert!(g["n1"].contains("n2") && !g["n1"].contains("n3"));
    }

    #[test]
    fn status_of_a_node_that_answers_and_of_one_that_does_not() {
        use std::net::TcpListener;
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let t = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut line = String::new();
            BufReader::new(s.try_clone().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert!(line.contains("\"status\""), "{line}");
            (&s).write_all(b"{\"id\":1,\"type\":\"ok\",\"value\":{\"role\":\"candidate\",\"term\":2,\"leader\":null}}\n")
                .unwrap();
        });
        let s = status(&addr, Duration::from_secs(2)).unwrap();
        assert_eq!((s.role.as_str(), s.term, s.leader), ("candidate", 2, None));
        t.join().unwrap();
        // Nobody listens there any more.
        assert!(status(&addr, Duration::from_millis(200)).is_none());
    }
}
