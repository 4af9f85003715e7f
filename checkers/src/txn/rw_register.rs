//! Dependencies of a rw-register history.
//!
//! Values are unique per key, so a read names the txn whose write it saw
//! (`wr`). A register's reads do not show its history, so the order of
//! versions is known only where it can be inferred soundly: the initial
//! (unset) version comes before every written one, and a txn that read `u`
//! and then wrote `v` puts `u` before `v`. Each known pair `u < v` gives `ww`
//! (the writer of `u` to the writer of `v`) and `rw` (every reader of `u` to
//! the writer of `v`). Elle's opt-in assumptions (linearizable or
//! sequential keys) are not built.

use super::anomaly::Anomalies;
use super::graph::{Edges, RW, WR, WW};
use super::history::{Key, Mop, Status, TxnId, Txns};
use rustc_hash::FxHashMap;
use serde_json::json;

#[derive(Clone, Copy)]
struct Writer {
    txn: TxnId,
    last: bool,
}

/// What was inferred, kept to explain edges afterwards.
pub struct RwRegister<'t> {
    txns: &'t Txns,
    writers: FxHashMap<(Key, i64), Writer>,
}

/// A version: `None` is the initial, unset one.
type Version = Option<i64>;

fn show(v: Version) -> String {
    v.map_or("nil".to_string(), |v| v.to_string())
}

/// The first read of `k` in a txn before it writes `k`: what it saw of others.
fn external_read(mops: &[Mop], k: Key) -> Option<Version> {
    for m in mops {
        match *m {
            Mop::Write(k2, _) if k2 == k => return None,
            Mop::ReadReg(k2, Some(v)) if k2 == k => return Some(v),
            _ => {}
        }
    }
    None
}

pub fn infer<'t>(
    txns: &'t Txns,
    edges: &mut Edges,
    found: &mut Anomalies,
) -> Result<RwRegister<'t>, String> {
    let name = |x: TxnId| txns.txns[x as usize].invoke;
    let mut writers: FxHashMap<(Key, i64), Writer> = FxHashMap::default();
    let mut written: Vec<Vec<i64>> = vec![Vec::new(); txns.keys.len()];
    for (t, txn) in txns.txns.iter().enumerate() {
        for (i, m) in txns.mops(txn).iter().enumerate() {
            let Mop::Write(k, v) = *m else { continue };
            let last = !txns.mops(txn)[i + 1..]
                .iter()
                .any(|n| matches!(n, Mop::Write(k2, _) if *k2 == k));
            let w = Writer {
                txn: t as TxnId,
                last,
            };
            if let Some(prev) = writers.insert((k, v), w) {
                return Err(format!(
                    "key {}: value {v} is written by both op {} and op {}; rw-register needs values unique per key",
                    txns.key_name(k),
                    name(prev.txn),
                    txn.invoke
                ));
            }
            if txn.status != Status::Fail {
                written[k as usize].push(v);
            }
        }
    }

    let mut readers: FxHashMap<(Key, Version), Vec<TxnId>> = FxHashMap::default();
    // Version pairs known from inside one txn: key -> (earlier, later).
    let mut pairs: FxHashMap<Key, Vec<(Version, i64)>> = FxHashMap::default();
    let mut read_then_wrote: FxHashMap<(Key, Version), Vec<TxnId>> = FxHashMap::default();
    for (t, txn) in txns.txns.iter().enumerate() {
        if txn.status != Status::Ok {
            continue;
        }
        let t = t as TxnId;
        // Per key: its last own write, and its last read.
        let mut state: Vec<(Key, Option<i64>, Option<Version>)> = Vec::new();
        for (i, m) in txns.mops(txn).iter().enumerate() {
            let k = m.key();
            let at = match state.iter().position(|s| s.0 == k) {
                Some(p) => p,
                None => {
                    state.push((k, None, None));
                    state.len() - 1
                }
            };
            let (_, wrote, read) = &mut state[at];
            match *m {
                Mop::ReadReg(_, Some(x)) => {
                    let expected = match (*wrote, *read) {
                        (Some(w), _) => Some(Some(w)),
                        (None, Some(r)) => Some(r),
                        (None, None) => None,
                    };
                    if let Some(e) = expected.filter(|e| *e != x) {
                        found.add("internal", vec![t], || {
                            let line = format!(
                                "T{} read {} = {} (micro-op {i}), but its own earlier micro-ops say it must be {}",
                                txn.invoke,
                                txns.key_name(k),
                                show(x),
                                show(e)
                            );
                            (vec![line], json!({"key": txns.key_name(k), "mop": i}))
                        });
                    }
                    if wrote.is_none() && read.is_none() {
                        readers.entry((k, x)).or_default().push(t);
                        if let Some(v) = x {
                            external_wr(txns, &writers, t, k, v, edges, found);
                        }
                    }
                    *read = Some(x);
                }
                Mop::Write(_, v) => {
                    if wrote.is_none() {
                        if let Some(x) = *read {
                            pairs.entry(k).or_default().push((x, v));
                            read_then_wrote.entry((k, x)).or_default().push(t);
                        }
                    }
                    *wrote = Some(v);
                }
                _ => {}
            }
        }
    }

    // Versions inferred in a cycle explain nothing: report, and drop them.
    let mut pairs: Vec<(Key, Vec<(Version, i64)>)> = pairs.into_iter().collect();
    pairs.sort_unstable_by_key(|p| p.0);
    for (k, list) in &mut pairs {
        if let Some(cycle) = version_cycle(list) {
            found.add("cyclic-versions", vec![], || {
                let line = format!(
                    "the versions of {} inferred from txns that read one value and then wrote the next form a cycle: {}",
                    txns.key_name(*k),
                    cycle.iter().map(|v| show(*v)).collect::<Vec<_>>().join(" < ")
                );
                (vec![line], json!({"key": txns.key_name(*k)}))
            });
            list.clear();
        }
    }

    let live = |v: i64, k: Key| {
        writers
            .get(&(k, v))
            .filter(|w| txns.txns[w.txn as usize].status != Status::Fail)
            .copied()
    };
    let version_edge = |k: Key, x: Version, v: i64, edges: &mut Edges| {
        let Some(w) = live(v, k) else { return };
        if let Some(u) = x {
            if let Some(wu) = live(u, k) {
                edges.add(wu.txn, w.txn, WW);
            }
        }
        for &r in readers.get(&(k, x)).into_iter().flatten() {
            edges.add(r, w.txn, RW);
        }
    };
    for (k, vs) in written.iter().enumerate() {
        if readers.contains_key(&(k as Key, None)) {
            for &v in vs {
                version_edge(k as Key, None, v, edges);
            }
        }
    }
    for (k, list) in &pairs {
        for &(x, v) in list {
            if x.is_some() {
                version_edge(*k, x, v, edges);
            }
        }
    }

    let mut lost: Vec<_> = read_then_wrote
        .into_iter()
        .filter(|(_, ts)| ts.len() > 1)
        .collect();
    lost.sort_unstable_by_key(|(kx, _)| *kx);
    for ((k, x), ts) in lost {
        found.add("lost-update", ts.clone(), || {
            let who: Vec<String> = ts.iter().map(|&t| format!("T{}", name(t))).collect();
            let line = format!(
                "{} each read {} = {} and then wrote it; one of those writes was lost to the others' reads",
                who.join(", "),
                txns.key_name(k),
                show(x)
            );
            (vec![line], json!({"key": txns.key_name(k)}))
        });
    }
    Ok(RwRegister { txns, writers })
}

/// The wr edge of an external read of `k = v` by `t`, and what it may reveal.
fn external_wr(
    txns: &Txns,
    writers: &FxHashMap<(Key, i64), Writer>,
    t: TxnId,
    k: Key,
    v: i64,
    edges: &mut Edges,
    found: &mut Anomalies,
) {
    let name = |x: TxnId| txns.txns[x as usize].invoke;
    let key = txns.key_name(k);
    let Some(w) = writers.get(&(k, v)).copied() else {
        return;
    };
    if w.txn == t {
        found.add("future-read", vec![t], || {
            let line = format!("T{} read {key} = {v} before it wrote {v} itself", name(t));
            (vec![line], json!({"key": key}))
        });
        return;
    }
    if txns.txns[w.txn as usize].status == Status::Fail {
        found.add("G1a", vec![t, w.txn], || {
            let line = format!(
                "T{} wrote {key} = {v} and failed (did not commit); T{} read {key} = {v}",
                name(w.txn),
                name(t)
            );
            (vec![line], json!({"key": key, "value": v}))
        });
        return;
    }
    if !w.last {
        found.add("G1b", vec![w.txn, t], || {
            let line = format!(
                "T{} wrote {key} = {v} and then wrote {key} again; T{} read {key} = {v}, the value in between",
                name(w.txn),
                name(t)
            );
            (vec![line], json!({"key": key, "value": v}))
        });
    }
    edges.add(w.txn, t, WR);
}

/// A cycle among the version pairs of one key, if any.
fn version_cycle(pairs: &[(Version, i64)]) -> Option<Vec<Version>> {
    let mut ids: FxHashMap<Version, petgraph::graph::NodeIndex> = FxHashMap::default();
    let mut g = petgraph::Graph::<Version, ()>::new();
    for &(x, v) in pairs {
        let a = *ids.entry(x).or_insert_with(|| g.add_node(x));
        let b = *ids.entry(Some(v)).or_insert_with(|| g.add_node(Some(v)));
        g.add_edge(a, b, ());
    }
    petgraph::algo::tarjan_scc(&g)
        .into_iter()
        .find(|scc| scc.len() > 1)
        .map(|scc| scc.into_iter().map(|n| g[n]).collect())
}

impl RwRegister<'_> {
    /// Why `a -> b` with data label `label`, in words.
    pub fn explain(&self, a: TxnId, b: TxnId, label: u8) -> String {
        let txns = self.txns;
        let name = |x: TxnId| txns.txns[x as usize].invoke;
        let (ta, tb) = (&txns.txns[a as usize], &txns.txns[b as usize]);
        let writer_of = |k: Key, v: i64| self.writers.get(&(k, v)).map(|w| w.txn);
        let writes = |t: &super::history::Txn| {
            txns.mops(t)
                .iter()
                .filter_map(|m| match *m {
                    Mop::Write(k, v) => Some((k, v)),
                    _ => None,
                })
                .collect::<Vec<_>>()
        };
        match label {
            WR => {
                for m in txns.mops(tb) {
                    if let Mop::ReadReg(k, Some(Some(v))) = *m {
                        if writer_of(k, v) == Some(a) {
                            return format!(
                                "T{} wrote {k} = {v}; T{} read {k} = {v}, so T{} -> T{} (wr)",
                                name(a),
                                name(b),
                                name(a),
                                name(b),
                                k = txns.key_name(k)
                            );
                        }
                    }
                }
            }
            WW | RW => {
                for (k, v) in writes(tb) {
                    let Some(x) = external_read(txns.mops(tb), k) else {
                        continue;
                    };
                    let from_ok = match label {
                        WW => x.is_some_and(|u| writer_of(k, u) == Some(a)),
                        _ => external_read(txns.mops(ta), k) == Some(x),
                    };
                    if from_ok {
                        let what = if label == WW {
                            format!("T{} wrote {k} = {}", name(a), show(x), k = txns.key_name(k))
                        } else {
                            format!("T{} read {k} = {}", name(a), show(x), k = txns.key_name(k))
                        };
                        return format!(
                            "{what}; T{} read {k} = {} and then wrote {k} = {v}, a later version, so T{} -> T{} ({})",
                            name(b),
                            show(x),
                            name(a),
                            name(b),
                            super::graph::label_name(label),
                            k = txns.key_name(k)
                        );
                    }
                }
                if label == RW {
                    for (k, v) in writes(tb) {
                        if external_read(txns.mops(ta), k) == Some(None) {
                            return format!(
                                "T{} read {k} = nil, the initial state; T{} wrote {k} = {v}, a later version, so T{} -> T{} (rw)",
                                name(a), name(b), name(a), name(b),
                                k = txns.key_name(k)
                            );
                        }
                    }
                }
            }
            _ => {}
        }
        format!("T{} -> T{}", name(a), name(b))
    }
}
