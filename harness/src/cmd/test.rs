//! `faultline test`: start a cluster, run a workload under faults, record the
//! history into the store, check it, and print the verdict and the run path.

use crate::cli::GlobalArgs;
use crate::client::ClientFactory;
use crate::cluster::local::LocalCluster;
use crate::cluster::targets::{BundledTarget, Target};
use crate::cluster::{Cluster, ClusterKind, Db};
use crate::controller::{self, Controller, Live, Report};
use crate::exit::{bad_input, Outcome};
use crate::nemesis;
use crate::spec::TestSpec;
use crate::store::writer::{Recorder, RunDir};
use crate::system::UserSystem;
use crate::tcp_client::TcpClientFactory;
use faultline_checkers::history::History;
use faultline_checkers::{registry, CheckResult, Results, Verdict};
use faultline_workloads::{Workload, WorkloadKind};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Bundled target.
    #[arg(long, value_enum, default_value_t = Target::RaftKv)]
    pub target: Target,
    /// Your own system instead of a bundled target: a system file (TOML) that
    /// says how to run a node and which adapter talks to it (docs/adapters.md).
    #[arg(long, value_name = "FILE")]
    pub system: Option<PathBuf>,
    /// The workload (default: lock for the lock target, else register).
    #[arg(long, value_enum)]
    pub workload: Option<WorkloadKind>,
    /// Faults, separated by commas, or none.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "partition,kill"
    )]
    pub nemesis: Vec<crate::cli::NemesisChoice>,
    /// Seconds between faults (each fault lasts as long).
    #[arg(long, default_value_t = 5.0)]
    pub nemesis_interval: f64,
    /// Number of nodes, or for --cluster ssh the hosts (h1,h2,...)
    /// (default 5, or the system file's `nodes`).
    #[arg(long)]
    pub nodes: Option<crate::cluster::hosts::NodesArg>,
    /// Seconds of the main phase.
    #[arg(long, default_value_t = 30.0)]
    pub time_limit: f64,
    /// Client workers.
    #[arg(long, default_value_t = 5)]
    pub concurrency: usize,
    /// Ops per second over all workers (0: as fast as the system answers).
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Mean seconds each client waits before each op (a random 0 to twice
    /// this), as Jepsen's stagger: clients that pause between ops leave the
    /// cluster moments without client traffic (0: no pause).
    #[arg(long, default_value_t = 0.0)]
    pub stagger: f64,
    /// Seconds before an unanswered op counts as info.
    #[arg(long, default_value_t = 2.0)]
    pub op_timeout: f64,
    /// Seconds to let the cluster recover before the final reads.
    #[arg(long, default_value_t = 3.0)]
    pub settle: f64,
    /// Seed for ops and faults (default: from the clock; printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Known-bug switch for the target (repeatable).
    #[arg(long = "bug")]
    pub bugs: Vec<String>,
    /// Run the test this many times (seeds seed, seed+1, ...).
    #[arg(long, default_value_t = 1)]
    pub test_count: usize,
    /// Test name in the store (default: <target>-<workload>).
    #[arg(long)]
    pub name: Option<String>,
    /// Where nodes run.
    #[arg(long, value_enum, default_value_t = ClusterKind::Local)]
    pub cluster: ClusterKind,
    #[command(flatten)]
    pub hosts: crate::cluster::hosts::HostClusterArgs,
    /// Write a JUnit XML report of the checks here.
    #[arg(long)]
    pub junit: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Flags checked before anything starts.
fn validate(args: &Args) -> anyhow::Result<WorkloadKind> {
    let workload = args
        .workload
        .unwrap_or_else(|| args.target.default_workload());
    if args.system.is_none() {
        args.target.check_bugs(&args.bugs)?;
    }
    nemesis::check_supported(&crate::cli::fault_kinds(&args.nemesis), args.cluster)?;
    if args.nodes.as_ref().is_some_and(|n| n.count() == 0) {
        return Err(bad_input("--nodes must be at least 1"));
    }
    if args.concurrency == 0 {
        return Err(bad_input("--concurrency must be at least 1"));
    }
    for (flag, v) in [
        ("--time-limit", args.time_limit),
        ("--nemesis-interval", args.nemesis_interval),
        ("--op-timeout", args.op_timeout),
    ] {
        if !(v > 0.0 && v.is_finite()) {
            return Err(bad_input(format!(
                "{flag} must be a positive number of seconds, got {v}"
            )));
        }
    }
    let non_negative = |v: f64| v >= 0.0 && v.is_finite();
    if !non_negative(args.rate) || !non_negative(args.settle) || !non_negative(args.stagger) {
        return Err(bad_input(
            "--rate, --settle and --stagger must be zero or positive",
        ));
    }
    if args.test_count == 0 {
        return Err(bad_input("--test-count must be at least 1"));
    }
    Ok(workload)
}

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    let workload = validate(&args)?;
    let kinds = crate::cli::fault_kinds(&args.nemesis);
    let system = match &args.system {
        Some(path) => Some(UserSystem::load(
            path,
            workload.name(),
            args.cluster.name(),
            &kinds.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
        )?),
        None => None,
    };
    let db: Arc<dyn Db> = match &system {
        Some(system) => system.db(),
        None => Arc::new(BundledTarget::find(args.target)?),
    };
    let base_seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64 % 1_000_000_000)
            .unwrap_or(0)
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // Ctrl-C and SIGTERM end the current run early; it still heals, stops
    // the nodes and checks what it recorded.
    let (stop_tx, stop_rx) = watch::channel(false);
    rt.spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        eprintln!("interrupted: healing, stopping nodes, checking what was recorded");
        let _ = stop_tx.send(true);
    });

    let mut verdicts = Vec::new();
    let mut all_checks = Vec::new();
    let mut durations = Vec::new();
    for i in 0..args.test_count {
        let seed = base_seed.wrapping_add(i as u64);
        let started = Instant::now();
        let (verdict, checks) = run_one(
            global,
            &args,
            workload,
            &kinds,
            &db,
            system.as_ref(),
            seed,
            &rt,
            stop_rx.clone(),
        )?;
        if args.test_count > 1 {
            println!("run {}/{}: {verdict} (seed {seed})", i + 1, args.test_count);
        }
        verdicts.push(verdict);
        for c in checks {
            durations.push(started.elapsed());
            all_checks.push(CheckResult {
                checker: if args.test_count > 1 {
                    format!("run{}-{}", i + 1, c.checker)
                } else {
                    c.checker.clone()
                },
                ..c
            });
        }
        if *stop_rx.borrow() {
            break;
        }
    }
    let total = Verdict::combine(verdicts.iter().copied());
    if args.test_count > 1 {
        let count = |v| verdicts.iter().filter(|x| **x == v).count();
        println!(
            "{} runs: {} valid, {} invalid, {} unknown; overall {total}",
            verdicts.len(),
            count(Verdict::Valid),
            count(Verdict::Invalid),
            count(Verdict::Unknown)
        );
    }
    if let Some(path) = &args.junit {
        let results = Results::new(all_checks);
        crate::junit::write(path, "faultline test", &results, &durations)
            .map_err(|e| bad_input(format!("--junit {}: {e}", path.display())))?;
    }
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(Outcome::Verdict(total))
}

#[allow(clippy::too_many_arguments)]
fn run_one(
    global: &GlobalArgs,
    args: &Args,
    workload: WorkloadKind,
    kinds: &[nemesis::FaultKind],
    db: &Arc<dyn Db>,
    system: Option<&UserSystem>,
    seed: u64,
    rt: &tokio::runtime::Runtime,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<(Verdict, Vec<CheckResult>)> {
    let target = system.map_or(args.target.name().to_string(), |s| s.name().to_string());
    // A fresh workload for each run: the kv workload's keys start over.
    let workload = workload.build();
    let nodes_arg = args
        .nodes
        .clone()
        .unwrap_or(crate::cluster::hosts::NodesArg::Count(
            system.and_then(UserSystem::default_nodes).unwrap_or(5),
        ));
    let nodes = nodes_arg.count();
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{target}-{}", workload.kind()));
    let run_id = crate::cluster::registry::new_run_id();
    let mut spec = TestSpec {
        name,
        target,
        workload: workload.kind(),
        nemesis: kinds.to_vec(),
        nemesis_interval_s: args.nemesis_interval,
        cluster: args.cluster,
        nodes: (1..=nodes).map(|i| format!("n{i}")).collect(),
        node_addrs: Vec::new(),
        time_limit_s: args.time_limit,
        concurrency: args.concurrency,
        rate: args.rate,
        stagger_s: args.stagger,
        seed,
        model: workload.model(),
        bugs: args.bugs.clone(),
        version: env!("CARGO_PKG_VERSION").into(),
        run_id: run_id.clone(),
    };
    let run_dir = Arc::new(RunDir::create(&global.store, &spec)?);
    let _registration =
        crate::cluster::registry::register_run(&run_id, args.cluster.name(), &run_dir.path)?;
    run_dir.log(format!("faultline test seed {seed}: {spec:?}"));
    let cluster: Arc<dyn Cluster> = match args.cluster {
        ClusterKind::Local => Arc::new(
            LocalCluster::start_with_clock(
                rt.handle(),
                db.as_ref(),
                nodes,
                &args.bugs,
                &run_dir.path,
                crate::nemesis::needs_clock(kinds),
            )
            .map_err(|e| {
                run_dir.log(format!("cluster failed to start: {e:#}"));
                e
            })?,
        ),
        kind @ (ClusterKind::Netns | ClusterKind::Ssh) => {
            let run = crate::cluster::hosts::HostRun {
                nodes: nodes_arg.to_list(),
                run_id: run_id.clone(),
                run_dir: run_dir.path.clone(),
                bugs: args.bugs.clone(),
                clock: crate::nemesis::needs_clock(kinds),
            };
            let cluster = crate::cluster::hosts::start(kind.name(), &args.hosts, &run, db.clone())
                .inspect_err(|e| run_dir.log(format!("cluster failed to start: {e:#}")))?;
            Arc::from(cluster)
        }
    };
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

    let op_timeout = Duration::from_secs_f64(args.op_timeout);
    let clients: Arc<dyn ClientFactory> = match system {
        // One adapter process per worker; their stderr in <run>/adapters/.
        Some(system) => {
            let log_dir = run_dir.clone();
            let log = crate::adapter::EventLog(Arc::new(move |line: &str| log_dir.log(line)));
            let factory = system.client_factory(
                cluster.nodes().to_vec(),
                op_timeout,
                &run_dir.path,
                Some(log),
            );
            // An adapter that cannot start at all stops the run here, with
            // its error, rather than leaving every worker idle.
            if let Err(e) = rt.block_on(factory.open(0, 0)) {
                run_dir.log(format!("adapter: {e:#}"));
                return Err(bad_input(format!(
                    "the adapter of {}: {e:#}",
                    system.name()
                )));
            }
            factory
        }
        None => Arc::new(TcpClientFactory {
            nodes: cluster
                .nodes()
                .iter()
                .map(|n| (n.name.clone(), n.client_addr.clone()))
                .collect(),
        }),
    };
    let recorder = Arc::new(Recorder::create(Some(&run_dir.path.join("history.jsonl")))?);
    let live = Arc::new(Live::default());
    let log_dir = run_dir.clone();
    let ctl = Controller {
        cluster: cluster.clone(),
        clients,
        workload: workload.clone(),
        recorder: recorder.clone(),
        config: controller::Config {
            concurrency: args.concurrency,
            rate: args.rate,
            stagger: Duration::from_secs_f64(args.stagger),
            time_limit: Duration::from_secs_f64(args.time_limit),
            op_timeout: Duration::from_secs_f64(args.op_timeout),
            seed,
            nemesis: kinds.to_vec(),
            nemesis_interval: Duration::from_secs_f64(args.nemesis_interval),
            settle: Duration::from_secs_f64(args.settle),
        },
        log: Arc::new(move |line: &str| log_dir.log(line)),
        live: live.clone(),
    };
    let progress = (!args.quiet).then(|| progress_bar(rt, recorder.clone(), live.clone()));
    let report: Report = rt.block_on(ctl.run(stop));
    if let Some((bar, task)) = progress {
        task.abort();
        bar.finish_and_clear();
    }
    if let Err(e) = cluster.teardown(&run_dir.path) {
        run_dir.log(format!("teardown: {e:#}"));
    }
    for note in system
        .map(|s| s.missing_logs(&run_dir.path))
        .unwrap_or_default()
    {
        run_dir.log(note);
    }
    drop(cluster);
    run_dir.log("nodes stopped; checking");

    let history = recorder.finish()?;
    let checks = check(&*workload, &history);
    let results = Results::new(checks.clone());
    run_dir.write_results(&results)?;
    run_dir.log(format!("verdict {}", results.verdict));
    // Reports (timeline, plots, counterexample) are for people; failing to
    // draw them must not cost the verdict.
    if let Err(e) = crate::cmd::check::write_reports(&run_dir.path, &history, &results) {
        run_dir.log(format!("warning: reports not written: {e:#}"));
        eprintln!("warning: reports not written: {e:#}");
    }
    print_summary(&results, &report, &recorder, &history, &run_dir.path);
    Ok((results.verdict, checks))
}

/// Runs the workload's checkers; a checker that cannot run gives `unknown`.
pub fn check(workload: &dyn Workload, history: &History) -> Vec<CheckResult> {
    let opts = registry::Options {
        model: workload.model(),
        initial: None,
        linearizability: faultline_checkers::linearizability::Options {
            timeout: Some(Duration::from_secs(120)),
            ..Default::default()
        },
        txn: Default::default(),
    };
    workload
        .checkers()
        .iter()
        .map(|&checker| {
            registry::check(checker, history, &opts).unwrap_or_else(|e| CheckResult {
                checker: checker.to_string(),
                verdict: Verdict::Unknown,
                summary: format!("checker could not run: {e}"),
                details: serde_json::Value::Null,
            })
        })
        .collect()
}

fn print_summary(
    results: &Results,
    report: &Report,
    recorder: &Recorder,
    history: &History,
    path: &std::path::Path,
) {
    let c = &recorder.counts;
    let faults = history
        .ops
        .iter()
        .filter(|o| {
            o.is_nemesis()
                && o.f.starts_with("start-")
                && o.kind == faultline_checkers::history::OpType::Info
        })
        .count();
    if report.interrupted {
        println!("interrupted: checked what was recorded");
    }
    println!(
        "ops: {} ok, {} fail, {} info; faults: {faults}",
        c.ok.load(Ordering::Relaxed),
        c.fail.load(Ordering::Relaxed),
        c.info.load(Ordering::Relaxed)
    );
    for p in &report.problems {
        println!("problem: {}", p.lines().next().unwrap_or(""));
    }
    for check in &results.checks {
        println!("{}: {} - {}", check.checker, check.verdict, check.summary);
    }
    println!("verdict: {}", results.verdict);
    println!("run: {}", path.display());
}

fn progress_bar(
    rt: &tokio::runtime::Runtime,
    recorder: Arc<Recorder>,
    live: Arc<Live>,
) -> (indicatif::ProgressBar, tokio::task::JoinHandle<()>) {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .expect("template"),
    );
    let b = bar.clone();
    let task = rt.spawn(async move {
        let started = Instant::now();
        loop {
            let c = &recorder.counts;
            let (ok, fail, info) = (
                c.ok.load(Ordering::Relaxed),
                c.fail.load(Ordering::Relaxed),
                c.info.load(Ordering::Relaxed),
            );
            let rate = (ok + fail + info) as f64 / started.elapsed().as_secs_f64().max(0.001);
            let faults = live.faults.lock().unwrap().join(" ");
            b.set_message(format!(
                "ok {ok} fail {fail} info {info} | {rate:.0} ops/s | faults: {}",
                if faults.is_empty() { "none" } else { &faults }
            ));
            b.tick();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    (bar, task)
}
