//! The dispatcher state machine driven directly: assignment to the least
//! loaded live worker, reassignment after a worker's heartbeats stop, the
//! epoch fence, and what each bug switch changes.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::state::{Dispatcher, WORKER_TIMEOUT};
use super::{BUG_ACK_BEFORE_REPLICATE, BUG_NO_FENCING};
use crate::raft::{Admit, StateMachine};
use crate::wire::{Outcome, Request};

fn req(f: &str, value: Value) -> Request {
    Request {
        id: json!(1),
        f: f.into(),
        key: None,
        value,
    }
}

/// Admit as leader and apply what it appends, as Raft would once committed.
fn call(d: &mut Dispatcher, f: &str, value: Value, now: Instant) -> Outcome {
    match d.admit(&req(f, value), true, now) {
        Admit::Answer(o) => o,
        Admit::Append(cmd) => d.apply(0, &cmd, now),
    }
}

/// One leader tick: apply every assignment it proposes.
fn tick(d: &mut Dispatcher, now: Instant) -> Vec<Value> {
    let cmds = d.propose(now);
    for c in &cmds {
        d.apply(0, c, now);
    }
    cmds
}

fn poll(d: &mut Dispatcher, worker: &str, now: Instant) -> Vec<Value> {
    match call(d, "worker-poll", json!({"worker": worker}), now) {
        Outcome::Ok(Some(v)) => v["tasks"].as_array().unwrap().clone(),
        other => panic!("poll: {other:?}"),
    }
}

fn complete(d: &mut Dispatcher, worker: &str, held: &Value, now: Instant) -> Outcome {
    let v = json!({"worker": worker, "task": held[0], "epoch": held[1]});
    call(d, "worker-complete", v, now)
}

#[test]
fn tasks_go_to_the_least_loaded_live_worker_and_results_are_taken_once() {
    let (mut d, t0) = (Dispatcher::new(&[]), Instant::now());
    poll(&mut d, "n1", t0);
    poll(&mut d, "n2", t0);
    for v in 1..=4 {
        assert_eq!(call(&mut d, "enqueue", json!(v), t0), Outcome::ok(json!(v)));
    }
    assert_eq!(tick(&mut d, t0).len(), 4);
    let (a, b) = (poll(&mut d, "n1", t0), poll(&mut d, "n2", t0));
    assert_eq!((a.len(), b.len()), (2, 2), "spread evenly");
    assert!(matches!(
        call(&mut d, "drain", Value::Null, t0),
        Outcome::Fail { .. }
    ));
    for h in &a {
        assert_eq!(complete(&mut d, "n1", h, t0), Outcome::done());
        // A repeated report is refused: the result is recorded once.
        assert!(matches!(
            complete(&mut d, "n1", h, t0),
            Outcome::Fail { .. }
        ));
    }
    let first = call(&mut d, "dequeue", Value::Null, t0);
    assert_eq!(first, Outcome::ok(a[0][0].clone()));
    for h in &b {
        complete(&mut d, "n2", h, t0);
    }
    assert_eq!(
        call(&mut d, "drain", Value::Null, t0),
        Outcome::ok(json!([a[1][0], b[0][0], b[1][0]]))
    );
    assert_eq!(d.stats()["max"], json!(2));
}

/// n1 goes silent holding a task; it moves to n2; n1's late report is
/// refused, unless the fence is off.
fn reassigned(bugs: &[String]) -> (Dispatcher, Outcome) {
    let (mut d, t0) = (Dispatcher::new(bugs), Instant::now());
    poll(&mut d, "n1", t0);
    call(&mut d, "enqueue", json!(7), t0);
    tick(&mut d, t0);
    let old = poll(&mut d, "n1", t0)[0].clone();
    let later = t0 + WORKER_TIMEOUT + Duration::from_millis(1);
    poll(&mut d, "n2", later);
    assert_eq!(tick(&mut d, later).len(), 1, "n1 is dead: its task moves");
    let new = poll(&mut d, "n2", later)[0].clone();
    assert!(new[1].as_u64() > old[1].as_u64(), "a new epoch");
    assert_eq!(complete(&mut d, "n2", &new, later), Outcome::done());
    let late = complete(&mut d, "n1", &old, later);
    (d, late)
}

#[test]
fn a_reassigned_task_is_fenced_from_its_old_worker() {
    let (mut d, late) = reassigned(&[]);
    assert_eq!(late, Outcome::fail("stale-assignment"));
    // The stats say who ran it and whose task moved.
    let stats = d.stats();
    assert_eq!(stats["done_by"], json!({"n2": 1}), "{stats}");
    assert_eq!(stats["moved_from"], json!({"n1": 1}), "{stats}");
    let now = Instant::now();
    assert_eq!(
        call(&mut d, "drain", Value::Null, now),
        Outcome::ok(json!([7]))
    );
}

#[test]
fn without_fencing_the_old_worker_records_the_task_again() {
    let (mut d, late) = reassigned(&[BUG_NO_FENCING.to_string()]);
    assert_eq!(late, Outcome::done());
    let now = Instant::now();
    assert_eq!(
        call(&mut d, "drain", Value::Null, now),
        Outcome::ok(json!([7, 7]))
    );
}

#[test]
fn ack_before_replicate_answers_before_the_log_and_loses_it_with_the_lead() {
    let (mut d, t0) = (
        Dispatcher::new(&[BUG_ACK_BEFORE_REPLICATE.to_string()]),
        Instant::now(),
    );
    assert!(matches!(
        d.admit(&req("enqueue", json!(1)), true, t0),
        Admit::Answer(Outcome::Ok(Some(_)))
    ));
    // The lead is lost before the next tick: the acknowledged task is gone.
    assert!(matches!(
        d.admit(&req("dequeue", Value::Null), false, t0),
        Admit::Append(Value::Null)
    ));
    assert!(d.propose(t0).is_empty());
    let mut fine = Dispatcher::new(&[]);
    assert!(matches!(
        fine.admit(&req("enqueue", json!(1)), true, t0),
        Admit::Append(_)
    ));
}

#[test]
fn snapshots_round_trip_the_replicated_state() {
    let (d, _) = reassigned(&[]);
    let mut back = Dispatcher::new(&[]);
    back.restore(&d.snapshot());
    assert_eq!(back.replicated(), d.replicated());
}
