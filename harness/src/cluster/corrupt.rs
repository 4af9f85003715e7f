//! Damage to a file at rest (the `corrupt` fault): while a node is down,
//! flip bits in, or truncate, one file of its data directory, as a bad disk
//! or a filesystem bug would. Which file and where come from a seed chosen
//! by the nemesis, so the seed replays the damage.

use super::Cluster;
use anyhow::{bail, Context};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

/// What the damage is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    /// Flip 1 to 8 bits at random places in the file.
    FlipBits,
    /// Cut the file at a random length shorter than it is.
    Truncate,
}

impl How {
    pub fn name(self) -> &'static str {
        match self {
            How::FlipBits => "flip-bits",
            How::Truncate => "truncate",
        }
    }
}

/// One `corrupt` fault: these nodes, this damage, this seed.
#[derive(Clone, Debug, PartialEq)]
pub struct Corruption {
    pub nodes: Vec<usize>,
    pub how: How,
    pub seed: u64,
}

/// Damages one file of node `node`'s data directory (the node is down).
/// Logs which file and what was done; a data directory with no non-empty
/// file is left alone (nothing written yet is nothing to damage).
pub fn apply(cluster: &dyn Cluster, node: usize, c: &Corruption) -> anyhow::Result<()> {
    let name = &cluster.nodes()[node].name;
    let Some(dir) = cluster.local_data_dir(node) else {
        bail!("node {name}: this cluster kind cannot reach the node's files to corrupt them");
    };
    // Each node its own stream, so nodes damaged together differ.
    let mut rng = ChaCha8Rng::seed_from_u64(c.seed ^ (node as u64).wrapping_mul(0x9e37_79b9));
    let what = damage(&dir, c.how, &mut rng).with_context(|| format!("node {name}: corrupt"))?;
    tracing::info!("node {name}: corrupt: {what}");
    Ok(())
}

/// Damages one non-empty regular file under `dir`, chosen by `rng`; says what it did.
pub fn damage(dir: &Path, how: How, rng: &mut ChaCha8Rng) -> anyhow::Result<String> {
    let mut files = Vec::new();
    list_files(dir, &mut files).with_context(|| format!("listing {}", dir.display()))?;
    files.sort();
    if files.is_empty() {
        return Ok(format!("no non-empty file in {}", dir.display()));
    }
    let path = &files[rng.gen_range(0..files.len())];
    let mut bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let len = bytes.len();
    let what = match how {
        How::FlipBits => {
            let flips = rng.gen_range(1..=8);
            for _ in 0..flips {
                let at = rng.gen_range(0..len);
                bytes[at] ^= 1 << rng.gen_range(0..8);
            }
            format!("flipped {flips} bit(s) in {} ({len} bytes)", path.display())
        }
        How::Truncate => {
            let keep = rng.gen_range(0..len);
            bytes.truncate(keep);
            format!("truncated {} from {len} to {keep} bytes", path.display())
        }
    };
    // Rewritten in place and fsynced: on faultline-diskfs the damage is
    // durable, so a later power loss does not undo it.
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(path)?;
        f.write_all(&bytes)?;
        f.sync_all()
    };
    write().with_context(|| format!("rewriting {}", path.display()))?;
    Ok(what)
}

fn list_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            list_files(&entry.path(), out)?;
        } else if kind.is_file() && entry.metadata()?.len() > 0 {
            out.push(entry.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damage_changes_one_file_reproducibly() {
        let run = |how, seed| {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join("sub")).unwrap();
            std::fs::write(dir.path().join("a"), vec![0u8; 100]).unwrap();
            std::fs::write(dir.path().join("sub/b"), vec![0u8; 50]).unwrap();
            std::fs::write(dir.path().join("empty"), b"").unwrap();
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let said = damage(dir.path(), how, &mut rng).unwrap();
            let a = std::fs::read(dir.path().join("a")).unwrap();
            let b = std::fs::read(dir.path().join("sub/b")).unwrap();
            let changed = (a != vec![0u8; 100]) as u8 + (b != vec![0u8; 50]) as u8;
            assert_eq!(changed, 1, "exactly one file damaged: {said}");
            assert!(std::fs::read(dir.path().join("empty")).unwrap().is_empty());
            (said.replace(&dir.path().display().to_string(), ""), a, b)
        };
        let flipped = run(How::FlipBits, 7);
        assert_eq!(flipped, run(How::FlipBits, 7), "the seed replays it");
        assert!(flipped.0.contains("flipped"), "{}", flipped.0);
        let cut = run(How::Truncate, 7);
        assert!(cut.1.len() < 100 || cut.2.len() < 50, "{}", cut.0);
    }

    #[test]
    fn an_empty_data_directory_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let said = damage(dir.path(), How::Truncate, &mut rng).unwrap();
        assert!(said.contains("no non-empty file"), "{said}");
    }
}
