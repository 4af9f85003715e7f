//! `list-append`: txns of `["append", k, v]` and `["r", k, null]` micro-ops
//! (see txn.rs for the mix and the keys), checked Elle-style: the longest
//! read of each list orders its appends, so ww, wr and rw dependencies, and
//! their cycles, follow from the reads.

use crate::generator::{Gen, OpSpec};
use crate::txn::{Style, TxnKeys, Txns};
use crate::workload::Workload;
use crate::WorkloadKind;
use faultline_checkers::registry::CheckerKind;
use std::sync::Arc;

#[derive(Default)]
pub struct ListAppend {
    keys: Arc<TxnKeys>,
}

impl Workload for ListAppend {
    fn kind(&self) -> WorkloadKind {
        WorkloadKind::ListAppend
    }

    fn generator(&self, _worker: usize) -> Box<dyn Gen> {
        Box::new(Txns {
            keys: self.keys.clone(),
            style: Style::ListAppend,
        })
    }

    /// Reads of every list the run used: the longest reads order the appends.
    fn final_reads(&self) -> Vec<OpSpec> {
        self.keys.final_reads()
    }

    fn checkers(&self) -> &'static [CheckerKind] {
        &[CheckerKind::ListAppend]
    }
}
