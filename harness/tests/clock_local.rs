//! Clock faults on a local cluster: nodes started for `--nemesis clock` run
//! under libfaketime, and a clock offset set through the cluster really moves
//! that node's wall clock (and only that node's, and not its monotonic clock).
//! Each node is a small Python loop printing `time.time()` and
//! `time.monotonic()` to its stdout log.

use faultline::cluster::local::{node_dir, LocalCluster};
use faultline::cluster::{Cluster, Db, NodeLaunch, ReadyCheck};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct Ticker;

// select() to wait: under libfaketime with FAKETIME_DONT_FAKE_MONOTONIC,
// Python's time.sleep (clock_nanosleep on CLOCK_MONOTONIC) fails with EINVAL.
const LOOP: &str = "import select, time\n\
while True:\n    print(time.time(), time.monotonic(), flush=True)\n    select.select([], [], [], 0.05)\n";

impl Db for Ticker {
    fn name(&self) -> &str {
        "ticker"
    }
    fn command(&self, _node: &NodeLaunch) -> anyhow::Result<Vec<String>> {
        Ok(vec!["python3".into(), "-c".into(), LOOP.into()])
    }
    fn ready_check(&self, _node: &NodeLaunch) -> anyhow::Result<ReadyCheck> {
        Ok(ReadyCheck::Command(vec!["true".into()]))
    }
}

/// The node's last (wall, monotonic) reading, after waiting (up to 15 s, for
/// a slow start under load) until it printed two lines more than it had.
fn last_reading(run_dir: &Path, node: &str) -> (f64, f64) {
    let log = node_dir(run_dir, node).join("stdout.log");
    let lines = || std::fs::read_to_string(&log).unwrap_or_default();
    let before = lines().lines().count();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut text = lines();
    while text.lines().count() < before + 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        text = lines();
    }
    let line = text.lines().last().expect("the node printed its clock");
    let mut parts = line.split_whitespace().map(|x| x.parse::<f64>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap())
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[test]
fn clock_offsets_move_a_local_nodes_wall_clock() {
    let have_lib = [
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1",
    ]
    .iter()
    .any(|p| Path::new(p).is_file());
    if !have_lib {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "libfaketime is required in CI (scripts/setup installs faketime)"
        );
        eprintln!("skipping: install faketime");
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cluster = LocalCluster::start_with_clock(rt.handle(), &Ticker, 2, &[], dir.path(), true)
        .expect("cluster starts");
    let clock = cluster.clock().expect("nodes run under libfaketime");

    let (wall, _) = last_reading(dir.path(), "n1");
    assert!((wall - now_s()).abs() < 2.0, "no offset yet: {wall}");

    clock.set_clock_offset(0, 60_000).unwrap();
    let (wall, mono_after) = last_reading(dir.path(), "n1");
    let skew = wall - now_s();
    assert!(
        (57.0..=61.0).contains(&skew),
        "n1 jumped ahead 60 s: {skew}"
    );
    let (other, _) = last_reading(dir.path(), "n2");
    assert!(
        (other - now_s()).abs() < 2.0,
        "n2 untouched: {}",
        other - now_s()
    );

    // A jump back: the wall clock follows, the monotonic clock keeps running.
    clock.set_clock_offset(0, -30_000).unwrap();
    let (wall, mono) = last_reading(dir.path(), "n1");
    let skew = wall - now_s();
    assert!((-33.0..=-29.0).contains(&skew), "n1 jumped back: {skew}");
    assert!(
        (0.0..5.0).contains(&(mono - mono_after)),
        "monotonic clock not stepped: {mono_after} -> {mono}"
    );

    clock.reset_clocks().unwrap();
    let (wall, _) = last_reading(dir.path(), "n1");
    assert!((wall - now_s()).abs() < 2.0, "reset: {}", wall - now_s());
    cluster.teardown(dir.path()).unwrap();
}
