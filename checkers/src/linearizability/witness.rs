//! Minimal witnesses: shrink a register history that is not linearizable to
//! a handful of its ops that, by themselves, cannot be linearized either.
//!
//! Only steps that keep the witness sound are taken, so a witness found
//! proves the whole history invalid (any linearization of the history would
//! give one of the witness):
//! - **cut at a point**: ops invoked after it are dropped and ops still
//!   running at it lose their completion (they become open, may take effect
//!   or not). Every op completed by the cut precedes every dropped op in any
//!   linearization, and open ops constrain nothing, so this only relaxes.
//! - **drop a read** (it changes no state), or **drop an op that sets a
//!   value no remaining op can observe from it** (no read returns it, no cas
//!   expects it, except ops that begin after another acknowledged setter
//!   that began after this op ended): in a linearization, the ops between it
//!   and the next setter saw its value, so none of them remain; remaining
//!   open cas ops that did not take effect still need not.
//!
//! - **forget a cas's expectation**: checked as a write of its new value,
//!   it constrains less (any linearization of the cas is one of the write),
//!   so this only relaxes too, and the witness with its cas as they were is
//!   invalid all the more. It cuts chains of cas ops that each observe the
//!   one before, which would otherwise keep each other in the witness.
//!
//! The search is delta debugging over these steps (halves, then quarters,
//! ... then single ops), each candidate checked with a short budget; a
//! candidate the checker cannot decide in time is kept out. It applies to
//! the register models (`register`, `cas-register`, `kv` per key).

use super::calls::{self, Recorded};
use super::parts::describe_call;
use super::witness_words::{self, Spoken};
use super::{check, Options, Strategy};
use crate::evidence::Witness;
use crate::history::History;
use crate::models::ModelKind;
use crate::verdict::Verdict;
use serde_json::Value;
use std::time::{Duration, Instant};

/// What one op of the part does to a register.
#[derive(Clone, Copy)]
enum Effect<'h> {
    /// A read that returned this value.
    Read(&'h Value),
    /// A write or cas: sets `sets`; a cas also needs `expects` first.
    Sets {
        sets: &'h Value,
        expects: Option<&'h Value>,
    },
}

#[derive(Clone, Copy)]
struct Item<'h> {
    rec: Recorded<'h>,
    effect: Effect<'h>,
    /// A cas whose expectation was forgotten: checked as a write.
    as_write: bool,
}

/// Whether [`shrink`] applies to `model`.
pub fn applies_to(model: ModelKind) -> bool {
    matches!(
        model,
        ModelKind::Register | ModelKind::CasRegister | ModelKind::Kv
    )
}

/// Shrinks the ops of `key` (all ops for a one-object model) of an invalid
/// `history` within `budget`. `None` when the part cannot be read or is not
/// found invalid by the short checks.
pub fn shrink(
    history: &History,
    model: ModelKind,
    initial: Option<&Value>,
    key: Option<&str>,
    nil_read_is_unknown: bool,
    budget: Duration,
) -> Option<Witness> {
    let started = Instant::now();
    let deadline = started + budget;
    let items = items_of(history, key)?;
    let trial = Trial {
        history,
        model,
        initial,
        opts: Options {
            timeout: Some(Duration::from_millis(300)),
            threads: Some(1),
            nil_read_is_unknown,
            strategy: Strategy::Auto,
            first_try: Duration::from_millis(100),
            ..Options::default()
        },
        deadline,
    };
    if !trial.invalid(&items, usize::MAX) {
        return None;
    }
    let all: Vec<Spoken<'_>> = items.iter().map(|i| spoken(history, i)).collect();
    let cut = trial.earliest_cut(&items);
    // Reads first: always sound to drop, and with fewer reads fewer setters
    // are observed, the next checks are quicker and more setters may go.
    let items = trial.shrink(cut_at(items, cut), drop_reads);
    let items = trial.shrink(items, forget_expectations);
    let items = trial.shrink(items, drop_soundly);
    // The witness's acknowledged ops; its reads and cas ops are the ones
    // the words may be about.
    let acknowledged: Vec<u64> = items
        .iter()
        .filter(|i| i.rec.is_ok())
        .map(|i| i.rec.call.index)
        .collect();
    let words = witness_words::explain(
        &all,
        &acknowledged,
        initial.unwrap_or(&Value::Null),
        key,
        nil_read_is_unknown,
    );
    Some(Witness {
        words,
        ops: items.iter().map(|i| i.rec.call.index).collect(),
        calls: items
            .iter()
            .map(|i| describe_call(history, &i.rec))
            .collect(),
        elapsed_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

/// An item as [`witness_words`] reads it.
fn spoken<'h>(history: &History, item: &Item<'h>) -> Spoken<'h> {
    // A cas saw its expected value, as a read would.
    let (read, sets) = match item.effect {
        Effect::Read(v) => (Some(v), None),
        Effect::Sets { sets, expects } => (expects, Some(sets)),
    };
    Spoken {
        index: item.rec.call.index,
        read,
        sets,
        invoked: history.ops[item.rec.invoke_pos].time,
        done: item
            .rec
            .complete_pos
            .filter(|_| item.rec.is_ok())
            .map(|p| history.ops[p].time),
    }
}

/// The ops of `key` that the witness is shrunk from.
fn items_of<'h>(history: &'h History, key: Option<&str>) -> Option<Vec<Item<'h>>> {
    let calls = calls::collect(history).ok()?;
    let items = calls
        .into_iter()
        // `calls::collect` already gave a keyless invoke its completion's key.
        .filter(|r| key.is_none() || r.call.key == key)
        .filter(|r| r.complete_pos != Some(usize::MAX))
        .filter_map(|rec| {
            let effect = match (rec.call.f, rec.call.input) {
                // An indeterminate read tells nothing: leave it out.
                ("read", _) => Effect::Read(rec.call.output?),
                ("write", v) => Effect::Sets {
                    sets: v,
                    expects: None,
                },
                ("cas", Value::Array(pair)) if pair.len() == 2 => Effect::Sets {
                    sets: &pair[1],
                    expects: Some(&pair[0]),
                },
                _ => return None,
            };
            Some(Item {
                rec,
                effect,
                as_write: false,
            })
        })
        .collect();
    Some(items)
}

/// The ops invoked by history position `cut`; those still running then
/// become open (the cut removes their completion).
fn cut_at(items: Vec<Item<'_>>, cut: usize) -> Vec<Item<'_>> {
    let mut items: Vec<Item<'_>> = items
        .into_iter()
        .filter(|i| i.rec.invoke_pos <= cut)
        .collect();
    for item in &mut items {
        if item.rec.complete_pos.is_some_and(|p| p > cut) {
            item.rec.complete_pos = None;
            item.rec.call.output = None;
        }
    }
    items
}

/// The history of `items`: their invoke lines and the completions they
/// keep (a cas checked as a write rewritten as one).
fn history_of_items(history: &History, items: &[Item<'_>]) -> History {
    let mut lines: Vec<(usize, Option<&Value>)> = Vec::with_capacity(items.len() * 2);
    for i in items {
        let write_of = match i.effect {
            Effect::Sets { sets, .. } if i.as_write => Some(sets),
            _ => None,
        };
        lines.push((i.rec.invoke_pos, write_of));
        lines.extend(i.rec.complete_pos.map(|p| (p, write_of)));
    }
    lines.sort_unstable_by_key(|&(p, _)| p);
    History::new(
        lines
            .iter()
            .map(|&(p, write_of)| {
                let mut op = history.ops[p].clone();
                if let Some(v) = write_of {
                    op.f = "write".into();
                    op.value = v.clone();
                }
                op
            })
            .collect(),
    )
}

/// The witness as a history of its own: the invoke line of each of its ops
/// and the completions it keeps (for `faultline check`, and tests).
pub fn witness_history(history: &History, witness: &Witness) -> History {
    let keep: std::collections::HashSet<u64> = witness
        .calls
        .iter()
        .flat_map(|c| std::iter::once(c.index).chain(c.completion))
        .collect();
    History::new(
        history
            .ops
            .iter()
            .filter(|op| keep.contains(&op.index))
            .cloned()
            .collect(),
    )
}

/// Relaxation steps as [`shrink`] takes them, for property tests: the ops
/// of `key`, cut at history position `cut`, the cas ops invoked at the
/// positions in `forget` checked as writes, without the ops invoked at the
/// positions in `drop`. `None` when dropping them would not be sound.
pub fn relaxed(
    history: &History,
    key: Option<&str>,
    cut: usize,
    forget: &[usize],
    drop: &[usize],
) -> Option<History> {
    let mut items = cut_at(items_of(history, key)?, cut);
    for item in &mut items {
        if forget.contains(&item.rec.invoke_pos) {
            forget_expectation(item);
        }
    }
    let (dropped, remaining): (Vec<Item<'_>>, Vec<Item<'_>>) = items
        .into_iter()
        .partition(|i| drop.contains(&i.rec.invoke_pos));
    sound_to_drop(&dropped, &remaining).then(|| history_of_items(history, &remaining))
}

/// Checks a cas as a write of its new value; `false` if it is no cas.
fn forget_expectation(item: &mut Item<'_>) -> bool {
    match &mut item.effect {
        Effect::Sets { expects, .. } if expects.is_some() => {
            *expects = None;
            item.as_write = true;
            true
        }
        _ => false,
    }
}

/// A step of the search on `items[range]`: what the witness would become,
/// or `None` when the step does not apply there.
type Step = for<'h> fn(&[Item<'h>], std::ops::Range<usize>) -> Option<Vec<Item<'h>>>;

/// The cas ops of the range checked as writes.
fn forget_expectations<'h>(
    items: &[Item<'h>],
    range: std::ops::Range<usize>,
) -> Option<Vec<Item<'h>>> {
    let mut out = items.to_vec();
    let mut any = false;
    for item in &mut out[range] {
        any |= forget_expectation(item);
    }
    any.then_some(out)
}

/// The items without the reads of the range.
fn drop_reads<'h>(items: &[Item<'h>], range: std::ops::Range<usize>) -> Option<Vec<Item<'h>>> {
    let is_read = |i: &Item<'_>| matches!(i.effect, Effect::Read(_));
    items[range.clone()].iter().any(is_read).then(|| {
        items
            .iter()
            .enumerate()
            .filter(|(n, i)| !range.contains(n) || !is_read(i))
            .map(|(_, i)| *i)
            .collect()
    })
}

/// The items without the range, if dropping it is sound.
fn drop_soundly<'h>(items: &[Item<'h>], range: std::ops::Range<usize>) -> Option<Vec<Item<'h>>> {
    let remaining: Vec<Item<'h>> = items[..range.start]
        .iter()
        .chain(&items[range.end..])
        .copied()
        .collect();
    sound_to_drop(&items[range], &remaining).then_some(remaining)
}

struct Trial<'a> {
    history: &'a History,
    model: ModelKind,
    initial: Option<&'a Value>,
    opts: Options,
    deadline: Instant,
}

impl Trial<'_> {
    /// Whether `items`, cut at history position `cut`, is found invalid.
    fn invalid(&self, items: &[Item<'_>], cut: usize) -> bool {
        let sub = history_of_items(self.history, &cut_at(items.to_vec(), cut));
        check(&sub, self.model, self.initial, &self.opts)
            .is_ok_and(|r| r.verdict == Verdict::Invalid)
    }

    /// The earliest completion at which the cut history is still found
    /// invalid (cutting earlier only relaxes, so this is a binary search).
    fn earliest_cut(&self, items: &[Item<'_>]) -> usize {
        let mut cuts: Vec<usize> = items.iter().filter_map(|i| i.rec.complete_pos).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let (mut lo, mut hi) = (0, cuts.len());
        let mut best = usize::MAX;
        while lo < hi && Instant::now() < self.deadline {
            let mid = (lo + hi) / 2;
            if self.invalid(items, cuts[mid]) {
                best = cuts[mid];
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        best
    }

    /// Delta debugging: takes `step` on chunks of ops (all, halves,
    /// quarters, ... single ops) while what it gives is still invalid.
    fn shrink<'h>(&self, mut items: Vec<Item<'h>>, step: Step) -> Vec<Item<'h>> {
        let mut chunk = items.len().max(1);
        loop {
            let mut changed = false;
            let mut start = 0;
            while start < items.len() && Instant::now() < self.deadline {
                let end = (start + chunk).min(items.len());
                match step(&items, start..end).filter(|c| self.invalid(c, usize::MAX)) {
                    Some(smaller) => {
                        // A drop leaves the next chunk at `start`.
                        if smaller.len() == items.len() {
                            start = end;
                        }
                        items = smaller;
                        changed = true;
                    }
                    None => start = end,
                }
            }
            if Instant::now() >= self.deadline || (chunk == 1 && !changed) {
                return items;
            }
            chunk = (chunk / 2).max(1);
        }
    }
}

/// Whether dropping `dropped` keeps the witness sound: each is a read, or
/// sets a value that no op in `remaining` can observe from it: every
/// remaining op that observes the value (a read of it, a cas expecting it)
/// comes after a remaining acknowledged setter that itself began after this
/// one ended (and another setter of the value stays). In any linearization
/// that setter falls between the two, so this one's reign holds no
/// remaining op and it can go.
fn sound_to_drop(dropped: &[Item<'_>], remaining: &[Item<'_>]) -> bool {
    let observes = |i: &Item<'_>, v: &Value| match i.effect {
        Effect::Read(r) => r == v,
        Effect::Sets { expects, .. } => expects == Some(v),
    };
    // Surely after `setter` and before `observer`: a remaining setter that
    // took effect (acknowledged) in between, in real time.
    let overwritten_before = |setter: &Item<'_>, observer: &Item<'_>| {
        let Some(set_done) = setter.rec.complete_pos.filter(|_| setter.rec.is_ok()) else {
            return false;
        };
        remaining.iter().any(|w| {
            matches!(w.effect, Effect::Sets { .. })
                && w.rec.is_ok()
                && w.rec.invoke_pos > set_done
                && w.rec
                    .complete_pos
                    .is_some_and(|done| done < observer.rec.invoke_pos)
        })
    };
    // Only while another setter of the value stays: a witness that keeps
    // none would read as "nothing wrote it", true of the witness but not of
    // the history.
    let set_by_another = |v: &Value| {
        remaining
            .iter()
            .any(|w| matches!(w.effect, Effect::Sets { sets, .. } if sets == v))
    };
    dropped.iter().all(|i| match i.effect {
        Effect::Read(_) => true,
        Effect::Sets { sets, .. } => {
            let mut observers = remaining.iter().filter(|o| observes(o, sets)).peekable();
            observers.peek().is_none()
                || (set_by_another(sets) && observers.all(|o| overwritten_before(i, o)))
        }
    })
}
