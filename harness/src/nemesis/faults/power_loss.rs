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
        match cluster {
            ClusterKind::Local => None,
            _ => Some("faultline-diskfs is mounted on local clusters only so far"),
        }
    }

    fn needs_disk(&self) -> bool {
        true
    }

    fn run(&self, s: &Stepper, hold: Duration, rng: &mut ChaCha8Rng, until: &Until) {
        use rand::seq::SliceRandom;
        use rand::Rng;
        let n = s.names().len();
        let count = match rng.gen_range(0..3) {
            0 => 1,
            1 => n / 2 + 1,
            _ => n,
        };
        let mut idx: Vec<usize> = (0..n).collect();
        idx.shuffle(rng);
        let mut nodes = idx[..count].to_vec();
        nodes.sort();
        s.hold(&Fault::PowerLoss(nodes), hold, until);
    }
}
