//! examples/etcd-lock through the real CLI: etcd's lock API under process
//! pauses. Without fencing, a holder whose node is paused past its lease
//! writes the protected resource after another client has acquired the lock
//! (Jepsen 2020): the lock checker must find two holders at once. With
//! `--set fencing=on` the run is valid: no stale write was accepted.

#[path = "support/cli_run.rs"]
mod cli_run;
#[path = "support/require.rs"]
mod require;

use cli_run::{first_caught, Run};

/// etcd present, or: in CI a failure, elsewhere a skip with a message.
fn etcd_present() -> bool {
    require::require(&[require::Need::File("/usr/bin/etcd", "etcd-server")])
}

/// One short seeded run of the README's command on a local cluster.
fn run(seed: u64, fencing: &str) -> Run {
    let (seed, set) = (seed.to_string(), format!("fencing={fencing}"));
    let pauses = [
        "--nemesis",
        "pause",
        "--nemesis-interval",
        "3",
        "--op-timeout",
        "5",
    ];
    let mut args = vec!["--workload", "lock", "--time-limit", "30", "--settle", "1"];
    args.extend(pauses);
    args.extend(["--seed", &seed, "--set", &set]);
    cli_run::example("etcd-lock", &args)
}

#[test]
fn unfenced_etcd_locks_are_caught_and_fenced_ones_pass() {
    if !etcd_present() {
        return;
    }
    // A catch needs a pause of a follower that a holder talks to: 3 of 5
    // seeded runs in the README's table, and under a loaded machine fewer:
    // up to 5 runs, the README's caught seeds first.
    let overlap = |r: &Run| r.code == 1 && r.text().contains("overlapping holds");
    first_caught([5, 4, 2, 1, 3], |seed| run(seed, "off"), overlap)
        .unwrap_or_else(|outs| panic!("no overlap in 5 unfenced runs:\n{outs}"));

    // Fenced: the holders' writes are judged (no older token accepted after
    // a newer grant or write, in real time and in etcd's revision order),
    // not their leases, which etcd 3.4 may revoke early (README): valid.
    let r = run(1, "on");
    assert_eq!(r.code, 0, "{}", r.text());
    assert!(r.text().contains("fenced writes"), "{}", r.text());
}
