//! `clock-leader`: step the leader's wall clock ahead by 1-30 s (as NTP or an
//! operator would), and back to true time at the end.

use super::FaultPlan;
use crate::nemesis::{leader, Fault, Stepper, Until};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use std::time::Duration;

pub struct ClockLeader;

impl FaultPlan for ClockLeader {
    fn needs_clock(&self) -> bool {
        true
    }

    fn run(&self, s: &Stepper, hold: Duration, rng: &mut ChaCha8Rng, until: &Until) {
        let names = s.names();
        let (found, c) = leader::aim(s, rng);
        let ahead_ms = rng.gen_range(1_000..=30_000i64);
        let fault = Fault::Clock([(names[c].clone(), ahead_ms)].into_iter().collect());
        s.start(&fault, json!({"leader": found.map(|i| &names[i])}));
        until.sleep(hold);
        s.stop(&fault);
    }
}
