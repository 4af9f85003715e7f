//! When faults happen: every interval the nemesis draws a fault kind from the
//! seeded stream and runs one occurrence of it (for about one interval, on a
//! blocking thread), until the main phase ends or the run is interrupted.

use super::{FaultKind, Stepper, Until};
use crate::controller::sleep_or_end;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

pub struct Schedule {
    pub stepper: Arc<Stepper>,
    /// Fault kinds to draw from (empty: no nemesis).
    pub kinds: Vec<FaultKind>,
    /// The pause between faults, and how long each is held.
    pub interval: Duration,
    pub rng: ChaCha8Rng,
}

impl Schedule {
    pub async fn run(mut self, deadline: Instant, mut stop: watch::Receiver<bool>) {
        if self.kinds.is_empty() {
            return;
        }
        loop {
            if sleep_or_end(self.interval, deadline, &mut stop).await {
                return;
            }
            let kind = *self.kinds.choose(&mut self.rng).expect("kinds");
            let stepper = self.stepper.clone();
            let hold = self.interval;
            let mut rng = self.rng.clone();
            let stop2 = stop.clone();
            let until_deadline = deadline.into_std();
            let done = tokio::task::spawn_blocking(move || {
                let stopped = move || *stop2.borrow();
                let until = Until {
                    deadline: until_deadline,
                    stopped: &stopped,
                };
                kind.plan().run(&stepper, hold, &mut rng, &until);
                rng
            })
            .await;
            match done {
                Ok(rng) => self.rng = rng,
                Err(e) => self
                    .stepper
                    .problems
                    .lock()
                    .unwrap()
                    .push(format!("nemesis {kind}: {e}")),
            }
            if Instant::now() >= deadline || *stop.borrow() {
                return;
            }
        }
    }
}
