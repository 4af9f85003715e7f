//! `stall`: hold the traffic of one node's open connections (both ways)
//! without dropping it; it flows again, intact, at the end.

use super::{links_of_one, FaultPlan};
use crate::nemesis::{Fault, Stepper, Until};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

pub struct Stall;

impl FaultPlan for Stall {
    fn run(&self, s: &Stepper, hold: Duration, rng: &mut ChaCha8Rng, until: &Until) {
        let links = links_of_one(&s.names(), rng);
        s.hold(&Fault::Stall(links), hold, until);
    }
}
