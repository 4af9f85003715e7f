//! A string register with `get`, `put` and `append` (the per-key model of
//! Porcupine's kv reference logs). A missing key reads as `""`.
//!
//! States are interned strings, with one exception that keeps the search
//! small: a string that is not a prefix of any value a `get` returns can never
//! be read again (appends only extend it, and only a `put` replaces it), so
//! all such strings behave alike and are merged into one state, [`DEAD`].
//! Without this, every order of a run of appends that a `put` later erases
//! would be a different state. Evidence replays with merging off
//! ([`Model::for_evidence`]) to show the real strings.

use super::{unknown_function, Call, Encoded, Interner, Model, ModelConfig};
use rustc_hash::FxHashMap;
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AppendInput {
    /// Reads the string with this id.
    Get(u32),
    Put(u32),
    Append(u32),
}

/// The state of every string no `get` can see.
const DEAD: u32 = u32::MAX;

#[derive(Clone, Debug)]
pub struct AppendRegister {
    /// Every string met: the history's values and the states built from them.
    /// A state is an id here (or `DEAD`), so equal strings are equal states.
    texts: Interner<Box<str>>,
    /// The distinct values gets return, sorted by text once the search starts.
    reads: Vec<u32>,
    reads_sorted: bool,
    /// (state, appended string) -> next state.
    appended: FxHashMap<(u32, u32), u32>,
    merge_dead: bool,
    empty: u32,
    initial: u32,
    config: ModelConfig,
}

fn text(call: &Call<'_>, v: &Value) -> Result<Box<str>, String> {
    match v {
        Value::Null => Ok("".into()),
        Value::String(s) => Ok(s.as_str().into()),
        Value::Number(n) => Ok(n.to_string().into_boxed_str()),
        other => Err(format!(
            "op {}: append-register values are strings, got {other}",
            call.index
        )),
    }
}

impl AppendRegister {
    /// A register holding `initial` (a string; default and `null`: `""`).
    pub fn new(initial: Option<&Value>, config: ModelConfig) -> Result<Self, String> {
        let mut texts = Interner::default();
        let empty = texts.intern("".into());
        let initial = match initial {
            None | Some(Value::Null) => empty,
            Some(Value::String(s)) => texts.intern(s.as_str().into()),
            Some(other) => {
                return Err(format!(
                    "append-register: initial state must be a string, got {other}"
                ))
            }
        };
        Ok(AppendRegister {
            texts,
            reads: Vec::new(),
            reads_sorted: true,
            appended: FxHashMap::default(),
            merge_dead: true,
            empty,
            initial,
            config,
        })
    }

    /// Whether some get returns a value starting with `s`.
    fn readable(&mut self, s: &str) -> bool {
        if !self.reads_sorted {
            let texts = &self.texts;
            self.reads.sort_unstable_by_key(|&r| texts.get(r));
            self.reads.dedup();
            self.reads_sorted = true;
        }
        let texts = &self.texts;
        let at = self.reads.partition_point(|&r| &**texts.get(r) < s);
        self.reads
            .get(at)
            .is_some_and(|&r| texts.get(r).starts_with(s))
    }

    /// The state after appending the string `suffix` to `state`.
    fn append(&mut self, state: u32, suffix: u32) -> u32 {
        if state == DEAD {
            return DEAD;
        }
        if let Some(&next) = self.appended.get(&(state, suffix)) {
            return next;
        }
        let joined = [&**self.texts.get(state), &**self.texts.get(suffix)].concat();
        let next = if !self.merge_dead || self.readable(&joined) {
            self.texts.intern(joined.into_boxed_str())
        } else {
            DEAD
        };
        self.appended.insert((state, suffix), next);
        next
    }
}

impl Model for AppendRegister {
    type State = u32;
    type Input = AppendInput;

    fn init(&mut self) -> u32 {
        self.initial
    }

    fn encode(&mut self, call: &Call<'_>) -> Result<Encoded<AppendInput>, String> {
        Ok(Encoded::Input(match call.f {
            "get" | "read" => match call.output {
                None => return Ok(Encoded::Skip),
                Some(Value::Null) if self.config.nil_read_is_unknown => return Ok(Encoded::Skip),
                Some(v) => {
                    let read = self.texts.intern(text(call, v)?);
                    // A new read value could revive strings already merged.
                    debug_assert!(
                        self.appended.is_empty() || self.reads.contains(&read),
                        "append-register: every call is encoded before the first step"
                    );
                    self.reads.push(read);
                    self.reads_sorted = false;
                    AppendInput::Get(read)
                }
            },
            "put" | "write" => AppendInput::Put(self.texts.intern(text(call, call.input)?)),
            "append" => AppendInput::Append(self.texts.intern(text(call, call.input)?)),
            _ => {
                return Err(unknown_function(
                    "append-register",
                    call,
                    "get, put, append",
                ))
            }
        }))
    }

    fn step(&mut self, state: u32, input: &AppendInput) -> Option<u32> {
        match *input {
            AppendInput::Get(v) => (v == state).then_some(state),
            // A put is an append to the empty string (which may be dead).
            AppendInput::Put(v) => Some(self.append(self.empty, v)),
            AppendInput::Append(suffix) => Some(self.append(state, suffix)),
        }
    }

    fn is_blind(&self, input: &AppendInput) -> bool {
        matches!(input, AppendInput::Put(_))
    }

    fn for_evidence(&mut self) {
        self.merge_dead = false;
        self.appended.clear();
    }

    fn state_json(&self, state: u32) -> Value {
        if state == DEAD {
            // Only seen when merging: some string no get returns.
            return Value::Null;
        }
        Value::String(self.texts.get(state).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(m: &mut AppendRegister, f: &str, arg: Value, out: Option<Value>) -> AppendInput {
        let c = Call {
            index: 3,
            f,
            key: Some("k"),
            input: &arg,
            output: out.as_ref(),
        };
        match m.encode(&c).unwrap() {
            Encoded::Input(i) => i,
            Encoded::Skip => panic!("skipped"),
        }
    }

    #[test]
    fn append_concatenates_and_get_compares() {
        let mut m = AppendRegister::new(None, ModelConfig::default()).unwrap();
        let s = m.init();
        let get_empty = input(&mut m, "get", Value::Null, Some(json!("")));
        let get_ab = input(&mut m, "get", Value::Null, Some(json!("ab")));
        let app_a = input(&mut m, "append", json!("a"), Some(json!("a")));
        let app_b = input(&mut m, "append", json!("b"), Some(json!("b")));
        let put_x = input(&mut m, "put", json!("x"), Some(json!("x")));
        assert_eq!(m.step(s, &get_empty), Some(s));
        let sa = m.step(s, &app_a).unwrap();
        let sab = m.step(sa, &app_b).unwrap();
        assert_eq!(m.step(sab, &get_ab), Some(sab));
        assert_eq!(m.step(sa, &get_ab), None);
        // The cached transition gives the same state.
        assert_eq!(m.step(sa, &app_b), Some(sab));
        // No get returns a string starting with "x": merged, and unreadable.
        let sx = m.step(sab, &put_x).unwrap();
        assert_eq!(sx, DEAD);
        assert_eq!(m.step(sx, &get_empty), None);
        m.for_evidence();
        let sx = m.step(sab, &put_x).unwrap();
        assert_eq!(m.state_json(sx), json!("x"));
    }

    #[test]
    fn strings_no_get_can_see_merge_and_equal_strings_are_one_state() {
        let mut m = AppendRegister::new(None, ModelConfig::default()).unwrap();
        let app_a = input(&mut m, "append", json!("a"), Some(json!("a")));
        let app_b = input(&mut m, "append", json!("b"), Some(json!("b")));
        let app_ab = input(&mut m, "append", json!("ab"), Some(json!("ab")));
        let app_c = input(&mut m, "append", json!("c"), Some(json!("c")));
        let put_b = input(&mut m, "put", json!("b"), Some(json!("b")));
        let get_abc = input(&mut m, "get", Value::Null, Some(json!("abc")));
        let get_bc = input(&mut m, "get", Value::Null, Some(json!("bc")));
        let s = m.init();
        let steps = |m: &mut AppendRegister, inputs: &[AppendInput]| {
            inputs.iter().try_fold(s, |s, i| m.step(s, i))
        };
        // "a" + "b" and "ab" are one state, which can still read "abc".
        let ab = steps(&mut m, &[app_a, app_b]).unwrap();
        assert_eq!(steps(&mut m, &[app_ab]), Some(ab));
        assert!(steps(&mut m, &[app_a, app_b, app_c, get_abc]).is_some());
        // "ba" and "cab" are prefixes of no read: one dead state, which a put revives.
        let ba = steps(&mut m, &[app_b, app_a]).unwrap();
        assert_eq!(ba, DEAD);
        assert_eq!(steps(&mut m, &[app_c, app_ab]), Some(DEAD));
        assert_eq!(steps(&mut m, &[app_b, app_a, app_c, get_abc]), None);
        assert!(steps(&mut m, &[app_b, app_a, put_b, app_c, get_bc]).is_some());
    }

    #[test]
    fn initial_state_is_settable_and_checked() {
        let mut m = AppendRegister::new(Some(&json!("init")), ModelConfig::default()).unwrap();
        let s = m.init();
        assert_eq!(m.state_json(s), json!("init"));
        assert!(AppendRegister::new(Some(&json!([1])), ModelConfig::default()).is_err());
    }

    #[test]
    fn unknown_function_is_an_error() {
        let mut m = AppendRegister::new(None, ModelConfig::default()).unwrap();
        let c = Call {
            index: 9,
            f: "cas",
            key: None,
            input: &Value::Null,
            output: None,
        };
        let err = m.encode(&c).err().unwrap();
        assert!(err.starts_with("op 9:"), "{err}");
    }
}
