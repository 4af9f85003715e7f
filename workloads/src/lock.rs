//! `lock`: clients acquiring, renewing and releasing one lock with a lease;
//! the lock checker finds two holders at once and fencing tokens that do
//! not rise.

use crate::generator::{Gen, OpSpec, Outcome};
use crate::WorkloadKind;
use crate::workload::Workload;
use faultline_checkers::registry::CheckerKind;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::time::Duration;

/// The lock's key.
pub const KEY: &str = "l";
/// Lease the lock workload asks for.
pub const LEASE_MS: u64 = 2000;

#[derive(Default)]
pub struct Lock;

impl Workload for Lock {
    fn kind(&self) -> WorkloadKind {
        WorkloadKind::Lock
    }

    fn generator(&self, worker: usize) -> Box<dyn Gen> {
        Box::new(LockClient::new(worker))
    }

    fn checkers(&self) -> &'static [CheckerKind] {
        &[CheckerKind::Lock]
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
const MAX_RENEWALS: u32 = 12;

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
                Some(KEY),
                json!({"holder": self.holder, "lease_ms": LEASE_MS}),
            ),
            Some(token) => {
                let left = self
                    .renewals_left
                    .get_or_insert_with(|| rng.gen_range(0..=MAX_RENEWALS));
                let f = if *left > 0 {
                    *left -= 1;
                    "renew"
                } else {
                    "release"
                };
                OpSpec::new(f, Some(KEY), json!({"holder": self.holder, "token": token}))
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
        Duration::from_millis(LEASE_MS / 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn lock_client_follows_its_grants() {
        let mut g = Lock.generator(3);
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
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut longest = 0;
        for worker in 0..20 {
            let mut g = Lock.generator(worker);
            let acquire = g.next(&mut rng).unwrap();
            g.observe(
                &acquire,
                &Outcome::Ok(json!({"token": 1, "lease_ms": 2000})),
            );
            let mut renewals = 0;
            loop {
                assert_eq!(g.delay(&mut rng), Duration::from_millis(LEASE_MS / 4));
                let op = g.next(&mut rng).unwrap();
                g.observe(&op, &Outcome::Ok(json!({"token": 1})));
                if op.f == "release" {
                    break;
                }
                assert_eq!(op.f, "renew");
                renewals += 1;
                assert!(renewals <= MAX_RENEWALS);
            }
            longest = longest.max(renewals);
            assert_eq!(g.next(&mut rng).unwrap().f, "acquire");
            assert!(g.delay(&mut rng) < Duration::from_millis(40));
        }
        // Some holds outlast a whole lease.
        assert!(u64::from(longest) * LEASE_MS / 4 > LEASE_MS, "{longest}");
    }
}
