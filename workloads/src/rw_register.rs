//! `rw-register`: txns of `["w", k, v]` and `["r", k, null]` micro-ops (see
//! txn.rs for the mix and the keys), checked Elle-style: each value is
//! written once per key, so a read names the txn it read from (wr), and
//! version orders follow where they can be inferred soundly.

use crate::generator::{Gen, OpSpec};
use crate::txn::{Style, TxnKeys, Txns};
use crate::workload::Workload;
use crate::WorkloadKind;
use faultline_checkers::registry::CheckerKind;
use std::sync::Arc;

#[derive(Default)]
pub struct RwRegister {
    keys: Arc<TxnKeys>,
}

impl Workload for RwRegister {
    fn kind(&self) -> WorkloadKind {
        WorkloadKind::RwRegister
    }

    fn generator(&self, _worker: usize) -> Box<dyn Gen> {
        Box::new(Txns {
            keys: self.keys.clone(),
            style: Style::RwRegister,
        })
    }

    fn final_reads(&self) -> Vec<OpSpec> {
        self.keys.final_reads()
    }

    fn checkers(&self) -> &'static [CheckerKind] {
        &[CheckerKind::RwRegister]
    }
}
