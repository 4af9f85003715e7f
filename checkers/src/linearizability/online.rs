//! Linearizability checked while the history grows, so a run can show (or
//! stop at) its first anomaly as soon as it happens.
//!
//! The exact frontier search ([`frontier`](super::frontier)) walks a part's
//! events once, in time order, and keeps every configuration the part can be
//! in. That walk is what an online check needs: [`Online`] feeds it one op
//! at a time. The only thing it must wait for is an op's completion: placing
//! an open op needs its result (a read's value), so a part's events are
//! walked up to its horizon, the invocation of its oldest op still running.
//! Up to there every op's fate is known (`fail` ops are dropped, `info` ops
//! become crashed ops, usable once from their call on). In a run an op runs
//! at most the op timeout, so the check lags the history by about that.
//!
//! Sound by construction: what it walks is a prefix of the history, cut at a
//! point where every op invoked before is complete, and linearizability is
//! prefix-closed; so an anomaly found here is one the final check finds
//! (`checkers/tests/linearizability_props.rs` compares them with a
//! brute-force oracle). A part it cannot follow
//! (more than 64 ops open at once, a frontier past its cap, an op the model
//! cannot read) is left to the final check, never guessed.

use super::frontier::{count_of, rebase, with_one_more, Antichains, Used};
use super::parts::op_words;
use crate::history::{Op, OpType, Process};
use crate::models::{
    AppendRegister, Call, CasRegister, Encoded, FifoQueue, Model, ModelConfig, ModelKind, Mutex,
};
use rustc_hash::FxHashMap;
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

/// The most completed ops open at one moment a part can have.
const MAX_OPEN: usize = 64;
/// Configurations a part may keep; past this it is left to the final check
/// (bounds the online check's memory: a few MB a part at most).
const MAX_CONFIGS: usize = 20_000;
/// Configurations expanded at one return before the part is left to the
/// final check (bounds the CPU one op can cost).
const MAX_EXPANDED: u64 = 200_000;
/// Time one return may take, and a part in all, before the part is left to
/// the final check. The configuration caps alone do not bound it: a frontier
/// of many incomparable crashed-op choices costs a scan of them per insert,
/// and a paxos-register history took seconds per op under the caps.
const MAX_RETURN_TIME: Duration = Duration::from_millis(100);
const MAX_PART_TIME: Duration = Duration::from_secs(3);

/// An anomaly found while the history grew.
#[derive(Clone, Debug, PartialEq)]
pub struct OnlineAnomaly {
    /// The part's key (`None` for a one-object model).
    pub key: Option<String>,
    /// Invocation index of the op that cannot be placed.
    pub op: u64,
    /// Index of its completion.
    pub completion: u64,
    /// When it completed, in nanoseconds since the history's start.
    pub time_ns: u64,
    /// The op in words (`read -> 3`).
    pub what: String,
}

/// Checks a growing history: [`Online::push`] each op in index order.
pub struct Online {
    make: Box<dyn Fn() -> Box<dyn Stream> + Send>,
    keyed: bool,
    parts: FxHashMap<Option<String>, usize>,
    streams: Vec<Box<dyn Stream>>,
    /// Each running op: its part and its sequence number there.
    running: FxHashMap<Process, (usize, u64)>,
    /// Parts left to the final check, with why.
    pub gave_up: Vec<(Option<String>, String)>,
}

impl Online {
    /// An online check of `model` (split per key for a map of independent
    /// keys, as the final check does). `Err` for an initial state the model
    /// cannot take.
    pub fn new(
        model: ModelKind,
        initial: Option<&Value>,
        config: ModelConfig,
    ) -> Result<Online, String> {
        let init = initial.filter(|v| !v.is_null()).cloned();
        let keyed = matches!(model, ModelKind::Kv | ModelKind::AppendRegister);
        fn boxed<M: Model + 'static>(m: M) -> Box<dyn Stream> {
            Box::new(Part::new(m))
        }
        let make: Box<dyn Fn() -> Result<Box<dyn Stream>, String> + Send> = match model {
            ModelKind::Register => {
                Box::new(move || Ok(boxed(CasRegister::plain(init.as_ref(), config.clone()))))
            }
            ModelKind::CasRegister | ModelKind::Kv => {
                Box::new(move || Ok(boxed(CasRegister::new(init.as_ref(), config.clone()))))
            }
            ModelKind::AppendRegister => {
                Box::new(move || Ok(boxed(AppendRegister::new(init.as_ref(), config.clone())?)))
            }
            ModelKind::Mutex => Box::new(move || Ok(boxed(Mutex::new(init.as_ref())?))),
            ModelKind::FifoQueue => Box::new(move || Ok(boxed(FifoQueue::new(init.as_ref())?))),
        };
        make()?;
        Ok(Online {
            make: Box::new(move || make().expect("the model was built once")),
            keyed,
            parts: FxHashMap::default(),
            streams: Vec::new(),
            running: FxHashMap::default(),
            gave_up: Vec::new(),
        })
    }

    /// Takes the next op of the history (ops must come in index order);
    /// returns an anomaly it completes, once per part.
    pub fn push(&mut self, op: &Op) -> Option<OnlineAnomaly> {
        if op.is_nemesis() {
            return None;
        }
        if op.kind == OpType::Invoke {
            let key = if self.keyed { op.key.clone() } else { None };
            let part = match self.parts.get(&key) {
                Some(&p) => p,
                None => {
                    if !self.keyed && !self.streams.is_empty() {
                        // One object, yet a second part: the final check
                        // refuses such a history; so does this one.
                        return None;
                    }
                    self.streams.push((self.make)());
                    self.parts.insert(key, self.streams.len() - 1);
                    self.streams.len() - 1
                }
            };
            let seq = self.streams[part].invoke(op);
            self.running.insert(op.process, (part, seq));
            if !self.keyed {
                if let (Some(k), Some(first)) = (&op.key, self.streams[part].key()) {
                    if k != first {
                        self.give_up(part, format!("a second key {k:?}"));
                    }
                }
            }
            return None;
        }
        let (part, seq) = self.running.remove(&op.process)?;
        let stream = &mut self.streams[part];
        if stream.dead() {
            return None;
        }
        match stream.complete(seq, op) {
            Ok(found) => found,
            Err(why) => {
                self.give_up(part, why);
                None
            }
        }
    }

    fn give_up(&mut self, part: usize, why: String) {
        let s = &mut self.streams[part];
        if !s.dead() {
            self.gave_up.push((s.key().cloned(), why));
            s.kill();
        }
    }

    /// How many parts (keys) it follows, and how many of them it gave up.
    pub fn parts(&self) -> (usize, usize) {
        (self.streams.len(), self.gave_up.len())
    }
}

/// A part, whatever its model.
trait Stream: Send {
    fn invoke(&mut self, op: &Op) -> u64;
    /// Records a completion and walks the part as far as it can.
    fn complete(&mut self, seq: u64, op: &Op) -> Result<Option<OnlineAnomaly>, String>;
    fn key(&self) -> Option<&String>;
    fn dead(&self) -> bool;
    fn kill(&mut self);
}

/// An op invoked and not walked yet.
struct Pending {
    index: u64,
    f: String,
    key: Option<String>,
    input: Value,
    /// (type, value, index, time) once it completed.
    completion: Option<(OpType, Value, u64, u64)>,
}

/// A return event still to walk: (completion index, slot, invoke index,
/// completion time, op in words); the earliest completion first.
type Return = (u64, u8, u64, u64, String);

/// A completed op placed in a slot, waiting for its return event.
struct Open<I> {
    input: I,
    blind: bool,
}

/// One part's walk: the frontier search of `frontier.rs`, one event at a
/// time, with crashed ops used at most once (exact).
struct Part<M: Model> {
    model: M,
    key: Option<String>,
    /// Invoked ops from `first_seq` on, in invocation order.
    pending: VecDeque<Pending>,
    first_seq: u64,
    returns: BinaryHeap<Reverse<Return>>,
    configs: Antichains<M::State, ()>,
    slots: Vec<Option<Open<M::Input>>>,
    free: Vec<u8>,
    open_mask: u64,
    class_of: FxHashMap<M::Input, u32>,
    classes: Vec<(M::Input, bool)>,
    called: Vec<u32>,
    baseline: Vec<u32>,
    /// Time spent walking returns so far.
    spent: Duration,
    dead: bool,
}

impl<M: Model> Part<M> {
    fn new(mut model: M) -> Self {
        // A model may merge states no later call can tell apart, judging
        // from every call it was shown; here later calls are not known yet.
        model.for_evidence();
        let mut configs = Antichains::new();
        configs.insert(model.init(), 0, Used::default(), ());
        Part {
            model,
            key: None,
            pending: VecDeque::new(),
            first_seq: 0,
            returns: BinaryHeap::new(),
            configs,
            slots: (0..MAX_OPEN).map(|_| None).collect(),
            free: (0..MAX_OPEN as u8).rev().collect(),
            open_mask: 0,
            class_of: FxHashMap::default(),
            classes: Vec::new(),
            called: Vec::new(),
            baseline: Vec::new(),
            spent: Duration::ZERO,
            dead: false,
        }
    }

    /// Walks every event before the horizon. `Err` when the part cannot be
    /// followed.
    fn walk(&mut self) -> Result<Option<OnlineAnomaly>, String> {
        loop {
            let next_call = self
                .pending
                .front()
                .map(|p| (p.index, p.completion.is_some()));
            let next_return = self.returns.peek().map(|r| r.0 .0);
            match (next_call, next_return) {
                (Some((call, _)), Some(ret)) if ret < call => {
                    if let Some(found) = self.on_return()? {
                        return Ok(Some(found));
                    }
                }
                (None, Some(_)) => {
                    if let Some(found) = self.on_return()? {
                        return Ok(Some(found));
                    }
                }
                (Some((_, true)), _) => self.on_call()?,
                // The oldest op still runs (the horizon), or nothing is left.
                _ => return Ok(None),
            }
        }
    }

    fn on_call(&mut self) -> Result<(), String> {
        let p = self.pending.pop_front().expect("a call to walk");
        self.first_seq += 1;
        let (kind, value, c_index, c_time) = p.completion.expect("completed");
        let ok = kind == OpType::Ok;
        if kind == OpType::Fail {
            return Ok(());
        }
        let call = Call {
            index: p.index,
            f: &p.f,
            key: p.key.as_deref(),
            input: &p.input,
            output: ok.then_some(&value),
        };
        let Encoded::Input(input) = self.model.encode(&call)? else {
            return Ok(());
        };
        let blind = self.model.is_blind(&input);
        if ok {
            let what = op_words(&call);
            let slot = self
                .free
                .pop()
                .ok_or_else(|| format!("more than {MAX_OPEN} ops open at once"))?;
            self.slots[slot as usize] = Some(Open { input, blind });
            self.open_mask |= 1 << slot;
            self.returns
                .push(Reverse((c_index, slot, p.index, c_time, what)));
        } else {
            let next = self.classes.len() as u32;
            let class = *self.class_of.entry(input.clone()).or_insert(next);
            if class == next {
                self.classes.push((input, blind));
                self.called.push(0);
                self.baseline.push(0);
            }
            self.called[class as usize] += 1;
        }
        Ok(())
    }

    /// The return of the earliest completed op: every configuration must
    /// place it (after any open or crashed ops), else it is an anomaly.
    fn on_return(&mut self) -> Result<Option<OnlineAnomaly>, String> {
        let Reverse((completion, slot, op, time_ns, what)) =
            self.returns.pop().expect("a return to walk");
        let bit = 1u64 << slot;
        let o = self.slots[slot as usize].take().expect("an open op");
        let mut next: Antichains<M::State, ()> = Antichains::new();
        let mut seen: Antichains<M::State, ()> = Antichains::new();
        let mut stack: Vec<(M::State, u64, Used, bool)> = Vec::new();
        for (state, lin, used, _) in self.configs.iter() {
            if lin & bit != 0 {
                next.insert(state, lin & !bit, used.clone(), ());
            } else if seen.insert(state, lin, used.clone(), ()) {
                stack.push((state, lin, used.clone(), false));
            }
        }
        let mut expanded = 0u64;
        let started = Instant::now();
        while let Some((state, lin, used, after_crashed)) = stack.pop() {
            expanded += 1;
            if expanded > MAX_EXPANDED || next.len > MAX_CONFIGS {
                return Err(format!(
                    "its frontier passed {MAX_CONFIGS} configurations at op {op}"
                ));
            }
            if expanded.is_multiple_of(256) {
                let took = started.elapsed();
                if took > MAX_RETURN_TIME || self.spent + took > MAX_PART_TIME {
                    return Err(format!(
                        "placing op {op} took over {} ms ({expanded} configurations expanded; {:.1} s on this part in all)",
                        MAX_RETURN_TIME.as_millis(),
                        (self.spent + took).as_secs_f64()
                    ));
                }
            }
            if !(after_crashed && o.blind) {
                if let Some(s) = self.model.step(state, &o.input) {
                    next.insert(s, lin, used.clone(), ());
                }
            }
            let mut waiting = self.open_mask & !lin & !bit;
            while waiting != 0 {
                let s_slot = waiting.trailing_zeros() as usize;
                waiting &= waiting - 1;
                let p = self.slots[s_slot].as_ref().expect("an open slot");
                if after_crashed && p.blind {
                    continue;
                }
                if let Some(s) = self.model.step(state, &p.input) {
                    let lin2 = lin | 1 << s_slot;
                    if seen.insert(s, lin2, used.clone(), ()) {
                        stack.push((s, lin2, used.clone(), false));
                    }
                }
            }
            for (c, (input, blind)) in self.classes.iter().enumerate() {
                let n = count_of(&used, c as u32);
                if self.baseline[c] + n >= self.called[c] || (after_crashed && *blind) {
                    continue;
                }
                let Some(s) = self.model.step(state, input) else {
                    continue;
                };
                if s == state {
                    continue;
                }
                let used2 = with_one_more(&used, c as u32);
                if seen.insert(s, lin, used2.clone(), ()) {
                    stack.push((s, lin, used2, true));
                }
            }
        }
        self.spent += started.elapsed();
        self.free.push(slot);
        self.open_mask &= !bit;
        if next.len == 0 {
            self.dead = true;
            return Ok(Some(OnlineAnomaly {
                key: self.key.clone(),
                op,
                completion,
                time_ns,
                what,
            }));
        }
        rebase(&mut next, &mut self.baseline);
        self.configs = next;
        Ok(None)
    }
}

impl<M: Model> Stream for Part<M> {
    fn invoke(&mut self, op: &Op) -> u64 {
        if self.key.is_none() {
            self.key = op.key.clone();
        }
        if self.dead {
            return u64::MAX;
        }
        self.pending.push_back(Pending {
            index: op.index,
            f: op.f.clone(),
            key: op.key.clone(),
            input: op.value.clone(),
            completion: None,
        });
        self.first_seq + self.pending.len() as u64 - 1
    }

    fn complete(&mut self, seq: u64, op: &Op) -> Result<Option<OnlineAnomaly>, String> {
        let Some(p) = seq
            .checked_sub(self.first_seq)
            .and_then(|i| self.pending.get_mut(i as usize))
        else {
            return Ok(None);
        };
        if p.f != op.f {
            return Err(format!(
                "op {}: completes {} but invoked {}",
                op.index, op.f, p.f
            ));
        }
        p.completion = Some((op.kind, op.value.clone(), op.index, op.time));
        if p.key.is_none() {
            p.key = op.key.clone();
        }
        self.walk()
    }

    fn key(&self) -> Option<&String> {
        self.key.as_ref()
    }

    fn dead(&self) -> bool {
        self.dead
    }

    fn kill(&mut self) {
        self.dead = true;
        self.pending.clear();
        self.returns.clear();
        self.configs = Antichains::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::History;
    use serde_json::json;

    fn op(index: u64, kind: OpType, p: u64, f: &str, value: Value) -> Op {
        Op {
            index,
            time: index * 1000,
            kind,
            process: Process::Client(p),
            f: f.into(),
            key: Some("r".into()),
            value,
            error: None,
            node: None,
        }
    }

    fn run(ops: &[Op]) -> Option<OnlineAnomaly> {
        let mut online = Online::new(ModelKind::CasRegister, None, ModelConfig::default()).unwrap();
        ops.iter().find_map(|o| online.push(o))
    }

    #[test]
    fn a_stale_read_is_found_at_its_completion() {
        use OpType::*;
        let h = [
            op(0, Invoke, 0, "write", json!(1)),
            op(1, Ok, 0, "write", json!(1)),
            op(2, Invoke, 1, "read", Value::Null),
            op(3, Ok, 1, "read", json!(1)),
            op(4, Invoke, 0, "write", json!(2)),
            op(5, Ok, 0, "write", json!(2)),
            op(6, Invoke, 1, "read", Value::Null),
            op(7, Ok, 1, "read", json!(1)),
        ];
        let found = run(&h).expect("found");
        assert_eq!((found.op, found.completion), (6, 7));
        assert_eq!(found.what, "read -> 1");
        assert_eq!(found.time_ns, 7000);
    }

    #[test]
    fn the_walk_waits_for_ops_still_running() {
        use OpType::*;
        // The write of 2 is still running when the read returns 2: it may
        // have taken effect, so nothing is reported until it is known.
        let h = [
            op(0, Invoke, 0, "write", json!(2)),
            op(1, Invoke, 1, "read", Value::Null),
            op(2, Ok, 1, "read", json!(2)),
        ];
        assert_eq!(run(&h), None);
        // It failed: it never happened, so the read is an anomaly.
        let mut failed = h.to_vec();
        failed.push(op(3, Fail, 0, "write", json!(2)));
        assert_eq!(run(&failed).map(|a| a.op), Some(1));
        // It crashed: it may have happened.
        let mut crashed = h.to_vec();
        crashed.push(op(3, Info, 0, "write", json!(2)));
        assert_eq!(run(&crashed), None);
    }

    #[test]
    fn a_crashed_write_takes_effect_at_most_once() {
        use OpType::*;
        let h = [
            op(0, Invoke, 9, "write", json!(1)),
            op(1, Info, 9, "write", json!(1)),
            op(2, Invoke, 0, "read", Value::Null),
            op(3, Ok, 0, "read", json!(1)),
            op(4, Invoke, 0, "write", json!(2)),
            op(5, Ok, 0, "write", json!(2)),
            op(6, Invoke, 0, "read", Value::Null),
            op(7, Ok, 0, "read", json!(1)),
        ];
        assert_eq!(run(&h).map(|a| a.op), Some(6));
        let final_check = crate::linearizability::check(
            &History::new(h.to_vec()),
            ModelKind::CasRegister,
            None,
            &Default::default(),
        )
        .unwrap();
        assert_eq!(final_check.verdict, crate::Verdict::Invalid);
    }
}
