//! `fsync-error`: the next fsync on the chosen nodes' disks fails with EIO
//! once, and the pages it covered are dropped, as Linux does. A program that
//! retries the fsync and trusts its success has lost data; a careful one
//! stops (and is restarted when the fault ends).

use super::{one_minority_or_all, FaultPlan};
use crate::cluster::ClusterKind;
use crate::nemesis::{Fault, Stepper, Until};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

pub struct FsyncError;

impl FaultPlan for FsyncError {
    fn unsupported_on(&self, cluster: ClusterKind) -> Option<&'static str> {
        super::disk_unsupported_on(cluster)
    }

    fn needs_disk(&self) -> bool {
        true
    }

    fn run(&self, s: &Stepper, hold: Duration, rng: &mut ChaCha8Rng, until: &Until) {
        let nodes = one_minority_or_all(s.names().len(), rng);
        s.hold(&Fault::FsyncError(nodes), hold, until);
    }
}
