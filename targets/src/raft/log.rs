//! The in-memory Raft log: a snapshot (everything up to `snap_index`,
//! compacted into state-machine data) followed by the entries after it.

use serde_json::Value;

use crate::raft_storage::{Entry, Snapshot};

#[derive(Debug, Clone, Default)]
pub struct RaftLog {
    snap_index: u64,
    snap_term: u64,
    snap_data: Value,
    /// The voters as of the snapshot, if a membership change was compacted.
    snap_voters: Option<Vec<String>>,
    /// entries[i] has index snap_index + 1 + i.
    entries: Vec<Entry>,
}

impl RaftLog {
    /// A log recovered from a snapshot (if any) and the entries stored after
    /// it. Entries the snapshot covers are dropped (a crash between saving a
    /// snapshot and rewriting the log leaves them); entries that do not
    /// continue the snapshot (a crash while a leader's snapshot replaced a
    /// conflicting log) are dropped too: they were never committed.
    pub fn recover(snapshot: Option<Snapshot>, entries: Vec<Entry>) -> Result<Self, String> {
        let (snap_index, snap_term, snap_data, snap_voters) = match snapshot {
            Some(s) => (s.last_index, s.last_term, s.data, s.voters),
            None => (0, 0, Value::Null, None),
        };
        let continues = entries
            .iter()
            .find(|e| e.index == snap_index)
            .is_none_or(|e| e.term == snap_term);
        let mut after: Vec<Entry> = if continues {
            entries
                .into_iter()
                .filter(|e| e.index > snap_index)
                .collect()
        } else {
            Vec::new()
        };
        if let Some(first) = after.first() {
            if first.index != snap_index + 1 {
                return Err(format!(
                    "the log starts at index {} but the snapshot ends at {snap_index}: entries are missing",
                    first.index
                ));
            }
        }
        for (i, e) in after.iter().enumerate() {
            if e.index != snap_index + 1 + i as u64 {
                return Err(format!("log entry {} is out of sequence", e.index));
            }
        }
        after.shrink_to_fit();
        Ok(RaftLog {
            snap_index,
            snap_term,
            snap_data,
            snap_voters,
            entries: after,
        })
    }

    pub fn snap_index(&self) -> u64 {
        self.snap_index
    }

    pub fn snap_term(&self) -> u64 {
        self.snap_term
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            last_index: self.snap_index,
            last_term: self.snap_term,
            data: self.snap_data.clone(),
            voters: self.snap_voters.clone(),
        }
    }

    /// The latest configuration at or before `index` (and after the
    /// snapshot): its entry's index and voters; else the snapshot's voters
    /// (`None` when no change was ever made: every node votes).
    pub fn config_at(&self, index: u64) -> (u64, Option<Vec<String>>) {
        let upto = index.min(self.last_index()).max(self.snap_index);
        let upto = (upto - self.snap_index) as usize;
        for e in self.entries[..upto].iter().rev() {
            if let Some(v) = super::membership::voters_of(&e.cmd) {
                return (e.index, Some(v));
            }
        }
        (self.snap_index, self.snap_voters.clone())
    }

    /// The entries after the snapshot.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn last_index(&self) -> u64 {
        self.snap_index + self.entries.len() as u64
    }

    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.snap_term, |e| e.term)
    }

    /// Term of the entry at `index`, if known (snapshot boundary included).
    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.snap_index {
            Some(self.snap_term)
        } else if index > self.snap_index && index <= self.last_index() {
            Some(self.entry(index).term)
        } else {
            None
        }
    }

    /// The entry at `index`; it must be after the snapshot and in the log.
    pub fn entry(&self, index: u64) -> &Entry {
        &self.entries[(index - self.snap_index - 1) as usize]
    }

    /// Entries `from..=to` (both after the snapshot).
    pub fn slice(&self, from: u64, to: u64) -> Vec<Entry> {
        if from > to {
            return Vec::new();
        }
        let lo = (from - self.snap_index - 1) as usize;
        let hi = (to - self.snap_index) as usize;
        self.entries[lo..hi].to_vec()
    }

    pub fn push(&mut self, e: Entry) {
        debug_assert_eq!(e.index, self.last_index() + 1);
        self.entries.push(e);
    }

    /// Drop the entry at `index` and everything after it.
    pub fn truncate_from(&mut self, index: u64) {
        let keep = index.saturating_sub(self.snap_index + 1) as usize;
        self.entries.truncate(keep);
    }

    /// Replace the prefix up to `index` (which must be in the log) by a snapshot.
    pub fn compact(&mut self, index: u64, data: Value) {
        let term = self
            .term_at(index)
            .expect("compacting to an index in the log");
        self.snap_voters = self.config_at(index).1;
        let drop = (index - self.snap_index) as usize;
        self.entries.drain(..drop);
        self.snap_index = index;
        self.snap_term = term;
        self.snap_data = data;
    }

    /// Install a leader's snapshot: keep our entries after it only if our log
    /// holds the snapshot's last entry (then they continue it).
    pub fn install(&mut self, snap: Snapshot) {
        if self.term_at(snap.last_index) == Some(snap.last_term)
            && snap.last_index > self.snap_index
        {
            let drop = (snap.last_index - self.snap_index) as usize;
            self.entries.drain(..drop);
        } else {
            self.entries.clear();
        }
        self.snap_index = snap.last_index;
        self.snap_term = snap.last_term;
        self.snap_data = snap.data;
        self.snap_voters = snap.voters;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn e(index: u64, term: u64) -> Entry {
        Entry {
            term,
            index,
            cmd: json!(index),
        }
    }

    fn snap(last_index: u64, last_term: u64) -> Snapshot {
        Snapshot {
            last_index,
            last_term,
            data: json!("s"),
            voters: None,
        }
    }

    #[test]
    fn recover_drops_what_the_snapshot_covers_and_what_does_not_continue_it() {
        let log = RaftLog::recover(Some(snap(2, 1)), vec![e(1, 1), e(2, 1), e(3, 2)]).unwrap();
        assert_eq!(
            (log.snap_index(), log.last_index(), log.last_term()),
            (2, 3, 2)
        );
        // The stored entry 2 has another term than the snapshot's: the suffix is stale.
        let log = RaftLog::recover(Some(snap(2, 5)), vec![e(1, 1), e(2, 1), e(3, 2)]).unwrap();
        assert_eq!(log.last_index(), 2);
        assert!(log.entries().is_empty());
        let err = RaftLog::recover(Some(snap(2, 1)), vec![e(4, 2)]).unwrap_err();
        assert!(err.contains("missing"), "{err}");
        assert!(RaftLog::recover(None, vec![e(1, 1), e(3, 1)]).is_err());
    }

    #[test]
    fn terms_truncation_compaction_and_install() {
        let mut log = RaftLog::default();
        for (i, t) in [(1, 1), (2, 1), (3, 2), (4, 2)] {
            log.push(e(i, t));
        }
        assert_eq!(log.term_at(0), Some(0));
        assert_eq!(log.term_at(3), Some(2));
        assert_eq!(log.term_at(5), None);
        assert_eq!(log.slice(2, 3), vec![e(2, 1), e(3, 2)]);
        log.truncate_from(4);
        assert_eq!(log.last_index(), 3);
        log.compact(2, json!("two"));
        assert_eq!(
            (log.snap_index(), log.snap_term(), log.term_at(1)),
            (2, 1, None)
        );
        assert_eq!(log.entry(3), &e(3, 2));
        // A snapshot our log continues keeps the suffix; one it does not clears it.
        log.push(e(4, 2));
        log.install(snap(3, 2));
        assert_eq!((log.snap_index(), log.last_index()), (3, 4));
        log.install(snap(6, 7));
        assert_eq!(
            (log.snap_index(), log.last_index(), log.last_term()),
            (6, 6, 7)
        );
    }
}
