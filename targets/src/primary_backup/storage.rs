//! A node's durable state: `pb-meta.json` (epoch and vote, replaced
//! atomically) and `pb-log.jsonl` (one entry a line, appended and fsynced;
//! rewritten atomically when a conflicting suffix is cut off).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::message::Entry;
use crate::raft_storage::write_atomic;

const META: &str = "pb-meta.json";
const LOG: &str = "pb-log.jsonl";

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub epoch: u64,
    pub voted_for: Option<String>,
}

pub struct Store {
    dir: PathBuf,
    log: File,
    /// Entries in the file.
    stored: usize,
}

impl Store {
    /// Opens the data dir, returning what it holds. A torn last log line was
    /// never fsynced, so never acknowledged: it is dropped.
    pub fn open(dir: &Path) -> anyhow::Result<(Store, Meta, Vec<Entry>)> {
        let meta = match std::fs::read(dir.join(META)) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{}: corrupt", dir.join(META).display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Meta::default(),
            Err(e) => return Err(e).context(dir.join(META).display().to_string()),
        };
        let mut entries = Vec::new();
        if let Ok(f) = File::open(dir.join(LOG)) {
            for line in BufReader::new(f).lines() {
                let Ok(line) = line else { break };
                let Ok(e) = serde_json::from_str::<Entry>(&line) else {
                    break;
                };
                entries.push(e);
            }
        }
        let mut store = Store {
            dir: dir.to_path_buf(),
            log: OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join(LOG))?,
            stored: 0,
        };
        store.rewrite(&entries)?;
        Ok((store, meta, entries))
    }

    pub fn save_meta(&mut self, meta: &Meta) -> anyhow::Result<()> {
        write_atomic(&self.dir, META, &serde_json::to_vec(meta)?)
    }

    /// Makes the file hold `log`, given that it changed from `from` on.
    pub fn save_log(&mut self, log: &[Entry], from: usize) -> anyhow::Result<()> {
        if from < self.stored {
            return self.rewrite(log);
        }
        let mut buf = Vec::new();
        for e in &log[self.stored..] {
            serde_json::to_writer(&mut buf, e)?;
            buf.push(b'\n');
        }
        self.log.write_all(&buf)?;
        self.log.sync_data()?;
        self.stored = log.len();
        Ok(())
    }

    fn rewrite(&mut self, log: &[Entry]) -> anyhow::Result<()> {
        let mut buf = Vec::new();
        for e in log {
            serde_json::to_writer(&mut buf, e)?;
            buf.push(b'\n');
        }
        write_atomic(&self.dir, LOG, &buf)?;
        self.log = OpenOptions::new().append(true).open(self.dir.join(LOG))?;
        self.stored = log.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn e(epoch: u64, i: i64) -> Entry {
        Entry {
            epoch,
            cmd: json!({"f": "add", "key": "s", "value": i}),
        }
    }

    #[test]
    fn appends_rewrites_and_torn_lines_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, meta, log) = Store::open(dir.path()).unwrap();
        assert_eq!((meta, log.len()), (Meta::default(), 0));
        let mut log = vec![e(1, 1), e(1, 2), e(1, 3)];
        s.save_log(&log, 0).unwrap();
        s.save_meta(&Meta {
            epoch: 2,
            voted_for: Some("n2".into()),
        })
        .unwrap();
        // A new primary cut off the last entry and appended its own.
        log.truncate(2);
        log.push(e(2, 4));
        s.save_log(&log, 2).unwrap();
        log.push(e(2, 5));
        s.save_log(&log, 4).unwrap();
        drop(s);
        // A crash in the middle of an append leaves a torn line.
        let mut f = OpenOptions::new()
            .append(true)
            .open(dir.path().join(LOG))
            .unwrap();
        f.write_all(b"{\"epoch\":2,\"cm").unwrap();
        let (_, meta, back) = Store::open(dir.path()).unwrap();
        assert_eq!(back, log);
        assert_eq!((meta.epoch, meta.voted_for.as_deref()), (2, Some("n2")));
    }
}
