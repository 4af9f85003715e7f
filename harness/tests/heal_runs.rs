//! `faultline heal` acts only on runs whose controller is gone, and a killed
//! controller's nodes do not outlive it: two netns runs at once, one of them
//! killed; a local run killed mid-test; leftovers of a local run stopped by PID.

#[path = "support/netfaults.rs"]
mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use support::eventually;

const BIN: &str = env!("CARGO_BIN_EXE_faultline");

/// A `faultline test` in the background, and the run id it printed.
struct Run {
    child: Child,
    run_id: String,
    /// The rest of its stdout, line by line.
    stdout: mpsc::Receiver<String>,
}

impl Run {
    /// Runs are recorded under `store/state` (FAULTLINE_STATE_DIR), apart
    /// from other tests' runs.
    fn start(store: &Path, args: &[&str]) -> Run {
        let mut child = Command::new(BIN)
            .env("FAULTLINE_STATE_DIR", store.join("state"))
            .args(["--store", &store.to_string_lossy(), "test", "--quiet"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("faultline test printed no run id");
        let run_id = first
            .strip_prefix("run id ")
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("first line is not the run id: {first}"))
            .to_string();
        Run {
            child,
            run_id,
            stdout: rx,
        }
    }

    fn namespaces(&self) -> Vec<String> {
        support::namespaces_with(&format!("fln-{}-", self.run_id))
    }

    fn rules(&self) -> usize {
        self.namespaces()
            .iter()
            .map(|ns| support::faultline_rules(ns).len())
            .sum()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn heal(args: &[&str]) -> String {
    heal_with_state(args, None)
}

/// `faultline heal`, with its run records in `state` when given.
fn heal_with_state(args: &[&str], state: Option<&Path>) -> String {
    let mut command = Command::new(BIN);
    if let Some(state) = state {
        command.env("FAULTLINE_STATE_DIR", state);
    }
    let out = command.arg("heal").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "heal {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn line_about<'a>(said: &'a str, run_id: &str) -> &'a str {
    said.lines()
        .find(|l| l.contains(&format!("run {run_id}:")))
        .unwrap_or_else(|| panic!("heal says nothing about run {run_id}:\n{said}"))
}

#[test]
fn heal_leaves_live_runs_alone_and_heals_the_one_whose_controller_died() {
    if !support::prerequisites() {
        return;
    }
    let store = tempfile::tempdir().unwrap();
    // Partitions every second, so rules are in force half the time.
    let args = |limit: &'static str| {
        vec![
            "--cluster",
            "netns",
            "--nodes",
            "3",
            "--nemesis",
            "partition",
            "--nemesis-interval",
            "1",
            "--time-limit",
            limit,
            "--settle",
            "1",
        ]
    };
    let mut a = Run::start(store.path(), &args("60"));
    let mut b = Run::start(store.path(), &args("8"));
    assert_ne!(a.run_id, b.run_id);
    // Whatever happens, take the killed run's namespaces away.
    struct Destroy(String);
    impl Drop for Destroy {
        fn drop(&mut self) {
            let _ = faultline::cluster::netns::destroy(&self.0);
        }
    }
    let _destroy_a = Destroy(a.run_id.clone());

    // Both up, A partitioning; heal then touches neither.
    assert!(
        eventually(Duration::from_secs(60), || b.namespaces().len() == 3),
        "run {} never started",
        b.run_id
    );
    assert!(
        eventually(Duration::from_secs(60), || a.rules() > 0),
        "run {} never partitioned",
        a.run_id
    );
    let said = heal(&["--cluster", "netns"]);
    for run in [&a, &b] {
        let line = line_about(&said, &run.run_id);
        assert!(
            line.starts_with("left run") && line.contains("still runs"),
            "{said}"
        );
    }
    assert!(!said.contains("healed run"), "{said}");

    // Kill A while a partition is in force: its rules stay, frozen.
    assert!(eventually(Duration::from_secs(30), || a.rules() > 0));
    // SAFETY: kill(2) on our own child's PID.
    unsafe { libc::kill(a.child.id() as i32, libc::SIGKILL) };
    a.child.wait().unwrap();
    let frozen = a.rules();
    assert!(
        frozen > 0,
        "run {}'s rules went with its controller",
        a.run_id
    );

    // A netns cluster starting in another test meanwhile removes dead runs'
    // clusters as well: then there is nothing left for heal to find.
    let said = heal(&["--cluster", "netns"]);
    if let Some(line) = said
        .lines()
        .find(|l| l.contains(&format!("run {}:", a.run_id)))
    {
        assert!(
            line.starts_with("healed run") && line.contains("is gone"),
            "{said}"
        );
        assert_eq!(a.rules(), 0, "heal left run {}'s rules", a.run_id);
        let said = heal(&["--cluster", "netns", "--stop-nodes"]);
        let line = said
            .lines()
            .find(|l| l.contains(&format!("run {}:", a.run_id)));
        assert!(line.is_none_or(|l| l.starts_with("healed run")), "{said}");
    } else {
        assert!(
            a.namespaces().is_empty(),
            "heal ignored run {}: {said}",
            a.run_id
        );
    }
    assert!(
        a.namespaces().is_empty(),
        "run {}'s namespaces survive",
        a.run_id
    );
    if b.child.try_wait().unwrap().is_none() {
        assert!(
            line_about(&said, &b.run_id).starts_with("left run"),
            "{said}"
        );
    }

    // B went on undisturbed to a verdict.
    let status = b.child.wait().unwrap();
    let out: Vec<String> = b.stdout.try_iter().collect();
    assert!(
        out.iter().any(|l| l.starts_with("verdict: valid")),
        "run {} ended {status}: {out:?}",
        b.run_id
    );
    assert!(status.success(), "run {} ended {status}: {out:?}", b.run_id);
    assert!(
        b.namespaces().is_empty(),
        "run {} left namespaces",
        b.run_id
    );
    // test.json records the run id.
    let spec = std::fs::read_to_string(
        Path::new(out.iter().find_map(|l| l.strip_prefix("run: ")).unwrap()).join("test.json"),
    )
    .unwrap();
    assert!(
        spec.contains(&format!("\"run_id\": \"{}\"", b.run_id)),
        "{spec}"
    );
}

/// The node PIDs of a local run, from the `node.pid` files in its run
/// directory under `store` (`None` until all `n` are there).
fn local_node_pids(store: &Path, n: usize) -> Option<Vec<u32>> {
    let mut pids = Vec::new();
    for entry in walk(store).into_iter().filter(|p| p.ends_with("node.pid")) {
        let text = std::fs::read_to_string(entry).ok()?;
        let owner = faultline::cluster::owner::Owner::parse(&text)?;
        pids.push(owner.pid);
    }
    (pids.len() == n).then_some(pids)
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn local_nodes_die_with_a_killed_controller() {
    let store = tempfile::tempdir().unwrap();
    let mut run = Run::start(
        store.path(),
        &["--nodes", "3", "--nemesis", "none", "--time-limit", "60"],
    );
    let mut pids = None;
    assert!(
        eventually(Duration::from_secs(60), || {
            pids = local_node_pids(store.path(), 3);
            pids.as_ref()
                .is_some_and(|p| p.iter().all(|p| support::alive(*p)))
        }),
        "the nodes of run {} never came up",
        run.run_id
    );
    // Up and serving: the run is past its start.
    assert!(eventually(Duration::from_secs(30), || walk(store.path())
        .iter()
        .any(
            |p| p.ends_with("history.jsonl") && std::fs::metadata(p).is_ok_and(|m| m.len() > 0)
        )));
    // SAFETY: kill(2) on our own child's PID.
    unsafe { libc::kill(run.child.id() as i32, libc::SIGKILL) };
    run.child.wait().unwrap();
    let pids = pids.unwrap();
    assert!(
        eventually(Duration::from_secs(5), || pids
            .iter()
            .all(|p| !support::alive(*p))),
        "nodes outlived their controller: {:?}",
        pids.iter()
            .filter(|p| support::alive(**p))
            .collect::<Vec<_>>()
    );
    // heal finds the dead run, has nothing left to stop, and forgets it.
    let state = store.path().join("state");
    let said = heal_with_state(&["--cluster", "local", "--stop-nodes"], Some(&state));
    assert!(
        line_about(&said, &run.run_id).contains("stopped 0 node(s)"),
        "{said}"
    );
    let said = heal_with_state(&["--cluster", "local"], Some(&state));
    assert!(!said.contains(&run.run_id), "{said}");
}

#[test]
fn heal_stops_a_dead_local_runs_leftover_nodes_by_pid_and_start_time() {
    use faultline::cluster::owner::Owner;
    use faultline::cluster::registry::RunRecord;
    let dir = tempfile::tempdir().unwrap();
    // Records of its own: a heal in another test must not take this run.
    let state = tempfile::tempdir().unwrap();
    // A controller that is gone: a child that exited.
    let mut gone = Command::new("true").spawn().unwrap();
    let mut dead = Owner::local(gone.id()).unwrap_or_else(Owner::current);
    gone.wait().unwrap();
    dead.pid = gone.id();
    // A leftover node, and a "node" whose PID was reused by another process.
    let mut leftover = Command::new("sleep").arg("60").spawn().unwrap();
    let mut other = Command::new("sleep").arg("60").spawn().unwrap();
    for (node, owner) in [
        ("n1", Owner::local(leftover.id()).unwrap()),
        (
            "n2",
            Owner {
                start: Owner::local(other.id()).unwrap().start + 1,
                ..Owner::local(other.id()).unwrap()
            },
        ),
    ] {
        let d = dir.path().join("nodes").join(node);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("node.pid"), owner.to_line()).unwrap();
    }
    let run_id = support::unique_id('l');
    let record = RunRecord {
        run_id: run_id.clone(),
        owner: dead,
        cluster: "local".into(),
        run_dir: dir.path().to_path_buf(),
    };
    let file = state.path().join(format!("{run_id}.json"));
    std::fs::write(&file, serde_json::to_string(&record).unwrap()).unwrap();

    let said = heal_with_state(&["--cluster", "local", "--stop-nodes"], Some(state.path()));
    let line = line_about(&said, &run_id);
    assert!(
        line.contains("stopped 1 node(s)") && line.contains(&format!("n1 (PID {})", leftover.id())),
        "{said}"
    );
    assert!(eventually(Duration::from_secs(5), || leftover
        .try_wait()
        .unwrap()
        .is_some()));
    assert!(
        other.try_wait().unwrap().is_none(),
        "a reused PID was killed"
    );
    assert!(!file.exists(), "the healed run is still recorded");
    other.kill().unwrap();
    other.wait().unwrap();
}
