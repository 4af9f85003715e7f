//! `bank`: transfers between a fixed set of accounts and reads of all of
//! them, as txns (Jepsen's bank). Worker 0 first opens the accounts (a txn
//! of `["w", account, balance]`, sent until one is `ok`); a transfer is
//! `["incr", from, -n]` then `["incr", to, n]` (a store refuses the whole
//! txn when the debit would make `from` negative); a read is `["r",
//! account, null]` for every account. The checker (checkers/src/bank.rs):
//! every read sums to the total and no balance is negative.

use crate::generator::{Gen, OpSpec, Outcome};
use crate::workload::Workload;
use crate::WorkloadKind;
use faultline_checkers::registry::CheckerKind;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Accounts, named 0 .. ACCOUNTS-1.
pub const ACCOUNTS: u64 = 5;
/// Each account's opening balance.
pub const OPENING: i64 = 20;
/// A transfer moves 1 to this much: enough that some are refused.
pub const MAX_TRANSFER: i64 = 5;

#[derive(Default)]
pub struct Bank {
    /// Set once a setup txn completed `ok`.
    opened: Arc<AtomicBool>,
}

/// The txn that opens every account with its opening balance.
pub fn setup() -> OpSpec {
    let mops: Vec<Value> = (0..ACCOUNTS).map(|a| json!(["w", a, OPENING])).collect();
    OpSpec::new("txn", None, Value::Array(mops))
}

/// A read of every account.
pub fn read_all() -> OpSpec {
    let mops: Vec<Value> = (0..ACCOUNTS).map(|a| json!(["r", a, null])).collect();
    OpSpec::new("txn", None, Value::Array(mops))
}

/// One worker's ops: worker 0 opens the bank first.
struct Ops {
    opener: bool,
    opened: Arc<AtomicBool>,
}

impl Gen for Ops {
    fn next(&mut self, rng: &mut ChaCha8Rng) -> Option<OpSpec> {
        if self.opener && !self.opened.load(Ordering::Relaxed) {
            return Some(setup());
        }
        if rng.gen_bool(0.5) {
            return Some(read_all());
        }
        let from = rng.gen_range(0..ACCOUNTS);
        let to = (from + rng.gen_range(1..ACCOUNTS)) % ACCOUNTS;
        let n = rng.gen_range(1..=MAX_TRANSFER);
        Some(OpSpec::new(
            "txn",
            None,
            json!([["incr", from, -n], ["incr", to, n]]),
        ))
    }

    fn observe(&mut self, op: &OpSpec, outcome: &Outcome) {
        if self.opener && matches!(outcome, Outcome::Ok(_)) && *op == setup() {
            self.opened.store(true, Ordering::Relaxed);
        }
    }
}

impl Workload for Bank {
    fn kind(&self) -> WorkloadKind {
        WorkloadKind::Bank
    }

    fn generator(&self, worker: usize) -> Box<dyn Gen> {
        Box::new(Ops {
            opener: worker == 0,
            opened: self.opened.clone(),
        })
    }

    fn final_reads(&self) -> Vec<OpSpec> {
        vec![read_all()]
    }

    fn checkers(&self) -> &'static [CheckerKind] {
        &[CheckerKind::Bank]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use faultline_checkers::history::{History, Op, OpType, Process};
    use faultline_checkers::registry::{self, Options};
    use faultline_checkers::Verdict;
    use rand::SeedableRng;

    /// `ops` ops round-robin over 4 workers against a serial store that
    /// refuses overdrafts; `lose_credit` drops the credit of every 50th transfer.
    fn drive(ops: usize, lose_credit: bool) -> History {
        let w = WorkloadKind::Bank.build();
        let mut gens: Vec<_> = (0..4).map(|i| w.generator(i)).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut balances: Vec<Option<i64>> = vec![None; ACCOUNTS as usize];
        let (mut history, mut transfers) = (Vec::new(), 0);
        for n in 0..ops + 1 {
            let worker = n % 4;
            let op = if n == ops {
                read_all()
            } else {
                gens[worker].next(&mut rng).unwrap()
            };
            let mut value = op.value.clone();
            let mut ok = true;
            let mops = value.as_array_mut().unwrap();
            match mops[0][0].as_str().unwrap() {
                "w" => mops
                    .iter()
                    .for_each(|m| balances[m[1].as_u64().unwrap() as usize] = m[2].as_i64()),
                "r" => mops
                    .iter_mut()
                    .for_each(|m| m[2] = json!(balances[m[1].as_u64().unwrap() as usize])),
                _ => {
                    let (from, to) = (mops[0][1].as_u64().unwrap(), mops[1][1].as_u64().unwrap());
                    let amount = mops[1][2].as_i64().unwrap();
                    let have = balances[from as usize].unwrap_or(0);
                    ok = have >= amount;
                    if ok {
                        transfers += 1;
                        balances[from as usize] = Some(have - amount);
                        if !(lose_credit && transfers % 50 == 0) {
                            let b = &mut balances[to as usize];
                            *b = Some(b.unwrap_or(0) + amount);
                        }
                    }
                }
            }
            let outcome = if ok { OpType::Ok } else { OpType::Fail };
            if n < ops {
                let seen = if ok {
                    Outcome::Ok(value.clone())
                } else {
                    Outcome::Fail
                };
                gens[worker].observe(&op, &seen);
            }
            for (kind, v) in [(OpType::Invoke, op.value.clone()), (outcome, value)] {
                let i = history.len() as u64;
                history.push(Op {
                    index: i,
                    time: i,
                    kind,
                    process: Process::Client(worker as u64),
                    f: "txn".into(),
                    key: None,
                    value: v,
                    error: None,
                    node: None,
                });
            }
        }
        History::new(history)
    }

    #[test]
    fn a_serial_bank_passes_and_a_lost_credit_is_caught() {
        let h = drive(2_000, false);
        let r = registry::check(CheckerKind::Bank, &h, &Options::default()).unwrap();
        assert_eq!(r.verdict, Verdict::Valid, "{}", r.summary);
        let e = r.details.bank().unwrap();
        assert_eq!(e.total, ACCOUNTS as i64 * OPENING);
        assert!(e.reads > 500 && e.transfers_ok > 300, "{e:?}");
        assert!(e.transfers_failed > 0, "some overdrafts refused: {e:?}");
        // Only worker 0's first op opened the bank.
        let setups = h.ops.iter().filter(|o| o.value == setup().value).count();
        assert_eq!(setups, 2, "one invoke and its ok");

        let h = drive(2_000, true);
        let r = registry::check(CheckerKind::Bank, &h, &Options::default()).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid, "{}", r.summary);
    }
}
