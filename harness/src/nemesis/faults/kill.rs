//! `kill`: SIGKILL 1 to half of the nodes; restart them from their data
//! directories at the end.

use super::{some_nodes, FaultPlan};
use crate::nemesis::{Fault, Stepper, Until};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

pub struct Kill;

impl FaultPlan for Kill {
    fn run(&self, s: &Stepper, hold: Duration, rng: &mut ChaCha8Rng, until: &Until) {
        let nodes = some_nodes(s.names().len(), rng);
        s.hold(&Fault::Kill(nodes), hold, until);
    }
}
