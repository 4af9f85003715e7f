//! `reset`: reset (RST) one node's open connections, once; the nodes
//! reconnect. Nothing to heal.

use super::{links_of_one, FaultPlan};
use crate::nemesis::{Fault, Stepper, Until};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

pub struct Reset;

impl FaultPlan for Reset {
    fn run(&self, s: &Stepper, hold: Duration, rng: &mut ChaCha8Rng, until: &Until) {
        let links = links_of_one(&s.names(), rng);
        s.hold(&Fault::Reset(links), hold, until);
    }
}
