//! The undo log: what must be put back to return the backing directory to
//! its durable state.
//!
//! Why an undo log and not a redo buffer: the backing directory always holds
//! the live state, so reads, stat and readdir are plain passthrough with no
//! merging. Forgetting is replaying this log backwards. Memory is only the
//! old bytes of pages overwritten since the last fsync (appends cost a
//! length), and one entry per un-fsynced directory change.

use std::collections::HashMap;
use std::ffi::OsString;

/// Page size at which overwritten durable bytes are saved.
pub const PAGE: u64 = 4096;
/// Sector size at which a torn write is cut.
pub const SECTOR: u64 = 512;

/// Per file: how to put its data back to what the last fsync made durable.
#[derive(Debug, Default)]
pub struct FileUndo {
    /// The file's length when it was last durable.
    pub durable_len: u64,
    /// Durable bytes of pages overwritten since (page index -> bytes, clipped
    /// to `durable_len`).
    pub pages: HashMap<u64, Vec<u8>>,
    /// The last unsynced write: (sequence number, offset, bytes), for torn-write.
    pub last_write: Option<(u64, u64, Vec<u8>)>,
}

/// One un-fsynced directory change.
#[derive(Debug)]
pub enum MetaOp {
    /// `name` was created in `dir` (create, mkdir, mknod, symlink, link).
    Created { dir: u64, name: OsString },
    /// `name` was removed from `dir`; the file waits in the grave as `grave`.
    Removed {
        dir: u64,
        name: OsString,
        grave: OsString,
    },
    /// Renamed; a replaced target waits in the grave.
    Renamed {
        from_dir: u64,
        from_name: OsString,
        to_dir: u64,
        to_name: OsString,
        replaced: Option<OsString>,
    },
}

impl MetaOp {
    /// Whether fsyncing directory `d` makes this change durable. A rename is
    /// made durable by fsyncing either directory (journaling filesystems
    /// commit a rename as one transaction).
    pub fn touches(&self, d: u64) -> bool {
        match self {
            MetaOp::Created { dir, .. } | MetaOp::Removed { dir, .. } => *dir == d,
            MetaOp::Renamed {
                from_dir, to_dir, ..
            } => *from_dir == d || *to_dir == d,
        }
    }

    /// The grave entry that becomes garbage once this change is durable.
    pub fn grave(&self) -> Option<&OsString> {
        match self {
            MetaOp::Removed { grave, .. } => Some(grave),
            MetaOp::Renamed { replaced, .. } => replaced.as_ref(),
            MetaOp::Created { .. } => None,
        }
    }
}

/// A logged change and the inode it moved.
#[derive(Debug)]
pub struct MetaEntry {
    pub op: MetaOp,
    /// The inode whose name changed (changes to one inode depend on each other).
    pub child: u64,
}

/// Marks the changes that fsyncing directory `dir` makes durable, and the
/// earlier changes of the same inodes they depend on (a file renamed into a
/// fsynced directory must exist). Returns them, removed from `log`.
pub fn take_durable(log: &mut Vec<MetaEntry>, dir: u64) -> Vec<MetaEntry> {
    let mut durable = vec![false; log.len()];
    for i in (0..log.len()).rev() {
        if log[i].op.touches(dir) {
            durable[i] = true;
        }
        if durable[i] {
            let child = log[i].child;
            for j in 0..i {
                if log[j].child == child {
                    durable[j] = true;
                }
            }
        }
    }
    let mut taken = Vec::new();
    let mut kept = Vec::new();
    for (e, d) in log.drain(..).zip(durable) {
        if d {
            taken.push(e)
        } else {
            kept.push(e)
        }
    }
    *log = kept;
    taken
}

/// Where a torn write is cut: the last sector boundary at or before the
/// middle of the write, never before its start. Returns how many bytes of
/// the write survive.
pub fn torn_prefix(offset: u64, len: u64) -> u64 {
    let mid = offset + len / 2;
    let cut = mid / SECTOR * SECTOR;
    cut.saturating_sub(offset).min(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn created(dir: u64, name: &str, child: u64) -> MetaEntry {
        MetaEntry {
            op: MetaOp::Created {
                dir,
                name: name.into(),
            },
            child,
        }
    }

    #[test]
    fn fsync_of_a_directory_takes_its_changes_and_their_dependencies() {
        let mut log = vec![
            created(1, "a", 10),
            created(2, "b", 11),
            MetaEntry {
                op: MetaOp::Renamed {
                    from_dir: 2,
                    from_name: "b".into(),
                    to_dir: 3,
                    to_name: "c".into(),
                    replaced: None,
                },
                child: 11,
            },
        ];
        let taken = take_durable(&mut log, 3);
        assert_eq!(taken.len(), 2, "the rename and the create it depends on");
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].child, 10);
    }

    #[test]
    fn torn_prefix_is_sector_aligned() {
        assert_eq!(torn_prefix(0, 4096), 2048);
        assert_eq!(torn_prefix(0, 100), 0);
        assert_eq!(torn_prefix(1000, 2000), 536); // cut at 1536
        assert_eq!((1000 + torn_prefix(1000, 2000)) % SECTOR, 0);
    }
}
