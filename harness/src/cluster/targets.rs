//! The bundled targets (crate faultline-targets) as a [`Db`]: their binaries
//! sit next to `faultline` in target/<profile>/.

use super::{Db, NodeLaunch};
use crate::exit::bad_input;
use std::path::{Path, PathBuf};

/// `--target` names and the binary each runs.
pub const TARGETS: [(&str, &str); 3] = [
    ("raft-kv", "raft-kv"),
    ("paxos-register", "paxos-register"),
    ("lock", "lock-service"),
];

/// A bundled target.
pub struct BundledTarget {
    name: String,
    binary: PathBuf,
}

impl BundledTarget {
    /// The target called `name`, with its binary found next to the running
    /// executable (or one directory up, for test binaries in target/<profile>/deps).
    pub fn find(name: &str) -> anyhow::Result<Self> {
        let Some((_, bin)) = TARGETS.iter().find(|(t, _)| *t == name) else {
            let names: Vec<_> = TARGETS.iter().map(|(t, _)| *t).collect();
            return Err(bad_input(format!(
                "--target {name:?} is not a bundled target; targets: {}",
                names.join(", ")
            )));
        };
        let exe = std::env::current_exe()?;
        let dir = exe.parent().unwrap_or(Path::new("."));
        let candidates = [dir.join(bin), dir.join("..").join(bin)];
        match candidates.iter().find(|p| p.is_file()) {
            Some(p) => Ok(BundledTarget {
                name: name.to_string(),
                binary: p.clone(),
            }),
            None => Err(bad_input(format!(
                "--target {name}: binary {bin} not found in {}; build the workspace first \
                 (cargo build --release)",
                dir.display()
            ))),
        }
    }
}

impl Db for BundledTarget {
    fn name(&self) -> &str {
        &self.name
    }

    fn command(&self, node: &NodeLaunch) -> anyhow::Result<Vec<String>> {
        let peers: Vec<String> = node.peers.iter().map(|(n, a)| format!("{n}={a}")).collect();
        let mut cmd = vec![
            self.binary.display().to_string(),
            "--id".into(),
            node.name.clone(),
            "--listen".into(),
            node.listen.clone(),
            "--peers".into(),
            peers.join(","),
            "--data-dir".into(),
            node.data_dir.display().to_string(),
        ];
        for bug in &node.bugs {
            cmd.push("--bug".into());
            cmd.push(bug.clone());
        }
        Ok(cmd)
    }
}
