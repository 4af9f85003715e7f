//! faultline-workloads: op generators and workload definitions.
//!
//! A generator ([`generator::Gen`]) produces the ops one client worker performs;
//! generators compose (mix, limit, stagger, phases, per-key independence). A
//! workload ([`workload::Workload`]) names its generators and its checkers.
//! All randomness comes from a seeded [`rand_chacha::ChaCha8Rng`], so the same
//! `--seed` gives the same ops.

pub mod generator;
pub mod workload;

pub use generator::{Gen, OpSpec, Outcome};
pub use workload::{Workload, WORKLOAD_NAMES};
