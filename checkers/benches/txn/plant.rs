//! Anomalies to plant into a valid generated history: for each type the
//! checker names, a few txns on keys of their own that show it, and the
//! order of their invocations and completions. Planted on fresh keys, a
//! gadget adds no data dependency to the rest of the history, so what the
//! checker finds beyond the database's (nothing, for a valid one) is the
//! gadget's doing: its type, and the `implied` types the same txns also
//! show (said for each why).

use faultline_checkers::evidence::TxnEvidence;
use faultline_checkers::txn::TxnWorkload::{self, ListAppend, RwRegister};
use std::collections::BTreeSet;

/// How a planted txn ends.
#[derive(Clone, Copy, PartialEq)]
pub enum End {
    Ok,
    Fail,
}
use End::{Fail, Ok};

/// One planted anomaly.
pub struct Gadget {
    /// The type the checker must name.
    pub kind: &'static str,
    /// Other types these txns show too.
    pub implied: &'static [&'static str],
    pub workload: TxnWorkload,
    /// Its txns: (process, how it ends, micro-ops as completed), e.g.
    /// `"append x 1; r y [1]"` or `"w x 1; r y nil"`. A process is the
    /// gadget's own (numbered after the database's clients).
    txns: &'static [(u64, End, &'static str)],
    /// Txn numbers in the order of their events: a txn's first mention is
    /// its invocation, its second its completion.
    script: &'static str,
}

impl Gadget {
    /// Its events as (process, type, value): keys renamed for the `copy`-th
    /// plant (`x` -> `"p3.x"`), processes after the first `clients`. An
    /// invocation's reads are null, as a client writes them.
    pub fn events(&self, copy: usize, clients: u64) -> Vec<(u64, &'static str, String)> {
        let mut invoked = vec![false; self.txns.len()];
        self.script
            .split_whitespace()
            .map(|t| {
                let t: usize = t.parse().expect("a txn number");
                let (process, end, mops) = self.txns[t];
                let kind = match (invoked[t], end) {
                    (false, _) => "invoke",
                    (true, Ok) => "ok",
                    (true, Fail) => "fail",
                };
                let completed = invoked[t] && end == Ok;
                invoked[t] = true;
                (clients + process, kind, value(mops, copy, completed))
            })
            .collect()
    }
}

/// The JSON of micro-ops written `f key value; ...`, keys renamed for the
/// `copy`-th plant, reads filled in only if `completed`.
fn value(mops: &str, copy: usize, completed: bool) -> String {
    let mops: Vec<String> = mops
        .split(';')
        .map(|m| {
            let mut parts = m.split_whitespace();
            let (f, key) = (parts.next().unwrap(), parts.next().unwrap());
            let v: String = parts.collect();
            let v = match (f, v.as_str()) {
                ("r", _) if !completed => "null",
                (_, "nil") => "null",
                (_, v) => v,
            };
            format!("[\"{f}\",\"p{copy}.{key}\",{v}]")
        })
        .collect();
    format!("[{}]", mops.join(","))
}

/// How a type found in a history with a plant relates to it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Relation {
    /// The planted type.
    Planted,
    /// One the plant's txns show by themselves (`Gadget::implied`).
    Implied,
    /// Every example of it is a cycle through a planted txn and the
    /// database's txns that ran between planted ones: a plant that goes
    /// back in time closes cycles with their forward (real-time, rw, ...)
    /// edges too.
    ThroughPlant,
    /// None of the above: a bug to look into.
    Unexplained,
}

/// Every type found, its count, and how it relates to the plant.
pub fn relate(
    plant: Option<&Gadget>,
    planted_txns: &BTreeSet<u64>,
    evidence: &TxnEvidence,
) -> Vec<(String, u64, Relation)> {
    evidence
        .anomaly_types
        .iter()
        .map(|t| {
            let n = evidence.anomaly_counts[t.as_str()].as_u64().unwrap_or(0);
            let through_plant = || {
                evidence.anomalies[t.as_str()]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .all(|example| {
                        example["ops"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|op| op.as_u64().is_some_and(|i| planted_txns.contains(&i)))
                    })
            };
            let relation = match plant {
                Some(g) if g.kind == t => Relation::Planted,
                Some(g) if g.implied.contains(&t.as_str()) => Relation::Implied,
                Some(_) if through_plant() => Relation::ThroughPlant,
                _ => Relation::Unexplained,
            };
            (t.clone(), n, relation)
        })
        .collect()
}

/// The gadgets of `w`.
pub fn gadgets(w: TxnWorkload) -> impl Iterator<Item = &'static Gadget> {
    GADGETS.iter().filter(move |g| g.workload == w)
}

/// Shorthand: a gadget of workload `w`.
const fn g(
    w: TxnWorkload,
    kind: &'static str,
    implied: &'static [&'static str],
    txns: &'static [(u64, End, &'static str)],
    script: &'static str,
) -> Gadget {
    Gadget {
        kind,
        implied,
        workload: w,
        txns,
        script,
    }
}

/// Every gadget. In the `-process` and `-realtime` ones the cycle closes
/// only through the order of one process's txns, or through a txn that
/// completed before another was invoked; in the others every txn of the
/// cycle overlaps the others, so no such order closes one.
pub static GADGETS: &[Gadget] = &[
    // --- list-append ---
    // x's versions say T0 < T1, y's say T1 < T0.
    g(
        ListAppend,
        "G0",
        &[],
        &[
            (0, Ok, "append x 1; append y 1"),
            (1, Ok, "append x 2; append y 2"),
            (2, Ok, "r x [1,2]; r y [2,1]"),
        ],
        "0 1 0 1 2 2",
    ),
    g(
        ListAppend,
        "G0-process",
        &[],
        &[
            (0, Ok, "append x 1"),
            (0, Ok, "append x 2"),
            (1, Ok, "r x [2,1]"),
        ],
        "0 0 1 1 2 2",
    ),
    g(
        ListAppend,
        "G0-realtime",
        &[],
        &[
            (0, Ok, "append x 1"),
            (1, Ok, "append x 2"),
            (2, Ok, "r x [2,1]"),
        ],
        "0 0 1 1 2 2",
    ),
    g(
        ListAppend,
        "G1a",
        &[],
        &[(0, Fail, "append x 1"), (1, Ok, "r x [1]")],
        "0 0 1 1",
    ),
    // T1 read T0's state between its two appends, and T0's second append
    // overwrote what T1 read: T0 -wr-> T1 -rw-> T0.
    g(
        ListAppend,
        "G1b",
        &["G-single"],
        &[
            (0, Ok, "append x 1; append x 2"),
            (1, Ok, "r x [1]"),
            (2, Ok, "r x [1,2]"),
        ],
        "0 1 0 1 2 2",
    ),
    g(
        ListAppend,
        "G1c",
        &[],
        &[
            (0, Ok, "append x 1; r y [1]"),
            (1, Ok, "append y 1; r x [1]"),
        ],
        "0 1 0 1",
    ),
    // T0 read what T1, run after it, appended.
    g(
        ListAppend,
        "G1c-process",
        &[],
        &[(0, Ok, "r x [1]"), (0, Ok, "append x 1")],
        "0 0 1 1",
    ),
    g(
        ListAppend,
        "G1c-realtime",
        &[],
        &[(0, Ok, "r x [1]"), (1, Ok, "append x 1")],
        "0 0 1 1",
    ),
    // Read skew: T0 saw T1's y but not its x.
    g(
        ListAppend,
        "G-single",
        &[],
        &[
            (0, Ok, "r x []; r y [1]"),
            (1, Ok, "append x 1; append y 1"),
            (2, Ok, "r x [1]"),
        ],
        "0 1 1 0 2 2",
    ),
    // A stale read after the reader's own process (or anyone) committed.
    g(
        ListAppend,
        "G-single-process",
        &[],
        &[(0, Ok, "append x 1"), (0, Ok, "r x []"), (1, Ok, "r x [1]")],
        "0 0 1 1 2 2",
    ),
    g(
        ListAppend,
        "G-single-realtime",
        &[],
        &[(0, Ok, "append x 1"), (1, Ok, "r x []"), (2, Ok, "r x [1]")],
        "0 0 1 1 2 2",
    ),
    // T0 -rw-> T1 -wr-> T2 -rw-> T3 -wr-> T0.
    g(
        ListAppend,
        "G-nonadjacent",
        &[],
        &[
            (0, Ok, "r a []; r d [1]"),
            (1, Ok, "append a 1; append b 1"),
            (2, Ok, "r b [1]; r c []"),
            (3, Ok, "append c 1; append d 1"),
            (4, Ok, "r a [1]; r c [1]"),
        ],
        "0 1 2 3 1 3 0 2 4 4",
    ),
    // T0 -rw-> T1 -wr-> T2 -rw-> T3, and T3 ran before T0.
    g(
        ListAppend,
        "G-nonadjacent-process",
        &[],
        &[
            (0, Ok, "r a []"),
            (1, Ok, "append a 1; append b 1"),
            (2, Ok, "r b [1]; r c []"),
            (0, Ok, "append c 1"),
        ],
        "1 2 3 3 0 0 1 2",
    ),
    g(
        ListAppend,
        "G-nonadjacent-realtime",
        &[],
        &[
            (0, Ok, "r a []"),
            (1, Ok, "append a 1; append b 1"),
            (2, Ok, "r b [1]; r c []"),
            (3, Ok, "append c 1"),
        ],
        "1 2 3 3 0 0 1 2",
    ),
    // Write skew.
    g(
        ListAppend,
        "G2-item",
        &[],
        &[
            (0, Ok, "r x []; append y 1"),
            (1, Ok, "r y []; append x 1"),
            (2, Ok, "r x [1]; r y [1]"),
        ],
        "0 1 0 1 2 2",
    ),
    // T0 -rw-> T1 -rw-> T2, and T2 ran before T0.
    g(
        ListAppend,
        "G2-item-process",
        &[],
        &[
            (0, Ok, "r x []"),
            (1, Ok, "append x 1; r y []"),
            (0, Ok, "append y 1"),
        ],
        "1 2 2 0 0 1",
    ),
    g(
        ListAppend,
        "G2-item-realtime",
        &[],
        &[
            (0, Ok, "r x []"),
            (1, Ok, "append x 1; r y []"),
            (2, Ok, "append y 1"),
        ],
        "1 2 2 0 0 1",
    ),
    g(
        ListAppend,
        "internal",
        &[],
        &[(0, Ok, "append x 1; r x []")],
        "0 0",
    ),
    // A read of the failed T0's append, which T1's follows.
    g(
        ListAppend,
        "dirty-update",
        &["G1a"],
        &[
            (0, Fail, "append x 1"),
            (1, Ok, "append x 2"),
            (2, Ok, "r x [1,2]"),
        ],
        "0 0 1 1 2 2",
    ),
    g(
        ListAppend,
        "duplicate-elements",
        &[],
        &[(0, Ok, "append x 1"), (1, Ok, "r x [1,1]")],
        "0 0 1 1",
    ),
    g(
        ListAppend,
        "incompatible-order",
        &[],
        &[
            (0, Ok, "append x 1"),
            (1, Ok, "append x 2"),
            (2, Ok, "r x [1,2]"),
            (3, Ok, "r x [2,1]"),
        ],
        "0 1 0 1 2 3 2 3",
    ),
    // Both read x empty and appended; T0's append comes first, so T1 read
    // a version T0 overwrote: T0 -ww-> T1 -rw-> T0.
    g(
        ListAppend,
        "lost-update",
        &["G-single"],
        &[
            (0, Ok, "r x []; append x 1"),
            (1, Ok, "r x []; append x 2"),
            (2, Ok, "r x [1,2]"),
        ],
        "0 1 0 1 2 2",
    ),
    g(
        ListAppend,
        "future-read",
        &[],
        &[(0, Ok, "r x [1]; append x 1")],
        "0 0",
    ),
    // --- rw-register ---
    // Each read the other's write and then wrote over it: x says T0 < T1,
    // y says T1 < T0; the reads are wr edges too.
    g(
        RwRegister,
        "G0",
        &["G1c"],
        &[
            (0, Ok, "w x 1; r y 2; w y 1"),
            (1, Ok, "w y 2; r x 1; w x 2"),
        ],
        "0 1 0 1",
    ),
    // T0 read T1's later x and wrote over it: T1 -ww,wr-> T0.
    g(
        RwRegister,
        "G0-process",
        &["G1c-process"],
        &[(0, Ok, "r x 2; w x 1"), (0, Ok, "w x 2")],
        "0 0 1 1",
    ),
    g(
        RwRegister,
        "G0-realtime",
        &["G1c-realtime"],
        &[(0, Ok, "r x 2; w x 1"), (1, Ok, "w x 2")],
        "0 0 1 1",
    ),
    g(
        RwRegister,
        "G1a",
        &[],
        &[(0, Fail, "w x 1"), (1, Ok, "r x 1")],
        "0 0 1 1",
    ),
    g(
        RwRegister,
        "G1b",
        &[],
        &[(0, Ok, "w x 1; w x 2"), (1, Ok, "r x 1")],
        "0 1 0 1",
    ),
    g(
        RwRegister,
        "G1c",
        &[],
        &[(0, Ok, "w x 1; r y 1"), (1, Ok, "w y 1; r x 1")],
        "0 1 0 1",
    ),
    g(
        RwRegister,
        "G1c-process",
        &[],
        &[(0, Ok, "r x 1"), (0, Ok, "w x 1")],
        "0 0 1 1",
    ),
    g(
        RwRegister,
        "G1c-realtime",
        &[],
        &[(0, Ok, "r x 1"), (1, Ok, "w x 1")],
        "0 0 1 1",
    ),
    // Read skew: T0 saw x unset and T1's y.
    g(
        RwRegister,
        "G-single",
        &[],
        &[(0, Ok, "r x nil; r y 1"), (1, Ok, "w x 1; w y 1")],
        "0 1 1 0",
    ),
    g(
        RwRegister,
        "G-single-process",
        &[],
        &[(0, Ok, "w x 1"), (0, Ok, "r x nil")],
        "0 0 1 1",
    ),
    g(
        RwRegister,
        "G-single-realtime",
        &[],
        &[(0, Ok, "w x 1"), (1, Ok, "r x nil")],
        "0 0 1 1",
    ),
    g(
        RwRegister,
        "G-nonadjacent",
        &[],
        &[
            (0, Ok, "r a nil; r d 1"),
            (1, Ok, "w a 1; w b 1"),
            (2, Ok, "r b 1; r c nil"),
            (3, Ok, "w c 1; w d 1"),
        ],
        "0 1 2 3 1 3 0 2",
    ),
    g(
        RwRegister,
        "G-nonadjacent-process",
        &[],
        &[
            (0, Ok, "r a nil"),
            (1, Ok, "w a 1; w b 1"),
            (2, Ok, "r b 1; r c nil"),
            (0, Ok, "w c 1"),
        ],
        "1 2 3 3 0 0 1 2",
    ),
    g(
        RwRegister,
        "G-nonadjacent-realtime",
        &[],
        &[
            (0, Ok, "r a nil"),
            (1, Ok, "w a 1; w b 1"),
            (2, Ok, "r b 1; r c nil"),
            (3, Ok, "w c 1"),
        ],
        "1 2 3 3 0 0 1 2",
    ),
    g(
        RwRegister,
        "G2-item",
        &[],
        &[(0, Ok, "r x nil; w y 1"), (1, Ok, "r y nil; w x 1")],
        "0 1 0 1",
    ),
    g(
        RwRegister,
        "G2-item-process",
        &[],
        &[
            (0, Ok, "r x nil"),
            (1, Ok, "w x 1; r y nil"),
            (0, Ok, "w y 1"),
        ],
        "1 2 2 0 0 1",
    ),
    g(
        RwRegister,
        "G2-item-realtime",
        &[],
        &[
            (0, Ok, "r x nil"),
            (1, Ok, "w x 1; r y nil"),
            (2, Ok, "w y 1"),
        ],
        "1 2 2 0 0 1",
    ),
    g(
        RwRegister,
        "internal",
        &[],
        &[(0, Ok, "w x 1; r x nil")],
        "0 0",
    ),
    // Both read x unset and wrote it: each read a version the other's
    // write follows, T0 -rw-> T1 -rw-> T0.
    g(
        RwRegister,
        "lost-update",
        &["G2-item"],
        &[(0, Ok, "r x nil; w x 1"), (1, Ok, "r x nil; w x 2")],
        "0 1 0 1",
    ),
    g(
        RwRegister,
        "future-read",
        &[],
        &[(0, Ok, "r x 1; w x 1")],
        "0 0",
    ),
    // T0 says 1 < 2, T1 says 2 < 1; each read the other's write (wr both
    // ways).
    g(
        RwRegister,
        "cyclic-versions",
        &["G1c"],
        &[(0, Ok, "r y 1; w y 2"), (1, Ok, "r y 2; w y 1")],
        "0 1 0 1",
    ),
];
