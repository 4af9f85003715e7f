//! `partition`: cut the network into a random shape (see `shapes`) for one
//! interval, then heal it. Every cluster kind: proxies or iptables.

use super::FaultPlan;
use crate::nemesis::{shapes, Fault, Stepper, Until};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

pub struct Partition;

impl FaultPlan for Partition {
    fn run(&self, s: &Stepper, hold: Duration, rng: &mut ChaCha8Rng, until: &Until) {
        let (shape, grudge) = shapes::random(&s.names(), rng);
        s.hold(&Fault::Partition { shape, grudge }, hold, until);
    }
}
