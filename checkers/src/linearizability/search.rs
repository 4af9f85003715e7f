//! The depth-first search for a linearization of one part of a history.
//!
//! Wing & Gong's search as refined by Lowe: the calls and returns of the
//! completed ops sit in one time-ordered doubly linked list. Any call before
//! the first remaining return may be linearized next; linearizing an op lifts
//! its call and return out of the list, backtracking puts them back (the
//! links of a lifted node stay valid, so undo is O(1)). A memo of
//! (set of linearized ops, model state) prunes configurations already
//! explored. Indeterminate ops (`info`, or open at the end) have no return:
//! they sit in a second list and are tried after the completed candidates,
//! and they need never be linearized, so the search succeeds as soon as every
//! completed op is placed.
//!
//! Indeterminate ops with equal inputs are interchangeable (each may take
//! effect any time after its call), so of those not yet linearized only the
//! earliest called is tried: the linearized ones of such a class are always a
//! prefix of it, which removes a factor exponential in the class sizes.
//!
//! The set of linearized ops is kept as a 128-bit Zobrist hash (the XOR of a
//! random key per op), updated in O(1) per step: two different sets collide
//! with probability 2^-128, far below any hardware error rate.

use super::memo::StretchMemo;
use crate::models::Model;
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// One part of a history, encoded for a model. Op ids are indices into
/// `inputs`; `call_pos`/`return_pos` order the events in real time.
pub struct Problem<M: Model> {
    pub model: M,
    pub inputs: Vec<M::Input>,
    pub call_pos: Vec<u64>,
    /// `None`: the op is indeterminate and may take effect any time after
    /// its call, or never.
    pub return_pos: Vec<Option<u64>>,
}

/// Limits shared by all parts checked together.
#[derive(Clone, Copy)]
pub struct Budget<'a> {
    pub deadline: Option<Instant>,
    pub memory_limit: u64,
    /// Bytes of memo past which the depth-first search frees what it
    /// remembers of the stretches behind it (see [`memo`](super::memo)).
    pub memo_keep: u64,
    /// Bytes of search memory in use across all parts.
    pub memory_used: &'a AtomicU64,
    /// Set when another part proved the history invalid.
    pub stop: &'a AtomicBool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    Timeout,
    Memory,
    Cancelled,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<S> {
    Valid,
    /// No linearization exists. `prefix` is the longest linearizable prefix
    /// found (op ids in order), `state` the model state after it, and
    /// `blocked` the completed op that could not be placed after it.
    Invalid {
        prefix: Vec<u32>,
        state: S,
        blocked: u32,
    },
    Unknown(StopReason),
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Distinct (linearized set, state) configurations visited.
    pub states: u64,
    /// Most ops placed in one partial linearization.
    pub max_depth: u64,
}

const NIL: u32 = 0;

/// A doubly linked list over nodes `1..`, node 0 the head sentinel; circular.
struct Links {
    next: Vec<u32>,
    prev: Vec<u32>,
}

impl Links {
    fn chain(len: usize) -> Links {
        let n = len as u32 + 1;
        Links {
            next: (0..n).map(|i| (i + 1) % n).collect(),
            prev: (0..n).map(|i| (i + n - 1) % n).collect(),
        }
    }
    #[inline]
    fn unlink(&mut self, n: u32) {
        let (p, x) = (self.prev[n as usize], self.next[n as usize]);
        self.next[p as usize] = x;
        self.prev[x as usize] = p;
    }
    #[inline]
    fn relink(&mut self, n: u32) {
        let (p, x) = (self.prev[n as usize], self.next[n as usize]);
        self.next[p as usize] = n;
        self.prev[x as usize] = n;
    }
    #[inline]
    fn first(&self) -> u32 {
        self.next[0]
    }
}

struct Frame<S> {
    op: u32,
    state: S,
    /// For an indeterminate op: the bound it was tried under. `u64::MAX` for
    /// a completed op.
    bound: u64,
    /// Placed as an applicable pure op: nothing else was to be tried there.
    forced: bool,
}

enum Cursor {
    /// At a pure completed op that applies: the only op tried here.
    Forced(u32),
    /// At a node of the completed-op list.
    Main(u32),
    /// At a node of the indeterminate-op list, trying ops called before `bound`.
    Info(u32, u64),
}

fn zobrist(op: u32) -> u128 {
    // splitmix64, twice: a fixed, well-mixed random key per op.
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let a = mix((op as u64)
        .wrapping_mul(2)
        .wrapping_add(0x9e37_79b9_7f4a_7c15));
    let b = mix((op as u64)
        .wrapping_mul(2)
        .wrapping_add(0x3c6e_f372_fe94_f82a));
    ((a as u128) << 64) | b as u128
}

/// Searches for a linearization of `problem`.
pub fn search<M: Model>(
    problem: &mut Problem<M>,
    budget: &Budget<'_>,
) -> (Outcome<M::State>, Stats) {
    let n_ops = problem.inputs.len();
    let ok_ops: Vec<u32> = (0..n_ops as u32)
        .filter(|&i| problem.return_pos[i as usize].is_some())
        .collect();
    let mut info_ops: Vec<u32> = (0..n_ops as u32)
        .filter(|&i| problem.return_pos[i as usize].is_none())
        .collect();
    info_ops.sort_by_key(|&i| problem.call_pos[i as usize]);

    // Main list: the calls and returns of completed ops in time order.
    let mut events: Vec<(u64, u32, bool)> = Vec::with_capacity(ok_ops.len() * 2);
    for &op in &ok_ops {
        events.push((problem.call_pos[op as usize], op, false));
        events.push((
            problem.return_pos[op as usize].unwrap_or(u64::MAX),
            op,
            true,
        ));
    }
    events.sort_unstable_by_key(|e| (e.0, e.2));
    let mut node_op = vec![0u32; events.len() + 1];
    let mut node_is_return = vec![false; events.len() + 1];
    let mut node_pos = vec![0u64; events.len() + 1];
    let mut call_node = vec![NIL; n_ops];
    let mut return_node = vec![NIL; n_ops];
    for (i, &(pos, op, ret)) in events.iter().enumerate() {
        let node = i as u32 + 1;
        node_op[node as usize] = op;
        node_is_return[node as usize] = ret;
        node_pos[node as usize] = pos;
        if ret {
            return_node[op as usize] = node;
        } else {
            call_node[op as usize] = node;
        }
    }
    let mut main = Links::chain(events.len());
    // Info list, by call time.
    let mut info_node = vec![NIL; n_ops];
    let mut info_node_op = vec![0u32; info_ops.len() + 1];
    let mut info_node_pos = vec![0u64; info_ops.len() + 1];
    for (i, &op) in info_ops.iter().enumerate() {
        info_node[op as usize] = i as u32 + 1;
        info_node_op[i + 1] = op;
        info_node_pos[i + 1] = problem.call_pos[op as usize];
    }
    let mut info = Links::chain(info_ops.len());
    // For each indeterminate op, the previous one (by call) with an equal
    // input; for each completed op, the previous one by return.
    let mut same_before = vec![u32::MAX; n_ops];
    {
        let mut last: FxHashMap<&M::Input, u32> = FxHashMap::default();
        for &op in &info_ops {
            if let Some(prev) = last.insert(&problem.inputs[op as usize], op) {
                same_before[op as usize] = prev;
            }
        }
        last.clear();
        for &(_, op, _) in events.iter().filter(|e| e.2) {
            if let Some(prev) = last.insert(&problem.inputs[op as usize], op) {
                same_before[op as usize] = prev;
            }
        }
    }
    let mut done = vec![false; n_ops];
    let keys: Vec<u128> = (0..n_ops as u32).map(zobrist).collect();

    let n_ok = ok_ops.len();
    let mut stats = Stats::default();
    if n_ok == 0 {
        return (Outcome::Valid, stats);
    }

    let model = &mut problem.model;
    let inputs = &problem.inputs;
    let mut state = model.init();
    let mut linearized: u128 = 0;
    let mut ok_done = 0usize;
    let mut stack: Vec<Frame<M::State>> = Vec::new();
    // Cut points: the counts of completed ops returned when none is open.
    let mut cut_counts = Vec::new();
    let (mut open, mut returned) = (0usize, 0usize);
    for &(_, _, ret) in &events {
        if ret {
            open -= 1;
            returned += 1;
            if open == 0 {
                cut_counts.push(returned);
            }
        } else {
            open += 1;
        }
    }
    let mut memo = StretchMemo::new(&cut_counts, n_ok);
    // The problem and the per-op tables above (events, links, keys): about
    // 128 bytes an op besides its input.
    let tables = (n_ops * (128 + std::mem::size_of::<M::Input>())) as u64;
    let mut reported_bytes = 0u64;
    // The deepest dead end so far, kept incrementally: `best[..stable]`
    // still equals the bottom of the stack.
    let mut best: Vec<u32> = Vec::new();
    let mut best_state = state;
    let mut best_blocked = u32::MAX;
    let mut stable = 0usize;
    let mut blocked = u32::MAX;
    let mut steps = 0u64;
    let pure: Vec<bool> = inputs.iter().map(|i| model.is_pure(i)).collect();
    let mut cursor = first_cursor(
        &main,
        &node_op,
        &node_is_return,
        &pure,
        model,
        inputs,
        state,
    );

    let outcome = loop {
        steps += 1;
        if steps & 1023 == 0 {
            let bytes = memo.bytes()
                + (stack.capacity() * std::mem::size_of::<Frame<M::State>>()) as u64
                + (best.capacity() * 4) as u64
                + tables;
            let total = if bytes >= reported_bytes {
                budget
                    .memory_used
                    .fetch_add(bytes - reported_bytes, Ordering::Relaxed)
                    + (bytes - reported_bytes)
            } else {
                budget
                    .memory_used
                    .fetch_sub(reported_bytes - bytes, Ordering::Relaxed)
                    - (reported_bytes - bytes)
            };
            reported_bytes = bytes;
            if budget.stop.load(Ordering::Relaxed) {
                break Outcome::Unknown(StopReason::Cancelled);
            }
            if total > budget.memory_limit {
                break Outcome::Unknown(StopReason::Memory);
            }
            if budget.deadline.is_some_and(|d| Instant::now() >= d) {
                break Outcome::Unknown(StopReason::Timeout);
            }
        }
        // The op to try at the cursor, if any.
        let candidate = match cursor {
            Cursor::Forced(node) => Some((node_op[node as usize], u64::MAX)),
            Cursor::Main(node) if node != NIL && !node_is_return[node as usize] => {
                let op = node_op[node as usize];
                // Of two candidates with equal inputs, the one that returns
                // first goes first: swapping them in any linearization
                // keeps every state and every real-time order.
                let twin = same_before[op as usize];
                if twin != u32::MAX && !done[twin as usize] && call_node[twin as usize] < node {
                    cursor = Cursor::Main(main.next[node as usize]);
                    continue;
                }
                Some((op, u64::MAX))
            }
            Cursor::Main(node) => {
                // A return: its op must come before anything later. Try the
                // indeterminate ops called before it.
                let bound = if node == NIL {
                    u64::MAX
                } else {
                    blocked = node_op[node as usize];
                    node_pos[node as usize]
                };
                cursor = Cursor::Info(info.first(), bound);
                continue;
            }
            Cursor::Info(node, bound) if node != NIL && info_node_pos[node as usize] < bound => {
                let op = info_node_op[node as usize];
                let twin = same_before[op as usize];
                if twin != u32::MAX && !done[twin as usize] {
                    cursor = Cursor::Info(info.next[node as usize], bound);
                    continue;
                }
                Some((op, bound))
            }
            Cursor::Info(..) => None,
        };
        match candidate {
            Some((op, bound)) => {
                let lifted = match model.step(state, &inputs[op as usize]) {
                    Some(next) => {
                        let key = (linearized ^ keys[op as usize], next);
                        let done_after = ok_done + usize::from(bound == u64::MAX);
                        let grown = memo.growth(done_after);
                        if grown > 0 {
                            // A table is about to double: past `memo_keep`,
                            // first free the stretches behind; refuse to grow
                            // if that would still break the limit.
                            let mut used = budget.memory_used.load(Ordering::Relaxed);
                            let held = memo.bytes();
                            if held + grown > budget.memo_keep && memo.free_before(done_after) {
                                let freed = (held - memo.bytes()).min(reported_bytes);
                                used =
                                    budget.memory_used.fetch_sub(freed, Ordering::Relaxed) - freed;
                                reported_bytes -= freed;
                            }
                            if used + grown > budget.memory_limit {
                                break Outcome::Unknown(StopReason::Memory);
                            }
                        }
                        memo.insert(done_after, key).then_some(next)
                    }
                    None => None,
                };
                if let Some(next) = lifted {
                    let forced = matches!(cursor, Cursor::Forced(_));
                    stack.push(Frame {
                        op,
                        state,
                        bound,
                        forced,
                    });
                    state = next;
                    linearized ^= keys[op as usize];
                    done[op as usize] = true;
                    if bound == u64::MAX {
                        main.unlink(call_node[op as usize]);
                        main.unlink(return_node[op as usize]);
                        ok_done += 1;
                        if ok_done == n_ok {
                            break Outcome::Valid;
                        }
                    } else {
                        info.unlink(info_node[op as usize]);
                    }
                    stats.max_depth = stats.max_depth.max(stack.len() as u64);
                    cursor = first_cursor(
                        &main,
                        &node_op,
                        &node_is_return,
                        &pure,
                        model,
                        inputs,
                        state,
                    );
                } else {
                    cursor = match cursor {
                        // Explored before: so is everything from here.
                        Cursor::Forced(_) => Cursor::Info(NIL, 0),
                        Cursor::Main(node) => Cursor::Main(main.next[node as usize]),
                        Cursor::Info(node, bound) => Cursor::Info(info.next[node as usize], bound),
                    };
                }
            }
            None => {
                // Dead end: nothing more to try here. Backtrack.
                if stack.len() > best.len() || best_blocked == u32::MAX {
                    best.truncate(stable);
                    best.extend(stack[stable..].iter().map(|f| f.op));
                    stable = stack.len();
                    best_state = state;
                    best_blocked = blocked;
                }
                let Some(frame) = stack.pop() else {
                    break Outcome::Invalid {
                        prefix: std::mem::take(&mut best),
                        state: best_state,
                        blocked: best_blocked,
                    };
                };
                stable = stable.min(stack.len());
                state = frame.state;
                linearized ^= keys[frame.op as usize];
                let op = frame.op as usize;
                done[op] = false;
                cursor = if frame.bound == u64::MAX {
                    main.relink(return_node[op]);
                    main.relink(call_node[op]);
                    ok_done -= 1;
                    if frame.forced {
                        Cursor::Info(NIL, 0)
                    } else {
                        Cursor::Main(main.next[call_node[op] as usize])
                    }
                } else {
                    info.relink(info_node[op]);
                    Cursor::Info(info.next[info_node[op] as usize], frame.bound)
                };
            }
        }
    };
    budget
        .memory_used
        .fetch_sub(reported_bytes, Ordering::Relaxed);
    stats.states = memo.inserted;
    (outcome, stats)
}

/// Where the search starts at a new configuration: at a pure op among the
/// candidates that applies in `state`, if any, and at the first candidate
/// otherwise. A pure op that applies is placed at once and alone: any
/// linearization that places it later can move it up here (every op that
/// must precede it has, being a candidate, and it changes no state).
fn first_cursor<M: Model>(
    main: &Links,
    node_op: &[u32],
    node_is_return: &[bool],
    pure: &[bool],
    model: &mut M,
    inputs: &[M::Input],
    state: M::State,
) -> Cursor {
    let mut node = main.first();
    while node != NIL && !node_is_return[node as usize] {
        let op = node_op[node as usize] as usize;
        if pure[op] && model.step(state, &inputs[op]) == Some(state) {
            return Cursor::Forced(node);
        }
        node = main.next[node as usize];
    }
    Cursor::Main(main.first())
}
