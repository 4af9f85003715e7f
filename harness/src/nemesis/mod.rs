//! The nemesis: faults as data, chosen on a seeded schedule, applied to the
//! cluster and recorded in the history as `nemesis` ops.

pub mod leader;
pub mod shapes;

use crate::cluster::{Cluster, NodeState};
use crate::controller::{Live, Log};
use crate::exit::bad_input;
use crate::net::{Link, NetFault};
use crate::store::writer::Recorder;
use faultline_checkers::history::{OpType, Process};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// Fault kinds `--nemesis` accepts, besides the leader-aware [`leader::KINDS`].
pub const KINDS: [&str; 6] = ["partition", "kill", "pause", "stall", "reset", "clock"];

/// Whether `kind` is a leader-aware fault (run by [`leader::run`]).
pub fn is_leader_kind(kind: &str) -> bool {
    leader::KINDS.contains(&kind)
}

/// Parses `--nemesis partition,kill` (or `none`).
pub fn parse_kinds(text: &str) -> anyhow::Result<Vec<String>> {
    if text.trim() == "none" || text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut kinds = Vec::new();
    for k in text.split(',').map(str::trim) {
        if !KINDS.contains(&k) && !is_leader_kind(k) {
            return Err(bad_input(format!(
                "--nemesis: unknown fault {k:?}; faults: {}, {}, or none",
                KINDS.join(", "),
                leader::KINDS.join(", ")
            )));
        }
        if !kinds.iter().any(|x| x == k) {
            kinds.push(k.to_string());
        }
    }
    Ok(kinds)
}

/// Whether the nodes must run under libfaketime for these fault kinds.
pub fn needs_clock(kinds: &[String]) -> bool {
    kinds.iter().any(|k| k == "clock" || k == "clock-leader")
}

/// One fault, decided before it is applied so it can be recorded as data.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    Partition {
        shape: &'static str,
        grudge: crate::net::Grudge,
    },
    Kill(Vec<usize>),
    Pause(Vec<usize>),
    Stall(Vec<Link>),
    Reset(Vec<Link>),
    /// Clock offsets (ms) by node name, through libfaketime.
    Clock(crate::clock::ClockOffsets),
}

impl Fault {
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "partition",
            Fault::Kill(_) => "kill",
            Fault::Pause(_) => "pause",
            Fault::Stall(_) => "stall",
            Fault::Reset(_) => "reset",
            Fault::Clock(_) => "clock",
        }
    }

    /// The value recorded with `start-<kind>`.
    pub fn describe(&self, names: &[String]) -> Value {
        let nodes = |v: &[usize]| json!(v.iter().map(|&i| names[i].clone()).collect::<Vec<_>>());
        let links = |v: &[Link]| {
            json!(v
                .iter()
                .map(|l| [l.from.clone(), l.to.clone()])
                .collect::<Vec<_>>())
        };
        match self {
            Fault::Partition { grudge, .. } => json!(grudge),
            Fault::Kill(v) | Fault::Pause(v) => nodes(v),
            Fault::Stall(v) | Fault::Reset(v) => links(v),
            Fault::Clock(offsets) => json!(offsets),
        }
    }

    /// A short text for the progress line and the log.
    pub fn label(&self, names: &[String]) -> String {
        match self {
            Fault::Partition { shape, .. } => format!("partition({shape})"),
            other => format!("{}{}", other.kind(), other.describe(names)),
        }
    }
}

/// Picks the next fault of one of `kinds` for `n` nodes.
pub fn choose(kinds: &[String], names: &[String], rng: &mut ChaCha8Rng) -> Fault {
    let kind = kinds.choose(rng).expect("at least one kind");
    fault_of(kind, names, rng)
}

/// A fault of `kind` (not a leader-aware one) for `names`.
pub fn fault_of(kind: &str, names: &[String], rng: &mut ChaCha8Rng) -> Fault {
    let n = names.len();
    let some_nodes = |rng: &mut ChaCha8Rng| {
        let mut idx: Vec<usize> = (0..n).collect();
        idx.shuffle(rng);
        let count = rng.gen_range(1..=(n / 2).max(1));
        let mut v = idx[..count].to_vec();
        v.sort();
        v
    };
    let links_of_one = |rng: &mut ChaCha8Rng| {
        let x = rng.gen_range(0..n);
        let mut links = Vec::new();
        for y in 0..n {
            if y != x {
                links.push(Link {
                    from: names[x].clone(),
                    to: names[y].clone(),
                });
                links.push(Link {
                    from: names[y].clone(),
                    to: names[x].clone(),
                });
            }
        }
        links
    };
    match kind {
        "partition" => {
            let (shape, grudge) = shapes::random(names, rng);
            Fault::Partition { shape, grudge }
        }
        "kill" => Fault::Kill(some_nodes(rng)),
        "pause" => Fault::Pause(some_nodes(rng)),
        "stall" => Fault::Stall(links_of_one(rng)),
        "reset" => Fault::Reset(links_of_one(rng)),
        // Skew some nodes by 1-30 s either way.
        "clock" => Fault::Clock(
            some_nodes(rng)
                .into_iter()
                .map(|i| {
                    let ms = rng.gen_range(1_000..=30_000i64);
                    (names[i].clone(), if rng.gen() { ms } else { -ms })
                })
                .collect(),
        ),
        other => unreachable!("parse_kinds admits no {other}"),
    }
}

/// Puts a fault in force.
pub fn start(cluster: &dyn Cluster, fault: &Fault) -> anyhow::Result<()> {
    match fault {
        Fault::Partition { grudge, .. } => {
            cluster.net().apply(&NetFault::Partition(grudge.clone()))
        }
        Fault::Kill(nodes) => nodes.iter().try_for_each(|&i| cluster.kill(i)),
        Fault::Pause(nodes) => nodes.iter().try_for_each(|&i| cluster.pause(i)),
        Fault::Stall(links) => cluster.net().apply(&NetFault::Stall(links.clone())),
        Fault::Reset(links) => cluster.net().apply(&NetFault::Reset(links.clone())),
        Fault::Clock(offsets) => {
            let clock = cluster.clock().ok_or_else(|| {
                anyhow::anyhow!(
                    "clock faults need nodes under libfaketime (--nemesis clock starts them so)"
                )
            })?;
            crate::clock::apply(clock, cluster.nodes(), offsets)
        }
    }
}

/// Ends a fault: heal the network, restart killed nodes, resume paused ones.
pub fn stop(cluster: &dyn Cluster, fault: &Fault) -> anyhow::Result<()> {
    match fault {
        Fault::Partition { .. } | Fault::Stall(_) => cluster.net().heal(),
        Fault::Kill(nodes) => nodes.iter().try_for_each(|&i| cluster.restart(i)),
        Fault::Pause(nodes) => nodes.iter().try_for_each(|&i| cluster.resume(i)),
        // A reset happens once; there is nothing to undo.
        Fault::Reset(_) => Ok(()),
        Fault::Clock(_) => match cluster.clock() {
            Some(clock) => clock.reset_clocks(),
            None => Ok(()),
        },
    }
}

/// Performs nemesis steps on a blocking thread: each is recorded as an invoke
/// and an info `nemesis` op, logged, and shown on the progress line while in
/// force; a step that fails is a problem of the run.
pub struct Stepper {
    pub cluster: Arc<dyn Cluster>,
    pub recorder: Arc<Recorder>,
    pub log: Log,
    pub live: Arc<Live>,
    pub problems: Arc<Mutex<Vec<String>>>,
}

impl Stepper {
    /// Records `f` as invoke, does `action`, records info (with the error).
    pub fn step(
        &self,
        f: &str,
        value: Value,
        action: impl FnOnce(&dyn Cluster) -> anyhow::Result<()>,
    ) {
        let r = &self.recorder;
        r.record(
            OpType::Invoke,
            Process::Nemesis,
            f,
            None,
            value.clone(),
            None,
        );
        let error = action(&*self.cluster).err().map(|e| format!("{e:#}"));
        (self.log)(&format!(
            "nemesis {f} {value}{}",
            error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
        ));
        if let Some(e) = &error {
            self.problems
                .lock()
                .unwrap()
                .push(format!("nemesis {f}: {e}"));
        }
        r.record(OpType::Info, Process::Nemesis, f, None, value, error);
    }

    /// Puts `fault` in force (`note` says why, in the log).
    pub fn start(&self, fault: &Fault, note: Value) {
        let names: Vec<String> = self
            .cluster
            .nodes()
            .iter()
            .map(|n| n.name.clone())
            .collect();
        if !note.is_null() {
            (self.log)(&format!("nemesis {}: {note}", fault.label(&names)));
        }
        self.step(
            &format!("start-{}", fault.kind()),
            fault.describe(&names),
            |c| start(c, fault),
        );
        self.live.faults.lock().unwrap().push(fault.label(&names));
    }

    /// Replaces partition `old` by partition `new` with no gap between them
    /// but the heal itself (both steps are recorded).
    pub fn switch(&self, old: &Fault, new: &Fault, note: Value) {
        let names: Vec<String> = self
            .cluster
            .nodes()
            .iter()
            .map(|n| n.name.clone())
            .collect();
        (self.log)(&format!("nemesis {}: {note}", new.label(&names)));
        let r = &self.recorder;
        let (stop_f, start_f) = (
            format!("stop-{}", old.kind()),
            format!("start-{}", new.kind()),
        );
        let (v_old, v_new) = (old.describe(&names), new.describe(&names));
        r.record(
            OpType::Invoke,
            Process::Nemesis,
            &stop_f,
            None,
            v_old.clone(),
            None,
        );
        r.record(
            OpType::Invoke,
            Process::Nemesis,
            &start_f,
            None,
            v_new.clone(),
            None,
        );
        let error = stop(&*self.cluster, old)
            .and_then(|()| start(&*self.cluster, new))
            .err()
            .map(|e| format!("{e:#}"));
        (self.log)(&format!("nemesis {stop_f} {v_old}, {start_f} {v_new}"));
        if let Some(e) = &error {
            self.problems
                .lock()
                .unwrap()
                .push(format!("nemesis {start_f}: {e}"));
        }
        r.record(
            OpType::Info,
            Process::Nemesis,
            &stop_f,
            None,
            v_old,
            error.clone(),
        );
        r.record(OpType::Info, Process::Nemesis, &start_f, None, v_new, error);
        let mut live = self.live.faults.lock().unwrap();
        live.retain(|l| *l != old.label(&names));
        live.push(new.label(&names));
    }

    /// Ends `fault`.
    pub fn stop(&self, fault: &Fault) {
        let names: Vec<String> = self
            .cluster
            .nodes()
            .iter()
            .map(|n| n.name.clone())
            .collect();
        self.step(
            &format!("stop-{}", fault.kind()),
            fault.describe(&names),
            |c| stop(c, fault),
        );
        let label = fault.label(&names);
        let mut live = self.live.faults.lock().unwrap();
        if let Some(i) = live.iter().position(|l| *l == label) {
            live.remove(i);
        }
    }
}

/// Heals everything, whatever is in force: the network, paused and dead nodes.
pub fn heal_all(cluster: &dyn Cluster) -> anyhow::Result<()> {
    cluster.net().heal()?;
    if let Some(clock) = cluster.clock() {
        clock.reset_clocks()?;
    }
    for i in 0..cluster.nodes().len() {
        match cluster.state(i) {
            NodeState::Paused => cluster.resume(i)?,
            NodeState::Down => cluster.restart(i)?,
            NodeState::Running => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn kinds_parse_and_reject_with_the_flag_named() {
        assert_eq!(
            parse_kinds("partition,kill").unwrap(),
            ["partition", "kill"]
        );
        assert!(parse_kinds("none").unwrap().is_empty());
        let e = parse_kinds("partition,flood").unwrap_err().to_string();
        assert!(e.contains("--nemesis") && e.contains("flood"), "{e}");
    }

    #[test]
    fn schedule_is_reproducible_from_the_seed() {
        let names: Vec<String> = (1..=5).map(|i| format!("n{i}")).collect();
        let kinds = parse_kinds("partition,kill,pause,stall,reset").unwrap();
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..20)
                .map(|_| choose(&kinds, &names, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
        for f in run(3) {
            if let Fault::Kill(v) | Fault::Pause(v) = &f {
                assert!(!v.is_empty() && v.len() <= 2, "{f:?}");
            }
        }
    }
}
