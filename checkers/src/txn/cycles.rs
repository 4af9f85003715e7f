//! Cycle search inside strongly connected components.
//!
//! Each anomaly kind is a kind of cycle (Adya): G0 only ww edges; G1c ww and
//! wr with at least one wr; G-single exactly one rw; G-nonadjacent two or
//! more rw, no two in a row; G2-item two or more rw with some in a row.
//! `-process` and `-realtime` variants close only with a process or
//! real-time edge. For each kind we pick a "pivot" edge the cycle must hold
//! (an rw edge, a wr edge, a real-time edge, ...) and search breadth-first
//! from its target back to its source over the edges the kind allows, with
//! a small state (wr seen, rw count, last edge rw) so the path obeys the
//! kind's rules. Breadth-first gives the shortest cycle through that pivot.
//! A found cycle is then named by its edges alone, so a name is never wrong.

use super::graph::{Graph, DATA, PROCESS, REALTIME, RW, WR, WW};
use super::history::TxnId;
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::VecDeque;

/// One edge of a cycle, with the one label it stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub from: TxnId,
    pub to: TxnId,
    pub label: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rule {
    G0,
    G1c,
    Single,
    NonAdjacent,
    Item,
}

const RULES: [Rule; 5] = [
    Rule::G0,
    Rule::G1c,
    Rule::Single,
    Rule::NonAdjacent,
    Rule::Item,
];

impl Rule {
    fn data(self) -> u8 {
        match self {
            Rule::G0 => WW,
            Rule::G1c => WW | WR,
            _ => DATA,
        }
    }
}

/// Limits on the work of one search, so a huge component cannot stall the
/// check: states visited per pivot, and pivots tried after the first hit.
const STATES_PER_PIVOT: usize = 400_000;
const STATES_PER_SEARCH: usize = 2_000_000;
const MORE_PIVOTS: usize = 8;

/// A search state: node, wr seen, rw count (0, 1, 2+), last edge rw.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct State {
    node: TxnId,
    wr: bool,
    rw: u8,
    last_rw: bool,
}

impl State {
    fn after(self, to: TxnId, label: u8) -> State {
        State {
            node: to,
            wr: self.wr || label == WR,
            rw: (self.rw + (label == RW) as u8).min(2),
            last_rw: label == RW,
        }
    }
}

/// Finds cycles in every component; `extra` says which of PROCESS and
/// REALTIME the graph holds. Calls `found(name, cycle)` at most once per
/// name and component.
pub fn search(
    graph: &Graph,
    components: &[Vec<TxnId>],
    extra: u8,
    mut found: impl FnMut(&'static str, Vec<Step>),
) {
    let mut comp_of: FxHashMap<TxnId, u32> = FxHashMap::default();
    for (c, nodes) in components.iter().enumerate() {
        for &n in nodes {
            comp_of.insert(n, c as u32);
        }
    }
    let mut variants = vec![0u8];
    if extra & PROCESS != 0 {
        variants.push(PROCESS);
    }
    if extra & REALTIME != 0 {
        variants.push(REALTIME);
    }
    for (c, nodes) in components.iter().enumerate() {
        let inside = |n: TxnId| comp_of.get(&n) == Some(&(c as u32));
        let mut named: FxHashSet<&'static str> = FxHashSet::default();
        for &variant in &variants {
            for rule in RULES {
                if let Some(cycle) = find(graph, nodes, &inside, rule, variant) {
                    let name = classify(&cycle);
                    if named.insert(name) {
                        found(name, cycle);
                    }
                }
            }
        }
    }
}

/// The shortest cycle of `rule` through the first pivots that have one.
fn find(
    graph: &Graph,
    nodes: &[TxnId],
    inside: &impl Fn(TxnId) -> bool,
    rule: Rule,
    variant: u8,
) -> Option<Vec<Step>> {
    let data = rule.data();
    let allowed = match variant {
        0 => data,
        PROCESS => data | PROCESS,
        _ => data | PROCESS | REALTIME,
    };
    // The pivot's label, if edge labels `m` make it a pivot.
    let pivot = |m: u8| -> Option<u8> {
        match variant {
            0 => match rule {
                Rule::G0 => (m & WW != 0).then_some(WW),
                Rule::G1c => (m & WR != 0).then_some(WR),
                _ => (m & RW != 0).then_some(RW),
            },
            PROCESS => (m & PROCESS != 0 && m & data == 0).then_some(PROCESS),
            _ => (m & REALTIME != 0 && m & (data | PROCESS) == 0).then_some(REALTIME),
        }
    };
    let mut best: Option<Vec<Step>> = None;
    let mut spent = 0;
    let mut after_hit = 0;
    for &u in nodes {
        for (v, m) in graph.out(u) {
            let Some(label) = pivot(m) else { continue };
            if !inside(v) {
                continue;
            }
            let start = State {
                node: v,
                wr: label == WR,
                rw: (label == RW) as u8,
                last_rw: label == RW,
            };
            let path = bfs(
                graph,
                inside,
                rule,
                allowed,
                start,
                u,
                label == RW,
                &mut spent,
            );
            if let Some(mut path) = path {
                path.insert(
                    0,
                    Step {
                        from: u,
                        to: v,
                        label,
                    },
                );
                let path = simple(path);
                if best.as_ref().is_none_or(|b| path.len() < b.len()) {
                    best = Some(path);
                }
            }
            if best.is_some() {
                after_hit += 1;
            }
            if after_hit > MORE_PIVOTS || spent > STATES_PER_SEARCH {
                return best;
            }
        }
    }
    best
}

/// Erases the loops of a closed walk that starts with its pivot, leaving a
/// simple cycle through the pivot. A walk that revisits a txn can split into
/// cycles of other kinds (two write skews can look like G-nonadjacent), so
/// only simple cycles are named.
fn simple(walk: Vec<Step>) -> Vec<Step> {
    let origin = walk[0].from;
    let mut nodes = vec![origin];
    let mut steps: Vec<Step> = Vec::with_capacity(walk.len());
    for s in walk {
        if s.to == origin {
            steps.push(s);
            break;
        }
        match nodes.iter().position(|&n| n == s.to) {
            Some(p) => {
                steps.truncate(p);
                nodes.truncate(p + 1);
            }
            None => {
                steps.push(s);
                nodes.push(s.to);
            }
        }
    }
    steps
}

/// Whether a path may end at the pivot's source in state `s`.
fn accepts(rule: Rule, s: State, pivot_rw: bool) -> bool {
    match rule {
        Rule::G0 => true,
        Rule::G1c => s.wr,
        Rule::Single => s.rw == 1,
        Rule::NonAdjacent => s.rw >= 2 && !(s.last_rw && pivot_rw),
        Rule::Item => s.rw >= 2,
    }
}

/// Whether the path may take an rw edge from state `s`.
fn may_take_rw(rule: Rule, s: State) -> bool {
    match rule {
        Rule::Single => s.rw == 0,
        Rule::NonAdjacent => !s.last_rw,
        _ => true,
    }
}

/// Breadth-first from `start` to `target`; the path's steps.
#[allow(clippy::too_many_arguments)]
fn bfs(
    graph: &Graph,
    inside: &impl Fn(TxnId) -> bool,
    rule: Rule,
    allowed: u8,
    start: State,
    target: TxnId,
    pivot_rw: bool,
    spent: &mut usize,
) -> Option<Vec<Step>> {
    let mut parent: FxHashMap<State, (State, u8)> = FxHashMap::default();
    let mut queue = VecDeque::from([start]);
    parent.insert(start, (start, 0));
    let mut visited = 0;
    while let Some(s) = queue.pop_front() {
        if s.node == target && accepts(rule, s, pivot_rw) {
            let mut steps = Vec::new();
            let mut at = s;
            while at != start {
                let (prev, label) = parent[&at];
                steps.push(Step {
                    from: prev.node,
                    to: at.node,
                    label,
                });
                at = prev;
            }
            steps.reverse();
            return Some(steps);
        }
        visited += 1;
        *spent += 1;
        if visited > STATES_PER_PIVOT {
            return None;
        }
        for (w, m) in graph.out(s.node) {
            let m = m & allowed;
            if m == 0 || !inside(w) {
                continue;
            }
            // Prefer the weakest non-rw reason; rw is a separate choice.
            let plain = [WR, WW, PROCESS, REALTIME]
                .into_iter()
                .find(|&l| m & l != 0);
            let rw = (m & RW != 0 && may_take_rw(rule, s)).then_some(RW);
            for label in [plain, rw].into_iter().flatten() {
                let next = s.after(w, label);
                if let std::collections::hash_map::Entry::Vacant(e) = parent.entry(next) {
                    e.insert((s, label));
                    queue.push_back(next);
                }
            }
        }
    }
    None
}

/// The anomaly a cycle is, from its edges alone.
pub fn classify(cycle: &[Step]) -> &'static str {
    let has = |l: u8| cycle.iter().any(|s| s.label == l);
    let rw = cycle.iter().filter(|s| s.label == RW).count();
    let n = cycle.len();
    let adjacent = (0..n).any(|i| cycle[i].label == RW && cycle[(i + 1) % n].label == RW);
    let base = match rw {
        0 if has(WR) => 1,
        0 => 0,
        1 => 2,
        _ if !adjacent => 3,
        _ => 4,
    };
    let suffix = if has(REALTIME) {
        2
    } else if has(PROCESS) {
        1
    } else {
        0
    };
    const NAMES: [[&str; 3]; 5] = [
        ["G0", "G0-process", "G0-realtime"],
        ["G1c", "G1c-process", "G1c-realtime"],
        ["G-single", "G-single-process", "G-single-realtime"],
        [
            "G-nonadjacent",
            "G-nonadjacent-process",
            "G-nonadjacent-realtime",
        ],
        ["G2-item", "G2-item-process", "G2-item-realtime"],
    ];
    NAMES[base][suffix]
}
