//! `--bug` switches are checked before anything starts: an unknown one exits
//! 254 naming the target's switches, with no run recorded and no node
//! started. The harness's list of each target's switches is the one the
//! target binary itself accepts.

use faultline::cluster::targets::Target;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_faultline");

#[test]
fn an_unknown_bug_fails_before_anything_starts_naming_the_switches() {
    for (target, bug) in [("raft-kv", "no-such"), ("lock", "stale-read")] {
        let store = tempfile::tempdir().unwrap();
        let started = std::time::Instant::now();
        let out = Command::new(BIN)
            .arg("--store")
            .arg(store.path())
            .args(["test", "--quiet", "--target", target, "--bug", bug])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(254),
            "{target} --bug {bug}: {stderr}"
        );
        let switches = if target == "lock" {
            "no-fencing, lease-by-local-clock"
        } else {
            "stale-read, forget-vote, early-commit"
        };
        assert!(
            stderr.contains(bug) && stderr.contains(target) && stderr.contains(switches),
            "{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(started.elapsed().as_secs() < 5, "no cluster was started");
        let stored: Vec<_> = std::fs::read_dir(store.path()).unwrap().collect();
        assert!(stored.is_empty(), "nothing recorded: {stored:?}");
    }
}

/// Each bundled binary, given a switch it does not know, lists the ones it
/// does: they are the ones `Target::bugs` says.
#[test]
fn the_registry_lists_the_switches_each_target_binary_knows() {
    let dir = Path::new(BIN).parent().unwrap();
    for target in Target::ALL {
        let bin = dir.join(target.binary());
        if !bin.is_file() {
            let msg = format!(
                "{} is not built (cargo build --release --workspace)",
                bin.display()
            );
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
            eprintln!("SKIPPED: {msg}");
            return;
        }
        let data = tempfile::tempdir().unwrap();
        let out = Command::new(&bin)
            .args([
                "--id",
                "n1",
                "--listen",
                "127.0.0.1:1",
                "--peers",
                "n1=127.0.0.1:1",
            ])
            .arg("--data-dir")
            .arg(data.path())
            .args(["--bug", "no-such"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{target} accepted --bug no-such");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let known = stderr
            .lines()
            .find_map(|l| l.split_once("known: ").map(|(_, k)| k.trim().to_string()))
            .unwrap_or_else(|| panic!("{target}: no list of known switches in {stderr}"));
        let binary_says: BTreeSet<&str> = known.split(", ").collect();
        let registry_says: BTreeSet<&str> = target.bugs().iter().copied().collect();
        assert_eq!(binary_says, registry_says, "{target}");
    }
}
