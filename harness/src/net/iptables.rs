//! Network faults with iptables on the nodes' hosts (namespace hosts or real
//! ones over SSH).
//!
//! Every rule goes in the INPUT chain of the receiving host and carries the
//! comment `faultline:<run-id>`, so healing removes exactly our rules and
//! nothing else, also after the controller died (`faultline heal`).
//!
//! Partitions (any grudge, so one-way cuts too) and packet loss (the
//! `statistic` match) drop packets; a stall drops all but SYNs of a link's
//! connections; a reset answers them with RST for a moment.
//!
//! A directed link i -> j is cut at j by dropping every packet from i's
//! address, whatever its ports and whichever side dialed (as Jepsen does): j
//! receives nothing from i. This is a cut at the packet level, so it takes i's
//! TCP acknowledgements with it: j's streams to i deliver what was already in
//! flight and then hang (retransmitting) until the heal, and no new connection
//! opens either way between i and j (a handshake needs both directions). UDP
//! from j to i keeps flowing. The harness's own traffic is untouched, because
//! it never comes from a node's address: clients, ready checks and SSH reach
//! the nodes from the controller's machine (on netns, the bridge's `.1`).

use super::{Grudge, Link, Net, NetFault};
use crate::remote::{parallel::on_all, Remote};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The comment prefix of every rule faultline adds.
pub const TAG_PREFIX: &str = "faultline:";

/// The tag of one run's rules.
pub fn tag(run_id: &str) -> String {
    format!("{TAG_PREFIX}{run_id}")
}

/// How long a reset fault answers a link's packets with RST.
const RESET_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

/// A node's host as the iptables net sees it.
#[derive(Clone)]
pub struct Host {
    /// Node name (`n1`).
    pub node: String,
    /// The address peers reach the node at (the source address of its packets).
    pub addr: String,
    pub remote: Arc<dyn Remote>,
}

/// Network faults through iptables rules on each node's host.
pub struct IptablesNet {
    hosts: Vec<Host>,
    tag: String,
    /// Prefix commands with `sudo -n` (logged in as someone other than root).
    sudo: bool,
}

impl IptablesNet {
    pub fn new(hosts: Vec<Host>, run_id: &str, sudo: bool) -> Self {
        IptablesNet {
            hosts,
            tag: tag(run_id),
            sudo,
        }
    }

    fn host(&self, node: &str) -> anyhow::Result<&Host> {
        self.hosts.iter().find(|h| h.node == node).ok_or_else(|| {
            let known: Vec<_> = self.hosts.iter().map(|h| h.node.as_str()).collect();
            anyhow::anyhow!("no node named {node:?} (nodes: {})", known.join(", "))
        })
    }

    /// The host index where link `from` -> `to` is cut (the receiver's) and
    /// the match (after `-A INPUT`) of everything the sender sends there.
    fn link_match(&self, link: &Link) -> anyhow::Result<(usize, Vec<String>)> {
        let from = self.host(&link.from)?;
        self.host(&link.to)?;
        let to_index = self.hosts.iter().position(|h| h.node == link.to).unwrap();
        Ok((
            to_index,
            vec!["-s".to_string(), format!("{}/32", from.addr)],
        ))
    }

    /// Rules to add, per host index.
    fn rules_for(&self, fault: &NetFault) -> anyhow::Result<BTreeMap<usize, Vec<Vec<String>>>> {
        let mut rules: BTreeMap<usize, Vec<Vec<String>>> = BTreeMap::new();
        let mut add = |link: &Link, extra: &[&str], target: &[&str]| -> anyhow::Result<()> {
            let (host, mut m) = self.link_match(link)?;
            m.extend(extra.iter().map(|s| s.to_string()));
            m.extend(["-m", "comment", "--comment", &self.tag, "-j"].map(String::from));
            m.extend(target.iter().map(|s| s.to_string()));
            rules.entry(host).or_default().push(m);
            Ok(())
        };
        match fault {
            NetFault::Partition(grudge) => {
                for link in grudge_links(grudge) {
                    add(&link, &[], &["DROP"])?;
                }
            }
            NetFault::Loss { links, probability } => {
                anyhow::ensure!(
                    (0.0..=1.0).contains(probability),
                    "loss probability {probability} is not between 0 and 1"
                );
                let p = format!("{probability}");
                let stat = ["-m", "statistic", "--mode", "random", "--probability", &p];
                for link in links {
                    add(link, &stat, &["DROP"])?;
                }
            }
            // Every TCP packet but a SYN is dropped: open connections hang
            // (TCP holds the data and retransmits it after the heal) while new
            // connections still get through their first step. (Not conntrack
            // states: a connection opened before conntrack ran in a namespace
            // would count as NEW.)
            NetFault::Stall(links) => {
                for link in links {
                    add(link, &["-p", "tcp", "!", "--syn"], &["DROP"])?;
                }
            }
            // Answer the link's TCP packets with RST for a moment (see `apply`).
            NetFault::Reset(links) => {
                for link in links {
                    add(
                        link,
                        &["-p", "tcp"],
                        &["REJECT", "--reject-with", "tcp-reset"],
                    )?;
                }
            }
        }
        Ok(rules)
    }

    /// Add (`-A`) or delete (`-D`) rules on their hosts, in parallel.
    fn change(
        &self,
        action: &str,
        rules: &BTreeMap<usize, Vec<Vec<String>>>,
    ) -> anyhow::Result<()> {
        let work: Vec<_> = rules.iter().collect();
        on_all(&work, |_, (host, rules)| {
            let h = &self.hosts[**host];
            for rule in rules.iter() {
                let mut args = vec![action.to_string(), "INPUT".to_string()];
                args.extend(rule.iter().cloned());
                let argv = self.iptables(&args);
                let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
                h.remote
                    .run_ok(&argv)
                    .map_err(|e| anyhow::anyhow!("node {}: {e:#}", h.node))?;
            }
            Ok(())
        })?;
        Ok(())
    }

    fn iptables(&self, args: &[String]) -> Vec<String> {
        let mut argv: Vec<String> = Vec::new();
        if self.sudo {
            argv.extend(["sudo", "-n"].map(String::from));
        }
        argv.extend(["iptables", "-w", "10"].map(String::from));
        argv.extend(args.iter().cloned());
        argv
    }

    /// The rules of this run now on each host (as `iptables -S` prints them).
    pub fn rules_in_force(&self) -> anyhow::Result<Vec<Vec<String>>> {
        on_all(&self.hosts, |_, h| {
            list_tagged(h.remote.as_ref(), self.sudo, |c| c == self.tag)
        })
    }
}

/// Every directed link a grudge cuts.
pub fn grudge_links(grudge: &Grudge) -> Vec<Link> {
    grudge
        .iter()
        .flat_map(|(to, froms)| {
            froms.iter().map(move |from| Link {
                from: from.clone(),
                to: to.clone(),
            })
        })
        .collect()
}

impl Net for IptablesNet {
    fn apply(&self, fault: &NetFault) -> anyhow::Result<()> {
        let rules = self.rules_for(fault)?;
        self.change("-A", &rules)?;
        if let NetFault::Reset(_) = fault {
            // Long enough for the links' next packets (heartbeats, retries)
            // to meet the RST; then the links work again.
            std::thread::sleep(RESET_WINDOW);
            self.change("-D", &rules)?;
        }
        Ok(())
    }

    fn supports(&self, _fault: &NetFault) -> bool {
        true
    }

    fn heal(&self) -> anyhow::Result<()> {
        on_all(&self.hosts, |_, h| {
            remove_tagged(h.remote.as_ref(), self.sudo, |c| c == self.tag)
                .map_err(|e| anyhow::anyhow!("node {}: {e:#}", h.node))
        })?;
        Ok(())
    }
}

/// Our rules on a host whose comment satisfies `wanted`, as argument lists
/// (`-A INPUT ...`).
pub fn list_tagged(
    remote: &dyn Remote,
    sudo: bool,
    wanted: impl Fn(&str) -> bool,
) -> anyhow::Result<Vec<String>> {
    let mut argv = Vec::new();
    if sudo {
        argv.extend(["sudo", "-n"]);
    }
    argv.extend(["iptables", "-w", "10", "-S", "INPUT"]);
    let out = remote.run_ok(&argv)?;
    Ok(out
        .lines()
        .filter(|line| comment_of(&split_rule(line)).is_some_and(&wanted))
        .map(String::from)
        .collect())
}

/// Delete every INPUT rule on a host whose comment satisfies `wanted`; returns
/// how many went.
pub fn remove_tagged(
    remote: &dyn Remote,
    sudo: bool,
    wanted: impl Fn(&str) -> bool,
) -> anyhow::Result<usize> {
    let rules = list_tagged(remote, sudo, wanted)?;
    for rule in &rules {
        let mut words = split_rule(rule);
        words[0] = "-D".into();
        let mut argv: Vec<&str> = Vec::new();
        if sudo {
            argv.extend(["sudo", "-n"]);
        }
        argv.extend(["iptables", "-w", "10"]);
        argv.extend(words.iter().map(String::as_str));
        remote.run_ok(&argv)?;
    }
    Ok(rules.len())
}

/// Whether a rule comment is one of faultline's.
pub fn is_ours(comment: &str) -> bool {
    comment.starts_with(TAG_PREFIX)
}

/// The words of a rule as `iptables -S` prints it (double quotes group words).
pub fn split_rule(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            '\\' if quoted => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

pub fn comment_of(words: &[String]) -> Option<&str> {
    let i = words.iter().position(|w| w == "--comment")?;
    words.get(i + 1).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_split_like_iptables_prints_them() {
        let line = r#"-A INPUT -s 198.18.1.12/32 -p tcp -m tcp --dport 7000 -m comment --comment "faultline:r 1" -j DROP"#;
        let words = split_rule(line);
        assert_eq!(words[0], "-A");
        assert_eq!(comment_of(&words), Some("faultline:r 1"));
        assert_eq!(words.last().unwrap(), "DROP");
        assert_eq!(comment_of(&split_rule("-A INPUT -j ACCEPT")), None);
    }

    fn net() -> IptablesNet {
        let hosts = (1..=3)
            .map(|i| Host {
                node: format!("n{i}"),
                addr: format!("198.18.5.{}", 10 + i),
                remote: Arc::new(crate::remote::local::LocalRemote::host()),
            })
            .collect();
        IptablesNet::new(hosts, "run7", false)
    }

    #[test]
    fn a_cut_link_drops_everything_the_sender_sends_to_the_receiver() {
        let mut g = Grudge::new();
        g.insert("n1".into(), ["n2".to_string()].into());
        let rules = net().rules_for(&NetFault::Partition(g)).unwrap();
        // One rule, on n1's host (index 0), by address only: no port, so it
        // matches whichever side dialed.
        assert_eq!(rules.keys().collect::<Vec<_>>(), vec![&0]);
        assert_eq!(
            rules[&0][0].join(" "),
            "-s 198.18.5.12/32 -m comment --comment faultline:run7 -j DROP"
        );
        let stall = NetFault::Stall(vec![Link {
            from: "n2".into(),
            to: "n1".into(),
        }]);
        assert_eq!(
            net().rules_for(&stall).unwrap()[&0][0].join(" "),
            "-s 198.18.5.12/32 -p tcp ! --syn -m comment --comment faultline:run7 -j DROP"
        );
    }

    #[test]
    fn loss_uses_the_statistic_match_and_checks_its_probability() {
        let links = vec![Link {
            from: "n3".into(),
            to: "n2".into(),
        }];
        let fault = NetFault::Loss {
            links: links.clone(),
            probability: 0.3,
        };
        let rules = net().rules_for(&fault).unwrap();
        assert!(rules[&1][0]
            .join(" ")
            .contains("-m statistic --mode random --probability 0.3"));
        let bad = NetFault::Loss {
            links,
            probability: 1.5,
        };
        assert!(net().rules_for(&bad).is_err());
        assert!(net().supports(&NetFault::Stall(vec![])));
    }

    #[test]
    fn a_grudge_lists_each_cut_link() {
        let mut g = Grudge::new();
        g.insert("n1".into(), ["n3".to_string(), "n4".to_string()].into());
        let links = grudge_links(&g);
        assert_eq!(
            links,
            vec![
                Link {
                    from: "n3".into(),
                    to: "n1".into()
                },
                Link {
                    from: "n4".into(),
                    to: "n1".into()
                }
            ]
        );
    }
}
