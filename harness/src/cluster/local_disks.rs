//! Node data directories on faultline-diskfs, for disk faults on a local or
//! netns cluster: each node's `data/` is a FUSE mount (served by this
//! process) over `disk/` beside it, which holds what a power loss would keep.

use anyhow::{bail, Context};
use faultline_diskfs::Mounted;
use std::path::Path;
use std::sync::Mutex;

pub struct Disks {
    mounts: Vec<Mutex<Option<Mounted>>>,
    names: Vec<String>,
}

impl Disks {
    /// Mounts diskfs over `node_dirs[i]/data` for each node. Fails when FUSE
    /// is missing, saying so.
    pub fn mount(names: &[String], node_dirs: &[std::path::PathBuf]) -> anyhow::Result<Disks> {
        if !Path::new("/dev/fuse").exists() {
            bail!("disk faults need FUSE and /dev/fuse is missing (load the fuse module)");
        }
        let mut disks = Disks {
            mounts: Vec::new(),
            names: names.to_vec(),
        };
        for (name, dir) in names.iter().zip(node_dirs) {
            let backing = dir.join("disk");
            std::fs::create_dir_all(&backing)
                .with_context(|| format!("node {name}: create {}", backing.display()))?;
            // Whatever an earlier mount at this path left, detach it first.
            faultline_diskfs::unmount(&dir.join("data"))?;
            let m = faultline_diskfs::mount(&backing, &dir.join("data"))
                .with_context(|| format!("node {name}: mount faultline-diskfs"))?;
            disks.mounts.push(Mutex::new(Some(m)));
        }
        Ok(disks)
    }

    /// Sends a diskfs command (`power-loss`, `torn-write`, ...) to one node's disk.
    pub fn command(&self, node: usize, cmd: &str) -> anyhow::Result<String> {
        let name = &self.names[node];
        let m = self.mounts[node].lock().unwrap();
        let Some(m) = m.as_ref() else {
            bail!("node {name}: its disk is already unmounted");
        };
        let answer = m
            .command(cmd)
            .with_context(|| format!("node {name}: {cmd}"))?;
        // In the run's log: what each fault did (and `status`'s counts).
        tracing::info!("node {name}: diskfs {cmd}: {answer}");
        Ok(answer)
    }

    /// Unmounts every node's disk (after the nodes stopped). Safe to call twice.
    pub fn unmount_all(&self) -> anyhow::Result<()> {
        let mut first_err = None;
        for (m, name) in self.mounts.iter().zip(&self.names) {
            if let Some(m) = m.lock().unwrap().take() {
                if let Err(e) = m.unmount() {
                    first_err.get_or_insert(e.context(format!("node {name}: unmount disk")));
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// Detaches the diskfs mounts a dead controller left under `run_dir/nodes/*/data`.
/// Returns the nodes whose disk was unmounted.
pub fn unmount_leftover(run_dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    let Ok(entries) = std::fs::read_dir(run_dir.join("nodes")) else {
        return Ok(done);
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let data = entry.path().join("data");
        if faultline_diskfs::is_mounted(&data) {
            faultline_diskfs::unmount(&data)?;
            done.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    done.sort();
    Ok(done)
}
