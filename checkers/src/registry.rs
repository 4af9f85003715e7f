//! Checkers by name, so a workload or the command line can say which to run.
//!
//! `linearizable` checks against `Options::model` (from `Options::initial`);
//! `set` and `lock` need nothing more than the history.

use crate::history::History;
use crate::verdict::CheckResult;
use crate::{linearizability, lock, set};
use serde_json::Value;

/// The checkers `check` knows.
pub const CHECKER_NAMES: [&str; 3] = ["linearizable", "set", "lock"];

/// What the checkers need besides the history.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// The linearizability model (`cas-register`, `kv`, ...).
    pub model: Option<String>,
    /// The model's initial state (`None`: the model's default).
    pub initial: Option<Value>,
    /// Budgets and search settings for `linearizable`.
    pub linearizability: linearizability::Options,
}

/// Runs the checker called `name`. `Err` for an unknown checker, a missing
/// or unknown model, or a history the checker cannot read.
pub fn check(name: &str, history: &History, opts: &Options) -> Result<CheckResult, String> {
    match name {
        "linearizable" => {
            let model = opts
                .model
                .as_deref()
                .ok_or("the linearizable checker needs a model (--model)")?;
            linearizability::check_named(
                history,
                model,
                opts.initial.as_ref(),
                &opts.linearizability,
            )
        }
        "set" => set::check(history),
        "lock" => lock::check(history),
        other => Err(format!(
            "unknown checker {other:?}; checkers: {}",
            CHECKER_NAMES.join(", ")
        )),
    }
}

/// The checkers that judge a workload's histories, and the model for
/// `linearizable` when the workload fixes one.
pub fn for_workload(workload: &str) -> Option<(&'static [&'static str], Option<&'static str>)> {
    match workload {
        "register" => Some((&["linearizable"], Some("cas-register"))),
        "kv" => Some((&["linearizable"], Some("kv"))),
        "set" => Some((&["set"], None)),
        "lock" => Some((&["lock"], None)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Op, OpType, Process};
    use crate::verdict::Verdict;
    use serde_json::json;

    fn op(i: u64, kind: OpType, f: &str, value: Value) -> Op {
        Op {
            index: i,
            time: i,
            kind,
            process: Process::Client(0),
            f: f.into(),
            key: None,
            value,
            error: None,
            node: None,
        }
    }

    #[test]
    fn runs_each_checker_by_name() {
        let h = History::new(vec![
            op(0, OpType::Invoke, "write", json!(1)),
            op(1, OpType::Ok, "write", json!(1)),
            op(2, OpType::Invoke, "read", Value::Null),
            op(3, OpType::Ok, "read", json!(2)),
        ]);
        let opts = Options {
            model: Some("cas-register".into()),
            ..Options::default()
        };
        let r = check("linearizable", &h, &opts).unwrap();
        assert_eq!(r.verdict, Verdict::Invalid);

        let h = History::new(vec![
            op(0, OpType::Invoke, "add", json!(1)),
            op(1, OpType::Ok, "add", json!(1)),
            op(2, OpType::Invoke, "read", Value::Null),
            op(3, OpType::Ok, "read", json!([1])),
        ]);
        assert_eq!(check("set", &h, &opts).unwrap().verdict, Verdict::Valid);
        assert_eq!(
            check("lock", &History::default(), &opts).unwrap().checker,
            "lock"
        );
    }

    #[test]
    fn unknown_names_and_missing_models_are_errors() {
        let h = History::default();
        assert!(check("bank", &h, &Options::default())
            .unwrap_err()
            .contains("checkers: linearizable"));
        assert!(check("linearizable", &h, &Options::default())
            .unwrap_err()
            .contains("needs a model"));
        let opts = Options {
            model: Some("btree".into()),
            ..Options::default()
        };
        assert!(check("linearizable", &h, &opts).is_err());
        assert_eq!(for_workload("kv").unwrap().1, Some("kv"));
        assert!(for_workload("bank").is_none());
    }
}
