//! The lock checker: leases must not overlap, and fencing tokens must rise.
//!
//! Ops follow the lock service protocol: `acquire` {holder, lease_ms} -> ok
//! {token, lease_ms}; `renew` {holder, token} -> ok {token, lease_ms} or fail
//! `lease-lost`; `release` {holder, token}.
//!
//! A client may rely on a lease from the moment its `acquire` returns until
//! `lease_ms` after it *sent* the request (the server started the lease no
//! earlier than that), extended by each `renew` the same way, and cut short by
//! a `release` (from its invocation) or a `lease-lost` reply. Two holders whose
//! such intervals overlap both thought they held the lock: mutual exclusion
//! was broken. Fencing: an acquire that returned before another was sent must
//! have the smaller token, and no token is granted twice.
//!
//! Fenced holders (completions with `"fenced": true`) rely on the resource
//! checking their token, not on their lease: two fenced holds may overlap,
//! and their writes are judged instead (`lock_fenced`).

use crate::evidence::{HoldView, LockEvidence, Overlap, TokenAnomaly, TokenAt};
use crate::history::{History, Op};
use crate::lock_fenced::{self, Fenced};
use crate::pairs::pairs;
use crate::verdict::{CheckResult, Verdict};
use serde_json::Value;
use std::collections::HashMap;

/// At most this many anomalies of each kind go into the evidence.
const SHOWN: usize = 20;

/// A stretch of time one holder could rely on holding the lock.
#[derive(Clone, Debug)]
struct Hold {
    key: String,
    holder: String,
    token: i64,
    /// ns: when the client learned it held the lock.
    start: u64,
    /// ns: when its lease ran out by the client's own reckoning, or it let go.
    end: u64,
    /// Index of the acquire or renew op that began it.
    from_op: u64,
    /// The holder fences its work: it does not rely on the hold.
    fenced: bool,
}

pub fn check(history: &History) -> Result<CheckResult, String> {
    let ops = pairs(history)?;
    let mut holds: Vec<Hold> = Vec::new();
    // (key, token) -> index in `holds` of the latest stretch of that grant.
    let mut latest: HashMap<(String, i64), usize> = HashMap::new();
    let mut grants: Vec<Grant> = Vec::new();
    let mut token_anomalies: Vec<TokenAnomaly> = Vec::new();
    let mut fenced: Vec<Fenced> = Vec::new();

    for pair in &ops {
        let inv = pair.invoke;
        let key = inv.key.clone().unwrap_or_default();
        match inv.f.as_str() {
            "acquire" => {
                let Some(done) = pair.completion.filter(|_| pair.is_ok()) else {
                    continue;
                };
                let token = int_field(done, "token")?;
                let lease = lease_ns(done, inv)?;
                let holder = holder_of(inv);
                let is_fenced = fenced_op(done);
                if is_fenced {
                    fenced.push(Fenced::of(&key, token, inv, done, false));
                }
                grants.push(Grant {
                    key: key.clone(),
                    token,
                    invoke: inv.index,
                    complete: done.index,
                });
                latest.insert((key.clone(), token), holds.len());
                holds.push(Hold {
                    key,
                    holder,
                    token,
                    start: done.time,
                    end: inv.time.saturating_add(lease),
                    from_op: inv.index,
                    fenced: is_fenced,
                });
            }
            "renew" => {
                let token = int_field_of(inv, "token", &inv.value)?;
                let Some(&at) = latest.get(&(key.clone(), token)) else {
                    continue;
                };
                match pair.completion {
                    Some(done) if pair.is_ok() => {
                        if let Ok(got) = int_field(done, "token") {
                            if got != token {
                                token_anomalies.push(TokenAnomaly::RenewChangedToken {
                                    op: done.index,
                                    sent: token,
                                    got,
                                });
                            }
                        }
                        if fenced_op(done) {
                            fenced.push(Fenced::of(&key, token, inv, done, true));
                        }
                        let end = inv.time.saturating_add(lease_ns(done, inv)?);
                        if inv.time <= holds[at].end {
                            holds[at].end = holds[at].end.max(end);
                        } else {
                            // The lease had run out by the client's clock: a new stretch.
                            let hold = Hold {
                                start: done.time,
                                end,
                                from_op: inv.index,
                                ..holds[at].clone()
                            };
                            latest.insert((key, token), holds.len());
                            holds.push(hold);
                        }
                    }
                    Some(done) if done.kind == crate::history::OpType::Fail => {
                        holds[at].end = holds[at].end.min(done.time);
                    }
                    _ => {}
                }
            }
            "release" => {
                let token = int_field_of(inv, "token", &inv.value)?;
                if let Some(&at) = latest.get(&(key, token)) {
                    holds[at].end = holds[at].end.min(inv.time);
                }
            }
            other => {
                return Err(format!(
                    "op {}: the lock checker knows acquire, renew and release, not {other:?}",
                    inv.index
                ))
            }
        }
    }

    token_anomalies.extend(fencing_anomalies(&mut grants));
    token_anomalies.extend(lock_fenced::anomalies(&fenced));
    let fenced_writes = fenced.iter().filter(|f| f.write).count();
    let overlaps = overlaps(&holds);
    let untimed = holds.len() > 1 && history.ops.iter().all(|o| o.time == 0);

    let verdict = if !overlaps.is_empty() || !token_anomalies.is_empty() {
        Verdict::Invalid
    } else if untimed {
        Verdict::Unknown
    } else {
        Verdict::Valid
    };
    let summary = match verdict {
        Verdict::Valid if fenced_writes > 0 => format!(
            "{} grants, {} fenced writes: no stale token was accepted and tokens rose",
            grants.len(),
            fenced_writes
        ),
        Verdict::Valid => format!(
            "{} grants, {} lease stretches: no two holders overlapped and tokens rose",
            grants.len(),
            holds.len()
        ),
        Verdict::Unknown => {
            "the history has no times, so lease overlaps cannot be judged; fencing tokens rose"
                .into()
        }
        Verdict::Invalid => {
            let mut parts = Vec::new();
            if let Some(first) = overlaps.first() {
                parts.push(format!(
                    "{} overlapping holds (first: {} and {} both held {:?} for {} ms from op {} and op {})",
                    overlaps.len(),
                    first.0.holder,
                    first.1.holder,
                    first.0.key,
                    (first.0.end.min(first.1.end) - first.1.start) / 1_000_000,
                    first.0.from_op,
                    first.1.from_op
                ));
            }
            if !token_anomalies.is_empty() {
                parts.push(format!("{} fencing-token anomalies", token_anomalies.len()));
            }
            parts.join("; ")
        }
    };
    // Blamed: the grant that broke mutual exclusion (the second of each
    // overlap) and the completion that carried each bad token.
    let mut blamed: Vec<u64> = overlaps.iter().map(|(_, b)| b.from_op).collect();
    blamed.extend(token_anomalies.iter().map(|a| match a {
        TokenAnomaly::RenewChangedToken { op, .. } => *op,
        TokenAnomaly::TokenGrantedTwice { ops, .. } => ops[1],
        TokenAnomaly::TokenNotRising { later, .. } => later.op,
        TokenAnomaly::StaleTokenAccepted { write, .. } => write.op,
        TokenAnomaly::TokenOrderBroken { applied_later, .. } => applied_later.op,
    }));
    let evidence = LockEvidence {
        grants: grants.len(),
        holds: holds.len(),
        overlap_count: overlaps.len(),
        overlaps: overlaps
            .iter()
            .take(SHOWN)
            .map(|(a, b)| Overlap {
                key: a.key.clone(),
                first: hold_view(a),
                second: hold_view(b),
            })
            .collect(),
        token_anomaly_count: token_anomalies.len(),
        token_anomalies: token_anomalies.into_iter().take(SHOWN).collect(),
    };
    Ok(CheckResult {
        checker: "lock".into(),
        verdict,
        summary,
        // Completions become invocations where the check is assembled.
        blamed: crate::anomaly::invocations(history, &blamed),
        first_anomaly: None,
        details: evidence.into(),
    })
}

/// A successful acquire, for the fencing check.
struct Grant {
    key: String,
    token: i64,
    invoke: u64,
    complete: u64,
}

/// Tokens granted twice, and tokens that did not rise over real-time order.
fn fencing_anomalies(grants: &mut [Grant]) -> Vec<TokenAnomaly> {
    let mut out = Vec::new();
    let mut seen: HashMap<(&str, i64), u64> = HashMap::new();
    for g in grants.iter() {
        if let Some(first) = seen.insert((&g.key, g.token), g.complete) {
            out.push(TokenAnomaly::TokenGrantedTwice {
                key: g.key.clone(),
                token: g.token,
                ops: [first, g.complete],
            });
        }
    }
    // Sweep the acquires by invocation; `done` holds, per key, the highest
    // token among acquires that completed before the current one was sent.
    let mut by_complete: Vec<usize> = (0..grants.len()).collect();
    by_complete.sort_by_key(|&i| grants[i].complete);
    let mut by_invoke: Vec<usize> = (0..grants.len()).collect();
    by_invoke.sort_by_key(|&i| grants[i].invoke);
    let mut done: HashMap<&str, (i64, u64)> = HashMap::new();
    let mut next = 0;
    for &i in &by_invoke {
        while next < by_complete.len() && grants[by_complete[next]].complete < grants[i].invoke {
            let g = &grants[by_complete[next]];
            let best = done.entry(&g.key).or_insert((g.token, g.complete));
            if g.token > best.0 {
                *best = (g.token, g.complete);
            }
            next += 1;
        }
        let g = &grants[i];
        if let Some(&(token, op)) = done.get(g.key.as_str()) {
            if token >= g.token {
                out.push(TokenAnomaly::TokenNotRising {
                    key: g.key.clone(),
                    earlier: TokenAt { op, token },
                    later: TokenAt {
                        op: g.complete,
                        token: g.token,
                    },
                });
            }
        }
    }
    out
}

/// Pairs of holds by different holders of one key whose times overlap
/// (two fenced holds may: their writes are judged instead).
fn overlaps(holds: &[Hold]) -> Vec<(Hold, Hold)> {
    let mut sorted: Vec<&Hold> = holds.iter().filter(|h| h.start < h.end).collect();
    sorted.sort_by_key(|h| (h.key.clone(), h.start));
    let mut out = Vec::new();
    let mut active: Vec<&Hold> = Vec::new();
    for h in sorted {
        active.retain(|a| a.key == h.key && a.end > h.start);
        for a in &active {
            if a.holder != h.holder && !(a.fenced && h.fenced) {
                out.push(((*a).clone(), h.clone()));
            }
        }
        active.push(h);
    }
    out
}

fn hold_view(h: &Hold) -> HoldView {
    HoldView {
        holder: h.holder.clone(),
        token: h.token,
        start_ns: h.start,
        end_ns: h.end,
        op: h.from_op,
    }
}

/// The completion says its holder fences its work with the token.
fn fenced_op(done: &Op) -> bool {
    done.value.get("fenced") == Some(&Value::Bool(true))
}

fn holder_of(inv: &Op) -> String {
    match inv.value.get("holder") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => format!("process {}", inv.process),
    }
}

fn int_field(op: &Op, name: &str) -> Result<i64, String> {
    int_field_of(op, name, &op.value)
}

fn int_field_of(op: &Op, name: &str, value: &Value) -> Result<i64, String> {
    value.get(name).and_then(Value::as_i64).ok_or_else(|| {
        format!(
            "op {}: {} {} needs an integer {name:?} in its value, got {value}",
            op.index, op.f, op.kind
        )
    })
}

/// The lease length in ns, from the reply or else the request.
fn lease_ns(done: &Op, inv: &Op) -> Result<u64, String> {
    let ms = done
        .value
        .get("lease_ms")
        .or_else(|| inv.value.get("lease_ms"))
        .and_then(Value::as_u64)
        .ok_or_else(|| {
            format!(
                "op {}: {} needs a lease_ms in its request or reply",
                done.index, done.f
            )
        })?;
    Ok(ms.saturating_mul(1_000_000))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{OpType, Process};
    use serde_json::json;

    fn ev(r: &CheckResult) -> &LockEvidence {
        r.details.lock().expect("lock evidence")
    }

    /// A history of (process, type, f, value, time in ms) rows on key "l".
    fn history(rows: &[(u64, OpType, &str, Value, u64)]) -> History {
        History::new(
            rows.iter()
                .enumerate()
                .map(|(i, (p, kind, f, value, ms))| Op {
                    index: i as u64,
                    time: ms * 1_000_000,
                    kind: *kind,
                    process: Process::Client(*p),
                    f: f.to_string(),
                    key: Some("l".into()),
                    value: value.clone(),
                    error: None,
                    node: None,
                })
                .collect(),
        )
    }

    use OpType::{Fail, Info, Invoke, Ok as Done};

    fn acq(c: &str) -> Value {
        json!({"holder": c, "lease_ms": 100})
    }

    fn tok(t: i64) -> Value {
        json!({"token": t, "lease_ms": 100})
    }

    fn rel(c: &str, t: i64) -> Value {
        json!({"holder": c, "token": t})
    }

    #[test]
    fn handing_the_lock_over_is_valid() {
        let h = history(&[
            (1, Invoke, "acquire", acq("c1"), 0),
            (1, Done, "acquire", tok(1), 5),
            (2, Invoke, "acquire", acq("c2"), 10),
            (2, Fail, "acquire", Value::Null, 12),
            (1, Invoke, "release", rel("c1", 1), 50),
            (1, Done, "release", Value::Null, 52),
            (2, Invoke, "acquire", acq("c2"), 53),
            (2, Done, "acquire", tok(2), 55),
            // Granted after c2's lease ran out by c2's reckoning (53 + 100).
            (3, Invoke, "acquire", acq("c3"), 150),
            (3, Done, "acquire", tok(3), 160),
        ]);
        let r = check(&h).unwrap();
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
        assert_eq!(ev(&r).grants, 3);
    }

    #[test]
    fn overlapping_leases_are_invalid() {
        let h = history(&[
            (1, Invoke, "acquire", acq("c1"), 0),
            (1, Done, "acquire", tok(1), 5),
            (2, Invoke, "acquire", acq("c2"), 10),
            (2, Done, "acquire", tok(2), 20),
        ]);
        let r = check(&h).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(ev(&r).overlap_count, 1);
        assert_eq!(r.blamed, vec![2], "the second grant broke exclusion");
        assert!(r.summary.contains("c1 and c2"), "{}", r.summary);
    }

    #[test]
    fn renewals_extend_and_lease_lost_ends_a_hold() {
        let renew = json!({"holder": "c1", "token": 1});
        let base = [
            (1, Invoke, "acquire", acq("c1"), 0),
            (1, Done, "acquire", tok(1), 5),
            (1, Invoke, "renew", renew.clone(), 90),
            (1, Done, "renew", tok(1), 95),
        ];
        // c1 may rely on the lease until 190: a grant to c2 at 150 overlaps.
        let mut rows = base.to_vec();
        rows.extend([
            (2, Invoke, "acquire", acq("c2"), 140),
            (2, Done, "acquire", tok(2), 150),
        ]);
        assert_eq!(check(&history(&rows)).unwrap().verdict, Verdict::Invalid);
        // But if c1's next renew is refused at 120, c1 stopped relying on it there.
        let mut rows = base.to_vec();
        rows.extend([
            (1, Invoke, "renew", renew, 110),
            (1, Fail, "renew", Value::Null, 120),
            (2, Invoke, "acquire", acq("c2"), 140),
            (2, Done, "acquire", tok(2), 150),
        ]);
        let r = check(&history(&rows)).unwrap();
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
    }

    fn fenced(t: i64) -> Value {
        json!({"token": t, "lease_ms": 100, "fenced": true})
    }

    fn fenced_write(t: i64, rev: i64) -> Value {
        json!({"token": t, "lease_ms": 100, "fenced": true, "rev": rev})
    }

    /// c1 (token 1) sends a fenced write at 20; c2 is granted token 2 at 30.
    fn fenced_handover(write_done_ms: u64) -> Vec<(u64, OpType, &'static str, Value, u64)> {
        vec![
            (1, Invoke, "acquire", acq("c1"), 0),
            (1, Done, "acquire", fenced(1), 5),
            (2, Invoke, "acquire", acq("c2"), 10),
            (1, Invoke, "renew", json!({"holder": "c1", "token": 1}), 20),
            (2, Done, "acquire", fenced(2), 30),
            (1, Done, "renew", fenced_write(1, 7), write_done_ms),
        ]
    }

    #[test]
    fn fenced_holds_may_overlap_while_their_writes_stay_in_token_order() {
        // The holds overlap (c1's lease runs to 120), and c1's write was
        // sent before c2's grant: the resource may have applied it first.
        let r = check(&history(&fenced_handover(35))).unwrap();
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
        assert!(r.summary.contains("1 fenced writes"), "{}", r.summary);
        // The same holds without fencing overlap.
        let plain: Vec<_> = fenced_handover(35)
            .into_iter()
            .map(|(p, k, f, v, ms)| {
                let mut v = v;
                if let Some(o) = v.as_object_mut() {
                    o.remove("fenced");
                }
                (p, k, f, v, ms)
            })
            .collect();
        assert_eq!(check(&history(&plain)).unwrap().verdict, Verdict::Invalid);
    }

    #[test]
    fn a_fenced_write_sent_after_a_newer_grant_is_stale() {
        let mut rows = fenced_handover(35);
        rows.extend([
            (1, Invoke, "renew", json!({"holder": "c1", "token": 1}), 40),
            (1, Done, "renew", fenced_write(1, 9), 45),
        ]);
        let r = check(&history(&rows)).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(
            ev(&r).token_anomalies,
            vec![TokenAnomaly::StaleTokenAccepted {
                key: "l".into(),
                write: TokenAt { op: 7, token: 1 },
                newer: TokenAt { op: 4, token: 2 },
            }]
        );
        assert_eq!(r.blamed, vec![6], "the stale write's invocation");
    }

    #[test]
    fn fenced_writes_out_of_token_order_in_the_resource_are_invalid() {
        // c2 writes at revision 8; c1's write, sent before c2's grant, lands
        // at revision 9: after the newer holder's.
        let mut rows = fenced_handover(60);
        rows.splice(
            5..5,
            [
                (2, Invoke, "renew", json!({"holder": "c2", "token": 2}), 40),
                (2, Done, "renew", fenced_write(2, 8), 45),
            ],
        );
        rows.last_mut().unwrap().3 = fenced_write(1, 9);
        let r = check(&history(&rows)).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid, "{}", r.summary);
        assert!(matches!(
            ev(&r).token_anomalies[..],
            [TokenAnomaly::TokenOrderBroken { ref applied_later, .. }] if applied_later.token == 1
        ));
    }

    #[test]
    fn a_fenced_hold_and_an_unfenced_one_must_not_overlap() {
        let mut rows = fenced_handover(35);
        rows[4].3 = tok(2);
        assert_eq!(check(&history(&rows)).unwrap().verdict, Verdict::Invalid);
    }

    #[test]
    fn info_acquires_hold_nothing() {
        let h = history(&[
            (1, Invoke, "acquire", acq("c1"), 0),
            (1, Info, "acquire", Value::Null, 5),
            (2, Invoke, "acquire", acq("c2"), 10),
            (2, Done, "acquire", tok(2), 20),
        ]);
        assert_eq!(check(&h).unwrap().verdict, Verdict::Valid);
    }

    #[test]
    fn tokens_must_rise_and_not_repeat() {
        let h = history(&[
            (1, Invoke, "acquire", acq("c1"), 0),
            (1, Done, "acquire", tok(5), 5),
            (1, Invoke, "release", rel("c1", 5), 10),
            (1, Done, "release", Value::Null, 11),
            (2, Invoke, "acquire", acq("c2"), 20),
            (2, Done, "acquire", tok(4), 25),
            (2, Invoke, "release", rel("c2", 4), 30),
            (2, Done, "release", Value::Null, 31),
            (3, Invoke, "acquire", acq("c3"), 40),
            (3, Done, "acquire", tok(4), 45),
        ]);
        let r = check(&h).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid);
        let kinds = &ev(&r).token_anomalies;
        assert!(
            kinds
                .iter()
                .any(|a| matches!(a, TokenAnomaly::TokenGrantedTwice { .. })),
            "{kinds:?}"
        );
        assert!(
            kinds
                .iter()
                .any(|a| matches!(a, TokenAnomaly::TokenNotRising { .. })),
            "{kinds:?}"
        );
        assert_eq!(ev(&r).overlap_count, 0);
    }

    #[test]
    fn malformed_ops_are_errors() {
        let h = history(&[
            (1, Invoke, "acquire", acq("c1"), 0),
            (1, Done, "acquire", json!({}), 5),
        ]);
        assert!(check(&h)
            .unwrap_err()
            .contains("needs an integer \"token\""));
        let h = history(&[(1, Invoke, "lock", acq("c1"), 0)]);
        assert!(check(&h).unwrap_err().contains("not \"lock\""));
    }
}

#[cfg(test)]
mod properties {
    //! A simulated correct lease server with random network delays and lost
    //! replies: whatever the timing, the checker must find no anomaly.
    use super::*;
    use crate::history::{OpType, Process};
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};
    use serde_json::json;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    const LEASE_MS: u64 = 100;
    const TIMEOUT_MS: u64 = 60;

    #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
    enum Event {
        /// Client `c` sends its next request.
        Send(usize),
        /// The server handles client `c`'s request.
        Serve(usize),
        /// Client `c` gets its reply (or, if it was lost, times out).
        Reply(usize),
    }

    struct Client {
        process: u64,
        holding: Option<i64>,
        request: Option<(String, Value, u64)>,
        /// The server's answer (`None`: lost on the way back).
        reply: Option<(bool, Value)>,
    }

    /// `short_leases`: the bug of a server whose leases run out at half the
    /// advertised length.
    fn simulate(seed: u64, clients: usize, requests: usize, short_leases: bool) -> History {
        let server_lease = if short_leases { LEASE_MS / 2 } else { LEASE_MS };
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut events = BinaryHeap::new();
        let mut seq = 0u64;
        let mut schedule = |events: &mut BinaryHeap<_>, at: u64, e: Event| {
            seq += 1;
            events.push(Reverse((at, seq, e)));
        };
        let mut cs: Vec<Client> = (0..clients)
            .map(|c| Client {
                process: c as u64,
                holding: None,
                request: None,
                reply: None,
            })
            .collect();
        for c in 0..clients {
            schedule(&mut events, rng.gen_range(0..20), Event::Send(c));
        }
        let mut next_process = clients as u64;
        let (mut holder, mut token, mut expiry) = (None::<usize>, 0i64, 0u64);
        let mut ops: Vec<Op> = Vec::new();
        let mut sent = 0;
        while let Some(Reverse((now, _, event))) = events.pop() {
            match event {
                Event::Send(c) if sent < requests => {
                    sent += 1;
                    let name = format!("c{c}");
                    let (f, value) = match cs[c].holding {
                        Some(t) if rng.gen_bool(0.7) => {
                            ("renew", json!({"holder": name, "token": t}))
                        }
                        Some(t) => ("release", json!({"holder": name, "token": t})),
                        None => ("acquire", json!({"holder": name, "lease_ms": LEASE_MS})),
                    };
                    ops.push(op(now, OpType::Invoke, cs[c].process, f, value.clone()));
                    cs[c].request = Some((f.to_string(), value, now));
                    schedule(&mut events, now + rng.gen_range(0..20), Event::Serve(c));
                }
                Event::Send(_) => {}
                Event::Serve(c) => {
                    let (f, value, sent_at) = cs[c].request.clone().unwrap();
                    let live = holder == Some(c) && expiry > now && value["token"] == json!(token);
                    let reply = match f.as_str() {
                        "acquire" if holder.is_none() || expiry <= now => {
                            token += 1;
                            holder = Some(c);
                            expiry = now + server_lease;
                            (true, json!({"token": token, "lease_ms": LEASE_MS}))
                        }
                        "renew" if live => {
                            expiry = now + server_lease;
                            (true, json!({"token": token, "lease_ms": LEASE_MS}))
                        }
                        "release" if live => {
                            holder = None;
                            (true, Value::Null)
                        }
                        _ => (false, Value::Null),
                    };
                    if rng.gen_bool(0.1) {
                        cs[c].reply = None;
                        schedule(&mut events, sent_at + TIMEOUT_MS, Event::Reply(c));
                    } else {
                        cs[c].reply = Some(reply);
                        schedule(&mut events, now + rng.gen_range(0..20), Event::Reply(c));
                    }
                }
                Event::Reply(c) => {
                    let (f, _, _) = cs[c].request.take().unwrap();
                    let client = &mut cs[c];
                    match client.reply.take() {
                        Some((true, value)) => {
                            if f == "acquire" {
                                client.holding = value["token"].as_i64();
                            } else if f == "release" {
                                client.holding = None;
                            }
                            ops.push(op(now, OpType::Ok, client.process, &f, value));
                        }
                        Some((false, _)) => {
                            client.holding = None;
                            ops.push(op(now, OpType::Fail, client.process, &f, Value::Null));
                        }
                        None => {
                            // Indeterminate: the client lets go and carries on as a new process.
                            client.holding = None;
                            ops.push(op(now, OpType::Info, client.process, &f, Value::Null));
                            client.process = next_process;
                            next_process += 1;
                        }
                    }
                    schedule(&mut events, now + rng.gen_range(0..40), Event::Send(c));
                }
            }
        }
        let mut h = History::new(ops);
        h.reindex();
        h
    }

    fn op(ms: u64, kind: OpType, process: u64, f: &str, value: Value) -> Op {
        Op {
            index: 0,
            time: ms * 1_000_000,
            kind,
            process: Process::Client(process),
            f: f.into(),
            key: Some("l".into()),
            value,
            error: None,
            node: None,
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn a_correct_lease_server_is_always_valid(seed in any::<u64>(), clients in 1usize..6) {
            let h = simulate(seed, clients, 200, false);
            let r = check(&h).unwrap();
            prop_assert_eq!(r.verdict, Verdict::Valid, "{}\n{:?}", r.summary, r.details);
            prop_assert!(r.details.lock().unwrap().grants > 0);
        }
    }

    #[test]
    fn short_leases_are_caught() {
        let caught = (0..20)
            .filter(|&seed| {
                check(&simulate(seed, 4, 200, true)).unwrap().verdict == Verdict::Invalid
            })
            .count();
        assert!(
            caught >= 10,
            "only {caught} of 20 buggy runs were found invalid"
        );
    }
}
