//! Composable op generators.
//!
//! A [`Gen`] yields the next op a worker should perform, or `None` when it has
//! nothing more to do. It may learn from the outcome of its ops (`observe`),
//! which stateful workloads such as `lock` need (the token of a grant).
//! Time limits and rate limits are applied by the controller, which owns the
//! clock; generators here are pure functions of their seeded RNG and outcomes.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use std::time::Duration;

/// One op to perform: what a history `invoke` line holds.
#[derive(Clone, Debug, PartialEq)]
pub struct OpSpec {
    pub f: String,
    pub key: Option<String>,
    pub value: Value,
}

impl OpSpec {
    pub fn new(f: &str, key: Option<&str>, value: Value) -> Self {
        OpSpec {
            f: f.to_string(),
            key: key.map(str::to_string),
            value,
        }
    }
}

/// How an op ended, as far as a generator cares.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    Ok(Value),
    Fail,
    Info,
}

/// Produces the ops of one worker.
pub trait Gen: Send {
    /// The next op, or `None` when exhausted.
    fn next(&mut self, rng: &mut ChaCha8Rng) -> Option<OpSpec>;
    /// The outcome of the op last returned by `next`.
    fn observe(&mut self, _op: &OpSpec, _outcome: &Outcome) {}
    /// How long to wait before the next op (0 by default).
    fn delay(&mut self, _rng: &mut ChaCha8Rng) -> Duration {
        Duration::ZERO
    }
}

impl<G: Gen + ?Sized> Gen for Box<G> {
    fn next(&mut self, rng: &mut ChaCha8Rng) -> Option<OpSpec> {
        (**self).next(rng)
    }
    fn observe(&mut self, op: &OpSpec, outcome: &Outcome) {
        (**self).observe(op, outcome)
    }
    fn delay(&mut self, rng: &mut ChaCha8Rng) -> Duration {
        (**self).delay(rng)
    }
}

/// A generator from a closure.
pub struct FromFn<F>(pub F);

impl<F: FnMut(&mut ChaCha8Rng) -> Option<OpSpec> + Send> Gen for FromFn<F> {
    fn next(&mut self, rng: &mut ChaCha8Rng) -> Option<OpSpec> {
        (self.0)(rng)
    }
}

/// Picks one of several generators for each op, with weights.
pub struct Mix {
    parts: Vec<(u32, Box<dyn Gen>)>,
    last: Option<usize>,
}

impl Mix {
    pub fn new(parts: Vec<(u32, Box<dyn Gen>)>) -> Self {
        assert!(
            parts.iter().any(|(w, _)| *w > 0),
            "mix needs a positive weight"
        );
        Mix { parts, last: None }
    }
}

impl Gen for Mix {
    fn next(&mut self, rng: &mut ChaCha8Rng) -> Option<OpSpec> {
        // Exhausted parts are skipped; the mix ends when all of them are.
        for _ in 0..self.parts.len().max(1) * 4 {
            let total: u32 = self.parts.iter().map(|(w, _)| *w).sum();
            if total == 0 {
                return None;
            }
            let mut pick = rng.gen_range(0..total);
            let i = self
                .parts
                .iter()
                .position(|(w, _)| {
                    if pick < *w {
                        true
                    } else {
                        pick -= *w;
                        false
                    }
                })
                .expect("pick < total");
            match self.parts[i].1.next(rng) {
                Some(op) => {
                    self.last = Some(i);
                    return Some(op);
                }
                None => self.parts[i].0 = 0,
            }
        }
        None
    }

    fn observe(&mut self, op: &OpSpec, outcome: &Outcome) {
        if let Some(i) = self.last {
            self.parts[i].1.observe(op, outcome);
        }
    }
}

/// At most `n` ops of the inner generator.
pub struct Limit<G> {
    inner: G,
    left: u64,
}

impl<G: Gen> Limit<G> {
    pub fn new(n: u64, inner: G) -> Self {
        Limit { inner, left: n }
    }
}

impl<G: Gen> Gen for Limit<G> {
    fn next(&mut self, rng: &mut ChaCha8Rng) -> Option<OpSpec> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        self.inner.next(rng)
    }
    fn observe(&mut self, op: &OpSpec, outcome: &Outcome) {
        self.inner.observe(op, outcome)
    }
    fn delay(&mut self, rng: &mut ChaCha8Rng) -> Duration {
        self.inner.delay(rng)
    }
}

/// Waits a random time in `0..2*mean` before each op (after any pause of the
/// inner generator), so workers do not move in lockstep.
pub struct Stagger<G> {
    inner: G,
    mean: Duration,
}

impl<G: Gen> Stagger<G> {
    pub fn new(mean: Duration, inner: G) -> Self {
        Stagger { inner, mean }
    }
}

impl<G: Gen> Gen for Stagger<G> {
    fn next(&mut self, rng: &mut ChaCha8Rng) -> Option<OpSpec> {
        self.inner.next(rng)
    }
    fn observe(&mut self, op: &OpSpec, outcome: &Outcome) {
        self.inner.observe(op, outcome)
    }
    /// The inner generator's own pause, plus the stagger.
    fn delay(&mut self, rng: &mut ChaCha8Rng) -> Duration {
        let own = self.inner.delay(rng);
        let max = self.mean.as_nanos() as u64 * 2;
        if max == 0 {
            return own;
        }
        own + Duration::from_nanos(rng.gen_range(0..max))
    }
}

/// Runs generators one after the other: the next phase starts when the
/// previous one is exhausted.
pub struct Phases {
    phases: Vec<Box<dyn Gen>>,
    current: usize,
}

impl Phases {
    pub fn new(phases: Vec<Box<dyn Gen>>) -> Self {
        Phases { phases, current: 0 }
    }
}

impl Gen for Phases {
    fn next(&mut self, rng: &mut ChaCha8Rng) -> Option<OpSpec> {
        while self.current < self.phases.len() {
            if let Some(op) = self.phases[self.current].next(rng) {
                return Some(op);
            }
            self.current += 1;
        }
        None
    }
    fn observe(&mut self, op: &OpSpec, outcome: &Outcome) {
        if let Some(g) = self.phases.get_mut(self.current) {
            g.observe(op, outcome)
        }
    }
    fn delay(&mut self, rng: &mut ChaCha8Rng) -> Duration {
        match self.phases.get_mut(self.current) {
            Some(g) => g.delay(rng),
            None => Duration::ZERO,
        }
    }
}

/// The keys of an independent (per-key) workload, shared by every worker's
/// generator, as in Jepsen's independent workloads: a few keys are in use at
/// a time (the slots); once a key has had `max_ops_per_key` ops it is retired
/// and its slot moves to a fresh key. However long the run, no key's
/// sub-history grows past the bound, so checking time grows with the number
/// of keys, not with their length.
pub struct KeyRotation {
    prefix: String,
    max_ops_per_key: u64,
    state: std::sync::Mutex<Slots>,
}

struct Slots {
    /// Each slot's key number and the ops handed out on it so far.
    slots: Vec<(u64, u64)>,
    /// The number the next fresh key gets.
    next_key: u64,
}

impl KeyRotation {
    /// Keys `prefix0`, `prefix1`, ...; `slots` of them in use at a time.
    pub fn new(prefix: &str, slots: u64, max_ops_per_key: u64) -> Self {
        let slots = slots.max(1);
        KeyRotation {
            prefix: prefix.to_string(),
            max_ops_per_key: max_ops_per_key.max(1),
            state: std::sync::Mutex::new(Slots {
                slots: (0..slots).map(|k| (k, 0)).collect(),
                next_key: slots,
            }),
        }
    }

    pub fn slots(&self) -> usize {
        self.state.lock().expect("key rotation").slots.len()
    }

    /// The key for one more op in `slot`, retiring the slot's key first if
    /// it has had its share.
    pub fn take(&self, slot: usize) -> String {
        let mut s = self.state.lock().expect("key rotation");
        let i = slot % s.slots.len();
        if s.slots[i].1 >= self.max_ops_per_key {
            s.slots[i] = (s.next_key, 0);
            s.next_key += 1;
        }
        s.slots[i].1 += 1;
        let key = s.slots[i].0;
        format!("{}{key}", self.prefix)
    }

    /// Every key handed out so far (and the slots' current ones), in order.
    pub fn keys(&self) -> Vec<String> {
        let next = self.state.lock().expect("key rotation").next_key;
        (0..next).map(|k| format!("{}{k}", self.prefix)).collect()
    }
}

/// Per-key independence: the inner generator's ops (written for one key)
/// go to the keys of a shared [`KeyRotation`]; the worker stays on one slot
/// for `per_visit` ops, then moves to a random one, so workers meet on the
/// same keys (concurrency per key) and spread over all of them.
pub struct Independent<G> {
    inner: G,
    keys: std::sync::Arc<KeyRotation>,
    per_visit: u64,
    done_on_slot: u64,
    slot: usize,
}

impl<G: Gen> Independent<G> {
    pub fn new(keys: std::sync::Arc<KeyRotation>, per_visit: u64, inner: G) -> Self {
        let per_visit = per_visit.max(1);
        Independent {
            inner,
            keys,
            per_visit,
            // The first op picks a slot.
            done_on_slot: per_visit,
            slot: 0,
        }
    }
}

impl<G: Gen> Gen for Independent<G> {
    fn next(&mut self, rng: &mut ChaCha8Rng) -> Option<OpSpec> {
        if self.done_on_slot >= self.per_visit {
            self.slot = rng.gen_range(0..self.keys.slots());
            self.done_on_slot = 0;
        }
        self.done_on_slot += 1;
        let mut op = self.inner.next(rng)?;
        op.key = Some(self.keys.take(self.slot));
        Some(op)
    }
    fn observe(&mut self, op: &OpSpec, outcome: &Outcome) {
        self.inner.observe(op, outcome)
    }
    fn delay(&mut self, rng: &mut ChaCha8Rng) -> Duration {
        self.inner.delay(rng)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use serde_json::json;

    fn constant(f: &'static str) -> Box<dyn Gen> {
        Box::new(FromFn(move |_: &mut ChaCha8Rng| {
            Some(OpSpec::new(f, None, Value::Null))
        }))
    }

    fn take(g: &mut dyn Gen, seed: u64, n: usize) -> Vec<OpSpec> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        std::iter::from_fn(|| g.next(&mut rng)).take(n).collect()
    }

    #[test]
    fn mix_respects_weights_and_seed() {
        let mut a = Mix::new(vec![(3, constant("read")), (1, constant("write"))]);
        let ops = take(&mut a, 7, 4000);
        let reads = ops.iter().filter(|o| o.f == "read").count();
        assert!((2700..3300).contains(&reads), "reads {reads}");
        let mut b = Mix::new(vec![(3, constant("read")), (1, constant("write"))]);
        assert_eq!(ops, take(&mut b, 7, 4000), "same seed, same ops");
        let mut c = Mix::new(vec![(3, constant("read")), (1, constant("write"))]);
        assert_ne!(ops, take(&mut c, 8, 4000), "other seed, other ops");
    }

    #[test]
    fn limit_and_phases() {
        let mut g = Phases::new(vec![
            Box::new(Limit::new(
                2,
                FromFn(|_: &mut ChaCha8Rng| Some(OpSpec::new("a", None, json!(1)))),
            )),
            Box::new(Limit::new(
                1,
                FromFn(|_: &mut ChaCha8Rng| Some(OpSpec::new("b", None, json!(2)))),
            )),
        ]);
        let fs: Vec<String> = take(&mut g, 1, 10).into_iter().map(|o| o.f).collect();
        assert_eq!(fs, ["a", "a", "b"]);
    }

    #[test]
    fn mix_ends_when_parts_are_exhausted() {
        let mut g = Mix::new(vec![
            (
                1,
                Box::new(Limit::new(
                    3,
                    FromFn(|_: &mut ChaCha8Rng| Some(OpSpec::new("a", None, Value::Null))),
                )),
            ),
            (
                1,
                Box::new(Limit::new(
                    2,
                    FromFn(|_: &mut ChaCha8Rng| Some(OpSpec::new("b", None, Value::Null))),
                )),
            ),
        ]);
        assert_eq!(take(&mut g, 3, 100).len(), 5);
    }

    #[test]
    fn independent_stays_on_a_slot_then_moves_and_keys_retire_at_their_bound() {
        let keys = std::sync::Arc::new(KeyRotation::new("k", 10, 5));
        let mut g = Independent::new(
            keys.clone(),
            3,
            Limit::new(
                30,
                FromFn(|_: &mut ChaCha8Rng| Some(OpSpec::new("read", None, Value::Null))),
            ),
        );
        let ops = take(&mut g, 5, 100);
        assert_eq!(ops.len(), 30);
        let mut per_key = std::collections::BTreeMap::new();
        for op in &ops {
            *per_key.entry(op.key.clone().unwrap()).or_insert(0) += 1;
        }
        assert!(per_key.len() > 2, "keys {per_key:?}");
        assert!(per_key.values().all(|&n| n <= 5), "{per_key:?}");
        let handed_out: std::collections::BTreeSet<String> = keys.keys().into_iter().collect();
        assert!(per_key.keys().all(|k| handed_out.contains(k)));
    }

    #[test]
    fn stagger_delays_within_bounds() {
        let mut g = Stagger::new(Duration::from_millis(10), FromFn(|_: &mut ChaCha8Rng| None));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..100 {
            assert!(g.delay(&mut rng) < Duration::from_millis(20));
        }
    }

    /// A generator that pauses 50 ms before each op.
    struct Paced;

    impl Gen for Paced {
        fn next(&mut self, _rng: &mut ChaCha8Rng) -> Option<OpSpec> {
            None
        }
        fn delay(&mut self, _rng: &mut ChaCha8Rng) -> Duration {
            Duration::from_millis(50)
        }
    }

    #[test]
    fn stagger_adds_to_the_inner_pause_and_boxes_pass_it_on() {
        let boxed: Box<dyn Gen> = Box::new(Paced);
        let mut g = Stagger::new(Duration::from_millis(10), boxed);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let delays: Vec<Duration> = (0..100).map(|_| g.delay(&mut rng)).collect();
        assert!(delays
            .iter()
            .all(|d| *d >= Duration::from_millis(50) && *d < Duration::from_millis(70)));
        assert!(delays.iter().any(|d| *d > Duration::from_millis(55)));
    }
}
