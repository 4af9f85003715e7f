//! CASPaxos: one register per key. Every node is an acceptor and a proposer.
//! A proposer runs prepare (ballot) on a majority, takes the value accepted
//! with the highest ballot, applies the client's change to it (read: keep,
//! write: replace, cas: replace if equal), and has a majority accept the result.
//!
//! Acceptor state is appended to `paxos-acceptor.jsonl` and fsynced before any
//! promise or acceptance leaves the node (one fsync per event batch); the
//! file is created and compacted by an atomic replace that fsyncs the file and
//! its directory. A failed write or fsync stops the node. Loading is strict:
//! only a torn last record (never fsynced, never acted upon) is dropped.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use crate::config::NodeConfig;
use crate::raft_storage::write_atomic;
use crate::server::Event;
use crate::transport::Outbound;
use crate::wire::{Outcome, Request};

pub const BUG_NO_PREPARE_QUORUM: &str = "no-prepare-quorum";
/// Storage bug: acceptor records are written but never fsynced, so promises
/// and acceptances survive a kill but not a power loss.
pub const BUG_NO_FSYNC: &str = "no-fsync";

/// Compact the acceptor file after this many appended records.
const COMPACT_AFTER: usize = 20_000;

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ballot {
    pub n: u64,
    pub node: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct AcceptorState {
    promised: Ballot,
    accepted: Ballot,
    value: Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Msg {
    Prepare {
        key: String,
        ballot: Ballot,
        req: u64,
    },
    Promise {
        key: String,
        req: u64,
        ballot: Ballot,
        ok: bool,
        promised: Ballot,
        accepted: Ballot,
        value: Value,
    },
    Accept {
        key: String,
        ballot: Ballot,
        value: Value,
        req: u64,
    },
    Accepted {
        key: String,
        req: u64,
        ballot: Ballot,
        ok: bool,
        promised: Ballot,
    },
}

#[derive(Serialize, Deserialize)]
struct Record {
    key: String,
    #[serde(flatten)]
    state: AcceptorState,
}

struct AcceptorLog {
    dir: PathBuf,
    file: File,
    records: usize,
    /// BUG no-fsync: appended records are never fsynced.
    no_fsync: bool,
}

impl AcceptorLog {
    const NAME: &'static str = "paxos-acceptor.jsonl";

    fn open(
        dir: &std::path::Path,
        no_fsync: bool,
    ) -> anyhow::Result<(Self, HashMap<String, AcceptorState>)> {
        let path = dir.join(Self::NAME);
        let state = Self::load(&path)?;
        let mut log = AcceptorLog {
            dir: dir.to_path_buf(),
            file: OpenOptions::new().create(true).append(true).open(&path)?,
            records: 0,
            no_fsync,
        };
        // Rewrites the file durably (the directory entry too) without a torn tail.
        log.compact(&state)?;
        Ok((log, state))
    }

    /// The acceptor states in `path`; none if it does not exist. A torn last
    /// record was never fsynced, so never acted upon: it is dropped. Any
    /// other bad record is an error naming file:line (never a silent reset,
    /// which would break promises).
    fn load(path: &std::path::Path) -> anyhow::Result<HashMap<String, AcceptorState>> {
        let mut state = HashMap::new();
        let f = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(state),
            Err(e) => anyhow::bail!("{}: cannot read: {e}", path.display()),
        };
        let mut lines = BufReader::new(f).split(b'\n').enumerate().peekable();
        while let Some((i, line)) = lines.next() {
            let line = line.map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", path.display()))?;
            match serde_json::from_slice::<Record>(&line) {
                Ok(r) => {
                    state.insert(r.key, r.state);
                }
                Err(_) if lines.peek().is_none() => {
                    tracing::warn!("{}:{}: dropping a torn last record", path.display(), i + 1);
                }
                Err(e) => {
                    anyhow::bail!("{}:{}: corrupt acceptor record: {e}", path.display(), i + 1)
                }
            }
        }
        Ok(state)
    }

    fn compact(&mut self, state: &HashMap<String, AcceptorState>) -> anyhow::Result<()> {
        let mut buf = Vec::new();
        for (key, s) in state {
            serde_json::to_writer(
                &mut buf,
                &Record {
                    key: key.clone(),
                    state: s.clone(),
                },
            )?;
            buf.push(b'\n');
        }
        write_atomic(&self.dir, Self::NAME, &buf)?;
        self.file = OpenOptions::new()
            .append(true)
            .open(self.dir.join(Self::NAME))?;
        self.records = state.len();
        Ok(())
    }

    fn persist(
        &mut self,
        keys: &HashSet<String>,
        state: &HashMap<String, AcceptorState>,
    ) -> anyhow::Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        if self.records > COMPACT_AFTER {
            return self.compact(state);
        }
        let mut buf = Vec::new();
        for key in keys {
            let s = state[key].clone();
            serde_json::to_writer(
                &mut buf,
                &Record {
                    key: key.clone(),
                    state: s,
                },
            )?;
            buf.push(b'\n');
        }
        let path = self.dir.join(Self::NAME);
        self.file
            .write_all(&buf)
            .with_context(|| format!("{}: append", path.display()))?;
        if !self.no_fsync {
            self.file
                .sync_data()
                .with_context(|| format!("{}: fsync", path.display()))?;
        }
        self.records += keys.len();
        Ok(())
    }
}

#[derive(PartialEq)]
enum Phase {
    Prepare,
    Accept,
    /// Backing off before the next prepare.
    Waiting(Instant),
}

struct Proposal {
    key: String,
    req: Request,
    reply: oneshot::Sender<Outcome>,
    ballot: Ballot,
    phase: Phase,
    promises: HashSet<String>,
    best: (Ballot, Value),
    accepts: HashSet<String>,
    accept_sent: bool,
    result: Outcome,
    deadline: Instant,
    attempts: u32,
}

pub struct Paxos {
    cfg: NodeConfig,
    net: Outbound<Msg>,
    acceptors: HashMap<String, AcceptorState>,
    dirty: HashSet<String>,
    log: AcceptorLog,
    prepare_quorum: usize,
    max_seen: u64,
    next_req: u64,
    proposals: HashMap<u64, Proposal>,
    /// Keys with a proposal in flight from this node, and the ops queued behind it.
    queues: HashMap<String, VecDeque<(Request, oneshot::Sender<Outcome>)>>,
    outbox: Vec<(String, Msg)>,
    loopback: VecDeque<Msg>,
}

impl Paxos {
    pub fn new(cfg: NodeConfig, net: Outbound<Msg>) -> anyhow::Result<Self> {
        let (log, acceptors) = AcceptorLog::open(&cfg.data_dir, cfg.bug(BUG_NO_FSYNC))?;
        let max_seen = acceptors.values().map(|s| s.promised.n).max().unwrap_or(0);
        let majority = cfg.majority();
        let prepare_quorum = if cfg.bug(BUG_NO_PREPARE_QUORUM) {
            // BUG no-prepare-quorum: go on to accept after the first promise
            // (in practice the proposer's own acceptor), not a majority.
            1
        } else {
            majority
        };
        tracing::info!(id = %cfg.id, keys = acceptors.len(), "paxos node recovered");
        Ok(Paxos {
            cfg,
            net,
            acceptors,
            dirty: HashSet::new(),
            log,
            prepare_quorum,
            max_seen,
            next_req: 1,
            proposals: HashMap::new(),
            queues: HashMap::new(),
            outbox: Vec::new(),
            loopback: VecDeque::new(),
        })
    }

    pub async fn run(mut self, mut inbox: mpsc::Receiver<Event<Msg>>) -> anyhow::Result<()> {
        let mut ticker = tokio::time::interval(Duration::from_millis(5));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            if self.loopback.is_empty() {
                tokio::select! {
                    ev = inbox.recv() => {
                        let Some(ev) = ev else { return Ok(()) };
                        self.handle(ev);
                    }
                    _ = ticker.tick() => {}
                }
            }
            while let Some(m) = self.loopback.pop_front() {
                let me = self.cfg.id.clone();
                self.on_message(me, m);
            }
            for _ in 0..4096 {
                match inbox.try_recv() {
                    Ok(ev) => self.handle(ev),
                    Err(_) => break,
                }
            }
            self.on_tick(Instant::now());
            self.log.persist(&self.dirty, &self.acceptors)?;
            self.dirty.clear();
            for (to, m) in self.outbox.drain(..) {
                if to == self.cfg.id {
                    self.loopback.push_back(m);
                } else {
                    self.net.send(&to, m);
                }
            }
        }
    }

    fn handle(&mut self, ev: Event<Msg>) {
        match ev {
            Event::Peer(from, m) => {
                if self.cfg.peers.iter().any(|(p, _)| *p == from) {
                    self.on_message(from, m)
                }
            }
            Event::Client(req, reply) => self.on_client(req, reply),
        }
    }

    fn all_nodes(&self) -> Vec<String> {
        let mut v: Vec<String> = self.cfg.peers.iter().map(|(p, _)| p.clone()).collect();
        v.push(self.cfg.id.clone());
        v
    }

    fn on_client(&mut self, req: Request, reply: oneshot::Sender<Outcome>) {
        if req.f == "status" {
            let status = json!({"id": self.cfg.id, "role": "acceptor", "term": self.max_seen, "leader": null});
            let _ = reply.send(Outcome::ok(status));
            return;
        }
        let valid = match req.f.as_str() {
            "read" | "write" => true,
            "cas" => req.value.as_array().is_some_and(|a| a.len() == 2),
            _ => {
                let _ = reply.send(Outcome::fail("unknown-op"));
                return;
            }
        };
        let Some(key) = req.key.clone().filter(|_| valid) else {
            let _ = reply.send(Outcome::fail("bad-request"));
            return;
        };
        match self.queues.get_mut(&key) {
            Some(q) => q.push_back((req, reply)),
            None => {
                self.queues.insert(key.clone(), VecDeque::new());
                self.propose(key, req, reply);
            }
        }
    }

    fn propose(&mut self, key: String, req: Request, reply: oneshot::Sender<Outcome>) {
        let id = self.next_req;
        self.next_req += 1;
        let deadline = Instant::now() + self.cfg.request_timeout * 3 / 4;
        let p = Proposal {
            key,
            req,
            reply,
            ballot: Ballot::default(),
            phase: Phase::Prepare,
            promises: HashSet::new(),
            best: (Ballot::default(), Value::Null),
            accepts: HashSet::new(),
            accept_sent: false,
            result: Outcome::done(),
            deadline,
            attempts: 0,
        };
        self.proposals.insert(id, p);
        self.start_round(id);
    }

    fn start_round(&mut self, id: u64) {
        self.max_seen += 1;
        let ballot = Ballot {
            n: self.max_seen,
            node: self.cfg.id.clone(),
        };
        let nodes = self.all_nodes();
        let p = self.proposals.get_mut(&id).expect("proposal");
        p.ballot = ballot.clone();
        p.phase = Phase::Prepare;
        p.promises.clear();
        p.best = (Ballot::default(), Value::Null);
        p.attempts += 1;
        let key = p.key.clone();
        for n in nodes {
            self.outbox.push((
                n,
                Msg::Prepare {
                    key: key.clone(),
                    ballot: ballot.clone(),
                    req: id,
                },
            ));
        }
    }

    fn finish(&mut self, id: u64, outcome: Option<Outcome>) {
        let Some(p) = self.proposals.remove(&id) else {
            return;
        };
        let o = outcome.unwrap_or(p.result);
        let _ = p.reply.send(o);
        let next = self.queues.get_mut(&p.key).and_then(|q| q.pop_front());
        match next {
            Some((req, reply)) => self.propose(p.key, req, reply),
            None => {
                self.queues.remove(&p.key);
            }
        }
    }

    fn on_tick(&mut self, now: Instant) {
        let ids: Vec<u64> = self.proposals.keys().copied().collect();
        for id in ids {
            let p = &self.proposals[&id];
            if now >= p.deadline {
                // Without an accept sent, nothing this op did can ever be chosen.
                // A read changes nothing, so it can always fail.
                let o = if p.accept_sent && !p.req.is_read_only() {
                    Outcome::info("timeout")
                } else {
                    Outcome::fail("timeout")
                };
                self.finish(id, Some(o));
            } else if matches!(p.phase, Phase::Waiting(t) if now >= t) {
                self.start_round(id);
            }
        }
    }

    fn on_message(&mut self, from: String, m: Msg) {
        match m {
            Msg::Prepare { key, ballot, req } => {
                let s = self.acceptors.entry(key.clone()).or_default();
                let ok = ballot > s.promised;
                if ok {
                    s.promised = ballot.clone();
                    self.dirty.insert(key.clone());
                }
                let reply = Msg::Promise {
                    key,
                    req,
                    ballot,
                    ok,
                    promised: s.promised.clone(),
                    accepted: s.accepted.clone(),
                    value: s.value.clone(),
                };
                self.outbox.push((from, reply));
            }
            Msg::Accept {
                key,
                ballot,
                value,
                req,
            } => {
                let s = self.acceptors.entry(key.clone()).or_default();
                let ok = ballot >= s.promised;
                if ok {
                    s.promised = ballot.clone();
                    s.accepted = ballot.clone();
                    s.value = value;
                    self.dirty.insert(key.clone());
                }
                let reply = Msg::Accepted {
                    key,
                    req,
                    ballot,
                    ok,
                    promised: s.promised.clone(),
                };
                self.outbox.push((from, reply));
            }
            Msg::Promise {
                req,
                ballot,
                ok,
                promised,
                accepted,
                value,
                ..
            } => {
                self.max_seen = self.max_seen.max(promised.n);
                let quorum = self.prepare_quorum;
                let Some(p) = self.proposals.get_mut(&req) else {
                    return;
                };
                if p.ballot != ballot || p.phase != Phase::Prepare {
                    return;
                }
                if !ok {
                    // Someone prepared a higher ballot: back off and retry.
                    let jitter =
                        rand::thread_rng().gen_range(1..=10u64) * u64::from(p.attempts.min(10));
                    p.phase = Phase::Waiting(Instant::now() + Duration::from_millis(jitter));
                    return;
                }
                p.promises.insert(from);
                if accepted > p.best.0 {
                    p.best = (accepted, value);
                }
                if p.promises.len() >= quorum {
                    self.send_accept(req);
                }
            }
            Msg::Accepted {
                req,
                ballot,
                ok,
                promised,
                ..
            } => {
                self.max_seen = self.max_seen.max(promised.n);
                let majority = self.cfg.majority();
                let Some(p) = self.proposals.get_mut(&req) else {
                    return;
                };
                if p.ballot != ballot || p.phase != Phase::Accept {
                    return;
                }
                if !ok {
                    // Our value may already sit on some acceptors and be chosen later
                    // (a read re-accepts the value it saw, so it changes nothing).
                    let o = if p.req.is_read_only() {
                        Outcome::fail("conflict")
                    } else {
                        Outcome::info("conflict-uncertain")
                    };
                    self.finish(req, Some(o));
                    return;
                }
                p.accepts.insert(from);
                if p.accepts.len() >= majority {
                    self.finish(req, None);
                }
            }
        }
    }

    fn send_accept(&mut self, id: u64) {
        let nodes = self.all_nodes();
        let p = self.proposals.get_mut(&id).expect("proposal");
        let current = p.best.1.clone();
        let (new, result) = match p.req.f.as_str() {
            "read" => (current.clone(), Outcome::ok(current)),
            "write" => (p.req.value.clone(), Outcome::done()),
            _ => {
                let pair = p.req.value.as_array().cloned().unwrap_or_default();
                if pair.first() == Some(&current) {
                    (pair[1].clone(), Outcome::done())
                } else {
                    (current, Outcome::fail("precondition"))
                }
            }
        };
        p.result = result;
        p.phase = Phase::Accept;
        p.accepts.clear();
        p.accept_sent = true;
        let (key, ballot) = (p.key.clone(), p.ballot.clone());
        for n in nodes {
            self.outbox.push((
                n,
                Msg::Accept {
                    key: key.clone(),
                    ballot: ballot.clone(),
                    value: new.clone(),
                    req: id,
                },
            ));
        }
    }
}

/// Start a paxos-register node and serve until the process ends.
pub async fn run_node(cfg: NodeConfig) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .map_err(|e| anyhow::anyhow!("--listen {}: {e}", cfg.listen))?;
    let net = Outbound::start(&cfg.id, &cfg.peers);
    let (tx, rx) = mpsc::channel(crate::server::INBOX);
    let timeout = cfg.request_timeout;
    let node = Paxos::new(cfg, net)?;
    tokio::spawn(crate::server::serve(listener, tx, timeout));
    node.run(rx).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str, n: u64) -> String {
        let mut s = AcceptorState::default();
        s.promised.n = n;
        serde_json::to_string(&Record {
            key: key.into(),
            state: s,
        })
        .unwrap()
    }

    #[test]
    fn acceptor_state_survives_reopen_and_a_torn_tail_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "{}\n{}\n{{\"key\":\"b\",\"pro",
            record("a", 1),
            record("a", 4)
        );
        std::fs::write(dir.path().join(AcceptorLog::NAME), text).unwrap();
        let (_, state) = AcceptorLog::open(dir.path(), false).unwrap();
        assert_eq!(state.len(), 1);
        assert_eq!(state["a"].promised.n, 4);
        // Compacted: the torn record is gone from the file.
        let (_, again) = AcceptorLog::open(dir.path(), false).unwrap();
        assert_eq!(again["a"].promised.n, 4);
    }

    #[test]
    fn a_corrupt_record_before_the_last_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("{}\n{{garbage\n{}\n", record("a", 1), record("a", 2));
        std::fs::write(dir.path().join(AcceptorLog::NAME), text).unwrap();
        let err = match AcceptorLog::open(dir.path(), false) {
            Ok(_) => panic!("a corrupt middle record must not load"),
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains(&format!("{}:2", AcceptorLog::NAME)), "{err}");
    }
}
