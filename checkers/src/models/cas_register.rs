//! A single register: `read`, `write`, and (for `cas-register`) `cas`.
//!
//! Values are any JSON, interned to `u32`; `null` is "unset". A `cas` takes
//! `[expected, new]`. `register` is the same model without `cas`.

use super::{unknown_function, Call, Encoded, Model, ModelConfig, ValueInterner};
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RegisterInput {
    Read(u32),
    Write(u32),
    Cas(u32, u32),
}

#[derive(Clone, Debug)]
pub struct CasRegister {
    name: &'static str,
    allow_cas: bool,
    initial: u32,
    values: ValueInterner,
    config: ModelConfig,
}

impl CasRegister {
    /// A read/write/cas register starting at `initial` (default `null`).
    pub fn new(initial: Option<&Value>, config: ModelConfig) -> Self {
        Self::build("cas-register", true, initial, config)
    }

    /// A read/write register (no `cas`).
    pub fn plain(initial: Option<&Value>, config: ModelConfig) -> Self {
        Self::build("register", false, initial, config)
    }

    fn build(
        name: &'static str,
        allow_cas: bool,
        initial: Option<&Value>,
        config: ModelConfig,
    ) -> Self {
        let mut values = ValueInterner::default();
        let initial = values.intern(initial.unwrap_or(&Value::Null));
        CasRegister {
            name,
            allow_cas,
            initial,
            values,
            config,
        }
    }
}

impl Model for CasRegister {
    type State = u32;
    type Input = RegisterInput;

    fn init(&mut self) -> u32 {
        self.initial
    }

    fn encode(&mut self, call: &Call<'_>) -> Result<Encoded<RegisterInput>, String> {
        Ok(Encoded::Input(match call.f {
            "read" => match call.output {
                None => return Ok(Encoded::Skip),
                Some(Value::Null) if self.config.nil_read_is_unknown => return Ok(Encoded::Skip),
                Some(v) => RegisterInput::Read(self.values.intern(v)),
            },
            "write" => RegisterInput::Write(self.values.intern(call.input)),
            "cas" if self.allow_cas => match call.input {
                Value::Array(pair) if pair.len() == 2 => {
                    RegisterInput::Cas(self.values.intern(&pair[0]), self.values.intern(&pair[1]))
                }
                other => {
                    return Err(format!(
                        "op {}: cas takes [expected, new], got {other}",
                        call.index
                    ))
                }
            },
            _ => {
                let known = if self.allow_cas {
                    "read, write, cas"
                } else {
                    "read, write"
                };
                return Err(unknown_function(self.name, call, known));
            }
        }))
    }

    fn step(&mut self, state: u32, input: &RegisterInput) -> Option<u32> {
        match *input {
            RegisterInput::Read(v) => (v == state).then_some(state),
            RegisterInput::Write(v) => Some(v),
            RegisterInput::Cas(from, to) => (from == state).then_some(to),
        }
    }

    fn is_blind(&self, input: &RegisterInput) -> bool {
        matches!(input, RegisterInput::Write(_))
    }

    fn is_pure(&self, input: &RegisterInput) -> bool {
        match *input {
            RegisterInput::Read(_) => true,
            RegisterInput::Cas(a, b) => a == b,
            RegisterInput::Write(_) => false,
        }
    }

    fn as_registers<'a>(&self, inputs: &'a mut [RegisterInput]) -> Option<&'a mut [RegisterInput]> {
        Some(inputs)
    }

    fn register_value(&self, state: u32) -> Option<u32> {
        Some(state)
    }

    fn state_json(&self, state: u32) -> Value {
        self.values.value(state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call<'a>(f: &'a str, input: &'a Value, output: Option<&'a Value>) -> Call<'a> {
        Call {
            index: 0,
            f,
            key: None,
            input,
            output,
        }
    }

    #[test]
    fn read_write_cas_follow_the_register() {
        let mut m = CasRegister::new(Some(&json!(0)), ModelConfig::default());
        let s = m.init();
        let enc = |m: &mut CasRegister, c: Call| match m.encode(&c).unwrap() {
            Encoded::Input(i) => i,
            Encoded::Skip => panic!("skipped"),
        };
        let read0 = enc(&mut m, call("read", &Value::Null, Some(&json!(0))));
        let read5 = enc(&mut m, call("read", &Value::Null, Some(&json!(5))));
        let write5 = enc(&mut m, call("write", &json!(5), Some(&Value::Null)));
        let cas56 = enc(&mut m, call("cas", &json!([5, 6]), Some(&Value::Null)));
        assert_eq!(m.step(s, &read0), Some(s));
        assert_eq!(m.step(s, &read5), None);
        assert_eq!(m.step(s, &cas56), None);
        let s5 = m.step(s, &write5).unwrap();
        assert_eq!(m.step(s5, &read5), Some(s5));
        let s6 = m.step(s5, &cas56).unwrap();
        assert_eq!(m.state_json(s6), json!(6));
    }

    #[test]
    fn indeterminate_and_unknown_reads_are_skipped() {
        let mut m = CasRegister::new(
            None,
            ModelConfig {
                nil_read_is_unknown: true,
            },
        );
        let null = Value::Null;
        assert!(matches!(
            m.encode(&call("read", &null, None)).unwrap(),
            Encoded::Skip
        ));
        assert!(matches!(
            m.encode(&call("read", &null, Some(&null))).unwrap(),
            Encoded::Skip
        ));
        let mut strict = CasRegister::new(None, ModelConfig::default());
        assert!(matches!(
            strict.encode(&call("read", &null, Some(&null))).unwrap(),
            Encoded::Input(RegisterInput::Read(0))
        ));
    }

    #[test]
    fn plain_register_rejects_cas_and_bad_cas_is_an_error() {
        let mut m = CasRegister::plain(None, ModelConfig::default());
        let err = m
            .encode(&call("cas", &json!([1, 2]), Some(&Value::Null)))
            .err()
            .unwrap();
        assert!(err.contains("no function \"cas\""), "{err}");
        let mut c = CasRegister::new(None, ModelConfig::default());
        let err = c
            .encode(&call("cas", &json!(3), Some(&Value::Null)))
            .err()
            .unwrap();
        assert!(err.contains("[expected, new]"), "{err}");
    }
}
