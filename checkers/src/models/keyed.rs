//! A map of independent keys, each its own copy of an inner model, checked as
//! one unsplit history (the search normally splits such histories per key).
//!
//! The state is an interned vector of the keys' inner states. `init` must be
//! called after every call is encoded, when all keys are known.

use super::{Call, Encoded, Interner, Model};
use serde_json::{Map, Value};

pub struct Keyed<M: Model> {
    inner: M,
    keys: Interner<Box<str>>,
    states: Interner<Vec<M::State>>,
    /// Every key's inner state at the start; grown as keys appear.
    initial_inner: M::State,
}

impl<M: Model> Keyed<M> {
    pub fn new(mut inner: M) -> Self {
        let initial_inner = inner.init();
        Keyed {
            inner,
            keys: Interner::default(),
            states: Interner::default(),
            initial_inner,
        }
    }
}

impl<M: Model> Model for Keyed<M> {
    type State = u32;
    /// The key's index and the inner input.
    type Input = (u32, M::Input);

    fn init(&mut self) -> u32 {
        let all_initial = vec![self.initial_inner; self.keys.len()];
        self.states.intern(all_initial)
    }

    fn encode(&mut self, call: &Call<'_>) -> Result<Encoded<Self::Input>, String> {
        let key = call.key.unwrap_or("");
        let key = self.keys.intern(key.into());
        Ok(match self.inner.encode(call)? {
            Encoded::Input(i) => Encoded::Input((key, i)),
            Encoded::Skip => Encoded::Skip,
        })
    }

    fn step(&mut self, state: u32, (key, input): &Self::Input) -> Option<u32> {
        let vector = self.states.get(state);
        let before = vector[*key as usize];
        let after = self.inner.step(before, input)?;
        if after == before {
            return Some(state);
        }
        let mut next = vector.clone();
        next[*key as usize] = after;
        Some(self.states.intern(next))
    }

    fn for_evidence(&mut self) {
        self.inner.for_evidence();
    }

    fn state_json(&self, state: u32) -> Value {
        let vector = self.states.get(state);
        let map: Map<String, Value> = vector
            .iter()
            .enumerate()
            .map(|(k, &s)| {
                (
                    self.keys.get(k as u32).to_string(),
                    self.inner.state_json(s),
                )
            })
            .collect();
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{CasRegister, ModelConfig};
    use serde_json::json;

    #[test]
    fn keys_are_independent_registers() {
        let mut m = Keyed::new(CasRegister::new(None, ModelConfig::default()));
        let one = json!(1);
        let null = Value::Null;
        let mut enc = |f, key, input: &Value, output: Option<&Value>| {
            let c = Call {
                index: 0,
                f,
                key: Some(key),
                input,
                output,
            };
            match m.encode(&c).unwrap() {
                Encoded::Input(i) => i,
                Encoded::Skip => panic!("skipped"),
            }
        };
        let write_a1 = enc("write", "a", &one, Some(&null));
        let read_b1 = enc("read", "b", &null, Some(&one));
        let read_a1 = enc("read", "a", &null, Some(&one));
        let s = m.init();
        let s1 = m.step(s, &write_a1).unwrap();
        assert_eq!(m.step(s1, &read_b1), None);
        assert_eq!(m.step(s1, &read_a1), Some(s1));
        assert_eq!(m.state_json(s1), json!({"a": 1, "b": null}));
    }
}
