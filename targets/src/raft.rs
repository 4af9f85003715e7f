//! Raft: leader election, log replication, commit rule, snapshots, read-index
//! reads. One event loop task owns all state; it drains a batch of events, then
//! makes the batch's log appends and hard-state changes durable (fsync), and
//! only then sends the messages the batch produced, so nothing is acknowledged
//! before it is on disk.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};

use crate::config::NodeConfig;
use crate::raft_storage::{Entry, HardState, RaftStorage, Snapshot};
use crate::server::Event;
use crate::transport::Outbound;
use crate::wire::{Outcome, Request};

/// Entries sent in one append message at most.
const MAX_BATCH: usize = 256;

/// Bug switches the Raft core understands.
pub const BUG_FORGET_VOTE: &str = "forget-vote";
pub const BUG_EARLY_COMMIT: &str = "early-commit";
pub const BUG_STALE_READ: &str = "stale-read";

/// What the leader does with a client command before it is appended.
pub enum Admit {
    /// Append this command to the log.
    Append(Value),
    /// Answer now without touching the log.
    Answer(Outcome),
}

/// A deterministic state machine replicated by Raft.
pub trait StateMachine: Send + 'static {
    /// Turn a client request into a command or an immediate answer. `leader`
    /// says whether this node currently believes it leads (only then is a
    /// command appended).
    fn admit(&mut self, req: &Request, leader: bool, now: Instant) -> Admit;
    /// Is this request a read answered by [`query`](Self::query)?
    fn is_query(&self, req: &Request) -> bool;
    fn query(&self, req: &Request) -> Outcome;
    fn apply(&mut self, index: u64, cmd: &Value, now: Instant) -> Outcome;
    /// Called when this node becomes leader.
    fn on_leader(&mut self, _now: Instant) {}
    fn snapshot(&self) -> Value;
    fn restore(&mut self, data: &Value);
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum Msg {
    Vote {
        term: u64,
        last_index: u64,
        last_term: u64,
    },
    VoteResp {
        term: u64,
        granted: bool,
    },
    Append {
        term: u64,
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        commit: u64,
        seq: u64,
    },
    Snap {
        term: u64,
        snap: Snapshot,
        seq: u64,
    },
    AppendResp {
        term: u64,
        ok: bool,
        index: u64,
        seq: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

struct PendingRead {
    seq: u64,
    read_index: u64,
    req: Request,
    reply: oneshot::Sender<Outcome>,
}

pub struct Raft<S: StateMachine> {
    cfg: NodeConfig,
    store: RaftStorage,
    sm: S,
    net: Outbound<Msg>,
    forget_vote: bool,
    early_commit: bool,
    stale_read: bool,

    term: u64,
    voted_for: Option<String>,
    /// Entries after the snapshot: log[i] has index snap_index + 1 + i.
    log: Vec<Entry>,
    snap_index: u64,
    snap_term: u64,
    snap_data: Value,
    durable_index: u64,
    commit: u64,
    applied: u64,

    role: Role,
    leader: Option<String>,
    election_deadline: Instant,
    votes: HashSet<String>,
    next: HashMap<String, u64>,
    matched: HashMap<String, u64>,
    acked_seq: HashMap<String, u64>,
    snap_sent: HashMap<String, Instant>,
    /// When each peer last answered this leader (check-quorum).
    heard: HashMap<String, Instant>,
    leader_since: Instant,
    /// Index of this leader's first entry of its term (reads wait for its commit).
    term_start: u64,
    read_seq: u64,
    read_round_needed: bool,
    reads: Vec<PendingRead>,
    pending: HashMap<u64, (u64, oneshot::Sender<Outcome>)>,

    hard_dirty: bool,
    outbox: Vec<(String, Msg)>,
}

impl<S: StateMachine> Raft<S> {
    pub fn new(cfg: NodeConfig, mut sm: S, net: Outbound<Msg>) -> anyhow::Result<Self> {
        let (store, loaded) = RaftStorage::open(&cfg.data_dir)?;
        let (snap_index, snap_term, snap_data) = match loaded.snapshot {
            Some(s) => {
                sm.restore(&s.data);
                (s.last_index, s.last_term, s.data)
            }
            None => (0, 0, Value::Null),
        };
        let forget_vote = cfg.bug(BUG_FORGET_VOTE);
        let mut raft = Raft {
            store,
            sm,
            net,
            forget_vote,
            early_commit: cfg.bug(BUG_EARLY_COMMIT),
            stale_read: cfg.bug(BUG_STALE_READ),
            term: loaded.hard.term,
            voted_for: loaded.hard.voted_for,
            durable_index: snap_index + loaded.entries.len() as u64,
            log: loaded.entries,
            snap_index,
            snap_term,
            snap_data,
            commit: snap_index,
            applied: snap_index,
            role: Role::Follower,
            leader: None,
            election_deadline: Instant::now(),
            votes: HashSet::new(),
            next: HashMap::new(),
            matched: HashMap::new(),
            acked_seq: HashMap::new(),
            snap_sent: HashMap::new(),
            heard: HashMap::new(),
            leader_since: Instant::now(),
            term_start: 0,
            read_seq: 0,
            read_round_needed: false,
            reads: Vec::new(),
            pending: HashMap::new(),
            hard_dirty: false,
            outbox: Vec::new(),
            cfg,
        };
        raft.reset_election_timer();
        tracing::info!(
            id = %raft.cfg.id, term = raft.term, snap_index, last_index = raft.last_index(),
            "raft node recovered"
        );
        Ok(raft)
    }

    /// Run the event loop until the inbox closes.
    pub async fn run(mut self, mut inbox: mpsc::Receiver<Event<Msg>>) -> anyhow::Result<()> {
        let tick = (self.cfg.heartbeat / 2).max(Duration::from_millis(5));
        let mut ticker = tokio::time::interval(tick);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last_heartbeat = Instant::now();
        loop {
            tokio::select! {
                ev = inbox.recv() => {
                    let Some(ev) = ev else { return Ok(()) };
                    self.handle(ev);
                    // Drain what else is queued: one fsync for the whole batch.
                    for _ in 0..4096 {
                        match inbox.try_recv() {
                            Ok(ev) => self.handle(ev),
                            Err(_) => break,
                        }
                    }
                }
                _ = ticker.tick() => {}
            }
            let now = Instant::now();
            if self.role == Role::Leader {
                if now.duration_since(last_heartbeat) >= self.cfg.heartbeat {
                    last_heartbeat = now;
                    self.broadcast_append();
                }
                self.check_quorum(now);
            } else if now >= self.election_deadline {
                self.start_election();
            } else if self.role == Role::Candidate
                && now.duration_since(last_heartbeat) >= self.cfg.heartbeat
            {
                // Ask again whoever has not answered: vote messages can be lost.
                last_heartbeat = now;
                self.resend_vote_requests();
            }
            self.flush()?;
        }
    }

    fn handle(&mut self, ev: Event<Msg>) {
        match ev {
            Event::Peer(from, msg) => self.on_message(from, msg),
            Event::Client(req, reply) => self.on_client(req, reply),
        }
    }

    // ---- log helpers ----

    fn last_index(&self) -> u64 {
        self.snap_index + self.log.len() as u64
    }

    fn last_term(&self) -> u64 {
        self.log.last().map_or(self.snap_term, |e| e.term)
    }

    /// Term of the entry at `index`, if known (snapshot boundary included).
    fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.snap_index {
            Some(self.snap_term)
        } else if index > self.snap_index && index <= self.last_index() {
            Some(self.log[(index - self.snap_index - 1) as usize].term)
        } else {
            None
        }
    }

    fn entry(&self, index: u64) -> &Entry {
        &self.log[(index - self.snap_index - 1) as usize]
    }

    fn majority(&self) -> usize {
        self.cfg.majority()
    }

    fn reset_election_timer(&mut self) {
        let (lo, hi) = (self.cfg.election_min, self.cfg.election_max);
        let ms = rand::thread_rng().gen_range(lo.as_millis() as u64..=hi.as_millis() as u64);
        self.election_deadline = Instant::now() + Duration::from_millis(ms);
    }

    fn send(&mut self, to: &str, msg: Msg) {
        self.outbox.push((to.to_string(), msg));
    }

    /// Answers an append or snapshot from `to` in our current term.
    fn answer_append(&mut self, to: &str, ok: bool, index: u64, seq: u64) {
        let term = self.term;
        self.send(
            to,
            Msg::AppendResp {
                term,
                ok,
                index,
                seq,
            },
        );
    }

    fn set_hard_state(&mut self, term: u64, voted_for: Option<String>) {
        if term != self.term || voted_for != self.voted_for {
            self.term = term;
            self.voted_for = voted_for;
            self.hard_dirty = true;
        }
    }

    // ---- durability barrier ----

    /// Persist the batch, then advance commit/apply and send its messages.
    fn flush(&mut self) -> anyhow::Result<()> {
        if self.hard_dirty {
            let voted_for = if self.forget_vote {
                None
            } else {
                self.voted_for.clone()
            };
            self.store.save_hard_state(&HardState {
                term: self.term,
                voted_for,
            })?;
            self.hard_dirty = false;
        }
        self.store.sync()?;
        self.durable_index = self.last_index();
        if self.role == Role::Leader {
            if self.read_round_needed {
                self.read_round_needed = false;
                self.read_seq += 1;
                self.broadcast_append();
            }
            self.advance_commit();
        }
        self.apply_committed()?;
        self.serve_reads();
        for (to, msg) in self.outbox.drain(..) {
            self.net.send(&to, msg);
        }
        Ok(())
    }

    // ---- clients ----

    fn on_client(&mut self, req: Request, reply: oneshot::Sender<Outcome>) {
        if req.f == "status" {
            let _ = reply.send(Outcome::ok(json!({
                "id": self.cfg.id, "role": self.role.name(), "term": self.term,
                "leader": self.leader, "voted_for": self.voted_for, "commit": self.commit, "applied": self.applied,
                "last_index": self.last_index(), "last_term": self.last_term(), "snapshot_index": self.snap_index,
            })));
            return;
        }
        let is_leader = self.role == Role::Leader;
        if self.sm.is_query(&req) {
            if self.stale_read {
                // BUG stale-read: any node answers from whatever it has applied.
                let _ = reply.send(self.sm.query(&req));
            } else if !is_leader {
                let _ = reply.send(Outcome::not_leader(self.leader.clone()));
            } else {
                let read_index = self.commit.max(self.term_start);
                self.read_round_needed = true;
                self.reads.push(PendingRead {
                    seq: self.read_seq + 1,
                    read_index,
                    req,
                    reply,
                });
            }
            return;
        }
        match self.sm.admit(&req, is_leader, Instant::now()) {
            Admit::Answer(o) => {
                let _ = reply.send(o);
            }
            Admit::Append(_) if !is_leader => {
                let _ = reply.send(Outcome::not_leader(self.leader.clone()));
            }
            Admit::Append(cmd) => {
                let index = self.append_local(cmd);
                self.pending.insert(index, (self.term, reply));
            }
        }
    }

    fn append_local(&mut self, cmd: Value) -> u64 {
        let e = Entry {
            term: self.term,
            index: self.last_index() + 1,
            cmd,
        };
        if let Err(err) = self.store.append(std::slice::from_ref(&e)) {
            tracing::error!("log append failed: {err}");
        }
        self.log.push(e);
        let index = self.last_index();
        // Replicate right away; the send happens after the fsync in flush().
        for p in self.peer_ids() {
            if self.next.get(&p).copied().unwrap_or(index) == index {
                self.send_append(&p);
            }
        }
        index
    }

    fn peer_ids(&self) -> Vec<String> {
        self.cfg.peers.iter().map(|(id, _)| id.clone()).collect()
    }

    fn serve_reads(&mut self) {
        if self.reads.is_empty() {
            return;
        }
        let mut acks: Vec<u64> = self.acked_seq.values().copied().collect();
        acks.push(u64::MAX); // this node
        acks.sort_unstable_by(|a, b| b.cmp(a));
        let confirmed = acks.get(self.majority() - 1).copied().unwrap_or(0);
        let applied = self.applied;
        let (ready, waiting): (Vec<_>, Vec<_>) = self
            .reads
            .drain(..)
            .partition(|r| r.seq <= confirmed && r.read_index <= applied);
        self.reads = waiting;
        for r in ready {
            let _ = r.reply.send(self.sm.query(&r.req));
        }
    }

    // ---- roles ----

    fn become_follower(&mut self, term: u64, leader: Option<String>) {
        if term > self.term {
            self.set_hard_state(term, None);
        }
        if self.role != Role::Follower {
            tracing::info!(id = %self.cfg.id, term, "stepping down to follower");
            self.reset_election_timer();
        }
        self.role = Role::Follower;
        self.leader = leader;
        // Reads not yet served had no effect: say so definitively.
        for r in self.reads.drain(..) {
            let _ = r.reply.send(Outcome::not_leader(self.leader.clone()));
        }
    }

    fn start_election(&mut self) {
        let term = self.term + 1;
        let me = self.cfg.id.clone();
        self.set_hard_state(term, Some(me.clone()));
        self.role = Role::Candidate;
        self.leader = None;
        self.votes = HashSet::from([me]);
        self.reset_election_timer();
        tracing::info!(id = %self.cfg.id, term, "starting election");
        let (last_index, last_term) = (self.last_index(), self.last_term());
        for p in self.peer_ids() {
            self.send(
                &p,
                Msg::Vote {
                    term,
                    last_index,
                    last_term,
                },
            );
        }
        if self.votes.len() >= self.majority() {
            self.become_leader();
        }
    }

    fn resend_vote_requests(&mut self) {
        let (term, last_index, last_term) = (self.term, self.last_index(), self.last_term());
        for p in self.peer_ids() {
            if !self.votes.contains(&p) {
                self.send(
                    &p,
                    Msg::Vote {
                        term,
                        last_index,
                        last_term,
                    },
                );
            }
        }
    }

    fn become_leader(&mut self) {
        tracing::info!(id = %self.cfg.id, term = self.term, "became leader");
        self.role = Role::Leader;
        self.leader = Some(self.cfg.id.clone());
        self.leader_since = Instant::now();
        self.heard.clear();
        let next = self.last_index() + 1;
        for p in self.peer_ids() {
            self.next.insert(p.clone(), next);
            self.matched.insert(p.clone(), 0);
            self.acked_seq.insert(p, 0);
        }
        self.sm.on_leader(Instant::now());
        if self.early_commit {
            // BUG early-commit: no entry of the new term is needed before older
            // entries count as committed, so none is appended.
            self.term_start = self.last_index();
            self.broadcast_append();
        } else {
            self.term_start = self.append_local(Value::Null);
        }
    }

    /// A leader that has not heard from a majority within an election timeout
    /// steps down, so clients stop waiting on it and look for the new leader.
    fn check_quorum(&mut self, now: Instant) {
        let window = self.cfg.election_max;
        if now.duration_since(self.leader_since) < window {
            return;
        }
        let recent = self
            .heard
            .values()
            .filter(|t| now.duration_since(**t) < window)
            .count();
        if recent + 1 < self.majority() {
            tracing::info!(id = %self.cfg.id, term = self.term, "lost contact with a majority");
            self.become_follower(self.term, None);
        }
    }

    fn broadcast_append(&mut self) {
        for p in self.peer_ids() {
            self.send_append(&p);
        }
    }

    fn send_append(&mut self, peer: &str) {
        let next = self
            .next
            .get(peer)
            .copied()
            .unwrap_or(self.last_index() + 1)
            .max(1);
        let seq = self.read_seq;
        if next <= self.snap_index {
            // The follower needs entries we compacted: send the snapshot, at most once a heartbeat-ish.
            let now = Instant::now();
            let recent = self
                .snap_sent
                .get(peer)
                .is_some_and(|t| now.duration_since(*t) < self.cfg.heartbeat * 4);
            if !recent {
                self.snap_sent.insert(peer.to_string(), now);
                let snap = Snapshot {
                    last_index: self.snap_index,
                    last_term: self.snap_term,
                    data: self.snap_data.clone(),
                };
                self.send(
                    peer,
                    Msg::Snap {
                        term: self.term,
                        snap,
                        seq,
                    },
                );
            }
            return;
        }
        let prev_index = next - 1;
        let prev_term = self.term_at(prev_index).unwrap_or(0);
        let end = self.last_index().min(prev_index + MAX_BATCH as u64);
        let entries: Vec<Entry> = (next..=end).map(|i| self.entry(i).clone()).collect();
        // Optimistic pipelining: a rejection resets next.
        self.next.insert(peer.to_string(), end + 1);
        let msg = Msg::Append {
            term: self.term,
            prev_index,
            prev_term,
            entries,
            commit: self.commit,
            seq,
        };
        self.send(peer, msg);
    }

    // ---- peer messages ----

    fn on_message(&mut self, from: String, msg: Msg) {
        if !self.cfg.peers.iter().any(|(id, _)| *id == from) {
            return;
        }
        let msg_term = match &msg {
            Msg::Vote { term, .. }
            | Msg::VoteResp { term, .. }
            | Msg::Append { term, .. }
            | Msg::Snap { term, .. }
            | Msg::AppendResp { term, .. } => *term,
        };
        if msg_term > self.term {
            let leader = matches!(msg, Msg::Append { .. } | Msg::Snap { .. }).then(|| from.clone());
            self.become_follower(msg_term, leader);
        }
        match msg {
            Msg::Vote {
                term,
                last_index,
                last_term,
            } => {
                let up_to_date = (last_term, last_index) >= (self.last_term(), self.last_index());
                let free = self.voted_for.as_ref().is_none_or(|v| *v == from);
                let granted = term == self.term && free && up_to_date;
                if granted {
                    self.set_hard_state(term, Some(from.clone()));
                    self.reset_election_timer();
                }
                self.send(
                    &from,
                    Msg::VoteResp {
                        term: self.term,
                        granted,
                    },
                );
            }
            Msg::VoteResp { term, granted } => {
                if self.role == Role::Candidate && term == self.term && granted {
                    self.votes.insert(from);
                    if self.votes.len() >= self.majority() {
                        self.become_leader();
                    }
                }
            }
            Msg::Append {
                term,
                prev_index,
                prev_term,
                entries,
                commit,
                seq,
            } => {
                if term < self.term {
                    self.answer_append(&from, false, 0, seq);
                    return;
                }
                self.accept_leader(&from);
                let (ok, index) = self.append_from_leader(prev_index, prev_term, entries, commit);
                self.answer_append(&from, ok, index, seq);
            }
            Msg::Snap { term, snap, seq } => {
                if term < self.term {
                    self.answer_append(&from, false, 0, seq);
                    return;
                }
                self.accept_leader(&from);
                let index = snap.last_index;
                if let Err(e) = self.install_snapshot(snap) {
                    tracing::error!("installing snapshot failed: {e}");
                    return;
                }
                self.answer_append(&from, true, index, seq);
            }
            Msg::AppendResp {
                term,
                ok,
                index,
                seq,
            } => {
                if self.role != Role::Leader || term != self.term {
                    return;
                }
                self.heard.insert(from.clone(), Instant::now());
                let acked = self.acked_seq.entry(from.clone()).or_insert(0);
                *acked = (*acked).max(seq);
                if ok {
                    let m = self.matched.entry(from.clone()).or_insert(0);
                    *m = (*m).max(index);
                    let m = *m;
                    let n = self.next.entry(from.clone()).or_insert(m + 1);
                    *n = (*n).max(m + 1);
                    self.advance_commit();
                    if self.next[&from] <= self.last_index() {
                        self.send_append(&from);
                    }
                } else {
                    // `index` is the follower's hint: the first index it may be missing.
                    let m = self.matched.get(&from).copied().unwrap_or(0);
                    let next = index.max(m + 1).clamp(1, self.last_index() + 1);
                    self.next.insert(from.clone(), next);
                    self.send_append(&from);
                }
            }
        }
    }

    fn accept_leader(&mut self, from: &str) {
        if self.role != Role::Follower || self.leader.as_deref() != Some(from) {
            self.become_follower(self.term, Some(from.to_string()));
        }
        self.reset_election_timer();
    }

    /// Follower side of AppendEntries: (success, match index or hint).
    fn append_from_leader(
        &mut self,
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
    ) -> (bool, u64) {
        if prev_index > self.last_index() {
            return (false, self.last_index() + 1);
        }
        if prev_index >= self.snap_index && self.term_at(prev_index) != Some(prev_term) {
            // Committed entries always match; back up to there.
            return (false, self.commit + 1);
        }
        let last_new = prev_index + entries.len() as u64;
        let mut to_append = Vec::new();
        for e in entries {
            if e.index <= self.snap_index {
                continue;
            }
            if !to_append.is_empty() || e.index > self.last_index() {
                to_append.push(e);
                continue;
            }
            if self.term_at(e.index) != Some(e.term) {
                // Conflict: drop this entry and everything after it.
                let keep = (e.index - self.snap_index - 1) as usize;
                self.log.truncate(keep);
                if let Err(err) = self.store.rewrite_log(&self.log) {
                    tracing::error!("log truncation failed: {err}");
                }
                to_append.push(e);
            }
        }
        if !to_append.is_empty() {
            if let Err(err) = self.store.append(&to_append) {
                tracing::error!("log append failed: {err}");
            }
            self.log.extend(to_append);
        }
        let new_commit = leader_commit.min(last_new);
        if new_commit > self.commit {
            self.commit = new_commit;
        }
        (true, last_new)
    }

    fn install_snapshot(&mut self, snap: Snapshot) -> anyhow::Result<()> {
        if snap.last_index <= self.commit {
            return Ok(());
        }
        let keep_suffix = self.term_at(snap.last_index) == Some(snap.last_term);
        if keep_suffix {
            let drop = (snap.last_index - self.snap_index) as usize;
            self.log.drain(..drop);
        } else {
            self.log.clear();
        }
        self.store.save_snapshot(&snap)?;
        self.store.rewrite_log(&self.log)?;
        self.sm.restore(&snap.data);
        self.snap_index = snap.last_index;
        self.snap_term = snap.last_term;
        self.snap_data = snap.data;
        self.commit = self.snap_index;
        self.applied = self.snap_index;
        // Proposals covered by the snapshot can no longer be matched to outcomes.
        let covered: Vec<u64> = self
            .pending
            .keys()
            .copied()
            .filter(|i| *i <= self.snap_index)
            .collect();
        for i in covered {
            if let Some((_, reply)) = self.pending.remove(&i) {
                let _ = reply.send(Outcome::info("leader-changed-uncertain"));
            }
        }
        Ok(())
    }

    // ---- commit and apply ----

    fn advance_commit(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let mut indexes: Vec<u64> = self.matched.values().copied().collect();
        indexes.push(self.durable_index);
        indexes.sort_unstable_by(|a, b| b.cmp(a));
        let n = indexes[self.majority() - 1];
        if n <= self.commit {
            return;
        }
        // Raft's rule: only an entry of the current term is committed by counting
        // replicas (older ones commit with it). BUG early-commit skips the check.
        if self.early_commit || self.term_at(n) == Some(self.term) {
            self.commit = n;
        }
    }

    fn apply_committed(&mut self) -> anyhow::Result<()> {
        let now = Instant::now();
        while self.applied < self.commit.min(self.durable_index) {
            self.applied += 1;
            let idx = self.applied;
            let e = self.entry(idx).clone();
            let out = if e.cmd.is_null() {
                Outcome::done()
            } else {
                self.sm.apply(idx, &e.cmd, now)
            };
            if let Some((term, reply)) = self.pending.remove(&idx) {
                let o = if term == e.term {
                    out
                } else {
                    Outcome::info("leader-changed-uncertain")
                };
                let _ = reply.send(o);
            }
        }
        if self.applied - self.snap_index >= self.cfg.snapshot_every {
            self.take_snapshot()?;
        }
        Ok(())
    }

    fn take_snapshot(&mut self) -> anyhow::Result<()> {
        let last_index = self.applied;
        let last_term = self.term_at(last_index).unwrap_or(self.snap_term);
        let snap = Snapshot {
            last_index,
            last_term,
            data: self.sm.snapshot(),
        };
        self.store.save_snapshot(&snap)?;
        let drop = (last_index - self.snap_index) as usize;
        self.log.drain(..drop);
        self.store.rewrite_log(&self.log)?;
        self.snap_index = last_index;
        self.snap_term = last_term;
        self.snap_data = snap.data;
        tracing::debug!(id = %self.cfg.id, last_index, "snapshot taken, log compacted");
        Ok(())
    }
}

/// Start a Raft node with state machine `sm` and serve until the process ends.
pub async fn run_node<S: StateMachine>(cfg: NodeConfig, sm: S) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .map_err(|e| anyhow::anyhow!("--listen {}: {e}", cfg.listen))?;
    let net = Outbound::start(&cfg.id, &cfg.peers);
    let (tx, rx) = mpsc::channel(crate::server::INBOX);
    let timeout = cfg.request_timeout;
    let raft = Raft::new(cfg, sm, net)?;
    tokio::spawn(crate::server::serve(listener, tx, timeout));
    raft.run(rx).await
}
