//! Helpers shared by the integration tests.
#![allow(dead_code)]

use faultline::client::{Completion, Request};
use serde_json::Value;
use std::collections::BTreeSet;

/// Checks one sequential client's outcomes against a cas register: the set of
/// values the register may hold grows with every `info` write (it may or may
/// not have happened) and collapses with every `ok` read.
pub fn check_register(outcomes: &[(Request, Completion)]) {
    let mut possible: BTreeSet<String> = [Value::Null.to_string()].into();
    for (i, (request, completion)) in outcomes.iter().enumerate() {
        let context = format!(
            "op {i}: {request:?} -> {completion:?}; possible {possible:?}; all: {outcomes:?}"
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
            ("cas", Completion::Fail { .. }) => {
                possible.remove(&request.value[0].to_string());
                assert!(!possible.is_empty(), "{context}");
            }
            ("cas", Completion::Info { .. }) => {
                if possible.contains(&request.value[0].to_string()) {
                    possible.insert(request.value[1].to_string());
                }
            }
            (_, Completion::Info { .. }) => {}
            _ => panic!("unexpected outcome: {context}"),
        }
    }
}
