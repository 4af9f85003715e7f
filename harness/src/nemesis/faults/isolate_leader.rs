//! `isolate-leader`: cut the node that says it leads (see `leader`) off from
//! every other node for one interval.

use super::FaultPlan;
use crate::nemesis::{leader, Fault, Stepper, Until};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::time::Duration;

pub struct IsolateLeader;

impl FaultPlan for IsolateLeader {
    fn run(&self, s: &Stepper, hold: Duration, rng: &mut ChaCha8Rng, until: &Until) {
        let names = s.names();
        let (found, c) = leader::aim(s, rng);
        let fault = Fault::Partition {
            shape: "isolate-leader",
            grudge: leader::isolate(&names, c),
        };
        s.start(&fault, json!({"leader": found.map(|i| &names[i])}));
        until.sleep(hold);
        s.stop(&fault);
    }
}
