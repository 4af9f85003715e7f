//! Consistency models and the anomalies each forbids (Adya's and Elle's
//! definitions, for single-item histories), and which models a set of found
//! anomalies rules out.

use serde::{Deserialize, Serialize};

/// A consistency model, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ConsistencyModel {
    ReadUncommitted,
    ReadCommitted,
    RepeatableRead,
    SnapshotIsolation,
    Serializable,
    StrictSerializable,
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
    pub const ALL: [ConsistencyModel; 6] = [
        ReadUncommitted,
        ReadCommitted,
        RepeatableRead,
        SnapshotIsolation,
        Serializable,
        StrictSerializable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ReadUncommitted => "read-uncommitted",
            ReadCommitted => "read-committed",
            RepeatableRead => "repeatable-read",
            SnapshotIsolation => "snapshot-isolation",
            Serializable => "serializable",
            StrictSerializable => "strict-serializable",
        }
    }

    /// The models this one implies (itself included).
    pub fn implies(self) -> &'static [ConsistencyModel] {
        match self {
            ReadUncommitted => &[ReadUncommitted],
            ReadCommitted => &[ReadCommitted, ReadUncommitted],
            RepeatableRead => &[RepeatableRead, ReadCommitted, ReadUncommitted],
            SnapshotIsolation => &[SnapshotIsolation, ReadCommitted, ReadUncommitted],
            Serializable => &[
                Serializable,
                RepeatableRead,
                SnapshotIsolation,
                ReadCommitted,
                ReadUncommitted,
            ],
            StrictSerializable => &[
                StrictSerializable,
                Serializable,
                RepeatableRead,
                SnapshotIsolation,
                ReadCommitted,
                ReadUncommitted,
            ],
        }
    }

    /// Whether a history holding `anomaly` breaks this model.
    pub fn forbids(self, anomaly: &str) -> bool {
        // Cycles that need process or real-time order to close break only
        // the model that promises those orders.
        if let Some(base) = anomaly
            .strip_suffix("-realtime")
            .or_else(|| anomaly.strip_suffix("-process"))
        {
            return self == StrictSerializable && Serializable.forbids(base);
        }
        self.implies().iter().any(|m| {
            let own: &[&str] = match m {
                ReadUncommitted => ALWAYS,
                ReadCommitted => COMMITTED,
                RepeatableRead => ITEM,
                SnapshotIsolation => SNAPSHOT,
                Serializable => ITEM,
                StrictSerializable => &[],
            };
            // Repeatable read forbids the single-item anti-dependency cycles
            // (and lost updates) snapshot isolation does, not `internal`.
            own.contains(&anomaly)
                || (*m == RepeatableRead && SNAPSHOT.contains(&anomaly) && anomaly != "internal")
                || (*m == Serializable && anomaly == "internal")
        })
    }

    /// Whether checking this model needs real-time (and process) edges.
    pub fn needs_realtime(self) -> bool {
        self == StrictSerializable
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
        .partition(|m| !out.iter().any(|w| w != *m && m.implies().contains(w)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_model_forbids_what_its_weaker_ones_do() {
        for m in ConsistencyModel::ALL {
            for w in m.implies() {
                for a in ["G0", "G1a", "G1c", "G-single", "G2-item", "lost-update"] {
                    assert!(!w.forbids(a) || m.forbids(a), "{m} vs {w} on {a}");
                }
            }
        }
    }

    #[test]
    fn write_skew_rules_out_repeatable_read_but_not_snapshot_isolation() {
        let (not, also) = ruled_out(["G2-item"]);
        assert_eq!(not, [RepeatableRead]);
        assert_eq!(also, [Serializable, StrictSerializable]);
        let (not, also) = ruled_out(["G1c"]);
        assert_eq!(not, [ReadCommitted]);
        assert_eq!(also.len(), 4);
        let (not, also) = ruled_out(["G-single-realtime"]);
        assert_eq!((not, also), (vec![StrictSerializable], vec![]));
        assert_eq!(
            ruled_out(["G-single"]).0,
            [RepeatableRead, SnapshotIsolation]
        );
    }

    /// Read committed lets a txn see others' commits between its reads; a
    /// snapshot does not (PostgreSQL's read committed shows `internal`).
    #[test]
    fn internal_rules_out_snapshots_not_read_committed() {
        let (not, also) = ruled_out(["internal"]);
        assert_eq!(not, [SnapshotIsolation]);
        assert_eq!(also, [Serializable, StrictSerializable]);
        let (not, _) = ruled_out(["incompatible-order"]);
        assert_eq!(not, [ReadCommitted]);
        let (not, _) = ruled_out(["G0"]);
        assert_eq!(not, [ReadUncommitted]);
    }
}
