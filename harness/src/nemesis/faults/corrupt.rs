//! `corrupt`: kill the chosen nodes, flip bits in or truncate one file of
//! each one's data directory (`cluster/corrupt.rs`), restart them at the end.
//! Needs no FUSE: the file is damaged at rest, through the filesystem.

use super::{one_minority_or_all, FaultPlan};
use crate::cluster::corrupt::{Corruption, How};
use crate::cluster::ClusterKind;
use crate::nemesis::{Fault, Stepper, Until};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

pub struct Corrupt;

impl FaultPlan for Corrupt {
    fn unsupported_on(&self, cluster: ClusterKind) -> Option<&'static str> {
        match cluster {
            ClusterKind::Local | ClusterKind::Netns => None,
            ClusterKind::Ssh => Some("the nodes' files are on other hosts, out of the controller's reach"),
        }
    }

    fn run(&self, s: &Stepper, hold: Duration, rng: &mut ChaCha8Rng, until: &Until) {
        let nodes = one_minority_or_all(s.names().len(), rng);
        let how = if rng.gen_bool(0.5) {
            How::FlipBits
        } else {
            How::Truncate
        };
        let seed = rng.gen();
        s.hold(&Fault::Corrupt(Corruption { nodes, how, seed }), hold, until);
    }
}
