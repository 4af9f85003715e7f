//! The controller: client workers and the nemesis, run through the phases of
//! a test.
//!
//! 1. main: `concurrency` workers perform the workload's ops (each worker is a
//!    history process; after an `info` it continues as a new process id),
//!    while the nemesis applies faults on its seeded schedule;
//! 2. heal: the nemesis ends its fault; then everything is healed, dead nodes
//!    restarted, paused nodes resumed;
//! 3. settle: wait for the cluster to recover (elections, catch-up);
//! 4. final reads: the workload's final reads, retried until they succeed.
//!
//! An interrupt (`stop`) ends the main phase at once and skips settle and
//! final reads; healing always happens.

use crate::client::{Client, ClientFactory, Completion, Request};
use crate::cluster::Cluster;
use crate::nemesis;
use crate::store::writer::{Entry, Recorder};
use faultline_checkers::history::{OpType, Process};
use faultline_workloads::generator::Stagger;
use faultline_workloads::{Gen, OpSpec, Outcome, Workload};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How a run is driven.
#[derive(Clone, Debug)]
pub struct Config {
    pub concurrency: usize,
    /// Ops per second over all workers; 0 for unlimited.
    pub rate: f64,
    /// Mean pause of each worker before each op (0 for none).
    pub stagger: Duration,
    pub time_limit: Duration,
    /// An op without an answer within this time is `info` ("timeout").
    pub op_timeout: Duration,
    pub seed: u64,
    /// Fault kinds (empty: no nemesis).
    pub nemesis: Vec<nemesis::FaultKind>,
    pub nemesis_interval: Duration,
    /// Time between the heal and the final reads.
    pub settle: Duration,
    /// Bounds of the membership fault's voters (MIN, MAX); `None`: its
    /// defaults.
    pub membership_voters: Option<(usize, usize)>,
}

/// Where the controller reports what it does (the run's faultline.log).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// What the run's progress line shows besides the counts.
#[derive(Default)]
pub struct Live {
    /// Faults in force, as labels.
    pub faults: Mutex<Vec<String>>,
    /// The first anomaly the online check found, in words.
    pub anomaly: Mutex<Option<String>>,
}

/// What happened besides the history.
#[derive(Debug, Default)]
pub struct Report {
    pub interrupted: bool,
    /// Problems of the run itself: unexpected node deaths, faults that could
    /// not be applied or healed, final reads that never succeeded.
    pub problems: Vec<String>,
}

pub struct Controller {
    pub cluster: Arc<dyn Cluster>,
    pub clients: Arc<dyn ClientFactory>,
    pub workload: Arc<dyn Workload>,
    pub recorder: Arc<Recorder>,
    pub config: Config,
    pub log: Log,
    pub live: Arc<Live>,
}

/// Sleeps `d`, or less if the phase ends; returns whether it ended.
pub(crate) async fn sleep_or_end(
    d: Duration,
    deadline: Instant,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let until = (Instant::now() + d).min(deadline);
    tokio::select! {
        _ = tokio::time::sleep_until(until) => {}
        _ = stop.wait_for(|s| *s) => return true,
    }
    Instant::now() >= deadline || *stop.borrow()
}

fn rng_for(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng
}

impl Controller {
    pub async fn run(&self, stop: watch::Receiver<bool>) -> Report {
        let cfg = &self.config;
        let problems = Arc::new(Mutex::new(Vec::<String>::new()));
        let deadline = Instant::now() + cfg.time_limit;
        (self.log)(&format!(
            "main phase: {} workers, {:?}, nemesis {:?} every {:?}",
            cfg.concurrency, cfg.time_limit, cfg.nemesis, cfg.nemesis_interval
        ));

        let mut tasks = Vec::new();
        for w in 0..cfg.concurrency {
            let this = self.worker_ctx(w);
            let stop = stop.clone();
            let mut gen = self.workload.generator(w);
            if !cfg.stagger.is_zero() {
                gen = Box::new(Stagger::new(cfg.stagger, gen));
            }
            tasks.push(tokio::spawn(
                async move { this.run(gen, deadline, stop).await },
            ));
        }
        let nemesis = {
            let schedule = nemesis::Schedule {
                stepper: Arc::new(nemesis::Stepper {
                    cluster: self.cluster.clone(),
                    recorder: self.recorder.clone(),
                    log: self.log.clone(),
                    live: self.live.clone(),
                    problems: problems.clone(),
                    membership_voters: cfg.membership_voters,
                }),
                kinds: cfg.nemesis.clone(),
                interval: cfg.nemesis_interval,
                rng: rng_for(cfg.seed, 0),
            };
            let stop = stop.clone();
            tokio::spawn(schedule.run(deadline, stop))
        };
        let monitor = {
            let cluster = self.cluster.clone();
            let log = self.log.clone();
            let problems = problems.clone();
            let mut stop = stop.clone();
            tokio::spawn(async move {
                loop {
                    let c = cluster.clone();
                    let dead = tokio::task::spawn_blocking(move || c.unexpected_deaths())
                        .await
                        .unwrap_or_default();
                    for (node, tail) in dead {
                        let msg = format!("node {node} died unexpectedly: {tail}");
                        log(&msg);
                        problems.lock().unwrap().push(msg);
                    }
                    if sleep_or_end(Duration::from_millis(500), deadline, &mut stop).await {
                        break;
                    }
                }
            })
        };
        for t in tasks {
            let _ = t.await;
        }
        let _ = nemesis.await;
        let _ = monitor.await;

        (self.log)("heal: network, paused and dead nodes");
        let c = self.cluster.clone();
        match tokio::task::spawn_blocking(move || nemesis::heal_all(&*c)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => problems.lock().unwrap().push(format!("heal: {e:#}")),
            Err(e) => problems.lock().unwrap().push(format!("heal: {e}")),
        }
        self.live.faults.lock().unwrap().clear();

        let interrupted = *stop.borrow();
        if !interrupted {
            let mut stop2 = stop.clone();
            (self.log)(&format!("settle {:?}", cfg.settle));
            let far = Instant::now() + cfg.settle + Duration::from_secs(1);
            sleep_or_end(cfg.settle, far, &mut stop2).await;
            if !*stop.borrow() {
                self.final_reads(&problems).await;
            }
        }
        let problems = std::mem::take(&mut *problems.lock().unwrap());
        Report {
            interrupted: *stop.borrow(),
            problems,
        }
    }

    fn worker_ctx(&self, w: usize) -> Worker {
        Worker {
            worker: w,
            clients: self.clients.clone(),
            node: w % self.cluster.nodes().len().max(1),
            recorder: self.recorder.clone(),
            rng: rng_for(self.config.seed, 1 + w as u64),
            config: self.config.clone(),
        }
    }

    async fn final_reads(&self, problems: &Mutex<Vec<String>>) {
        let reads = self.workload.final_reads();
        if reads.is_empty() {
            return;
        }
        (self.log)(&format!("final reads: {}", reads.len()));
        // Final reads run as fresh processes after every worker's ids.
        let mut process = (self.config.concurrency as u64) * 1_000_000;
        let n = self.cluster.nodes().len().max(1);
        for (i, op) in reads.iter().enumerate() {
            let mut done = false;
            for attempt in 0..10 {
                let node = (i + attempt) % n;
                let Ok(mut client) = self.clients.open(self.config.concurrency + i, node).await
                else {
                    continue;
                };
                let (_, c) = perform(
                    &self.recorder,
                    &mut *client,
                    process,
                    op.clone(),
                    self.config.op_timeout,
                )
                .await;
                match c {
                    Completion::Ok { .. } => {
                        done = true;
                        break;
                    }
                    Completion::Info { .. } => process += 1,
                    Completion::Fail { .. } => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            }
            if !done {
                let msg = format!("final read {} {:?} never succeeded", op.f, op.key);
                (self.log)(&msg);
                problems.lock().unwrap().push(msg);
            }
        }
    }
}

/// Records the invoke, performs the op, records the completion; gives the op
/// back with its completion. Both lines carry the node the client names: where
/// the op goes first, and where it ended.
async fn perform(
    recorder: &Recorder,
    client: &mut dyn Client,
    process: u64,
    op: OpSpec,
    timeout: Duration,
) -> (OpSpec, Completion) {
    let p = Process::Client(process);
    recorder.record(Entry {
        kind: OpType::Invoke,
        process: p,
        f: &op.f,
        key: op.key.as_deref(),
        value: op.value.clone(),
        error: None,
        node: client.next_node(),
    });
    // The request takes the op's fields rather than copies of them.
    let request = Request {
        f: op.f,
        key: op.key,
        value: op.value,
    };
    let completion = client.invoke(&request, timeout).await;
    let (kind, value, error) = match &completion {
        Completion::Ok { value } => (OpType::Ok, value.clone(), None),
        Completion::Fail { error } => (OpType::Fail, request.value.clone(), Some(error.clone())),
        Completion::Info { error } => (OpType::Info, request.value.clone(), Some(error.clone())),
    };
    // The node that answered, as the client saw it (after leader hints).
    recorder.record(Entry {
        kind,
        process: p,
        f: &request.f,
        key: request.key.as_deref(),
        value,
        error,
        node: client.last_node(),
    });
    let op = OpSpec {
        f: request.f,
        key: request.key,
        value: request.value,
    };
    (op, completion)
}

struct Worker {
    worker: usize,
    clients: Arc<dyn ClientFactory>,
    node: usize,
    recorder: Arc<Recorder>,
    rng: ChaCha8Rng,
    config: Config,
}

impl Worker {
    async fn run(
        mut self,
        mut gen: Box<dyn Gen>,
        deadline: Instant,
        mut stop: watch::Receiver<bool>,
    ) {
        let cfg = &self.config;
        let mut process = self.worker as u64;
        // Each worker takes every `concurrency`-th slot of the global rate.
        let slot =
            (cfg.rate > 0.0).then(|| Duration::from_secs_f64(cfg.concurrency as f64 / cfg.rate));
        let mut next_at = Instant::now()
            + slot.map_or(Duration::ZERO, |s| {
                s.mul_f64(self.worker as f64 / cfg.concurrency as f64)
            });
        let mut client: Option<Box<dyn Client>> = None;
        loop {
            let delay = gen.delay(&mut self.rng);
            if let Some(s) = slot {
                let wait = next_at.saturating_duration_since(Instant::now()).max(delay);
                next_at += s;
                if sleep_or_end(wait, deadline, &mut stop).await {
                    return;
                }
            } else if !delay.is_zero() && sleep_or_end(delay, deadline, &mut stop).await {
                return;
            }
            if Instant::now() >= deadline || *stop.borrow() {
                return;
            }
            if client.is_none() {
                match self.clients.open(self.worker, self.node).await {
                    Ok(c) => client = Some(c),
                    Err(_) => {
                        if sleep_or_end(Duration::from_millis(100), deadline, &mut stop).await {
                            return;
                        }
                        continue;
                    }
                }
            }
            let Some(op) = gen.next(&mut self.rng) else {
                return;
            };
            let (op, c) = perform(
                &self.recorder,
                &mut **client.as_mut().expect("opened"),
                process,
                op,
                cfg.op_timeout,
            )
            .await;
            let outcome = match c {
                Completion::Ok { value } => Outcome::Ok(value),
                Completion::Fail { .. } => Outcome::Fail,
                Completion::Info { .. } => Outcome::Info,
            };
            gen.observe(&op, &outcome);
            if let Outcome::Info = outcome {
                // The process's state is unknown: retire it; continue as a new one
                // on a fresh connection.
                process += cfg.concurrency as u64;
                client = None;
            }
        }
    }
}
