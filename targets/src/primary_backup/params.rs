//! The target's parameters, set with `--set name=value` (the harness checks
//! names and values first and passes them on in the same form).

/// When the primary answers a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replication {
    /// Once every live backup, and at least `quorum` nodes, hold it durably.
    Sync,
    /// As soon as the primary's own log holds it durably.
    Async,
}

/// How many nodes (the primary included) must hold an entry before a `sync`
/// primary answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quorum {
    Majority,
    /// Below a majority, acknowledged writes can be lost at failover.
    Copies(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub replication: Replication,
    pub quorum: Quorum,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            replication: Replication::Sync,
            quorum: Quorum::Majority,
        }
    }
}

/// Each parameter: name, default, accepted values.
pub const PARAMS: &[(&str, &str, &str)] = &[
    ("replication", "sync", "sync or async"),
    ("quorum", "majority", "majority or a number of nodes"),
];

impl Params {
    /// Reads `name=value` settings; an unknown name or a bad value is an
    /// error naming what is known.
    pub fn parse(sets: &[String]) -> anyhow::Result<Params> {
        let mut p = Params::default();
        for set in sets {
            let Some((name, value)) = set.split_once('=') else {
                anyhow::bail!("--set {set:?} is not of the form name=value");
            };
            match (name.trim(), value.trim()) {
                ("replication", "sync") => p.replication = Replication::Sync,
                ("replication", "async") => p.replication = Replication::Async,
                ("quorum", "majority") => p.quorum = Quorum::Majority,
                ("quorum", n) if n.parse::<usize>().is_ok_and(|n| n >= 1) => {
                    p.quorum = Quorum::Copies(n.parse().expect("checked"))
                }
                (name, value) => {
                    let known = PARAMS.iter().find(|(n, _, _)| *n == name);
                    match known {
                        Some((_, _, values)) => {
                            anyhow::bail!("--set {name}={value:?}: {name} takes {values}")
                        }
                        None => anyhow::bail!(
                            "--set {name:?} is not a parameter here; known: {}",
                            PARAMS
                                .iter()
                                .map(|(n, _, _)| *n)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    }
                }
            }
        }
        Ok(p)
    }

    /// The copies a `sync` primary waits for in a cluster of `nodes`.
    pub fn copies(&self, nodes: usize) -> anyhow::Result<usize> {
        match self.quorum {
            Quorum::Majority => Ok(nodes / 2 + 1),
            Quorum::Copies(n) if n <= nodes => Ok(n),
            Quorum::Copies(n) => {
                anyhow::bail!("--set quorum={n}: more than the cluster's {nodes} nodes")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_and_bad_ones_name_what_is_known() {
        let sets = |s: &[&str]| Params::parse(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(sets(&[]).unwrap(), Params::default());
        let p = sets(&["replication=async", "quorum=3"]).unwrap();
        assert_eq!(p.replication, Replication::Async);
        assert_eq!(
            (p.copies(5).unwrap(), Params::default().copies(5).unwrap()),
            (3, 3)
        );
        assert!(p.copies(2).unwrap_err().to_string().contains("2 nodes"));
        let e = sets(&["replication=eventual"]).unwrap_err().to_string();
        assert!(e.contains("sync or async"), "{e}");
        let e = sets(&["colour=red"]).unwrap_err().to_string();
        assert!(
            e.contains("colour") && e.contains("replication, quorum"),
            "{e}"
        );
        assert!(sets(&["quorum=0"]).is_err());
        assert!(sets(&["replication"]).is_err());
    }
}
