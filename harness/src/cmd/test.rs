//! `faultline test`: parse the flags into a plan and run it ([`crate::run`]).

use crate::cli::GlobalArgs;
use crate::cluster::targets::{BundledTarget, Target};
use crate::cluster::{ClusterKind, Db};
use crate::exit::{bad_input, Outcome};
use crate::nemesis;
use crate::run::{self, check, Plan};
use crate::spec::TestSpec;
use crate::system::UserSystem;
use faultline_workloads::WorkloadKind;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    /// Bounds of the membership fault's voters, MIN..MAX: it never leaves
    /// fewer than MIN voters and grows (adds nodes that are not voters, e.g.
    /// raft-kv's `--set voters=K` learners) up to MAX (default: 3, or all but
    /// one on clusters of 3 or fewer, up to the starting voters).
    #[arg(long, value_name = "MIN..MAX")]
    pub membership_voters: Option<String>,
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
    /// A parameter of the bundled target (replication=async for
    /// primary-backup) or of the system file (its [params.NAME] tables);
    /// repeatable.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
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
    /// Keep the nodes' data directories after a valid run (they are kept
    /// after an invalid or unknown one; logs are always kept).
    #[arg(long)]
    pub keep_data: bool,
    /// End the run at the first anomaly the online check finds (heal, stop
    /// the nodes, check the whole history as usual); results.json records
    /// when it was found (`online.first_anomaly.reported_s`).
    #[arg(long)]
    pub stop_on_anomaly: bool,
    /// Consistency models a transactional workload's history must satisfy,
    /// comma separated (default strict-serializable), as in `check`.
    #[arg(
        long = "consistency-models",
        value_enum,
        value_delimiter = ',',
        value_name = "M,.."
    )]
    pub consistency_models: Vec<faultline_checkers::txn::ConsistencyModel>,
    #[command(flatten)]
    pub budget: check::Budget,
}

/// The flags checked before anything starts: the workload, and the
/// membership fault's voter bounds.
fn validate(args: &Args) -> anyhow::Result<(WorkloadKind, Option<(usize, usize)>)> {
    let workload = args
        .workload
        .unwrap_or_else(|| args.target.default_workload());
    if args.system.is_none() {
        args.target.check_bugs(&args.bugs)?;
        args.target.check_sets(&args.sets)?;
        args.target.check_workload(workload)?;
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
    Ok((workload, membership_voters(args)?))
}

/// `--membership-voters MIN..MAX`, checked against the nodes (and raft-kv's
/// `--set voters=K`, which must lie within the bounds).
fn membership_voters(args: &Args) -> anyhow::Result<Option<(usize, usize)>> {
    let Some(text) = &args.membership_voters else {
        return Ok(None);
    };
    let bad = |why: String| Err(bad_input(format!("--membership-voters {text}: {why}")));
    let parsed = text.split_once("..").and_then(|(a, b)| {
        Some((
            a.trim().parse::<usize>().ok()?,
            b.trim().parse::<usize>().ok()?,
        ))
    });
    let Some((min, max)) = parsed else {
        return bad("not of the form MIN..MAX (two numbers of voters)".into());
    };
    let nodes = args.nodes.as_ref().map_or(5, |n| n.count());
    if min < 1 {
        return bad("MIN must be at least 1".into());
    }
    if max > nodes {
        return bad(format!("MAX must be at most the {nodes} nodes"));
    }
    if min > max {
        return bad("MIN is above MAX".into());
    }
    let start = args
        .sets
        .iter()
        .filter_map(|s| s.trim().strip_prefix("voters="))
        .filter_map(|k| k.trim().parse::<usize>().ok())
        .next_back()
        .unwrap_or(nodes);
    if args.system.is_none() && !(min..=max).contains(&start) {
        return bad(format!(
            "the cluster starts with {start} voters (--set voters=K), outside the bounds"
        ));
    }
    Ok(Some((min, max)))
}

pub fn run(global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    let (workload, membership_voters) = validate(&args)?;
    // The check's budget is checked now, not after the run.
    args.budget.apply(&mut Default::default(), None)?;
    let kinds = crate::cli::fault_kinds(&args.nemesis);
    let system = match &args.system {
        Some(path) => Some(UserSystem::load(
            path,
            &args.sets,
            workload.name(),
            args.cluster.name(),
            &kinds.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
        )?),
        None => None,
    };
    let db: Arc<dyn Db> = match &system {
        Some(system) => system.db(),
        None => Arc::new(
            BundledTarget::find(args.target)?.with_sets(args.target.check_sets(&args.sets)?),
        ),
    };
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64 % 1_000_000_000)
            .unwrap_or(0)
    });
    let target = system
        .as_ref()
        .map_or(args.target.name().to_string(), |s| s.name().to_string());
    let nodes = args
        .nodes
        .clone()
        .unwrap_or(crate::cluster::hosts::NodesArg::Count(
            system
                .as_ref()
                .and_then(UserSystem::default_nodes)
                .unwrap_or(5),
        ));
    let spec = TestSpec {
        name: args
            .name
            .clone()
            .unwrap_or_else(|| format!("{target}-{workload}")),
        target,
        workload,
        nemesis: kinds,
        nemesis_interval_s: args.nemesis_interval,
        cluster: args.cluster,
        nodes: (1..=nodes.count()).map(|i| format!("n{i}")).collect(),
        node_addrs: Vec::new(),
        time_limit_s: args.time_limit,
        concurrency: args.concurrency,
        rate: args.rate,
        stagger_s: args.stagger,
        seed,
        model: workload.build().model(),
        bugs: args.bugs.clone(),
        params: system
            .as_ref()
            .map_or_else(|| args.sets.clone(), UserSystem::settings),
        consistency_models: args.consistency_models.clone(),
        membership_voters,
        version: env!("CARGO_PKG_VERSION").into(),
        // Each run gets its own id (run::run_one).
        run_id: String::new(),
    };
    let plan = Plan {
        spec,
        db,
        system,
        nodes,
        hosts: args.hosts,
        op_timeout: Duration::from_secs_f64(args.op_timeout),
        settle: Duration::from_secs_f64(args.settle),
        test_count: args.test_count,
        budget: args.budget,
        junit: args.junit,
        keep_data: args.keep_data,
        quiet: args.quiet,
        stop_on_anomaly: args.stop_on_anomaly,
    };
    run::run(&global.store, plan)
}
