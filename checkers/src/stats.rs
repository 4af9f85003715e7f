//! A history's op counts and span, recorded in `results.json` so run lists
//! need not read every history again.

use crate::history::{History, Op, OpType, Process};
use serde::{Deserialize, Serialize};

/// Op counts and span of a history.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStats {
    pub ok: u64,
    pub fail: u64,
    pub info: u64,
    /// Invoked and never completed.
    pub open: u64,
    /// Faults started by the nemesis.
    pub faults: u64,
    /// From the first line's time to the last's, in nanoseconds.
    pub duration_ns: u64,
}

impl RunStats {
    pub fn client_ops(&self) -> u64 {
        self.ok + self.fail + self.info + self.open
    }

    pub fn of(history: &History) -> RunStats {
        let mut tally = Tally::default();
        for op in &history.ops {
            tally.add(op.kind, op.process, op.time, &op.f);
        }
        tally.finish()
    }
}

/// Counts ops one at a time (also for streaming readers that never hold the
/// whole history).
#[derive(Default)]
pub struct Tally {
    stats: RunStats,
    invokes: u64,
    first: Option<u64>,
    last: u64,
}

impl Tally {
    pub fn add(&mut self, kind: OpType, process: Process, time: u64, f: &str) {
        let c = &mut self.stats;
        self.first = Some(self.first.map_or(time, |t| t.min(time)));
        self.last = self.last.max(time);
        match (process, kind) {
            (Process::Nemesis, OpType::Invoke) if f.starts_with("start-") => c.faults += 1,
            (Process::Nemesis, _) => {}
            (_, OpType::Invoke) => self.invokes += 1,
            (_, OpType::Ok) => c.ok += 1,
            (_, OpType::Fail) => c.fail += 1,
            (_, OpType::Info) => c.info += 1,
        }
    }

    pub fn add_op(&mut self, op: &Op) {
        self.add(op.kind, op.process, op.time, &op.f);
    }

    pub fn finish(mut self) -> RunStats {
        let c = &mut self.stats;
        c.open = self.invokes.saturating_sub(c.ok + c.fail + c.info);
        c.duration_ns = self.last.saturating_sub(self.first.unwrap_or(0));
        self.stats
    }
}
