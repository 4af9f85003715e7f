//! What a test needs from the machine (root, packages, built binaries):
//! checked in one place, so every test says the same thing when something is
//! missing. With CI=true a missing prerequisite fails the test; elsewhere the
//! test is skipped with a message that says what to install.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// One prerequisite.
pub enum Need {
    /// Running as root (namespaces, iptables, FUSE).
    Root,
    /// `ip netns` works (iproute2).
    IpNetns,
    /// A file that must exist, and what it is (the package to install).
    File(&'static str, &'static str),
    /// A module the system Python (/usr/bin/python3) must import, and its
    /// package.
    PythonModule(&'static str, &'static str),
    /// A binary of this workspace, built next to the faultline binary.
    Built(&'static str),
}

impl Need {
    /// What is missing, if anything.
    fn missing(&self) -> Option<String> {
        let present = match self {
            Need::Root => (unsafe { libc::geteuid() }) == 0,
            Need::IpNetns => Command::new("ip")
                .args(["netns", "list"])
                .output()
                .is_ok_and(|o| o.status.success()),
            Need::File(path, _) => Path::new(path).exists(),
            Need::PythonModule(module, _) => Command::new("/usr/bin/python3")
                .args(["-c", &format!("import {module}")])
                .output()
                .is_ok_and(|o| o.status.success()),
            Need::Built(name) => Path::new(env!("CARGO_BIN_EXE_faultline"))
                .with_file_name(name)
                .is_file(),
        };
        if present {
            return None;
        }
        Some(match self {
            Need::Root => "root".into(),
            Need::IpNetns => "ip netns (iproute2)".into(),
            Need::File(path, what) => format!("{what} ({path})"),
            Need::PythonModule(module, what) => format!("{what} (python module {module})"),
            Need::Built(name) => format!("{name} built next to faultline"),
        })
    }
}

/// Whether every need is met. If not: with CI=true a panic naming what is
/// missing, else a message on stderr and `false` (the caller returns).
pub fn require(needs: &[Need]) -> bool {
    let missing: Vec<String> = needs.iter().filter_map(Need::missing).collect();
    if missing.is_empty() {
        return true;
    }
    let built = needs.iter().any(|n| matches!(n, Need::Built(_)));
    let how = if built {
        "run scripts/setup as root and cargo build --release --workspace"
    } else {
        "run scripts/setup as root"
    };
    let msg = format!("needs {}; {how}", missing.join(", "));
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
    eprintln!("SKIPPED: {msg}");
    false
}
