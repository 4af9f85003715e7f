//! `membership`: remove 1 or 2 voters from the cluster's configuration, hold,
//! add them back (the targets' admin requests `remove-member`/`add-member`,
//! sent to the node that says it leads; see targets/src/raft/membership.rs).
//!
//! Bounds: the voters never drop below 3 (on clusters of 3 or fewer nodes,
//! below n - 1), so a majority of the remaining voters can still be cut off by
//! a partition without the rest losing the cluster. Half the time each removed
//! node is also killed and restarted while it is out, so it comes back from
//! its old data dir and catches up (by log or snapshot) as a non-voter before
//! it votes again. The heal always returns to the starting membership (the
//! voters the leader reported before the removal), retrying for up to
//! [`HEAL_LIMIT`] even after the run's main phase ended.
//!
//! Recorded in the history: `start-membership` (value: the nodes removed and
//! whether they restart), `stop-membership` (the nodes added back), and after
//! each a `membership-view` op whose value is every node's view of the voters,
//! from its `status` reply (`null` for a node that did not answer).

use super::FaultPlan;
use crate::cluster::NodeInfo;
use crate::nemesis::{leader, Stepper, Until};
use anyhow::{anyhow, bail};
use faultline_protocol::{decode_completion, request_line, Completion, Request};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

pub struct Membership;

/// How long one change may take to be accepted by a leader.
const CHANGE_LIMIT: Duration = Duration::from_secs(10);
/// How long the heal keeps trying to add the removed nodes back.
const HEAL_LIMIT: Duration = Duration::from_secs(30);

/// The fewest voters the fault leaves in a cluster of `n` nodes.
pub fn min_voters(n: usize) -> usize {
    if n >= 4 {
        3
    } else {
        n.saturating_sub(1).max(1)
    }
}

impl FaultPlan for Membership {
    fn run(&self, s: &Stepper, hold: Duration, rng: &mut ChaCha8Rng, until: &Until) {
        let nodes = s.cluster.nodes().to_vec();
        let names = s.names();
        let n = names.len();
        // Draws first, from the seeded stream only, whatever the nodes say.
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(rng);
        let wanted = rng.gen_range(1..=2);
        let restart = rng.gen_bool(0.5);

        let start_voters = voters_now(&nodes);
        let removable = start_voters.len().saturating_sub(min_voters(n));
        let out: Vec<usize> = order
            .into_iter()
            .filter(|&i| start_voters.contains(&names[i]))
            .take(wanted.min(removable))
            .collect();
        if out.is_empty() {
            (s.log)(&format!(
                "nemesis membership: nothing to remove (voters {start_voters:?}, at least {} stay)",
                min_voters(n)
            ));
            return;
        }
        let out_names: Vec<String> = out.iter().map(|&i| names[i].clone()).collect();
        let removed = std::cell::RefCell::new(Vec::new());
        s.step(
            "start-membership",
            json!({"remove": out_names, "restart": restart, "voters": start_voters}),
            |c| {
                for &i in &out {
                    change(&nodes, "remove-member", &names[i], Instant::now() + CHANGE_LIMIT)?;
                    removed.borrow_mut().push(i);
                }
                if restart {
                    for &i in &out {
                        c.kill(i)?;
                        c.restart(i)?;
                    }
                }
                Ok(())
            },
        );
        record_view(s, &nodes);
        until.sleep(hold);
        // Add back whatever was removed (even if the removal stopped part-way).
        let back: Vec<String> = removed.borrow().iter().map(|&i| names[i].clone()).collect();
        if back.is_empty() {
            return;
        }
        s.step("stop-membership", json!({"add": back}), |_| {
            let end = Instant::now() + HEAL_LIMIT;
            for name in &back {
                change(&nodes, "add-member", name, end)?;
            }
            Ok(())
        });
        record_view(s, &nodes);
    }
}

/// The voters the leader reports (else any node that answers), sorted.
fn voters_now(nodes: &[NodeInfo]) -> Vec<String> {
    let st = leader::statuses(nodes);
    let from = leader::leader(&st)
        .and_then(|i| st[i].clone())
        .or_else(|| st.iter().flatten().find(|s| s.voters.is_some()).cloned());
    let mut v = from.and_then(|s| s.voters).unwrap_or_else(|| {
        // A target that does not report voters: assume every node votes.
        nodes.iter().map(|n| n.name.clone()).collect()
    });
    v.sort();
    v
}

/// Records every node's view of the voters as a `membership-view` op.
fn record_view(s: &Stepper, nodes: &[NodeInfo]) {
    let view: serde_json::Map<String, Value> = nodes
        .iter()
        .zip(leader::statuses(nodes))
        .map(|(n, st)| (n.name.clone(), json!(st.and_then(|s| s.voters))))
        .collect();
    s.step("membership-view", Value::Object(view), |_| Ok(()));
}

/// Asks the leader to make one change, retrying while it is busy (an earlier
/// change not yet committed, a learner still catching up, no leader) until
/// `end`. A refusal that retrying cannot fix is an error at once.
fn change(nodes: &[NodeInfo], f: &str, node: &str, end: Instant) -> anyhow::Result<()> {
    let req = Request {
        f: f.into(),
        key: None,
        value: json!(node),
    };
    let mut last = String::from("no node answered");
    while Instant::now() < end {
        let st = leader::statuses(nodes);
        let to = leader::leader(&st).unwrap_or(0);
        match ask(&nodes[to].client_addr, &req, Duration::from_secs(3)) {
            Some(Completion::Ok { .. }) => return Ok(()),
            Some(Completion::Fail { error }) => match error.as_str() {
                "not-leader" | "change-in-progress" | "not-ready" | "catching-up" => last = error,
                _ => bail!("{f} {node}: {} refused: {error}", nodes[to].name),
            },
            // Unknown: the change may have happened; asking again is harmless
            // (a node already in the wanted state is answered ok).
            Some(Completion::Info { error }) => last = error,
            None => last = format!("{} did not answer", nodes[to].name),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(anyhow!("{f} {node}: not done in time (last answer: {last})"))
}

/// One request on a fresh connection; `None` if no reply came in time.
pub(super) fn ask(addr: &str, req: &Request, timeout: Duration) -> Option<Completion> {
    let sock = addr.to_socket_addrs().ok()?.next()?;
    let mut s = TcpStream::connect_timeout(&sock, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    s.write_all(request_line(1, req).as_bytes()).ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    Some(decode_completion(line.as_bytes()).ok()?.completion)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_least_three_voters_stay_or_all_but_one_on_small_clusters() {
        assert_eq!(min_voters(5), 3);
        assert_eq!(min_voters(7), 3);
        assert_eq!(min_voters(4), 3);
        assert_eq!(min_voters(3), 2);
        assert_eq!(min_voters(1), 1);
    }
}
