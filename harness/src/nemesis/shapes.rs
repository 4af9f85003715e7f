//! Partition shapes as grudges: `grudge[a]` = the nodes whose messages `a` drops.

use crate::net::Grudge;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;

pub const SHAPES: [&str; 6] = [
    "isolate",
    "halves",
    "majority-minority",
    "majorities-ring",
    "bridge",
    "one-way",
];

/// A random shape over `names`, with its name.
pub fn random(names: &[String], rng: &mut ChaCha8Rng) -> (&'static str, Grudge) {
    let shape = *SHAPES.choose(rng).expect("shapes");
    let mut nodes = names.to_vec();
    nodes.shuffle(rng);
    let grudge = match shape {
        "isolate" => components(&[nodes[..1].to_vec(), nodes[1..].to_vec()]),
        "halves" => {
            let cut = nodes.len() / 2;
            components(&[nodes[..cut].to_vec(), nodes[cut..].to_vec()])
        }
        "majority-minority" => {
            let minority = rng.gen_range(1..=((nodes.len() - 1) / 2).max(1));
            components(&[nodes[..minority].to_vec(), nodes[minority..].to_vec()])
        }
        "majorities-ring" => majorities_ring(&nodes),
        "bridge" => bridge(&nodes),
        "one-way" => {
            // Everyone drops what the first node sends; it still hears them.
            let mut g = Grudge::new();
            for other in &nodes[1..] {
                g.entry(other.clone()).or_default().insert(nodes[0].clone());
            }
            g
        }
        _ => unreachable!(),
    };
    (shape, grudge)
}

/// Complete partition into components: each node drops everything from
/// nodes outside its own component.
pub fn components(parts: &[Vec<String>]) -> Grudge {
    let mut g = Grudge::new();
    for (i, part) in parts.iter().enumerate() {
        let outside: BTreeSet<String> = parts
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .flat_map(|(_, p)| p.iter().cloned())
            .collect();
        for node in part {
            if !outside.is_empty() {
                g.insert(node.clone(), outside.clone());
            }
        }
    }
    g
}

/// Nodes on a ring, each hearing only its nearest neighbours: every node sees
/// a majority, and no two nodes see the same one.
pub fn majorities_ring(ring: &[String]) -> Grudge {
    let n = ring.len();
    // Neighbours each side, so a node hears a majority (itself included).
    let reach = (n / 2).div_ceil(2).max(1);
    let mut g = Grudge::new();
    for (i, node) in ring.iter().enumerate() {
        let far: BTreeSet<String> = (0..n)
            .filter(|&j| {
                let d = (i + n - j) % n;
                d.min(n - d) > reach
            })
            .map(|j| ring[j].clone())
            .collect();
        if !far.is_empty() {
            g.insert(node.clone(), far);
        }
    }
    g
}

/// A star: the nodes of `spokes` hear only `hub` (and it hears them all);
/// every other node hears no one.
pub fn star(names: &[String], hub: &str, spokes: &[String]) -> Grudge {
    let mut g = Grudge::new();
    for node in names {
        let hears: BTreeSet<&str> = if node == hub {
            spokes.iter().map(String::as_str).collect()
        } else if spokes.contains(node) {
            [hub].into()
        } else {
            BTreeSet::new()
        };
        let drops: BTreeSet<String> = names
            .iter()
            .filter(|m| *m != node && !hears.contains(m.as_str()))
            .cloned()
            .collect();
        if !drops.is_empty() {
            g.insert(node.clone(), drops);
        }
    }
    g
}

/// Two halves that cannot talk, and one node that talks to both.
pub fn bridge(nodes: &[String]) -> Grudge {
    let mid = nodes.len() / 2;
    let (a, b) = (&nodes[..mid], &nodes[mid + 1..]);
    let mut g = components(&[a.to_vec(), b.to_vec()]);
    g.retain(|_, v| !v.is_empty());
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    fn hears(g: &Grudge, a: &str, b: &str) -> bool {
        a == b || !g.get(a).is_some_and(|s| s.contains(b))
    }

    #[test]
    fn star_spokes_hear_only_the_hub_and_the_rest_no_one() {
        let n = names(5);
        let g = star(&n, "n1", &["n3".into(), "n4".into(), "n5".into()]);
        for spoke in ["n3", "n4", "n5"] {
            assert!(hears(&g, spoke, "n1") && hears(&g, "n1", spoke));
            for other in ["n2", "n3", "n4", "n5"] {
                assert_eq!(hears(&g, spoke, other), spoke == other, "{spoke} {other}");
            }
        }
        for other in ["n1", "n3", "n4", "n5"] {
            assert!(!hears(&g, "n2", other) && !hears(&g, other, "n2"));
        }
    }

    #[test]
    fn ring_gives_every_node_a_distinct_majority() {
        let ns = names(5);
        let g = majorities_ring(&ns);
        let views: BTreeSet<Vec<&String>> = ns
            .iter()
            .map(|a| ns.iter().filter(|b| hears(&g, a, b)).collect())
            .collect();
        assert_eq!(views.len(), 5, "distinct views");
        assert!(views.iter().all(|v| v.len() == 3), "majorities: {views:?}");
    }

    #[test]
    fn bridge_node_hears_everyone_and_halves_do_not_meet() {
        let ns = names(5);
        let g = bridge(&ns);
        assert!(ns.iter().all(|x| hears(&g, "n3", x) && hears(&g, x, "n3")));
        assert!(!hears(&g, "n1", "n4") && !hears(&g, "n5", "n2"));
        assert!(hears(&g, "n1", "n2") && hears(&g, "n4", "n5"));
    }

    #[test]
    fn components_are_symmetric_cuts() {
        let g = components(&[vec!["n1".into()], vec!["n2".into(), "n3".into()]]);
        assert!(!hears(&g, "n1", "n2") && !hears(&g, "n2", "n1") && hears(&g, "n2", "n3"));
    }
}
