//! Workload definitions: the ops each worker performs, the final reads after
//! the cluster healed, and the checkers (and model) that judge the history.

use crate::generator::{FromFn, Gen, Independent, Mix, OpSpec, Outcome};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::time::Duration;

pub const WORKLOAD_NAMES: [&str; 4] = ["register", "kv", "set", "lock"];

/// The register workload's single key.
pub const REGISTER_KEY: &str = "r";
/// Keys of the kv workload: `k0`..`k{KV_KEYS-1}`.
pub const KV_KEYS: u64 = 8;
pub const SET_KEY: &str = "s";
pub const LOCK_KEY: &str = "l";
/// Lease the lock workload asks for.
pub const LOCK_LEASE_MS: u64 = 2000;

/// One workload: what to run and how to judge it.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub name: &'static str,
    /// Checker names for `checkers::registry::check`.
    pub checkers: &'static [&'static str],
    /// Linearizability model, when `linearizable` is among the checkers.
    pub model: Option<&'static str>,
    /// The model's initial state.
    pub initial: Option<Value>,
}

impl Workload {
    /// The workload called `name`, or `None`.
    pub fn named(name: &str) -> Option<Workload> {
        let (name, checkers, model): (&'static str, &'static [&'static str], _) = match name {
            "register" => ("register", &["linearizable"], Some("cas-register")),
            "kv" => ("kv", &["linearizable"], Some("kv")),
            "set" => ("set", &["set"], None),
            "lock" => ("lock", &["lock"], None),
            _ => return None,
        };
        Some(Workload {
            name,
            checkers,
            model,
            initial: model.map(|_| Value::Null),
        })
    }

    /// The main-phase generator of worker number `worker`.
    pub fn generator(&self, worker: usize) -> Box<dyn Gen> {
        match self.name {
            "register" => Box::new(register_ops(Some(REGISTER_KEY))),
            "kv" => Box::new(Independent::new("k", KV_KEYS, 16, register_ops(None))),
            "set" => Box::new(SetAdds::new(worker)),
            "lock" => Box::new(LockClient::new(worker)),
            other => unreachable!("Workload::named admits no {other}"),
        }
    }

    /// Ops run once after the cluster healed and settled.
    pub fn final_reads(&self) -> Vec<OpSpec> {
        match self.name {
            "register" => vec![OpSpec::new("read", Some(REGISTER_KEY), Value::Null)],
            "kv" => (0..KV_KEYS)
                .map(|k| OpSpec::new("read", Some(&format!("k{k}")), Value::Null))
                .collect(),
            "set" => vec![OpSpec::new("read", Some(SET_KEY), Value::Null)],
            _ => Vec::new(),
        }
    }
}

/// Reads, writes and compare-and-sets over a small value range, so cas hits.
fn register_ops(key: Option<&'static str>) -> Mix {
    let read = FromFn(move |_: &mut ChaCha8Rng| Some(OpSpec::new("read", key, Value::Null)));
    let write = FromFn(move |rng: &mut ChaCha8Rng| {
        Some(OpSpec::new("write", key, json!(rng.gen_range(0..5))))
    });
    let cas = FromFn(move |rng: &mut ChaCha8Rng| {
        let v = json!([rng.gen_range(0..5), rng.gen_range(0..5)]);
        Some(OpSpec::new("cas", key, v))
    });
    Mix::new(vec![
        (2, Box::new(read)),
        (1, Box::new(write)),
        (1, Box::new(cas)),
    ])
}

/// Adds of unique elements: worker w adds w*10^9 + 0, 1, 2, ...
struct SetAdds {
    next: u64,
}

impl SetAdds {
    fn new(worker: usize) -> Self {
        SetAdds {
            next: worker as u64 * 1_000_000_000,
        }
    }
}

impl Gen for SetAdds {
    fn next(&mut self, _rng: &mut ChaCha8Rng) -> Option<OpSpec> {
        self.next += 1;
        Some(OpSpec::new("add", Some(SET_KEY), json!(self.next - 1)))
    }
}

/// One lock holder, as a real client of a lock service uses it: acquire;
/// once granted, hold the lock for a while doing "work" (a random number of
/// renewals, each a quarter lease apart, so holds span 0.5 s to several
/// leases), then release. Holding across leases is what exposes leases that
/// are extended where they should not be.
struct LockClient {
    holder: String,
    token: Option<Value>,
    /// Renewals left before this hold ends with a release (drawn at the
    /// first op after the grant).
    renewals_left: Option<u32>,
}

/// Most renewals in one hold: up to 12 quarter-leases (3 leases).
const LOCK_MAX_RENEWALS: u32 = 12;

impl LockClient {
    fn new(worker: usize) -> Self {
        LockClient {
            holder: format!("c{worker}"),
            token: None,
            renewals_left: None,
        }
    }
}

impl Gen for LockClient {
    fn next(&mut self, rng: &mut ChaCha8Rng) -> Option<OpSpec> {
        Some(match &self.token {
            None => OpSpec::new(
                "acquire",
                Some(LOCK_KEY),
                json!({"holder": self.holder, "lease_ms": LOCK_LEASE_MS}),
            ),
            Some(token) => {
                let left = self
                    .renewals_left
                    .get_or_insert_with(|| rng.gen_range(0..=LOCK_MAX_RENEWALS));
                let f = if *left > 0 {
                    *left -= 1;
                    "renew"
                } else {
                    "release"
                };
                OpSpec::new(
                    f,
                    Some(LOCK_KEY),
                    json!({"holder": self.holder, "token": token}),
                )
            }
        })
    }

    fn observe(&mut self, op: &OpSpec, outcome: &Outcome) {
        match (op.f.as_str(), outcome) {
            ("acquire", Outcome::Ok(v)) => {
                self.token = v.get("token").cloned();
                self.renewals_left = None;
            }
            ("release", _) | ("renew", Outcome::Fail) => self.token = None,
            // An unknown renew: the lease may be gone; the next renew tells.
            _ => {}
        }
    }

    fn delay(&mut self, rng: &mut ChaCha8Rng) -> Duration {
        if self.token.is_none() {
            // Waiting for the lock: try again soon, out of step with others.
            return Duration::from_millis(rng.gen_range(0..40));
        }
        Duration::from_millis(LOCK_LEASE_MS / 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn every_name_is_a_workload_and_names_checkers() {
        for name in WORKLOAD_NAMES {
            let w = Workload::named(name).unwrap();
            assert!(!w.checkers.is_empty());
            let mut g = w.generator(1);
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            assert!(g.next(&mut rng).is_some(), "{name} yields ops");
        }
        assert!(Workload::named("nope").is_none());
    }

    #[test]
    fn lock_client_follows_its_grants() {
        let w = Workload::named("lock").unwrap();
        let mut g = w.generator(3);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let op = g.next(&mut rng).unwrap();
        assert_eq!(op.f, "acquire");
        assert_eq!(op.value["holder"], "c3");
        g.observe(&op, &Outcome::Ok(json!({"token": 12, "lease_ms": 2000})));
        let op = g.next(&mut rng).unwrap();
        assert!(op.f == "renew" || op.f == "release");
        assert_eq!(op.value["token"], 12);
        g.observe(&op, &Outcome::Fail);
        assert_eq!(g.next(&mut rng).unwrap().f, "acquire");
    }

    #[test]
    fn lock_holds_span_renewals_a_quarter_lease_apart_then_release() {
        let w = Workload::named("lock").unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut longest = 0;
        for worker in 0..20 {
            let mut g = w.generator(worker);
            let acquire = g.next(&mut rng).unwrap();
            g.observe(
                &acquire,
                &Outcome::Ok(json!({"token": 1, "lease_ms": 2000})),
            );
            let mut renewals = 0;
            loop {
                assert_eq!(g.delay(&mut rng), Duration::from_millis(LOCK_LEASE_MS / 4));
                let op = g.next(&mut rng).unwrap();
                g.observe(&op, &Outcome::Ok(json!({"token": 1})));
                if op.f == "release" {
                    break;
                }
                assert_eq!(op.f, "renew");
                renewals += 1;
                assert!(renewals <= LOCK_MAX_RENEWALS);
            }
            longest = longest.max(renewals);
            assert_eq!(g.next(&mut rng).unwrap().f, "acquire");
            assert!(g.delay(&mut rng) < Duration::from_millis(40));
        }
        // Some holds outlast a whole lease.
        assert!(
            u64::from(longest) * LOCK_LEASE_MS / 4 > LOCK_LEASE_MS,
            "{longest}"
        );
    }

    #[test]
    fn set_adds_are_unique_across_workers() {
        let w = Workload::named("set").unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut seen = std::collections::BTreeSet::new();
        for worker in 0..3 {
            let mut g = w.generator(worker);
            for _ in 0..100 {
                assert!(seen.insert(g.next(&mut rng).unwrap().value.as_u64().unwrap()));
            }
        }
    }
}
