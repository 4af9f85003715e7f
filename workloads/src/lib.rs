//! faultline-workloads: op generators and workload definitions.
//!
//! A generator ([`generator::Gen`]) produces the ops one client worker performs;
//! generators compose (mix, limit, stagger, phases, per-key independence). A
//! workload ([`Workload`]) is one file (`register`, `kv`, `set`, `lock`,
//! `list-append`, `rw-register`, `bank`; the txn generator they share is txn.rs): its
//! generators, its final reads, its checkers and model; the `workloads!`
//! list below registers each by name ([`WorkloadKind`]). All randomness comes from a seeded
//! [`rand_chacha::ChaCha8Rng`], so the same `--seed` gives the same ops.

pub mod generator;
pub mod txn;
#[macro_use]
pub mod kind;
pub mod workload;

pub use generator::{Gen, OpSpec, Outcome};
pub use workload::Workload;

// The workloads: one line each (its module, and the type that implements
// `Workload`, built with `Default`).
workloads! {
    /// Reads, writes and compare-and-sets on one register.
    Register = "register" => register::Register,
    /// Reads, writes and compare-and-sets on many keys, each retired after a bounded number of ops.
    Kv = "kv" => kv::Kv,
    /// Unique adds to a set, and a final read.
    Set = "set" => set::Set,
    /// Clients acquiring, renewing and releasing one lock.
    Lock = "lock" => lock::Lock,
    /// Txns of appends to lists and reads of whole lists (Elle-style check).
    ListAppend = "list-append" => list_append::ListAppend,
    /// Txns of writes and reads of registers (Elle-style check).
    RwRegister = "rw-register" => rw_register::RwRegister,
    /// Unique enqueues and dequeues on one queue, and a final drain.
    Queue = "queue" => queue::Queue,
    /// Transfers between accounts and reads of all of them, as txns (the total never changes).
    Bank = "bank" => bank::Bank,
}
