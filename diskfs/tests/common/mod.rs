//! A real mount of faultline-diskfs for tests, unmounted on drop (even when
//! the test panics).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub struct Mount {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
}

impl Mount {
    /// Mounts a fresh backing dir, or returns None (skip) when /dev/fuse is
    /// missing outside CI. In CI a missing /dev/fuse fails the test.
    pub fn new() -> Option<Mount> {
        if !Path::new("/dev/fuse").exists() {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("/dev/fuse is missing: the diskfs tests need FUSE");
            }
            eprintln!("SKIP: /dev/fuse is missing; diskfs tests need FUSE");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("backing")).unwrap();
        std::fs::create_dir(dir.path().join("mnt")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_faultline-diskfs"))
            .arg("mount")
            .arg(dir.path().join("backing"))
            .arg(dir.path().join("mnt"))
            .arg("--control")
            .arg(dir.path().join("control.sock"))
            .spawn()
            .expect("spawn faultline-diskfs");
        let m = Mount {
            dir,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if faultline_diskfs::is_mounted(&m.mnt()) && m.try_ctl("status").is_ok() {
                return Some(m);
            }
            assert!(Instant::now() < deadline, "diskfs did not come up in 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn mnt(&self) -> PathBuf {
        self.dir.path().join("mnt")
    }

    pub fn backing(&self) -> PathBuf {
        self.dir.path().join("backing")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.mnt().join(rel)
    }

    fn try_ctl(&self, cmd: &str) -> anyhow::Result<String> {
        faultline_diskfs::control::send(&self.dir.path().join("control.sock"), cmd)
    }

    pub fn ctl(&self, cmd: &str) -> String {
        self.try_ctl(cmd)
            .unwrap_or_else(|e| panic!("control {cmd}: {e:#}"))
    }

    /// fsync of a directory under the mount.
    pub fn fsync_dir(&self, rel: &str) {
        std::fs::File::open(self.path(rel))
            .and_then(|f| f.sync_all())
            .unwrap_or_else(|e| panic!("fsync dir {rel}: {e}"));
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: signalling our own child by pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        // Whatever happened above, nothing stays mounted.
        if let Err(e) = faultline_diskfs::unmount(&self.mnt()) {
            eprintln!("diskfs test: {e:#}");
        }
    }
}
