//! Mounting, serving until told to stop, and unmounting.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use fuser::{Config, MountOption, SessionACL};

use crate::fs::DiskFs;
use crate::state::State;

/// A mounted filesystem served by threads of this process. Dropping it
/// unmounts.
pub struct Mounted {
    session: Option<fuser::BackgroundSession>,
    state: Arc<Mutex<State>>,
    mountpoint: PathBuf,
}

/// Mounts the filesystem of `backing` at `mountpoint`, served in this process.
pub fn mount(backing: &Path, mountpoint: &Path) -> Result<Mounted> {
    let state = State::new(backing)
        .with_context(|| format!("opening backing directory {}", backing.display()))?;
    let state = Arc::new(Mutex::new(state));
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName("faultline-diskfs".into()),
        MountOption::Subtype("faultline-diskfs".into()),
        MountOption::DefaultPermissions,
    ];
    config.acl = SessionACL::All;
    let fs = DiskFs {
        state: state.clone(),
    };
    let session = fuser::spawn_mount(fs, mountpoint, &config)
        .with_context(|| format!("mounting FUSE at {}", mountpoint.display()))?;
    Ok(Mounted {
        session: Some(session),
        state,
        mountpoint: mountpoint.to_path_buf(),
    })
}

impl Mounted {
    /// Carries out a control command (see [`crate::control`]).
    pub fn command(&self, cmd: &str) -> Result<String> {
        crate::control::apply(&self.state, cmd).map_err(|e| anyhow::anyhow!(e))
    }

    pub fn state(&self) -> Arc<Mutex<State>> {
        self.state.clone()
    }

    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// Whether the serving thread ended (someone unmounted it).
    pub fn is_finished(&self) -> bool {
        self.session.as_ref().is_none_or(|s| s.guard.is_finished())
    }

    /// Unmounts and waits for the serving thread; lazily detaches a mount
    /// that is busy or whose serving ended badly, so nothing stays mounted.
    pub fn unmount(mut self) -> Result<()> {
        self.finish()
    }

    fn finish(&mut self) -> Result<()> {
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        let clean = session.umount_and_join();
        unmount(&self.mountpoint)?;
        clean.with_context(|| format!("unmounting {}", self.mountpoint.display()))
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            eprintln!("faultline-diskfs: {e:#}");
        }
    }
}

/// Mounts the filesystem of `backing` at `mountpoint`, serves the control
/// socket at `control`, and blocks until SIGTERM/SIGINT (then unmounts) or
/// until someone else unmounts it.
pub fn serve(backing: &Path, mountpoint: &Path, control: &Path) -> Result<()> {
    // Block the stop signals before any thread starts, so only sigtimedwait sees them.
    // SAFETY: plain libc signal-set manipulation on a local set.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    let mounted = mount(backing, mountpoint)?;
    crate::control::serve(control, mounted.state())?;
    let timeout = libc::timespec {
        tv_sec: 0,
        tv_nsec: 200_000_000,
    };
    loop {
        // SAFETY: set is an initialised sigset; no siginfo wanted.
        let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &timeout) };
        if sig > 0 || mounted.is_finished() {
            break;
        }
    }
    let _ = std::fs::remove_file(control);
    mounted.unmount()
}

/// Whether a FUSE filesystem is mounted at `mountpoint` (per /proc/self/mountinfo).
pub fn is_mounted(mountpoint: &Path) -> bool {
    // A mount whose server died cannot be stat'ed (ENOTCONN): resolve its parent.
    let mp = mountpoint.canonicalize().unwrap_or_else(|_| {
        match (mountpoint.parent(), mountpoint.file_name()) {
            (Some(parent), Some(name)) => parent
                .canonicalize()
                .map(|p| p.join(name))
                .unwrap_or_else(|_| mountpoint.to_path_buf()),
            _ => mountpoint.to_path_buf(),
        }
    });
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    info.lines().any(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        let fstype = f.iter().skip_while(|x| **x != "-").nth(1);
        f.get(4).map(|p| Path::new(p) == mp).unwrap_or(false)
            && fstype.is_some_and(|t| t.starts_with("fuse"))
    })
}

/// Unmounts `mountpoint` lazily (MNT_DETACH), so a dead server or a busy
/// mount never leaves it behind. Succeeds when nothing is mounted there.
pub fn unmount(mountpoint: &Path) -> Result<()> {
    for _ in 0..50 {
        if !is_mounted(mountpoint) {
            return Ok(());
        }
        let p = std::ffi::CString::new(mountpoint.as_os_str().as_encoded_bytes())
            .context("mountpoint has a NUL byte")?;
        // SAFETY: p is a valid C string.
        let rc = unsafe { libc::umount2(p.as_ptr(), libc::MNT_DETACH) };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EINVAL) {
                bail!("umount2({}): {e}", mountpoint.display());
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("{} is still mounted", mountpoint.display())
}
