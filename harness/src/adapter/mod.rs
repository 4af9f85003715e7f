//! Adapter processes: a user's system plugged in through any executable that
//! reads ops as JSON lines on stdin and writes completions on stdout (the op
//! protocol of the bundled targets). docs/adapters.md is the user's guide.
//!
//! One adapter process runs per client worker. It learns which node(s) to talk
//! to at start, from its environment and its (templated) command line:
//!
//! | variable | value |
//! |---|---|
//! | `FAULTLINE_NODE` | `host:port` of the node this worker talks to |
//! | `FAULTLINE_NODE_NAME` | that node's name (`n2`) |
//! | `FAULTLINE_NODES` | every node's `host:port`, comma-separated, in node order |
//! | `FAULTLINE_NODE_NAMES` | every node's name, comma-separated |
//! | `FAULTLINE_WORKER` | the worker number (0, 1, ...) |
//! | `FAULTLINE_OP_TIMEOUT_MS` | the per-op timeout; answer `info` before it runs out |
//!
//! Ops and completions are `faultline-protocol`'s lines. A completion may
//! name the node that answered (`"node":"n3"`, for an adapter that fails
//! over); without it the op is recorded at the adapter's own node.
//!
//! The same values fill the placeholders `{node}`, `{node_name}`, `{nodes}`,
//! `{node_names}`, `{worker}` and `{op_timeout_ms}` in the adapter's arguments.
//! A system file's parameters (`[params.NAME]`, set with `--set NAME=VALUE`)
//! fill `{NAME}` and are in the environment as `FAULTLINE_PARAM_NAME`
//! (upper case, `-` as `_`).

mod client;
mod process;

pub use client::AdapterClient;
pub use process::Launch;

use crate::client::{BoxFuture, Client, ClientFactory};
use crate::cluster::NodeInfo;
use crate::system::config::{render_command, CommandSpec};
use crate::system::template::Vars;
use std::path::PathBuf;
use std::time::Duration;

/// How to run a user's adapter, before it is told which node to talk to.
#[derive(Clone, Debug)]
pub struct AdapterSpec {
    /// Command line; it may hold the placeholders listed above and the
    /// system file's parameters. A shell command's values are quoted.
    pub command: CommandSpec,
    /// The system file's parameters (`{NAME}`, and `FAULTLINE_PARAM_NAME` in
    /// the environment).
    pub params: Vec<(String, String)>,
    /// Extra environment variables for the adapter.
    pub env: Vec<(String, String)>,
    /// Working directory (the system file's directory, typically).
    pub cwd: Option<PathBuf>,
    /// Where each worker's adapter stderr is kept: `<dir>/worker-<N>.stderr.log`.
    pub log_dir: Option<PathBuf>,
    /// The controller's per-op timeout, passed on to the adapter.
    pub op_timeout: Duration,
    /// Where adapter trouble is reported besides tracing: the run's faultline.log.
    pub log: Option<EventLog>,
}

/// A sink for messages about adapters (restarts, protocol violations).
#[derive(Clone)]
pub struct EventLog(pub std::sync::Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for EventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventLog")
    }
}

/// Opens one [`AdapterClient`] per worker, each aimed at one node.
pub struct AdapterFactory {
    spec: AdapterSpec,
    nodes: Vec<NodeInfo>,
}

impl AdapterFactory {
    pub fn new(spec: AdapterSpec, nodes: Vec<NodeInfo>) -> AdapterFactory {
        AdapterFactory { spec, nodes }
    }

    /// The command line and environment for worker `worker` talking to `node`.
    pub fn launch(&self, worker: usize, node: usize) -> anyhow::Result<Launch> {
        let target = self
            .nodes
            .get(node % self.nodes.len().max(1))
            .ok_or_else(|| anyhow::anyhow!("no nodes to point the adapter at"))?;
        let join = |f: fn(&NodeInfo) -> &String| {
            self.nodes
                .iter()
                .map(f)
                .cloned()
                .collect::<Vec<_>>()
                .join(",")
        };
        let values = [
            ("node", "FAULTLINE_NODE", target.client_addr.clone()),
            ("node_name", "FAULTLINE_NODE_NAME", target.name.clone()),
            ("nodes", "FAULTLINE_NODES", join(|n| &n.client_addr)),
            ("node_names", "FAULTLINE_NODE_NAMES", join(|n| &n.name)),
            ("worker", "FAULTLINE_WORKER", worker.to_string()),
            (
                "op_timeout_ms",
                "FAULTLINE_OP_TIMEOUT_MS",
                self.spec.op_timeout.as_millis().to_string(),
            ),
        ];
        let mut vars: Vars = values
            .iter()
            .map(|(k, _, v)| (k.to_string(), v.clone()))
            .collect();
        vars.extend(self.spec.params.iter().cloned());
        let argv = render_command(&self.spec.command, &vars)
            .map_err(|e| anyhow::anyhow!("adapter command: {e}"))?;
        let mut env: Vec<(String, String)> = values
            .iter()
            .map(|(_, k, v)| (k.to_string(), v.clone()))
            .collect();
        env.extend(self.spec.params.iter().map(|(name, value)| {
            let name = name.to_uppercase().replace('-', "_");
            (format!("FAULTLINE_PARAM_{name}"), value.clone())
        }));
        env.extend(self.spec.env.iter().cloned());
        let stderr_log = self
            .spec
            .log_dir
            .as_ref()
            .map(|dir| dir.join(format!("worker-{worker}.stderr.log")));
        Ok(Launch {
            argv,
            env,
            cwd: self.spec.cwd.clone(),
            stderr_log,
        })
    }
}

impl ClientFactory for AdapterFactory {
    fn open(&self, worker: usize, node: usize) -> BoxFuture<'_, anyhow::Result<Box<dyn Client>>> {
        Box::pin(async move {
            if let Some(dir) = &self.spec.log_dir {
                std::fs::create_dir_all(dir)?;
            }
            let launch = self.launch(worker, node)?;
            let name = &self.nodes[node % self.nodes.len()].name;
            let client =
                AdapterClient::start(launch, format!("adapter for worker {worker} (node {name})"))?
                    .with_log(self.spec.log.clone())
                    .with_node(name.clone());
            Ok(Box::new(client) as Box<dyn Client>)
        })
    }
}
