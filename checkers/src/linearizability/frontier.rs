//! A search that walks the history's events once, in time order, and keeps
//! every configuration the history can be in, instead of one partial
//! linearization at a time: the shape that stays small when crashed ops pile
//! up, which is where the depth-first [`search`](super::search) doubles its
//! work with each crashed op.
//!
//! A configuration is a model state, the set of currently open completed ops
//! already linearized (a bitmask over at most 64 slots), and how many of the
//! crashed (`info`) ops of each class have been used, where a class is the
//! crashed ops with equal inputs (interchangeable: only how many of a class
//! were used matters, and they are taken in call order).
//!
//! Ops are linearized just in time: at the return of a completed op `o`, each
//! configuration that has not placed `o` yet is extended by every sequence of
//! open ops and available crashed ops that ends with `o`. Placing an op later
//! than needed never loses a linearization (only the order matters), so
//! nothing else is ever placed early. Three rules keep this small, each
//! sound for any model:
//! - dominance: of two configurations with the same state and the same open
//!   ops placed, the one that used a subset of the crashed ops (pointwise
//!   fewer of each class) can do all the other can, because a crashed op need
//!   never take effect: the other is dropped;
//! - a crashed op that leaves the state as it is, or that is followed by a
//!   blind op (one whose result does not depend on the state, such as a
//!   register's write, see [`Model::is_blind`]), only uses up a crashed op;
//! - the counts of crashed ops that every configuration has used are moved to
//!   a shared baseline, so configurations stay small however long the history;
//! - an open pure op (one that never changes the state, such as a read, see
//!   [`Model::is_pure`]) is placed as soon as it applies: in any
//!   linearization that places it later, it can move up to here (every op
//!   that must precede it by real time has returned, so is placed already,
//!   and it changed nothing where it was), so the configurations need not
//!   tell apart every subset of the reads that could be placed.
//!
//! For a register, [`Liveness`] adds two more: a state no op left can
//! observe stands for all such states, and a configuration that placed a
//! write and every read of its value also covers the same one without
//! them (dominance on that part of the placed set, as on crashed ops).

use super::liveness::Liveness;
use super::search::{Budget, Outcome, Problem, Stats, StopReason};
use crate::models::Model;
use rustc_hash::FxHashMap;
use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Instant;

/// The most completed ops open at one moment this search handles.
pub(super) const MAX_OPEN: usize = 64;

/// Ops linearized so far, newest first; shared between configurations.
pub(super) type Trail = Option<Rc<Path>>;

pub(super) struct Path {
    op: u32,
    prev: Trail,
}

thread_local! {
    /// Trail nodes alive on this thread, for the memory budget: a search
    /// runs on one thread, and its trails never leave it (`Rc`).
    static LIVE_PATHS: Cell<u64> = const { Cell::new(0) };
}

/// Bytes of one trail node: the `Rc` box and the allocator's header.
const PATH_BYTES: u64 = (std::mem::size_of::<Path>() + 16 + 16) as u64;

fn live_paths() -> u64 {
    LIVE_PATHS.with(Cell::get)
}

fn push(path: &Trail, op: u32) -> Trail {
    LIVE_PATHS.with(|n| n.set(n.get() + 1));
    Some(Rc::new(Path {
        op,
        prev: path.clone(),
    }))
}

impl Drop for Path {
    /// Counts the node out, and frees a chain no one else holds one node at
    /// a time: dropped recursively, a trail of 100,000 ops would overflow
    /// the stack.
    fn drop(&mut self) {
        LIVE_PATHS.with(|n| n.set(n.get() - 1));
        let mut prev = self.prev.take();
        while let Some(rc) = prev {
            match Rc::try_unwrap(rc) {
                Ok(mut node) => prev = node.prev.take(),
                Err(_) => break,
            }
        }
    }
}

fn ops_of(path: &Trail) -> Vec<u32> {
    let mut ops = Vec::new();
    let mut at = path.as_deref();
    while let Some(p) = at {
        ops.push(p.op);
        at = p.prev.as_deref();
    }
    ops.reverse();
    ops
}

/// Crashed ops used, per class, above the shared baseline: sorted by class,
/// counts above zero.
pub(super) type Used = Box<[(u32, u32)]>;

pub(super) fn count_of(used: &[(u32, u32)], class: u32) -> u32 {
    used.binary_search_by_key(&class, |e| e.0)
        .map_or(0, |i| used[i].1)
}

pub(super) fn with_one_more(used: &[(u32, u32)], class: u32) -> Used {
    let mut v = used.to_vec();
    match v.binary_search_by_key(&class, |e| e.0) {
        Ok(i) => v[i].1 += 1,
        Err(i) => v.insert(i, (class, 1)),
    }
    v.into_boxed_slice()
}

/// Whether `a` used at most what `b` used, class by class.
fn within(a: &[(u32, u32)], b: &[(u32, u32)]) -> bool {
    if a.len() > b.len() {
        return false;
    }
    let mut j = 0;
    for &(class, n) in a {
        while j < b.len() && b[j].0 < class {
            j += 1;
        }
        if j == b.len() || b[j].0 != class || b[j].1 < n {
            return false;
        }
    }
    true
}

/// What tells configurations of one (state, open ops placed) apart: the
/// crashed ops used (fewer is better), the open ops placed that can only
/// help (more is better: see [`Liveness::split`]), and the trail.
type Config<T> = (Used, u64, T);

/// Whether a configuration with `a` can do all one with `b` can.
fn covers(a: (&Used, u64), b: (&Used, u64)) -> bool {
    a.1 & b.1 == b.1 && within(a.0, b.0)
}

/// Configurations by (state, open ops placed less those that only help),
/// each key holding the entries none of which covers another, each with
/// its trail `T` (the online check keeps none: `()`).
pub(super) struct Antichains<S, T = Trail> {
    pub(super) map: FxHashMap<(S, u64), Vec<Config<T>>>,
    pub(super) len: usize,
    used_entries: usize,
}

impl<S: Copy + Eq + std::hash::Hash, T> Antichains<S, T> {
    pub(super) fn new() -> Self {
        Antichains {
            map: FxHashMap::default(),
            len: 0,
            used_entries: 0,
        }
    }

    /// Adds a configuration unless one already there used no more; drops
    /// those it used no more than. Returns whether it was added.
    pub(super) fn insert(&mut self, state: S, lin: u64, used: Used, path: T) -> bool {
        self.insert_split(state, lin, 0, used, path)
    }

    /// [`Antichains::insert`] of a configuration whose open ops placed are
    /// `core | helping`, where placing more of `helping` is never worse.
    pub(super) fn insert_split(
        &mut self,
        state: S,
        core: u64,
        helping: u64,
        used: Used,
        path: T,
    ) -> bool {
        let list = self.map.entry((state, core)).or_default();
        if list
            .iter()
            .any(|(u, h, _)| covers((u, *h), (&used, helping)))
        {
            return false;
        }
        let before = list.len();
        let mut dropped_entries = 0;
        list.retain(|(u, h, _)| {
            let keep = !covers((&used, helping), (u, *h));
            if !keep {
                dropped_entries += u.len();
            }
            keep
        });
        self.len = self.len + list.len() + 1 - before;
        self.used_entries = self.used_entries + used.len() - dropped_entries;
        list.push((used, helping, path));
        true
    }

    /// Each configuration: state, open ops placed, crashed ops used, trail.
    pub(super) fn iter(&self) -> impl Iterator<Item = (S, u64, &Used, &T)> {
        self.map.iter().flat_map(|(&(state, core), list)| {
            list.iter()
                .map(move |(used, helping, path)| (state, core | helping, used, path))
        })
    }

    /// [`Antichains::iter`], taking the configurations.
    pub(super) fn into_configs(self) -> impl Iterator<Item = (S, u64, Used, T)> {
        self.map.into_iter().flat_map(|((state, core), list)| {
            list.into_iter()
                .map(move |(used, helping, path)| (state, core | helping, used, path))
        })
    }

    pub(super) fn bytes(&self) -> u64 {
        let per = std::mem::size_of::<((S, u64), Vec<Config<T>>)>() + 48;
        (self.len * per + self.used_entries * 8) as u64
    }
}

/// A configuration still to expand: state, open ops placed, crashed ops
/// used, the ops placed so far, and whether the last was a crashed op.
type Node<S> = (S, u64, Used, Trail, bool);

/// How the search went, for the memory and time checks.
struct Meter<'a, 'b> {
    budget: &'a Budget<'b>,
    reported: u64,
}

impl Meter<'_, '_> {
    /// Reports `bytes` in use; `Err` when a limit is passed.
    fn check(&mut self, bytes: u64) -> Result<(), StopReason> {
        let used = &self.budget.memory_used;
        let total = if bytes >= self.reported {
            used.fetch_add(bytes - self.reported, Ordering::Relaxed) + (bytes - self.reported)
        } else {
            used.fetch_sub(self.reported - bytes, Ordering::Relaxed) - (self.reported - bytes)
        };
        self.reported = bytes;
        if self.budget.stop.load(Ordering::Relaxed) {
            return Err(StopReason::Cancelled);
        }
        if total > self.budget.memory_limit {
            return Err(StopReason::Memory);
        }
        if self.budget.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(StopReason::Timeout);
        }
        Ok(())
    }
}

impl Drop for Meter<'_, '_> {
    fn drop(&mut self) {
        self.budget
            .memory_used
            .fetch_sub(self.reported, Ordering::Relaxed);
    }
}

/// How often a crashed op may take effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Crashed {
    /// Once or never: the real semantics, an exact search.
    AtMostOnce,
    /// Any number of times: a relaxation with far fewer configurations (no
    /// counts to tell apart). Every real linearization is one of its
    /// linearizations, so `Invalid` is proof; `Valid` proves nothing.
    AnyNumberOfTimes,
}

/// Searches `problem` by configurations; `None` when more than 64 completed
/// ops are open at once (the depth-first search handles those), or when it
/// has tried more than `effort_cap` crashed ops in all.
pub fn search_frontier<M: Model>(
    problem: &mut Problem<M>,
    budget: &Budget<'_>,
    crashed: Crashed,
    effort_cap: u64,
) -> Option<(Outcome<M::State>, Stats)> {
    let reuse = crashed == Crashed::AnyNumberOfTimes;
    let n_ops = problem.inputs.len();
    // Events in time order: (position, op, is_return). Crashed ops only call.
    let mut events: Vec<(u64, u32, bool)> = Vec::with_capacity(n_ops * 2);
    for op in 0..n_ops {
        events.push((problem.call_pos[op], op as u32, false));
        if let Some(r) = problem.return_pos[op] {
            events.push((r, op as u32, true));
        }
    }
    events.sort_unstable_by_key(|e| (e.0, e.2));
    let mut open = 0usize;
    for &(_, op, ret) in &events {
        if problem.return_pos[op as usize].is_some() {
            open = if ret { open - 1 } else { open + 1 };
            if open > MAX_OPEN {
                return None;
            }
        }
    }

    // Classes of crashed ops with equal inputs, members in call order.
    let mut class_of = vec![u32::MAX; n_ops];
    let mut members: Vec<Vec<u32>> = Vec::new();
    {
        let mut by_input: FxHashMap<&M::Input, u32> = FxHashMap::default();
        for &(_, op, _) in &events {
            if problem.return_pos[op as usize].is_none() {
                let next = members.len() as u32;
                let class = *by_input.entry(&problem.inputs[op as usize]).or_insert(next);
                if class == next {
                    members.push(Vec::new());
                }
                members[class as usize].push(op);
                class_of[op as usize] = class;
            }
        }
    }
    let mut live = Liveness::new(problem);
    let model = &mut problem.model;
    let inputs = &problem.inputs;
    let blind: Vec<bool> = inputs.iter().map(|i| model.is_blind(i)).collect();
    let pure: Vec<bool> = inputs.iter().map(|i| model.is_pure(i)).collect();
    // For each completed op, the previous one by return with an equal input.
    let mut earlier_twin = vec![u32::MAX; n_ops];
    {
        let mut last: FxHashMap<&M::Input, u32> = FxHashMap::default();
        for &(_, op, _) in events.iter().filter(|e| e.2) {
            if let Some(prev) = last.insert(&inputs[op as usize], op) {
                earlier_twin[op as usize] = prev;
            }
        }
    }
    // Slots of open pure completed ops.
    let mut pure_mask = 0u64;
    let mut called = vec![0u32; members.len()];
    let mut baseline = vec![0u32; members.len()];
    // Classes with a member called, in order of their first call.
    let mut live_classes: Vec<u32> = Vec::new();

    let mut slot_of = vec![u8::MAX; n_ops];
    let mut slot_op = [u32::MAX; MAX_OPEN];
    let mut free: Vec<u8> = (0..MAX_OPEN as u8).rev().collect();
    let mut open_mask = 0u64;

    let mut stats = Stats::default();
    let mut meter = Meter {
        budget,
        reported: 0,
    };
    // Besides the configurations: the per-op tables above, and the trails
    // this search made (counted from what was alive when it started).
    let tables = (n_ops * (std::mem::size_of::<(u64, u32, bool)>() * 2 + 4 + 1 + 1 + 4)) as u64
        + live.bytes();
    let paths_before = live_paths();
    let trails = || live_paths().saturating_sub(paths_before) * PATH_BYTES;
    let mut frontier = Antichains::new();
    let init = model.init();
    live.add(model, &mut frontier, init, 0, Box::default(), None);
    // Crashed ops tried, for `effort_cap`.
    let mut tries = 0u64;

    for &(_, op, ret) in &events {
        let o = op as usize;
        if !ret {
            if problem.return_pos[o].is_some() {
                let slot = free.pop().expect("at most 64 open, counted above");
                slot_of[o] = slot;
                slot_op[slot as usize] = op;
                open_mask |= 1 << slot;
                live.called(op, slot);
                if pure[o] {
                    pure_mask |= 1 << slot;
                    // Placed at once wherever it applies.
                    let mut settled = Antichains::new();
                    for (state, lin, used, path) in
                        std::mem::replace(&mut frontier, Antichains::new()).into_configs()
                    {
                        if model.step(state, &inputs[o]) == Some(state) {
                            let path = push(&path, op);
                            live.add(model, &mut settled, state, lin | 1 << slot, used, path);
                        } else {
                            live.add(model, &mut settled, state, lin, used, path);
                        }
                    }
                    frontier = settled;
                }
            } else {
                live.called_crashed(op);
                let class = class_of[o] as usize;
                if called[class] == 0 {
                    live_classes.push(class as u32);
                }
                called[class] += 1;
            }
            continue;
        }
        let bit = 1u64 << slot_of[o];
        let mut next = Antichains::new();
        let mut seen: Antichains<M::State> = Antichains::new();
        // Nodes still to expand: (state, lin, used, path, after a crashed op).
        let mut stack: Vec<Node<M::State>> = Vec::new();
        // Entries of the `used` vectors on the stack.
        let mut stacked_used = 0usize;
        for (state, lin, used, path) in frontier.iter() {
            if lin & bit != 0 {
                live.add(
                    model,
                    &mut next,
                    state,
                    lin & !bit,
                    used.clone(),
                    path.clone(),
                );
            } else if live.add(model, &mut seen, state, lin, used.clone(), None) {
                stacked_used += used.len();
                stack.push((state, lin, used.clone(), path.clone(), false));
            }
        }
        let mut expanded = 0u64;
        while let Some((state, lin, used, path, after_crashed)) = stack.pop() {
            stacked_used -= used.len();
            expanded += 1;
            if lin & bit != 0 {
                // `o` is pure and was placed as soon as it applied.
                live.add(model, &mut next, state, lin & !bit, used, path);
                continue;
            }
            if expanded & 4095 == 0 {
                let stacked =
                    stack.capacity() * std::mem::size_of::<Node<M::State>>() + stacked_used * 8;
                let bytes = next.bytes() + seen.bytes() + frontier.bytes() + stacked as u64;
                if let Err(reason) = meter.check(bytes + tables + trails()) {
                    return Some((Outcome::Unknown(reason), stats));
                }
                if tries > effort_cap {
                    return None;
                }
            }
            // End the sequence with `o`.
            if !(after_crashed && blind[o]) {
                if let Some(s) = model.step(state, &inputs[o]) {
                    let lin2 = settled(model, inputs, &slot_op, pure_mask & !bit, s, lin);
                    let path2 = with_placed(push(&path, op), &slot_op, lin2 & !lin);
                    live.add(model, &mut next, s, lin2, used.clone(), path2);
                }
            }
            // Or place another open op first.
            let mut waiting = open_mask & !lin & !bit;
            while waiting != 0 {
                let slot = waiting.trailing_zeros() as usize;
                waiting &= waiting - 1;
                let p = slot_op[slot];
                if after_crashed && blind[p as usize] {
                    continue;
                }
                // Of open ops with equal inputs, the one that returns first
                // is placed first (swapping the two in a linearization
                // keeps its states and its real-time order).
                let twin = earlier_twin[p as usize];
                if twin != u32::MAX {
                    let t = slot_of[twin as usize];
                    if t != u8::MAX
                        && slot_op[t as usize] == twin
                        && (open_mask & !lin) >> t & 1 == 1
                    {
                        continue;
                    }
                }
                if let Some(s) = model.step(state, &inputs[p as usize]) {
                    let lin1 = lin | 1 << slot;
                    let lin2 = settled(model, inputs, &slot_op, pure_mask, s, lin1);
                    if live.add(model, &mut seen, s, lin2, used.clone(), None) {
                        stacked_used += used.len();
                        let path2 = with_placed(push(&path, p), &slot_op, lin2 & !lin1);
                        stack.push((s, lin2, used.clone(), path2, false));
                    }
                }
            }
            // Or a crashed op.
            tries += live_classes.len() as u64;
            for &class in &live_classes {
                let c = class as usize;
                let n = if reuse { 0 } else { count_of(&used, class) };
                if baseline[c] + n >= called[c] {
                    continue;
                }
                let member = members[c][(baseline[c] + n) as usize];
                if after_crashed && blind[member as usize] {
                    continue;
                }
                let Some(s) = model.step(state, &inputs[member as usize]) else {
                    continue;
                };
                if s == state {
                    continue;
                }
                let used2 = if reuse {
                    used.clone()
                } else {
                    with_one_more(&used, class)
                };
                let lin2 = settled(model, inputs, &slot_op, pure_mask, s, lin);
                if live.add(model, &mut seen, s, lin2, used2.clone(), None) {
                    stacked_used += used2.len();
                    let path2 = with_placed(push(&path, member), &slot_op, lin2 & !lin);
                    // A pure op placed after it: it no longer just sits there.
                    stack.push((s, lin2, used2, path2, lin2 == lin));
                }
            }
        }
        stats.states += expanded;
        if tries > effort_cap {
            return None;
        }
        if next.len == 0 {
            // `o` cannot be placed after any configuration: show the one
            // that placed the most ops.
            let mut path = frontier
                .iter()
                .map(|(_, _, _, p)| ops_of(p))
                .max_by_key(Vec::len)
                .expect("the frontier is never empty before a return");
            if reuse {
                // Shown as a real linearization: up to a crashed op's second use.
                let mut once = vec![false; n_ops];
                let real = path
                    .iter()
                    .position(|&p| std::mem::replace(&mut once[p as usize], true))
                    .unwrap_or(path.len());
                path.truncate(real);
            }
            // The state after it, replayed: the configuration's own may be
            // the dead representative (liveness.rs).
            let mut state = model.init();
            for &p in &path {
                state = model
                    .step(state, &inputs[p as usize])
                    .expect("a path the search took replays");
            }
            return Some((
                Outcome::Invalid {
                    prefix: path,
                    state,
                    blocked: op,
                },
                stats,
            ));
        }
        free.push(slot_of[o]);
        open_mask &= !bit;
        pure_mask &= !bit;
        // Once an observer returned, more states may be dead, more groups
        // whole: split the configurations again (for any other op, and for
        // a model that is no register, nothing changed).
        if live.returned(op, slot_of[o]) {
            let mut merged = Antichains::new();
            for (state, lin, used, path) in next.into_configs() {
                live.add(model, &mut merged, state, lin, used, path);
            }
            next = merged;
        }
        rebase(&mut next, &mut baseline);
        stats.max_depth = stats.max_depth.max(next.len as u64);
        frontier = next;
        if let Err(reason) = meter.check(frontier.bytes() + tables + trails()) {
            return Some((Outcome::Unknown(reason), stats));
        }
    }
    Some((Outcome::Valid, stats))
}

/// `lin` with every open pure op of `candidates` (slots) that applies in
/// `state` placed.
fn settled<M: Model>(
    model: &mut M,
    inputs: &[M::Input],
    slot_op: &[u32; MAX_OPEN],
    candidates: u64,
    state: M::State,
    mut lin: u64,
) -> u64 {
    let mut waiting = candidates & !lin;
    while waiting != 0 {
        let slot = waiting.trailing_zeros() as usize;
        waiting &= waiting - 1;
        if model.step(state, &inputs[slot_op[slot] as usize]) == Some(state) {
            lin |= 1 << slot;
        }
    }
    lin
}

/// `path` followed by the ops in the slots of `placed`.
fn with_placed(mut path: Trail, slot_op: &[u32; MAX_OPEN], mut placed: u64) -> Trail {
    while placed != 0 {
        let slot = placed.trailing_zeros() as usize;
        placed &= placed - 1;
        path = push(&path, slot_op[slot]);
    }
    path
}

/// Moves the crashed ops that every configuration used into `baseline`.
pub(super) fn rebase<S: Copy + Eq + std::hash::Hash, T>(
    configs: &mut Antichains<S, T>,
    baseline: &mut [u32],
) {
    let mut common: Option<Vec<(u32, u32)>> = None;
    for list in configs.map.values() {
        for (used, _, _) in list {
            common = Some(match common {
                None => used.to_vec(),
                Some(c) => c
                    .into_iter()
                    .filter_map(|(class, n)| {
                        let m = count_of(used, class).min(n);
                        (m > 0).then_some((class, m))
                    })
                    .collect(),
            });
            if common.as_ref().is_some_and(Vec::is_empty) {
                return;
            }
        }
    }
    let Some(common) = common else { return };
    for &(class, n) in &common {
        baseline[class as usize] += n;
    }
    let mut entries = 0;
    for list in configs.map.values_mut() {
        for (used, _, _) in list.iter_mut() {
            let rest: Vec<(u32, u32)> = used
                .iter()
                .filter_map(|&(class, n)| {
                    let m = n - count_of(&common, class);
                    (m > 0).then_some((class, m))
                })
                .collect();
            entries += rest.len();
            *used = rest.into_boxed_slice();
        }
    }
    configs.used_entries = entries;
}
