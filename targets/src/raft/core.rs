//! The Raft state machine, free of IO: it takes peer messages, client requests
//! and ticks (each with the current time), and produces writes to persist,
//! messages to send and client replies. Time, randomness (election timeouts)
//! and storage are the caller's.
//!
//! The caller's loop, after feeding one or more inputs:
//! 1. [`Core::take_writes`] and make them durable (stop the node if that fails);
//! 2. [`Core::persisted`], which advances commit and apply and hands back the
//!    messages and replies, none of which may leave before step 1 finished.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Value};

use super::log::RaftLog;
use super::membership::{self, Change};
use super::message::Msg;
use super::{
    Admit, StateMachine, BUG_EARLY_COMMIT, BUG_FORGET_VOTE, BUG_MEMBERSHIP_NO_JOINT, BUG_STALE_READ,
};
use crate::raft_storage::{Entry, HardState, Loaded, Snapshot, Write};
use crate::wire::{Outcome, Request};

/// Entries sent in one append message at most.
const MAX_BATCH: usize = 256;

/// Known-bug switches, each a real Raft bug class (see targets/README.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bugs {
    /// Any node answers reads from its own applied state.
    pub stale_read: bool,
    /// votedFor is not persisted (term still is).
    pub forget_vote: bool,
    /// Entries of earlier terms commit by counting replicas; no term-start entry.
    pub early_commit: bool,
    /// A membership change may start before the previous one committed.
    pub membership_no_joint: bool,
}

impl Bugs {
    pub fn from_names(names: &[String]) -> Self {
        let on = |n: &str| names.iter().any(|b| b == n);
        Bugs {
            stale_read: on(BUG_STALE_READ),
            forget_vote: on(BUG_FORGET_VOTE),
            early_commit: on(BUG_EARLY_COMMIT),
            membership_no_joint: on(BUG_MEMBERSHIP_NO_JOINT),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub id: String,
    /// The other nodes' ids: every node that may vote or learn (the voters
    /// among them are the configuration in the log, see membership.rs).
    pub peers: Vec<String>,
    pub election_min: Duration,
    pub election_max: Duration,
    pub heartbeat: Duration,
    /// Snapshot and compact the log every this many applied entries.
    pub snapshot_every: u64,
    pub bugs: Bugs,
    /// The voters before any configuration entry (raft-kv's `--set
    /// voters=K`); `None`: every node. The others start as learners.
    pub initial_voters: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Follower,
    Candidate,
    Leader,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Follower => "follower",
            Role::Candidate => "candidate",
            Role::Leader => "leader",
        }
    }
}

/// What may leave the node once the writes taken before are durable.
pub struct Output<T> {
    pub messages: Vec<(String, Msg)>,
    /// Client replies: the caller's reply handle and the outcome.
    pub replies: Vec<(T, Outcome)>,
}

struct PendingRead<T> {
    seq: u64,
    read_index: u64,
    req: Request,
    reply: T,
}

/// One Raft node. `T` is the caller's handle for answering a client request.
pub struct Core<S, T> {
    cfg: Config,
    sm: S,
    rng: StdRng,
    now: Instant,

    term: u64,
    voted_for: Option<String>,
    log: RaftLog,
    /// Last index covered by writes that the caller has made durable.
    durable_index: u64,
    /// Last index covered by the writes taken by the caller.
    written_index: u64,
    commit: u64,
    applied: u64,
    /// The configuration in force: the latest in the log (committed or not).
    voters: BTreeSet<String>,
    /// Index of the entry that set it (the snapshot's index, or 0, if none).
    config_index: u64,

    role: Role,
    leader: Option<String>,
    election_deadline: Instant,
    /// When the leader last sent heartbeats (or a candidate its vote requests).
    last_broadcast: Instant,
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
    reads: Vec<PendingRead<T>>,
    /// Proposals awaiting their outcome: index -> (term proposed in, reply).
    pending: HashMap<u64, (u64, T)>,

    hard_dirty: bool,
    writes: Vec<Write>,
    outbox: Vec<(String, Msg)>,
    replies: Vec<(T, Outcome)>,
}

impl<S: StateMachine, T> Core<S, T> {
    /// A node recovered from what its storage loaded.
    pub fn new(
        cfg: Config,
        mut sm: S,
        rng: StdRng,
        loaded: Loaded,
        now: Instant,
    ) -> Result<Self, String> {
        if let Some(s) = &loaded.snapshot {
            sm.restore(&s.data);
        }
        let stored_entries = loaded.entries.len();
        let log = RaftLog::recover(loaded.snapshot, loaded.entries)?;
        // Entries recovery dropped must leave the disk too, or the next append
        // would not follow the stored log.
        let mut writes = Vec::new();
        if log.entries().len() != stored_entries {
            writes.push(Write::RewriteLog(log.entries().to_vec()));
        }
        let snap_index = log.snap_index();
        let last_index = log.last_index();
        let mut core = Core {
            cfg,
            sm,
            rng,
            now,
            term: loaded.hard.term,
            voted_for: loaded.hard.voted_for,
            log,
            durable_index: last_index,
            written_index: last_index,
            commit: snap_index,
            applied: snap_index,
            voters: BTreeSet::new(),
            config_index: 0,
            role: Role::Follower,
            leader: None,
            election_deadline: now,
            last_broadcast: now,
            votes: HashSet::new(),
            next: HashMap::new(),
            matched: HashMap::new(),
            acked_seq: HashMap::new(),
            snap_sent: HashMap::new(),
            heard: HashMap::new(),
            leader_since: now,
            term_start: 0,
            read_seq: 0,
            read_round_needed: false,
            reads: Vec::new(),
            pending: HashMap::new(),
            hard_dirty: false,
            writes,
            outbox: Vec::new(),
            replies: Vec::new(),
        };
        core.refresh_config();
        core.reset_election_timer();
        Ok(core)
    }

    // ---- what the caller and tests observe ----

    pub fn id(&self) -> &str {
        &self.cfg.id
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn term(&self) -> u64 {
        self.term
    }
    pub fn voted_for(&self) -> Option<&str> {
        self.voted_for.as_deref()
    }
    pub fn leader(&self) -> Option<&str> {
        self.leader.as_deref()
    }
    pub fn commit(&self) -> u64 {
        self.commit
    }
    pub fn applied(&self) -> u64 {
        self.applied
    }
    /// Index of the current leader's term-start entry (0 if not leader).
    pub fn term_start(&self) -> u64 {
        self.term_start
    }
    pub fn log(&self) -> &RaftLog {
        &self.log
    }
    /// The voters in force on this node (its log's latest configuration).
    pub fn voters(&self) -> &BTreeSet<String> {
        &self.voters
    }
    /// Index of the configuration entry in force (0: the initial one).
    pub fn config_index(&self) -> u64 {
        self.config_index
    }
    pub fn state_machine(&self) -> &S {
        &self.sm
    }
    pub fn state_machine_mut(&mut self) -> &mut S {
        &mut self.sm
    }

    /// The answer to a `status` request.
    pub fn status(&self) -> Value {
        json!({
            "id": self.cfg.id, "role": self.role.name(), "term": self.term,
            "leader": self.leader, "voted_for": self.voted_for, "commit": self.commit,
            "applied": self.applied, "last_index": self.log.last_index(),
            "last_term": self.log.last_term(), "snapshot_index": self.log.snap_index(),
            "voters": self.voters, "config_index": self.config_index,
        })
    }

    // ---- inputs ----

    /// Time passes: heartbeats, election timeouts, check-quorum.
    pub fn tick(&mut self, now: Instant) {
        self.now = now;
        if self.role == Role::Leader {
            if now.duration_since(self.last_broadcast) >= self.cfg.heartbeat {
                self.last_broadcast = now;
                self.broadcast_append();
            }
            self.check_quorum();
            if self.role == Role::Leader {
                for cmd in self.sm.propose(now) {
                    self.append_local(cmd);
                }
            }
        } else if now >= self.election_deadline {
            self.start_election();
        } else if self.role == Role::Candidate
            && now.duration_since(self.last_broadcast) >= self.cfg.heartbeat
        {
            // Ask again whoever has not answered: vote messages can be lost.
            self.last_broadcast = now;
            self.resend_vote_requests();
        }
    }

    /// A client request; its outcome comes back through `reply`.
    pub fn client(&mut self, req: Request, reply: T, now: Instant) {
        self.now = now;
        if req.f == "status" {
            let status = self.status();
            self.replies.push((reply, Outcome::ok(status)));
            return;
        }
        if let Some(change) = membership::parse(&req) {
            match change {
                Ok(change) => self.change_membership(change, reply),
                Err(o) => self.replies.push((reply, o)),
            }
            return;
        }
        let is_leader = self.role == Role::Leader;
        if self.sm.is_query(&req) {
            if self.cfg.bugs.stale_read {
                // BUG stale-read: any node answers from whatever it has applied.
                let o = self.sm.query(&req);
                self.replies.push((reply, o));
            } else if !is_leader {
                self.replies
                    .push((reply, Outcome::not_leader(self.leader.clone())));
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
        match self.sm.admit(&req, is_leader, now) {
            Admit::Answer(o) => self.replies.push((reply, o)),
            Admit::Append(_) if !is_leader => {
                self.replies
                    .push((reply, Outcome::not_leader(self.leader.clone())));
            }
            Admit::Append(cmd) => {
                let index = self.append_local(cmd);
                self.pending.insert(index, (self.term, reply));
            }
        }
    }

    /// A message from peer `from`.
    pub fn step(&mut self, from: &str, msg: Msg, now: Instant) {
        self.now = now;
        if !self.cfg.peers.iter().any(|p| p == from) {
            return;
        }
        if msg.term() > self.term {
            let leader = matches!(msg, Msg::Append { .. } | Msg::Snap { .. }).then(|| from.into());
            self.become_follower(msg.term(), leader);
        }
        match msg {
            Msg::Vote {
                term,
                last_index,
                last_term,
            } => self.on_vote_request(from, term, last_index, last_term),
            Msg::VoteResp { term, granted } => {
                if self.role == Role::Candidate && term == self.term && granted {
                    self.votes.insert(from.to_string());
                    if self.has_quorum(&self.votes) {
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
                    self.answer_append(from, false, 0, seq);
                    return;
                }
                self.accept_leader(from);
                let (ok, index) = self.append_from_leader(prev_index, prev_term, entries, commit);
                self.answer_append(from, ok, index, seq);
            }
            Msg::Snap { term, snap, seq } => {
                if term < self.term {
                    self.answer_append(from, false, 0, seq);
                    return;
                }
                self.accept_leader(from);
                let index = snap.last_index;
                self.install_snapshot(snap);
                self.answer_append(from, true, index, seq);
            }
            Msg::AppendResp {
                term,
                ok,
                index,
                seq,
            } => self.on_append_response(from, term, ok, index, seq),
        }
    }

    // ---- the durability barrier ----

    /// The writes to make durable before [`persisted`](Self::persisted).
    pub fn take_writes(&mut self) -> Vec<Write> {
        if self.hard_dirty {
            self.hard_dirty = false;
            let voted_for = if self.cfg.bugs.forget_vote {
                None // BUG forget-vote: the vote never reaches the disk.
            } else {
                self.voted_for.clone()
            };
            self.writes.insert(
                0,
                Write::HardState(HardState {
                    term: self.term,
                    voted_for,
                }),
            );
        }
        self.written_index = self.log.last_index();
        std::mem::take(&mut self.writes)
    }

    /// The writes taken last are durable: advance commit and apply, and
    /// release what waited for them.
    pub fn persisted(&mut self, now: Instant) -> Output<T> {
        self.now = now;
        self.durable_index = self.written_index;
        if self.role == Role::Leader {
            if self.read_round_needed {
                self.read_round_needed = false;
                self.read_seq += 1;
                self.broadcast_append();
            }
            self.advance_commit();
        }
        self.apply_committed();
        self.serve_reads();
        self.step_down_if_removed();
        Output {
            messages: std::mem::take(&mut self.outbox),
            replies: std::mem::take(&mut self.replies),
        }
    }

    // ---- helpers ----

    fn reset_election_timer(&mut self) {
        let (lo, hi) = (self.cfg.election_min, self.cfg.election_max);
        let ms = self
            .rng
            .gen_range(lo.as_millis() as u64..=hi.as_millis() as u64);
        self.election_deadline = self.now + Duration::from_millis(ms);
    }

    fn send(&mut self, to: &str, msg: Msg) {
        self.outbox.push((to.to_string(), msg));
    }

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

    fn append_entries_write(&mut self, entries: Vec<Entry>) {
        if let Some(Write::Append(pending)) = self.writes.last_mut() {
            pending.extend(entries);
        } else {
            self.writes.push(Write::Append(entries));
        }
    }

    fn append_local(&mut self, cmd: Value) -> u64 {
        let e = Entry {
            term: self.term,
            index: self.log.last_index() + 1,
            cmd,
        };
        self.append_entries_write(vec![e.clone()]);
        self.log.push(e);
        let index = self.log.last_index();
        // Replicate right away; the messages leave after the writes are durable.
        for p in self.cfg.peers.clone() {
            if self.next.get(&p).copied().unwrap_or(index) == index {
                self.send_append(&p);
            }
        }
        index
    }

    fn serve_reads(&mut self) {
        if self.reads.is_empty() {
            return;
        }
        let confirmed = self.quorum_value(|c, v| {
            if v == c.cfg.id {
                u64::MAX
            } else {
                c.acked_seq.get(v).copied().unwrap_or(0)
            }
        });
        let applied = self.applied;
        let (ready, waiting): (Vec<_>, Vec<_>) = self
            .reads
            .drain(..)
            .partition(|r| r.seq <= confirmed && r.read_index <= applied);
        self.reads = waiting;
        for r in ready {
            let o = self.sm.query(&r.req);
            self.replies.push((r.reply, o));
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
        self.term_start = 0;
        // Reads not yet served had no effect: say so definitively.
        for r in std::mem::take(&mut self.reads) {
            self.replies
                .push((r.reply, Outcome::not_leader(self.leader.clone())));
        }
    }

    fn start_election(&mut self) {
        if !self.voters.contains(&self.cfg.id) && self.config_index <= self.commit {
            // A non-voter (a learner, or a node whose removal committed) does
            // not campaign. One removed by a configuration not known to be
            // committed does: it may be a leader that removed itself and
            // restarted, the only one holding that configuration, which must
            // be elected (by the voters it names) to commit it.
            self.reset_election_timer();
            return;
        }
        let term = self.term + 1;
        let me = self.cfg.id.clone();
        self.set_hard_state(term, Some(me.clone()));
        self.role = Role::Candidate;
        self.leader = None;
        self.votes = HashSet::from([me]);
        self.reset_election_timer();
        tracing::info!(id = %self.cfg.id, term, "starting election");
        let (last_index, last_term) = (self.log.last_index(), self.log.last_term());
        for p in self.cfg.peers.clone() {
            self.send(
                &p,
                Msg::Vote {
                    term,
                    last_index,
                    last_term,
                },
            );
        }
        if self.has_quorum(&self.votes) {
            self.become_leader();
        }
    }

    fn resend_vote_requests(&mut self) {
        let (term, last_index, last_term) =
            (self.term, self.log.last_index(), self.log.last_term());
        for p in self.cfg.peers.clone() {
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

    fn on_vote_request(&mut self, from: &str, term: u64, last_index: u64, last_term: u64) {
        let up_to_date = (last_term, last_index) >= (self.log.last_term(), self.log.last_index());
        let free = self.voted_for.as_ref().is_none_or(|v| v == from);
        let granted = term == self.term && free && up_to_date;
        if granted {
            self.set_hard_state(term, Some(from.to_string()));
            self.reset_election_timer();
        }
        let term = self.term;
        self.send(from, Msg::VoteResp { term, granted });
    }

    fn become_leader(&mut self) {
        tracing::info!(id = %self.cfg.id, term = self.term, "became leader");
        self.role = Role::Leader;
        self.leader = Some(self.cfg.id.clone());
        self.leader_since = self.now;
        self.heard.clear();
        let next = self.log.last_index() + 1;
        for p in &self.cfg.peers {
            self.next.insert(p.clone(), next);
            self.matched.insert(p.clone(), 0);
            self.acked_seq.insert(p.clone(), 0);
        }
        self.sm.on_leader(self.now);
        if self.cfg.bugs.early_commit {
            // BUG early-commit: no entry of the new term is needed before older
            // entries count as committed, so none is appended.
            self.term_start = self.log.last_index();
            self.broadcast_append();
        } else {
            self.term_start = self.append_local(Value::Null);
        }
    }

    /// A leader that has not heard from a majority within an election timeout
    /// steps down, so clients stop waiting on it and look for the new leader.
    fn check_quorum(&mut self) {
        let (now, window) = (self.now, self.cfg.election_max);
        if now.duration_since(self.leader_since) < window {
            return;
        }
        let mut recent: HashSet<String> = self
            .heard
            .iter()
            .filter(|(_, t)| now.duration_since(**t) < window)
            .map(|(p, _)| p.clone())
            .collect();
        recent.insert(self.cfg.id.clone());
        if !self.has_quorum(&recent) {
            tracing::info!(id = %self.cfg.id, term = self.term, "lost contact with a majority");
            self.become_follower(self.term, None);
        }
    }

    // ---- replication, leader side ----

    fn broadcast_append(&mut self) {
        for p in self.cfg.peers.clone() {
            self.send_append(&p);
        }
    }

    fn send_append(&mut self, peer: &str) {
        let next = self
            .next
            .get(peer)
            .copied()
            .unwrap_or(self.log.last_index() + 1)
            .max(1);
        let seq = self.read_seq;
        if next <= self.log.snap_index() {
            // The follower needs entries we compacted: send the snapshot, at
            // most once every few heartbeats.
            let now = self.now;
            let recent = self
                .snap_sent
                .get(peer)
                .is_some_and(|t| now.duration_since(*t) < self.cfg.heartbeat * 4);
            if !recent {
                self.snap_sent.insert(peer.to_string(), now);
                let snap = self.log.snapshot();
                let term = self.term;
                self.send(peer, Msg::Snap { term, snap, seq });
            }
            return;
        }
        let prev_index = next - 1;
        let prev_term = self.log.term_at(prev_index).unwrap_or(0);
        let end = self.log.last_index().min(prev_index + MAX_BATCH as u64);
        let entries = self.log.slice(next, end);
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

    fn on_append_response(&mut self, from: &str, term: u64, ok: bool, index: u64, seq: u64) {
        if self.role != Role::Leader || term != self.term {
            return;
        }
        self.heard.insert(from.to_string(), self.now);
        let acked = self.acked_seq.entry(from.to_string()).or_insert(0);
        *acked = (*acked).max(seq);
        if ok {
            let m = self.matched.entry(from.to_string()).or_insert(0);
            *m = (*m).max(index);
            let m = *m;
            let n = self.next.entry(from.to_string()).or_insert(m + 1);
            *n = (*n).max(m + 1);
            self.advance_commit();
            if self.next[from] <= self.log.last_index() {
                self.send_append(from);
            }
        } else {
            // `index` is the follower's hint: the first index it may be missing.
            let mut m = self.matched.get(from).copied().unwrap_or(0);
            if index <= m {
                // Within one term only this leader sends entries, so a hint at
                // or below what the follower acknowledged means it lost them:
                // its data dir was wiped (a node brought back fresh). Start
                // over from what it has, or its log (and an add-member that
                // waits for it to catch up) would wait on entries it lacks.
                tracing::info!(id = %self.cfg.id, peer = from, matched = m, hint = index,
                    "follower lost acknowledged entries: replicating from its hint");
                m = index.saturating_sub(1);
                self.matched.insert(from.to_string(), m);
            }
            let next = index.max(m + 1).clamp(1, self.log.last_index() + 1);
            self.next.insert(from.to_string(), next);
            self.send_append(from);
        }
    }

    // ---- replication, follower side ----

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
        if prev_index > self.log.last_index() {
            return (false, self.log.last_index() + 1);
        }
        if prev_index >= self.log.snap_index() && self.log.term_at(prev_index) != Some(prev_term) {
            // Committed entries always match; back up to there.
            return (false, self.commit + 1);
        }
        let last_new = prev_index + entries.len() as u64;
        let mut to_append = Vec::new();
        let mut config_changed = false;
        for e in entries {
            if e.index <= self.log.snap_index() {
                continue;
            }
            if !to_append.is_empty() || e.index > self.log.last_index() {
                to_append.push(e);
                continue;
            }
            if self.log.term_at(e.index) != Some(e.term) {
                // Conflict: drop this entry and everything after it.
                self.log.truncate_from(e.index);
                config_changed = true;
                self.writes
                    .push(Write::RewriteLog(self.log.entries().to_vec()));
                to_append.push(e);
            }
        }
        if !to_append.is_empty() {
            for e in &to_append {
                config_changed |= membership::voters_of(&e.cmd).is_some();
                self.log.push(e.clone());
            }
            self.append_entries_write(to_append);
        }
        if config_changed {
            self.refresh_config();
        }
        let new_commit = leader_commit.min(last_new);
        if new_commit > self.commit {
            self.commit = new_commit;
        }
        (true, last_new)
    }

    fn install_snapshot(&mut self, snap: Snapshot) {
        if snap.last_index <= self.commit {
            return;
        }
        self.sm.restore(&snap.data);
        self.log.install(snap.clone());
        self.writes.push(Write::Snapshot(snap));
        self.writes
            .push(Write::RewriteLog(self.log.entries().to_vec()));
        self.commit = self.log.snap_index();
        self.applied = self.log.snap_index();
        self.refresh_config();
        // Proposals covered by the snapshot can no longer be matched to outcomes.
        let covered: Vec<u64> = self
            .pending
            .keys()
            .copied()
            .filter(|i| *i <= self.applied)
            .collect();
        for i in covered {
            if let Some((_, reply)) = self.pending.remove(&i) {
                self.replies
                    .push((reply, Outcome::info("leader-changed-uncertain")));
            }
        }
    }

    // ---- commit and apply ----

    fn advance_commit(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let n = self.quorum_value(|c, v| {
            if v == c.cfg.id {
                c.durable_index
            } else {
                c.matched.get(v).copied().unwrap_or(0)
            }
        });
        if n <= self.commit {
            return;
        }
        // Raft's rule: only an entry of the current term is committed by counting
        // replicas (older ones commit with it). BUG early-commit skips the check.
        if self.cfg.bugs.early_commit || self.log.term_at(n) == Some(self.term) {
            self.commit = n;
        }
    }

    fn apply_committed(&mut self) {
        let now = self.now;
        while self.applied < self.commit.min(self.durable_index) {
            self.applied += 1;
            let idx = self.applied;
            let e = self.log.entry(idx);
            let (term, cmd) = (e.term, e.cmd.clone());
            let out = if cmd.is_null() || membership::voters_of(&cmd).is_some() {
                Outcome::done()
            } else {
                self.sm.apply(idx, &cmd, now)
            };
            if let Some((proposed_in, reply)) = self.pending.remove(&idx) {
                let o = if proposed_in == term {
                    out
                } else {
                    Outcome::info("leader-changed-uncertain")
                };
                self.replies.push((reply, o));
            }
        }
        if self.applied - self.log.snap_index() >= self.cfg.snapshot_every {
            self.take_snapshot();
        }
    }

    fn take_snapshot(&mut self) {
        let index = self.applied;
        self.log.compact(index, self.sm.snapshot());
        self.writes.push(Write::Snapshot(self.log.snapshot()));
        self.writes
            .push(Write::RewriteLog(self.log.entries().to_vec()));
        tracing::debug!(id = %self.cfg.id, index, "snapshot taken, log compacted");
    }
}

// ---- membership (see membership.rs) ----

impl<S: StateMachine, T> Core<S, T> {
    /// Re-read the configuration in force from the log (after it changed).
    fn refresh_config(&mut self) {
        let (index, voters) = self.log.config_at(u64::MAX);
        self.config_index = index;
        self.voters = match voters {
            Some(v) => v.into_iter().collect(),
            None => match &self.cfg.initial_voters {
                Some(v) => v.iter().cloned().collect(),
                None => std::iter::once(&self.cfg.id)
                    .chain(&self.cfg.peers)
                    .cloned()
                    .collect(),
            },
        };
    }

    /// Whether `nodes` hold a majority of the voters in force.
    fn has_quorum(&self, nodes: &HashSet<String>) -> bool {
        let n = self.voters.iter().filter(|v| nodes.contains(*v)).count();
        n > self.voters.len() / 2
    }

    /// The highest value that a majority of the voters reach, of `of(voter)`.
    fn quorum_value(&self, of: impl Fn(&Self, &str) -> u64) -> u64 {
        let mut values: Vec<u64> = self.voters.iter().map(|v| of(self, v)).collect();
        values.sort_unstable_by(|a, b| b.cmp(a));
        values[self.voters.len() / 2]
    }

    /// A leader's answer to an admin request: append the new configuration,
    /// answer when it commits; or refuse at once (a definite `fail`).
    fn change_membership(&mut self, change: Change, reply: T) {
        if self.role != Role::Leader {
            let leader = self.leader.clone();
            self.replies.push((reply, Outcome::not_leader(leader)));
            return;
        }
        let node = change.node().to_string();
        if node != self.cfg.id && !self.cfg.peers.contains(&node) {
            self.replies.push((reply, Outcome::fail("unknown-member")));
            return;
        }
        if !self.cfg.bugs.membership_no_joint {
            // One change at a time, and only once this leader's term-start
            // entry committed (so no change of an earlier leader is pending).
            if self.config_index > self.commit {
                self.replies
                    .push((reply, Outcome::fail("change-in-progress")));
                return;
            }
            if self.commit < self.term_start {
                self.replies.push((reply, Outcome::fail("not-ready")));
                return;
            }
        }
        let mut voters = self.voters.clone();
        match &change {
            Change::Add(_) if voters.contains(&node) => {
                self.replies.push((reply, Outcome::done()));
                return;
            }
            Change::Add(_) => {
                // A learner votes only once its log is as far as the commit
                // index; until then the leader keeps sending it entries (or
                // the snapshot).
                let matched = self.matched.get(&node).copied().unwrap_or(0);
                if matched < self.commit {
                    self.replies.push((reply, Outcome::fail("catching-up")));
                    return;
                }
                voters.insert(node);
            }
            Change::Remove(_) if !voters.contains(&node) => {
                self.replies.push((reply, Outcome::done()));
                return;
            }
            Change::Remove(_) => {
                if voters.len() == 1 {
                    self.replies.push((reply, Outcome::fail("last-voter")));
                    return;
                }
                voters.remove(&node);
            }
        }
        tracing::info!(id = %self.cfg.id, ?change, ?voters, "membership change");
        let index = self.append_local(membership::entry(&voters));
        self.refresh_config();
        self.pending.insert(index, (self.term, reply));
        // With fewer voters the leader may already hold a majority alone.
        self.advance_commit();
    }

    /// A leader that is no longer a voter leads until the configuration that
    /// removed it commits, then steps down (and, a non-voter, never campaigns).
    fn step_down_if_removed(&mut self) {
        if self.role == Role::Leader
            && !self.voters.contains(&self.cfg.id)
            && self.config_index <= self.commit
        {
            tracing::info!(id = %self.cfg.id, term = self.term, "removed from the voters: stepping down");
            self.become_follower(self.term, None);
        }
    }
}
