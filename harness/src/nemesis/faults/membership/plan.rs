//! What one `membership` occurrence does, decided before it acts: the draws
//! come from the seeded stream only, in a fixed number whatever the nodes
//! say, so a seed replays the same schedule; they are then mapped onto the
//! voters and the leader the nodes report.

use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// How one occurrence changes the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Remove 1-2 voters (all requests at once, then one at a time for those
    /// refused), maybe restart them while out, hold, add them back.
    Remove,
    /// Two removals in flight at once while a partition puts the leader on
    /// the side that is a majority of the new configuration only.
    Split,
    /// Add 1-2 non-voters (never above the bounds' MAX), hold, remove them
    /// again. Drawn only when the test sets bounds (`--membership-voters`).
    Grow,
}

/// What happens to the removed nodes while they are out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    No,
    /// Killed and restarted from their data dir.
    OldData,
    /// Killed, their data dir wiped, restarted empty.
    Wiped,
}

impl Restart {
    pub fn name(self) -> &'static str {
        match self {
            Restart::No => "no",
            Restart::OldData => "old-data",
            Restart::Wiped => "wiped",
        }
    }
}

/// The seeded draws of one occurrence.
#[derive(Clone, Debug, PartialEq)]
pub struct Draw {
    pub mode: Mode,
    /// A permutation of the node indexes: the order nodes are picked in.
    pub order: Vec<usize>,
    /// How many voters [`Mode::Remove`] takes out (1 or 2).
    pub wanted: usize,
    pub restart: Restart,
    /// [`Mode::Split`]: the partition starts before the requests are sent
    /// (else right after they are written, before any answer).
    pub partition_first: bool,
    /// The node aimed at when no node says it leads.
    pub guess: usize,
}

/// `bounded`: the test set `--membership-voters`, so a grow may be drawn
/// (one more draw, after the others: runs without bounds replay as before).
pub fn draw(n: usize, bounded: bool, rng: &mut ChaCha8Rng) -> Draw {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let mut mode = if rng.gen_bool(0.5) {
        Mode::Split
    } else {
        Mode::Remove
    };
    let wanted = rng.gen_range(1..=2);
    let restart = match rng.gen_range(0..3) {
        0 => Restart::No,
        1 => Restart::OldData,
        _ => Restart::Wiped,
    };
    let partition_first = rng.gen_bool(0.5);
    let guess = rng.gen_range(0..n.max(1));
    if bounded && rng.gen_bool(0.4) {
        mode = Mode::Grow;
    }
    Draw {
        mode,
        order,
        wanted,
        restart,
        partition_first,
        guess,
    }
}

/// The fewest voters the fault leaves in a cluster of `n` nodes: 3, or on
/// clusters of 3 or fewer, n - 1 (at least 1).
pub fn min_voters(n: usize) -> usize {
    if n >= 4 {
        3
    } else {
        n.saturating_sub(1).max(1)
    }
}

/// [`Mode::Remove`]: the voters to take out, in draw order, leaving at
/// least `min` of them.
pub fn removals(d: &Draw, names: &[String], voters: &[String], min: usize) -> Vec<usize> {
    let removable = voters.len().saturating_sub(min);
    d.order
        .iter()
        .copied()
        .filter(|&i| voters.contains(&names[i]))
        .take(d.wanted.min(removable))
        .collect()
}

/// [`Mode::Grow`]: the non-voters to add, in draw order, up to `max` voters.
pub fn additions(d: &Draw, names: &[String], voters: &[String], max: usize) -> Vec<usize> {
    let room = max.saturating_sub(voters.len());
    d.order
        .iter()
        .copied()
        .filter(|&i| !voters.contains(&names[i]))
        .take(d.wanted.min(room))
        .collect()
}

/// [`Mode::Split`] mapped onto the cluster: two voters to remove at once and
/// the two sides of the partition.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    pub leader: usize,
    pub remove: Vec<usize>,
    /// The leader's side: a majority of the voters without `remove`, a
    /// minority of the voters now.
    pub side: Vec<usize>,
    /// Everyone else (the removed nodes among them): a majority of the
    /// voters now.
    pub rest: Vec<usize>,
}

impl Split {
    pub fn describe(&self, names: &[String]) -> Value {
        let n = |v: &[usize]| v.iter().map(|&i| names[i].clone()).collect::<Vec<_>>();
        json!({"leader": names[self.leader], "remove": n(&self.remove),
               "sides": [n(&self.side), n(&self.rest)]})
    }
}

/// Two removals whose new configuration has a majority on the leader's side
/// of the partition while the other side holds a majority of the current
/// one. A correct leader takes the first change only (it cannot commit on the
/// minority side) and refuses the second; one that lets both be in flight
/// commits on its side while the other side elects a leader of its own.
/// `None` when the voters cannot be split so (an even count, or fewer than
/// `min` + 2 of them).
pub fn split(
    d: &Draw,
    names: &[String],
    voters: &[String],
    leader: usize,
    min: usize,
) -> Option<Split> {
    let v = voters.len();
    if !voters.contains(&names[leader]) || v < min + 2 || v < 3 {
        return None;
    }
    // The leader's side holds k of the v - 2 voters that stay: a majority of
    // them, yet fewer than half of all v.
    let k = (v - 2) / 2 + 1;
    if 2 * k >= v {
        return None;
    }
    let others: Vec<usize> = d
        .order
        .iter()
        .copied()
        .filter(|&i| i != leader && voters.contains(&names[i]))
        .collect();
    let remove: Vec<usize> = others[..2].to_vec();
    let mut side = vec![leader];
    side.extend(&others[2..2 + (k - 1)]);
    side.sort_unstable();
    let rest: Vec<usize> = (0..names.len()).filter(|i| !side.contains(i)).collect();
    Some(Split {
        leader,
        remove,
        side,
        rest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn names(n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("n{i}")).collect()
    }

    fn majority(of: &[String], nodes: &[usize], names: &[String]) -> bool {
        let n = nodes.iter().filter(|&&i| of.contains(&names[i])).count();
        2 * n > of.len()
    }

    #[test]
    fn at_least_three_voters_stay_or_all_but_one_on_small_clusters() {
        assert_eq!(min_voters(5), 3);
        assert_eq!(min_voters(7), 3);
        assert_eq!(min_voters(4), 3);
        assert_eq!(min_voters(3), 2);
        assert_eq!(min_voters(1), 1);
    }

    #[test]
    fn draws_replay_from_the_seed_and_use_both_modes() {
        let run = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..40).map(|_| draw(5, false, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
        let d = run(3);
        assert!(d.iter().any(|d| d.mode == Mode::Split));
        assert!(d.iter().any(|d| d.mode == Mode::Remove));
        assert!(d.iter().any(|d| d.restart == Restart::Wiped));
    }

    #[test]
    fn the_split_gives_each_configuration_a_majority_on_its_own_side() {
        for n in [3, 5, 7] {
            let names = names(n);
            let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
            for _ in 0..50 {
                let d = draw(n, false, &mut rng);
                let leader = d.guess;
                let min = if n == 3 { 1 } else { min_voters(n) };
                let s = split(&d, &names, &names, leader, min).expect("odd voters split");
                assert!(s.side.contains(&leader) && s.remove.len() == 2, "{s:?}");
                let new: Vec<String> = names
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !s.remove.contains(i))
                    .map(|(_, x)| x.clone())
                    .collect();
                assert!(majority(&new, &s.side, &names), "{s:?}");
                assert!(majority(&names, &s.rest, &names), "{s:?}");
                assert!(s.remove.iter().all(|r| s.rest.contains(r)), "{s:?}");
                assert_eq!(s.side.len() + s.rest.len(), n);
            }
        }
        // Even voter counts, or too few to stay above the floor: no split.
        let d = draw(5, false, &mut ChaCha8Rng::seed_from_u64(1));
        let n4 = names(4);
        assert_eq!(split(&d, &names(5), &n4, 0, 1), None);
        assert_eq!(split(&d, &names(5), &names(5), 0, 4), None);
        // A leader that is not a voter is not aimed at.
        assert_eq!(split(&d, &names(5), &names(5)[1..], 0, 1), None);
    }

    #[test]
    fn grows_only_with_bounds_and_never_above_max() {
        let names = names(5);
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let d: Vec<Draw> = (0..40).map(|_| draw(5, true, &mut rng)).collect();
        assert!(d.iter().any(|d| d.mode == Mode::Grow));
        assert!(d.iter().any(|d| d.mode == Mode::Remove));
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        assert!((0..40).all(|_| draw(5, false, &mut rng).mode != Mode::Grow));
        for d in &d {
            let add = additions(d, &names, &names[..3], 5);
            assert_eq!(add.len(), d.wanted);
            assert!(add.iter().all(|&i| i >= 3), "{add:?}");
            assert!(additions(d, &names, &names[..3], 4).len() <= 1);
            assert!(additions(d, &names, &names[..3], 3).is_empty());
        }
    }

    #[test]
    fn removals_leave_at_least_the_floor() {
        let names = names(5);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for _ in 0..50 {
            let d = draw(5, false, &mut rng);
            let r = removals(&d, &names, &names, 3);
            assert_eq!(r.len(), d.wanted);
            assert!(removals(&d, &names, &names[..4], 3).len() <= 1);
            assert!(removals(&d, &names, &names[..3], 3).is_empty());
        }
    }
}
