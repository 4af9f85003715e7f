//! One-way cuts act on the sender's bytes whichever side dialed: on a pair of
//! nodes where n2 dials n1 and n1 writes back into that connection (as etcd's
//! peer streams do), cutting n1 -> n2 leaves n2 with nothing from n1 while n1
//! still hears n2, on the local proxies, on netns and on SSH hosts
//! (iptables). Bytes are counted per direction by the nodes themselves.

#[path = "support/netfaults.rs"]
mod support;

use faultline::cluster::local::LocalCluster;
use faultline::cluster::netns::{NetnsCluster, NetnsOptions};
use faultline::cluster::ssh::{SshCluster, SshOptions};
use faultline::cluster::{Cluster, Db, NodeLaunch};
use faultline::net::{Grudge, NetFault};
use faultline::remote::ssh::SshConfig;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Runs this test executable as a counting node (see [`counting_node`]).
struct CountingDb;

impl Db for CountingDb {
    fn name(&self) -> &str {
        "counting"
    }
    fn command(&self, node: &NodeLaunch) -> anyhow::Result<Vec<String>> {
        let peers: Vec<String> = node.peers.iter().map(|(n, a)| format!("{n}={a}")).collect();
        Ok(vec![
            std::env::current_exe()?.display().to_string(),
            "node_helper".into(),
            format!(
                "faultline-counting={}|{}|{}|{}",
                node.name,
                node.listen,
                node.data_dir.display(),
                peers.join(",")
            ),
            "--exact".into(),
            "--nocapture".into(),
            "--test-threads=1".into(),
        ])
    }
}

/// Run as a node by the tests below.
#[test]
fn node_helper() {
    let Some(arg) =
        std::env::args().find_map(|a| a.strip_prefix("faultline-counting=").map(String::from))
    else {
        return;
    };
    let parts: Vec<&str> = arg.split('|').collect();
    let peers = parts[3]
        .split(',')
        .filter_map(|p| p.split_once('='))
        .map(|(n, a)| (n.to_string(), a.to_string()))
        .collect();
    counting_node(parts[0], parts[1], Path::new(parts[2]), peers);
}

type Counts = Arc<Mutex<BTreeMap<String, u64>>>;

/// A node that streams bytes to every peer and counts what it receives from
/// each, per protocol. It dials only peers that sort before it (n2 dials n1),
/// and the dialed node streams its own bytes back into the dialer's
/// connection. It also sends each peer a UDP datagram every 20 ms. Every
/// 20 ms it writes `<dir>/counts`: `seq N`, then `tcp|udp <peer> <bytes>`.
fn counting_node(name: &str, listen: &str, dir: &Path, peers: Vec<(String, String)>) {
    let counts: Counts = Arc::default();
    let listener = TcpListener::bind(listen).expect("bind tcp");
    let udp = UdpSocket::bind(listen).expect("bind udp");
    eprintln!("counting node {name} on {listen}");
    // Accepted connections: the dialer names itself in a first line.
    let c = counts.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let c = c.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut peer = String::new();
                if reader.read_line(&mut peer).unwrap_or(0) == 0 {
                    return; // a ready check
                }
                stream(conn, reader, peer.trim(), &c);
            });
        }
    });
    for (peer, addr) in peers.iter().filter(|(p, _)| p.as_str() < name) {
        let (c, me, peer, addr) = (counts.clone(), name.to_string(), peer.clone(), addr.clone());
        std::thread::spawn(move || loop {
            let addr = addr.parse().unwrap();
            if let Ok(mut conn) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                if writeln!(conn, "{me}").is_ok() {
                    let reader = BufReader::new(conn.try_clone().unwrap());
                    stream(conn, reader, &peer, &c);
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        });
    }
    let sender = udp.try_clone().unwrap();
    let me = name.to_string();
    let targets: Vec<String> = peers
        .iter()
        .filter(|(p, _)| *p != me)
        .map(|(_, a)| a.clone())
        .collect();
    std::thread::spawn(move || loop {
        for t in &targets {
            let _ = sender.send_to(me.as_bytes(), t);
        }
        std::thread::sleep(Duration::from_millis(20));
    });
    let c = counts.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while let Ok((n, _)) = udp.recv_from(&mut buf) {
            let from = String::from_utf8_lossy(&buf[..n]).to_string();
            *c.lock().unwrap().entry(format!("udp {from}")).or_default() += n as u64;
        }
    });
    let file = dir.join("counts");
    for seq in 0u64.. {
        let mut text = format!("seq {seq}\n");
        for (k, v) in counts.lock().unwrap().iter() {
            text.push_str(&format!("{k} {v}\n"));
        }
        let tmp = dir.join("counts.tmp");
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, &file).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Stream 100-byte chunks into `conn` every 10 ms while counting what
/// arrives from `peer`; returns when the connection ends.
fn stream(conn: TcpStream, mut reader: BufReader<TcpStream>, peer: &str, counts: &Counts) {
    let _ = conn.set_nodelay(true);
    let mut writer = conn.try_clone().unwrap();
    let w = std::thread::spawn(move || loop {
        if writer.write_all(&[b'x'; 100]).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    });
    let key = format!("tcp {peer}");
    let mut buf = [0u8; 4096];
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => *counts.lock().unwrap().entry(key.clone()).or_default() += n as u64,
        }
    }
    let _ = conn.shutdown(std::net::Shutdown::Both);
    let _ = w.join();
}

/// Where each node's data directory is (clusters lay them out differently).
type DataDirs<'a> = &'a dyn Fn(&str) -> PathBuf;

/// The layout of local and netns clusters: `<run dir>/nodes/<node>/data`.
fn run_dir_layout(dir: &Path) -> impl Fn(&str) -> PathBuf + '_ {
    move |node| dir.join("nodes").join(node).join("data")
}

/// A node's counts file, read whole: (seq, "tcp n1" -> bytes).
fn read_counts(dir: DataDirs, node: &str) -> Option<(u64, BTreeMap<String, u64>)> {
    let text = std::fs::read_to_string(dir(node).join("counts")).ok()?;
    let mut lines = text.lines();
    let seq = lines.next()?.strip_prefix("seq ")?.parse().ok()?;
    let mut counts = BTreeMap::new();
    for line in lines {
        let (key, n) = line.rsplit_once(' ')?;
        counts.insert(key.to_string(), n.parse().ok()?);
    }
    Some((seq, counts))
}

/// What `node` has received so far on `key` (`tcp n1`), as of a counts file
/// written after this call began (so nothing received before is missing).
fn received(dir: DataDirs, node: &str, key: &str) -> u64 {
    let start = read_counts(dir, node).map_or(0, |(seq, _)| seq);
    let mut got = None;
    assert!(
        support::eventually(Duration::from_secs(10), || {
            match read_counts(dir, node) {
                Some((seq, counts)) if seq >= start + 2 => {
                    got = Some(counts.get(key).copied().unwrap_or(0));
                    true
                }
                _ => false,
            }
        }),
        "node {node} stopped writing its counts"
    );
    got.unwrap()
}

/// Waits until `node`'s count on `key` grows past `from` by `by` bytes.
fn grows(dir: DataDirs, node: &str, key: &str, by: u64, within: Duration) -> bool {
    let from = received(dir, node, key);
    support::eventually(within, || {
        read_counts(dir, node).is_some_and(|(_, c)| c.get(key).copied().unwrap_or(0) >= from + by)
    })
}

/// How long a cut is watched for bytes that should not arrive: 50 rewrites
/// of the counts file (about a second).
fn stays(dir: DataDirs, node: &str, key: &str) -> Result<u64, String> {
    let base = received(dir, node, key);
    let start = read_counts(dir, node).unwrap().0;
    let mut now = base;
    support::eventually(Duration::from_secs(20), || {
        let Some((seq, c)) = read_counts(dir, node) else {
            return false;
        };
        now = c.get(key).copied().unwrap_or(0);
        now != base || seq >= start + 50
    });
    if now == base {
        Ok(base)
    } else {
        Err(format!(
            "{node} received {} bytes on {key} during the cut",
            now - base
        ))
    }
}

fn cut(from: &str, to: &str) -> NetFault {
    let mut grudge = Grudge::new();
    grudge.insert(to.into(), [from.to_string()].into());
    NetFault::Partition(grudge)
}

/// The scenario on any cluster: both cuts (the dialed node's bytes, then the
/// dialer's), each checked for silence one way and flow the other, then heal.
/// `reverse` is the counter that must keep growing: `tcp` through the local
/// proxies; on iptables `udp` (a packet-level cut also takes i's TCP
/// acknowledgements, so j's TCP stream to i hangs too).
fn one_way_cuts(cluster: &dyn Cluster, dir: DataDirs, reverse: &str) {
    let flow = Duration::from_secs(20);
    for (node, peer) in [("n1", "n2"), ("n2", "n1")] {
        assert!(
            grows(dir, node, &format!("tcp {peer}"), 1000, flow),
            "{node} receives nothing from {peer} over TCP before any fault"
        );
    }
    // n1 -> n2: n1's bytes travel in the answers on n2's connection.
    // n2 -> n1: n2's bytes travel on the connection n2 dialed.
    for (i, j) in [("n1", "n2"), ("n2", "n1")] {
        cluster.net().apply(&cut(i, j)).unwrap();
        let silent = stays(dir, j, &format!("tcp {i}"));
        let udp_silent = stays(dir, j, &format!("udp {i}"));
        let still = grows(dir, i, &format!("{reverse} {j}"), 300, flow);
        cluster.net().heal().unwrap();
        silent.unwrap_or_else(|e| panic!("cut {i} -> {j}: {e}"));
        if reverse == "udp" {
            udp_silent.unwrap_or_else(|e| panic!("cut {i} -> {j}: {e}"));
        }
        assert!(
            still,
            "cut {i} -> {j}: {i} no longer receives from {j} ({reverse})"
        );
        for (node, peer) in [(j, i), (i, j)] {
            assert!(
                grows(dir, node, &format!("tcp {peer}"), 1000, flow),
                "after the heal of {i} -> {j}, {node} receives nothing from {peer}"
            );
        }
    }
}

#[test]
fn one_way_cuts_through_the_local_proxies() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cluster = LocalCluster::start(rt.handle(), &CountingDb, 2, &[], dir.path()).unwrap();
    one_way_cuts(&cluster, &run_dir_layout(dir.path()), "tcp");
    cluster.teardown(dir.path()).unwrap();
}

#[test]
fn one_way_cuts_by_iptables_on_netns() {
    if !support::prerequisites() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let opts = NetnsOptions {
        nodes: 2,
        port: 7000,
        run_id: support::unique_id('d'),
        run_dir: PathBuf::from(dir.path()),
        bugs: vec![],
        clock: false,
    };
    let cluster = NetnsCluster::start(Arc::new(CountingDb), &opts).unwrap();
    one_way_cuts(&cluster, &run_dir_layout(dir.path()), "udp");
    cluster.teardown(dir.path()).unwrap();
}

#[test]
fn one_way_cuts_by_iptables_on_ssh_hosts() {
    if !support::prerequisites() {
        return;
    }
    let hosts = support::Hosts::up(2);
    let dir = tempfile::tempdir().unwrap();
    let remote_dir = dir.path().join("remote");
    let run_id = support::unique_id('w');
    let opts = SshOptions {
        hosts: hosts.nodes.clone(),
        ssh: SshConfig::new(
            &hosts.user,
            Some(hosts.key.clone()),
            hosts.known_hosts.clone(),
        ),
        remote_dir: remote_dir.clone(),
        port: 7000,
        run_id: run_id.clone(),
        bugs: vec![],
        clock: false,
    };
    let cluster = SshCluster::start(Arc::new(CountingDb), &opts).unwrap();
    // The hosts are namespaces of this machine, so their files are ours to read.
    let layout = |node: &str| remote_dir.join(&run_id).join(node).join("node/data");
    one_way_cuts(&cluster, &layout, "udp");
    cluster.teardown(&dir.path().join("run")).unwrap();
}
