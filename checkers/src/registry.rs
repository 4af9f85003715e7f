//! Checkers by kind, so a workload or the command line can say which to run.
//!
//! `linearizable` checks against `Options::model` (from `Options::initial`);
//! `set` and `lock` need nothing more than the history. Which checkers judge
//! which workload is the workloads' business (crate faultline-workloads).

use crate::history::History;
use crate::models::ModelKind;
use crate::verdict::{CheckResult, Verdict};
use crate::{anomaly, bank, linearizability, lock, queue, set, txn};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The checkers `check` knows, by the names the command line and
/// `results.json` use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum CheckerKind {
    /// Linearizability against a model (`--model`).
    Linearizable,
    /// Every acknowledged add is in the final read; nothing appears from nowhere.
    Set,
    /// Mutual exclusion and fencing of a lock service.
    Lock,
    /// Transactional isolation of list-append txns (Elle-style).
    ListAppend,
    /// Transactional isolation of rw-register txns (Elle-style).
    RwRegister,
    /// Every acknowledged enqueue taken exactly once (Jepsen's total-queue).
    Queue,
    /// Reads of all accounts sum to the total; no balance negative.
    Bank,
}

impl CheckerKind {
    pub const ALL: [CheckerKind; 7] = [
        CheckerKind::Linearizable,
        CheckerKind::Set,
        CheckerKind::Lock,
        CheckerKind::ListAppend,
        CheckerKind::RwRegister,
        CheckerKind::Queue,
        CheckerKind::Bank,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CheckerKind::Linearizable => "linearizable",
            CheckerKind::Set => "set",
            CheckerKind::Lock => "lock",
            CheckerKind::ListAppend => "list-append",
            CheckerKind::RwRegister => "rw-register",
            CheckerKind::Queue => "queue",
            CheckerKind::Bank => "bank",
        }
    }
}

crate::named_kind!(CheckerKind, "checker", "checkers");

/// What the checkers need besides the history.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The linearizability model.
    pub model: Option<ModelKind>,
    /// The model's initial state (`None`: the model's default).
    pub initial: Option<Value>,
    /// Budgets and search settings for `linearizable`.
    pub linearizability: linearizability::Options,
    /// Consistency models for `list-append` and `rw-register`.
    pub txn: txn::Options,
}

/// Runs `checker`. `Err` for a missing model or a history the checker
/// cannot read.
///
/// An invalid result says when its first blamed op completed, at which
/// node, under which fault (`first_anomaly`); other results blame nothing.
pub fn check(
    checker: CheckerKind,
    history: &History,
    opts: &Options,
) -> Result<CheckResult, String> {
    let mut result = run(checker, history, opts)?;
    if result.verdict == Verdict::Invalid {
        result.first_anomaly = anomaly::first_anomaly(history, &result.blamed);
    } else {
        result.blamed.clear();
        result.first_anomaly = None;
    }
    Ok(result)
}

fn run(checker: CheckerKind, history: &History, opts: &Options) -> Result<CheckResult, String> {
    match checker {
        CheckerKind::Linearizable => {
            let model = opts
                .model
                .ok_or("the linearizable checker needs a model (--model)")?;
            linearizability::check(history, model, opts.initial.as_ref(), &opts.linearizability)
        }
        CheckerKind::Set => set::check(history),
        CheckerKind::Lock => lock::check(history),
        CheckerKind::ListAppend => txn::check(history, txn::TxnWorkload::ListAppend, &opts.txn),
        CheckerKind::RwRegister => txn::check(history, txn::TxnWorkload::RwRegister, &opts.txn),
        CheckerKind::Queue => queue::check(history),
        CheckerKind::Bank => bank::check(history),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, OpType};
    use serde_json::json;

    fn op(i: u64, kind: OpType, f: &str, value: Value) -> Op {
        Op::client(i, kind, 0, f, value)
    }

    #[test]
    fn runs_each_checker() {
        let h = History::new(vec![
            op(0, OpType::Invoke, "write", json!(1)),
            op(1, OpType::Ok, "write", json!(1)),
            op(2, OpType::Invoke, "read", Value::Null),
            op(3, OpType::Ok, "read", json!(2)),
        ]);
        let opts = Options {
            model: Some(ModelKind::CasRegister),
            ..Options::default()
        };
        let r = check(CheckerKind::Linearizable, &h, &opts).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid);
        assert_eq!(r.blamed, vec![2], "the read of a value never written");
        let first = r.first_anomaly.expect("an invalid check says when");
        assert_eq!((first.op, first.time_ns), (2, 3));

        let h = History::new(vec![
            op(0, OpType::Invoke, "add", json!(1)),
            op(1, OpType::Ok, "add", json!(1)),
            op(2, OpType::Invoke, "read", Value::Null),
            op(3, OpType::Ok, "read", json!([1])),
        ]);
        assert_eq!(
            check(CheckerKind::Set, &h, &opts).unwrap().verdict,
            Verdict::Valid
        );
        assert_eq!(
            check(CheckerKind::Lock, &History::default(), &opts)
                .unwrap()
                .checker,
            "lock"
        );
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_known_ones() {
        for c in CheckerKind::ALL {
            assert_eq!(c.name().parse::<CheckerKind>(), Ok(c));
            assert_eq!(serde_json::to_value(c).unwrap(), json!(c.name()));
        }
        for m in ModelKind::ALL {
            assert_eq!(m.name().parse::<ModelKind>(), Ok(m));
            assert_eq!(serde_json::to_value(m).unwrap(), json!(m.name()));
        }
        let e = "banks".parse::<CheckerKind>().unwrap_err();
        assert!(e.contains("checkers: linearizable, set, lock"), "{e}");
        let e = "btree".parse::<ModelKind>().unwrap_err();
        assert!(
            e.contains("cas-register") && e.contains("fifo-queue"),
            "{e}"
        );
    }

    #[test]
    fn linearizable_without_a_model_is_an_error() {
        let h = History::default();
        assert!(check(CheckerKind::Linearizable, &h, &Options::default())
            .unwrap_err()
            .contains("needs a model"));
    }
}
