//! The depth-first search's memo of configurations explored, kept per
//! stretch of the history between cut points, so that it can be freed.
//!
//! A cut point is a moment when no completed op is open: every completed op
//! called before it has returned, so every linearization places all of them
//! before any op called after it. A configuration there is only a model
//! state and the crashed ops used so far, and what can follow depends on
//! nothing else: the configurations reached at a cut point are all the
//! search needs to go on from it. So the memo keeps the configurations at
//! cut points for good, and the rest per stretch; when memory runs short it
//! frees the stretches before the one the search is in. Forgetting is sound
//! (the memo only prunes), and once the search has gone past a stretch it
//! comes back into it only after failing from every configuration that
//! stretch led to.

use rustc_hash::FxHashSet;
use std::hash::Hash;

pub(super) struct StretchMemo<S> {
    /// For each count of completed ops linearized: its stretch, and whether
    /// that count is a cut point.
    stretch_of_done: Vec<u32>,
    at_cut: Vec<bool>,
    /// Configurations inside each stretch: (linearized set, state).
    stretches: Vec<FxHashSet<(u128, S)>>,
    /// Configurations at cut points.
    cuts: FxHashSet<(u128, S)>,
    /// Stretches before this one hold nothing (freed, or never used).
    first_kept: usize,
    /// Entries the tables have room for, in all.
    capacity: usize,
    /// Configurations inserted, freed ones included.
    pub(super) inserted: u64,
}

/// Bytes of one entry: the key and the table's control byte.
fn entry_bytes<S>() -> u64 {
    (std::mem::size_of::<(u128, S)>() + 1) as u64
}

impl<S: Copy + Eq + Hash> StretchMemo<S> {
    /// `cut_counts`: the counts of completed ops returned at each cut point,
    /// increasing; `n_ok` completed ops in all.
    pub(super) fn new(cut_counts: &[usize], n_ok: usize) -> Self {
        let mut stretch_of_done = vec![0u32; n_ok + 1];
        let mut at_cut = vec![false; n_ok + 1];
        let mut stretch = 0u32;
        let mut cuts = cut_counts.iter().peekable();
        for (done, slot) in stretch_of_done.iter_mut().enumerate() {
            if cuts.next_if(|&&c| c == done).is_some() {
                at_cut[done] = true;
                stretch += 1;
            }
            *slot = stretch;
        }
        StretchMemo {
            stretches: (0..=stretch).map(|_| FxHashSet::default()).collect(),
            stretch_of_done,
            at_cut,
            cuts: FxHashSet::default(),
            first_kept: 0,
            capacity: 0,
            inserted: 0,
        }
    }

    fn table(&mut self, done: usize) -> &mut FxHashSet<(u128, S)> {
        if self.at_cut[done] {
            &mut self.cuts
        } else {
            &mut self.stretches[self.stretch_of_done[done] as usize]
        }
    }

    /// Bytes the table for `done` would take on top of what it has, if the
    /// next insert made it grow (old and new tables are both held while it
    /// moves); zero if it has room.
    pub(super) fn growth(&mut self, done: usize) -> u64 {
        let t = self.table(done);
        if t.len() < t.capacity() {
            0
        } else {
            t.capacity().max(16) as u64 * 2 * entry_bytes::<S>()
        }
    }

    /// Records a configuration with `done` completed ops linearized;
    /// whether it is new.
    pub(super) fn insert(&mut self, done: usize, key: (u128, S)) -> bool {
        if !self.at_cut[done] {
            self.first_kept = self.first_kept.min(self.stretch_of_done[done] as usize);
        }
        let t = self.table(done);
        let before = t.capacity();
        let new = t.insert(key);
        let after = t.capacity();
        self.capacity = self.capacity + after - before;
        self.inserted += u64::from(new);
        new
    }

    /// Frees the tables of the stretches before the one of `done`;
    /// whether any held anything.
    pub(super) fn free_before(&mut self, done: usize) -> bool {
        let current = self.stretch_of_done[done] as usize;
        let mut freed = 0;
        for t in &mut self.stretches[self.first_kept.min(current)..current] {
            freed += t.capacity();
            *t = FxHashSet::default();
        }
        self.first_kept = self.first_kept.max(current);
        self.capacity -= freed;
        freed > 0
    }

    pub(super) fn bytes(&self) -> u64 {
        self.capacity as u64 * entry_bytes::<S>()
            + (self.stretches.len() * std::mem::size_of::<FxHashSet<(u128, S)>>()) as u64
            + (self.stretch_of_done.len() * 5) as u64
    }
}
