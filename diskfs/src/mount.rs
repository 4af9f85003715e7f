//! Mounting, serving until told to stop, and unmounting.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use fuser::{Config, MountOption, SessionACL};

use crate::fs::DiskFs;
use crate::state::State;

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
    if let Err(e) = crate::control::serve(control, state) {
        let _ = session.umount_and_join();
        return Err(e);
    }
    let timeout = libc::timespec {
        tv_sec: 0,
        tv_nsec: 200_000_000,
    };
    loop {
        // SAFETY: set is an initialised sigset; no siginfo wanted.
        let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &timeout) };
        if sig > 0 || session.guard.is_finished() {
            break;
        }
    }
    let _ = std::fs::remove_file(control);
    if session.guard.is_finished() {
        let _ = session.join();
        return Ok(());
    }
    session
        .umount_and_join()
        .with_context(|| format!("unmounting {}", mountpoint.display()))
}

/// Whether a FUSE filesystem is mounted at `mountpoint` (per /proc/self/mountinfo).
pub fn is_mounted(mountpoint: &Path) -> bool {
    let Ok(mp) = mountpoint
        .canonicalize()
        .or_else(|_| Ok::<_, ()>(mountpoint.to_path_buf()))
    else {
        return false;
    };
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
