//! Node data in a run directory: `nodes/<node>/data/` (and `disk/` under a
//! disk-faults mount), next to each node's
//! logs. After a valid run the data tells nothing new and can be large (etcd
//! preallocates 64 MB a node), so it is removed unless `--keep-data`; logs
//! (`*.log`, inside the data directory too) always stay.

use std::io;
use std::path::{Path, PathBuf};

/// Each node's data directory in a run directory, with its size in bytes.
pub fn data_dirs(run_dir: &Path) -> io::Result<Vec<(PathBuf, u64)>> {
    let nodes = run_dir.join("nodes");
    let entries = match std::fs::read_dir(&nodes) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let node = entry?.path();
        // `disk/`: what a diskfs mount over `data/` kept (disk faults).
        for data in [node.join("data"), node.join("disk")] {
            if data.is_dir() {
                let size = size_of(&data)?;
                out.push((data, size));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Removes the nodes' data, keeping log files; a data directory with no
/// logs in it goes entirely. Returns the bytes removed.
pub fn remove(run_dir: &Path) -> io::Result<u64> {
    let mut removed = 0;
    for (dir, _) in data_dirs(run_dir)? {
        removed += prune(&dir)?;
        if std::fs::read_dir(&dir)?.next().is_none() {
            std::fs::remove_dir(&dir)?;
        }
    }
    Ok(removed)
}

fn is_log(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "log")
}

/// Removes everything under `dir` but log files, and directories left empty.
fn prune(dir: &Path) -> io::Result<u64> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            removed += prune(&path)?;
            if std::fs::read_dir(&path)?.next().is_none() {
                std::fs::remove_dir(&path)?;
            }
        } else if !is_log(&path) {
            removed += meta.len();
            std::fs::remove_file(&path)?;
        }
    }
    Ok(removed)
}

fn size_of(dir: &Path) -> io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let meta = std::fs::symlink_metadata(&path)?;
        total += if meta.is_dir() {
            size_of(&path)?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removes_data_but_keeps_logs() {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path();
        for node in ["n1", "n2"] {
            let d = run.join("nodes").join(node);
            std::fs::create_dir_all(d.join("data/wal")).unwrap();
            std::fs::write(d.join("stderr.log"), "log").unwrap();
            std::fs::write(d.join("data/wal/0001"), vec![0u8; 1000]).unwrap();
            std::fs::write(d.join("data/raft-state.json"), "{}").unwrap();
        }
        std::fs::write(run.join("nodes/n2/data/member.log"), "kept").unwrap();
        assert_eq!(data_dirs(run).unwrap().len(), 2);
        assert_eq!(remove(run).unwrap(), 2 * 1002);
        assert!(!run.join("nodes/n1/data").exists());
        assert!(run.join("nodes/n1/stderr.log").is_file());
        assert!(run.join("nodes/n2/data/member.log").is_file());
        assert!(!run.join("nodes/n2/data/wal").exists());
        let left = data_dirs(run).unwrap();
        assert_eq!(left, vec![(run.join("nodes/n2/data"), 4)]);
        assert!(data_dirs(&run.join("missing")).unwrap().is_empty());
    }
}
