//! The worker every dispatcher node runs: a client of the dispatcher over the
//! same TCP protocol as any client, so the faults that cut nodes apart cut
//! it from the dispatcher too (on a local cluster it dials the other nodes
//! through their fault proxies).
//!
//! Every [`POLL`] it polls the leader (its heartbeat, with its load) and
//! gets its open assignments; each takes a short random time of "work";
//! then it reports the completion with the assignment's epoch, and retries
//! the report until the dispatcher accepts or refuses it. A worker cut off
//! keeps its finished tasks and reports them when it can reach the leader
//! again, which is what fencing must withstand.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use faultline_protocol::{decode_completion, request_line, Completion, Request};
use rand::Rng;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

/// How often a worker polls (heartbeat).
pub const POLL: Duration = Duration::from_millis(100);
/// How long a request may take before the worker tries another node.
const REQUEST_TIMEOUT: Duration = Duration::from_millis(1000);
/// A task's work takes between these many milliseconds.
const WORK_MS: std::ops::Range<u64> = 20..80;

/// The dispatcher as one worker sees it: the nodes' addresses, and a
/// connection to the one it believes leads.
struct Link {
    addrs: Vec<(String, String)>,
    at: usize,
    conn: Option<BufReader<TcpStream>>,
    next_id: u64,
}

impl Link {
    /// One request; `None` when no answer came (the node is unreachable, or
    /// the outcome is unknown).
    async fn call(&mut self, f: &str, value: Value) -> Option<Completion> {
        for _ in 0..self.addrs.len() {
            self.next_id += 1;
            let line = request_line(
                self.next_id,
                &Request {
                    f: f.into(),
                    key: None,
                    value: value.clone(),
                },
            );
            let reply = timeout(REQUEST_TIMEOUT, self.exchange(&line)).await;
            match reply {
                Ok(Some((c, leader))) => {
                    if let Completion::Fail { error } = &c {
                        if error == "not-leader" {
                            self.conn = None;
                            match leader
                                .and_then(|l| self.addrs.iter().position(|(id, _)| *id == l))
                            {
                                Some(i) if i != self.at => self.at = i,
                                _ => self.at = (self.at + 1) % self.addrs.len(),
                            }
                            continue;
                        }
                    }
                    return Some(c);
                }
                _ => {
                    self.conn = None;
                    self.at = (self.at + 1) % self.addrs.len();
                    return None;
                }
            }
        }
        None
    }

    async fn exchange(&mut self, line: &str) -> Option<(Completion, Option<String>)> {
        if self.conn.is_none() {
            let s = TcpStream::connect(&self.addrs[self.at].1).await.ok()?;
            let _ = s.set_nodelay(true);
            self.conn = Some(BufReader::new(s));
        }
        let conn = self.conn.as_mut()?;
        conn.get_mut().write_all(line.as_bytes()).await.ok()?;
        let mut answer = String::new();
        if conn.read_line(&mut answer).await.ok()? == 0 {
            return None;
        }
        let reply = decode_completion(answer.as_bytes()).ok()?;
        (reply.id == self.next_id).then_some((reply.completion, reply.leader))
    }
}

/// Runs worker `id` against the nodes at `addrs` (its own first) forever.
pub async fn run(id: String, addrs: Vec<(String, String)>) {
    let mut link = Link {
        addrs,
        at: 0,
        conn: None,
        next_id: 0,
    };
    // Task key -> (value, epoch, when its work is done).
    let mut working: HashMap<String, (Value, u64, Instant)> = HashMap::new();
    // (task key, epoch) already reported and settled: not redone.
    let mut settled: HashSet<(String, u64)> = HashSet::new();
    let mut next_poll = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next_poll {
            next_poll = now + POLL;
            let poll = json!({"worker": id, "load": working.len()});
            if let Some(Completion::Ok { value }) = link.call("worker-poll", poll).await {
                for a in value["tasks"].as_array().into_iter().flatten() {
                    let (task, epoch) = (a[0].clone(), a[1].as_u64().unwrap_or(0));
                    let key = task.to_string();
                    let known = working.get(&key).is_some_and(|w| w.1 == epoch);
                    if !known && !settled.contains(&(key.clone(), epoch)) {
                        let ms = rand::thread_rng().gen_range(WORK_MS);
                        let ready = Instant::now() + Duration::from_millis(ms);
                        working.insert(key, (task, epoch, ready));
                    }
                }
            }
        }
        let finished: Vec<String> = working
            .iter()
            .filter(|(_, w)| w.2 <= Instant::now())
            .map(|(k, _)| k.clone())
            .collect();
        for key in finished {
            let (task, epoch, _) = working[&key].clone();
            let report = json!({"worker": id, "task": task, "epoch": epoch});
            match link.call("worker-complete", report).await {
                // Accepted, or refused for good (the task moved on): done.
                Some(Completion::Ok { .. }) | Some(Completion::Fail { .. }) => {
                    working.remove(&key);
                    settled.insert((key, epoch));
                }
                // Unknown or unreachable: report again later.
                _ => break,
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
