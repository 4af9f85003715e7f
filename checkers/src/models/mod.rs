//! Sequential specifications ("models") that the linearizability search checks
//! a history against.
//!
//! A model is a small trait: it turns each recorded call into a compact input
//! (values interned to small integers), steps a small `Copy` state, and shows a
//! state as JSON for the evidence. Adding a model is one file with one `impl`.

mod append_register;
mod cas_register;
mod fifo_queue;
mod intern;
mod keyed;
mod mutex;

pub use append_register::AppendRegister;
pub use cas_register::{CasRegister, RegisterInput};
pub use fifo_queue::FifoQueue;
pub use intern::{Interner, ValueInterner};
pub use keyed::Keyed;
pub use mutex::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt::Debug;
use std::hash::Hash;

/// The linearizability models `faultline check --model` and the workloads
/// name. Serialized (in `test.json`) and parsed as the kebab-case names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum ModelKind {
    /// A read/write register.
    Register,
    /// A register with compare-and-set.
    CasRegister,
    /// Independent compare-and-set registers by key (checked per key).
    Kv,
    /// Append-only registers by key (checked per key).
    AppendRegister,
    /// A lock.
    Mutex,
    /// A FIFO queue.
    FifoQueue,
}

impl ModelKind {
    pub const ALL: [ModelKind; 6] = [
        ModelKind::Register,
        ModelKind::CasRegister,
        ModelKind::Kv,
        ModelKind::AppendRegister,
        ModelKind::Mutex,
        ModelKind::FifoQueue,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::Kv => "kv",
            ModelKind::AppendRegister => "append-register",
            ModelKind::Mutex => "mutex",
            ModelKind::FifoQueue => "fifo-queue",
        }
    }
}

crate::named_kind!(ModelKind, "model", "models");

/// One client operation: its invocation paired with its completion.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    /// Index of the invoke line in the history.
    pub index: u64,
    pub f: &'a str,
    pub key: Option<&'a str>,
    /// The argument given on invoke.
    pub input: &'a Value,
    /// The result of an `ok` completion; `None` when the op is indeterminate
    /// (`info`, or still open at the end of the history).
    pub output: Option<&'a Value>,
}

impl Call<'_> {
    pub fn is_ok(&self) -> bool {
        self.output.is_some()
    }
}

/// What a model makes of one call.
pub enum Encoded<I> {
    /// The call, as the model's compact input.
    Input(I),
    /// The call has no effect and tells nothing (an indeterminate read, or a
    /// read whose value is unknown): the search leaves it out.
    Skip,
}

/// Settings shared by every model.
#[derive(Clone, Debug, Default)]
pub struct ModelConfig {
    /// A read that completed `ok` with a null value tells nothing (Jepsen's
    /// convention for imported histories) and is left out.
    pub nil_read_is_unknown: bool,
}

/// A sequential specification.
///
/// One instance serves one part of a history (one key when the search splits
/// per key), so a model may keep interning tables in `self`.
pub trait Model: Send {
    /// The model's state; small and `Copy` so the search can memoise it.
    type State: Copy + Eq + Hash + Debug + Send;
    /// One call, encoded. Equal inputs must mean the same call (the search
    /// treats indeterminate ops with equal inputs as interchangeable).
    type Input: Clone + Eq + Hash + Debug + Send + Sync;

    fn init(&mut self) -> Self::State;

    /// Encodes a call, or says why it does not fit the model.
    fn encode(&mut self, call: &Call<'_>) -> Result<Encoded<Self::Input>, String>;

    /// The state after `input`, or `None` when the call cannot happen in `state`.
    fn step(&mut self, state: Self::State, input: &Self::Input) -> Option<Self::State>;

    /// Whether `input` is blind: it always applies and the state after it
    /// does not depend on the state before (a register's write). The
    /// frontier search uses it to skip crashed ops whose effect a blind op
    /// would erase at once; `false` is always safe.
    fn is_blind(&self, _input: &Self::Input) -> bool {
        false
    }

    /// `inputs` as a register's reads, writes and cases, for a model that
    /// is one register (`register`, `cas-register`, a key of `kv`): the
    /// search then applies the register rules of `register_rules.rs`
    /// (which may rewrite them), sound only for a register. `None` (the
    /// default) for any other model.
    fn as_registers<'a>(&self, _inputs: &'a mut [Self::Input]) -> Option<&'a mut [RegisterInput]> {
        None
    }

    /// `state` as a register's value, where [`Model::as_registers`] is given.
    fn register_value(&self, _state: Self::State) -> Option<u32> {
        None
    }

    /// Whether `input` is pure: it never changes the state where it applies
    /// (a register's read). The frontier search places such an op as soon
    /// as it applies, which is never worse than later; `false` is always
    /// safe.
    fn is_pure(&self, _input: &Self::Input) -> bool {
        false
    }

    /// Called before the search's result is replayed for evidence. A model
    /// that merges states no later call can tell apart stops merging here,
    /// so the evidence shows the real states.
    fn for_evidence(&mut self) {}

    /// The state as JSON, for evidence.
    fn state_json(&self, state: Self::State) -> Value;
}

/// The error for a function a model does not know.
pub(crate) fn unknown_function(model: &str, call: &Call<'_>, known: &str) -> String {
    format!(
        "op {}: model {model} has no function {:?} (it knows {known})",
        call.index, call.f
    )
}
