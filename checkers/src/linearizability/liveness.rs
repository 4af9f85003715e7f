//! Which register values an op left can still observe, for the frontier
//! search: two rules that merge configurations no later op tells apart.
//!
//! On a register a value is observed by a read of it or a cas expecting
//! it. In a configuration, a value is *dead* once every op observing it
//! has been placed: those that returned are placed in every configuration,
//! those still open are in its set of placed ops, and none is still to be
//! called.
//!
//! - dead states: no op left tells two dead values apart (each applies in
//!   a state of one exactly when it applies in the other, and leads to the
//!   same state or to a dead one again), so a dead state is replaced by
//!   one dead representative: the first state found dead in every
//!   configuration (all its observers returned), so dead wherever it
//!   stands in.
//! - placed writes only help: take an open write of `v` where every op
//!   observing `v` is a completed read (no cas expects `v`). Once the write
//!   and all those reads are placed, a configuration can do all that the
//!   same one without them can: in any way to go on from the latter, the
//!   write is followed by reads of `v` and then a blind write (nothing
//!   else applies while the register holds `v`) or nothing, so leaving out
//!   the write and the reads of `v` (which change nothing wherever they
//!   stand) leaves every state after them as it was. Such a *group* of ops
//!   is kept apart from the rest of the placed set ([`Liveness::split`]),
//!   and the configurations compare by it as by a subset.
//!
//! With unique values (every write its own value) most values die as soon
//! as their reads are placed: without these rules the configurations
//! multiply with every order of the writes nobody reads any more.

use super::frontier::{Antichains, Used, MAX_OPEN};
use super::register_rules::value_count;
use super::search::Problem;
use crate::models::{Model, RegisterInput};

/// Which values are dead, as the frontier search walks the events. For a
/// model that is not a register it knows nothing and changes nothing.
pub(super) struct Liveness<S> {
    /// Per value: observers not called yet.
    uncalled: Vec<u32>,
    /// Per value: the slots of its open observers.
    open: Vec<u64>,
    /// Per value: a crashed op observes it (and may take effect any time
    /// later), so it never dies.
    immortal: Vec<bool>,
    /// Per op: the value it observes (`NONE`: none).
    observes: Vec<u32>,
    /// Per op: the value it writes when it heads a group (`NONE`: not).
    heads: Vec<u32>,
    /// Open group heads: their slots, and the value of each.
    open_heads: u64,
    head_value: [u32; MAX_OPEN],
    representative: Option<S>,
}

const NONE: u32 = u32::MAX;

impl<S: Copy> Liveness<S> {
    pub(super) fn new<M: Model<State = S>>(problem: &mut Problem<M>) -> Self {
        let mut live = Liveness {
            uncalled: Vec::new(),
            open: Vec::new(),
            immortal: Vec::new(),
            observes: Vec::new(),
            heads: Vec::new(),
            open_heads: 0,
            head_value: [NONE; MAX_OPEN],
            representative: None,
        };
        let init = problem.model.init();
        let init = problem.model.register_value(init);
        let (Some(ops), Some(init)) = (problem.model.as_registers(&mut problem.inputs), init)
        else {
            return live;
        };
        live.observes = ops
            .iter()
            .map(|op| match *op {
                RegisterInput::Read(v) | RegisterInput::Cas(v, _) => v,
                RegisterInput::Write(_) => NONE,
            })
            .collect();
        let values = value_count(ops, init);
        live.uncalled = vec![0; values];
        live.open = vec![0; values];
        live.immortal = vec![false; values];
        // Per value: whether a cas expects it (so not only reads observe it).
        let mut expected = vec![false; values];
        for (op, &v) in live.observes.iter().enumerate() {
            if v != NONE {
                live.uncalled[v as usize] += 1;
                // Of the ops that observe, only a cas can be crashed here: a
                // read that did not complete is left out of the problem.
                live.immortal[v as usize] |= problem.return_pos[op].is_none();
                expected[v as usize] |= matches!(ops[op], RegisterInput::Cas(..));
            }
        }
        live.heads = ops
            .iter()
            .enumerate()
            .map(|(op, input)| match *input {
                RegisterInput::Write(v)
                    if problem.return_pos[op].is_some() && !expected[v as usize] =>
                {
                    v
                }
                _ => NONE,
            })
            .collect();
        live
    }

    /// Bytes of the tables, for the memory budget.
    pub(super) fn bytes(&self) -> u64 {
        (self.uncalled.len() * (4 + 8 + 1) + self.observes.len() * 8) as u64
    }

    /// A completed op is called, in `slot`.
    pub(super) fn called(&mut self, op: u32, slot: u8) {
        if let Some(v) = self.value_observed(op) {
            self.uncalled[v] -= 1;
            self.open[v] |= 1 << slot;
        }
        if let Some(&v) = self.heads.get(op as usize).filter(|&&v| v != NONE) {
            self.open_heads |= 1 << slot;
            self.head_value[slot as usize] = v;
        }
    }

    /// A crashed op is called.
    pub(super) fn called_crashed(&mut self, op: u32) {
        if let Some(v) = self.value_observed(op) {
            self.uncalled[v] -= 1;
        }
    }

    /// A completed op returned (placed in every configuration), from
    /// `slot`. Whether it observed a value: only then may more states be
    /// dead, or more groups whole, than when the configurations were split.
    pub(super) fn returned(&mut self, op: u32, slot: u8) -> bool {
        self.open_heads &= !(1 << slot);
        let Some(v) = self.value_observed(op) else {
            return false;
        };
        self.open[v] &= !(1 << slot);
        true
    }

    fn value_observed(&self, op: u32) -> Option<usize> {
        let v = *self.observes.get(op as usize)?;
        (v != NONE).then_some(v as usize)
    }

    /// Whether `v` is dead in a configuration with the open ops of
    /// `placed` placed.
    fn is_dead(&self, v: u32, placed: u64) -> bool {
        let v = v as usize;
        !self.immortal[v] && self.uncalled[v] == 0 && self.open[v] & !placed == 0
    }

    /// `state` in a configuration with the open ops of `placed` placed, or
    /// the dead representative when it is dead there.
    pub(super) fn canonical<M: Model<State = S>>(&mut self, model: &M, state: S, placed: u64) -> S {
        let Some(v) = model.register_value(state) else {
            return state;
        };
        if !self.is_dead(v, placed) {
            return state;
        }
        match self.representative {
            Some(rep) => rep,
            None => {
                if self.is_dead(v, 0) {
                    self.representative = Some(state);
                }
                state
            }
        }
    }

    /// `placed` as (the rest, the groups placed whole), see the module's
    /// doc: a configuration that placed more groups whole, all else equal,
    /// can do all the other can.
    pub(super) fn split(&self, placed: u64) -> (u64, u64) {
        let mut groups = 0u64;
        let mut heads = placed & self.open_heads;
        while heads != 0 {
            let slot = heads.trailing_zeros() as usize;
            heads &= heads - 1;
            let v = self.head_value[slot] as usize;
            if self.uncalled[v] == 0 && self.open[v] & !placed == 0 {
                groups |= 1 << slot | self.open[v];
            }
        }
        (placed & !groups, groups)
    }

    /// Adds a configuration to `configs`, its state made canonical and its
    /// placed ops split.
    pub(super) fn add<M: Model<State = S>, T>(
        &mut self,
        model: &M,
        configs: &mut Antichains<S, T>,
        state: S,
        placed: u64,
        used: Used,
        path: T,
    ) -> bool
    where
        S: Eq + std::hash::Hash,
    {
        let state = self.canonical(model, state, placed);
        let (rest, groups) = self.split(placed);
        configs.insert_split(state, rest, groups, used, path)
    }
}
