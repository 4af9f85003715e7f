//! `--cluster netns`: namespaces on a bridge, nodes inside, iptables faults,
//! and nothing left behind.

#[path = "support/netfaults.rs"]
mod support;

use faultline::cluster::netns::{NetnsCluster, NetnsOptions};
use faultline::cluster::{Cluster, NodeState};
use faultline::net::{Grudge, Link, NetFault};
use std::sync::Arc;
use std::time::Duration;
use support::{echo, eventually, tcp_reaches, EchoDb};

/// Run as a node by the other tests (see `support::EchoDb`).
#[test]
fn node_helper() {
    support::node_helper();
}

fn options(dir: &std::path::Path, n: usize) -> NetnsOptions {
    NetnsOptions {
        nodes: n,
        port: 7000,
        run_id: support::unique_id('r'),
        run_dir: dir.to_path_buf(),
        bugs: vec![],
        clock: false,
    }
}

fn pid_of(dir: &std::path::Path, node: &str) -> u32 {
    std::fs::read_to_string(dir.join("nodes").join(node).join("node.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn partitions_kills_pauses_and_a_clean_teardown() {
    if !support::prerequisites() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cluster = NetnsCluster::start(Arc::new(EchoDb), &options(dir.path(), 3)).unwrap();
    let nodes = cluster.nodes().to_vec();
    let ns: Vec<String> = (0..3).map(|i| cluster.netns(i)).collect();
    for n in &nodes {
        assert!(n.host.starts_with("198.18."), "{n:?}");
        assert!(echo(&n.client_addr), "{} does not answer", n.name);
    }
    let short = Duration::from_millis(700);
    // Every node reaches every other.
    assert!(tcp_reaches(&ns[1], &nodes[0].client_addr, short));

    // One-way: n1 drops everything n2 sends. No connection opens between
    // them either way (a handshake needs both directions; see one_way_cuts.rs
    // for what flows), while n3 -> n1 and the clients work.
    let mut grudge = Grudge::new();
    grudge.insert("n1".into(), ["n2".to_string()].into());
    cluster.net().apply(&NetFault::Partition(grudge)).unwrap();
    assert!(
        !tcp_reaches(&ns[1], &nodes[0].client_addr, short),
        "n2 still reaches n1"
    );
    assert!(
        !tcp_reaches(&ns[0], &nodes[1].client_addr, short),
        "n1 opened a connection to n2 though n2's answers are dropped"
    );
    assert!(
        tcp_reaches(&ns[2], &nodes[0].client_addr, short),
        "n3 no longer reaches n1"
    );
    // Clients (from the host) are not partitioned.
    assert!(echo(&nodes[0].client_addr));
    assert_eq!(support::faultline_rules(&ns[0]).len(), 1);

    // Packet loss rules carry the statistic match.
    cluster
        .net()
        .apply(&NetFault::Loss {
            links: vec![Link {
                from: "n3".into(),
                to: "n2".into(),
            }],
            probability: 0.25,
        })
        .unwrap();
    let loss = support::faultline_rules(&ns[1]);
    assert!(
        loss.len() == 1 && loss[0].contains("statistic") && loss[0].contains("0.25"),
        "{loss:?}"
    );
    // An unknown node is an error naming it.
    let mut bad = Grudge::new();
    bad.insert("n9".into(), ["n1".to_string()].into());
    let err = cluster
        .net()
        .apply(&NetFault::Partition(bad))
        .unwrap_err()
        .to_string();
    assert!(err.contains("n9"), "{err}");

    cluster.net().heal().unwrap();
    assert!(ns.iter().all(|n| support::faultline_rules(n).is_empty()));
    assert!(
        tcp_reaches(&ns[1], &nodes[0].client_addr, short),
        "heal did not restore n2 -> n1"
    );

    // Kill and restart; pause and resume.
    cluster.kill(2).unwrap();
    assert_eq!(cluster.state(2), NodeState::Down);
    assert!(!echo(&nodes[2].client_addr));
    assert!(cluster.unexpected_deaths().is_empty());
    cluster.restart(2).unwrap();
    assert_eq!(cluster.state(2), NodeState::Running);
    assert!(echo(&nodes[2].client_addr));
    cluster.pause(0).unwrap();
    assert!(eventually(Duration::from_secs(5), || cluster.state(0)
        == NodeState::Paused));
    cluster.resume(0).unwrap();
    assert!(eventually(Duration::from_secs(5), || cluster.state(0)
        == NodeState::Running));
    assert!(echo(&nodes[0].client_addr));

    // A node that dies on its own is reported with its log.
    let pid2 = pid_of(dir.path(), "n2");
    unsafe { libc::kill(pid2 as i32, libc::SIGKILL) };
    assert!(eventually(Duration::from_secs(5), || !support::alive(pid2)));
    let deaths = cluster.unexpected_deaths();
    assert_eq!(deaths.len(), 1, "{deaths:?}");
    assert_eq!(deaths[0].0, "n2");
    assert!(deaths[0].1.contains("echo node listening"), "{deaths:?}");

    let pids: Vec<u32> = ["n1", "n3"].iter().map(|n| pid_of(dir.path(), n)).collect();
    cluster.teardown(dir.path()).unwrap();
    cluster.teardown(dir.path()).unwrap();
    // Nothing left: processes, namespaces; logs are in the run directory.
    assert!(
        pids.iter().all(|p| !support::alive(*p)),
        "node processes survive teardown"
    );
    for n in &ns {
        assert!(
            !support::namespaces_with(n).contains(n),
            "{n} survives teardown"
        );
    }
    let log = std::fs::read_to_string(dir.path().join("nodes/n1/stderr.log")).unwrap();
    assert!(log.contains("echo node listening"), "{log}");
}

#[test]
fn a_node_that_cannot_start_is_reported_by_name_and_nothing_is_left() {
    if !support::prerequisites() {
        return;
    }
    struct BadDb;
    impl faultline::cluster::Db for BadDb {
        fn name(&self) -> &str {
            "bad"
        }
        fn command(&self, node: &faultline::cluster::NodeLaunch) -> anyhow::Result<Vec<String>> {
            Ok(vec![
                "sh".into(),
                "-c".into(),
                format!("echo 'cannot bind {}' >&2; exit 1", node.listen),
            ])
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let err = NetnsCluster::start(Arc::new(BadDb), &options(dir.path(), 2))
        .err()
        .expect("a cluster of failing nodes started");
    let err = format!("{err:#}");
    assert!(
        err.contains("node n1") && err.contains("cannot bind"),
        "{err}"
    );
    // The error names the cluster; none of its namespaces may remain.
    let at = err.find("fln-").expect("error names the cluster");
    let name: String = err[at + 4..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    let prefix = format!("fln-{name}-");
    let left = support::namespaces_with(&prefix);
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn clock_offsets_reach_a_running_node_through_libfaketime() {
    if !support::prerequisites() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options(dir.path(), 2);
    opts.clock = true;
    let cluster = match NetnsCluster::start(Arc::new(EchoDb), &opts) {
        Err(e)
            if format!("{e:#}").contains("libfaketime not found")
                && std::env::var("CI").as_deref() != Ok("true") =>
        {
            eprintln!("SKIPPED: {e:#}");
            return;
        }
        r => r.unwrap(),
    };
    let nodes = cluster.nodes().to_vec();
    let clock = cluster.clock().expect("clock faults on a clock cluster");
    let near = |got: i64, want: i64| (got - want).abs() <= 2;
    assert!(near(support::clock_offset_s(&nodes[0].client_addr), 0));
    clock.set_clock_offset(0, -3_600_000).unwrap();
    assert!(near(support::clock_offset_s(&nodes[0].client_addr), -3600));
    // Only node 0 moved.
    assert!(near(support::clock_offset_s(&nodes[1].client_addr), 0));
    // A jump while it runs.
    clock.set_clock_offset(0, 86_400_000).unwrap();
    assert!(near(support::clock_offset_s(&nodes[0].client_addr), 86_400));
    // As the nemesis applies it: offsets by node name.
    let offsets: faultline::clock::ClockOffsets = [("n2".to_string(), -7_200_000)].into();
    faultline::clock::apply(clock, &nodes, &offsets).unwrap();
    assert!(near(support::clock_offset_s(&nodes[1].client_addr), -7200));
    let bad: faultline::clock::ClockOffsets = [("n7".to_string(), 1)].into();
    assert!(faultline::clock::apply(clock, &nodes, &bad)
        .unwrap_err()
        .to_string()
        .contains("n7"));
    clock.reset_clocks().unwrap();
    assert!(near(support::clock_offset_s(&nodes[1].client_addr), 0));
    assert!(near(support::clock_offset_s(&nodes[0].client_addr), 0));
    cluster.teardown(dir.path()).unwrap();
}

/// Sends `text` and asserts no echo comes back within 1.5 s: the traffic is
/// held by `fault`, not answered and not reset.
fn send_and_expect_silence(
    conn: &mut std::net::TcpStream,
    reader: &mut std::io::BufReader<std::net::TcpStream>,
    text: &str,
    fault: &str,
) {
    use std::io::{BufRead, ErrorKind, Write};
    writeln!(conn, "{text}").unwrap();
    conn.set_read_timeout(Some(Duration::from_millis(1500)))
        .unwrap();
    let mut line = String::new();
    let err = reader
        .read_line(&mut line)
        .expect_err(&format!("a reply came through {fault}"));
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "the connection broke instead of stalling: {err}"
    );
}

/// After a heal, the held `text` arrives (echoed) within 15 s.
fn expect_held_line(
    conn: &mut std::net::TcpStream,
    reader: &mut std::io::BufReader<std::net::TcpStream>,
    text: &str,
) {
    use std::io::BufRead;
    conn.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(
        line,
        format!("{text}\n"),
        "the held message was not delivered after the heal"
    );
}

/// A partition acts on connections already open: their traffic is held (a
/// cut cable, not a reset) and flows again after the heal.
#[test]
fn an_open_connection_is_blackholed_then_resumes() {
    use std::io::{BufRead, BufReader, Write};
    if !support::prerequisites() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cluster = NetnsCluster::start(Arc::new(EchoDb), &options(dir.path(), 2)).unwrap();
    let n1 = cluster.nodes()[0].client_addr.clone();
    // n2's connection to n1, opened before the partition.
    let mut conn = support::connect_from(&cluster.netns(1), &n1).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    writeln!(conn, "before").unwrap();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "before\n");

    let mut grudge = Grudge::new();
    grudge.insert("n1".into(), ["n2".to_string()].into());
    cluster.net().apply(&NetFault::Partition(grudge)).unwrap();
    send_and_expect_silence(&mut conn, &mut reader, "during", "the partition");
    cluster.net().heal().unwrap();
    expect_held_line(&mut conn, &mut reader, "during");
    cluster.teardown(dir.path()).unwrap();
}

/// Stall holds the traffic of open connections; Reset breaks them once.
#[test]
fn stall_holds_and_reset_breaks_open_connections() {
    use std::io::{BufRead, BufReader, ErrorKind, Write};
    if !support::prerequisites() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cluster = NetnsCluster::start(Arc::new(EchoDb), &options(dir.path(), 2)).unwrap();
    let n1 = cluster.nodes()[0].client_addr.clone();
    let link = vec![Link {
        from: "n2".into(),
        to: "n1".into(),
    }];
    assert!(cluster.net().supports(&NetFault::Stall(link.clone())));

    let mut conn = support::connect_from(&cluster.netns(1), &n1).unwrap();
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    cluster.net().apply(&NetFault::Stall(link.clone())).unwrap();
    send_and_expect_silence(&mut conn, &mut reader, "held", "the stall");
    cluster.net().heal().unwrap();
    expect_held_line(&mut conn, &mut reader, "held");
    let mut line = String::new();

    // Reset: the connection's next packet meets an RST.
    let ns1 = cluster.netns(0);
    std::thread::scope(|s| {
        let net = cluster.net();
        let reset = s.spawn(|| net.apply(&NetFault::Reset(link.clone())));
        std::thread::sleep(Duration::from_millis(300));
        let _ = writeln!(conn, "reset me");
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            other => panic!("the connection survived the reset: {other:?} {line:?}"),
        }
        reset.join().unwrap().unwrap();
    });
    // Once over, the link works again and no rule is left.
    assert!(support::faultline_rules(&ns1).is_empty());
    assert!(tcp_reaches(&cluster.netns(1), &n1, Duration::from_secs(2)));
    cluster.teardown(dir.path()).unwrap();
}
