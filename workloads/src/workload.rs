//! What a workload is: the ops each worker performs, the final reads after
//! the cluster healed, and the checkers (and model) that judge the history.
//!
//! One workload is one file (`register.rs`, `kv.rs`, `set.rs`, `lock.rs`)
//! with a type implementing [`Workload`] (and `Default`), registered by one
//! line in the `workloads!` list in lib.rs.

use crate::generator::{Gen, OpSpec};
use crate::WorkloadKind;
use faultline_checkers::models::ModelKind;
use faultline_checkers::registry::CheckerKind;

/// One workload. A value serves one run: it may keep state that its
/// generators share (the kv workload's key rotation).
pub trait Workload: Send + Sync {
    fn kind(&self) -> WorkloadKind;

    /// The main-phase generator of worker number `worker`.
    fn generator(&self, worker: usize) -> Box<dyn Gen>;

    /// Ops run once after the cluster healed and settled.
    fn final_reads(&self) -> Vec<OpSpec> {
        Vec::new()
    }

    /// The checkers that judge this workload's histories.
    fn checkers(&self) -> &'static [CheckerKind];

    /// The linearizability model, when `linearizable` is among the checkers.
    fn model(&self) -> Option<ModelKind> {
        None
    }
}
