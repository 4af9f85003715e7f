//! Run directories for the inspection tests, made the way a real run makes
//! them: a generated register history (with faults, timeouts and retired
//! processes), checked by the real checker, written with the real codecs.
#![allow(dead_code)]

use faultline::spec::TestSpec;
use faultline_checkers::registry::{self, Options};
use faultline_checkers::{jsonl, History, Op, OpType, Process, Results};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// splitmix64: a small deterministic generator, enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// What history to make.
#[derive(Clone, Debug)]
pub struct Gen {
    pub ops: usize,
    pub concurrency: u64,
    pub seed: u64,
    /// A partition from 20% to 40% of the run and a kill from 60% to 70%.
    pub faults: bool,
    /// Make the op at this position a read of 99, a value never written.
    pub bad_read_at: Option<usize>,
    /// Share of ops that time out (info) outside fault periods.
    pub info_rate: f64,
}

impl Default for Gen {
    fn default() -> Self {
        Gen {
            ops: 300,
            concurrency: 5,
            seed: 7,
            faults: true,
            bad_read_at: None,
            info_rate: 0.01,
        }
    }
}

struct Call {
    worker: u64,
    process: u64,
    invoke: u64,
    complete: u64,
    /// When it takes effect, between invoke and complete.
    at: u64,
    f: &'static str,
    arg: Value,
    info: bool,
    result: Option<(OpType, Value)>,
}

const MS: u64 = 1_000_000;

/// A cas-register history: linearizable (each op takes effect at one
/// instant inside its interval) unless `bad_read_at` asks for a bad read.
/// Returns the history and the index of the bad read's invocation.
pub fn register_history(g: &Gen) -> (History, Option<u64>) {
    let mut rng = Rng::new(g.seed);
    let start = 1_000 * MS;
    let mut free = vec![start; g.concurrency as usize];
    let mut calls = Vec::with_capacity(g.ops);
    for k in 0..g.ops {
        let w = (0..free.len()).min_by_key(|&w| free[w]).unwrap();
        let invoke = free[w] + rng.below(MS);
        let complete = invoke + MS / 3 + rng.below(4 * MS);
        let (f, arg) = match (g.bad_read_at == Some(k), rng.below(10)) {
            (true, _) | (_, 0..=4) => ("read", Value::Null),
            (_, 5..=7) => ("write", json!(rng.below(5))),
            _ => ("cas", json!([rng.below(5), rng.below(5)])),
        };
        calls.push(Call {
            worker: w as u64,
            process: 0,
            invoke,
            complete,
            at: invoke + rng.below(complete - invoke + 1),
            f,
            arg,
            info: false,
            result: None,
        });
        free[w] = complete;
    }
    let end = calls.iter().map(|c| c.complete).max().unwrap_or(start);
    let span = end - start;
    let faults: Vec<(&str, u64, u64, Value)> = if g.faults && !calls.is_empty() {
        vec![
            (
                "partition",
                start + span / 5,
                start + 2 * span / 5,
                json!({"n1": ["n3", "n4"], "n2": ["n3", "n4"]}),
            ),
            (
                "kill",
                start + 3 * span / 5,
                start + 7 * span / 10,
                json!(["n2"]),
            ),
        ]
    } else {
        Vec::new()
    };
    // Timeouts, more of them during faults; a timed-out process retires.
    let mut next_process: Vec<u64> = (0..g.concurrency).collect();
    for (k, c) in calls.iter_mut().enumerate() {
        let faulted = faults.iter().any(|f| (f.1..f.2).contains(&c.invoke));
        c.info = g.bad_read_at != Some(k) && rng.chance(if faulted { 0.3 } else { g.info_rate });
        c.process = next_process[c.worker as usize];
        if c.info {
            next_process[c.worker as usize] += g.concurrency;
        }
    }
    // Apply effects in effect order.
    let mut order: Vec<usize> = (0..calls.len()).collect();
    order.sort_by_key(|&i| calls[i].at);
    let mut state = Value::Null;
    for i in order {
        let bad = g.bad_read_at == Some(i);
        let c = &mut calls[i];
        // An indeterminate op may or may not take effect.
        let happens = !c.info || rng.chance(0.5);
        c.result = Some(match c.f {
            "read" if bad => (OpType::Ok, json!(99)),
            "read" => (OpType::Ok, state.clone()),
            "write" => {
                if happens {
                    state = c.arg.clone();
                }
                (OpType::Ok, c.arg.clone())
            }
            _ => {
                if state == c.arg[0] {
                    if happens {
                        state = c.arg[1].clone();
                    }
                    (OpType::Ok, c.arg.clone())
                } else {
                    (OpType::Fail, c.arg.clone())
                }
            }
        });
    }
    // Lines in time order: (time, tie-break, op).
    let mut lines: Vec<(u64, u64, Op)> = Vec::new();
    let mut bad_index_of_call = None;
    for (k, c) in calls.iter().enumerate() {
        let op = |time, kind, value: Value, error: Option<&str>| Op {
            index: 0,
            time,
            kind,
            process: Process::Client(c.process),
            f: c.f.into(),
            key: None,
            value,
            error: error.map(str::to_string),
            node: None,
        };
        lines.push((
            c.invoke,
            2 * k as u64,
            op(c.invoke, OpType::Invoke, c.arg.clone(), None),
        ));
        let (kind, value) = c.result.clone().unwrap();
        let done = match (c.info, kind) {
            (true, _) => op(c.complete, OpType::Info, c.arg.clone(), Some("timeout")),
            (false, OpType::Fail) => op(c.complete, OpType::Fail, value, Some("precondition")),
            (false, kind) => op(c.complete, kind, value, None),
        };
        lines.push((c.complete, 2 * k as u64 + 1, done));
        if g.bad_read_at == Some(k) {
            bad_index_of_call = Some(2 * k as u64);
        }
    }
    for (i, (fault, from, to, value)) in faults.iter().enumerate() {
        let nemesis = |time, kind, f: String, value: Value| Op {
            index: 0,
            time,
            kind,
            process: Process::Nemesis,
            f,
            key: None,
            value,
            error: None,
            node: None,
        };
        let seq = u64::MAX / 2 + 4 * i as u64;
        for (t, s, f) in [
            (*from, seq, format!("start-{fault}")),
            (*to, seq + 2, format!("stop-{fault}")),
        ] {
            lines.push((
                t - MS / 2,
                s,
                nemesis(t - MS / 2, OpType::Invoke, f.clone(), value.clone()),
            ));
            lines.push((t, s + 1, nemesis(t, OpType::Info, f, value.clone())));
        }
    }
    lines.sort_by_key(|l| (l.0, l.1));
    let mut bad = None;
    let ops = lines
        .into_iter()
        .enumerate()
        .map(|(i, (_, seq, mut op))| {
            op.index = i as u64;
            if Some(seq) == bad_index_of_call {
                bad = Some(i as u64);
            }
            op
        })
        .collect();
    (History::new(ops), bad)
}

pub fn spec(name: &str, ops: usize) -> TestSpec {
    TestSpec {
        name: name.into(),
        target: "raft-kv".into(),
        workload: faultline_workloads::WorkloadKind::Register,
        nemesis: vec![
            faultline::nemesis::FaultKind::Partition,
            faultline::nemesis::FaultKind::Kill,
        ],
        nemesis_interval_s: 5.0,
        cluster: faultline::cluster::ClusterKind::Local,
        nodes: (1..=5).map(|i| format!("n{i}")).collect(),
        node_addrs: (1..=5).map(|i| format!("127.0.0.1:{}", 7000 + i)).collect(),
        time_limit_s: 30.0,
        concurrency: 5,
        rate: 0.0,
        stagger_s: 0.0,
        seed: ops as u64,
        model: Some(faultline_checkers::models::ModelKind::CasRegister),
        bugs: vec![],
        params: vec![],
        membership_voters: None,
        consistency_models: vec![],
        version: env!("CARGO_PKG_VERSION").into(),
        run_id: "a1b2c3".into(),
    }
}

/// Checks a history the way `faultline check` does for the register workload.
/// Large histories get a budget (5 s, 512 MB) and may come out `unknown`.
pub fn check(history: &History) -> Results {
    let mut opts = Options {
        model: Some(faultline_checkers::models::ModelKind::CasRegister),
        initial: None,
        linearizability: Default::default(),
        txn: Default::default(),
    };
    if history.len() > 10_000 {
        opts.linearizability.timeout = Some(std::time::Duration::from_secs(5));
        opts.linearizability.memory_limit_bytes = Some(512 << 20);
    }
    Results::new(vec![registry::check(
        registry::CheckerKind::Linearizable,
        history,
        &opts,
    )
    .unwrap()])
}

/// Writes a whole run directory into `store` and points `latest` at it:
/// test.json, history.jsonl, results.json, node logs, and the reports.
pub fn write_run(
    store: &Path,
    name: &str,
    stamp: &str,
    spec: &TestSpec,
    history: &History,
) -> PathBuf {
    let dir = store.join(name).join(stamp);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("test.json"),
        serde_json::to_string_pretty(spec).unwrap(),
    )
    .unwrap();
    jsonl::write_file(&dir.join("history.jsonl"), history).unwrap();
    let results = check(history);
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&results).unwrap(),
    )
    .unwrap();
    for node in &spec.nodes {
        let nd = dir.join("nodes").join(node);
        std::fs::create_dir_all(&nd).unwrap();
        std::fs::write(
            nd.join("stderr.log"),
            format!("INFO {node} started\nINFO {node} became follower term=1\n"),
        )
        .unwrap();
        std::fs::write(nd.join("stdout.log"), "").unwrap();
    }
    std::fs::write(dir.join("faultline.log"), "run log\n").unwrap();
    faultline::report::write_all(&dir, history, &results).unwrap();
    let latest = store.join("latest");
    let _ = std::fs::remove_file(&latest);
    std::os::unix::fs::symlink(format!("{name}/{stamp}"), &latest).unwrap();
    dir
}

/// A store with three runs: valid (oldest), invalid, and empty (newest).
/// Returns the run dirs and the bad read's index in the invalid run.
pub struct Store {
    pub root: PathBuf,
    pub valid: PathBuf,
    pub invalid: PathBuf,
    pub empty: PathBuf,
    pub bad_read: u64,
}

pub fn three_runs(root: &Path) -> Store {
    let (h, _) = register_history(&Gen::default());
    let valid = write_run(
        root,
        "register-ok",
        "20260101T100000",
        &spec("register-ok", 300),
        &h,
    );
    let (h, bad) = register_history(&Gen {
        bad_read_at: Some(150),
        seed: 8,
        ..Gen::default()
    });
    let mut s = spec("register-bad", 300);
    s.target = "paxos-register".into();
    let invalid = write_run(root, "register-bad", "20260101T110000", &s, &h);
    let mut s = spec("empty", 0);
    s.nemesis.clear();
    let empty = write_run(root, "empty", "20260101T120000", &s, &History::default());
    Store {
        root: root.to_path_buf(),
        valid,
        invalid,
        empty,
        bad_read: bad.unwrap(),
    }
}

/// Reads a file that must exist.
pub fn read(path: impl AsRef<Path>) -> String {
    std::fs::read_to_string(path.as_ref())
        .unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
}

/// The JSON embedded in a timeline page.
pub fn timeline_data(page: &str) -> Value {
    let tag = "<script type=\"application/json\" id=\"data\">";
    let start = page.find(tag).expect("data script") + tag.len();
    let end = start + page[start..].find("</script>").unwrap();
    serde_json::from_str(&page[start..end]).unwrap()
}

/// A `faultline serve` process on a free loopback port, killed on drop.
pub struct Server {
    child: std::process::Child,
    pub addr: String,
}

impl Server {
    pub fn start(store: &Path) -> Server {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
            .arg("--store")
            .arg(store)
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .and_then(|a| a.strip_suffix('/'))
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        Server { child, addr }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET over a plain TCP connection: status, headers, body.
    pub fn get(&self, path: &str) -> (u16, String, String) {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        )
        .unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let raw = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = raw.split_once("\r\n\r\n").expect("a header block");
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_string()
        };
        (status, head.to_string(), body)
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

impl Drop for Server {
    fn drop(&mut self) {
        // Our own child, by its pid.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
