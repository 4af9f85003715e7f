//! Command-line flags shared by every target binary.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Parser, Debug, Clone)]
pub struct Args {
    /// This node's id; must appear in --peers.
    #[arg(long)]
    pub id: String,
    /// Address to listen on for clients and peers, e.g. 127.0.0.1:7001.
    #[arg(long)]
    pub listen: String,
    /// Every node of the cluster: n1=ADDR,n2=ADDR,... (this node included).
    #[arg(long)]
    pub peers: String,
    /// Directory for durable state (created if missing).
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Known-bug switch to turn on (repeatable); see the README.
    #[arg(long = "bug")]
    pub bugs: Vec<String>,
    /// Lower bound of the randomized election timeout, ms.
    #[arg(long, default_value_t = 300)]
    pub election_min_ms: u64,
    /// Upper bound of the randomized election timeout, ms.
    #[arg(long, default_value_t = 600)]
    pub election_max_ms: u64,
    /// Leader heartbeat interval, ms.
    #[arg(long, default_value_t = 50)]
    pub heartbeat_ms: u64,
    /// Server-side bound on a request: an outcome not known by then is answered `info timeout`.
    /// (Below the harness's default 2 s op timeout, so the server's answer arrives first.)
    #[arg(long, default_value_t = 1500)]
    pub request_timeout_ms: u64,
    /// Take a snapshot and compact the log every this many applied entries.
    #[arg(long, default_value_t = 1000)]
    pub snapshot_every: u64,
}

/// A validated node configuration.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    pub id: String,
    pub listen: String,
    /// Other nodes: (id, address), sorted by id.
    pub peers: Vec<(String, String)>,
    pub data_dir: PathBuf,
    pub bugs: Vec<String>,
    pub election_min: Duration,
    pub election_max: Duration,
    pub heartbeat: Duration,
    pub request_timeout: Duration,
    pub snapshot_every: u64,
}

impl NodeConfig {
    /// Check the flags; `known_bugs` lists the switches this binary understands.
    pub fn from_args(args: Args, known_bugs: &[&str]) -> anyhow::Result<Self> {
        let mut peers = Vec::new();
        let mut found_self = false;
        for part in args.peers.split(',').filter(|p| !p.trim().is_empty()) {
            let (id, addr) = part.split_once('=').ok_or_else(|| {
                anyhow::anyhow!("--peers: entry {part:?} is not of the form id=host:port")
            })?;
            let (id, addr) = (id.trim().to_string(), addr.trim().to_string());
            if id.is_empty() || addr.is_empty() {
                anyhow::bail!("--peers: entry {part:?} has an empty id or address");
            }
            if peers.iter().any(|(p, _): &(String, String)| *p == id)
                || (id == args.id && found_self)
            {
                anyhow::bail!("--peers: node id {id:?} appears twice");
            }
            if id == args.id {
                found_self = true;
            } else {
                peers.push((id, addr));
            }
        }
        if !found_self {
            anyhow::bail!("--peers does not list this node's --id {:?}", args.id);
        }
        for bug in &args.bugs {
            if !known_bugs.contains(&bug.as_str()) {
                anyhow::bail!(
                    "--bug {bug:?} is not known here; known: {}",
                    known_bugs.join(", ")
                );
            }
        }
        if args.election_min_ms == 0 || args.election_max_ms < args.election_min_ms {
            anyhow::bail!("--election-min-ms must be > 0 and <= --election-max-ms");
        }
        peers.sort();
        std::fs::create_dir_all(&args.data_dir).map_err(|e| {
            anyhow::anyhow!("--data-dir {}: cannot create: {e}", args.data_dir.display())
        })?;
        Ok(NodeConfig {
            id: args.id,
            listen: args.listen,
            peers,
            data_dir: args.data_dir,
            bugs: args.bugs,
            election_min: Duration::from_millis(args.election_min_ms),
            election_max: Duration::from_millis(args.election_max_ms),
            heartbeat: Duration::from_millis(args.heartbeat_ms.max(1)),
            request_timeout: Duration::from_millis(args.request_timeout_ms.max(1)),
            snapshot_every: args.snapshot_every.max(1),
        })
    }

    pub fn bug(&self, name: &str) -> bool {
        self.bugs.iter().any(|b| b == name)
    }

    /// Number of nodes that make a majority of the whole cluster.
    pub fn majority(&self) -> usize {
        let nodes = self.peers.len() + 1;
        nodes / 2 + 1
    }
}

/// Log to stderr; RUST_LOG overrides the default level (info).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
}

/// Exit code for bad input: flags, or a data dir that cannot be loaded.
pub const EXIT_BAD_INPUT: i32 = 254;

/// The value of a node's start-up step, or the end of the process: bad
/// input exits [`EXIT_BAD_INPUT`] with a message naming the node.
pub fn or_bad_input<T>(target: &str, id: &str, r: anyhow::Result<T>) -> T {
    r.unwrap_or_else(|e| {
        eprintln!("{target} {id}: cannot start: {e:#}");
        std::process::exit(EXIT_BAD_INPUT)
    })
}

/// A node's flags checked against its bug switches (or the end of the
/// process, see [`or_bad_input`]), logged as it starts.
pub fn node_config(target: &str, args: Args, bugs: &[&str]) -> NodeConfig {
    let id = args.id.clone();
    let cfg = or_bad_input(target, &id, NodeConfig::from_args(args, bugs));
    tracing::info!(id = %cfg.id, listen = %cfg.listen, bugs = ?cfg.bugs, "{target} starting");
    cfg
}

/// Ends the process with exit 1 when serving failed, saying why.
pub fn exit_if_failed(target: &str, id: &str, served: anyhow::Result<()>) {
    if let Err(e) = served {
        eprintln!("{target} {id}: {e:#}");
        std::process::exit(1);
    }
}
