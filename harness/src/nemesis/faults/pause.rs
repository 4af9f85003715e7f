//! `pause`: SIGSTOP 1 to half of the nodes; SIGCONT at the end.

use super::{some_nodes, FaultPlan};
use crate::nemesis::{Fault, Stepper, Until};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

pub struct Pause;

impl FaultPlan for Pause {
    fn run(&self, s: &Stepper, hold: Duration, rng: &mut ChaCha8Rng, until: &Until) {
        let nodes = some_nodes(s.names().len(), rng);
        s.hold(&Fault::Pause(nodes), hold, until);
    }
}
