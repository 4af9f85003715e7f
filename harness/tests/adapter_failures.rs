//! Every way an adapter can misbehave — crash, hang, bad JSON, unknown id, stray
//! output — ends the op in flight as `info` with a message that says what
//! happened, the adapter is restarted, and the following ops go on. The
//! register the fixture adapter serves lives in a file, so the recorded
//! outcomes can be checked against a sequential register model.

mod common;

use common::{assert_linearizable, check_register, Recorder};
use faultline::adapter::{AdapterFactory, AdapterSpec};
use faultline::client::{Client, ClientFactory, Completion, Request};
use faultline::cluster::NodeInfo;
use faultline::system::config::CommandSpec;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

// Generous: a loaded CI machine may be slow to start Python.
const OP_TIMEOUT: Duration = Duration::from_secs(3);

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/register_adapter.py")
}

fn nodes() -> Vec<NodeInfo> {
    (1..=3)
        .map(|i| NodeInfo {
            name: format!("n{i}"),
            host: "127.0.0.1".into(),
            client_addr: format!("127.0.0.1:{}", 7000 + i),
        })
        .collect()
}

struct Setup {
    dir: tempfile::TempDir,
    factory: AdapterFactory,
}

fn setup(mode: &[&str]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("register.json");
    let mut argv = vec![
        "python3".to_string(),
        fixture().display().to_string(),
        state.display().to_string(),
    ];
    argv.extend(mode.iter().map(|s| s.to_string()));
    let spec = AdapterSpec {
        command: CommandSpec::Argv(argv),
        params: vec![],
        env: vec![],
        cwd: None,
        log_dir: Some(dir.path().join("adapters")),
        op_timeout: OP_TIMEOUT,
        log: None,
    };
    let factory = AdapterFactory::new(spec, nodes());
    Setup { dir, factory }
}

fn write(v: i64) -> Request {
    Request {
        f: "write".into(),
        key: Some("r".into()),
        value: json!(v),
    }
}
fn read() -> Request {
    Request {
        f: "read".into(),
        key: Some("r".into()),
        value: Value::Null,
    }
}
fn cas(old: i64, new: i64) -> Request {
    Request {
        f: "cas".into(),
        key: Some("r".into()),
        value: json!([old, new]),
    }
}

/// The ops of one sequential client: write i, read, cas i -> i+100, read, ...
fn workload(n: i64) -> Vec<Request> {
    (1..=n)
        .flat_map(|i| [write(i), read(), cas(i, i + 100), read()])
        .collect()
}

async fn drive(client: &mut dyn Client, ops: Vec<Request>) -> Vec<(Request, Completion)> {
    let mut outcomes = Vec::new();
    for request in ops {
        let started = Instant::now();
        let completion = client.invoke(&request, OP_TIMEOUT).await;
        assert!(
            started.elapsed() < OP_TIMEOUT + Duration::from_secs(2),
            "invoke overran its timeout: {:?}",
            started.elapsed()
        );
        outcomes.push((request, completion));
    }
    outcomes
}

fn infos(outcomes: &[(Request, Completion)]) -> Vec<String> {
    outcomes
        .iter()
        .filter_map(|(_, c)| match c {
            Completion::Info { error } => Some(error.clone()),
            _ => None,
        })
        .collect()
}

fn oks(outcomes: &[(Request, Completion)]) -> usize {
    outcomes
        .iter()
        .filter(|(_, c)| matches!(c, Completion::Ok { .. }))
        .count()
}

/// Runs 12 ops through an adapter that misbehaves at its `trigger`-th op (every
/// restarted process misbehaves again at its own `trigger`-th op).
async fn run_mode(mode: &str, trigger: usize) -> (Setup, Vec<(Request, Completion)>) {
    let (setup, outcomes, history) = record_mode(mode, trigger).await;
    check_register(&outcomes);
    assert_linearizable(&history);
    (setup, outcomes)
}

/// The same, recording a history as the controller does (a new process
/// after each info).
async fn record_mode(
    mode: &str,
    trigger: usize,
) -> (
    Setup,
    Vec<(Request, Completion)>,
    faultline_checkers::History,
) {
    let setup = setup(&[mode, &trigger.to_string()]);
    let mut client = setup.factory.open(0, 1).await.expect("adapter starts");
    let recorder = Recorder::default();
    let mut process = 0;
    let mut outcomes = Vec::new();
    for request in workload(3) {
        recorder.invoke(process, &request);
        let mut done = drive(client.as_mut(), vec![request.clone()]).await;
        let (_, completion) = &done[0];
        if recorder.complete(process, &request, completion) {
            process += 1;
        }
        outcomes.append(&mut done);
    }
    (setup, outcomes, recorder.history())
}

#[tokio::test]
async fn a_lying_adapter_is_caught_by_the_checker() {
    let (_setup, _outcomes, history) = record_mode("lie", 2).await;
    let result = faultline_checkers::linearizability::check_named(
        &history,
        "cas-register",
        None,
        &Default::default(),
    )
    .unwrap();
    assert_eq!(
        result.verdict,
        faultline_checkers::Verdict::Invalid,
        "{}",
        result.summary
    );
}

#[tokio::test]
async fn a_well_behaved_adapter_completes_every_op() {
    let (_setup, outcomes) = run_mode("none", 0).await;
    assert_eq!(oks(&outcomes), 12, "{outcomes:?}");
}

#[tokio::test]
async fn a_crashed_adapter_gives_info_and_is_restarted() {
    let (_setup, outcomes) = run_mode("crash", 3).await;
    let infos = infos(&outcomes);
    // ops 3, 6 (3rd of the 2nd process), 9 and 12 crash.
    assert_eq!(infos.len(), 4, "{outcomes:?}");
    for message in &infos {
        assert!(
            message.contains("exited while op") && message.contains("exit status 3"),
            "{message}"
        );
    }
    // The rest completed normally (a cas may fail after a crashed write).
    assert!(oks(&outcomes) >= 6, "{outcomes:?}");
}

#[tokio::test]
async fn a_hung_adapter_times_out_as_info_and_is_restarted() {
    let (_setup, outcomes) = run_mode("hang", 10).await;
    assert_eq!(
        infos(&outcomes),
        vec!["timeout".to_string()],
        "{outcomes:?}"
    );
    assert!(matches!(outcomes[9].1, Completion::Info { .. }));
    // The ops after the hang ran on a fresh adapter.
    assert!(
        matches!(outcomes[10].1, Completion::Ok { .. }),
        "{outcomes:?}"
    );
    assert!(
        matches!(outcomes[11].1, Completion::Ok { .. }),
        "{outcomes:?}"
    );
}

#[tokio::test]
async fn bad_json_gives_info_and_a_restart() {
    let (_setup, outcomes) = run_mode("badjson", 5).await;
    let infos = infos(&outcomes);
    assert_eq!(infos.len(), 2, "{outcomes:?}");
    assert!(
        infos[0].contains("not a completion (not JSON") && infos[0].contains("this is not json"),
        "{}",
        infos[0]
    );
}

#[tokio::test]
async fn a_flood_without_newlines_gives_info_and_a_restart() {
    let (_setup, outcomes) = run_mode("flood", 4).await;
    let infos = infos(&outcomes);
    assert_eq!(infos.len(), 3, "{outcomes:?}");
    assert!(infos[0].contains("over-long line"), "{}", infos[0]);
}

#[tokio::test]
async fn an_unknown_id_gives_info_and_a_restart() {
    let (_setup, outcomes) = run_mode("unknown", 7).await;
    let infos = infos(&outcomes);
    assert_eq!(infos.len(), 1, "{outcomes:?}");
    assert!(
        infos[0].contains("answered unknown id 1007"),
        "{}",
        infos[0]
    );
}

#[tokio::test]
async fn stray_output_between_ops_restarts_the_adapter() {
    let setup = setup(&["stray", "2"]);
    let mut client = faultline::adapter::AdapterClient::start(
        setup.factory.launch(0, 0).unwrap(),
        "adapter for worker 0".into(),
    )
    .unwrap();
    let first_pid = client.pid().unwrap();
    let mut outcomes = Vec::new();
    for request in [write(1), read(), read(), cas(1, 2), read()] {
        // Let any stray line arrive before the next op is sent.
        tokio::time::sleep(Duration::from_millis(300)).await;
        outcomes.extend(drive(&mut client, vec![request]).await);
    }
    check_register(&outcomes);
    assert_eq!(oks(&outcomes), 5, "{outcomes:?}");
    // Each process babbles after its 2nd op: after ops 2 and 4.
    assert_eq!(client.restarts(), 2);
    assert_ne!(client.pid().unwrap(), first_pid);
    // A stray line that arrives while an op is in flight is babble too; the
    // adapter prints it before its answer, so it surely arrives in flight
    // (a stray line after the answer may arrive before or after the next op
    // is sent). run_mode checks the outcomes against the register.
    let (_s, outcomes) = run_mode("babble", 2).await;
    assert!(!infos(&outcomes).is_empty(), "{outcomes:?}");
    assert!(oks(&outcomes) >= 4, "{outcomes:?}");
    drop(setup);
}

#[tokio::test]
async fn an_adapter_that_exits_between_ops_is_restarted_without_losing_an_op() {
    let setup = setup(&["quit", "2"]);
    let mut client = faultline::adapter::AdapterClient::start(
        setup.factory.launch(0, 0).unwrap(),
        "adapter for worker 0".into(),
    )
    .unwrap();
    let mut outcomes = Vec::new();
    for request in workload(2) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        outcomes.extend(drive(&mut client, vec![request]).await);
    }
    check_register(&outcomes);
    assert_eq!(oks(&outcomes), 8, "{outcomes:?}");
    // Quits after ops 2, 4, 6 and 8; the restarts before ops 3, 5 and 7.
    assert_eq!(client.restarts(), 3);
}

#[tokio::test]
async fn stderr_noise_is_allowed_and_kept() {
    let (setup, outcomes) = run_mode("stderr", 2).await;
    assert_eq!(oks(&outcomes), 12, "{outcomes:?}");
    let log =
        std::fs::read_to_string(setup.dir.path().join("adapters/worker-0.stderr.log")).unwrap();
    assert!(
        log.contains("adapter starting for node 127.0.0.1:7002"),
        "{log}"
    );
    assert!(log.contains("noise noise"), "{log}");
}

#[tokio::test]
async fn a_missing_adapter_is_a_clear_error_at_open() {
    let spec = AdapterSpec {
        command: CommandSpec::Argv(vec!["/nonexistent/adapter".into()]),
        params: vec![],
        env: vec![],
        cwd: None,
        log_dir: None,
        op_timeout: OP_TIMEOUT,
        log: None,
    };
    let factory = AdapterFactory::new(spec, nodes());
    let error = factory
        .open(4, 0)
        .await
        .err()
        .expect("cannot start")
        .to_string();
    assert!(
        error.contains("worker 4") && error.contains("/nonexistent/adapter"),
        "{error}"
    );
}

#[tokio::test]
async fn concurrent_workers_each_get_their_own_adapter() {
    let setup = setup(&["crash", "4"]);
    let mut tasks = Vec::new();
    for worker in 0..3 {
        let mut client = setup.factory.open(worker, worker).await.unwrap();
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for i in 0..10 {
                let request = write(worker as i64 * 100 + i);
                let completion = client.invoke(&request, OP_TIMEOUT).await;
                outcomes.push((request, completion));
            }
            outcomes
        }));
    }
    for task in tasks {
        let outcomes = task.await.unwrap();
        assert_eq!(infos(&outcomes).len(), 2, "{outcomes:?}");
        assert_eq!(oks(&outcomes), 8, "{outcomes:?}");
    }
}

#[tokio::test]
async fn a_system_files_shell_adapter_runs_in_the_files_directory() {
    let toml = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/flaky-system.toml");
    let db =
        faultline::system::SystemDb::new(faultline::system::SystemConfig::load(&toml).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let mut spec = db.adapter_spec(OP_TIMEOUT, None);
    for (k, v) in [
        (
            "FIXTURE_STATE",
            dir.path().join("r.json").display().to_string(),
        ),
        ("FIXTURE_MODE", "crash".into()),
        ("FIXTURE_AT", "2".into()),
    ] {
        spec.env.push((k.into(), v));
    }
    let factory = AdapterFactory::new(spec, nodes());
    let mut client = factory.open(0, 2).await.unwrap();
    let outcomes = drive(client.as_mut(), workload(2)).await;
    check_register(&outcomes);
    let infos = infos(&outcomes);
    assert!(infos.len() >= 3, "{outcomes:?}");
    assert!(infos[0].contains("exit status 3"), "{}", infos[0]);
}
