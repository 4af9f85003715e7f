//! A mutex: `acquire` takes a free lock, `release` frees a held one.
//! Initial state: `false`/`"free"` (default) or `true`/`"held"`.

use super::{unknown_function, Call, Encoded, Model};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MutexInput {
    Acquire,
    Release,
}

#[derive(Clone, Debug)]
pub struct Mutex {
    initially_held: bool,
}

impl Mutex {
    pub fn new(initial: Option<&Value>) -> Result<Self, String> {
        let initially_held = match initial {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s == "free" => false,
            Some(Value::String(s)) if s == "held" => true,
            Some(other) => {
                return Err(format!(
                    "mutex: initial state must be true/false or \"held\"/\"free\", got {other}"
                ))
            }
        };
        Ok(Mutex { initially_held })
    }
}

impl Model for Mutex {
    /// Whether the lock is held.
    type State = bool;
    type Input = MutexInput;

    fn init(&mut self) -> bool {
        self.initially_held
    }

    fn encode(&mut self, call: &Call<'_>) -> Result<Encoded<MutexInput>, String> {
        match call.f {
            "acquire" | "lock" => Ok(Encoded::Input(MutexInput::Acquire)),
            "release" | "unlock" => Ok(Encoded::Input(MutexInput::Release)),
            _ => Err(unknown_function("mutex", call, "acquire, release")),
        }
    }

    fn step(&mut self, held: bool, input: &MutexInput) -> Option<bool> {
        match input {
            MutexInput::Acquire => (!held).then_some(true),
            MutexInput::Release => held.then_some(false),
        }
    }

    fn state_json(&self, held: bool) -> Value {
        Value::String(if held { "held" } else { "free" }.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn acquire_needs_free_release_needs_held() {
        let mut m = Mutex::new(None).unwrap();
        let free = m.init();
        assert!(!free);
        assert_eq!(m.step(free, &MutexInput::Release), None);
        let held = m.step(free, &MutexInput::Acquire).unwrap();
        assert_eq!(m.step(held, &MutexInput::Acquire), None);
        assert_eq!(m.step(held, &MutexInput::Release), Some(false));
        assert_eq!(m.state_json(held), json!("held"));
        assert!(Mutex::new(Some(&json!("held"))).unwrap().init());
        assert!(Mutex::new(Some(&json!(3))).is_err());
    }
}
