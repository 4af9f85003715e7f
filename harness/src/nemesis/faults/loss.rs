//! `loss`: drop 10-50% of the packets on every link to and from 1 to half
//! of the nodes (iptables `statistic` match on netns and ssh hosts), then
//! heal. Unlike a partition, some messages still get through: retries,
//! timeouts and duplicate deliveries are what it exercises.

use super::{links_of, some_nodes, FaultPlan};
use crate::cluster::ClusterKind;
use crate::nemesis::{Fault, Stepper, Until};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

pub struct Loss;

impl FaultPlan for Loss {
    fn unsupported_on(&self, cluster: ClusterKind) -> Option<&'static str> {
        // The local cluster's fault proxies (net/proxy.rs) can cut, stall
        // and reset links but not drop a fraction of the traffic.
        (cluster == ClusterKind::Local)
            .then_some("the local cluster's proxies cannot drop a fraction of packets; use --cluster netns or ssh")
    }

    fn run(&self, s: &Stepper, hold: Duration, rng: &mut ChaCha8Rng, until: &Until) {
        let names = s.names();
        let nodes = some_nodes(names.len(), rng);
        let probability = f64::from(rng.gen_range(1..=5u8)) / 10.0;
        let fault = Fault::Loss {
            links: links_of(&names, &nodes),
            probability,
        };
        s.hold(&fault, hold, until);
    }
}
