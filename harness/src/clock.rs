//! Clock faults through libfaketime.
//!
//! A node that may get clock faults is started with libfaketime preloaded and
//! `FAKETIME_TIMESTAMP_FILE` naming a file on its host; libfaketime re-reads
//! that file on every clock call (`FAKETIME_NO_CACHE=1`), so rewriting it skews
//! or jumps the node's clock while it runs. This reaches programs that read the
//! clock through libc (Rust, C, C++), not ones with their own syscalls (Go).
//! Only the wall clock (`CLOCK_REALTIME`, Rust's `SystemTime`) moves;
//! `CLOCK_MONOTONIC` (`Instant`) is left alone. Local clusters, netns and SSH
//! hosts all start their nodes so when `--nemesis` includes `clock`.

use crate::remote::Remote;
use std::path::Path;

/// Where distributions put libfaketime (the multi-threaded variant first: the
/// targets are multi-threaded).
const LIBFAKETIME: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    "/usr/lib/faketime/libfaketimeMT.so.1",
    "/usr/lib64/faketime/libfaketimeMT.so.1",
    "/usr/local/lib/faketime/libfaketimeMT.so.1",
];

/// Clock faults a cluster can apply to its nodes.
pub trait ClockFaults: Send + Sync {
    /// Set node's clock `offset_ms` away from true time (negative: behind).
    /// Calling it again moves the clock to the new offset (a jump).
    fn set_clock_offset(&self, node: usize, offset_ms: i64) -> anyhow::Result<()>;
    /// Every node back to true time.
    fn reset_clocks(&self) -> anyhow::Result<()>;
}

/// A clock fault as data, as the nemesis records it in the history: node name
/// -> offset from true time in milliseconds (`{"n2": -2500, "n4": 60000}`).
pub type ClockOffsets = std::collections::BTreeMap<String, i64>;

/// Put `offsets` in force on a cluster's nodes (by name).
pub fn apply(
    clock: &dyn ClockFaults,
    nodes: &[crate::cluster::NodeInfo],
    offsets: &ClockOffsets,
) -> anyhow::Result<()> {
    for (name, offset_ms) in offsets {
        let i = nodes
            .iter()
            .position(|n| &n.name == name)
            .ok_or_else(|| anyhow::anyhow!("clock fault for unknown node {name:?}"))?;
        clock.set_clock_offset(i, *offset_ms)?;
    }
    Ok(())
}

/// The libfaketime library on a host, or an error saying what to install.
pub fn find_libfaketime(remote: &dyn Remote) -> anyhow::Result<String> {
    for lib in LIBFAKETIME {
        if remote.run(&["test", "-f", lib])?.success() {
            return Ok(lib.to_string());
        }
    }
    anyhow::bail!(
        "{}: libfaketime not found (install the faketime package; looked in {})",
        remote.host(),
        LIBFAKETIME.join(", ")
    )
}

/// The environment that puts a node's clock under `timestamp_file`.
pub fn env(lib: &str, timestamp_file: &Path) -> Vec<(String, String)> {
    vec![
        ("LD_PRELOAD".into(), lib.into()),
        (
            "FAKETIME_TIMESTAMP_FILE".into(),
            timestamp_file.to_string_lossy().into_owned(),
        ),
        ("FAKETIME_NO_CACHE".into(), "1".into()),
        // Only the wall clock steps (as NTP or an operator steps it); the
        // monotonic clock that timeouts and leases should use keeps running.
        ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
    ]
}

/// libfaketime's relative-offset syntax: `+1.500s`, `-0.250s`.
pub fn offset_spec(offset_ms: i64) -> String {
    let sign = if offset_ms < 0 { '-' } else { '+' };
    let ms = offset_ms.unsigned_abs();
    format!("{sign}{}.{:03}s", ms / 1000, ms % 1000)
}

/// Write an offset into a node's timestamp file.
pub fn write_offset(remote: &dyn Remote, file: &Path, offset_ms: i64) -> anyhow::Result<()> {
    remote.write_file(
        file,
        format!("{}\n", offset_spec(offset_ms)).as_bytes(),
        0o644,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remote::local::LocalRemote;
    use std::process::Command;

    #[test]
    fn offsets_in_libfaketime_syntax() {
        assert_eq!(offset_spec(0), "+0.000s");
        assert_eq!(offset_spec(1500), "+1.500s");
        assert_eq!(offset_spec(-250), "-0.250s");
        assert_eq!(offset_spec(-86_400_000), "-86400.000s");
    }

    /// A real program under libfaketime sees the offset written to the file,
    /// and rewriting the file moves its clock.
    #[test]
    fn rewriting_the_file_moves_the_clock() {
        let remote = LocalRemote::host();
        let lib = match find_libfaketime(&remote) {
            Ok(lib) => lib,
            Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
                eprintln!("SKIPPED: {e}");
                return;
            }
            Err(e) => panic!("{e}"),
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("faketime");
        let date = |file: &Path| -> i64 {
            let out = Command::new("date")
                .arg("+%s")
                .envs(env(&lib, file))
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs() as i64
        };
        write_offset(&remote, &file, -3_600_000).unwrap();
        let skewed = date(&file) - now();
        assert!((-3602..=-3598).contains(&skewed), "offset seen: {skewed}");
        write_offset(&remote, &file, 86_400_000).unwrap();
        let jumped = date(&file) - now();
        assert!((86_398..=86_402).contains(&jumped), "offset seen: {jumped}");
    }
}
