//! Interning: map values to small integers so states and inputs are cheap to
//! copy, hash and compare.

use rustc_hash::FxHashMap;
use serde_json::Value;
use std::hash::Hash;

/// Gives each distinct value a dense id, from 0 in order of first sight.
#[derive(Clone, Debug)]
pub struct Interner<T> {
    ids: FxHashMap<T, u32>,
    values: Vec<T>,
}

impl<T> Default for Interner<T> {
    fn default() -> Self {
        Interner {
            ids: FxHashMap::default(),
            values: Vec::new(),
        }
    }
}

impl<T: Clone + Eq + Hash> Interner<T> {
    pub fn intern(&mut self, value: T) -> u32 {
        if let Some(&id) = self.ids.get(&value) {
            return id;
        }
        let id = self.values.len() as u32;
        self.values.push(value.clone());
        self.ids.insert(value, id);
        id
    }

    /// [`Interner::intern`] by reference: `value` is copied only the first
    /// time it is seen.
    pub fn intern_ref<Q>(&mut self, value: &Q) -> u32
    where
        T: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = T> + ?Sized,
    {
        match self.ids.get(value) {
            Some(&id) => id,
            None => self.intern(value.to_owned()),
        }
    }

    pub fn get(&self, id: u32) -> &T {
        &self.values[id as usize]
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

/// JSON values interned by their canonical text (object keys are sorted, so
/// equal values have equal text). Id 0 is always `null`.
#[derive(Clone, Debug)]
pub struct ValueInterner {
    texts: Interner<Box<str>>,
}

impl Default for ValueInterner {
    fn default() -> Self {
        let mut texts = Interner::default();
        texts.intern("null".into());
        ValueInterner { texts }
    }
}

impl ValueInterner {
    pub const NULL: u32 = 0;

    pub fn intern(&mut self, value: &Value) -> u32 {
        match value {
            Value::Null => Self::NULL,
            other => self.texts.intern(other.to_string().into_boxed_str()),
        }
    }

    pub fn value(&self, id: u32) -> Value {
        serde_json::from_str(self.texts.get(id)).unwrap_or(Value::Null)
    }
}
