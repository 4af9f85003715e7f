//! The Rust client against a real one-node etcd, started from the same system
//! file the Python adapter uses (examples/etcd/etcd.toml).

use faultline::client::{ClientFactory, Completion, Request};
use faultline::cluster::{Db, NodeInfo, NodeLaunch, ReadyCheck};
use faultline::system::{SystemConfig, SystemDb};
use faultline_example_rust_client::EtcdClients;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn request(f: &str, value: Value) -> Request {
    Request {
        f: f.into(),
        key: Some("r".into()),
        value,
    }
}

/// The etcd this test started, killed by its PID however the test ends.
struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn register_ops_on_a_real_etcd() {
    if !Path::new("/usr/bin/etcd").exists() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "/usr/bin/etcd is missing: scripts/setup installs etcd-server"
        );
        eprintln!("skipping: /usr/bin/etcd is missing (apt-get install etcd-server)");
        return;
    }
    let toml = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../etcd/etcd.toml");
    let db = SystemDb::new(SystemConfig::load(&toml).unwrap());
    let tmp = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let launch = NodeLaunch {
        name: "n1".into(),
        listen: listen.clone(),
        peers: vec![("n1".into(), listen)],
        data_dir: tmp.path().join("n1"),
        bugs: vec![],
    };
    let argv = db.command(&launch).unwrap();
    let mut etcd = Node(
        Command::new(&argv[0])
            .args(&argv[1..])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(tmp.path().join("etcd.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    // Ready as faultline decides it: etcd.toml's ready command (etcd's
    // /health) exits 0.
    let ReadyCheck::Command(ready) = db.ready_check(&launch).unwrap() else {
        panic!("expected etcd.toml's ready command");
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !Command::new(&ready[0])
        .args(&ready[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
    {
        assert!(Instant::now() < deadline, "etcd did not become healthy");
        std::thread::sleep(Duration::from_millis(50));
    }
    let addr = db.client_addr(&launch).unwrap();

    let factory = EtcdClients {
        nodes: vec![NodeInfo {
            name: "n1".into(),
            host: "127.0.0.1".into(),
            client_addr: addr,
        }],
    };
    let mut client = factory.open(0, 0).await.unwrap();
    let timeout = Duration::from_secs(5);
    let ok = |value: Value| Completion::Ok { value };
    let steps = [
        (request("read", Value::Null), ok(Value::Null)),
        (request("cas", json!([null, 1])), ok(Value::Null)),
        (
            request("cas", json!([null, 2])),
            Completion::Fail {
                error: "precondition".into(),
            },
        ),
        (request("write", json!(5)), ok(Value::Null)),
        (request("read", Value::Null), ok(json!(5))),
        (request("cas", json!([5, 6])), ok(Value::Null)),
        (
            request("cas", json!([5, 7])),
            Completion::Fail {
                error: "precondition".into(),
            },
        ),
        (request("read", Value::Null), ok(json!(6))),
    ];
    for (req, expected) in steps {
        assert_eq!(client.invoke(&req, timeout).await, expected, "{req:?}");
    }

    etcd.0.kill().unwrap();
    etcd.0.wait().unwrap();
    // Nothing listens: certainly no effect, for a write too.
    for req in [request("write", json!(9)), request("read", Value::Null)] {
        let got = client.invoke(&req, timeout).await;
        assert!(
            matches!(&got, Completion::Fail { error } if error.starts_with("connect")),
            "{req:?} -> {got:?}"
        );
    }
}
