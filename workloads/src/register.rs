//! `register`: reads, writes and compare-and-sets on one register, checked
//! for linearizability against a compare-and-set register.

use crate::generator::{FromFn, Gen, Mix, OpSpec};
use crate::WorkloadKind;
use crate::workload::Workload;
use faultline_checkers::models::ModelKind;
use faultline_checkers::registry::CheckerKind;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value};

/// The register's key.
pub const KEY: &str = "r";

#[derive(Default)]
pub struct Register;

impl Workload for Register {
    fn kind(&self) -> WorkloadKind {
        WorkloadKind::Register
    }

    fn generator(&self, _worker: usize) -> Box<dyn Gen> {
        Box::new(ops(Some(KEY)))
    }

    fn final_reads(&self) -> Vec<OpSpec> {
        vec![OpSpec::new("read", Some(KEY), Value::Null)]
    }

    fn checkers(&self) -> &'static [CheckerKind] {
        &[CheckerKind::Linearizable]
    }

    fn model(&self) -> Option<ModelKind> {
        Some(ModelKind::CasRegister)
    }
}

/// Reads, writes and compare-and-sets over a small value range, so cas hits.
/// (`key`: `None` for a caller that sets the key itself.)
pub fn ops(key: Option<&'static str>) -> Mix {
    let read = FromFn(move |_: &mut ChaCha8Rng| Some(OpSpec::new("read", key, Value::Null)));
    let write = FromFn(move |rng: &mut ChaCha8Rng| {
        Some(OpSpec::new("write", key, json!(rng.gen_range(0..5))))
    });
    let cas = FromFn(move |rng: &mut ChaCha8Rng| {
        let v = json!([rng.gen_range(0..5), rng.gen_range(0..5)]);
        Some(OpSpec::new("cas", key, v))
    });
    Mix::new(vec![
        (2, Box::new(read)),
        (1, Box::new(write)),
        (1, Box::new(cas)),
    ])
}
