//! The filesystem's state: the backing directory, the inode table, open
//! handles, the undo log and the armed faults. Every FUSE operation and every
//! control command runs under one lock on this, so a fault never lands in
//! the middle of an operation.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::undo::{self, FileUndo, MetaEntry, MetaOp, PAGE};

/// Hidden directory in the backing root where removed and replaced files wait
/// until their removal is durable (so a power loss can bring them back).
pub const GRAVE: &str = ".diskfs-grave";
/// FUSE's root inode.
pub const ROOT: u64 = 1;

pub struct Handle {
    pub file: File,
    pub ino: u64,
    /// Opened with O_SYNC or O_DSYNC: every write is durable at once.
    pub sync: bool,
}

/// Faults armed from the control interface.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Faults {
    pub fsync_error: bool,
    pub disk_full: bool,
}

/// How often each fault took effect, for `status`: evidence that an armed
/// fault really hit the program under test.
#[derive(Debug, Default)]
pub struct Counts {
    /// fsyncs failed with EIO.
    pub fsync_errors: AtomicU64,
    /// writes and creations failed with ENOSPC.
    pub enospc: AtomicU64,
}

impl Counts {
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

pub struct State {
    root: PathBuf,
    root_ino: u64,
    /// FUSE inode -> path relative to the backing root ("" for the root).
    paths: HashMap<u64, PathBuf>,
    pub handles: HashMap<u64, Handle>,
    next_fh: u64,
    pub files: HashMap<u64, FileUndo>,
    pub meta: Vec<MetaEntry>,
    grave_seq: u64,
    write_seq: u64,
    pub faults: Faults,
    pub counts: Counts,
}

fn errno(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

impl State {
    /// Opens `root` as the backing directory. Leftovers in the grave are
    /// removals from an earlier mount: they happened, so they are deleted.
    pub fn new(root: &Path) -> io::Result<State> {
        let root = root.canonicalize()?;
        let grave = root.join(GRAVE);
        if grave.exists() {
            fs::remove_dir_all(&grave)?;
        }
        fs::create_dir(&grave)?;
        let root_ino = fs::metadata(&root)?.ino();
        let mut paths = HashMap::new();
        paths.insert(ROOT, PathBuf::new());
        Ok(State {
            root,
            root_ino,
            paths,
            handles: HashMap::new(),
            next_fh: 1,
            files: HashMap::new(),
            meta: Vec::new(),
            grave_seq: 0,
            write_seq: 0,
            faults: Faults::default(),
            counts: Counts::default(),
        })
    }

    /// The FUSE inode for a backing inode: the root is 1, the rest st_ino+1
    /// (injective, and never 1 since no file has st_ino 0).
    pub fn fuse_ino(&self, st_ino: u64) -> u64 {
        if st_ino == self.root_ino {
            ROOT
        } else {
            st_ino + 1
        }
    }

    pub fn rel(&self, ino: u64) -> Result<PathBuf, i32> {
        self.paths.get(&ino).cloned().ok_or(libc::ENOENT)
    }

    pub fn abs(&self, rel: &Path) -> PathBuf {
        self.root.join(rel)
    }

    /// Path of `name` in directory `parent`, hiding the grave.
    pub fn child(&self, parent: u64, name: &OsStr) -> Result<PathBuf, i32> {
        if parent == ROOT && name == GRAVE {
            return Err(libc::ENOENT);
        }
        Ok(self.rel(parent)?.join(name))
    }

    /// The path of a new entry `name` in `parent`: ENOSPC while the disk is
    /// full, as a create would fail.
    pub fn new_child(&self, parent: u64, name: &OsStr) -> Result<PathBuf, i32> {
        if self.faults.disk_full {
            Counts::bump(&self.counts.enospc);
            return Err(libc::ENOSPC);
        }
        self.child(parent, name)
    }

    /// Stats a relative path and remembers its inode's path.
    pub fn remember(&mut self, rel: &Path) -> Result<(u64, fs::Metadata), i32> {
        let md = fs::symlink_metadata(self.abs(rel)).map_err(|e| errno(&e))?;
        let ino = self.fuse_ino(md.ino());
        self.paths.insert(ino, rel.to_path_buf());
        Ok((ino, md))
    }

    pub fn add_handle(&mut self, file: File, ino: u64, sync: bool) -> u64 {
        let fh = self.next_fh;
        self.next_fh += 1;
        self.handles.insert(fh, Handle { file, ino, sync });
        fh
    }

    /// Renames in the backing dir and rewrites the inode table under `from`.
    fn move_path(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        fs::rename(self.abs(from), self.abs(to))?;
        for p in self.paths.values_mut() {
            if let Ok(rest) = p.strip_prefix(from) {
                *p = if rest.as_os_str().is_empty() {
                    to.to_path_buf()
                } else {
                    to.join(rest)
                };
            }
        }
        Ok(())
    }

    fn forget_paths_under(&mut self, rel: &Path) {
        self.paths.retain(|_, p| !p.starts_with(rel));
    }

    fn new_grave(&mut self) -> PathBuf {
        self.grave_seq += 1;
        Path::new(GRAVE).join(self.grave_seq.to_string())
    }

    // ---- data ----

    /// The undo record of `ino`, started (durable length taken) on first use.
    fn undo_for(&mut self, ino: u64, file: &File) -> io::Result<&mut FileUndo> {
        use std::collections::hash_map::Entry;
        Ok(match self.files.entry(ino) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(v) => v.insert(FileUndo {
                durable_len: file.metadata()?.len(),
                ..FileUndo::default()
            }),
        })
    }

    /// Saves the durable bytes of the pages in [start, end) before they change.
    fn save_pages(&mut self, ino: u64, file: &File, start: u64, end: u64) -> io::Result<()> {
        let rec = self.undo_for(ino, file)?;
        let end = end.min(rec.durable_len);
        if start >= end {
            return Ok(());
        }
        for page in start / PAGE..end.div_ceil(PAGE) {
            if rec.pages.contains_key(&page) {
                continue;
            }
            let from = page * PAGE;
            let len = (rec.durable_len - from).min(PAGE) as usize;
            let mut buf = vec![0u8; len];
            file.read_exact_at(&mut buf, from)?;
            rec.pages.insert(page, buf);
        }
        Ok(())
    }

    /// Writes through handle `fh`, logging what it overwrites.
    pub fn write(&mut self, fh: u64, offset: u64, data: &[u8]) -> Result<u32, i32> {
        if self.faults.disk_full {
            Counts::bump(&self.counts.enospc);
            return Err(libc::ENOSPC);
        }
        let h = self.handles.get(&fh).ok_or(libc::EBADF)?;
        let (ino, sync) = (h.ino, h.sync);
        let file = h.file.try_clone().map_err(|e| errno(&e))?;
        self.save_pages(ino, &file, offset, offset + data.len() as u64)
            .map_err(|e| errno(&e))?;
        file.write_all_at(data, offset).map_err(|e| errno(&e))?;
        self.write_seq += 1;
        let seq = self.write_seq;
        if sync {
            self.files.remove(&ino);
        } else if let Some(rec) = self.files.get_mut(&ino) {
            rec.last_write = Some((seq, offset, data.to_vec()));
        }
        Ok(data.len() as u32)
    }

    /// Truncates (or extends) `file` to `size`, logging what is cut.
    pub fn truncate(&mut self, ino: u64, file: &File, size: u64) -> Result<(), i32> {
        self.save_pages(ino, file, size, u64::MAX)
            .map_err(|e| errno(&e))?;
        file.set_len(size).map_err(|e| errno(&e))
    }

    /// fsync/fdatasync of a file: its data is durable now. An armed
    /// fsync-error fails this once with EIO and drops the pages instead.
    pub fn fsync(&mut self, ino: u64) -> Result<(), i32> {
        if self.faults.fsync_error {
            self.faults.fsync_error = false;
            Counts::bump(&self.counts.fsync_errors);
            if let Some(rec) = self.files.remove(&ino) {
                self.restore_data(ino, &rec);
            }
            return Err(libc::EIO);
        }
        self.files.remove(&ino);
        Ok(())
    }

    /// Puts a file's data back to its durable state (best effort: a file
    /// whose name is gone has nothing to restore).
    fn restore_data(&self, ino: u64, rec: &FileUndo) {
        let Some(rel) = self.paths.get(&ino) else {
            return;
        };
        let Ok(file) = OpenOptions::new().write(true).open(self.abs(rel)) else {
            return;
        };
        let _ = file.set_len(rec.durable_len);
        for (page, bytes) in &rec.pages {
            let _ = file.write_all_at(bytes, page * PAGE);
        }
    }

    // ---- metadata ----

    /// Records that `name` was created in `parent` (already done in the backing dir).
    pub fn log_created(&mut self, parent: u64, name: &OsStr, child: u64) {
        self.meta.push(MetaEntry {
            op: MetaOp::Created {
                dir: parent,
                name: name.to_os_string(),
            },
            child,
        });
    }

    /// unlink/rmdir: the entry moves to the grave until the removal is durable.
    pub fn remove(&mut self, parent: u64, name: &OsStr, dir: bool) -> Result<(), i32> {
        let rel = self.child(parent, name)?;
        let md = fs::symlink_metadata(self.abs(&rel)).map_err(|e| errno(&e))?;
        if dir != md.is_dir() {
            return Err(if dir { libc::ENOTDIR } else { libc::EISDIR });
        }
        if dir
            && fs::read_dir(self.abs(&rel))
                .map_err(|e| errno(&e))?
                .next()
                .is_some()
        {
            return Err(libc::ENOTEMPTY);
        }
        let grave = self.new_grave();
        self.move_path(&rel, &grave).map_err(|e| errno(&e))?;
        let child = self.fuse_ino(md.ino());
        self.meta.push(MetaEntry {
            op: MetaOp::Removed {
                dir: parent,
                name: name.to_os_string(),
                grave: grave.file_name().expect("grave name").to_os_string(),
            },
            child,
        });
        Ok(())
    }

    /// rename(2) without flags or with RENAME_NOREPLACE; a replaced target
    /// moves to the grave.
    pub fn rename(
        &mut self,
        parent: u64,
        name: &OsStr,
        newparent: u64,
        newname: &OsStr,
        noreplace: bool,
    ) -> Result<(), i32> {
        let from = self.child(parent, name)?;
        let to = self.child(newparent, newname)?;
        let md = fs::symlink_metadata(self.abs(&from)).map_err(|e| errno(&e))?;
        if from == to {
            return Ok(());
        }
        let mut replaced = None;
        if let Ok(target) = fs::symlink_metadata(self.abs(&to)) {
            if noreplace {
                return Err(libc::EEXIST);
            }
            if md.is_dir() && !target.is_dir() {
                return Err(libc::ENOTDIR);
            }
            if !md.is_dir() && target.is_dir() {
                return Err(libc::EISDIR);
            }
            if target.is_dir()
                && fs::read_dir(self.abs(&to))
                    .map_err(|e| errno(&e))?
                    .next()
                    .is_some()
            {
                return Err(libc::ENOTEMPTY);
            }
            let grave = self.new_grave();
            self.move_path(&to, &grave).map_err(|e| errno(&e))?;
            replaced = Some(grave.file_name().expect("grave name").to_os_string());
        }
        self.move_path(&from, &to).map_err(|e| errno(&e))?;
        let child = self.fuse_ino(md.ino());
        self.meta.push(MetaEntry {
            op: MetaOp::Renamed {
                from_dir: parent,
                from_name: name.to_os_string(),
                to_dir: newparent,
                to_name: newname.to_os_string(),
                replaced,
            },
            child,
        });
        Ok(())
    }

    /// fsync of a directory: its entry changes are durable now; what they
    /// removed is deleted for real.
    pub fn fsyncdir(&mut self, dir: u64) {
        for e in undo::take_durable(&mut self.meta, dir) {
            if let Some(g) = e.op.grave() {
                let rel = Path::new(GRAVE).join(g);
                self.forget_paths_under(&rel);
                let abs = self.abs(&rel);
                let _ = fs::remove_dir_all(&abs).or_else(|_| fs::remove_file(&abs));
            }
        }
    }

    /// Undoes one directory change in the backing dir.
    fn undo_meta(&mut self, e: MetaEntry) -> io::Result<()> {
        let dir_rel = |s: &State, d: u64| s.rel(d).map_err(io::Error::from_raw_os_error);
        match e.op {
            MetaOp::Created { dir, name } => {
                let rel = dir_rel(self, dir)?.join(&name);
                let abs = self.abs(&rel);
                if fs::symlink_metadata(&abs)?.is_dir() {
                    fs::remove_dir_all(&abs)?;
                } else {
                    fs::remove_file(&abs)?;
                }
                self.forget_paths_under(&rel);
            }
            MetaOp::Removed { dir, name, grave } => {
                let to = dir_rel(self, dir)?.join(&name);
                self.move_path(&Path::new(GRAVE).join(grave), &to)?;
            }
            MetaOp::Renamed {
                from_dir,
                from_name,
                to_dir,
                to_name,
                replaced,
            } => {
                let from = dir_rel(self, from_dir)?.join(&from_name);
                let to = dir_rel(self, to_dir)?.join(&to_name);
                self.move_path(&to, &from)?;
                if let Some(g) = replaced {
                    self.move_path(&Path::new(GRAVE).join(g), &to)?;
                }
            }
        }
        Ok(())
    }

    // ---- faults ----

    /// Power loss: every write and directory change since its last fsync is
    /// forgotten. Returns (files restored, directory changes undone).
    pub fn power_loss(&mut self) -> (usize, usize) {
        let files = std::mem::take(&mut self.files);
        for (ino, rec) in &files {
            self.restore_data(*ino, rec);
        }
        let meta = std::mem::take(&mut self.meta);
        let undone = meta.len();
        for e in meta.into_iter().rev() {
            let what = format!("{:?}", e.op);
            if let Err(err) = self.undo_meta(e) {
                eprintln!("faultline-diskfs: power-loss could not undo {what}: {err}");
            }
        }
        // Whatever is still in the grave was removed durably.
        let grave = self.abs(Path::new(GRAVE));
        if let Ok(rd) = fs::read_dir(&grave) {
            for ent in rd.flatten() {
                let p = ent.path();
                let _ = fs::remove_dir_all(&p).or_else(|_| fs::remove_file(&p));
            }
        }
        self.forget_paths_under(Path::new(GRAVE));
        (files.len(), undone)
    }

    /// Torn write: a power loss in which the last unsynced write survives as
    /// a sector-aligned prefix. Returns a description of what survived.
    pub fn torn_write(&mut self) -> String {
        let last = self
            .files
            .iter()
            .filter_map(|(ino, r)| r.last_write.as_ref().map(|w| (*ino, w.clone())))
            .max_by_key(|(_, w)| w.0);
        let (files, undone) = self.power_loss();
        let Some((ino, (_, offset, data))) = last else {
            return format!("no unsynced write; power-loss restored {files} files, undid {undone} directory changes");
        };
        let keep = undo::torn_prefix(offset, data.len() as u64) as usize;
        let Some(rel) = self.paths.get(&ino).cloned() else {
            return format!("last write's file is gone after power-loss; restored {files} files, undid {undone} directory changes");
        };
        if keep > 0 {
            if let Ok(f) = OpenOptions::new().write(true).open(self.abs(&rel)) {
                let _ = f.write_all_at(&data[..keep], offset);
            }
        }
        format!(
            "{} kept {keep} of {} bytes at offset {offset}; restored {files} files, undid {undone} directory changes",
            rel.display(),
            data.len()
        )
    }

    pub fn status(&self) -> serde_json::Value {
        serde_json::json!({
            "unsynced_files": self.files.len(),
            "unsynced_dir_changes": self.meta.len(),
            "fsync_error_armed": self.faults.fsync_error,
            "disk_full": self.faults.disk_full,
            "fsync_errors": self.counts.fsync_errors.load(Ordering::Relaxed),
            "enospc_errors": self.counts.enospc.load(Ordering::Relaxed),
        })
    }
}

/// Open options for a backing file from the flags FUSE passes: O_SYNC and
/// O_DSYNC are ours to honour (durability is modelled here), O_APPEND is
/// dropped because the kernel already gives the write offset.
pub fn open_options(flags: i32) -> OpenOptions {
    let mut o = OpenOptions::new();
    match flags & libc::O_ACCMODE {
        libc::O_RDONLY => o.read(true),
        // Writers also read: the old bytes are saved before an overwrite.
        _ => o.read(true).write(true),
    };
    let strip = libc::O_ACCMODE
        | libc::O_CREAT
        | libc::O_EXCL
        | libc::O_TRUNC
        | libc::O_APPEND
        | libc::O_SYNC
        | libc::O_DSYNC
        | libc::O_DIRECT;
    o.custom_flags(flags & !strip);
    o
}

pub fn is_sync(flags: i32) -> bool {
    flags & (libc::O_SYNC | libc::O_DSYNC) != 0
}
