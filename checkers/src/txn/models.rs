//! Consistency models and the anomalies each forbids (Adya's and Elle's
//! definitions, for single-item histories), and which models a set of found
//! anomalies rules out.
//!
//! Each model is a plain model (read uncommitted .. serializable) plus the
//! order among txns it promises on top: none, process order (the "strong
//! session" models: a client sees its own earlier txns) or real-time order
//! (the "strong" models; strict serializable is strong serializable). A
//! model with an order forbids the `-process` (and, if real-time, the
//! `-realtime`) variants of the cycles its plain model forbids, as Elle's
//! `consistency_model.clj` has them.

use serde::{Deserialize, Serialize};

/// A consistency model: the plain ones weakest first, then their strong
/// session and strong variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ConsistencyModel {
    ReadUncommitted,
    ReadCommitted,
    RepeatableRead,
    SnapshotIsolation,
    Serializable,
    StrongSessionReadUncommitted,
    StrongSessionReadCommitted,
    StrongSessionSnapshotIsolation,
    StrongSessionSerializable,
    StrongReadUncommitted,
    StrongReadCommitted,
    StrongSnapshotIsolation,
    StrictSerializable,
}

/// The order among txns a model promises beyond what their data says;
/// stronger orders are greater (a process's txns never overlap, so process
/// order is part of real-time order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Order {
    None,
    /// Each client's txns take effect in the order it ran them.
    Process,
    /// A txn that completed before another began takes effect first.
    Realtime,
}

use ConsistencyModel::*;

/// Broken by every model: a cycle of writes, or versions no total order
/// explains.
const ALWAYS: &[&str] = &["G0", "duplicate-elements", "cyclic-versions"];
/// Reading what was never committed, or a cycle of writes and reads. Two
/// reads no one order of versions holds imply a read of an aborted or
/// intermediate version (G1a); a read of the txn's own later write is a
/// one-txn wr cycle (G1c). As Elle has them.
const COMMITTED: &[&str] = &[
    "G1a",
    "G1b",
    "G1c",
    "dirty-update",
    "incompatible-order",
    "future-read",
];
/// What snapshot isolation adds: anti-dependency cycles whose rw edges are
/// not adjacent, and a txn that sees other txns' commits between its own
/// reads (`internal`: read committed and repeatable read allow it, a
/// snapshot does not; Elle, after Cerone et al.'s INT axiom).
const SNAPSHOT: &[&str] = &["G-single", "G-nonadjacent", "lost-update", "internal"];
/// Any cycle of anti-dependencies (write skew included).
const ITEM: &[&str] = &["G2-item"];

impl ConsistencyModel {
    pub const ALL: [ConsistencyModel; 13] = [
        ReadUncommitted,
        ReadCommitted,
        RepeatableRead,
        SnapshotIsolation,
        Serializable,
        StrongSessionReadUncommitted,
        StrongSessionReadCommitted,
        StrongSessionSnapshotIsolation,
        StrongSessionSerializable,
        StrongReadUncommitted,
        StrongReadCommitted,
        StrongSnapshotIsolation,
        StrictSerializable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ReadUncommitted => "read-uncommitted",
            ReadCommitted => "read-committed",
            RepeatableRead => "repeatable-read",
            SnapshotIsolation => "snapshot-isolation",
            Serializable => "serializable",
            StrongSessionReadUncommitted => "strong-session-read-uncommitted",
            StrongSessionReadCommitted => "strong-session-read-committed",
            StrongSessionSnapshotIsolation => "strong-session-snapshot-isolation",
            StrongSessionSerializable => "strong-session-serializable",
            StrongReadUncommitted => "strong-read-uncommitted",
            StrongReadCommitted => "strong-read-committed",
            StrongSnapshotIsolation => "strong-snapshot-isolation",
            StrictSerializable => "strict-serializable",
        }
    }

    /// The plain model under this one, and the order it promises on top.
    pub fn parts(self) -> (ConsistencyModel, Order) {
        match self {
            StrongSessionReadUncommitted => (ReadUncommitted, Order::Process),
            StrongSessionReadCommitted => (ReadCommitted, Order::Process),
            StrongSessionSnapshotIsolation => (SnapshotIsolation, Order::Process),
            StrongSessionSerializable => (Serializable, Order::Process),
            StrongReadUncommitted => (ReadUncommitted, Order::Realtime),
            StrongReadCommitted => (ReadCommitted, Order::Realtime),
            StrongSnapshotIsolation => (SnapshotIsolation, Order::Realtime),
            StrictSerializable => (Serializable, Order::Realtime),
            plain => (plain, Order::None),
        }
    }

    /// The order among txns this model promises (what edges checking it
    /// needs besides the data's).
    pub fn order(self) -> Order {
        self.parts().1
    }

    /// The plain models a plain model implies (itself included).
    fn plain_implies(self) -> &'static [ConsistencyModel] {
        match self {
            ReadUncommitted => &[ReadUncommitted],
            ReadCommitted => &[ReadCommitted, ReadUncommitted],
            RepeatableRead => &[RepeatableRead, ReadCommitted, ReadUncommitted],
            SnapshotIsolation => &[SnapshotIsolation, ReadCommitted, ReadUncommitted],
            _ => &[
                Serializable,
                RepeatableRead,
                SnapshotIsolation,
                ReadCommitted,
                ReadUncommitted,
            ],
        }
    }

    /// Whether every history this model allows, `weaker` allows too (a model
    /// implies itself): its plain model implies `weaker`'s, and its order
    /// holds `weaker`'s.
    pub fn implies(self, weaker: ConsistencyModel) -> bool {
        let (base, order) = self.parts();
        let (weaker_base, weaker_order) = weaker.parts();
        base.plain_implies().contains(&weaker_base) && order >= weaker_order
    }

    /// Whether a history holding `anomaly` breaks this model.
    pub fn forbids(self, anomaly: &str) -> bool {
        // Cycles that need process or real-time order to close break only
        // the models that promise that order.
        let (cycle, needs) = if let Some(c) = anomaly.strip_suffix("-realtime") {
            (c, Order::Realtime)
        } else if let Some(c) = anomaly.strip_suffix("-process") {
            (c, Order::Process)
        } else {
            (anomaly, Order::None)
        };
        let (base, order) = self.parts();
        order >= needs && base.plain_forbids(cycle)
    }

    /// Whether a plain model forbids `anomaly` (no `-process` or `-realtime`).
    fn plain_forbids(self, anomaly: &str) -> bool {
        self.plain_implies().iter().any(|m| {
            let own: &[&str] = match m {
                ReadUncommitted => ALWAYS,
                ReadCommitted => COMMITTED,
                RepeatableRead | Serializable => ITEM,
                SnapshotIsolation => SNAPSHOT,
                _ => &[],
            };
            // Repeatable read forbids the single-item anti-dependency cycles
            // (and lost updates) snapshot isolation does, not `internal`.
            own.contains(&anomaly)
                || (*m == RepeatableRead && SNAPSHOT.contains(&anomaly) && anomaly != "internal")
                || (*m == Serializable && anomaly == "internal")
        })
    }
}

crate::named_kind!(ConsistencyModel, "consistency model", "models");

/// The models `anomalies` rule out: the weakest ones (`not`: no weaker
/// model is ruled out too) and the rest (`also_not`).
pub fn ruled_out<'a>(
    anomalies: impl IntoIterator<Item = &'a str> + Clone,
) -> (Vec<ConsistencyModel>, Vec<ConsistencyModel>) {
    let out: Vec<ConsistencyModel> = ConsistencyModel::ALL
        .into_iter()
        .filter(|m| anomalies.clone().into_iter().any(|a| m.forbids(a)))
        .collect();
    out.iter()
        .partition(|m| !out.iter().any(|w| w != *m && m.implies(*w)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every type the checker names.
    fn all_anomalies() -> Vec<String> {
        let mut out: Vec<String> = [ALWAYS, COMMITTED, SNAPSHOT, ITEM]
            .concat()
            .iter()
            .map(|a| a.to_string())
            .collect();
        for cycle in ["G0", "G1c", "G-single", "G-nonadjacent", "G2-item"] {
            out.push(format!("{cycle}-process"));
            out.push(format!("{cycle}-realtime"));
        }
        out
    }

    #[test]
    fn each_model_forbids_what_its_weaker_ones_do() {
        for m in ConsistencyModel::ALL {
            for w in ConsistencyModel::ALL.into_iter().filter(|w| m.implies(*w)) {
                for a in all_anomalies() {
                    assert!(!w.forbids(&a) || m.forbids(&a), "{m} vs {w} on {a}");
                }
            }
        }
    }

    /// The lattice as Elle's `consistency_model.clj` draws it.
    #[test]
    fn session_and_strong_models_sit_between_their_neighbours() {
        let chain = [
            StrictSerializable,
            StrongSessionSerializable,
            Serializable,
            SnapshotIsolation,
            ReadCommitted,
            ReadUncommitted,
        ];
        for w in chain.windows(2) {
            assert!(w[0].implies(w[1]) && !w[1].implies(w[0]), "{w:?}");
        }
        assert!(StrictSerializable.implies(StrongSnapshotIsolation));
        assert!(StrongSnapshotIsolation.implies(StrongSessionSnapshotIsolation));
        assert!(StrongSessionSerializable.implies(StrongSessionSnapshotIsolation));
        assert!(StrongSessionSnapshotIsolation.implies(StrongSessionReadCommitted));
        assert!(StrongReadCommitted.implies(StrongReadUncommitted));
        assert!(!StrongSessionSerializable.implies(StrongSnapshotIsolation));
        assert!(!StrongSnapshotIsolation.implies(Serializable));
        assert!(!StrongSessionSnapshotIsolation.implies(RepeatableRead));
    }

    #[test]
    fn write_skew_rules_out_repeatable_read_but_not_snapshot_isolation() {
        let (not, also) = ruled_out(["G2-item"]);
        assert_eq!(not, [RepeatableRead]);
        assert_eq!(
            also,
            [Serializable, StrongSessionSerializable, StrictSerializable]
        );
        let (not, also) = ruled_out(["G1c"]);
        assert_eq!(not, [ReadCommitted]);
        assert_eq!(also.len(), 9);
        assert_eq!(
            ruled_out(["G-single"]).0,
            [RepeatableRead, SnapshotIsolation]
        );
    }

    /// Elle's answers for its tests "Strong SI violation", "Strong Session
    /// SI violation" and `wr-process-test`.
    #[test]
    fn process_and_realtime_cycles_rule_out_the_session_and_strong_models() {
        let (not, also) = ruled_out(["G-single-realtime"]);
        assert_eq!(not, [StrongSnapshotIsolation]);
        assert_eq!(also, [StrictSerializable]);
        let (not, also) = ruled_out(["G-single-process"]);
        assert_eq!(not, [StrongSessionSnapshotIsolation]);
        assert_eq!(
            also,
            [
                StrongSessionSerializable,
                StrongSnapshotIsolation,
                StrictSerializable
            ]
        );
        assert_eq!(ruled_out(["G1c-process"]).0, [StrongSessionReadCommitted]);
        assert_eq!(ruled_out(["G0-realtime"]).0, [StrongReadUncommitted]);
        // Write skew across a process: only the serializable ones.
        let (not, also) = ruled_out(["G2-item-process"]);
        assert_eq!(not, [StrongSessionSerializable]);
        assert_eq!(also, [StrictSerializable]);
        assert!(!StrongSessionSerializable.forbids("G2-item-realtime"));
        assert!(StrongSessionSerializable.forbids("lost-update"));
    }

    #[test]
    fn orders_say_which_edges_a_check_needs() {
        assert_eq!(Serializable.order(), Order::None);
        assert_eq!(StrongSessionSerializable.order(), Order::Process);
        assert_eq!(StrictSerializable.order(), Order::Realtime);
        for m in ConsistencyModel::ALL {
            assert_eq!(m.name().parse::<ConsistencyModel>().unwrap(), m);
        }
    }

    /// Read committed lets a txn see others' commits between its reads; a
    /// snapshot does not (PostgreSQL's read committed shows `internal`).
    #[test]
    fn internal_rules_out_snapshots_not_read_committed() {
        let (not, also) = ruled_out(["internal"]);
        assert_eq!(not, [SnapshotIsolation]);
        assert!(also.contains(&Serializable) && also.contains(&StrictSerializable));
        assert!(!also.contains(&StrongSessionReadCommitted));
        let (not, _) = ruled_out(["incompatible-order"]);
        assert_eq!(not, [ReadCommitted]);
        let (not, _) = ruled_out(["G0"]);
        assert_eq!(not, [ReadUncommitted]);
    }
}
