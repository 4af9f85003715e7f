//! examples/zookeeper through the real CLI: a three-server ZooKeeper 3.8
//! ensemble and the kazoo adapter.
//!
//! - Registers on `--cluster netns` under partitions: plain reads, served by
//!   the client's own server, must be flagged (ZooKeeper promises sequential
//!   consistency, not linearizable reads); with `--set sync=on` the run is
//!   linearizable.
//! - Locks (the ephemeral-sequential recipe) under pauses: with `--set
//!   fencing=on` the run is valid. (Without fencing the lock checker finds
//!   two holders at once in about 4 of 10 runs: too rare to assert here;
//!   the README has the rate and the command.)
//!
//! Needs zookeeper and python3-kazoo (and, for the register test, root,
//! iproute2 and iptables): scripts/setup installs them. In CI a missing one
//! fails the test; elsewhere the test is skipped with a message.

#[path = "support/cli_run.rs"]
mod cli_run;
#[path = "support/require.rs"]
mod require;

use cli_run::{first_caught, Run};

fn prerequisites(netns: bool) -> bool {
    use require::{require, Need};
    let mut needs = vec![
        Need::File("/usr/share/java/zookeeper.jar", "zookeeper"),
        Need::PythonModule("kazoo", "python3-kazoo"),
    ];
    if netns {
        needs.extend([
            Need::Root,
            Need::IpNetns,
            Need::File("/usr/sbin/iptables", "iptables"),
        ]);
    }
    require(&needs)
}

/// One short seeded run of the README's command for `workload`.
fn run(workload: &str, seed: u64, param: &str, time_limit: u32) -> Run {
    let (seed, limit) = (seed.to_string(), time_limit.to_string());
    let mut args = vec!["--workload", workload];
    if workload == "register" {
        args.extend(["--cluster", "netns", "--nemesis", "partition"]);
    } else {
        args.extend(["--nemesis", "pause"]);
    }
    args.extend([
        "--op-timeout",
        "5",
        "--nemesis-interval",
        "3",
        "--settle",
        "1",
    ]);
    args.extend(["--time-limit", &limit, "--seed", &seed, "--set", param]);
    cli_run::example("zookeeper", &args)
}

/// Runs the unsafe variant for each seed until one is caught (its output
/// contains `anomaly`), then the safe variant once, which must be valid.
/// The time limits (s) are the unsafe and the safe runs'.
fn caught_then_passes(
    workload: &str,
    unsafe_param: &str,
    seeds: &[u64],
    anomaly: &str,
    safe_param: &str,
    (unsafe_limit, safe_limit): (u32, u32),
) {
    let runs = |seed| run(workload, seed, unsafe_param, unsafe_limit);
    let is_caught = |r: &Run| r.code == 1 && r.text().contains(anomaly);
    first_caught(seeds.iter().copied(), runs, is_caught).unwrap_or_else(|outs| {
        panic!(
            "{workload} --set {unsafe_param}: nothing caught in {} runs:\n{outs}",
            seeds.len()
        )
    });
    let r = run(workload, 1, safe_param, safe_limit);
    let out = r.text();
    assert_eq!(r.code, 0, "{workload} --set {safe_param}:\n{out}");
    assert!(out.contains("verdict: valid"), "{out}");
}

#[test]
fn plain_reads_are_flagged_in_partitions_and_synced_reads_pass() {
    if !prerequisites(true) {
        return;
    }
    // 5 of 5 seeded 20 s runs caught in the README's table (first anomaly
    // at 2.5-15.1 s); 10 s runs missed 3 times in a row under CI's load.
    caught_then_passes(
        "register",
        "sync=off",
        &[5, 2, 1, 3],
        "linearizable: invalid",
        "sync=on",
        (20, 10),
    );
}

#[test]
fn fenced_zookeeper_locks_pass_under_pauses() {
    if !prerequisites(false) {
        return;
    }
    // The unfenced variant is caught in about 4 of 10 seeded 20 s runs (a
    // catch needs a pause of the very follower the holder is on): too rare
    // for a CI assertion, so its rate is in the README's table, with the
    // command. The fenced variant must pass.
    let r = run("lock", 9, "fencing=on", 15);
    let out = r.text();
    assert_eq!(r.code, 0, "lock --set fencing=on:\n{out}");
    assert!(out.contains("verdict: valid"), "{out}");
    // Some fenced writes were accepted: a run whose every write failed (an
    // adapter that crashed on each, as one did) would pass vacuously.
    assert!(out.contains("fenced writes"), "{out}");
}
