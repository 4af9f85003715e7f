//! Sound simplifications of one register's part before the search, which
//! take crashed (`info`) ops out of the search where the history itself
//! says what they did. Crashed ops are what makes every search exponential
//! (each may or may not have taken effect, at any later time); on a
//! register most of them are decided by who observes the value they set.
//!
//! Only for a model that is one register (read, write, cas; see
//! [`Model::as_registers`]). A value is *observed* by a completed read of
//! it or a completed cas expecting it, and *needed* if observed or
//! expected by a crashed cas whose new value is needed. A *producer* of a
//! value is a write of it or a cas to it from another value. Four rules:
//!
//! - drop: a crashed op that produces a value no op needs, or a crashed
//!   cas that leaves the value as it was, never matters. In any
//!   linearization, what follows a run of such ops is a blind write or
//!   nothing (anything else would need their value), so removing the run
//!   leaves every later state as it was.
//! - impossible: a completed op that observes a value other than the
//!   initial one that no producer was invoked before the op returned
//!   cannot be placed in any linearization: the history is invalid.
//! - forced: a crashed op that is the only producer of a value other than
//!   the initial one that a completed op observes must take effect, and
//!   before the first such op returns: it becomes a completed op returning
//!   just after that one (positions are doubled to make room), so the
//!   search no longer tries it in or out.
//! - one dead value: the values no op needs are renamed to one of them (the
//!   initial value, if it is not needed). No op left tells them apart: each
//!   op applies in a state of one of them exactly when it applies in
//!   another, and leads to the same state up to the renaming, so the
//!   renamed history has the same linearizations. With unique values most
//!   writes are never read; renamed, they become equal inputs, whose
//!   configurations merge and which the searches order by their returns.

use super::calls;
use super::parts::build_problem;
use super::search::Problem;
use crate::history::History;
use crate::models::{CasRegister, Model, ModelConfig, ModelKind, RegisterInput};
use serde_json::Value;

/// What the rules did to a part.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct Rewrite {
    /// Crashed ops dropped (their `origin`).
    pub dropped: Vec<usize>,
    /// Crashed ops that must take effect (their `origin`), now completed
    /// ops returning at the (doubled, odd) position given.
    pub forced: Vec<(usize, u64)>,
    /// Ops whose value no op needs, renamed to the dead value: their index
    /// in the problem (after the drops) and their input before.
    pub renamed: Vec<(u32, RegisterInput)>,
}

/// Applies the rules to `problem`, keeping `origin` (the part's index of
/// each op) in step. `Err(call)`: the completed op `call` (an `origin`
/// index) observes a value nothing could have set before it returned.
pub(super) fn simplify<M: Model>(
    problem: &mut Problem<M>,
    origin: &mut Vec<usize>,
) -> Result<Rewrite, usize> {
    let init_state = problem.model.init();
    let Some(init) = problem.model.register_value(init_state) else {
        return Ok(Rewrite::default());
    };
    let Some(ops) = problem.model.as_registers(&mut problem.inputs) else {
        return Ok(Rewrite::default());
    };
    let n = ops.len();
    let values = value_count(ops, init);
    let crashed: Vec<bool> = problem.return_pos.iter().map(Option::is_none).collect();

    // Needed values: observed, or expected by a crashed cas to a needed one.
    let mut needed = vec![false; values];
    let mut expected_by: Vec<Vec<u32>> = vec![Vec::new(); values];
    let mut todo: Vec<u32> = Vec::new();
    for (op, &c) in ops.iter().zip(&crashed) {
        match (*op, c) {
            (RegisterInput::Read(v), false) | (RegisterInput::Cas(v, _), false)
                if !std::mem::replace(&mut needed[v as usize], true) =>
            {
                todo.push(v)
            }
            (RegisterInput::Cas(a, b), true) if a != b => expected_by[b as usize].push(a),
            _ => {}
        }
    }
    while let Some(v) = todo.pop() {
        for &a in &expected_by[v as usize] {
            if !std::mem::replace(&mut needed[a as usize], true) {
                todo.push(a);
            }
        }
    }
    let drop: Vec<bool> = (0..n)
        .map(|i| {
            crashed[i]
                && match ops[i] {
                    RegisterInput::Write(v) => !needed[v as usize],
                    RegisterInput::Cas(a, b) => a == b || !needed[b as usize],
                    RegisterInput::Read(_) => false,
                }
        })
        .collect();

    // Positions doubled: a forced op returns at an odd position, just
    // after the op that forced it.
    for p in &mut problem.call_pos {
        *p *= 2;
    }
    for r in problem.return_pos.iter_mut().flatten() {
        *r *= 2;
    }
    let mut rewrite = Rewrite {
        dropped: (0..n).filter(|&i| drop[i]).map(|i| origin[i]).collect(),
        ..Rewrite::default()
    };
    loop {
        // Per value: the first return of a completed op observing it, and
        // its producers (how many, the first call, the last one seen).
        let mut first_seen: Vec<Option<(u64, u32)>> = vec![None; values];
        let mut producers = vec![0u32; values];
        let mut first_call = vec![u64::MAX; values];
        let mut producer = vec![u32::MAX; values];
        for i in (0..n).filter(|&i| !drop[i]) {
            let (observes, produces) = match ops[i] {
                RegisterInput::Read(v) => (Some(v), None),
                RegisterInput::Write(v) => (None, Some(v)),
                RegisterInput::Cas(a, b) => (Some(a), (a != b).then_some(b)),
            };
            if let (Some(v), Some(r)) = (observes, problem.return_pos[i]) {
                let seen = &mut first_seen[v as usize];
                if seen.is_none_or(|(r0, _)| r < r0) {
                    *seen = Some((r, i as u32));
                }
            }
            if let Some(v) = produces {
                let v = v as usize;
                producers[v] += 1;
                first_call[v] = first_call[v].min(problem.call_pos[i]);
                producer[v] = i as u32;
            }
        }
        // The impossible observer that returned first, if any.
        let impossible = (0..values)
            .filter(|&v| v != init as usize)
            .filter_map(|v| first_seen[v].filter(|&(r, _)| first_call[v] > r))
            .min();
        if let Some((_, op)) = impossible {
            return Err(origin[op as usize]);
        }
        let forced_before = rewrite.forced.len();
        for v in (0..values).filter(|&v| v != init as usize && producers[v] == 1) {
            let (Some((r, _)), p) = (first_seen[v], producer[v] as usize) else {
                continue;
            };
            if problem.return_pos[p].is_none() {
                problem.return_pos[p] = Some(r | 1);
                rewrite.forced.push((origin[p], r | 1));
            }
        }
        if rewrite.forced.len() == forced_before {
            break;
        }
    }
    rewrite.renamed = rename_dead_values(ops, &drop, &needed, init);
    if !rewrite.dropped.is_empty() {
        retain_kept(&mut problem.inputs, &drop);
        retain_kept(&mut problem.call_pos, &drop);
        retain_kept(&mut problem.return_pos, &drop);
        retain_kept(origin, &drop);
    }
    Ok(rewrite)
}

/// How many values a register's ops and initial value `init` span (values
/// are interned from 0).
pub(super) fn value_count(ops: &[RegisterInput], init: u32) -> usize {
    ops.iter()
        .map(|op| match *op {
            RegisterInput::Read(v) | RegisterInput::Write(v) => v,
            RegisterInput::Cas(a, b) => a.max(b),
        })
        .chain([init])
        .max()
        .map_or(0, |v| v as usize + 1)
}

/// The dead-value rule: renames in `ops` every value produced that no op
/// needs to one dead value; returns what was renamed, indexed as after the
/// drops. The dead value is the initial value when that is not needed
/// (then the initial state is the dead one), else the least value renamed.
fn rename_dead_values(
    ops: &mut [RegisterInput],
    drop: &[bool],
    needed: &[bool],
    init: u32,
) -> Vec<(u32, RegisterInput)> {
    let produced = |op: &RegisterInput| match *op {
        RegisterInput::Write(v) | RegisterInput::Cas(_, v) => Some(v),
        RegisterInput::Read(_) => None,
    };
    let dead = if needed[init as usize] {
        let unneeded = ops.iter().zip(drop).filter(|(_, &d)| !d);
        let Some(least) = unneeded
            .filter_map(|(op, _)| produced(op))
            .filter(|&v| !needed[v as usize])
            .min()
        else {
            return Vec::new();
        };
        least
    } else {
        init
    };
    let mut renamed = Vec::new();
    let kept = ops.iter_mut().zip(drop).filter(|(_, &d)| !d);
    for (index, (op, _)) in kept.enumerate() {
        let before = *op;
        match op {
            RegisterInput::Write(v) | RegisterInput::Cas(_, v) if !needed[*v as usize] => *v = dead,
            _ => {}
        }
        if *op != before {
            renamed.push((index as u32, before));
        }
    }
    renamed
}

fn retain_kept<T>(v: &mut Vec<T>, drop: &[bool]) {
    let mut i = 0;
    v.retain(|_| {
        i += 1;
        !drop[i - 1]
    });
}

/// What the rules make of a one-register history (`register` or
/// `cas-register`), for tests and tools.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decided {
    /// The invocation index of a completed op that observes a value nothing
    /// could have set before it returned: the history is invalid.
    pub impossible: Option<u64>,
    /// Invocation indexes of the crashed ops dropped.
    pub dropped: Vec<u64>,
    /// Crashed ops that must take effect: the invocation index, and the
    /// position in `history.ops` of the completion they must precede.
    pub forced: Vec<(u64, usize)>,
}

/// Applies the rules to `history` as one register.
pub fn decide(
    history: &History,
    model: ModelKind,
    initial: Option<&Value>,
) -> Result<Decided, String> {
    let register = match model {
        ModelKind::Register => CasRegister::plain(initial, ModelConfig::default()),
        ModelKind::CasRegister => CasRegister::new(initial, ModelConfig::default()),
        other => {
            return Err(format!(
                "the register rules are not for model {}",
                other.name()
            ))
        }
    };
    let calls = calls::collect(history)?;
    let (mut problem, mut origin) = build_problem(&calls, register)?;
    let index = |c: usize| calls[c].call.index;
    Ok(match simplify(&mut problem, &mut origin) {
        Err(call) => Decided {
            impossible: Some(index(call)),
            ..Decided::default()
        },
        Ok(rewrite) => Decided {
            impossible: None,
            dropped: rewrite.dropped.iter().map(|&c| index(c)).collect(),
            forced: rewrite
                .forced
                .iter()
                .map(|&(c, r)| (index(c), (r / 2) as usize))
                .collect(),
        },
    })
}
