//! Controller overhead: how many ops/s the controller drives and records
//! (history.jsonl on disk, written as it goes) against a no-op TCP server
//! that answers every op `ok` at once, and the CPU time (controller and
//! target together) per op, which is what a loaded machine limits. Prints a
//! table of medians, without and with the online check (a thread checking
//! the history for linearizability as it grows, as `faultline test` runs it;
//! the server fails every cas and reads return nothing, so the register's
//! history stays linearizable and the check never stops early).
//!
//!     cargo bench -p faultline --bench controller_overhead
//!     OVERHEAD_SECS=5 OVERHEAD_RUNS=5 cargo bench -p faultline --bench controller_overhead

use faultline::client::ClientFactory;
use faultline::cluster::{Cluster, NodeInfo, NodeState};
use faultline::controller::{Config, Controller, Live};
use faultline::net::{Net, NetFault};
use faultline::store::writer::Recorder;
use faultline::tcp_client::TcpClientFactory;
use faultline_workloads::WorkloadKind;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// A cluster of one in-process no-op node; nothing to fault.
struct NoopCluster {
    nodes: Vec<NodeInfo>,
}
struct NoNet;
impl Net for NoNet {
    fn apply(&self, _: &NetFault) -> anyhow::Result<()> {
        anyhow::bail!("no faults in the overhead benchmark")
    }
    fn supports(&self, _: &NetFault) -> bool {
        false
    }
    fn heal(&self) -> anyhow::Result<()> {
        Ok(())
    }
}
impl Cluster for NoopCluster {
    fn nodes(&self) -> &[NodeInfo] {
        &self.nodes
    }
    fn state(&self, _: usize) -> NodeState {
        NodeState::Running
    }
    fn kill(&self, _: usize) -> anyhow::Result<()> {
        Ok(())
    }
    fn restart(&self, _: usize) -> anyhow::Result<()> {
        Ok(())
    }
    fn pause(&self, _: usize) -> anyhow::Result<()> {
        Ok(())
    }
    fn resume(&self, _: usize) -> anyhow::Result<()> {
        Ok(())
    }
    fn net(&self) -> &dyn Net {
        &NoNet
    }
    fn unexpected_deaths(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    fn teardown(&self, _: &Path) -> anyhow::Result<()> {
        Ok(())
    }
}

/// Answers every request line with `{"id":..,"type":"ok"}` (a cas with
/// `fail`). It finds the id by a byte search rather than decoding the line,
/// so that the target costs little next to the controller it shares the
/// machine with.
async fn noop_server() -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let (s, _) = l.accept().await.unwrap();
            s.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let (r, mut w) = s.into_split();
                let mut r = BufReader::new(r);
                let (mut line, mut reply) = (Vec::new(), Vec::new());
                loop {
                    line.clear();
                    if !matches!(r.read_until(b'\n', &mut line).await, Ok(n) if n > 0) {
                        return;
                    }
                    reply.clear();
                    reply.extend_from_slice(b"{\"id\":");
                    reply.extend_from_slice(request_id(&line));
                    if line.windows(11).any(|w| w == b"\"f\":\"cas\"") {
                        reply.extend_from_slice(b",\"type\":\"fail\",\"error\":\"no\"}\n");
                    } else {
                        reply.extend_from_slice(b",\"type\":\"ok\"}\n");
                    }
                    if w.write_all(&reply).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// The digits after `"id":` in a request line.
fn request_id(line: &[u8]) -> &[u8] {
    const KEY: &[u8] = b"\"id\":";
    let at = line
        .windows(KEY.len())
        .position(|w| w == KEY)
        .expect("request has an id")
        + KEY.len();
    let len = line[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    &line[at..at + len]
}

/// CPU time this process has used so far, (user, system).
fn cpu_time() -> (Duration, Duration) {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    (tv(u.ru_utime), tv(u.ru_stime))
}

/// One run's result.
struct Run {
    ops: u64,
    ops_per_sec: f64,
    /// CPU time of controller and target together per op, in user space
    /// and in the kernel. Kernel time is the less reliable: on a busy
    /// machine part of the loopback's work is charged to other processes.
    user_us_per_op: f64,
    sys_us_per_op: f64,
}

/// Runs the online check on what `recorder` records, as `faultline test`
/// does; gives back how many parts it followed and gave up.
fn online_check(recorder: &Recorder) -> std::thread::JoinHandle<(usize, usize)> {
    use faultline_checkers::linearizability::online::Online;
    use faultline_checkers::models::{ModelConfig, ModelKind};
    let ops = recorder.subscribe(200_000);
    std::thread::spawn(move || {
        let config = ModelConfig {
            nil_read_is_unknown: true,
        };
        let mut online = Online::new(ModelKind::CasRegister, None, config).unwrap();
        for op in ops {
            assert!(
                online.push(&op).is_none(),
                "an anomaly in a register of writes"
            );
        }
        online.parts()
    })
}

fn run_once(clients: usize, secs: u64, online: bool) -> Run {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = rt.block_on(noop_server());
    let dir = tempfile::tempdir().unwrap();
    let cluster: Arc<dyn Cluster> = Arc::new(NoopCluster {
        nodes: vec![NodeInfo {
            name: "n1".into(),
            host: "127.0.0.1".into(),
            client_addr: addr.clone(),
        }],
    });
    let factory: Arc<dyn ClientFactory> = Arc::new(TcpClientFactory {
        nodes: vec![("n1".into(), addr)],
    });
    let recorder = Arc::new(Recorder::create(Some(&dir.path().join("history.jsonl"))).unwrap());
    let ctl = Controller {
        cluster,
        clients: factory,
        workload: WorkloadKind::Register.build(),
        recorder: recorder.clone(),
        config: Config {
            concurrency: clients,
            rate: 0.0,
            stagger: Duration::ZERO,
            time_limit: Duration::from_secs(secs),
            op_timeout: Duration::from_secs(5),
            seed: 1,
            nemesis: Vec::new(),
            nemesis_interval: Duration::from_secs(1),
            settle: Duration::ZERO,
            membership_voters: None,
        },
        log: Arc::new(|_: &str| {}),
        live: Arc::new(Live::default()),
    };
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let checker = online.then(|| online_check(&recorder));
    let (t, cpu) = (Instant::now(), cpu_time());
    rt.block_on(ctl.run(rx));
    recorder.unsubscribe();
    if let Some((parts, gave_up)) = checker.map(|c| c.join().unwrap()) {
        if gave_up > 0 || recorder.overflowed() {
            // Then it stopped checking early: the row measures less than it says.
            println!(
                "  note: the online check gave up {gave_up} of {parts} parts, fell behind: {}",
                recorder.overflowed()
            );
        }
    }
    let elapsed = t.elapsed().as_secs_f64();
    let ((user0, sys0), (user1, sys1)) = (cpu, cpu_time());
    let c = &recorder.counts;
    let done = c.ok.load(Ordering::Relaxed)
        + c.fail.load(Ordering::Relaxed)
        + c.info.load(Ordering::Relaxed);
    let history = recorder.finish().unwrap();
    assert_eq!(history.len() as u64, 2 * done, "every op recorded");
    let per_op = |d: Duration| d.as_secs_f64() * 1e6 / done.max(1) as f64;
    Run {
        ops: done,
        ops_per_sec: done as f64 / elapsed,
        user_us_per_op: per_op(user1 - user0),
        sys_us_per_op: per_op(sys1 - sys0),
    }
}

fn main() {
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let (secs, runs) = (
        env("OVERHEAD_SECS", 5),
        env("OVERHEAD_RUNS", 3).max(1) as usize,
    );
    println!(
        "controller overhead: no-op TCP target, history.jsonl on disk, {secs} s runs, \
         median of {runs} ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:>8} {:>7} {:>10} {:>10} {:>14} {:>14}",
        "clients", "online", "ops", "ops/s", "user cpu us/op", "sys cpu us/op"
    );
    for (clients, online) in [(5, false), (5, true), (50, false), (50, true)] {
        let mut all: Vec<Run> = (0..runs).map(|_| run_once(clients, secs, online)).collect();
        let median = |f: fn(&Run) -> f64| {
            let mut v: Vec<f64> = all.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v[runs / 2]
        };
        let (user, sys) = (median(|r| r.user_us_per_op), median(|r| r.sys_us_per_op));
        all.sort_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec));
        let m = &all[runs / 2];
        println!(
            "{clients:>8} {:>7} {:>10} {:>10.0} {user:>14.1} {sys:>14.1}",
            if online { "on" } else { "off" },
            m.ops,
            m.ops_per_sec
        );
    }
}
