//! The bank workload end to end on raft-kv: real node processes, real TCP
//! through the fault proxies, real faults. Correct raft-kv (a txn is one log
//! entry) keeps the total under partitions and kills; `txn-split` (the
//! micro-ops run as separate Raft ops) lets reads see a transfer's debit
//! without its credit, or a transfer cut in half, and is caught as a wrong
//! total. Runs are short (6 s, seeded).

#[path = "support/require.rs"]
mod require;

use faultline_checkers::evidence::BankEvidence;
use faultline_checkers::Results;
use std::path::PathBuf;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_faultline");

/// A finished run: exit code, stdout, its directory and its bank evidence.
struct Run {
    code: i32,
    stdout: String,
    dir: PathBuf,
    evidence: BankEvidence,
    blamed: Vec<u64>,
    _store: tempfile::TempDir,
}

/// `faultline test --workload bank` on 5 raft-kv nodes for 6 s.
fn run(nemesis: &str, args: &[&str], seed: u64) -> Run {
    let store = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .arg("--store")
        .arg(store.path())
        .args([
            "test",
            "--quiet",
            "--target",
            "raft-kv",
            "--workload",
            "bank",
        ])
        .args(["--nemesis", nemesis, "--nemesis-interval", "2"])
        .args(["--time-limit", "6", "--seed", &seed.to_string()])
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "faultline test {args:?} exited {code}\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = std::fs::canonicalize(store.path().join("latest")).unwrap();
    let results: Results =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results.checks.len(), 1, "{:?}", results.checks);
    let check = &results.checks[0];
    assert_eq!(check.checker, "bank");
    Run {
        code,
        stdout,
        dir,
        evidence: check.details.bank().expect("bank evidence").clone(),
        blamed: check.blamed.clone(),
        _store: store,
    }
}

#[test]
fn correct_raft_kv_keeps_the_total_under_partitions_and_kills() {
    if !require::require(&[require::Need::Built("raft-kv")]) {
        return;
    }
    let r = run("partition,kill", &[], 3);
    assert_eq!(r.code, 0, "false alarm:\n{}", r.stdout);
    let e = &r.evidence;
    assert_eq!((e.accounts.len(), e.total), (5, 100), "{e:?}");
    assert!(e.reads > 50 && e.transfers_ok > 50, "too few ops: {e:?}");
    assert_eq!(e.wrong_total_count + e.negative_count, 0);
    let plot = std::fs::read_to_string(r.dir.join("bank.svg")).unwrap();
    assert!(plot.contains("Total of each read of the accounts"));
    assert!(plot.contains("opening total 100"));
}

#[test]
fn txn_split_is_caught_as_a_wrong_total() {
    if !require::require(&[require::Need::Built("raft-kv")]) {
        return;
    }
    let mut outs = Vec::new();
    for seed in 1..=3 {
        let r = run("partition", &["--bug", "txn-split"], seed);
        if r.code == 1 && r.evidence.wrong_total_count > 0 {
            let first = &r.evidence.wrong_totals[0];
            assert_ne!(first.total, r.evidence.total);
            assert!(r.blamed.contains(&first.op), "blamed names the read");
            assert!(
                r.stdout.contains("wrong total") || r.stdout.contains("INVALID"),
                "{}",
                r.stdout
            );
            return;
        }
        outs.push(format!("seed {seed}: exit {}\n{}", r.code, r.stdout));
    }
    panic!("txn-split not caught in 3 runs:\n{}", outs.join("\n"));
}
