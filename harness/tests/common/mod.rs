//! Helpers shared by the integration tests.
#![allow(dead_code)]

use faultline::client::{Completion, Request};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Op number `i` of `worker`'s register client: a write of a value unique to
/// the worker, a read, or a cas from the last value it read, in turn.
pub fn register_op(worker: usize, i: i64, last_read: &Value) -> Request {
    let value = worker as i64 * 1000 + i;
    let (f, arg) = match i % 3 {
        0 => ("write", json!(value)),
        1 => ("read", Value::Null),
        _ => ("cas", json!([last_read, value])),
    };
    Request {
        f: f.into(),
        key: Some("r".into()),
        value: arg,
    }
}

/// Checks one sequential client's outcomes against a cas register: the set of
/// values the register may hold grows with every `info` write (it may or may
/// not have happened) and collapses with every `ok` read.
pub fn check_register(outcomes: &[(Request, Completion)]) {
    let mut possible: BTreeSet<String> = [Value::Null.to_string()].into();
    for (i, (request, completion)) in outcomes.iter().enumerate() {
        let context = format!(
            "op {i}: {request:?} -> {completion:?}; possible {possible:?}; before: {:?}",
            &outcomes[i.saturating_sub(8)..i]
        );
        match (request.f.as_str(), completion) {
            ("read", Completion::Ok { value }) => {
                assert!(possible.contains(&value.to_string()), "{context}");
                possible = [value.to_string()].into();
            }
            ("write", Completion::Ok { .. }) => possible = [request.value.to_string()].into(),
            ("write", Completion::Info { .. }) => {
                possible.insert(request.value.to_string());
            }
            ("cas", Completion::Ok { .. }) => {
                assert!(
                    possible.contains(&request.value[0].to_string()),
                    "{context}"
                );
                possible = [request.value[1].to_string()].into();
            }
            ("cas", Completion::Fail { error }) if error == "precondition" => {
                possible.remove(&request.value[0].to_string());
                assert!(!possible.is_empty(), "{context}");
            }
            // Any other failure: it did not happen, and says nothing of the value.
            ("cas", Completion::Fail { .. }) => {}
            ("cas", Completion::Info { .. }) => {
                if possible.contains(&request.value[0].to_string()) {
                    possible.insert(request.value[1].to_string());
                }
            }
            // A read changes nothing; a failed write never happened.
            ("read", Completion::Fail { .. } | Completion::Info { .. }) => {}
            ("write", Completion::Fail { .. }) => {}
            _ => panic!("unexpected outcome: {context}"),
        }
    }
}

use faultline_checkers::{History, Op, OpType, Process, Verdict};
use std::sync::Mutex;
use std::time::Instant;

/// Records invocations and completions as a history, the way the controller
/// does: a process has one op open at a time, and after an `info` the worker
/// continues as a new process.
pub struct Recorder {
    start: Instant,
    ops: Mutex<Vec<Op>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder {
            start: Instant::now(),
            ops: Mutex::new(Vec::new()),
        }
    }
}

impl Recorder {
    fn push(
        &self,
        process: u64,
        kind: OpType,
        request: &Request,
        value: Value,
        error: Option<String>,
    ) {
        let mut ops = self.ops.lock().unwrap();
        let index = ops.len() as u64;
        ops.push(Op {
            index,
            time: self.start.elapsed().as_nanos() as u64,
            kind,
            process: Process::Client(process),
            f: request.f.clone(),
            key: request.key.clone(),
            value,
            error,
            node: None,
        });
    }

    pub fn invoke(&self, process: u64, request: &Request) {
        self.push(
            process,
            OpType::Invoke,
            request,
            request.value.clone(),
            None,
        );
    }

    /// Records the completion; returns whether the process retires (info).
    pub fn complete(&self, process: u64, request: &Request, completion: &Completion) -> bool {
        match completion {
            Completion::Ok { value } => {
                // A read's ok carries what it read; other ops echo their argument.
                let value = if request.f == "read" {
                    value.clone()
                } else {
                    request.value.clone()
                };
                self.push(process, OpType::Ok, request, value, None);
                false
            }
            Completion::Fail { error } => {
                self.push(
                    process,
                    OpType::Fail,
                    request,
                    request.value.clone(),
                    Some(error.clone()),
                );
                false
            }
            Completion::Info { error } => {
                self.push(
                    process,
                    OpType::Info,
                    request,
                    request.value.clone(),
                    Some(error.clone()),
                );
                true
            }
        }
    }

    pub fn history(&self) -> History {
        History::new(self.ops.lock().unwrap().clone())
    }
}

/// Checks a recorded register history for linearizability; panics with the
/// checker's summary when it is not valid.
pub fn assert_linearizable(history: &History) {
    let result = faultline_checkers::linearizability::check_named(
        history,
        "cas-register",
        None,
        &Default::default(),
    )
    .expect("the history is readable");
    assert_eq!(
        result.verdict,
        Verdict::Valid,
        "{}: {:?}",
        result.summary,
        result.details
    );
}
