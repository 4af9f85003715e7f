//! `clock`: skew 1 to half of the nodes' wall clocks by 1-30 s either way
//! (libfaketime), and back to true time at the end.

use super::{some_nodes, FaultPlan};
use crate::nemesis::{Fault, Stepper, Until};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

pub struct Clock;

impl FaultPlan for Clock {
    fn needs_clock(&self) -> bool {
        true
    }

    fn run(&self, s: &Stepper, hold: Duration, rng: &mut ChaCha8Rng, until: &Until) {
        let names = s.names();
        let offsets = some_nodes(names.len(), rng)
            .into_iter()
            .map(|i| {
                let ms = rng.gen_range(1_000..=30_000i64);
                (names[i].clone(), if rng.gen() { ms } else { -ms })
            })
            .collect();
        s.hold(&Fault::Clock(offsets), hold, until);
    }
}
