//! Durable Raft state: hard state (term, vote), the log, and a snapshot.
//!
//! Files in the data dir:
//! - `raft-state.json`: `{"term":..,"voted_for":..}`, replaced atomically (tmp, fsync, rename, fsync dir)
//! - `raft-log.jsonl`: one entry a line, appended and fsynced; rewritten atomically on truncation/compaction
//! - `raft-snapshot.json`: `{"last_index","last_term","data"}`, replaced atomically
//!
//! A torn last log line (crash mid-append) is ignored on load: it was never fsynced,
//! so it was never acknowledged.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub term: u64,
    pub index: u64,
    /// The state-machine command; null for a leader's term-start no-op.
    pub cmd: Value,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HardState {
    pub term: u64,
    pub voted_for: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub last_index: u64,
    pub last_term: u64,
    pub data: Value,
}

pub struct RaftStorage {
    dir: PathBuf,
    log: File,
    unsynced: bool,
}

/// What was on disk at start.
pub struct Loaded {
    pub hard: HardState,
    pub snapshot: Option<Snapshot>,
    pub entries: Vec<Entry>,
}

impl RaftStorage {
    pub fn open(dir: &Path) -> anyhow::Result<(Self, Loaded)> {
        let hard = match fs::read(dir.join("raft-state.json")) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| anyhow::anyhow!("{}/raft-state.json: {e}", dir.display()))?,
            Err(_) => HardState::default(),
        };
        let snapshot: Option<Snapshot> = match fs::read(dir.join("raft-snapshot.json")) {
            Ok(b) => Some(
                serde_json::from_slice(&b)
                    .map_err(|e| anyhow::anyhow!("{}/raft-snapshot.json: {e}", dir.display()))?,
            ),
            Err(_) => None,
        };
        let log_path = dir.join("raft-log.jsonl");
        let mut entries: Vec<Entry> = Vec::new();
        if let Ok(f) = File::open(&log_path) {
            for line in BufReader::new(f).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Entry>(&line) {
                    // Keep only a contiguous run; a later rewrite may leave none out.
                    Ok(e) if entries.last().is_none_or(|l| l.index + 1 == e.index) => {
                        entries.push(e)
                    }
                    _ => break,
                }
            }
        }
        let base = snapshot.as_ref().map_or(0, |s| s.last_index);
        entries.retain(|e| e.index > base);
        if entries.first().is_some_and(|e| e.index != base + 1) {
            entries.clear();
        }
        let mut storage = RaftStorage {
            dir: dir.to_path_buf(),
            log: OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)?,
            unsynced: false,
        };
        // Normalise the file to exactly the entries we loaded (drops a torn tail).
        storage.rewrite_log(&entries)?;
        Ok((
            storage,
            Loaded {
                hard,
                snapshot,
                entries,
            },
        ))
    }

    pub fn save_hard_state(&mut self, hs: &HardState) -> anyhow::Result<()> {
        write_atomic(&self.dir, "raft-state.json", &serde_json::to_vec(hs)?)
    }

    /// Append entries (buffered until [`sync`](Self::sync)).
    pub fn append(&mut self, entries: &[Entry]) -> anyhow::Result<()> {
        let mut buf = Vec::new();
        for e in entries {
            serde_json::to_writer(&mut buf, e)?;
            buf.push(b'\n');
        }
        self.log.write_all(&buf)?;
        self.unsynced = true;
        Ok(())
    }

    /// Make appended entries durable.
    pub fn sync(&mut self) -> anyhow::Result<()> {
        if self.unsynced {
            self.log.sync_data()?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Replace the log file with exactly `entries` (truncation and compaction).
    pub fn rewrite_log(&mut self, entries: &[Entry]) -> anyhow::Result<()> {
        let mut buf = Vec::new();
        for e in entries {
            serde_json::to_writer(&mut buf, e)?;
            buf.push(b'\n');
        }
        write_atomic(&self.dir, "raft-log.jsonl", &buf)?;
        self.log = OpenOptions::new()
            .append(true)
            .open(self.dir.join("raft-log.jsonl"))?;
        self.unsynced = false;
        Ok(())
    }

    pub fn save_snapshot(&mut self, snap: &Snapshot) -> anyhow::Result<()> {
        write_atomic(&self.dir, "raft-snapshot.json", &serde_json::to_vec(snap)?)
    }
}

/// Write `name` in `dir` so that a crash leaves either the old or the new content.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, dir.join(name))?;
    File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(index: u64, term: u64) -> Entry {
        Entry {
            term,
            index,
            cmd: serde_json::json!({"i": index}),
        }
    }

    #[test]
    fn state_log_and_snapshot_survive_reopen_and_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, l) = RaftStorage::open(dir.path()).unwrap();
        assert_eq!(l.hard.term, 0);
        assert!(l.entries.is_empty());
        s.save_hard_state(&HardState {
            term: 3,
            voted_for: Some("n2".into()),
        })
        .unwrap();
        s.append(&[e(1, 1), e(2, 1), e(3, 3)]).unwrap();
        s.sync().unwrap();
        drop(s);
        // Simulate a crash mid-append.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join("raft-log.jsonl"))
            .unwrap();
        f.write_all(b"{\"term\":3,\"ind").unwrap();
        let (mut s, l) = RaftStorage::open(dir.path()).unwrap();
        assert_eq!(l.hard.term, 3);
        assert_eq!(l.hard.voted_for.as_deref(), Some("n2"));
        assert_eq!(l.entries, vec![e(1, 1), e(2, 1), e(3, 3)]);
        s.save_snapshot(&Snapshot {
            last_index: 2,
            last_term: 1,
            data: serde_json::json!({}),
        })
        .unwrap();
        s.rewrite_log(&[e(3, 3)]).unwrap();
        s.append(&[e(4, 3)]).unwrap();
        s.sync().unwrap();
        let (_, l) = RaftStorage::open(dir.path()).unwrap();
        assert_eq!(l.snapshot.unwrap().last_index, 2);
        assert_eq!(l.entries, vec![e(3, 3), e(4, 3)]);
    }
}
