//! The bank checker (Jepsen's bank): transfers move money between a fixed
//! set of accounts, so every read of all accounts must sum to the total the
//! accounts were opened with, and no balance may be negative.
//!
//! A bank history is `f: "txn"` ops of three shapes: the setup that opens
//! the accounts (`["w", account, balance]` each; it names the accounts and
//! the total), transfers (`["incr", from, -n]`, `["incr", to, n]`) and reads
//! of every account (`["r", account, balance]`). Before the accounts exist a
//! read sees every account `null`: allowed only for reads invoked before
//! the first setup completed `ok` (after it, the store has them).

use crate::evidence::{BankEvidence, BankRead};
use crate::history::{History, Op, OpType};
use crate::pairs::pairs;
use crate::verdict::{CheckResult, Verdict};
use serde_json::Value;
use std::collections::BTreeMap;

/// Bad reads kept in full per kind; the rest are counted.
const SHOWN: usize = 20;

/// One ok read of the accounts.
#[derive(Clone, Debug, PartialEq)]
pub struct Read {
    /// Index of its invocation, and of its completion.
    pub invoke: u64,
    pub complete: u64,
    /// Time of its completion (ns since the start).
    pub time: u64,
    /// Account -> balance (`None`: null, not opened yet).
    pub balances: BTreeMap<String, Option<i64>>,
    /// Accounts whose value is neither null nor an integer.
    pub garbled: Vec<String>,
    /// Whether every account read null and no setup had completed before it
    /// was invoked: a read from before the bank opened.
    pub before_setup: bool,
}

impl Read {
    /// The sum of the balances read (null counting as 0).
    pub fn total(&self) -> i64 {
        self.balances.values().map(|b| b.unwrap_or(0)).sum()
    }
}

/// What the history says about the bank: its accounts, their total, the
/// reads and how the transfers ended.
#[derive(Debug, Default)]
pub struct Bank {
    /// Account -> opening balance, from the setup txn.
    pub accounts: BTreeMap<String, i64>,
    pub total: i64,
    pub reads: Vec<Read>,
    /// Transfers by outcome: ok, fail, info (or never completed).
    pub transfers: [usize; 3],
}

/// The micro-ops of a txn's value: (f, account, value).
fn mops(op: &Op) -> Result<Vec<(&str, String, &Value)>, String> {
    let list = op
        .value
        .as_array()
        .ok_or_else(|| format!("op {}: a txn's value must be a list of micro-ops", op.index))?;
    list.iter()
        .enumerate()
        .map(|(i, m)| match m.as_array().map(Vec::as_slice) {
            Some([Value::String(f), key, value]) => Ok((f.as_str(), account(key), value)),
            _ => Err(format!(
                "op {} micro-op {i} {m}: expected [f, account, value]",
                op.index
            )),
        })
        .collect()
}

/// An account's name: a string key as is, any other key as its JSON.
fn account(key: &Value) -> String {
    match key {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Reads a bank history. An error names the op that is not a bank txn, or
/// says that no setup txn opened the accounts.
pub fn parse(history: &History) -> Result<Bank, String> {
    let mut bank = Bank::default();
    let mut setup: Option<(u64, BTreeMap<String, i64>)> = None;
    let mut setup_done = u64::MAX;
    let mut reads = Vec::new();
    for pair in pairs(history)?.into_iter().filter(|p| p.invoke.f == "txn") {
        let invoked = mops(pair.invoke)?;
        let all = |f: &str| !invoked.is_empty() && invoked.iter().all(|m| m.0 == f);
        if all("w") {
            let mut opened = BTreeMap::new();
            for (_, acct, v) in &invoked {
                let b = v.as_i64().ok_or_else(|| {
                    format!(
                        "op {}: setup balance of account {acct} is {v}, not an integer",
                        pair.invoke.index
                    )
                })?;
                opened.insert(acct.clone(), b);
            }
            match &setup {
                Some((first, accounts)) if *accounts != opened => {
                    return Err(format!(
                        "op {}: a second setup opens other accounts than op {first}",
                        pair.invoke.index
                    ))
                }
                Some(_) => {}
                None => setup = Some((pair.invoke.index, opened)),
            }
            if let Some(c) = pair.completion.filter(|c| c.kind == OpType::Ok) {
                setup_done = setup_done.min(c.time);
            }
        } else if all("incr") {
            let at = match pair.outcome() {
                OpType::Ok => 0,
                OpType::Fail => 1,
                _ => 2,
            };
            bank.transfers[at] += 1;
        } else if all("r") {
            if let Some(c) = pair.completion.filter(|c| c.kind == OpType::Ok) {
                reads.push((pair.invoke, c));
            }
        } else {
            return Err(format!(
                "op {}: {} is not a bank txn (a setup of `w`, a transfer of `incr` or a read of `r` micro-ops)",
                pair.invoke.index, pair.invoke.value
            ));
        }
    }
    let (_, accounts) = setup.ok_or(
        "no setup txn (all `w` micro-ops) in the history: cannot tell the accounts and their total",
    )?;
    bank.total = accounts.values().sum();
    bank.accounts = accounts;
    for (invoke, complete) in reads {
        let mut read = Read {
            invoke: invoke.index,
            complete: complete.index,
            time: complete.time,
            balances: BTreeMap::new(),
            garbled: Vec::new(),
            before_setup: false,
        };
        for (_, acct, v) in mops(complete)? {
            let balance = match v {
                Value::Null => None,
                v => match v.as_i64() {
                    Some(b) => Some(b),
                    None => {
                        read.garbled.push(acct.clone());
                        None
                    }
                },
            };
            read.balances.insert(acct, balance);
        }
        read.before_setup = invoke.time < setup_done
            && read.garbled.is_empty()
            && read.balances.values().all(Option::is_none);
        bank.reads.push(read);
    }
    Ok(bank)
}

/// Every read's total over time, for the plot: (completion time, total),
/// reads from before the bank opened left out. Empty unless the history is a
/// bank history.
pub fn totals(history: &History) -> Vec<(u64, i64)> {
    parse(history)
        .map(|b| {
            b.reads
                .iter()
                .filter(|r| !r.before_setup)
                .map(|r| (r.time, r.total()))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks a bank history.
pub fn check(history: &History) -> Result<CheckResult, String> {
    let bank = parse(history)?;
    let first_time = history.ops.first().map_or(0, |o| o.time);
    let view = |r: &Read| BankRead {
        op: r.invoke,
        completion: r.complete,
        time_ns: r.time.saturating_sub(first_time),
        balances: r
            .balances
            .iter()
            .map(|(k, v)| (k.clone(), v.map_or(Value::Null, Value::from)))
            .collect(),
        total: r.total(),
        negative: r
            .balances
            .iter()
            .filter(|(_, b)| b.is_some_and(|b| b < 0))
            .map(|(k, _)| k.clone())
            .collect(),
    };
    let mut e = BankEvidence {
        accounts: bank.accounts.keys().cloned().collect(),
        total: bank.total,
        reads: bank.reads.len(),
        before_setup: bank.reads.iter().filter(|r| r.before_setup).count(),
        transfers_ok: bank.transfers[0],
        transfers_failed: bank.transfers[1],
        transfers_info: bank.transfers[2],
        ..BankEvidence::default()
    };
    let mut blamed = Vec::new();
    for r in bank.reads.iter().filter(|r| !r.before_setup) {
        let wrong_total = r.total() != bank.total || !r.garbled.is_empty() || {
            // A read that misses an account (or reads one never opened)
            // cannot show the total.
            !r.balances.keys().eq(bank.accounts.keys())
        };
        let negative = r.balances.values().any(|b| b.is_some_and(|b| b < 0));
        if wrong_total {
            e.wrong_total_count += 1;
            if e.wrong_totals.len() < SHOWN {
                e.wrong_totals.push(view(r));
            }
        }
        if negative {
            e.negative_count += 1;
            if e.negatives.len() < SHOWN {
                e.negatives.push(view(r));
            }
        }
        if wrong_total || negative {
            blamed.push(r.invoke);
        }
    }
    let secs = |ns: u64| ns as f64 / 1e9;
    let mut found = Vec::new();
    if let Some(r) = e.wrong_totals.first() {
        found.push(format!(
            "{} read{} a wrong total (first: op {} at {:.3} s read {} of {}: {})",
            e.wrong_total_count,
            if e.wrong_total_count == 1 { "" } else { "s" },
            r.op,
            secs(r.time_ns),
            r.total,
            e.total,
            balances_text(&r.balances)
        ));
    }
    if let Some(r) = e.negatives.first() {
        found.push(format!(
            "{} read{} a negative balance (first: op {} at {:.3} s, account {} = {})",
            e.negative_count,
            if e.negative_count == 1 { "" } else { "s" },
            r.op,
            secs(r.time_ns),
            r.negative[0],
            r.balances[&r.negative[0]]
        ));
    }
    let head = format!(
        "{} reads of {} accounts (total {}), {} transfers ok",
        e.reads,
        e.accounts.len(),
        e.total,
        e.transfers_ok
    );
    let (verdict, summary) = if found.is_empty() {
        (
            Verdict::Valid,
            format!("{head}: every read sums to the total, no balance negative"),
        )
    } else {
        (Verdict::Invalid, format!("{head}: {}", found.join("; ")))
    };
    Ok(CheckResult {
        checker: "bank".into(),
        verdict,
        summary,
        blamed,
        first_anomaly: None,
        details: e.into(),
    })
}

/// `a=3 b=7 ...`
pub fn balances_text(balances: &BTreeMap<String, Value>) -> String {
    balances
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Process;
    use serde_json::json;

    /// A history from (process, type, value) rows of txns, 1 ms apart.
    fn history(rows: &[(u64, OpType, Value)]) -> History {
        History::new(
            rows.iter()
                .enumerate()
                .map(|(i, (p, kind, value))| Op {
                    index: i as u64,
                    time: i as u64 * 1_000_000,
                    kind: *kind,
                    process: Process::Client(*p),
                    f: "txn".into(),
                    key: None,
                    value: value.clone(),
                    error: None,
                    node: None,
                })
                .collect(),
        )
    }

    #[allow(non_snake_case)]
    fn SETUP() -> Value {
        json!([["w", 0, 10], ["w", 1, 10], ["w", 2, 10]])
    }

    fn read(a: Value, b: Value, c: Value) -> Value {
        json!([["r", 0, a], ["r", 1, b], ["r", 2, c]])
    }

    fn null3() -> Value {
        read(Value::Null, Value::Null, Value::Null)
    }

    #[test]
    fn reads_that_sum_to_the_total_are_valid() {
        let h = history(&[
            (1, OpType::Invoke, null3()),
            (0, OpType::Invoke, SETUP()),
            (1, OpType::Ok, null3()), // before the bank opened
            (0, OpType::Ok, SETUP()),
            (0, OpType::Invoke, json!([["incr", 0, -4], ["incr", 1, 4]])),
            (0, OpType::Ok, json!([["incr", 0, -4], ["incr", 1, 4]])),
            (
                0,
                OpType::Invoke,
                json!([["incr", 2, -40], ["incr", 1, 40]]),
            ),
            (0, OpType::Fail, json!([["incr", 2, -40], ["incr", 1, 40]])),
            (1, OpType::Invoke, null3()),
            (1, OpType::Ok, read(json!(6), json!(14), json!(10))),
        ]);
        let r = check(&h).unwrap();
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
        let e = r.details.bank().unwrap();
        assert_eq!((e.total, e.reads, e.before_setup), (30, 2, 1));
        assert_eq!((e.transfers_ok, e.transfers_failed), (1, 1));
        assert!(r.blamed.is_empty());
        assert_eq!(totals(&h), vec![(9_000_000, 30)]);
    }

    #[test]
    fn a_wrong_total_is_named_with_its_read() {
        let h = history(&[
            (0, OpType::Invoke, SETUP()),
            (0, OpType::Ok, SETUP()),
            (0, OpType::Invoke, json!([["incr", 0, -4], ["incr", 1, 4]])),
            (1, OpType::Invoke, null3()),
            // Saw the debit, not the credit: 4 missing.
            (1, OpType::Ok, read(json!(6), json!(10), json!(10))),
            (0, OpType::Ok, json!([["incr", 0, -4], ["incr", 1, 4]])),
            // Null after the setup completed: the accounts vanished.
            (1, OpType::Invoke, null3()),
            (1, OpType::Ok, null3()),
        ]);
        let r = check(&h).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid);
        assert!(
            r.summary.contains(
                "2 reads a wrong total (first: op 3 at 0.004 s read 26 of 30: 0=6 1=10 2=10)"
            ),
            "{}",
            r.summary
        );
        assert_eq!(r.blamed, vec![3, 6]);
        let e = r.details.bank().unwrap();
        assert_eq!(e.wrong_total_count, 2);
        assert_eq!(e.wrong_totals[0].completion, 4);
        assert_eq!(e.negative_count, 0);
    }

    #[test]
    fn a_negative_balance_is_named_with_its_account() {
        let h = history(&[
            (0, OpType::Invoke, SETUP()),
            (0, OpType::Ok, SETUP()),
            (1, OpType::Invoke, null3()),
            (1, OpType::Ok, read(json!(-5), json!(25), json!(10))),
        ]);
        let r = check(&h).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid);
        assert!(
            r.summary
                .contains("1 read a negative balance (first: op 2 at 0.003 s, account 0 = -5)"),
            "{}",
            r.summary
        );
        let e = r.details.bank().unwrap();
        assert_eq!((e.wrong_total_count, e.negative_count), (0, 1));
        assert_eq!(e.negatives[0].negative, vec!["0"]);
        assert_eq!(r.blamed, vec![2]);
    }

    #[test]
    fn histories_that_are_not_bank_histories_are_errors() {
        let no_setup = history(&[(1, OpType::Invoke, null3()), (1, OpType::Ok, null3())]);
        assert!(check(&no_setup).unwrap_err().contains("no setup txn"));
        let mixed = history(&[(0, OpType::Invoke, json!([["r", 0, null], ["w", 0, 1]]))]);
        let e = check(&mixed).unwrap_err();
        assert!(
            e.starts_with("op 0:") && e.contains("not a bank txn"),
            "{e}"
        );
        let bad = history(&[(0, OpType::Invoke, json!([["w", 0, "x"]]))]);
        assert!(check(&bad).unwrap_err().contains("not an integer"));
    }
}
