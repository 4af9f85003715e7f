//! [`SystemDb`]: the [`Db`] of a system file, and the adapter it names.

use super::config::{render_command, CommandSpec, ReadySpec, SystemConfig};
use super::template::{render, Vars};
use crate::adapter::AdapterSpec;
use crate::cluster::{Db, NodeLaunch, ReadyCheck, Step};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

pub struct SystemDb {
    config: SystemConfig,
    /// Client address chosen for each node, so restarts keep it.
    client_addrs: Mutex<BTreeMap<String, String>>,
    /// Every node this system was asked to start, for [`SystemDb::missing_logs`].
    launched: Mutex<BTreeMap<String, NodeLaunch>>,
}

impl SystemDb {
    pub fn new(config: SystemConfig) -> SystemDb {
        SystemDb {
            config,
            client_addrs: Mutex::new(BTreeMap::new()),
            launched: Mutex::new(BTreeMap::new()),
        }
    }

    /// Notes for the run's log about `node.logs` entries that are not in the
    /// run directory after teardown. Every cluster kind keeps a node's data
    /// directory as `run_dir/nodes/<node>/data`, so a log under `{data_dir}`
    /// is looked for there; a log elsewhere is not kept, and says so. A
    /// missing log is not an error: the system may simply not write it.
    pub fn missing_logs(&self, run_dir: &Path) -> Vec<String> {
        let launched = self.launched.lock().unwrap_or_else(|e| e.into_inner());
        let mut notes = Vec::new();
        for launch in launched.values() {
            for (listed, path) in self.config.logs.iter().zip(self.log_files(launch)) {
                let kept = path.strip_prefix(&launch.data_dir).ok().map(|rel| {
                    run_dir
                        .join("nodes")
                        .join(&launch.name)
                        .join("data")
                        .join(rel)
                });
                match kept {
                    Some(kept) if kept.exists() => {}
                    Some(kept) => notes.push(format!(
                        "note: node {}: log {listed:?} (node.logs) was not written: no {}",
                        launch.name,
                        kept.display()
                    )),
                    None => notes.push(format!(
                        "note: node {}: log {listed:?} (node.logs) is outside {{data_dir}}, \
                         so the run directory does not keep it",
                        launch.name
                    )),
                }
            }
        }
        notes
    }

    pub fn config(&self) -> &SystemConfig {
        &self.config
    }

    /// The adapter this system's clients run, for [`crate::adapter::AdapterFactory`].
    /// Relative paths in its command start at the system file's directory,
    /// which is also its working directory.
    pub fn adapter_spec(&self, op_timeout: Duration, log_dir: Option<PathBuf>) -> AdapterSpec {
        AdapterSpec {
            command: self.config.adapter.clone(),
            params: self.config.settings.clone().into_iter().collect(),
            env: self
                .config
                .adapter_env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            cwd: Some(self.config.dir.clone()),
            log_dir,
            op_timeout,
            log: None,
        }
    }

    /// The placeholder values for `node`'s commands.
    pub fn vars(&self, node: &NodeLaunch) -> anyhow::Result<Vars> {
        let (host, peer_port) = split_addr(&node.listen)?;
        let client_addr = self.client_addr(node)?;
        let (_, port) = split_addr(&client_addr)?;
        let advertise = node
            .peers
            .iter()
            .find(|(name, _)| *name == node.name)
            .map_or(node.listen.clone(), |(_, addr)| addr.clone());
        let list = |f: &dyn Fn(&(String, String)) -> String| {
            node.peers.iter().map(f).collect::<Vec<_>>().join(",")
        };
        let mut vars = Vars::new();
        vars.insert("node".into(), node.name.clone());
        vars.insert("host".into(), host.to_string());
        vars.insert("port".into(), port.to_string());
        vars.insert("client_addr".into(), client_addr.clone());
        vars.insert("peer_port".into(), peer_port.to_string());
        vars.insert("peer_addr".into(), node.listen.clone());
        vars.insert("advertise_peer_addr".into(), advertise);
        vars.insert("peers".into(), list(&|(n, a)| format!("{n}={a}")));
        vars.insert("peer_addrs".into(), list(&|(_, a)| a.clone()));
        vars.insert(
            "initial_cluster".into(),
            list(&|(n, a)| format!("{n}=http://{a}")),
        );
        vars.insert("data_dir".into(), node.data_dir.display().to_string());
        vars.insert("config_dir".into(), self.config.dir.display().to_string());
        vars.extend(self.config.settings.clone());
        Ok(vars)
    }

    fn render(&self, command: &CommandSpec, node: &NodeLaunch) -> anyhow::Result<Vec<String>> {
        render_command(command, &self.vars(node)?)
            .map_err(|e| anyhow::anyhow!("{}: node {}: {e}", self.config.path.display(), node.name))
    }
}

/// `host:port` split at the last colon.
fn split_addr(addr: &str) -> anyhow::Result<(&str, u16)> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| anyhow::anyhow!("address {addr:?} has no port"))?;
    let port = port
        .parse()
        .map_err(|_| anyhow::anyhow!("address {addr:?} has a bad port"))?;
    Ok((host, port))
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.starts_with("127.") || host == "::1" || host == "[::1]"
}

impl Db for SystemDb {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn command(&self, node: &NodeLaunch) -> anyhow::Result<Vec<String>> {
        self.launched
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(node.name.clone(), node.clone());
        self.render(&self.config.start, node)
    }

    fn log_files(&self, node: &NodeLaunch) -> Vec<PathBuf> {
        let Ok(vars) = self.vars(node) else {
            return Vec::new();
        };
        self.config
            .logs
            .iter()
            .filter_map(|log| render(log, &vars).ok())
            .map(PathBuf::from)
            .collect()
    }

    /// With `client_port` set: that port on a host of the node's own, or a
    /// free port when nodes share a loopback address.
    fn client_addr(&self, node: &NodeLaunch) -> anyhow::Result<String> {
        let Some(client_port) = self.config.client_port else {
            return Ok(node.listen.clone());
        };
        let mut chosen = self.client_addrs.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(addr) = chosen.get(&node.name) {
            return Ok(addr.clone());
        }
        let (host, _) = split_addr(&node.listen)?;
        let port = if is_loopback(host) {
            // Every node of a local cluster is on this host: the OS picks a
            // port nobody uses now.
            TcpListener::bind((host, 0))
                .and_then(|l| l.local_addr())
                .map_err(|e| {
                    anyhow::anyhow!("node {}: no free client port on {host}: {e}", node.name)
                })?
                .port()
        } else {
            client_port
        };
        let addr = format!("{host}:{port}");
        chosen.insert(node.name.clone(), addr.clone());
        Ok(addr)
    }

    fn peers_through_proxies(&self) -> bool {
        self.config.peers_through_proxies
    }

    fn step_command(&self, step: Step, node: &NodeLaunch) -> anyhow::Result<Option<Vec<String>>> {
        let command = match step {
            Step::Install => &self.config.install,
            Step::Wipe => &self.config.wipe,
            Step::Stop => &self.config.stop,
            Step::Kill => &self.config.kill,
            Step::Pause => &self.config.pause,
            Step::Resume => &self.config.resume,
        };
        command.as_ref().map(|c| self.render(c, node)).transpose()
    }

    fn ready_check(&self, node: &NodeLaunch) -> anyhow::Result<ReadyCheck> {
        match &self.config.ready {
            None => Ok(ReadyCheck::TcpConnect(self.client_addr(node)?)),
            Some(ReadySpec {
                tcp: Some(addr), ..
            }) => Ok(ReadyCheck::TcpConnect(
                render(addr, &self.vars(node)?).map_err(|e| anyhow::anyhow!(e))?,
            )),
            Some(ReadySpec {
                command: Some(command),
                ..
            }) => Ok(ReadyCheck::Command(self.render(command, node)?)),
            Some(_) => anyhow::bail!("node.ready gives neither tcp nor command"),
        }
    }

    fn ready_timeout(&self) -> Duration {
        self.config.ready_timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn db(text: &str) -> SystemDb {
        SystemDb::new(SystemConfig::parse(text, Path::new("/etc/sys.toml")).unwrap())
    }

    fn launch(host: &str) -> NodeLaunch {
        NodeLaunch {
            name: "n2".into(),
            listen: format!("{host}:7002"),
            peers: (1..=3)
                .map(|i| (format!("n{i}"), format!("{host}:{}", 8000 + i)))
                .collect(),
            data_dir: "/data/n2".into(),
            bugs: vec![],
        }
    }

    const ETCDISH: &str = r#"
name = "etcdish"
client_port = 2379
[node]
start = ["etcd", "--name", "{node}", "--listen-peer-urls", "http://{peer_addr}",
  "--initial-advertise-peer-urls", "http://{advertise_peer_addr}",
  "--listen-client-urls", "http://{client_addr}", "--initial-cluster", "{initial_cluster}",
  "--data-dir", "{data_dir}"]
pause = "kill -STOP $(cat {data_dir}/pid)"
logs = ["{data_dir}/x.log"]
[client]
adapter = ["python3", "a.py"]
"#;

    #[test]
    fn renders_the_start_command_on_a_host_of_its_own() {
        let db = db(ETCDISH);
        let argv = db.command(&launch("198.18.0.2")).unwrap();
        let joined = argv.join(" ");
        assert!(joined.contains("--name n2"), "{joined}");
        assert!(
            joined.contains("--listen-peer-urls http://198.18.0.2:7002"),
            "{joined}"
        );
        assert!(
            joined.contains("--initial-advertise-peer-urls http://198.18.0.2:8002"),
            "{joined}"
        );
        assert!(
            joined.contains("--listen-client-urls http://198.18.0.2:2379"),
            "{joined}"
        );
        assert!(
            joined.contains(
                "n1=http://198.18.0.2:8001,n2=http://198.18.0.2:8002,n3=http://198.18.0.2:8003"
            ),
            "{joined}"
        );
        assert_eq!(
            db.log_files(&launch("h")),
            vec![PathBuf::from("/data/n2/x.log")]
        );
        assert_eq!(
            db.step_command(Step::Pause, &launch("h")).unwrap().unwrap(),
            ["sh", "-c", "kill -STOP $(cat /data/n2/pid)"]
        );
        assert_eq!(db.step_command(Step::Kill, &launch("h")).unwrap(), None);
    }

    #[test]
    fn local_nodes_get_a_free_client_port_that_stays() {
        let db = db(ETCDISH);
        let a = db.client_addr(&launch("127.0.0.1")).unwrap();
        assert!(a.starts_with("127.0.0.1:") && a != "127.0.0.1:2379", "{a}");
        assert_eq!(db.client_addr(&launch("127.0.0.1")).unwrap(), a);
        assert_eq!(
            db.ready_check(&launch("127.0.0.1")).unwrap(),
            ReadyCheck::TcpConnect(a)
        );
    }

    #[test]
    fn without_a_client_port_clients_use_the_listen_address() {
        let db = db(&ETCDISH.replace("client_port = 2379\n", ""));
        assert_eq!(
            db.client_addr(&launch("127.0.0.1")).unwrap(),
            "127.0.0.1:7002"
        );
        assert!(db.peers_through_proxies());
        let spec = db.adapter_spec(Duration::from_secs(1), None);
        assert_eq!(
            spec.command,
            CommandSpec::Argv(vec!["python3".into(), "a.py".into()])
        );
        assert_eq!(spec.cwd.unwrap(), PathBuf::from("/etc"));
    }

    #[test]
    fn a_listed_log_that_was_not_written_is_a_note() {
        let run_dir = tempfile::tempdir().unwrap();
        let data_dir = run_dir.path().join("nodes/n2/data");
        std::fs::create_dir_all(&data_dir).unwrap();
        let db = db(&ETCDISH.replace(
            r#"logs = ["{data_dir}/x.log"]"#,
            r#"logs = ["{data_dir}/x.log", "/var/log/{node}.log"]"#,
        ));
        // Nothing started: nothing to say.
        assert!(db.missing_logs(run_dir.path()).is_empty());
        let node = NodeLaunch {
            data_dir: data_dir.clone(),
            ..launch("127.0.0.1")
        };
        db.command(&node).unwrap();
        let notes = db.missing_logs(run_dir.path());
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(
            notes[0]
                .starts_with("note: node n2: log \"{data_dir}/x.log\" (node.logs) was not written"),
            "{notes:?}"
        );
        assert!(notes[1].contains("is outside {data_dir}"), "{notes:?}");
        std::fs::write(data_dir.join("x.log"), "hello").unwrap();
        assert_eq!(db.missing_logs(run_dir.path()).len(), 1);
    }
}
