//! The FUSE side: every operation passes through to the backing directory
//! via [`State`], which logs how to undo it.

use std::ffi::{CString, OsStr};
use std::fs::{self, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{
    Errno, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation, INodeNo, LockOwner,
    OpenFlags, PollEvents, PollFlags, PollNotifier, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyPoll, ReplyStatfs, ReplyWrite,
    ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use crate::state::{self, State, GRAVE, ROOT};

/// No kernel caching of names or attributes: after a power loss the next
/// lookup must see the restored backing directory.
const TTL: Duration = Duration::ZERO;

pub struct DiskFs {
    pub state: Arc<Mutex<State>>,
}

fn err(e: &std::io::Error) -> Errno {
    Errno::from_i32(e.raw_os_error().unwrap_or(libc::EIO))
}

fn time(secs: i64, nsecs: i64) -> SystemTime {
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nsecs as u32)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    }
}

fn attr(ino: u64, md: &fs::Metadata) -> FileAttr {
    let ft = md.file_type();
    FileAttr {
        ino: INodeNo(ino),
        size: md.size(),
        blocks: md.blocks(),
        atime: time(md.atime(), md.atime_nsec()),
        mtime: time(md.mtime(), md.mtime_nsec()),
        ctime: time(md.ctime(), md.ctime_nsec()),
        crtime: UNIX_EPOCH,
        kind: FileType::from_std(ft).unwrap_or(FileType::RegularFile),
        perm: (md.mode() & 0o7777) as u16,
        nlink: md.nlink() as u32,
        uid: md.uid(),
        gid: md.gid(),
        rdev: md.rdev() as u32,
        blksize: md.blksize() as u32,
        flags: 0,
    }
}

/// The server runs as root, so what it creates is root's: like a kernel
/// filesystem, hand a new node to the process that made it (PostgreSQL's
/// initdb runs as `postgres` and makes directories of mode 700 it must enter).
fn give_to_maker(req: &Request, abs: &Path) -> std::io::Result<()> {
    std::os::unix::fs::lchown(abs, Some(req.uid()), Some(req.gid()))
}

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("paths have no NUL")
}

impl DiskFs {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicked operation leaves the state usable: recover it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Gives a freshly made `name` in `parent` to its maker (None: a hard
    /// link, an old inode), looks it up, logs its creation and replies.
    fn created_entry(
        &self,
        maker: Option<&Request>,
        st: &mut State,
        parent: u64,
        name: &OsStr,
        reply: ReplyEntry,
    ) {
        let rel = match st.child(parent, name) {
            Ok(r) => r,
            Err(e) => return reply.error(Errno::from_i32(e)),
        };
        if let Some(Err(e)) = maker.map(|req| give_to_maker(req, &st.abs(&rel))) {
            return reply.error(err(&e));
        }
        match st.remember(&rel) {
            Ok((ino, md)) => {
                st.log_created(parent, name, ino);
                reply.entry(&TTL, &attr(ino, &md), Generation(0));
            }
            Err(e) => reply.error(Errno::from_i32(e)),
        }
    }
}

impl Filesystem for DiskFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let mut st = self.lock();
        let res = st.child(parent.0, name).and_then(|rel| st.remember(&rel));
        match res {
            Ok((ino, md)) => reply.entry(&TTL, &attr(ino, &md), Generation(0)),
            Err(e) => reply.error(Errno::from_i32(e)),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, fh: Option<FileHandle>, reply: ReplyAttr) {
        let st = self.lock();
        let md = match fh.and_then(|fh| st.handles.get(&fh.0)) {
            Some(h) => h.file.metadata(),
            None => match st.rel(ino.0) {
                Ok(rel) => fs::symlink_metadata(st.abs(&rel)),
                Err(e) => return reply.error(Errno::from_i32(e)),
            },
        };
        match md {
            Ok(md) => reply.attr(&TTL, &attr(ino.0, &md)),
            Err(e) => reply.error(err(&e)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let mut st = self.lock();
        let rel = match st.rel(ino.0) {
            Ok(r) => r,
            Err(e) => return reply.error(Errno::from_i32(e)),
        };
        let abs = st.abs(&rel);
        if let Some(mode) = mode {
            if let Err(e) = fs::set_permissions(&abs, fs::Permissions::from_mode(mode & 0o7777)) {
                return reply.error(err(&e));
            }
        }
        if uid.is_some() || gid.is_some() {
            if let Err(e) = std::os::unix::fs::lchown(&abs, uid, gid) {
                return reply.error(err(&e));
            }
        }
        if let Some(size) = size {
            let file = match fh.and_then(|fh| st.handles.get(&fh.0)) {
                Some(h) => h.file.try_clone(),
                // Read too: the bytes cut off are saved first.
                None => OpenOptions::new().read(true).write(true).open(&abs),
            };
            let res = file
                .map_err(|e| err(&e))
                .and_then(|f| st.truncate(ino.0, &f, size).map_err(Errno::from_i32));
            if let Err(e) = res {
                return reply.error(e);
            }
        }
        if atime.is_some() || mtime.is_some() {
            let ts = |t: Option<TimeOrNow>| match t {
                None => libc::timespec {
                    tv_sec: 0,
                    tv_nsec: libc::UTIME_OMIT,
                },
                Some(TimeOrNow::Now) => libc::timespec {
                    tv_sec: 0,
                    tv_nsec: libc::UTIME_NOW,
                },
                Some(TimeOrNow::SpecificTime(t)) => {
                    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
                    libc::timespec {
                        tv_sec: d.as_secs() as libc::time_t,
                        tv_nsec: d.subsec_nanos() as libc::c_long,
                    }
                }
            };
            let times = [ts(atime), ts(mtime)];
            let p = cpath(&abs);
            // SAFETY: p is a valid C string and times has two elements.
            let rc = unsafe {
                libc::utimensat(
                    libc::AT_FDCWD,
                    p.as_ptr(),
                    times.as_ptr(),
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            };
            if rc != 0 {
                return reply.error(err(&std::io::Error::last_os_error()));
            }
        }
        match fs::symlink_metadata(&abs) {
            Ok(md) => reply.attr(&TTL, &attr(ino.0, &md)),
            Err(e) => reply.error(err(&e)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        let st = self.lock();
        let res = st.rel(ino.0).and_then(|rel| {
            fs::read_link(st.abs(&rel)).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
        });
        match res {
            Ok(t) => reply.data(t.as_os_str().as_bytes()),
            Err(e) => reply.error(Errno::from_i32(e)),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let mut st = self.lock();
        let rel = match st.new_child(parent.0, name) {
            Ok(r) => r,
            Err(e) => return reply.error(Errno::from_i32(e)),
        };
        let p = cpath(&st.abs(&rel));
        // SAFETY: p is a valid C string.
        let rc = unsafe { libc::mknod(p.as_ptr(), mode & !umask, rdev as libc::dev_t) };
        if rc != 0 {
            return reply.error(err(&std::io::Error::last_os_error()));
        }
        self.created_entry(Some(req), &mut st, parent.0, name, reply);
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        let mut st = self.lock();
        let rel = match st.new_child(parent.0, name) {
            Ok(r) => r,
            Err(e) => return reply.error(Errno::from_i32(e)),
        };
        let res = fs::DirBuilder::new()
            .mode(mode & !umask & 0o7777)
            .create(st.abs(&rel));
        if let Err(e) = res {
            return reply.error(err(&e));
        }
        self.created_entry(Some(req), &mut st, parent.0, name, reply);
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.lock().remove(parent.0, name, false) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(Errno::from_i32(e)),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.lock().remove(parent.0, name, true) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(Errno::from_i32(e)),
        }
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let mut st = self.lock();
        let rel = match st.new_child(parent.0, link_name) {
            Ok(r) => r,
            Err(e) => return reply.error(Errno::from_i32(e)),
        };
        if let Err(e) = std::os::unix::fs::symlink(target, st.abs(&rel)) {
            return reply.error(err(&e));
        }
        self.created_entry(Some(req), &mut st, parent.0, link_name, reply);
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        if flags.intersects(RenameFlags::RENAME_EXCHANGE | RenameFlags::RENAME_WHITEOUT) {
            return reply.error(Errno::from_i32(libc::EINVAL));
        }
        let noreplace = flags.contains(RenameFlags::RENAME_NOREPLACE);
        match self
            .lock()
            .rename(parent.0, name, newparent.0, newname, noreplace)
        {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(Errno::from_i32(e)),
        }
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        let mut st = self.lock();
        let (src, dst) = match (st.rel(ino.0), st.child(newparent.0, newname)) {
            (Ok(s), Ok(d)) => (s, d),
            (Err(e), _) | (_, Err(e)) => return reply.error(Errno::from_i32(e)),
        };
        if let Err(e) = fs::hard_link(st.abs(&src), st.abs(&dst)) {
            return reply.error(err(&e));
        }
        self.created_entry(None, &mut st, newparent.0, newname, reply);
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        let mut st = self.lock();
        let rel = match st.rel(ino.0) {
            Ok(r) => r,
            Err(e) => return reply.error(Errno::from_i32(e)),
        };
        let file = match state::open_options(flags.0).open(st.abs(&rel)) {
            Ok(f) => f,
            Err(e) => return reply.error(err(&e)),
        };
        if flags.0 & libc::O_TRUNC != 0 {
            if let Err(e) = st.truncate(ino.0, &file, 0) {
                return reply.error(Errno::from_i32(e));
            }
        }
        let fh = st.add_handle(file, ino.0, state::is_sync(flags.0));
        reply.opened(FileHandle(fh), FopenFlags::empty());
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let st = self.lock();
        let Some(h) = st.handles.get(&fh.0) else {
            return reply.error(Errno::from_i32(libc::EBADF));
        };
        let mut buf = vec![0u8; size as usize];
        let mut got = 0;
        while got < buf.len() {
            match h.file.read_at(&mut buf[got..], offset + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return reply.error(err(&e)),
            }
        }
        reply.data(&buf[..got]);
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        match self.lock().write(fh.0, offset, data) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(Errno::from_i32(e)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.lock().handles.remove(&fh.0);
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        match self.lock().fsync(ino.0) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(Errno::from_i32(e)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let st = self.lock();
        let rel = match st.rel(ino.0) {
            Ok(r) => r,
            Err(e) => return reply.error(Errno::from_i32(e)),
        };
        let rd = match fs::read_dir(st.abs(&rel)) {
            Ok(rd) => rd,
            Err(e) => return reply.error(err(&e)),
        };
        let mut entries = vec![
            (ino.0, FileType::Directory, ".".into()),
            (ROOT, FileType::Directory, "..".into()),
        ];
        for ent in rd.flatten() {
            let name = ent.file_name();
            if ino.0 == ROOT && name == GRAVE {
                continue;
            }
            let Ok(md) = ent.metadata() else { continue };
            let kind = FileType::from_std(md.file_type()).unwrap_or(FileType::RegularFile);
            entries.push((st.fuse_ino(md.ino()), kind, name));
        }
        for (i, (ino, kind, name)) in entries.into_iter().enumerate().skip(offset as usize) {
            if reply.add(INodeNo(ino), (i + 1) as u64, kind, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        self.lock().fsyncdir(ino.0);
        reply.ok();
    }

    /// xattrs are not modelled: ENOSYS, which the kernel remembers, without
    /// fuser's warning on every write (it asks for security.capability).
    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        reply.error(Errno::ENOSYS);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, _size: u32, reply: ReplyXattr) {
        reply.error(Errno::ENOSYS);
    }

    /// Regular files are always ready: ENOSYS, which the kernel remembers,
    /// without fuser's warning (Go programs such as etcd poll their files).
    fn poll(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _ph: PollNotifier,
        _events: PollEvents,
        _flags: PollFlags,
        reply: ReplyPoll,
    ) {
        reply.error(Errno::ENOSYS);
    }

    /// Not modelled: ENOSYS, which the kernel remembers and turns into
    /// EOPNOTSUPP, so programs fall back to writing (etcd preallocates its
    /// WAL segments this way), again without fuser's warning.
    fn fallocate(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _offset: u64,
        _length: u64,
        _mode: i32,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::ENOSYS);
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let st = self.lock();
        let p = cpath(&st.abs(Path::new("")));
        // SAFETY: statvfs is plain old data; p is a valid C string.
        let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
        if unsafe { libc::statvfs(p.as_ptr(), &mut s) } != 0 {
            return reply.error(err(&std::io::Error::last_os_error()));
        }
        let (bfree, bavail) = if st.faults.disk_full {
            (0, 0)
        } else {
            (s.f_bfree, s.f_bavail)
        };
        reply.statfs(
            s.f_blocks,
            bfree,
            bavail,
            s.f_files,
            s.f_ffree,
            s.f_bsize as u32,
            s.f_namemax as u32,
            s.f_frsize as u32,
        );
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        flags: i32,
        reply: ReplyCreate,
    ) {
        let mut st = self.lock();
        let rel = match st.child(parent.0, name) {
            Ok(r) => r,
            Err(e) => return reply.error(Errno::from_i32(e)),
        };
        let abs = st.abs(&rel);
        let existed = fs::symlink_metadata(&abs).is_ok();
        if !existed && st.faults.disk_full {
            crate::state::Counts::bump(&st.counts.enospc);
            return reply.error(Errno::from_i32(libc::ENOSPC));
        }
        if existed && flags & libc::O_EXCL != 0 {
            return reply.error(Errno::from_i32(libc::EEXIST));
        }
        let mut o = state::open_options(flags);
        o.create(true).mode(mode & !umask & 0o7777);
        let file = match o.open(&abs) {
            Ok(f) => f,
            Err(e) => return reply.error(err(&e)),
        };
        if !existed {
            if let Err(e) = give_to_maker(req, &abs) {
                return reply.error(err(&e));
            }
        }
        let (ino, md) = match st.remember(&rel) {
            Ok(x) => x,
            Err(e) => return reply.error(Errno::from_i32(e)),
        };
        if existed && flags & libc::O_TRUNC != 0 {
            if let Err(e) = st.truncate(ino, &file, 0) {
                return reply.error(Errno::from_i32(e));
            }
        }
        if !existed {
            st.log_created(parent.0, name, ino);
        }
        let fh = st.add_handle(file, ino, state::is_sync(flags));
        reply.created(
            &TTL,
            &attr(ino, &md),
            Generation(0),
            FileHandle(fh),
            FopenFlags::empty(),
        );
    }
}
