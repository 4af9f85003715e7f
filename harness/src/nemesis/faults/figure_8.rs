//! `figure-8`: the isolations of Raft's Figure 8, timed by the nodes'
//! `status`. The sequence is `leader::figure_8`.

use super::FaultPlan;
use crate::nemesis::{leader, Stepper, Until};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

pub struct Figure8;

impl FaultPlan for Figure8 {
    fn run(&self, s: &Stepper, hold: Duration, rng: &mut ChaCha8Rng, until: &Until) {
        let (_, c) = leader::aim(s, rng);
        let nodes = s.cluster.nodes().to_vec();
        leader::figure_8(s, &nodes, c, hold, rng, until);
    }
}
