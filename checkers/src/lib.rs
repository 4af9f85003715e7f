//! faultline-checkers: the history model, its codecs, and the checkers that
//! judge a history. Pure and synchronous: no async runtime, no I/O but files.

pub mod history;
pub mod jsonl;
pub mod verdict;

pub use history::{History, Op, OpType, Process};
pub use verdict::{CheckResult, Results, Verdict};
