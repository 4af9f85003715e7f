//! `power-loss`: SIGKILL one node, a majority or all of them, and make their
//! disks forget every write and directory change not yet fsynced
//! (faultline-diskfs); restart them at the end. A kill alone loses nothing
//! the kernel has; a power loss of a majority can lose what it acknowledged.

use super::FaultPlan;
use crate::cluster::ClusterKind;
use crate::nemesis::{Fault, Stepper, Until};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

pub struct PowerLoss;

impl FaultPlan for PowerLoss {
    fn unsupported_on(&self, cluster: ClusterKind) -> Option<&'static str> {
        super::disk_unsupported_on(cluster)
    }

    fn needs_disk(&self) -> bool {
        true
    }

    fn run(&self, s: &Stepper, hold: Duration, rng: &mut ChaCha8Rng, until: &Until) {
        let nodes = super::one_majority_or_all(s.names().len(), rng);
        s.hold(&Fault::PowerLoss(nodes), hold, until);
    }
}
