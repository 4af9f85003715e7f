//! The system file: a TOML description of a user's system — how to install,
//! start, stop, kill, pause and wipe a node, how to tell it is ready, which
//! logs to keep, and the adapter that talks to it. docs/adapters.md documents
//! every field; examples/etcd/etcd.toml is a complete one.

use super::template::{render, Vars};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;
use toml::Spanned;

/// Placeholders of node commands, with the meaning docs/adapters.md gives them.
pub const NODE_PLACEHOLDERS: &[&str] = &[
    "node",
    "host",
    "port",
    "client_addr",
    "peer_port",
    "peer_addr",
    "advertise_peer_addr",
    "peers",
    "peer_addrs",
    "initial_cluster",
    "data_dir",
    "config_dir",
];

/// Placeholders of the adapter command.
pub const ADAPTER_PLACEHOLDERS: &[&str] = &[
    "node",
    "node_name",
    "nodes",
    "node_names",
    "worker",
    "op_timeout_ms",
];

/// A command: an argument list run as is, or a string run with `sh -c`
/// (placeholder values are shell-quoted there).
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum CommandSpec {
    Argv(Vec<String>),
    Shell(String),
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReadySpec {
    /// `host:port` that accepts a TCP connection once the node is ready.
    pub tcp: Option<String>,
    /// A command that exits 0 once the node is ready.
    pub command: Option<CommandSpec>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    install: Option<Spanned<CommandSpec>>,
    wipe: Option<Spanned<CommandSpec>>,
    start: Spanned<CommandSpec>,
    stop: Option<Spanned<CommandSpec>>,
    kill: Option<Spanned<CommandSpec>>,
    pause: Option<Spanned<CommandSpec>>,
    resume: Option<Spanned<CommandSpec>>,
    #[serde(default)]
    logs: Vec<Spanned<String>>,
    ready: Option<Spanned<ReadySpec>>,
    ready_timeout_s: Option<Spanned<f64>>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    adapter: Spanned<CommandSpec>,
    #[serde(default)]
    workloads: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSystem {
    name: String,
    nodes: Option<Spanned<usize>>,
    client_port: Option<u16>,
    #[serde(default = "yes")]
    peers_through_proxies: bool,
    node: RawNode,
    client: RawClient,
    #[serde(default)]
    params: BTreeMap<String, Spanned<RawParam>>,
}

/// `[params.NAME]`: a parameter `--set NAME=VALUE` sets, used in commands as
/// `{NAME}`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParam {
    default: String,
    /// The values it takes; absent: any.
    values: Option<Vec<String>>,
    /// What it means, for `--set`'s error messages.
    help: Option<String>,
}

fn yes() -> bool {
    true
}

/// A parsed, checked system file.
#[derive(Clone, Debug)]
pub struct SystemConfig {
    pub path: PathBuf,
    /// The file's directory: commands run there, relative paths start there.
    pub dir: PathBuf,
    pub name: String,
    /// Default node count (the `--nodes` flag overrides it).
    pub nodes: Option<usize>,
    /// The client port on hosts of their own (netns, ssh). On a local cluster
    /// every node shares 127.0.0.1, so each gets a free port instead. Unset:
    /// clients use the node's listen address.
    pub client_port: Option<u16>,
    pub peers_through_proxies: bool,
    pub install: Option<CommandSpec>,
    pub wipe: Option<CommandSpec>,
    pub start: CommandSpec,
    pub stop: Option<CommandSpec>,
    pub kill: Option<CommandSpec>,
    pub pause: Option<CommandSpec>,
    pub resume: Option<CommandSpec>,
    pub logs: Vec<String>,
    pub ready: Option<ReadySpec>,
    pub ready_timeout: Duration,
    pub adapter: CommandSpec,
    /// Workloads the adapter implements (empty: any).
    pub workloads: Vec<String>,
    pub adapter_env: BTreeMap<String, String>,
    /// Parameters the file declares, by name.
    pub params: BTreeMap<String, Param>,
    /// Each parameter's value: its default until [`SystemConfig::apply_sets`].
    pub settings: BTreeMap<String, String>,
}

/// A parameter of a system file (`[params.NAME]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    pub default: String,
    /// The values it takes (empty: any).
    pub values: Vec<String>,
    pub help: Option<String>,
}

impl SystemConfig {
    /// Reads and checks a system file. Errors read `FILE:LINE:COL: what`.
    pub fn load(path: &Path) -> anyhow::Result<SystemConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            crate::exit::bad_input(format!("cannot read system file {}: {e}", path.display()))
        })?;
        SystemConfig::parse(&text, path).map_err(crate::exit::bad_input)
    }

    /// Parses `text` as the system file at `path` (used for messages and to
    /// find the file's directory).
    pub fn parse(text: &str, path: &Path) -> Result<SystemConfig, String> {
        let at = |span: Option<Range<usize>>, what: &str| match span {
            Some(span) => {
                let (line, col) = line_col(text, span.start);
                format!("{}:{line}:{col}: {what}", path.display())
            }
            None => format!("{}: {what}", path.display()),
        };
        let raw: RawSystem = toml::from_str(text)
            .map_err(|e| at(e.span(), &e.message().trim().replace('\n', "; ")))?;
        if raw.name.trim().is_empty() {
            return Err(at(None, "`name` is empty"));
        }
        if let Some(nodes) = &raw.nodes {
            if *nodes.get_ref() == 0 {
                return Err(at(Some(nodes.span()), "`nodes` must be at least 1"));
            }
        }
        let params = check_params(&raw.params, &at)?;
        let with_params = |builtin: &[&str]| -> Vars {
            let names = builtin.iter().map(|k| k.to_string());
            names
                .chain(params.keys().cloned())
                .map(|k| (k, "x".into()))
                .collect()
        };
        let node_vars = with_params(NODE_PLACEHOLDERS);
        let adapter_vars = with_params(ADAPTER_PLACEHOLDERS);
        let check = |field: &str, command: &Spanned<CommandSpec>, vars: &Vars| {
            let parts = match command.get_ref() {
                CommandSpec::Argv(argv) if argv.is_empty() => {
                    return Err(at(Some(command.span()), &format!("{field}: empty command")))
                }
                CommandSpec::Argv(argv) => argv.clone(),
                CommandSpec::Shell(s) => vec![s.clone()],
            };
            for part in parts {
                render(&part, vars)
                    .map_err(|e| at(Some(command.span()), &format!("{field}: {e}")))?;
            }
            Ok(())
        };
        let node = &raw.node;
        check("node.start", &node.start, &node_vars)?;
        let optional = [
            ("node.install", &node.install),
            ("node.wipe", &node.wipe),
            ("node.stop", &node.stop),
            ("node.kill", &node.kill),
            ("node.pause", &node.pause),
            ("node.resume", &node.resume),
        ];
        for (field, command) in optional {
            if let Some(command) = command {
                check(field, command, &node_vars)?;
            }
        }
        for log in &node.logs {
            render(log.get_ref(), &node_vars)
                .map_err(|e| at(Some(log.span()), &format!("node.logs: {e}")))?;
        }
        if let Some(ready) = &node.ready {
            let span = Some(ready.span());
            match ready.get_ref() {
                ReadySpec {
                    tcp: Some(addr),
                    command: None,
                } => {
                    render(addr, &node_vars)
                        .map_err(|e| at(span.clone(), &format!("node.ready.tcp: {e}")))?;
                }
                ReadySpec {
                    tcp: None,
                    command: Some(command),
                } => check(
                    "node.ready.command",
                    &Spanned::new(ready.span(), command.clone()),
                    &node_vars,
                )?,
                _ => {
                    return Err(at(
                        span,
                        "node.ready: give exactly one of `tcp = \"{client_addr}\"` or `command = [...]`",
                    ))
                }
            }
        }
        let ready_timeout = match &node.ready_timeout_s {
            Some(s) if !(s.get_ref().is_finite() && *s.get_ref() > 0.0) => {
                return Err(at(
                    Some(s.span()),
                    "node.ready_timeout_s must be a positive number",
                ))
            }
            Some(s) => Duration::from_secs_f64(*s.get_ref()),
            None => Duration::from_secs(30),
        };
        check("client.adapter", &raw.client.adapter, &adapter_vars)?;
        let dir = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
        let take = |c: &Option<Spanned<CommandSpec>>| c.as_ref().map(|c| c.get_ref().clone());
        Ok(SystemConfig {
            path: path.to_path_buf(),
            dir,
            name: raw.name.clone(),
            nodes: raw.nodes.map(|n| n.into_inner()),
            client_port: raw.client_port,
            peers_through_proxies: raw.peers_through_proxies,
            install: take(&node.install),
            wipe: take(&node.wipe),
            start: node.start.get_ref().clone(),
            stop: take(&node.stop),
            kill: take(&node.kill),
            pause: take(&node.pause),
            resume: take(&node.resume),
            logs: node.logs.iter().map(|l| l.get_ref().clone()).collect(),
            ready: node.ready.as_ref().map(|r| r.get_ref().clone()),
            ready_timeout,
            adapter: raw.client.adapter.get_ref().clone(),
            workloads: raw.client.workloads.clone(),
            adapter_env: raw.client.env.clone(),
            settings: params
                .iter()
                .map(|(name, p)| (name.clone(), p.default.clone()))
                .collect(),
            params,
        })
    }

    /// Applies `--set NAME=VALUE` settings (a later one for a name wins).
    /// An unknown name or a value the parameter does not take is an error
    /// that names the flag and lists what the file declares.
    pub fn apply_sets(&mut self, sets: &[String]) -> Result<(), String> {
        for set in sets {
            let Some((name, value)) = set.split_once('=') else {
                return Err(format!("--set {set:?} is not of the form name=value"));
            };
            let (name, value) = (name.trim(), value.trim());
            let Some(param) = self.params.get(name) else {
                let known = if self.params.is_empty() {
                    "it declares none ([params.NAME] tables)".to_string()
                } else {
                    format!("its parameters: {}", self.describe_params())
                };
                return Err(format!(
                    "--set {name}: not a parameter of {} ({}); {known}",
                    self.name,
                    self.path.display()
                ));
            };
            if !param.values.is_empty() && !param.values.iter().any(|v| v == value) {
                return Err(format!(
                    "--set {name}={value}: {name} of {} takes {}",
                    self.name,
                    param.values.join(", ")
                ));
            }
            self.settings.insert(name.to_string(), value.to_string());
        }
        Ok(())
    }

    /// `name (values; default d): help` for each parameter, for messages.
    pub fn describe_params(&self) -> String {
        let one = |(name, p): (&String, &Param)| {
            let values = match p.values.as_slice() {
                [] => "any value".to_string(),
                values => values.join("|"),
            };
            let help = p
                .help
                .as_deref()
                .map(|h| format!(": {h}"))
                .unwrap_or_default();
            format!("{name} ({values}; default {}){help}", p.default)
        };
        self.params.iter().map(one).collect::<Vec<_>>().join("; ")
    }

    /// The settings as `name=value`, for the test's record.
    pub fn settings_list(&self) -> Vec<String> {
        self.settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    /// Whether peer traffic may run through per-link fault proxies.
    pub fn peers_through_proxies(&self) -> bool {
        self.peers_through_proxies
    }

    /// Whether the adapter implements `workload` (an empty list: any).
    pub fn supports_workload(&self, workload: &str) -> bool {
        self.workloads.is_empty() || self.workloads.iter().any(|w| w == workload)
    }
}

impl SystemConfig {
    /// Checks `faultline test` flags against what this system can do: the
    /// workload its adapter implements, and partitions on a local cluster for
    /// a system whose peers cannot go through proxies. Errors say what to
    /// change.
    pub fn check_test_flags(
        &self,
        workload: &str,
        cluster: &str,
        nemesis: &[String],
    ) -> Result<(), String> {
        if !self.supports_workload(workload) {
            return Err(format!(
                "{}: the adapter of {} implements the workloads {}, not {workload:?} \
                 (see [client] workloads)",
                self.path.display(),
                self.name,
                self.workloads.join(", ")
            ));
        }
        let network_faults = ["partition", "stall", "reset", "loss"];
        if cluster == "local" && !self.peers_through_proxies {
            if let Some(fault) = nemesis
                .iter()
                .find(|f| network_faults.contains(&f.as_str()))
            {
                return Err(format!(
                    "{}: {} sets peers_through_proxies = false (its nodes must get their \
                     peers' real addresses), so the local cluster cannot apply `{fault}`; \
                     use --cluster netns or --cluster ssh for network faults, or \
                     --nemesis kill,pause on the local cluster",
                    self.path.display(),
                    self.name
                ));
            }
        }
        Ok(())
    }
}

/// Checks `[params.NAME]` tables: names are placeholder-like and do not
/// shadow a built-in placeholder; a default is among the listed values.
fn check_params(
    raw: &BTreeMap<String, Spanned<RawParam>>,
    at: &dyn Fn(Option<Range<usize>>, &str) -> String,
) -> Result<BTreeMap<String, Param>, String> {
    let mut params = BTreeMap::new();
    for (name, spanned) in raw {
        let span = Some(spanned.span());
        let p = spanned.get_ref();
        let well_formed = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !well_formed {
            return Err(at(
                span,
                &format!("params.{name}: a name takes letters, digits, '_' and '-'"),
            ));
        }
        if NODE_PLACEHOLDERS.contains(&name.as_str())
            || ADAPTER_PLACEHOLDERS.contains(&name.as_str())
        {
            return Err(at(
                span,
                &format!(
                    "params.{name}: {{{name}}} is a built-in placeholder; choose another name"
                ),
            ));
        }
        let values = p.values.clone().unwrap_or_default();
        if p.values.as_ref().is_some_and(|v| v.is_empty()) {
            return Err(at(span, &format!("params.{name}: `values` is empty")));
        }
        if !values.is_empty() && !values.contains(&p.default) {
            return Err(at(
                span,
                &format!(
                    "params.{name}: default {:?} is not among its values ({})",
                    p.default,
                    values.join(", ")
                ),
            ));
        }
        params.insert(
            name.clone(),
            Param {
                default: p.default.clone(),
                values,
                help: p.help.clone(),
            },
        );
    }
    Ok(params)
}

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// Renders a command with `vars`; a shell command's values are quoted.
pub fn render_command(command: &CommandSpec, vars: &Vars) -> Result<Vec<String>, String> {
    match command {
        CommandSpec::Argv(argv) => argv.iter().map(|a| render(a, vars)).collect(),
        CommandSpec::Shell(script) => {
            let quoted: Vars = vars
                .iter()
                .map(|(k, v)| (k.clone(), shell_quote(v)))
                .collect();
            Ok(vec!["sh".into(), "-c".into(), render(script, &quoted)?])
        }
    }
}

/// `value` as one shell word.
pub fn shell_quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./:=,@%+-".contains(c));
    if plain {
        value.to_string()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "kv"
nodes = 3
client_port = 2379
peers_through_proxies = false

[node]
start = ["/usr/bin/kv", "--name", "{node}", "--data", "{data_dir}"]
kill = "kill -9 $(cat {data_dir}/pid)"
logs = ["{data_dir}/kv.log"]
ready = { tcp = "{client_addr}" }
ready_timeout_s = 5

[client]
adapter = ["python3", "adapter.py", "{node}"]
workloads = ["register"]
env = { KV_DEBUG = "1" }
"#;

    fn parse(text: &str) -> Result<SystemConfig, String> {
        SystemConfig::parse(text, Path::new("sys/kv.toml"))
    }

    #[test]
    fn parses_a_complete_file() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.name, "kv");
        assert_eq!(c.nodes, Some(3));
        assert_eq!(c.client_port, Some(2379));
        assert!(!c.peers_through_proxies);
        assert_eq!(c.ready_timeout, Duration::from_secs(5));
        assert!(c.supports_workload("register") && !c.supports_workload("set"));
        assert_eq!(c.adapter_env["KV_DEBUG"], "1");
        assert!(matches!(c.kill, Some(CommandSpec::Shell(_))));
    }

    #[test]
    fn syntax_errors_name_file_and_line() {
        let e = parse("name = \"x\"\n[node]\nstart = [\"a\"\n").unwrap_err();
        assert!(e.starts_with("sys/kv.toml:4:"), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn unknown_fields_name_file_and_line() {
        let text = GOOD.replace("ready_timeout_s = 5", "ready_timout_s = 5");
        let e = parse(&text).unwrap_err();
        assert!(e.starts_with("sys/kv.toml:12:1:"), "{e}");
        assert!(e.contains("ready_timout_s"), "{e}");
    }

    #[test]
    fn unknown_placeholders_name_file_line_and_field() {
        let text = GOOD.replace("\"{node}\", \"--data\"", "\"{nod}\", \"--data\"");
        let e = parse(&text).unwrap_err();
        assert!(e.starts_with("sys/kv.toml:8:"), "{e}");
        assert!(e.contains("node.start: unknown placeholder {nod}"), "{e}");
        let text = GOOD.replace(
            "\"adapter.py\", \"{node}\"",
            "\"adapter.py\", \"{data_dir}\"",
        );
        let e = parse(&text).unwrap_err();
        assert!(e.starts_with("sys/kv.toml:15:"), "{e}");
        assert!(
            e.contains("client.adapter: unknown placeholder {data_dir}"),
            "{e}"
        );
    }

    #[test]
    fn missing_fields_and_bad_values_are_errors() {
        let e = parse("name = \"x\"\n[client]\nadapter = [\"a\"]\n").unwrap_err();
        assert!(e.contains("node"), "{e}");
        let text = GOOD.replace("ready = { tcp = \"{client_addr}\" }", "ready = {}");
        assert!(parse(&text).unwrap_err().contains("exactly one of"));
        let text = GOOD.replace("ready_timeout_s = 5", "ready_timeout_s = -1");
        assert!(parse(&text).unwrap_err().contains("sys/kv.toml:12:"));
        let text = GOOD.replace("nodes = 3", "nodes = 0");
        assert!(parse(&text).unwrap_err().contains("sys/kv.toml:3:"));
    }

    #[test]
    fn the_shipped_system_files_parse() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        for file in [
            "../examples/etcd/etcd.toml",
            "tests/fixtures/flaky-system.toml",
        ] {
            let c = SystemConfig::load(&root.join(file)).unwrap();
            assert!(c.dir.is_absolute(), "{}", c.dir.display());
        }
    }

    #[test]
    fn test_flags_are_checked_against_the_system() {
        let c = parse(GOOD).unwrap();
        c.check_test_flags("register", "local", &["kill".into()])
            .unwrap();
        c.check_test_flags("register", "netns", &["partition".into()])
            .unwrap();
        let e = c.check_test_flags("set", "local", &[]).unwrap_err();
        assert!(
            e.contains("implements the workloads register, not \"set\""),
            "{e}"
        );
        let e = c
            .check_test_flags("register", "local", &["kill".into(), "partition".into()])
            .unwrap_err();
        assert!(
            e.contains("cannot apply `partition`") && e.contains("--cluster netns"),
            "{e}"
        );
    }

    const WITH_PARAMS: &str = r#"
name = "db"

[node]
start = ["/usr/bin/db", "--isolation", "{isolation}", "--cache", "{cache-mb}"]

[client]
adapter = "exec ./adapter --level {isolation}"

[params.isolation]
default = "serializable"
values = ["read-committed", "serializable"]
help = "the isolation level of every transaction"

[params.cache-mb]
default = "64"
"#;

    #[test]
    fn parameters_have_defaults_and_take_settings() {
        let mut c = parse(WITH_PARAMS).unwrap();
        assert_eq!(c.settings["isolation"], "serializable");
        assert_eq!(c.settings["cache-mb"], "64");
        c.apply_sets(&["isolation=read-committed".into(), "cache-mb=8".into()])
            .unwrap();
        assert_eq!(
            c.settings_list(),
            ["cache-mb=8", "isolation=read-committed"]
        );
        let e = c.apply_sets(&["isolation=snapshot".into()]).unwrap_err();
        assert!(
            e.contains("--set isolation=snapshot") && e.contains("read-committed, serializable"),
            "{e}"
        );
        let e = c.apply_sets(&["isolaton=serializable".into()]).unwrap_err();
        assert!(e.contains("not a parameter of db"), "{e}");
        assert!(e.contains("isolation (read-committed|serializable; default serializable): the isolation level"), "{e}");
        assert!(e.contains("cache-mb (any value; default 64)"), "{e}");
        let e = c.apply_sets(&["isolation".into()]).unwrap_err();
        assert!(e.contains("not of the form name=value"), "{e}");
        let e = parse(GOOD)
            .unwrap()
            .apply_sets(&["a=b".into()])
            .unwrap_err();
        assert!(e.contains("it declares none"), "{e}");
    }

    #[test]
    fn bad_parameter_tables_name_file_and_line() {
        let text = WITH_PARAMS.replace("default = \"serializable\"", "default = \"snapshot\"");
        let e = parse(&text).unwrap_err();
        assert!(e.starts_with("sys/kv.toml:10:"), "{e}");
        assert!(
            e.contains("default \"snapshot\" is not among its values"),
            "{e}"
        );
        let text = WITH_PARAMS.replace("[params.cache-mb]", "[params.data_dir]");
        let e = parse(&text).unwrap_err();
        assert!(e.contains("{data_dir} is a built-in placeholder"), "{e}");
        let text = WITH_PARAMS.replace("{cache-mb}", "{cache}");
        let e = parse(&text).unwrap_err();
        assert!(
            e.contains("unknown placeholder {cache}") && e.contains("{cache-mb}"),
            "{e}"
        );
        let text = WITH_PARAMS.replace("help = ", "hlep = ");
        assert!(parse(&text).unwrap_err().contains("hlep"));
    }

    #[test]
    fn shell_commands_quote_their_values() {
        let mut vars = Vars::new();
        vars.insert("data_dir".into(), "/tmp/a b/it's".into());
        let argv = render_command(&CommandSpec::Shell("ls {data_dir}/x".into()), &vars).unwrap();
        assert_eq!(argv, ["sh", "-c", r"ls '/tmp/a b/it'\''s'/x"]);
        let argv = render_command(
            &CommandSpec::Argv(vec!["ls".into(), "{data_dir}".into()]),
            &vars,
        )
        .unwrap();
        assert_eq!(argv, ["ls", "/tmp/a b/it's"]);
    }
}
