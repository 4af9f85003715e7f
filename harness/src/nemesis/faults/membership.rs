//! `membership`: change the voters of a cluster's configuration while it
//! serves, the way real clusters get it wrong, and return to the starting
//! voters at the end of each occurrence (the targets' admin requests
//! `remove-member`/`add-member`; see targets/src/raft/membership.rs).
//!
//! Each occurrence is one of (drawn from the seeded stream, [`plan`]):
//!
//! - **remove**: take out 1-2 voters (never fewer than 3 left; n - 1 on
//!   clusters of 3 or fewer). The removals are sent at once to every node
//!   that says it leads, without waiting; those refused (a correct leader
//!   takes one change at a time) are then made one at a time. A third of the
//!   time each removed node is killed and restarted from its data dir while
//!   out, a third of the time killed, wiped and restarted empty (it catches
//!   up as a non-voter, by snapshot if the log is compacted, before it is
//!   added back and votes).
//! - **split**: the leader and a few voters on one side of a partition, the
//!   rest on the other, and two removals sent at once to the leader (and to
//!   any other node that says it leads), either once the partition is in
//!   force or right before it starts. The sides are chosen so that the new
//!   configuration has a majority on the leader's side while the other side
//!   holds a majority of the current one: a correct leader appends the first
//!   change, cannot commit it, and refuses the second (`change-in-progress`);
//!   a leader that takes both commits on its side while the other side
//!   elects a leader of its own. Needs an odd number of voters, at least the
//!   floor + 2; otherwise the occurrence is a `remove`.
//!
//! - **grow** (only with `--membership-voters MIN..MAX`, which also puts
//!   the floor at MIN): add 1-2 of the nodes that are not voters (raft-kv's
//!   `--set voters=K` starts n(K+1).. as learners), never above MAX.
//!   Without non-voters or room below MAX the occurrence is a `remove`.
//!
//! The heal adds back whatever was removed (and removes whatever was added),
//! as the leader sees it, until the voters are those the occurrence started
//! with, retrying for up to [`HEAL_LIMIT`] even after the main phase ended.
//!
//! Recorded in the history: `start-membership` (the mode, the nodes removed,
//! how they restart, the sides, the voters before), `membership-answers`
//! (what each request sent at once got back), `stop-membership` (the voters
//! returned to), and after the start and the stop a `membership-view` op
//! whose value is every node's view of the voters, from its `status` reply
//! (`null` for a node that did not answer).

mod admin;
mod plan;

use admin::{Burst, ADD, REMOVE};
use plan::{Mode, Restart};

use super::FaultPlan;
use crate::cluster::NodeInfo;
use crate::nemesis::{leader, Fault, Stepper, Until};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub struct Membership;

/// How long the removals of one occurrence may take.
const CHANGE_LIMIT: Duration = Duration::from_secs(10);
/// How long the heal keeps trying to return to the starting voters.
const HEAL_LIMIT: Duration = Duration::from_secs(30);
/// How long the answers to requests sent at once are waited for.
const ANSWER_LIMIT: Duration = Duration::from_millis(1500);

impl FaultPlan for Membership {
    fn run(&self, s: &Stepper, hold: Duration, rng: &mut ChaCha8Rng, until: &Until) {
        let nodes = s.cluster.nodes().to_vec();
        let names = s.names();
        let n = names.len();
        // Draws first, from the seeded stream only, whatever the nodes say.
        let d = plan::draw(n, s.membership_voters.is_some(), rng);
        let (min, max) = s.membership_voters.unwrap_or((plan::min_voters(n), n));
        let st = leader::statuses(&nodes);
        let start_voters = admin::leader_voters(&st).unwrap_or_else(|| admin::voters_now(&nodes));
        let leaders: Vec<usize> = (0..n)
            .filter(|&i| st[i].as_ref().is_some_and(|s| s.role == "leader"))
            .collect();
        let aim = leader::leader(&st).unwrap_or(d.guess);
        let split = match d.mode {
            Mode::Split => plan::split(&d, &names, &start_voters, aim, min),
            Mode::Remove | Mode::Grow => None,
        };
        let grow = match d.mode {
            Mode::Grow => plan::additions(&d, &names, &start_voters, max),
            _ => Vec::new(),
        };
        let started = Instant::now();
        match split {
            Some(ref p) => run_split(s, &nodes, &d, p, &leaders, &start_voters),
            None if !grow.is_empty() => run_grow(s, &nodes, &grow, &start_voters),
            None => {
                if !run_remove(s, &nodes, &d, &start_voters, &leaders, min) {
                    return;
                }
            }
        }
        record_view(s, &nodes);
        until.sleep(hold.saturating_sub(started.elapsed()));
        if let Some(p) = &split {
            s.stop(&partition(&names, p));
        }
        s.step(
            "stop-membership",
            json!({"voters": start_voters}),
            |_| admin::restore(&nodes, &start_voters, Instant::now() + HEAL_LIMIT),
        );
        record_view(s, &nodes);
    }
}

/// `remove`: returns false when there was nothing to remove.
fn run_remove(
    s: &Stepper,
    nodes: &[NodeInfo],
    d: &plan::Draw,
    voters: &[String],
    leaders: &[usize],
    min: usize,
) -> bool {
    let names = s.names();
    let out = plan::removals(d, &names, voters, min);
    if out.is_empty() {
        (s.log)(&format!(
            "nemesis membership: nothing to remove (voters {voters:?}, at least {min} stay)"
        ));
        return false;
    }
    let out_names: Vec<String> = out.iter().map(|&i| names[i].clone()).collect();
    let to: Vec<usize> = if leaders.is_empty() {
        vec![d.guess]
    } else {
        leaders.to_vec()
    };
    let mut answers = None;
    s.step(
        "start-membership",
        json!({"mode": "remove", "remove": out_names, "restart": d.restart.name(),
               "to": to.iter().map(|&i| &names[i]).collect::<Vec<_>>(), "voters": voters}),
        |c| {
            let changes: Vec<(&str, String)> =
                out_names.iter().map(|x| (REMOVE, x.clone())).collect();
            let burst = Burst::send(nodes, &to, &changes);
            answers = Some(burst.answers(nodes, Instant::now() + ANSWER_LIMIT).0);
            // Whatever the burst left undone, one change at a time.
            let end = Instant::now() + CHANGE_LIMIT;
            for x in &out_names {
                admin::change(nodes, REMOVE, x, end)?;
            }
            if d.restart != Restart::No {
                for &i in &out {
                    c.kill(i)?;
                    if d.restart == Restart::Wiped {
                        c.wipe(i)?;
                    }
                    c.restart(i)?;
                }
            }
            Ok(())
        },
    );
    if let Some(a) = answers {
        record_answers(s, a);
    }
    true
}

/// `grow`: add non-voters one at a time (each once caught up), up to MAX.
fn run_grow(s: &Stepper, nodes: &[NodeInfo], add: &[usize], voters: &[String]) {
    let names = s.names();
    let add: Vec<String> = add.iter().map(|&i| names[i].clone()).collect();
    s.step(
        "start-membership",
        json!({"mode": "grow", "add": add, "voters": voters}),
        |_| {
            let end = Instant::now() + CHANGE_LIMIT;
            for x in &add {
                admin::change(nodes, ADD, x, end)?;
            }
            Ok(())
        },
    );
}

/// `split`: the partition and two removals at once, in the drawn order.
fn run_split(
    s: &Stepper,
    nodes: &[NodeInfo],
    d: &plan::Draw,
    p: &plan::Split,
    leaders: &[usize],
    voters: &[String],
) {
    let names = s.names();
    let cut = partition(&names, p);
    let mut to = leaders.to_vec();
    if !to.contains(&p.leader) {
        to.push(p.leader);
    }
    let changes: Vec<(&str, String)> = p.remove.iter().map(|&i| (REMOVE, names[i].clone())).collect();
    let mut value = p.describe(&names);
    value["mode"] = json!("split");
    value["partition_first"] = json!(d.partition_first);
    value["to"] = json!(to.iter().map(|&i| &names[i]).collect::<Vec<_>>());
    value["voters"] = json!(voters);
    if d.partition_first {
        s.start(&cut, json!({"why": "membership split"}));
    }
    let mut burst = None;
    s.step("start-membership", value, |_| {
        burst = Some(Burst::send(nodes, &to, &changes));
        Ok(())
    });
    if !d.partition_first {
        // At once: before the leader's followers can acknowledge the changes.
        s.start(&cut, json!({"why": "membership split"}));
    }
    if let Some(b) = burst {
        let (answers, _) = b.answers(nodes, Instant::now() + ANSWER_LIMIT);
        record_answers(s, answers);
    }
}

fn partition(names: &[String], p: &plan::Split) -> Fault {
    let side = |v: &[usize]| v.iter().map(|&i| names[i].clone()).collect::<Vec<_>>();
    Fault::Partition {
        shape: "membership-split",
        grudge: crate::nemesis::shapes::components(&[side(&p.side), side(&p.rest)]),
    }
}

fn record_answers(s: &Stepper, answers: Value) {
    s.step("membership-answers", answers, |_| Ok(()));
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
