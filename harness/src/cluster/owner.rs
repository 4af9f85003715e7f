//! Who owns a run's leftovers: the controller process, named by its machine
//! (boot id), PID and start time, so that a PID the kernel handed to another
//! process since is never taken for it. `faultline heal` acts only on runs
//! whose owner is gone.

use serde::{Deserialize, Serialize};

/// A process on some machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Host name of its machine (for messages).
    pub host: String,
    /// `/proc/sys/kernel/random/boot_id` of its machine: one per boot.
    pub boot_id: String,
    pub pid: u32,
    /// Start time in clock ticks since boot (`/proc/<pid>/stat`, field 22).
    pub start: u64,
}

/// Whether an owner still runs, as far as this machine can tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Liveness {
    Alive,
    Gone,
    /// It ran on another machine: this one cannot tell.
    Elsewhere(String),
}

impl Owner {
    /// This process.
    pub fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            host: host_name(),
            boot_id: boot_id(),
            pid,
            start: start_time(pid).unwrap_or(0),
        }
    }

    /// Process `pid` of this machine, if it exists.
    pub fn local(pid: u32) -> Option<Owner> {
        Some(Owner {
            host: host_name(),
            boot_id: boot_id(),
            pid,
            start: start_time(pid)?,
        })
    }

    pub fn liveness(&self) -> Liveness {
        if self.boot_id != boot_id() {
            // Same machine name, another boot: everything of that boot is gone.
            return if self.host == host_name() {
                Liveness::Gone
            } else {
                Liveness::Elsewhere(self.host.clone())
            };
        }
        match start_time(self.pid) {
            Some(start) if start == self.start => Liveness::Alive,
            _ => Liveness::Gone,
        }
    }

    pub fn is_gone(&self) -> bool {
        self.liveness() == Liveness::Gone
    }

    /// One line of JSON, as owner files hold it.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("owner serializes")
    }

    /// An owner file's contents; a bare PID (files of older versions) is
    /// taken as a process of this machine with an unknown start time.
    pub fn parse(text: &str) -> Option<Owner> {
        let text = text.trim();
        if let Ok(owner) = serde_json::from_str(text) {
            return Some(owner);
        }
        let pid: u32 = text.parse().ok()?;
        Some(Owner::local(pid).unwrap_or(Owner {
            host: host_name(),
            boot_id: boot_id(),
            pid,
            start: 0,
        }))
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PID {} on {}", self.pid, self.host)
    }
}

/// A process's start time in clock ticks since boot; `None` when it is gone
/// (a zombie counts as gone).
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count
    // fields after its closing parenthesis.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if matches!(fields.first(), Some(&"Z") | Some(&"X")) {
        return None;
    }
    // rest starts at field 3 (state); start time is field 22.
    fields.get(22 - 3)?.parse().ok()
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reaped_child_is_gone() {
        let me = Owner::current();
        assert!(me.start > 0);
        assert_eq!(me.liveness(), Liveness::Alive);
        assert_eq!(Owner::parse(&me.to_line()), Some(me.clone()));
        // Same PID, another start time: a reused PID is not the owner.
        let reused = Owner {
            start: me.start + 1,
            ..me.clone()
        };
        assert_eq!(reused.liveness(), Liveness::Gone);
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(start_time(pid).is_none());
        let elsewhere = Owner {
            host: "elsewhere.example".into(),
            boot_id: "other".into(),
            ..me
        };
        assert_eq!(
            elsewhere.liveness(),
            Liveness::Elsewhere("elsewhere.example".into())
        );
    }
}
