//! Generated txn histories, written as JSON lines: a valid (or stale-read)
//! database run by 10 clients, with planted anomalies (plant.rs) woven in
//! at random points.

use crate::plant::Gadget;
use faultline_checkers::txn::TxnWorkload;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt::Write as _;
use std::io::Write;

pub const CLIENTS: usize = 10;
const ACTIVE_KEYS: usize = 10;

/// How the generated database behaves.
#[derive(Clone, Copy, PartialEq)]
pub enum Db {
    /// Each txn takes effect at once at its completion: strict serializable.
    Serial,
    /// One txn in `n` reads the state as of its invocation but writes at its
    /// completion (snapshot-like): lost updates, write skew, stale reads.
    StaleReads(u32),
}

/// What to plant: `times` copies of `gadget`, one in each of `times` equal
/// stretches of the history, at a random point of its first half.
pub struct Plant<'g> {
    pub gadget: &'g Gadget,
    pub times: usize,
}

/// Writes a generated history of `n` txns of the database as JSON lines
/// into `out`, streaming (a History of a million txns' Value trees would
/// take gigabytes before the checker even starts), with `plant` woven in.
/// Returns the history indexes of the planted txns' invocations (which name
/// them in the checker's answer).
pub fn generate(
    out: &mut impl Write,
    n: usize,
    w: TxnWorkload,
    db: Db,
    max_writes: usize,
    seed: u64,
    plant: Option<Plant>,
) -> std::io::Result<Vec<u64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    // Planting draws from its own generator, so the database's txns are the
    // same with or without plants.
    let mut plant_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x706c616e74);
    let mut db = Database::new(n, w, db, max_writes);
    let stretch = 2 * n / plant.as_ref().map_or(1, |p| p.times.max(1));
    let starts: Vec<usize> = match &plant {
        Some(p) => (0..p.times)
            .map(|i| i * stretch + plant_rng.gen_range(0..stretch / 2))
            .collect(),
        None => Vec::new(),
    };
    let mut planted = 0;
    let mut planted_txns = Vec::new();
    // The open plant's events still to write.
    let mut pending: std::collections::VecDeque<(u64, &str, String)> = Default::default();
    let mut db_events = 0;
    let mut index = 0u64;
    let mut line = String::new();
    loop {
        if pending.is_empty() && planted < starts.len() && db_events >= starts[planted] {
            let gadget = plant.as_ref().expect("starts come from a plant").gadget;
            pending.extend(gadget.events(planted, CLIENTS as u64));
            planted += 1;
        }
        line.clear();
        // About 20 of the database's events between two of a plant's: a
        // planted txn runs about twice as long as the database's (10
        // clients), so others start and complete while it runs.
        let from_plant = !pending.is_empty() && (db.done() || plant_rng.gen_ratio(1, 20));
        if from_plant {
            let (process, kind, value) = pending.pop_front().expect("a pending event");
            if kind == "invoke" {
                planted_txns.push(index);
            }
            head(&mut line, index, kind, process);
            line.push_str(&value);
        } else if !db.done() {
            db.event(&mut rng, index, &mut line);
            db_events += 1;
        } else {
            break;
        }
        line.push_str("}\n");
        out.write_all(line.as_bytes())?;
        index += 1;
    }
    Ok(planted_txns)
}

/// A line's fields up to its value: `{"index":..,...,"value":`.
fn head(line: &mut String, index: u64, kind: &str, process: u64) {
    write!(
        line,
        "{{\"index\":{index},\"time\":{},\"type\":\"{kind}\",\"process\":{process},\"f\":\"txn\",\"value\":",
        index * 1000
    )
    .unwrap();
}

/// A write's value, or None for a read; and the key.
type Plan = Vec<(Option<i64>, usize)>;
/// The state of the keys a stale txn reads, as of its invocation.
type Snapshot = Vec<(usize, Vec<i64>)>;

/// The generated database and its clients (1-4 micro-ops a txn, an
/// exponential choice among 10 active keys, a key retired after
/// `max_writes` writes, values unique per key).
struct Database {
    n: usize,
    started: usize,
    db: Db,
    max_writes: usize,
    /// Each key's list (a register is its last element).
    state: Vec<Vec<i64>>,
    active: Vec<usize>,
    /// Per client: its open txn's plan and the snapshot it may read from.
    open: Vec<Option<(Plan, Option<Snapshot>)>>,
    next_value: i64,
    write_f: &'static str,
    register: bool,
}

impl Database {
    fn new(n: usize, w: TxnWorkload, db: Db, max_writes: usize) -> Self {
        let (write_f, register) = match w {
            TxnWorkload::ListAppend => ("append", false),
            TxnWorkload::RwRegister => ("w", true),
        };
        Database {
            n,
            started: 0,
            db,
            max_writes,
            state: vec![Vec::new(); ACTIVE_KEYS],
            active: (0..ACTIVE_KEYS).collect(),
            open: vec![None; CLIENTS],
            next_value: 0,
            write_f,
            register,
        }
    }

    fn done(&self) -> bool {
        self.started >= self.n && self.open.iter().all(Option::is_none)
    }

    /// Writes the next event (a client's invocation or completion) into
    /// `line`, all but its closing brace.
    fn event(&mut self, rng: &mut ChaCha8Rng, index: u64, line: &mut String) {
        let c = loop {
            let c = rng.gen_range(0..CLIENTS);
            if self.open[c].is_some() || self.started < self.n {
                break c;
            }
        };
        let kind = if self.open[c].is_some() {
            "ok"
        } else {
            "invoke"
        };
        head(line, index, kind, c as u64);
        line.push('[');
        match self.open[c].take() {
            None => self.invoke(rng, c, line),
            Some((plan, snapshot)) => self.complete(plan, snapshot, line),
        }
        line.push(']');
    }

    fn invoke(&mut self, rng: &mut ChaCha8Rng, c: usize, line: &mut String) {
        self.started += 1;
        let plan: Plan = (0..rng.gen_range(1..=4))
            .map(|_| {
                let mut i = 0;
                while i + 1 < ACTIVE_KEYS && rng.gen_bool(0.5) {
                    i += 1;
                }
                let write = rng.gen_bool(0.5).then(|| {
                    self.next_value += 1;
                    self.next_value
                });
                (write, self.active[i])
            })
            .collect();
        for (i, &(write, k)) in plan.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            match write {
                Some(v) => write!(line, "{sep}[\"{}\",{k},{v}]", self.write_f),
                None => write!(line, "{sep}[\"r\",{k},null]"),
            }
            .unwrap();
        }
        let stale = match self.db {
            Db::StaleReads(one_in) => rng.gen_ratio(1, one_in),
            Db::Serial => false,
        };
        let snapshot = stale.then(|| {
            plan.iter()
                .map(|&(_, k)| (k, self.state[k].clone()))
                .collect::<Vec<_>>()
        });
        self.open[c] = Some((plan, snapshot));
    }

    fn complete(&mut self, plan: Plan, snapshot: Option<Snapshot>, line: &mut String) {
        let mut own: Vec<(usize, i64)> = Vec::new();
        for (i, (write, k)) in plan.into_iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            if let Some(v) = write {
                self.state[k].push(v);
                own.push((k, v));
                write!(line, "{sep}[\"{}\",{k},{v}]", self.write_f).unwrap();
                if self.state[k].len() >= self.max_writes {
                    if let Some(slot) = self.active.iter().position(|&a| a == k) {
                        self.state.push(Vec::new());
                        self.active[slot] = self.state.len() - 1;
                    }
                }
                continue;
            }
            let fresh;
            let seen: &[i64] = match &snapshot {
                Some(s) => {
                    let mut l = s
                        .iter()
                        .find(|e| e.0 == k)
                        .map(|e| e.1.clone())
                        .unwrap_or_default();
                    l.extend(own.iter().filter(|o| o.0 == k).map(|o| o.1));
                    fresh = l;
                    &fresh
                }
                None => &self.state[k],
            };
            write!(line, "{sep}[\"r\",{k},").unwrap();
            if self.register {
                match seen.last() {
                    Some(v) => write!(line, "{v}]"),
                    None => write!(line, "null]"),
                }
                .unwrap();
            } else {
                line.push('[');
                for (j, v) in seen.iter().enumerate() {
                    let sep = if j == 0 { "" } else { "," };
                    write!(line, "{sep}{v}").unwrap();
                }
                line.push_str("]]");
            }
        }
    }
}
