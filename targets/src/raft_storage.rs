//! Durable Raft state: hard state (term, vote), the log, and a snapshot.
//!
//! Files in the data dir:
//! - `raft-state.json`: `{"term":..,"voted_for":..}`, replaced atomically (tmp, fsync, rename, fsync dir)
//! - `raft-log.jsonl`: one entry a line, appended and fsynced; rewritten atomically on truncation/compaction
//! - `raft-snapshot.json`: `{"last_index","last_term","data"}`, replaced atomically
//!
//! Loading is strict: a state or snapshot file that exists but cannot be read
//! or parsed is an error naming the file (never a silent reset to term 0). Only
//! a torn LAST log line (a crash mid-append, so never fsynced and never
//! acknowledged) is dropped; a bad line before it is an error naming file:line.
//! Every write error is returned: the caller stops the node rather than
//! acknowledge anything after a failed write or fsync.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const STATE_FILE: &str = "raft-state.json";
pub const LOG_FILE: &str = "raft-log.jsonl";
pub const SNAPSHOT_FILE: &str = "raft-snapshot.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub term: u64,
    pub index: u64,
    /// The state-machine command; null for a leader's term-start no-op.
    pub cmd: Value,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HardState {
    pub term: u64,
    pub voted_for: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub last_index: u64,
    pub last_term: u64,
    pub data: Value,
    /// Raft's voters as of `last_index`, when a membership change is in the
    /// compacted prefix (absent: every node of `--peers`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voters: Option<Vec<String>>,
}

/// One change to durable state, produced by the Raft core. A batch of writes
/// is applied in order and made durable before anything that depends on it
/// (a vote, an append acknowledgement, a client reply) is sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    HardState(HardState),
    /// Add entries at the end of the log.
    Append(Vec<Entry>),
    /// Replace the whole log by these entries (conflict truncation, compaction).
    RewriteLog(Vec<Entry>),
    Snapshot(Snapshot),
}

/// What was on disk at start.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub hard: HardState,
    pub snapshot: Option<Snapshot>,
    pub entries: Vec<Entry>,
}

/// The files of one node's data dir.
pub struct RaftStorage {
    dir: PathBuf,
    log: File,
    unsynced: bool,
    /// BUG no-fsync: appends and hard state (votes) are written but never
    /// fsynced, so a kill loses nothing and a power loss loses them.
    pub no_fsync: bool,
}

impl RaftStorage {
    pub fn open(dir: &Path) -> anyhow::Result<(Self, Loaded)> {
        let hard: HardState = read_json_file(&dir.join(STATE_FILE))?.unwrap_or_default();
        let snapshot: Option<Snapshot> = read_json_file(&dir.join(SNAPSHOT_FILE))?;
        let log_path = dir.join(LOG_FILE);
        let entries = read_log(&log_path)?;
        let mut storage = RaftStorage {
            dir: dir.to_path_buf(),
            log: open_append(&log_path)?,
            unsynced: false,
            no_fsync: false,
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

    /// Apply a batch of writes in order and make all of it durable.
    pub fn persist(&mut self, writes: &[Write]) -> anyhow::Result<()> {
        for w in writes {
            match w {
                Write::HardState(hs) => self.save_hard_state(hs)?,
                Write::Append(entries) => self.append(entries)?,
                Write::RewriteLog(entries) => self.rewrite_log(entries)?,
                Write::Snapshot(snap) => self.save_snapshot(snap)?,
            }
        }
        self.sync()
    }

    pub fn save_hard_state(&mut self, hs: &HardState) -> anyhow::Result<()> {
        if self.no_fsync {
            let path = self.dir.join(STATE_FILE);
            let tmp = self.dir.join(format!("{STATE_FILE}.tmp"));
            return fs::write(&tmp, serde_json::to_vec(hs)?)
                .and_then(|_| fs::rename(&tmp, &path))
                .with_context(|| format!("{}: cannot write", path.display()));
        }
        write_atomic(&self.dir, STATE_FILE, &serde_json::to_vec(hs)?)
    }

    /// Append entries (buffered until [`sync`](Self::sync)).
    pub fn append(&mut self, entries: &[Entry]) -> anyhow::Result<()> {
        self.log
            .write_all(&log_lines(entries)?)
            .with_context(|| format!("{}: append", self.dir.join(LOG_FILE).display()))?;
        self.unsynced = true;
        Ok(())
    }

    /// Make appended entries durable.
    pub fn sync(&mut self) -> anyhow::Result<()> {
        if self.unsynced && self.no_fsync {
            self.unsynced = false; // BUG no-fsync: believed durable, never fsynced.
        }
        if self.unsynced {
            self.log
                .sync_data()
                .with_context(|| format!("{}: fsync", self.dir.join(LOG_FILE).display()))?;
            self.unsynced = false;
        }
        Ok(())
    }

    /// Replace the log file with exactly `entries` (truncation and compaction).
    pub fn rewrite_log(&mut self, entries: &[Entry]) -> anyhow::Result<()> {
        write_atomic(&self.dir, LOG_FILE, &log_lines(entries)?)?;
        self.log = open_append(&self.dir.join(LOG_FILE))?;
        self.unsynced = false;
        Ok(())
    }

    pub fn save_snapshot(&mut self, snap: &Snapshot) -> anyhow::Result<()> {
        write_atomic(&self.dir, SNAPSHOT_FILE, &serde_json::to_vec(snap)?)
    }
}

fn open_append(path: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("{}: cannot open for appending", path.display()))
}

fn log_lines(entries: &[Entry]) -> anyhow::Result<Vec<u8>> {
    let mut buf = Vec::new();
    for e in entries {
        serde_json::to_writer(&mut buf, e)?;
        buf.push(b'\n');
    }
    Ok(buf)
}

/// A JSON file's content; `None` only if the file does not exist.
fn read_json_file<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<Option<T>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => anyhow::bail!("{}: cannot read: {e}", path.display()),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| anyhow::anyhow!("{}: cannot parse: {e}", path.display()))
}

/// The log file's entries. The last line may be torn (dropped); any other bad
/// or out-of-sequence line is an error naming file:line.
fn read_log(path: &Path) -> anyhow::Result<Vec<Entry>> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => anyhow::bail!("{}: cannot read: {e}", path.display()),
    };
    let mut lines: Vec<&[u8]> = bytes.split(|b| *b == b'\n').collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop(); // the file ends with a newline
    }
    let mut entries: Vec<Entry> = Vec::with_capacity(lines.len());
    let last = lines.len().saturating_sub(1);
    for (i, line) in lines.iter().enumerate() {
        let parsed = serde_json::from_slice::<Entry>(line);
        let entry = match parsed {
            Ok(e) => e,
            Err(_) if i == last => {
                tracing::warn!("{}:{}: dropping a torn last line", path.display(), i + 1);
                break;
            }
            Err(e) => anyhow::bail!("{}:{}: corrupt log entry: {e}", path.display(), i + 1),
        };
        if let Some(prev) = entries.last() {
            if entry.index != prev.index + 1 {
                anyhow::bail!(
                    "{}:{}: entry index {} does not follow {}",
                    path.display(),
                    i + 1,
                    entry.index,
                    prev.index
                );
            }
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// Write `name` in `dir` so that a crash leaves either the old or the new content.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!("{name}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)?;
        File::open(dir)?.sync_all()
    };
    write().with_context(|| format!("{}: cannot write durably", path.display()))
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
        s.persist(&[
            Write::HardState(HardState {
                term: 3,
                voted_for: Some("n2".into()),
            }),
            Write::Append(vec![e(1, 1), e(2, 1), e(3, 3)]),
        ])
        .unwrap();
        drop(s);
        // Simulate a crash mid-append.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(LOG_FILE))
            .unwrap();
        f.write_all(b"{\"term\":3,\"ind").unwrap();
        let (mut s, l) = RaftStorage::open(dir.path()).unwrap();
        assert_eq!(l.hard.term, 3);
        assert_eq!(l.hard.voted_for.as_deref(), Some("n2"));
        assert_eq!(l.entries, vec![e(1, 1), e(2, 1), e(3, 3)]);
        s.persist(&[
            Write::Snapshot(Snapshot {
                last_index: 2,
                last_term: 1,
                data: serde_json::json!({}),
                voters: None,
            }),
            Write::RewriteLog(vec![e(3, 3)]),
            Write::Append(vec![e(4, 3)]),
        ])
        .unwrap();
        let (_, l) = RaftStorage::open(dir.path()).unwrap();
        assert_eq!(l.snapshot.unwrap().last_index, 2);
        assert_eq!(l.entries, vec![e(3, 3), e(4, 3)]);
    }

    fn open_err(dir: &Path) -> String {
        match RaftStorage::open(dir) {
            Ok(_) => panic!("opening {} should fail", dir.display()),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn unreadable_state_or_snapshot_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(STATE_FILE), b"{\"term\":").unwrap();
        let err = open_err(dir.path());
        assert!(err.contains(STATE_FILE) && err.contains("parse"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(STATE_FILE)).unwrap();
        let err = open_err(dir.path());
        assert!(err.contains(STATE_FILE) && err.contains("read"), "{err}");

        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(SNAPSHOT_FILE), b"[]").unwrap();
        let err = open_err(dir.path());
        assert!(err.contains(SNAPSHOT_FILE), "{err}");
    }

    #[test]
    fn a_corrupt_log_line_before_the_last_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let good = |i: u64| serde_json::to_string(&e(i, 1)).unwrap();
        let text = format!("{}\n{{garbage\n{}\n", good(1), good(2));
        fs::write(dir.path().join(LOG_FILE), text).unwrap();
        let err = open_err(dir.path());
        assert!(err.contains(&format!("{LOG_FILE}:2")), "{err}");

        // Out of sequence is corruption too.
        let text = format!("{}\n{}\n", good(1), good(3));
        fs::write(dir.path().join(LOG_FILE), text).unwrap();
        let err = open_err(dir.path());
        assert!(err.contains(&format!("{LOG_FILE}:2")), "{err}");

        // A torn last line, newline-terminated or not, is dropped.
        let text = format!("{}\n{}\n\0\0\0\n", good(1), good(2));
        fs::write(dir.path().join(LOG_FILE), text).unwrap();
        let (_, l) = RaftStorage::open(dir.path()).unwrap();
        assert_eq!(l.entries, vec![e(1, 1), e(2, 1)]);
    }

    #[test]
    fn a_failed_write_is_returned() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = RaftStorage::open(dir.path()).unwrap();
        // A directory where the state file's tmp must go makes the write fail.
        fs::create_dir(dir.path().join(format!("{STATE_FILE}.tmp"))).unwrap();
        let err = s
            .persist(&[Write::HardState(HardState::default())])
            .unwrap_err();
        assert!(format!("{err:#}").contains(STATE_FILE), "{err:#}");
    }
}
