//! `vote-restart`: split an election around the leader and crash-restart it
//! each time it has voted, so a node that forgets its vote elects two leaders
//! in one term. The sequence is `leader::vote_restart`.

use super::FaultPlan;
use crate::nemesis::{leader, Stepper, Until};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

pub struct VoteRestart;

impl FaultPlan for VoteRestart {
    fn run(&self, s: &Stepper, hold: Duration, rng: &mut ChaCha8Rng, until: &Until) {
        let (_, c) = leader::aim(s, rng);
        let nodes = s.cluster.nodes().to_vec();
        leader::vote_restart(s, &nodes, c, hold, rng, until);
    }
}
