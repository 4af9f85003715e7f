//! Primary-backup replication as a state machine without IO: client ops,
//! peer messages and ticks go in (each with the time); log and epoch changes,
//! messages and replies come out. The caller makes the changes durable
//! ([`Core::take_storage`]) and only then releases the messages and replies
//! ([`Core::take_messages`], [`Core::take_replies`]), so nothing leaves a
//! node that a crash could make it forget.
//!
//! The design (targets/README.md has the page):
//! - one primary per epoch takes every op, appends it to its log, streams the
//!   log to the backups (Append, also the heartbeat) and applies it to its
//!   own key-value state;
//! - `sync`: an op is answered once every live backup (one that acknowledged
//!   within the failure timeout) and at least `copies` nodes hold it
//!   durably, and only for entries of the primary's own epoch (earlier ones
//!   are covered by the first entry of the epoch, a no-op);
//!   `async`: an op is answered as soon as the primary's own log has it,
//!   and the log ships to the backups in the background, with each
//!   heartbeat;
//! - a backup that hears nothing from the primary for a randomized failure
//!   timeout asks to be promoted into the next epoch; a node grants one vote
//!   an epoch (durably), only to a log at least as up to date as its own, and
//!   a majority of votes promotes (after a pre-vote, so that a node coming
//!   back from a partition does not depose a primary the others still hear). Backups refuse the appends of an older
//!   epoch, so a replaced primary can no longer gather the copies it needs
//!   to answer anything (fencing); it steps down when it sees the newer epoch
//!   or loses touch with a majority;
//! - bug `promote-on-timeout`: the backup promotes itself on the timeout
//!   alone, without votes, whatever its log holds; and a primary, trusting
//!   its failure detector, waits only for the backups it believes live and
//!   stays primary until it hears of a newer epoch.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{json, Value};

use super::message::{Entry, Msg};
use super::Replication;
use crate::kv::Kv;
use crate::raft::{Admit, StateMachine};
use crate::wire::{Outcome, Request};

/// At most this many entries in one Append.
const MAX_BATCH: usize = 512;

#[derive(Debug, Clone)]
pub struct Config {
    pub id: String,
    /// The other nodes.
    pub peers: Vec<String>,
    pub replication: Replication,
    /// Nodes (the primary included) that must hold an entry before a `sync`
    /// primary answers it.
    pub copies: usize,
    /// BUG promote-on-timeout.
    pub promote_on_timeout: bool,
    pub heartbeat: Duration,
    /// A backup's failure timeout is drawn from [fail_min, fail_max]; a
    /// backup that has not acknowledged for fail_min is not live.
    pub fail_min: Duration,
    pub fail_max: Duration,
}

impl Config {
    pub fn majority(&self) -> usize {
        let nodes = self.peers.len() + 1;
        nodes / 2 + 1
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Backup,
    Candidate,
    Primary,
}

impl Role {
    /// The name in a `status` reply (the leader-aware faults look for `leader`).
    pub fn status_name(self) -> &'static str {
        match self {
            Role::Backup => "follower",
            Role::Candidate => "candidate",
            Role::Primary => "leader",
        }
    }
}

/// What the caller must make durable before releasing the outputs.
#[derive(Debug, Default, PartialEq)]
pub struct Storage {
    /// The epoch and vote changed: (epoch, voted_for).
    pub meta: Option<(u64, Option<String>)>,
    /// The log changed from this index on (entries before it are as stored).
    pub log_from: Option<usize>,
}

/// What a primary knows of one backup.
#[derive(Debug, Clone)]
struct Follower {
    /// The log is sent up to here (optimistically; a refusal moves it back).
    sent: usize,
    /// The backup holds the log up to here, durably.
    matched: usize,
    last_ack: Instant,
}

pub struct Core<R> {
    cfg: Config,
    // Durable.
    epoch: u64,
    voted_for: Option<String>,
    log: Vec<Entry>,
    // Volatile.
    role: Role,
    primary: Option<String>,
    /// When a backup or candidate gives up on the primary / the election.
    deadline: Instant,
    /// When a primary sends its next heartbeat; when it became primary.
    next_heartbeat: Instant,
    since: Instant,
    votes: HashSet<String>,
    /// A candidate still in its pre-vote (its epoch not yet raised).
    pre_vote: bool,
    /// When this node last heard from its primary.
    heard: Instant,
    followers: HashMap<String, Follower>,
    commit: usize,
    /// The primary's state: its log applied (valid only while primary).
    kv: Kv,
    /// Sync ops waiting for their entry to commit: index -> reply.
    pending: BTreeMap<usize, (R, Outcome)>,
    // Outputs.
    storage: Storage,
    messages: Vec<(String, Msg)>,
    replies: Vec<(R, Outcome)>,
}

impl<R> Core<R> {
    /// A node with what it had stored; it starts as a backup.
    pub fn new(
        cfg: Config,
        epoch: u64,
        voted_for: Option<String>,
        log: Vec<Entry>,
        now: Instant,
        rng: &mut impl Rng,
    ) -> Self {
        let mut core = Core {
            cfg,
            epoch,
            voted_for,
            log,
            role: Role::Backup,
            primary: None,
            deadline: now,
            next_heartbeat: now,
            since: now,
            votes: HashSet::new(),
            pre_vote: false,
            heard: now,
            followers: HashMap::new(),
            commit: 0,
            kv: Kv::default(),
            pending: BTreeMap::new(),
            storage: Storage::default(),
            messages: Vec::new(),
            replies: Vec::new(),
        };
        core.reset_timeout(now, rng);
        core
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn log(&self) -> &[Entry] {
        &self.log
    }

    pub fn commit(&self) -> usize {
        self.commit
    }

    pub fn take_storage(&mut self) -> Storage {
        std::mem::take(&mut self.storage)
    }

    pub fn take_messages(&mut self) -> Vec<(String, Msg)> {
        std::mem::take(&mut self.messages)
    }

    pub fn take_replies(&mut self) -> Vec<(R, Outcome)> {
        std::mem::take(&mut self.replies)
    }

    /// The answer to a `status` request.
    pub fn status(&self) -> Value {
        json!({
            "id": self.cfg.id, "role": self.role.status_name(), "term": self.epoch,
            "leader": self.primary, "voted_for": self.voted_for,
            "commit": self.commit, "last_index": self.log.len(), "last_term": self.last_epoch(),
        })
    }

    fn last_epoch(&self) -> u64 {
        self.log.last().map_or(0, |e| e.epoch)
    }

    fn reset_timeout(&mut self, now: Instant, rng: &mut impl Rng) {
        let (lo, hi) = (self.cfg.fail_min, self.cfg.fail_max.max(self.cfg.fail_min));
        self.deadline = now + rng.gen_range(lo..=hi);
    }

    fn save_meta(&mut self) {
        self.storage.meta = Some((self.epoch, self.voted_for.clone()));
    }

    fn log_changed(&mut self, from: usize) {
        self.storage.log_from = Some(self.storage.log_from.map_or(from, |f| f.min(from)));
    }

    /// Adopt a newer epoch seen in a message: whatever this node was, it is
    /// now a backup without a vote in that epoch.
    fn adopt(&mut self, epoch: u64, now: Instant, rng: &mut impl Rng) {
        if epoch > self.epoch {
            self.epoch = epoch;
            self.voted_for = None;
            self.save_meta();
            self.step_down(now, rng);
        }
    }

    /// Stop being primary or candidate. Ops still waiting may yet commit
    /// under the next primary: their outcome is unknown.
    fn step_down(&mut self, now: Instant, rng: &mut impl Rng) {
        if self.role == Role::Primary {
            tracing::info!(epoch = self.epoch, "stepping down");
        }
        self.role = Role::Backup;
        self.primary = None;
        self.followers.clear();
        for (_, (reply, _)) in std::mem::take(&mut self.pending) {
            self.replies
                .push((reply, Outcome::info("primary-replaced")));
        }
        self.reset_timeout(now, rng);
    }

    /// A client op: answered by the primary, refused elsewhere with a hint.
    pub fn on_client(&mut self, req: Request, reply: R, now: Instant) {
        if req.f == "status" {
            self.replies.push((reply, Outcome::ok(self.status())));
            return;
        }
        if self.role != Role::Primary {
            let hint = self.primary.clone().filter(|p| *p != self.cfg.id);
            self.replies.push((reply, Outcome::not_leader(hint)));
            return;
        }
        let cmd = if req.f == "read" {
            match &req.key {
                Some(key) => json!({"f": "read", "key": key}),
                None => {
                    self.replies.push((reply, Outcome::fail("bad-request")));
                    return;
                }
            }
        } else {
            match self.kv.admit(&req, true, now) {
                Admit::Append(cmd) => cmd,
                Admit::Answer(o) => {
                    self.replies.push((reply, o));
                    return;
                }
            }
        };
        let outcome = apply(&mut self.kv, &cmd, now);
        self.append(cmd);
        match self.cfg.replication {
            // Answered once the caller has made the primary's log durable;
            // the log ships in the background, with the next heartbeat.
            Replication::Async => self.replies.push((reply, outcome)),
            Replication::Sync => {
                self.pending.insert(self.log.len(), (reply, outcome));
                self.replicate(false);
                self.advance_commit(now);
            }
        }
    }

    fn append(&mut self, cmd: Value) {
        self.log_changed(self.log.len());
        self.log.push(Entry {
            epoch: self.epoch,
            cmd,
        });
    }

    pub fn on_tick(&mut self, now: Instant, rng: &mut impl Rng) {
        match self.role {
            Role::Primary => {
                let live = self.live_backups(now);
                // Out of touch with a majority: a newer epoch may exist. Stop
                // taking ops so that clients look for the new primary. (With
                // the bug the design trusts its failure detector: a primary
                // stays one until it hears of a newer epoch.)
                if !self.cfg.promote_on_timeout
                    && live + 1 < self.cfg.majority()
                    && now.duration_since(self.since) >= self.cfg.fail_min
                {
                    self.step_down(now, rng);
                    return;
                }
                if now >= self.next_heartbeat {
                    self.next_heartbeat = now + self.cfg.heartbeat;
                    self.replicate(true);
                }
                self.advance_commit(now);
            }
            Role::Backup | Role::Candidate if now >= self.deadline => self.promote(now, rng),
            _ => {}
        }
    }

    /// The failure timeout ran out: ask for the next epoch (or, with the bug,
    /// just take it). The ask is a pre-vote first: only when a majority
    /// would grant the vote does the candidate raise its epoch.
    fn promote(&mut self, now: Instant, rng: &mut impl Rng) {
        self.reset_timeout(now, rng);
        if self.cfg.promote_on_timeout {
            // BUG promote-on-timeout: no votes, no comparison of logs.
            self.epoch += 1;
            self.voted_for = Some(self.cfg.id.clone());
            self.save_meta();
            self.become_primary(now);
            return;
        }
        self.role = Role::Candidate;
        self.primary = None;
        self.pre_vote = true;
        self.votes = HashSet::from([self.cfg.id.clone()]);
        self.ask_votes(now);
    }

    /// Send this round's (pre-)votes, or win at once in a one-node cluster.
    fn ask_votes(&mut self, now: Instant) {
        if self.votes.len() >= self.cfg.majority() {
            return self.won_votes(now);
        }
        let epoch = self.epoch + u64::from(self.pre_vote);
        let (last_epoch, len, pre) = (self.last_epoch(), self.log.len(), self.pre_vote);
        for p in self.cfg.peers.clone() {
            let vote = Msg::Vote {
                epoch,
                last_epoch,
                len,
                pre,
            };
            self.messages.push((p, vote));
        }
    }

    fn won_votes(&mut self, now: Instant) {
        if self.pre_vote {
            // A majority would vote: now raise the epoch and ask for real.
            self.pre_vote = false;
            self.epoch += 1;
            self.voted_for = Some(self.cfg.id.clone());
            self.save_meta();
            self.votes = HashSet::from([self.cfg.id.clone()]);
            self.ask_votes(now);
        } else {
            self.become_primary(now);
        }
    }

    fn become_primary(&mut self, now: Instant) {
        tracing::info!(
            epoch = self.epoch,
            len = self.log.len(),
            "promoted to primary"
        );
        self.role = Role::Primary;
        self.primary = Some(self.cfg.id.clone());
        self.since = now;
        self.next_heartbeat = now;
        let len = self.log.len();
        self.followers = self
            .cfg
            .peers
            .iter()
            .map(|p| {
                let f = Follower {
                    sent: len,
                    matched: 0,
                    last_ack: now,
                };
                (p.clone(), f)
            })
            .collect();
        self.kv = Kv::default();
        for e in &self.log {
            apply(&mut self.kv, &e.cmd, now);
        }
        // An entry of the new epoch: once it commits, so has everything
        // before it.
        self.append(json!({"f": "noop"}));
        self.replicate(false);
        self.advance_commit(now);
    }

    /// Send every backup the log it has not been sent (`all`: also an empty
    /// Append, the heartbeat, to those that are up to date).
    fn replicate(&mut self, all: bool) {
        let peers = self.cfg.peers.clone();
        for p in peers {
            self.send_append(&p, all);
        }
    }

    fn send_append(&mut self, to: &str, heartbeat: bool) {
        let Some(f) = self.followers.get_mut(to) else {
            return;
        };
        let from = f.sent.min(self.log.len());
        let until = (from + MAX_BATCH).min(self.log.len());
        if from == until && !heartbeat {
            return;
        }
        f.sent = until;
        let msg = Msg::Append {
            epoch: self.epoch,
            prev_len: from,
            prev_epoch: if from == 0 {
                0
            } else {
                self.log[from - 1].epoch
            },
            entries: self.log[from..until].to_vec(),
            commit: self.commit,
        };
        self.messages.push((to.to_string(), msg));
    }

    fn live_backups(&self, now: Instant) -> usize {
        self.followers
            .values()
            .filter(|f| now.duration_since(f.last_ack) < self.cfg.fail_min)
            .count()
    }

    /// Commit what every live backup and `copies` nodes hold, up to the last
    /// entry of this epoch among them; answer the ops it covers.
    fn advance_commit(&mut self, now: Instant) {
        if self.role != Role::Primary {
            return;
        }
        let mut lens: Vec<usize> = self.followers.values().map(|f| f.matched).collect();
        lens.push(self.log.len());
        lens.sort_unstable_by(|a, b| b.cmp(a));
        // BUG promote-on-timeout: the design trusts its failure detector, so
        // the backups it believes live are all the copies it waits for.
        let copies = if self.cfg.promote_on_timeout {
            1
        } else {
            self.cfg.copies
        };
        let by_copies = lens[copies.clamp(1, lens.len()) - 1];
        let by_live = self
            .followers
            .values()
            .filter(|f| now.duration_since(f.last_ack) < self.cfg.fail_min)
            .map(|f| f.matched)
            .min()
            .unwrap_or(self.log.len());
        let mut c = by_copies.min(by_live);
        while c > self.commit && self.log[c - 1].epoch != self.epoch {
            c -= 1;
        }
        if c <= self.commit {
            return;
        }
        self.commit = c;
        while let Some(entry) = self.pending.first_entry() {
            if *entry.key() > c {
                break;
            }
            let (reply, outcome) = entry.remove();
            self.replies.push((reply, outcome));
        }
    }

    pub fn on_message(&mut self, from: String, msg: Msg, now: Instant, rng: &mut impl Rng) {
        if !self.cfg.peers.contains(&from) {
            return;
        }
        match msg {
            Msg::Append {
                epoch,
                prev_len,
                prev_epoch,
                entries,
                commit,
            } => self.on_append(from, epoch, prev_len, prev_epoch, entries, commit, now, rng),
            Msg::AppendAck { epoch, ok, len } => {
                self.adopt(epoch, now, rng);
                if self.role != Role::Primary || epoch != self.epoch {
                    return;
                }
                let Some(f) = self.followers.get_mut(&from) else {
                    return;
                };
                f.last_ack = now;
                if ok {
                    f.matched = f.matched.max(len);
                    f.sent = f.sent.max(len);
                    self.advance_commit(now);
                } else {
                    // Its log is shorter or disagrees: resend from where it says.
                    f.sent = len.min(self.log.len());
                    self.send_append(&from, true);
                }
            }
            Msg::Vote {
                epoch,
                last_epoch,
                len,
                pre,
            } => {
                let up_to_date = (last_epoch, len) >= (self.last_epoch(), self.log.len());
                if pre {
                    // Would it get the vote? Not while this node still hears
                    // a primary (or is one); nothing changes here.
                    let has_primary = match self.role {
                        Role::Primary => true,
                        Role::Backup => {
                            self.primary.is_some()
                                && now.duration_since(self.heard) < self.cfg.fail_min
                        }
                        Role::Candidate => false,
                    };
                    let granted = epoch > self.epoch && up_to_date && !has_primary;
                    let ack = Msg::VoteAck {
                        epoch,
                        granted,
                        pre,
                    };
                    self.messages.push((from, ack));
                    return;
                }
                self.adopt(epoch, now, rng);
                let free = self.voted_for.as_ref().is_none_or(|v| *v == from);
                let granted = epoch == self.epoch && free && up_to_date;
                if granted {
                    self.voted_for = Some(from.clone());
                    self.save_meta();
                    self.reset_timeout(now, rng);
                }
                let epoch = self.epoch;
                let ack = Msg::VoteAck {
                    epoch,
                    granted,
                    pre,
                };
                self.messages.push((from, ack));
            }
            Msg::VoteAck {
                epoch,
                granted,
                pre,
            } => {
                if !pre {
                    self.adopt(epoch, now, rng);
                }
                let round = self.epoch + u64::from(self.pre_vote);
                if self.role == Role::Candidate && pre == self.pre_vote && epoch == round && granted
                {
                    self.votes.insert(from);
                    if self.votes.len() >= self.cfg.majority() {
                        self.won_votes(now);
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_append(
        &mut self,
        from: String,
        epoch: u64,
        prev_len: usize,
        prev_epoch: u64,
        entries: Vec<Entry>,
        commit: usize,
        now: Instant,
        rng: &mut impl Rng,
    ) {
        if epoch < self.epoch {
            // A replaced primary: tell it the epoch it lost to.
            let (epoch, len) = (self.epoch, self.log.len());
            let ack = Msg::AppendAck {
                epoch,
                ok: false,
                len,
            };
            self.messages.push((from, ack));
            return;
        }
        if epoch == self.epoch && self.role == Role::Primary {
            // Two primaries of one epoch: only the bug makes them. The
            // higher id keeps it, so that the cluster settles after a heal.
            if from < self.cfg.id {
                return;
            }
        }
        self.adopt(epoch, now, rng);
        if self.role != Role::Backup {
            self.step_down(now, rng);
        }
        self.primary = Some(from.clone());
        self.heard = now;
        self.reset_timeout(now, rng);
        let agrees = prev_len <= self.log.len()
            && (prev_len == 0 || self.log[prev_len - 1].epoch == prev_epoch);
        if !agrees {
            let hint = if prev_len > self.log.len() {
                self.log.len()
            } else {
                // Back to the start of the disagreeing epoch's run.
                let e = self.log[prev_len - 1].epoch;
                let mut i = prev_len - 1;
                while i > 0 && self.log[i - 1].epoch == e {
                    i -= 1;
                }
                i
            };
            let ack = Msg::AppendAck {
                epoch,
                ok: false,
                len: hint,
            };
            self.messages.push((from, ack));
            return;
        }
        let sent = prev_len + entries.len();
        for (k, entry) in entries.into_iter().enumerate() {
            let i = prev_len + k;
            if i < self.log.len() {
                if self.log[i].epoch == entry.epoch {
                    continue;
                }
                // A conflict: what follows came from a replaced primary.
                self.log.truncate(i);
                self.log_changed(i);
            }
            self.log_changed(i);
            self.log.push(entry);
        }
        // Entries past `sent` may be a replaced primary's: not acknowledged.
        self.commit = self.commit.max(commit.min(sent));
        let ack = Msg::AppendAck {
            epoch,
            ok: true,
            len: sent,
        };
        self.messages.push((from, ack));
    }
}

/// Apply a logged command to the key-value state; a read reads.
fn apply(kv: &mut Kv, cmd: &Value, now: Instant) -> Outcome {
    match cmd["f"].as_str() {
        Some("noop") => Outcome::done(),
        Some("read") => kv.query(&Request {
            id: Value::Null,
            f: "read".into(),
            key: cmd["key"].as_str().map(str::to_string),
            value: Value::Null,
        }),
        _ => kv.apply(0, cmd, now),
    }
}
