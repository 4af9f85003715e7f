//! A test run from set-up to teardown (Jepsen's `run!`): create the run
//! directory, start the cluster, run the controller and nemesis (which heal
//! and do the final reads), stop the nodes, check the history, write
//! `results.json` and the reports, and remove node data after a valid run.
//!
//! Ctrl-C (or SIGTERM) ends the main phase early: the run still heals,
//! stops the nodes and checks what it recorded; `results.json` says
//! `interrupted` and the command exits 130.

pub mod check;
mod online;
mod progress;

use crate::client::ClientFactory;
use crate::cluster::hosts::{HostClusterArgs, NodesArg};
use crate::cluster::local::LocalCluster;
use crate::cluster::{Cluster, ClusterKind, Db};
use crate::controller::{self, Controller, Live, Report};
use crate::exit::{bad_input, Outcome};
use crate::spec::TestSpec;
use crate::store::node_data;
use crate::store::writer::{Recorder, RunDir};
use crate::system::UserSystem;
use crate::tcp_client::TcpClientFactory;
use faultline_checkers::{CheckResult, History, Results, Verdict};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The linearizability search's time limit at the end of a run, unless
/// `--timeout` says otherwise.
const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(120);

/// Everything a test needs, parsed and checked from the flags.
pub struct Plan {
    /// The spec of the first run; run `i` of `test_count` uses seed + i
    /// and its own run id. Each run builds a fresh workload from
    /// `spec.workload` (the kv workload's keys start over).
    pub spec: TestSpec,
    pub db: Arc<dyn Db>,
    pub system: Option<UserSystem>,
    pub nodes: NodesArg,
    pub hosts: HostClusterArgs,
    pub op_timeout: Duration,
    pub settle: Duration,
    pub test_count: usize,
    pub budget: check::Budget,
    pub junit: Option<PathBuf>,
    /// Keep the nodes' data after a valid run.
    pub keep_data: bool,
    pub quiet: bool,
    /// End the main phase at the first anomaly the online check finds.
    pub stop_on_anomaly: bool,
}

/// What one run ended with.
struct RunEnd {
    results: Results,
    durations: Vec<Duration>,
    error: Option<anyhow::Error>,
}

/// Runs the plan's test `test_count` times (stopping early when interrupted
/// or when a checker fails), and returns the combined outcome.
pub fn run(store: &Path, plan: Plan) -> anyhow::Result<Outcome> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let stop = interrupt_signal(&rt);

    let mut verdicts = Vec::new();
    let mut all_checks = Vec::new();
    let mut durations = Vec::new();
    let mut interrupted = false;
    let mut error = None;
    for i in 0..plan.test_count {
        let mut spec = plan.spec.clone();
        spec.seed = plan.spec.seed.wrapping_add(i as u64);
        let seed = spec.seed;
        let end = run_one(store, &plan, spec, &rt, stop.clone())?;
        if plan.test_count > 1 {
            println!(
                "run {}/{}: {} (seed {seed})",
                i + 1,
                plan.test_count,
                end.results.verdict
            );
        }
        verdicts.push(end.results.verdict);
        interrupted |= end.results.interrupted;
        durations.extend(end.durations);
        for c in end.results.checks {
            all_checks.push(CheckResult {
                checker: if plan.test_count > 1 {
                    format!("run{}-{}", i + 1, c.checker)
                } else {
                    c.checker.clone()
                },
                ..c
            });
        }
        if end.error.is_some() {
            error = end.error;
            break;
        }
        if interrupted {
            break;
        }
    }
    let total = Verdict::combine(verdicts.iter().copied());
    if plan.test_count > 1 {
        let count = |v| verdicts.iter().filter(|x| **x == v).count();
        println!(
            "{} runs: {} valid, {} invalid, {} unknown; overall {total}",
            verdicts.len(),
            count(Verdict::Valid),
            count(Verdict::Invalid),
            count(Verdict::Unknown)
        );
    }
    if let Some(path) = &plan.junit {
        let results = Results::new(all_checks);
        crate::junit::write(path, "faultline test", &results, &durations)
            .map_err(|e| bad_input(format!("--junit {}: {e}", path.display())))?;
    }
    rt.shutdown_timeout(Duration::from_secs(1));
    match error {
        Some(e) => Err(e),
        None if interrupted => Ok(Outcome::Interrupted(total)),
        None => Ok(Outcome::Verdict(total)),
    }
}

/// Ctrl-C and SIGTERM end the current run early; it still heals, stops the
/// nodes and checks what it recorded. A second Ctrl-C quits at once.
fn interrupt_signal(rt: &tokio::runtime::Runtime) -> watch::Receiver<bool> {
    let (stop_tx, stop_rx) = watch::channel(false);
    rt.spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        eprintln!(
            "interrupted: healing, stopping nodes, checking what was recorded (Ctrl-C again quits at once)"
        );
        tracing::info!(target: "faultline::run", "interrupted");
        let _ = stop_tx.send(true);
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("interrupted twice: quitting; `faultline heal` removes faults left behind");
            std::process::exit(crate::exit::INTERRUPTED);
        }
    });
    stop_rx
}

fn run_one(
    store: &Path,
    plan: &Plan,
    mut spec: TestSpec,
    rt: &tokio::runtime::Runtime,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<RunEnd> {
    let kinds = spec.nemesis.clone();
    let workload = spec.workload.build();
    spec.run_id = crate::cluster::registry::new_run_id();
    let run_dir = Arc::new(RunDir::create(store, &spec)?);
    let _registration =
        crate::cluster::registry::register_run(&spec.run_id, spec.cluster.name(), &run_dir.path)?;
    run_dir.log(format!("faultline test seed {}: {spec:?}", spec.seed));
    let cluster = start_cluster(plan, &spec, &run_dir, rt)?;
    spec.node_addrs = cluster
        .nodes()
        .iter()
        .map(|n| n.client_addr.clone())
        .collect();
    std::fs::write(
        run_dir.path.join("test.json"),
        serde_json::to_vec_pretty(&spec)?,
    )?;
    run_dir.log("cluster up");

    let clients = match open_clients(plan, &cluster, &run_dir, rt) {
        Ok(c) => c,
        Err(e) => {
            let _ = cluster.teardown(&run_dir.path);
            return Err(e);
        }
    };
    let recorder = Arc::new(Recorder::create(Some(&run_dir.path.join("history.jsonl")))?);
    let live = Arc::new(Live::default());
    // The main phase ends on Ctrl-C, or (--stop-on-anomaly) at the online
    // check's first anomaly; only the first is an interruption.
    let end = Arc::new(watch::channel(false).0);
    let forward = {
        let (end, mut stop) = (end.clone(), stop.clone());
        rt.spawn(async move {
            if stop.wait_for(|s| *s).await.is_ok() {
                end.send_replace(true);
            }
        })
    };
    let online_log_dir = run_dir.clone();
    let online = online::start(
        &*workload,
        recorder.clone(),
        live.clone(),
        Arc::new(move |line: &str| online_log_dir.log(line)),
        {
            let end = end.clone();
            let stop_on_anomaly = plan.stop_on_anomaly;
            let log_dir = run_dir.clone();
            Box::new(move || {
                if stop_on_anomaly {
                    log_dir.log("--stop-on-anomaly: ending the main phase");
                    end.send_replace(true);
                }
            })
        },
    );
    let log_dir = run_dir.clone();
    let ctl = Controller {
        cluster: cluster.clone(),
        clients,
        workload: workload.clone(),
        recorder: recorder.clone(),
        config: controller::Config {
            concurrency: spec.concurrency,
            rate: spec.rate,
            stagger: Duration::from_secs_f64(spec.stagger_s),
            time_limit: Duration::from_secs_f64(spec.time_limit_s),
            op_timeout: plan.op_timeout,
            seed: spec.seed,
            nemesis: kinds,
            nemesis_interval: Duration::from_secs_f64(spec.nemesis_interval_s),
            settle: plan.settle,
            membership_voters: spec.membership_voters,
        },
        log: Arc::new(move |line: &str| log_dir.log(line)),
        live: live.clone(),
    };
    let progress = (!plan.quiet).then(|| progress::start(rt, recorder.clone(), live.clone()));
    let main_until = recorder.elapsed().as_secs_f64() + spec.time_limit_s;
    let report: Report = rt.block_on(ctl.run(end.subscribe()));
    forward.abort();
    if let Some(p) = progress {
        p.finish();
    }
    let online = online.map(|o| o.finish(plan.stop_on_anomaly.then_some(main_until)));
    if let Some(o) = &online {
        run_dir.log(format!(
            "online check: {} parts followed, {} left to the final check, {:.2} s of CPU{}",
            o.parts,
            o.gave_up,
            o.cpu_s,
            if o.unfinished {
                ", cancelled unfinished"
            } else {
                ""
            }
        ));
    }
    if let Err(e) = cluster.teardown(&run_dir.path) {
        run_dir.log(format!("teardown: {e:#}"));
    }
    for note in plan
        .system
        .as_ref()
        .map(|s| s.missing_logs(&run_dir.path))
        .unwrap_or_default()
    {
        run_dir.log(note);
    }
    drop(cluster);
    run_dir.log("nodes stopped; checking");

    let history = recorder.finish()?;
    let checked = check::check_workload_for(
        &*workload,
        &spec.consistency_models,
        &history,
        &plan.budget,
        Some(DEFAULT_CHECK_TIMEOUT),
        &run_dir.path.join("history.jsonl"),
    )?;
    let mut results = checked.results;
    // Ctrl-C while the nodes stopped or the checkers ran counts too (the
    // controller's `interrupted` also covers --stop-on-anomaly).
    results.interrupted = *stop.borrow();
    attach_online(&mut results, online);
    check::write_run(&run_dir.path, &history, &results)?;
    run_dir.log(format!(
        "verdict {}{}",
        results.verdict,
        if results.interrupted {
            " (interrupted)"
        } else {
            ""
        }
    ));
    let data_note = settle_node_data(plan, &results, &run_dir);
    print_summary(&results, &report, &history, &run_dir.path, data_note);
    Ok(RunEnd {
        results,
        durations: checked.durations,
        error: checked.error,
    })
}

/// Puts the online check's report into the results, and the time it found
/// its anomaly into the first anomaly of the check it ran.
fn attach_online(results: &mut Results, online: Option<faultline_checkers::verdict::OnlineReport>) {
    let Some(online) = online else { return };
    if let Some(found) = &online.first_anomaly {
        if let Some(first) = results
            .checks
            .iter_mut()
            .find(|c| c.checker == found.checker)
            .and_then(|c| c.first_anomaly.as_mut())
        {
            first.reported_s = Some(found.reported_s);
        }
    }
    results.online = Some(online);
}

fn start_cluster(
    plan: &Plan,
    spec: &TestSpec,
    run_dir: &RunDir,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<Arc<dyn Cluster>> {
    let nodes = plan.nodes.count();
    let clock = crate::nemesis::needs_clock(&spec.nemesis);
    let cluster: Arc<dyn Cluster> = match spec.cluster {
        ClusterKind::Local => Arc::new(
            LocalCluster::start_with(
                rt.handle(),
                plan.db.as_ref(),
                nodes,
                &spec.bugs,
                &run_dir.path,
                crate::cluster::local::LocalOptions {
                    clock,
                    diskfs: crate::nemesis::needs_disk(&spec.nemesis),
                },
            )
            .inspect_err(|e| run_dir.log(format!("cluster failed to start: {e:#}")))?,
        ),
        kind @ (ClusterKind::Netns | ClusterKind::Ssh) => {
            let run = crate::cluster::hosts::HostRun {
                nodes: plan.nodes.to_list(),
                run_id: spec.run_id.clone(),
                run_dir: run_dir.path.clone(),
                bugs: spec.bugs.clone(),
                clock,
                diskfs: crate::nemesis::needs_disk(&spec.nemesis),
            };
            let cluster = crate::cluster::hosts::start(kind, &plan.hosts, &run, plan.db.clone())
                .inspect_err(|e| run_dir.log(format!("cluster failed to start: {e:#}")))?;
            Arc::from(cluster)
        }
    };
    Ok(cluster)
}

/// The clients: the bundled TCP client, or one adapter process per worker
/// (their stderr in `<run>/adapters/`).
fn open_clients(
    plan: &Plan,
    cluster: &Arc<dyn Cluster>,
    run_dir: &Arc<RunDir>,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<Arc<dyn ClientFactory>> {
    let Some(system) = &plan.system else {
        return Ok(Arc::new(TcpClientFactory {
            nodes: cluster
                .nodes()
                .iter()
                .map(|n| (n.name.clone(), n.client_addr.clone()))
                .collect(),
        }));
    };
    let log_dir = run_dir.clone();
    let log = crate::adapter::EventLog(Arc::new(move |line: &str| log_dir.log(line)));
    let factory = system.client_factory(
        cluster.nodes().to_vec(),
        plan.op_timeout,
        &run_dir.path,
        Some(log),
    );
    // An adapter that cannot start at all stops the run here, with its
    // error, rather than leaving every worker idle.
    if let Err(e) = rt.block_on(factory.open(0, 0)) {
        run_dir.log(format!("adapter: {e:#}"));
        return Err(bad_input(format!(
            "the adapter of {}: {e:#}",
            system.name()
        )));
    }
    Ok(factory)
}

/// Removes the nodes' data after a valid run (unless `--keep-data`); says
/// what became of it.
fn settle_node_data(plan: &Plan, results: &Results, run_dir: &RunDir) -> Option<String> {
    let dirs = node_data::data_dirs(&run_dir.path).ok()?;
    if dirs.is_empty() {
        return None;
    }
    let size: u64 = dirs.iter().map(|(_, s)| *s).sum();
    let note = if plan.keep_data {
        format!(
            "node data kept (--keep-data): {} in nodes/*/data",
            crate::store::human_size(size)
        )
    } else if results.verdict != Verdict::Valid {
        format!(
            "node data kept, the run being {}: {} in nodes/*/data",
            results.verdict,
            crate::store::human_size(size)
        )
    } else {
        match node_data::remove(&run_dir.path) {
            Ok(bytes) => format!(
                "node data removed after the valid run ({}; logs kept; --keep-data keeps it)",
                crate::store::human_size(bytes)
            ),
            Err(e) => {
                tracing::warn!("removing node data: {e}");
                return None;
            }
        }
    };
    run_dir.log(&note);
    Some(note)
}

fn print_summary(
    results: &Results,
    report: &Report,
    history: &History,
    path: &Path,
    data_note: Option<String>,
) {
    let c = results.stats.unwrap_or_default();
    let faults = history
        .ops
        .iter()
        .filter(|o| {
            o.is_nemesis()
                && o.f.starts_with("start-")
                && o.kind == faultline_checkers::history::OpType::Info
        })
        .count();
    if results.interrupted {
        println!("interrupted: checked what was recorded");
    }
    println!(
        "ops: {} ok, {} fail, {} info; faults: {faults}",
        c.ok, c.fail, c.info
    );
    for p in &report.problems {
        println!("problem: {}", p.lines().next().unwrap_or(""));
    }
    if let Some(found) = results
        .online
        .as_ref()
        .and_then(|o| o.first_anomaly.as_ref())
    {
        println!("found while running: {}", online::describe(found));
        if results.online.as_ref().is_some_and(|o| o.stopped_run) {
            println!("run ended at that anomaly (--stop-on-anomaly)");
        }
    }
    for check in &results.checks {
        println!("{}: {} - {}", check.checker, check.verdict, check.summary);
        if let Some(first) = &check.first_anomaly {
            println!("  first anomaly: {}", first.explanation);
        }
    }
    if let Some(note) = data_note {
        println!("{note}");
    }
    println!(
        "verdict: {}{}",
        results.verdict,
        if results.interrupted {
            " (interrupted)"
        } else {
            ""
        }
    );
    println!("run: {}", path.display());
}
