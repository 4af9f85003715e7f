//! `faultline heal`: remove the network faults (and leftovers) of runs whose
//! controller died, on namespace clusters or SSH hosts.

use crate::cli::GlobalArgs;
use crate::cluster::{netns, ssh};
use crate::exit::{self, Outcome};
use crate::remote::parallel::on_all;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where the nodes run: `netns` (this machine's namespace clusters) or `ssh`.
    #[arg(long)]
    pub cluster: String,
    /// Only this run's rules (default: every faultline rule).
    #[arg(long)]
    pub run_id: Option<String>,
    /// SSH hosts, comma-separated (with --cluster ssh).
    #[arg(long, value_delimiter = ',')]
    pub nodes: Vec<String>,
    #[command(flatten)]
    pub ssh: ssh::SshArgs,
    /// Also stop leftover nodes: SSH hosts' node processes, or netns clusters
    /// whose controller died (their namespaces are removed).
    #[arg(long)]
    pub stop_nodes: bool,
}

pub fn run(_global: &GlobalArgs, args: Args) -> anyhow::Result<Outcome> {
    match args.cluster.as_str() {
        "netns" => {
            let rules = netns::heal_all(args.run_id.as_deref())?;
            println!("removed {rules} faultline iptables rule(s) in namespace clusters");
            if args.stop_nodes {
                let removed = netns::remove_stale()?;
                println!(
                    "removed {} netns cluster(s) left by dead runs{}",
                    removed.len(),
                    if removed.is_empty() { String::new() } else { format!(": {}", removed.join(", ")) }
                );
            }
        }
        "ssh" => {
            if args.nodes.is_empty() {
                return Err(exit::bad_input("--cluster ssh needs --nodes host1,host2,..."));
            }
            let config = args.ssh.config();
            let remotes = ssh::connect_all(&args.nodes, &config)?;
            let sudo = config.user != "root";
            let remote_dir = args.ssh.remote_dir.clone();
            let counts = on_all(&remotes, |_, r| {
                if args.stop_nodes {
                    ssh::clean_host(r.as_ref(), sudo, &remote_dir, args.run_id.as_deref())
                } else {
                    let tag = args.run_id.as_deref().map(crate::net::iptables::tag);
                    crate::net::iptables::remove_tagged(r.as_ref(), sudo, |c| match &tag {
                        Some(t) => c == t,
                        None => crate::net::iptables::is_ours(c),
                    })
                    .map(|n| (n, 0))
                }
            })?;
            for (host, (rules, killed)) in args.nodes.iter().zip(counts) {
                println!("{host}: removed {rules} faultline iptables rule(s), stopped {killed} node(s)");
            }
        }
        other => {
            return Err(exit::bad_input(format!(
                "--cluster {other}: heal works on `netns` or `ssh` clusters (local clusters heal when their proxies exit)"
            )))
        }
    }
    Ok(Outcome::Done)
}
