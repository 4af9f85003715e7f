//! `disk-full`: writes and file creations on the chosen nodes' disks fail
//! with ENOSPC while the fault holds; nodes that stopped on it restart when
//! it ends.

use super::{one_minority_or_all, FaultPlan};
use crate::cluster::ClusterKind;
use crate::nemesis::{Fault, Stepper, Until};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

pub struct DiskFull;

impl FaultPlan for DiskFull {
    fn unsupported_on(&self, cluster: ClusterKind) -> Option<&'static str> {
        super::disk_unsupported_on(cluster)
    }

    fn needs_disk(&self) -> bool {
        true
    }

    fn run(&self, s: &Stepper, hold: Duration, rng: &mut ChaCha8Rng, until: &Until) {
        let nodes = one_minority_or_all(s.names().len(), rng);
        s.hold(&Fault::DiskFull(nodes), hold, until);
    }
}
