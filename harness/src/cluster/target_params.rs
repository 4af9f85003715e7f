//! `--set name=value` for the bundled targets: each [`Target`] declares its
//! parameters with their defaults and accepted values; the settings are
//! checked before anything starts (an unknown name or a bad value is bad
//! input naming what is known) and passed to every node as `--set
//! name=value`, which the target's binary reads the same way.

use super::targets::Target;
use crate::exit::bad_input;

/// One parameter of a target.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub default: &'static str,
    /// What it takes, for people.
    pub values: &'static str,
    pub accepts: fn(&str) -> bool,
}

fn sync_or_async(v: &str) -> bool {
    matches!(v, "sync" | "async")
}

/// `majority` or a number of nodes (at least 1; the node checks it against
/// the cluster's size).
fn majority_or_count(v: &str) -> bool {
    v == "majority" || v.parse::<usize>().is_ok_and(|n| n >= 1)
}

const PRIMARY_BACKUP: &[Param] = &[
    Param {
        name: "replication",
        default: "sync",
        values: "sync (answer once every live backup and a quorum hold a write) or async (answer at once)",
        accepts: sync_or_async,
    },
    Param {
        name: "quorum",
        default: "majority",
        values: "majority or a number of nodes (counting the primary) a sync write waits for",
        accepts: majority_or_count,
    },
];

fn count(v: &str) -> bool {
    v.parse::<usize>().is_ok_and(|n| n >= 1)
}

const RAFT_KV: &[Param] = &[Param {
    name: "voters",
    default: "every node",
    values: "a number of nodes: n1..nK start as voters, the others as learners the membership fault may add",
    accepts: count,
}];

impl Target {
    /// The parameters `--set` may give this target.
    pub fn params(self) -> &'static [Param] {
        match self {
            Target::PrimaryBackup => PRIMARY_BACKUP,
            Target::RaftKv => RAFT_KV,
            Target::PaxosRegister | Target::Lock | Target::Dispatcher | Target::ShardedKv => &[],
        }
    }

    /// Checks `--set` settings: each `name=value` names a parameter of this
    /// target and a value it takes. Returns them as (name, value), a later
    /// setting of a name replacing an earlier one.
    pub fn check_sets(self, sets: &[String]) -> anyhow::Result<Vec<(String, String)>> {
        let mut out: Vec<(String, String)> = Vec::new();
        for set in sets {
            let Some((name, value)) = set.split_once('=') else {
                return Err(bad_input(format!(
                    "--set {set:?} is not of the form name=value"
                )));
            };
            let (name, value) = (name.trim(), value.trim());
            let Some(param) = self.params().iter().find(|p| p.name == name) else {
                return Err(bad_input(match self.params() {
                    [] => format!("--set {name}: --target {} has no parameters", self.name()),
                    known => format!(
                        "--set {name}: not a parameter of --target {}; its parameters: {}",
                        self.name(),
                        describe(known)
                    ),
                }));
            };
            if !(param.accepts)(value) {
                return Err(bad_input(format!(
                    "--set {name}={value}: {name} of --target {} takes {}",
                    self.name(),
                    param.values
                )));
            }
            out.retain(|(n, _)| n != name);
            out.push((name.to_string(), value.to_string()));
        }
        Ok(out)
    }
}

/// `name (default d)`, for each parameter.
fn describe(params: &[Param]) -> String {
    params
        .iter()
        .map(|p| format!("{} (default {})", p.name, p.default))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sets(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn settings_are_checked_against_the_targets_parameters() {
        let got = Target::PrimaryBackup
            .check_sets(&sets(&[
                "replication=async",
                "quorum=2",
                "replication=sync",
            ]))
            .unwrap();
        assert_eq!(
            got,
            [
                ("quorum".to_string(), "2".to_string()),
                ("replication".to_string(), "sync".to_string())
            ]
        );
        let e = Target::PrimaryBackup
            .check_sets(&sets(&["replicas=3"]))
            .unwrap_err();
        assert!(e.downcast_ref::<crate::exit::BadInput>().is_some());
        let text = e.to_string();
        assert!(
            text.contains("replicas")
                && text.contains("replication (default sync), quorum (default majority)"),
            "{text}"
        );
        let text = Target::PrimaryBackup
            .check_sets(&sets(&["replication=eventual"]))
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("eventual") && text.contains("async"),
            "{text}"
        );
        for bad in ["quorum=0", "quorum=most", "replication"] {
            assert!(
                Target::PrimaryBackup.check_sets(&sets(&[bad])).is_err(),
                "{bad}"
            );
        }
        let text = Target::Lock
            .check_sets(&sets(&["replication=async"]))
            .unwrap_err()
            .to_string();
        assert!(text.contains("lock has no parameters"), "{text}");
        let text = Target::RaftKv
            .check_sets(&sets(&["replication=async"]))
            .unwrap_err()
            .to_string();
        assert!(text.contains("its parameters: voters"), "{text}");
    }
}
