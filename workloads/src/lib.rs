//! faultline-workloads: op generators and workload definitions.
//!
//! A generator ([`generator::Gen`]) produces the ops one client worker performs;
//! generators compose (mix, limit, stagger, phases, per-key independence). A
//! workload ([`Workload`]) is one file (`register`, `kv`, `set`, `lock`): its
//! generators, its final reads, its checkers and model; [`kind`] registers
//! each by name. All randomness comes from a seeded
//! [`rand_chacha::ChaCha8Rng`], so the same `--seed` gives the same ops.

pub mod generator;
pub mod kind;
pub mod kv;
pub mod lock;
pub mod register;
pub mod set;
pub mod workload;

pub use generator::{Gen, OpSpec, Outcome};
pub use kind::WorkloadKind;
pub use workload::Workload;
