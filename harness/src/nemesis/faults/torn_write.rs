//! `torn-write`: a power loss (see `power_loss.rs`) in which the last write
//! not yet fsynced survives only in part, up to a 512-byte sector boundary,
//! as a disk that lost power mid-write leaves it. Nodes restart at the end.

use super::{one_majority_or_all, FaultPlan};
use crate::cluster::ClusterKind;
use crate::nemesis::{Fault, Stepper, Until};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

pub struct TornWrite;

impl FaultPlan for TornWrite {
    fn unsupported_on(&self, cluster: ClusterKind) -> Option<&'static str> {
        super::disk_unsupported_on(cluster)
    }

    fn needs_disk(&self) -> bool {
        true
    }

    fn run(&self, s: &Stepper, hold: Duration, rng: &mut ChaCha8Rng, until: &Until) {
        let nodes = one_majority_or_all(s.names().len(), rng);
        s.hold(&Fault::TornWrite(nodes), hold, until);
    }
}
