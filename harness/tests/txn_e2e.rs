//! Transactions end to end on raft-kv: real node processes, real TCP through
//! the fault proxies, real faults, the Elle-style checker. Correct raft-kv
//! (each txn one log entry) is strict serializable under partitions and
//! kills; each txn bug switch is caught, each as its own anomaly class:
//! - `txn-split`: cycles without real time (G0, G1c, G-single) or a txn that
//!   misses its own writes (`internal`): not even read-committed;
//! - `txn-stale-reads`: only real-time (and process) cycles: serializable,
//!   not strict serializable;
//! - `txn-snapshot-isolation`: passes `--consistency-models
//!   snapshot-isolation`, fails serializable with write skew (G2-item).
//!
//! Runs are short (6 s, seeded); a switch gets up to three seeds (rates over
//! longer runs are in scripts/detection-matrix).

#[path = "support/cli_run.rs"]
mod cli_run;
#[path = "support/require.rs"]
mod require;

use cli_run::{first_caught, Run, BIN};
use faultline_checkers::evidence::TxnEvidence;
use faultline_checkers::Results;
use std::path::Path;
use std::process::Command;

fn built() -> bool {
    require::require(&[require::Need::Built("raft-kv")])
}

/// A finished run and its txn evidence.
struct TxnRun {
    run: Run,
    evidence: TxnEvidence,
}

impl std::ops::Deref for TxnRun {
    type Target = Run;
    fn deref(&self) -> &Run {
        &self.run
    }
}

impl std::borrow::Borrow<Run> for TxnRun {
    fn borrow(&self) -> &Run {
        &self.run
    }
}

/// `faultline test` on 5 raft-kv nodes for 6 s, faults every 2 s.
fn run(workload: &str, nemesis: &str, args: &[&str], seed: u64) -> TxnRun {
    let seed = seed.to_string();
    let mut all = vec![
        "--target",
        "raft-kv",
        "--workload",
        workload,
        "--nemesis",
        nemesis,
    ];
    all.extend([
        "--time-limit",
        "6",
        "--nemesis-interval",
        "2",
        "--seed",
        &seed,
    ]);
    all.extend(args);
    let run = cli_run::test(&all);
    let evidence = evidence(&run.dir);
    TxnRun { run, evidence }
}

/// The txn checker's evidence in a run's results.json.
fn evidence(dir: &Path) -> TxnEvidence {
    let results: Results =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results.checks.len(), 1, "one checker: {:?}", results.checks);
    results.checks[0]
        .details
        .txn()
        .expect("txn evidence")
        .clone()
}

/// `faultline check DIR` with `args`: its exit code and the evidence it wrote.
fn recheck(dir: &Path, args: &[&str]) -> (i32, TxnEvidence) {
    let out = Command::new(BIN)
        .arg("check")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), evidence(dir))
}

/// The first of eight seeded runs that `is_caught`, or every run's output.
fn caught(bug: &str, nemesis: &str, args: &[&str], is_caught: impl Fn(&TxnRun) -> bool) -> TxnRun {
    let mut all = vec!["--bug", bug];
    all.extend_from_slice(args);
    let runs = |seed| run("list-append", nemesis, &all, seed);
    first_caught(1..=8, runs, is_caught)
        .unwrap_or_else(|outs| panic!("{bug} not caught in 8 runs:\n{outs}"))
}

#[test]
fn correct_raft_kv_txns_are_strict_serializable_under_partitions_and_kills() {
    if !built() {
        return;
    }
    let r = run("list-append", "partition,kill", &[], 5);
    assert_eq!(r.code, 0, "false alarm:\n{}", r.stdout);
    assert_eq!(r.evidence.consistency_models, ["strict-serializable"]);
    assert!(r.evidence.anomaly_types.is_empty(), "{:?}", r.evidence);
    assert!(
        r.evidence.stats.ok > 100,
        "too few txns: {:?}",
        r.evidence.stats
    );
    // rw-register goes through the same path.
    let r = run("rw-register", "partition", &[], 6);
    assert_eq!(r.code, 0, "false alarm:\n{}", r.stdout);
    assert!(
        r.evidence.stats.ok > 100,
        "too few txns: {:?}",
        r.evidence.stats
    );
}

#[test]
fn txn_split_is_caught_as_non_atomic_txns() {
    if !built() {
        return;
    }
    let non_atomic = ["G0", "G1b", "G1c", "G-single", "internal"];
    // The split parts of two txns interleave only when the txns overlap;
    // at 100 ops/s a txn takes ~1 ms and they seldom do, so as fast as
    // raft-kv answers (2 of 2 runs by hand: thousands of G0/G1c/G-single).
    let r = caught("txn-split", "partition", &["--rate", "0"], |r| {
        r.code == 1
            && r.evidence
                .anomaly_types
                .iter()
                .any(|a| non_atomic.contains(&a.as_str()))
    });
    // Weaker than serializable: read-committed (or weaker) is ruled out.
    let weak = ["read-uncommitted", "read-committed"];
    assert!(
        r.evidence.not.iter().any(|m| weak.contains(&m.as_str())),
        "{:?}",
        r.evidence
    );
}

#[test]
fn txn_stale_reads_are_caught_only_in_real_time() {
    if !built() {
        return;
    }
    let r = caught("txn-stale-reads", "partition", &[], |r| r.code == 1);
    let types = &r.evidence.anomaly_types;
    assert!(
        types.iter().any(|a| a.ends_with("-realtime")),
        "{types:?}\n{}",
        r.stdout
    );
    assert!(
        types
            .iter()
            .all(|a| a.ends_with("-realtime") || a.ends_with("-process")),
        "every read is a consistent prefix: {types:?}"
    );
    let (code, e) = recheck(&r.dir, &["--consistency-models", "serializable"]);
    assert_eq!(code, 0, "serializable: {e:?}");
}

#[test]
fn txn_snapshot_isolation_passes_si_and_fails_serializable_with_write_skew() {
    if !built() {
        return;
    }
    // Every run passes the snapshot-isolation check; one shows write skew,
    // which needs txns whose snapshots overlap: ten clients as fast as
    // raft-kv answers. At 100 ops/s a txn takes ~1 ms, two seldom overlap,
    // and a CI run saw no write skew in 8 runs; at `--rate 0`, 3 of 3 runs
    // by hand passed snapshot isolation with 466-544 G2-items each.
    let si = [
        "--consistency-models",
        "snapshot-isolation",
        "--concurrency",
        "10",
        "--rate",
        "0",
    ];
    let r = caught("txn-snapshot-isolation", "partition", &si, |r| {
        assert_eq!(r.code, 0, "not snapshot isolation:\n{}", r.stdout);
        assert_eq!(r.evidence.consistency_models, ["snapshot-isolation"]);
        let (code, e) = recheck(&r.dir, &["--consistency-models", "serializable"]);
        code == 1 && e.anomaly_types.iter().any(|a| a == "G2-item")
    });
    let (_, e) = recheck(&r.dir, &["--consistency-models", "serializable"]);
    assert!(
        e.anomaly_types.iter().all(|a| a.starts_with("G2")),
        "only write skew: {:?}",
        e.anomaly_types
    );
    // A re-check without flags takes the models the run was tested for.
    let (code, e) = recheck(&r.dir, &[]);
    assert_eq!(
        (code, e.consistency_models),
        (0, vec!["snapshot-isolation".to_string()])
    );
}
