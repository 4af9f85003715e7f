//! faultline-checkers: the history model, its codecs, and the checkers that
//! judge a history. Pure and synchronous: no async runtime, no I/O but files.

pub mod anomaly;
pub mod bank;
pub mod evidence;
pub mod history;
pub mod import;
pub mod jsonl;
pub mod linearizability;
pub mod load_spread;
pub mod lock;
mod lock_fenced;
pub mod models;
pub mod named;
pub mod pairs;
pub mod queue;
pub mod registry;
pub mod set;
pub mod stats;
pub mod txn;
pub mod verdict;

pub use evidence::Evidence;
pub use history::{History, Op, OpType, Process};
pub use stats::RunStats;
pub use verdict::{CheckResult, Results, Verdict};
