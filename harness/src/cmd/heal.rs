//! `faultline heal`: remove what runs whose controller died left behind:
//! their network faults (iptables rules) and, with `--stop-nodes`, their
//! nodes (and namespaces). Runs whose controller still runs are left alone
//! unless `--all` or `--run-id` names them; every run found is reported,
//! healed or left, and why.

use crate::cli::GlobalArgs;
use crate::cluster::owner::{Liveness, Owner};
use crate::cluster::{local, netns, registry, ssh, ClusterKind};
use crate::exit::{self, Outcome};
use crate::remote::parallel::on_all;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where the nodes run (netns: this machine's namespace clusters).
    #[arg(long, value_enum)]
    pub cluster: ClusterKind,
    /// Only this run (whether or not its controller still runs).
    #[arg(long, conflicts_with = "all")]
    pub run_id: Option<String>,
    /// Every faultline run, also those whose controller still runs.
    #[arg(long)]
    pub all: bool,
    /// SSH hosts, comma-separated (with --cluster ssh).
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<String>,
    #[command(flatten)]
    pub ssh: ssh::SshArgs,
    /// Also stop the runs' nodes: local node processes, SSH hosts' node
    /// processes, or whole netns clusters (their namespaces are removed).
    #[arg(long)]
    pub stop_nodes: bool,
}

/// Whether to act on a run, and the words that say why.
fn decide(args: &Args, run_id: &str, liveness: Liveness, owner: Option<&Owner>) -> (bool, String) {
    let who = owner.map_or("its controller".to_string(), |o| {
        format!("its controller ({o})")
    });
    let named = args.run_id.as_deref() == Some(run_id);
    match liveness {
        Liveness::Gone if owner.is_some() => (true, format!("{who} is gone")),
        Liveness::Gone => (true, "no controller is recorded for it".into()),
        Liveness::Alive if args.all || named => (
            true,
            format!("{who} still runs, but --{} names it", if named { "run-id" } else { "all" }),
        ),
        Liveness::Alive => (false, format!("{who} still runs")),
        Liveness::Elsewhere(_) if args.all || named => (true, format!("{who} ran on another machine")),
        Liveness::Elsewhere(_) => (
            false,
            format!("{who} ran on another machine, so this one cannot tell whether it still runs (--all or --run-id to heal it)"),
        ),
    }
}

pub fn run(_global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    match args.cluster {
        ClusterKind::Local => heal_local(&args)?,
        ClusterKind::Netns => heal_netns(&args)?,
        ClusterKind::Ssh => heal_ssh(&args)?,
    }
    Ok(Outcome::Done)
}

fn selected(args: &Args, run_id: &str) -> bool {
    args.run_id.as_deref().is_none_or(|id| id == run_id)
}

fn heal_local(args: &Args) -> anyhow::Result<()> {
    let runs: Vec<_> = registry::runs()
        .into_iter()
        .filter(|r| r.cluster == "local" && selected(args, &r.run_id))
        .collect();
    if runs.is_empty() {
        println!(
            "no local runs recorded in {}",
            registry::state_dir().display()
        );
    }
    for run in runs {
        let (act, why) = decide(args, &run.run_id, run.owner.liveness(), Some(&run.owner));
        if act {
            // Its diskfs mounts died with the controller: detach them.
            let disks = crate::cluster::local_disks::unmount_leftover(&run.run_dir)?;
            if !disks.is_empty() {
                println!("run {}: unmounted the disks of{}", run.run_id, list(&disks));
            }
        }
        if !act {
            println!("left run {}: {why}", run.run_id);
        } else if !args.stop_nodes {
            // Its proxies (the only network faults of a local cluster) went
            // with the controller.
            println!(
                "run {}: {why}; its network faults went with it; --stop-nodes stops its nodes",
                run.run_id
            );
        } else {
            let stopped = local::stop_leftover_nodes(&run.run_dir)?;
            println!(
                "healed run {}: {why}; stopped {} node(s){}",
                run.run_id,
                stopped.len(),
                list(&stopped)
            );
            if run.owner.is_gone() {
                registry::forget(&run.run_id);
            }
        }
    }
    Ok(())
}

fn heal_netns(args: &Args) -> anyhow::Result<()> {
    let runs: Vec<_> = netns::runs()?
        .into_iter()
        .filter(|r| selected(args, &r.id))
        .collect();
    if runs.is_empty() {
        println!("no netns clusters on this machine");
    }
    for run in runs {
        let liveness = run.owner.as_ref().map_or(Liveness::Gone, Owner::liveness);
        let (act, why) = decide(args, &run.id, liveness, run.owner.as_ref());
        if !act {
            println!("left run {}: {why}", run.id);
            continue;
        }
        let rules = netns::heal_run(&run.id)?;
        // Its diskfs mounts died with the controller: detach them.
        if let Some(record) = registry::find(&run.id) {
            let disks = crate::cluster::local_disks::unmount_leftover(&record.run_dir)?;
            if !disks.is_empty() {
                println!("run {}: unmounted the disks of{}", run.id, list(&disks));
            }
        }
        if args.stop_nodes {
            netns::destroy(&run.id)?;
            println!(
                "healed run {}: {why}; removed {rules} faultline iptables rule(s) and its namespaces",
                run.id
            );
        } else {
            println!(
                "healed run {}: {why}; removed {rules} faultline iptables rule(s)",
                run.id
            );
        }
    }
    Ok(())
}

fn heal_ssh(args: &Args) -> anyhow::Result<()> {
    if args.nodes.is_empty() {
        return Err(exit::bad_input(
            "--cluster ssh needs --nodes host1,host2,...",
        ));
    }
    let config = args.ssh.config();
    let remotes = ssh::connect_all(&args.nodes, &config)?;
    let sudo = config.user != "root";
    let remote_dir = &args.ssh.remote_dir;
    let mut chosen = Vec::new();
    for run in ssh::runs_on_hosts(&remotes, sudo, remote_dir)? {
        if !selected(args, &run.run_id) {
            continue;
        }
        let (act, why) = decide(args, &run.run_id, run.liveness(), run.owner.as_ref());
        if act {
            println!("healing run {}: {why}", run.run_id);
            chosen.push(run.run_id);
        } else {
            println!("left run {}: {why}", run.run_id);
        }
    }
    let counts = on_all(&remotes, |_, r| {
        if args.stop_nodes {
            ssh::clean_host(r.as_ref(), sudo, remote_dir, Some(&chosen))
        } else {
            let tags: Vec<String> = chosen
                .iter()
                .map(|id| crate::net::iptables::tag(id))
                .collect();
            crate::net::iptables::remove_tagged(r.as_ref(), sudo, |c| tags.iter().any(|t| t == c))
                .map(|n| (n, 0))
        }
    })?;
    for (host, (rules, killed)) in args.nodes.iter().zip(counts) {
        println!("{host}: removed {rules} faultline iptables rule(s), stopped {killed} node(s)");
    }
    Ok(())
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        String::new()
    } else {
        format!(": {}", items.join(", "))
    }
}
