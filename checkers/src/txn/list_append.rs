//! Dependencies of a list-append history.
//!
//! Values are unique per key, so every element names the txn that appended
//! it. Every committed read of a key must be a prefix of the longest one,
//! which gives the order of the key's versions: each element is a version.
//! From that order: `ww` from an element's writer to the next element's, `wr`
//! from the writer of the last element a read saw to the reader, `rw` from
//! the reader to the writer of the first element it did not see. A txn's own
//! appends at the end of its read are its own writes, not a dependency.

use super::anomaly::Anomalies;
use super::graph::{Edges, RW, WR, WW};
use super::history::{list_text, Key, Mop, Status, TxnId, Txns};
use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::json;

/// Who appended an element, and whether it was that txn's last append to the key.
#[derive(Clone, Copy)]
struct Writer {
    txn: TxnId,
    last: bool,
}

/// What was inferred, kept to explain edges afterwards.
pub struct ListAppend<'t> {
    txns: &'t Txns,
    writers: FxHashMap<(Key, i64), Writer>,
    /// Each key's longest committed read: the version order.
    longest: Vec<&'t [i64]>,
    /// Per key, committed appends that no read saw: (value, writer).
    unseen: Vec<Vec<(i64, TxnId)>>,
}

/// Infers the edges of `txns` into `edges`, and the anomalies that need no
/// cycle into `found`. `Err` for a history that breaks the workload's rules
/// (a value appended twice to one key).
pub fn infer<'t>(
    txns: &'t Txns,
    edges: &mut Edges,
    found: &mut Anomalies,
) -> Result<ListAppend<'t>, String> {
    let nkeys = txns.keys.len();
    let mut writers: FxHashMap<(Key, i64), Writer> = FxHashMap::default();
    for (t, txn) in txns.txns.iter().enumerate() {
        let appends = txns
            .mops(txn)
            .iter()
            .filter(|m| matches!(m, Mop::Append(..)));
        for (i, m) in appends.clone().enumerate() {
            let Mop::Append(k, v) = *m else { continue };
            let last = !appends
                .clone()
                .skip(i + 1)
                .any(|n| matches!(n, Mop::Append(k2, _) if *k2 == k));
            let w = Writer {
                txn: t as TxnId,
                last,
            };
            if let Some(prev) = writers.insert((k, v), w) {
                return Err(format!(
                    "key {}: value {v} is appended by both op {} and op {}; list-append needs values unique per key",
                    txns.key_name(k),
                    txns.txns[prev.txn as usize].invoke,
                    txn.invoke
                ));
            }
        }
    }

    // The longest read of each key, and who read it.
    let mut longest: Vec<&'t [i64]> = vec![&[]; nkeys];
    let mut longest_by: Vec<TxnId> = vec![0; nkeys];
    for (t, txn) in ok_txns(txns) {
        for m in txns.mops(txn) {
            if let Mop::ReadList(k, Some(r)) = *m {
                let r = txns.list(k, r);
                if r.len() > longest[k as usize].len() {
                    longest[k as usize] = r;
                    longest_by[k as usize] = t;
                }
            }
        }
    }

    // Keys whose reads disagree, or repeat an element, give no order.
    let mut bad = vec![false; nkeys];
    for (k, l) in longest.iter().enumerate() {
        let mut seen = FxHashSet::default();
        if let Some(dup) = l.iter().find(|v| !seen.insert(**v)) {
            bad[k] = true;
            let reader = longest_by[k];
            found.add("duplicate-elements", vec![reader], || {
                let line = format!(
                    "T{} read {} = {}, which holds {dup} more than once",
                    txns.txns[reader as usize].invoke,
                    txns.key_name(k as Key),
                    list_text(l)
                );
                (
                    vec![line],
                    json!({"key": txns.key_name(k as Key), "element": dup}),
                )
            });
        }
    }
    for (t, txn) in ok_txns(txns) {
        for m in txns.mops(txn) {
            let Mop::ReadList(k, Some(r)) = *m else {
                continue;
            };
            let r = txns.list(k, r);
            let l = longest[k as usize];
            // Reads stored as prefixes of the key's shared list pass at once.
            if r.len() <= l.len() && (r.as_ptr() == l.as_ptr() || l[..r.len()] == *r) {
                continue;
            }
            bad[k as usize] = true;
            let other = longest_by[k as usize];
            found.add("incompatible-order", vec![t, other], || {
                let name = |x: TxnId| txns.txns[x as usize].invoke;
                let line = format!(
                    "T{} read {} = {} and T{} read {} = {}: neither is a prefix of the other, so no one order of {} explains both",
                    name(t),
                    txns.key_name(k),
                    list_text(r),
                    name(other),
                    txns.key_name(k),
                    list_text(l),
                    txns.key_name(k)
                );
                (vec![line], json!({"key": txns.key_name(k)}))
            });
        }
    }

    let name = |x: TxnId| txns.txns[x as usize].invoke;
    // Along each key's order: ww edges, aborted reads, dirty updates.
    for (k, l) in longest.iter().enumerate() {
        let key = txns.key_name(k as Key);
        let mut prev: Option<(i64, Writer)> = None;
        for &v in l.iter() {
            let w = writers.get(&(k as Key, v)).copied();
            if let Some(w) = w {
                let status = txns.txns[w.txn as usize].status;
                if status == Status::Fail {
                    let reader = longest_by[k];
                    found.add("G1a", vec![reader, w.txn], || {
                        let line = format!(
                            "T{} appended {v} to {key} and failed (did not commit); T{} read {key} = {}, which holds {v}",
                            name(w.txn),
                            name(reader),
                            list_text(l)
                        );
                        (vec![line], json!({"key": key, "element": v}))
                    });
                }
                if let Some((pv, pw)) = prev {
                    let pstatus = txns.txns[pw.txn as usize].status;
                    if pstatus == Status::Fail && status != Status::Fail && !bad[k] {
                        found.add("dirty-update", vec![pw.txn, w.txn], || {
                            let line = format!(
                                "T{} appended {pv} to {key} and failed; T{} appended {v} right after it in {key} = {}",
                                name(pw.txn),
                                name(w.txn),
                                list_text(l)
                            );
                            (vec![line], json!({"key": key}))
                        });
                    }
                    if !bad[k] && pstatus != Status::Fail && status != Status::Fail {
                        edges.add(pw.txn, w.txn, WW);
                    }
                }
            }
            prev = w.map(|w| (v, w));
        }
    }

    // Committed appends no read saw come after everything read: were one
    // earlier, the longest read (a later state) would hold it.
    let mut unseen: Vec<Vec<(i64, TxnId)>> = vec![Vec::new(); nkeys];
    {
        let mut in_order: FxHashSet<(Key, i64)> = FxHashSet::default();
        for (k, l) in longest.iter().enumerate() {
            in_order.extend(l.iter().map(|&v| (k as Key, v)));
        }
        for (&(k, v), w) in &writers {
            if txns.txns[w.txn as usize].status == Status::Ok && !in_order.contains(&(k, v)) {
                unseen[k as usize].push((v, w.txn));
            }
        }
    }
    for (k, list) in unseen.iter_mut().enumerate() {
        list.sort_unstable();
        if bad[k] {
            list.clear();
        }
        let last = longest[k].last().and_then(|&v| writers.get(&(k as Key, v)));
        if let Some(w) = last.filter(|w| txns.txns[w.txn as usize].status != Status::Fail) {
            for &(_, u) in list.iter() {
                edges.add(w.txn, u, WW);
            }
        }
    }

    let la = ListAppend {
        txns,
        writers,
        longest,
        unseen,
    };

    // Each committed read: wr from the writer of what it saw last, rw to the
    // writer of what it did not see; and the checks inside one txn.
    let mut read_then_appended: FxHashMap<(Key, usize), Vec<TxnId>> = FxHashMap::default();
    let mut scratch = Vec::new();
    let mut read_keys: Vec<Key> = Vec::new();
    for (t, txn) in ok_txns(txns) {
        read_keys.clear();
        let mops = txns.mops(txn);
        for (i, m) in mops.iter().enumerate() {
            let Mop::ReadList(k, Some(r)) = *m else {
                continue;
            };
            let r = txns.list(k, r);
            let first_read = !read_keys.contains(&k);
            read_keys.push(k);
            if bad[k as usize] {
                continue;
            }
            let step = la.read_step(t, k, r);
            if let Some(w) = step.wr_from {
                edges.add(w.txn, t, WR);
                if !w.last {
                    let v = r[step.seen - 1];
                    found.add("G1b", vec![w.txn, t], || {
                        let line = format!(
                            "T{} appended {v} to {} and then appended to it again; T{} read {} = {}, the state in between",
                            name(w.txn),
                            txns.key_name(k),
                            name(t),
                            txns.key_name(k),
                            list_text(r)
                        );
                        (vec![line], json!({"key": txns.key_name(k)}))
                    });
                }
            }
            if let Some(w) = step.rw_to {
                edges.add(t, w, RW);
            }
            if step.seen == la.longest[k as usize].len() {
                for &(_, u) in &la.unseen[k as usize] {
                    edges.add(t, u, RW);
                }
            }
            let appends_later = mops[i + 1..]
                .iter()
                .any(|n| matches!(n, Mop::Append(k2, _) if *k2 == k));
            let appended_before = mops[..i]
                .iter()
                .any(|n| matches!(n, Mop::Append(k2, _) if *k2 == k));
            if first_read && appends_later && !appended_before {
                read_then_appended
                    .entry((k, step.seen))
                    .or_default()
                    .push(t);
            }
        }
        check_internal(txns, t, found, &mut scratch);
    }
    for ((k, seen), ts) in read_then_appended {
        if ts.len() > 1 {
            found.add("lost-update", ts.clone(), || {
                let who: Vec<String> = ts.iter().map(|&t| format!("T{}", name(t))).collect();
                let line = format!(
                    "{} each read {} at the same version ({} elements) and then appended to it; one of those appends was lost to the others' reads",
                    who.join(", "),
                    txns.key_name(k),
                    seen
                );
                (vec![line], json!({"key": txns.key_name(k)}))
            });
        }
    }
    Ok(la)
}

/// The committed txns, with their ids.
fn ok_txns(txns: &Txns) -> impl Iterator<Item = (TxnId, &super::history::Txn)> {
    txns.txns
        .iter()
        .enumerate()
        .filter(|(_, t)| t.status == Status::Ok)
        .map(|(i, t)| (i as TxnId, t))
}

/// What one read of a (well-ordered) key depends on.
struct ReadStep {
    /// How many elements of the read were others' (before the reader's own).
    seen: usize,
    wr_from: Option<Writer>,
    rw_to: Option<TxnId>,
}

impl ListAppend<'_> {
    fn writer(&self, k: Key, v: i64) -> Option<Writer> {
        self.writers.get(&(k, v)).copied()
    }

    fn committed_or_maybe(&self, w: Writer) -> bool {
        self.txns.txns[w.txn as usize].status != Status::Fail
    }

    fn read_step(&self, t: TxnId, k: Key, r: &[i64]) -> ReadStep {
        let mut seen = r.len();
        while seen > 0 && self.writer(k, r[seen - 1]).is_some_and(|w| w.txn == t) {
            seen -= 1;
        }
        let wr_from = match seen {
            0 => None,
            _ => self
                .writer(k, r[seen - 1])
                .filter(|&w| self.committed_or_maybe(w)),
        };
        let l = self.longest[k as usize];
        let rw_to = l
            .get(seen)
            .and_then(|&v| self.writer(k, v))
            .filter(|&w| w.txn != t && self.committed_or_maybe(w))
            .map(|w| w.txn);
        ReadStep {
            seen,
            wr_from,
            rw_to,
        }
    }

    /// Why `a -> b` when `b` appended an element no read saw.
    fn explain_unseen(&self, a: TxnId, b: TxnId, label: u8) -> Option<String> {
        let txns = self.txns;
        let name = |x: TxnId| txns.txns[x as usize].invoke;
        for (k, list) in self.unseen.iter().enumerate() {
            let Some(&(v, _)) = list.iter().find(|(_, u)| *u == b) else {
                continue;
            };
            let l = self.longest[k];
            let key = txns.key_name(k as Key);
            let before = match label {
                WW if l
                    .last()
                    .and_then(|&x| self.writer(k as Key, x))
                    .is_some_and(|w| w.txn == a) =>
                {
                    format!("T{} appended {} to {key}, the last element any read of it saw ({key} = {})", name(a), l[l.len() - 1], list_text(l))
                }
                RW => {
                    let read = txns
                        .mops(&txns.txns[a as usize])
                        .iter()
                        .find_map(|m| match *m {
                            Mop::ReadList(k2, Some(r))
                                if k2 as usize == k
                                    && self.read_step(a, k2, txns.list(k2, r)).seen == l.len() =>
                            {
                                Some(txns.list(k2, r))
                            }
                            _ => None,
                        })?;
                    format!("T{} read {key} = {}", name(a), list_text(read))
                }
                _ => continue,
            };
            return Some(format!(
                "{before}; T{} appended {v} to {key}, which no read saw, so it comes after every element read: T{} -> T{} ({})",
                name(b),
                name(a),
                name(b),
                super::graph::label_name(label)
            ));
        }
        None
    }

    /// Why `a -> b` with data label `label`, in words.
    pub fn explain(&self, a: TxnId, b: TxnId, label: u8) -> String {
        let txns = self.txns;
        let name = |x: TxnId| txns.txns[x as usize].invoke;
        let (ta, tb) = (&txns.txns[a as usize], &txns.txns[b as usize]);
        match label {
            WW => {
                if let Some(line) = self.explain_unseen(a, b, label) {
                    return line;
                }
                for m in txns.mops(ta) {
                    let Mop::Append(k, x) = *m else { continue };
                    let l = self.longest[k as usize];
                    if let Some(p) = l.iter().position(|&v| v == x) {
                        if let Some(&y) = l.get(p + 1) {
                            if self.writer(k, y).is_some_and(|w| w.txn == b) {
                                return format!(
                                    "T{} appended {x} to {k}; T{} appended {y} right after it ({k} = {}), so T{} -> T{} (ww)",
                                    name(a), name(b), list_text(l), name(a), name(b),
                                    k = txns.key_name(k)
                                );
                            }
                        }
                    }
                }
            }
            WR => {
                for m in txns.mops(tb) {
                    let Mop::ReadList(k, Some(r)) = *m else {
                        continue;
                    };
                    let r = txns.list(k, r);
                    let step = self.read_step(b, k, r);
                    if step.wr_from.is_some_and(|w| w.txn == a) {
                        return format!(
                            "T{} appended {} to {k}; T{} read {k} = {}, so T{} -> T{} (wr)",
                            name(a),
                            r[step.seen - 1],
                            name(b),
                            list_text(r),
                            name(a),
                            name(b),
                            k = txns.key_name(k)
                        );
                    }
                }
            }
            RW => {
                if let Some(line) = self.explain_unseen(a, b, label) {
                    return line;
                }
                for m in txns.mops(ta) {
                    let Mop::ReadList(k, Some(r)) = *m else {
                        continue;
                    };
                    let r = txns.list(k, r);
                    let step = self.read_step(a, k, r);
                    if step.rw_to == Some(b) {
                        let l = self.longest[k as usize];
                        return format!(
                            "T{} read {k} = {}; T{} appended {}, the next element of {k} = {}, so T{} -> T{} (rw)",
                            name(a),
                            list_text(r),
                            name(b),
                            l[step.seen],
                            list_text(l),
                            name(a),
                            name(b),
                            k = txns.key_name(k)
                        );
                    }
                }
            }
            _ => {}
        }
        format!("T{} -> T{}", name(a), name(b))
    }
}

/// Inside one txn, per key: its last read (if any) and the appends since.
type KeyState<'t> = (Key, Option<&'t [i64]>, Vec<i64>);

/// A txn must see its own appends, in order, and repeat what it read.
fn check_internal<'t>(
    txns: &'t Txns,
    t: TxnId,
    found: &mut Anomalies,
    state: &mut Vec<KeyState<'t>>,
) {
    let txn = &txns.txns[t as usize];
    // Per key: its last read (if any) and the txn's appends since.
    state.clear();
    let mops = txns.mops(txn);
    for (i, m) in mops.iter().enumerate() {
        let k = m.key();
        let at = match state.iter().position(|s| s.0 == k) {
            Some(p) => p,
            None => {
                state.push((k, None, Vec::new()));
                state.len() - 1
            }
        };
        let entry = &mut state[at];
        match *m {
            Mop::Append(_, v) => entry.2.push(v),
            Mop::ReadList(_, Some(r)) => {
                let r = txns.list(k, r);
                let tail_ok = r.len() >= entry.2.len()
                    && r[r.len() - entry.2.len()..]
                        .iter()
                        .zip(&entry.2)
                        .all(|(a, b)| a == b);
                let ok = match entry.1 {
                    Some(prev) => {
                        tail_ok && r.len() == prev.len() + entry.2.len() && r[..prev.len()] == *prev
                    }
                    None => tail_ok,
                };
                if !ok {
                    let expected = match entry.1 {
                        Some(prev) => {
                            let mut all: Vec<i64> = prev.to_vec();
                            all.extend(&entry.2);
                            format!("{all:?}")
                        }
                        None => format!("a list ending in {:?}", entry.2),
                    };
                    found.add("internal", vec![t], || {
                        let line = format!(
                            "T{} read {} = {} (micro-op {i}), but its own earlier micro-ops say it must be {expected}",
                            txn.invoke,
                            txns.key_name(k),
                            list_text(r)
                        );
                        (vec![line], json!({"key": txns.key_name(k), "mop": i}))
                    });
                }
                // A read of a value the txn appends only later.
                for later in &mops[i + 1..] {
                    if let Mop::Append(k2, v) = *later {
                        if k2 == k && r.contains(&v) {
                            found.add("future-read", vec![t], || {
                                let line = format!(
                                    "T{} read {} = {} (micro-op {i}), which holds {v}, an element it appends only later",
                                    txn.invoke,
                                    txns.key_name(k),
                                    list_text(r)
                                );
                                (vec![line], json!({"key": txns.key_name(k)}))
                            });
                        }
                    }
                }
                entry.1 = Some(r);
                entry.2.clear();
            }
            _ => {}
        }
    }
}
