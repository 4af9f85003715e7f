//! A FIFO queue: `enqueue v`; `dequeue` returns the oldest value, or `null`
//! when the queue is empty. An indeterminate dequeue, if it took effect,
//! removed whatever was at the front.
//!
//! States are interned queue contents; transitions are cached.

use super::{unknown_function, Call, Encoded, Interner, Model, ValueInterner};
use rustc_hash::FxHashMap;
use serde_json::Value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueInput {
    Enqueue(u32),
    /// Dequeue that returned this value (`ValueInterner::NULL`: queue was empty).
    Dequeue(u32),
    /// Dequeue whose result is unknown.
    DequeueAny,
}

#[derive(Clone, Debug)]
pub struct FifoQueue {
    values: ValueInterner,
    queues: Interner<Vec<u32>>,
    transitions: FxHashMap<(u32, QueueInput), Option<u32>>,
    initial: u32,
}

impl FifoQueue {
    /// A queue holding `initial` (a JSON array, front first; default empty).
    pub fn new(initial: Option<&Value>) -> Result<Self, String> {
        let mut values = ValueInterner::default();
        let contents = match initial {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items.iter().map(|v| values.intern(v)).collect(),
            Some(other) => {
                return Err(format!(
                    "fifo-queue: initial state must be an array, got {other}"
                ))
            }
        };
        let mut queues = Interner::default();
        let initial = queues.intern(contents);
        Ok(FifoQueue {
            values,
            queues,
            transitions: FxHashMap::default(),
            initial,
        })
    }

    fn apply(&self, queue: &[u32], input: QueueInput) -> Option<Vec<u32>> {
        match input {
            QueueInput::Enqueue(v) => {
                let mut next = queue.to_vec();
                next.push(v);
                Some(next)
            }
            QueueInput::Dequeue(ValueInterner::NULL) => queue.is_empty().then(Vec::new),
            QueueInput::Dequeue(v) => (queue.first() == Some(&v)).then(|| queue[1..].to_vec()),
            QueueInput::DequeueAny => Some(queue.get(1..).unwrap_or_default().to_vec()),
        }
    }
}

impl Model for FifoQueue {
    type State = u32;
    type Input = QueueInput;

    fn init(&mut self) -> u32 {
        self.initial
    }

    fn encode(&mut self, call: &Call<'_>) -> Result<Encoded<QueueInput>, String> {
        Ok(Encoded::Input(match call.f {
            "enqueue" => QueueInput::Enqueue(self.values.intern(call.input)),
            "dequeue" => match call.output {
                None => QueueInput::DequeueAny,
                Some(v) => QueueInput::Dequeue(self.values.intern(v)),
            },
            _ => return Err(unknown_function("fifo-queue", call, "enqueue, dequeue")),
        }))
    }

    fn step(&mut self, state: u32, input: &QueueInput) -> Option<u32> {
        if let Some(&next) = self.transitions.get(&(state, *input)) {
            return next;
        }
        let next = self
            .apply(self.queues.get(state), *input)
            .map(|q| self.queues.intern(q));
        self.transitions.insert((state, *input), next);
        next
    }

    fn state_json(&self, state: u32) -> Value {
        Value::Array(
            self.queues
                .get(state)
                .iter()
                .map(|&v| self.values.value(v))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(m: &mut FifoQueue, f: &str, input: Value, output: Option<Value>) -> QueueInput {
        let c = Call {
            index: 0,
            f,
            key: None,
            input: &input,
            output: output.as_ref(),
        };
        match m.encode(&c).unwrap() {
            Encoded::Input(i) => i,
            Encoded::Skip => panic!("skipped"),
        }
    }

    #[test]
    fn dequeues_in_enqueue_order() {
        let mut m = FifoQueue::new(Some(&json!([1]))).unwrap();
        let s = m.init();
        let enq2 = enc(&mut m, "enqueue", json!(2), Some(Value::Null));
        let deq1 = enc(&mut m, "dequeue", Value::Null, Some(json!(1)));
        let deq2 = enc(&mut m, "dequeue", Value::Null, Some(json!(2)));
        let deq_empty = enc(&mut m, "dequeue", Value::Null, Some(Value::Null));
        let deq_any = enc(&mut m, "dequeue", Value::Null, None);
        assert_eq!(m.step(s, &deq2), None);
        assert_eq!(m.step(s, &deq_empty), None);
        let s12 = m.step(s, &enq2).unwrap();
        assert_eq!(m.state_json(s12), json!([1, 2]));
        let s2 = m.step(s12, &deq1).unwrap();
        let s_empty = m.step(s2, &deq2).unwrap();
        assert_eq!(m.step(s_empty, &deq_empty), Some(s_empty));
        assert_eq!(m.step(s12, &deq_any), Some(s2));
        assert_eq!(m.step(s_empty, &deq_any), Some(s_empty));
        assert!(FifoQueue::new(Some(&json!(5))).is_err());
    }
}
