//! Pairs each invocation with its completion, the form the search works on.
//!
//! `fail` ops never happened and are dropped; `info` ops and ops still open at
//! the end of the history are indeterminate; nemesis lines are not client ops.

use crate::history::{History, OpType, Process};
use crate::models::Call;
use rustc_hash::FxHashMap;

/// One client operation of the history.
#[derive(Clone, Copy, Debug)]
pub struct Recorded<'h> {
    pub call: Call<'h>,
    /// Position of the invoke line in `history.ops`.
    pub invoke_pos: usize,
    /// Position of the completion line, if any (`ok` or `info`).
    pub complete_pos: Option<usize>,
}

impl Recorded<'_> {
    pub fn is_ok(&self) -> bool {
        self.call.is_ok()
    }
}

/// The client operations of `history` that may have taken effect, in order
/// of invocation.
pub fn collect(history: &History) -> Result<Vec<Recorded<'_>>, String> {
    let mut open: FxHashMap<Process, usize> = FxHashMap::default();
    let mut out: Vec<Recorded<'_>> = Vec::with_capacity(history.len() / 2 + 1);
    // Index into `out` of each open op; `usize::MAX` once dropped (fail).
    for (pos, op) in history.ops.iter().enumerate() {
        if op.is_nemesis() {
            continue;
        }
        match op.kind {
            OpType::Invoke => {
                if let Some(&prev) = open.get(&op.process) {
                    return Err(format!(
                        "op {}: process {} invokes {} while its op {} is still open",
                        op.index, op.process, op.f, out[prev].call.index
                    ));
                }
                open.insert(op.process, out.len());
                out.push(Recorded {
                    call: Call {
                        index: op.index,
                        f: &op.f,
                        key: op.key.as_deref(),
                        input: &op.value,
                        output: None,
                    },
                    invoke_pos: pos,
                    complete_pos: None,
                });
            }
            kind => {
                let Some(slot) = open.remove(&op.process) else {
                    return Err(format!(
                        "op {}: process {} completes {} ({kind}) without an open invocation",
                        op.index, op.process, op.f
                    ));
                };
                let rec = &mut out[slot];
                if rec.call.f != op.f {
                    return Err(format!(
                        "op {}: process {} completes {} but invoked {} (op {})",
                        op.index, op.process, op.f, rec.call.f, rec.call.index
                    ));
                }
                rec.complete_pos = Some(pos);
                if rec.call.key.is_none() {
                    rec.call.key = op.key.as_deref();
                }
                match kind {
                    OpType::Ok => rec.call.output = Some(&op.value),
                    OpType::Fail => rec.complete_pos = Some(usize::MAX),
                    _ => {}
                }
            }
        }
    }
    out.retain(|r| r.complete_pos != Some(usize::MAX));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Op;
    use serde_json::{json, Value};

    pub(crate) fn op(index: u64, kind: OpType, p: u64, f: &str, value: Value) -> Op {
        Op::client(index, kind, p, f, value)
    }

    #[test]
    fn pairs_drops_fails_and_keeps_info_and_open_ops() {
        let h = History::new(vec![
            op(0, OpType::Invoke, 1, "write", json!(1)),
            op(1, OpType::Invoke, 2, "cas", json!([1, 2])),
            op(2, OpType::Ok, 1, "write", json!(1)),
            op(3, OpType::Fail, 2, "cas", json!([1, 2])),
            op(4, OpType::Invoke, 3, "write", json!(3)),
            op(5, OpType::Info, 3, "write", json!(3)),
            op(6, OpType::Invoke, 4, "read", Value::Null),
        ]);
        let calls = collect(&h).unwrap();
        assert_eq!(calls.len(), 3);
        assert!(calls[0].is_ok() && calls[0].complete_pos == Some(2));
        assert_eq!(calls[1].call.f, "write");
        assert!(!calls[1].is_ok() && calls[1].complete_pos == Some(5));
        assert!(!calls[2].is_ok() && calls[2].complete_pos.is_none());
    }

    #[test]
    fn double_invoke_and_orphan_completion_are_errors() {
        let h = History::new(vec![
            op(0, OpType::Invoke, 1, "write", json!(1)),
            op(1, OpType::Invoke, 1, "write", json!(2)),
        ]);
        assert!(collect(&h).unwrap_err().contains("op 1: process 1"));
        let h = History::new(vec![op(0, OpType::Ok, 1, "write", json!(1))]);
        assert!(collect(&h)
            .unwrap_err()
            .contains("without an open invocation"));
    }
}
