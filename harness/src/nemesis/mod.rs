//! The nemesis: faults as data, chosen on a seeded schedule, applied to the
//! cluster and recorded in the history as `nemesis` ops.
//!
//! - [`faults`]: the fault kinds of `--nemesis`, one file each;
//! - [`fault`]: what a fault does to the cluster ([`Fault`]), started and healed;
//! - [`schedule`]: when faults happen;
//! - [`stepper`]: how each step is recorded;
//! - [`leader`]: the status requests and sequences of the leader-aware kinds;
//! - [`shapes`]: partition shapes.

pub mod fault;
pub mod faults;
pub mod leader;
pub mod request;
pub mod schedule;
pub mod shapes;
pub mod stepper;

pub use fault::{heal_all, start, stop, Fault};
pub use faults::{FaultKind, FaultPlan};
pub use leader::Until;
pub use schedule::Schedule;
pub use stepper::Stepper;

/// Whether the nodes must run under libfaketime for these fault kinds.
pub fn needs_clock(kinds: &[FaultKind]) -> bool {
    kinds.iter().any(|k| k.plan().needs_clock())
}

/// Whether the nodes' data directories must be on faultline-diskfs.
pub fn needs_disk(kinds: &[FaultKind]) -> bool {
    kinds.iter().any(|k| k.plan().needs_disk())
}

/// The first of `kinds` that cannot run on `cluster`, with the reason, as
/// the error `--nemesis` gets before anything starts.
pub fn check_supported(
    kinds: &[FaultKind],
    cluster: crate::cluster::ClusterKind,
) -> anyhow::Result<()> {
    for kind in kinds {
        if let Some(why) = kind.plan().unsupported_on(cluster) {
            return Err(crate::exit::bad_input(format!(
                "--nemesis {kind} cannot run on --cluster {cluster}: {why}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::ClusterKind;
    use faults::{links_of, some_nodes};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn every_kind_has_a_name_that_round_trips_through_test_json() {
        for &k in FaultKind::ALL {
            let json = serde_json::to_value(k).unwrap();
            assert_eq!(json, serde_json::json!(k.name()));
            assert_eq!(serde_json::from_value::<FaultKind>(json).unwrap(), k);
        }
        assert_eq!(FaultKind::Figure8.name(), "figure-8");
        assert!(needs_clock(&[FaultKind::Kill, FaultKind::ClockLeader]));
        assert!(!needs_clock(&[FaultKind::Kill, FaultKind::Loss]));
    }

    #[test]
    fn loss_is_refused_where_the_network_cannot_drop_packets() {
        let e = check_supported(&[FaultKind::Kill, FaultKind::Loss], ClusterKind::Local)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--nemesis loss") && e.contains("local"), "{e}");
        check_supported(&[FaultKind::Loss], ClusterKind::Netns).unwrap();
        let network: Vec<FaultKind> = FaultKind::ALL
            .iter()
            .copied()
            .filter(|k| !k.plan().needs_disk() && *k != FaultKind::Corrupt)
            .collect();
        check_supported(&network, ClusterKind::Ssh).unwrap();
        // Disks on faultline-diskfs are mounted by the controller: local and netns.
        let disk: Vec<FaultKind> = FaultKind::ALL
            .iter()
            .copied()
            .filter(|k| k.plan().needs_disk())
            .collect();
        assert_eq!(disk.len(), 4, "{disk:?}");
        check_supported(&disk, ClusterKind::Local).unwrap();
        check_supported(&disk, ClusterKind::Netns).unwrap();
        check_supported(&[FaultKind::Corrupt], ClusterKind::Netns).unwrap();
        for kind in disk.into_iter().chain([FaultKind::Corrupt]) {
            let e = check_supported(&[kind], ClusterKind::Ssh).unwrap_err();
            assert!(e.to_string().contains(&format!("--nemesis {kind} ")), "{e}");
            assert!(e.to_string().contains("--cluster ssh"), "{e}");
        }
    }

    #[test]
    fn node_picks_are_reproducible_and_bounded() {
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..20).map(|_| some_nodes(5, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
        assert!(run(3).iter().all(|v| !v.is_empty() && v.len() <= 2));
    }

    #[test]
    fn links_of_nodes_are_every_link_touching_them_once() {
        let names: Vec<String> = (1..=4).map(|i| format!("n{i}")).collect();
        let links = links_of(&names, &[0, 2]);
        // n1 and n3 each reach 3 others both ways; their shared pair once.
        assert_eq!(links.len(), 2 * (3 + 3 - 1));
        let set: std::collections::BTreeSet<_> = links.iter().collect();
        assert_eq!(set.len(), links.len());
        assert!(links
            .iter()
            .all(|l| l.from == "n1" || l.from == "n3" || l.to == "n1" || l.to == "n3"));
    }
}
