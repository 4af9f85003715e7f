//! Nemesis steps as the history sees them: each is recorded as an invoke and
//! an info `nemesis` op, logged, and shown on the progress line while in force.

use super::fault::{start, stop, Fault};
use crate::cluster::Cluster;
use crate::controller::{Live, Log};
use crate::store::writer::Recorder;
use faultline_checkers::history::OpType;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Performs nemesis steps on a blocking thread: each is recorded as an invoke
/// and an info `nemesis` op, logged, and shown on the progress line while in
/// force; a step that fails is a problem of the run.
pub struct Stepper {
    pub cluster: Arc<dyn Cluster>,
    pub recorder: Arc<Recorder>,
    pub log: Log,
    pub live: Arc<Live>,
    pub problems: Arc<Mutex<Vec<String>>>,
    /// `--membership-voters MIN..MAX`: the membership fault's bounds.
    pub membership_voters: Option<(usize, usize)>,
}

impl Stepper {
    /// Records `f` as invoke, does `action`, records info (with the error).
    pub fn step(
        &self,
        f: &str,
        value: Value,
        action: impl FnOnce(&dyn Cluster) -> anyhow::Result<()>,
    ) {
        let r = &self.recorder;
        r.record_nemesis(OpType::Invoke, f, value.clone(), None);
        let error = action(&*self.cluster).err().map(|e| format!("{e:#}"));
        (self.log)(&format!(
            "nemesis {f} {value}{}",
            error.as_ref().map(|e| format!(": {e}")).unwrap_or_default()
        ));
        if let Some(e) = &error {
            self.problems
                .lock()
                .unwrap()
                .push(format!("nemesis {f}: {e}"));
        }
        r.record_nemesis(OpType::Info, f, value, error);
    }

    /// Puts `fault` in force (`note` says why, in the log).
    pub fn start(&self, fault: &Fault, note: Value) {
        let names = self.names();
        if !note.is_null() {
            (self.log)(&format!("nemesis {}: {note}", fault.label(&names)));
        }
        self.step(
            &format!("start-{}", fault.kind()),
            fault.describe(&names),
            |c| start(c, fault),
        );
        self.live.faults.lock().unwrap().push(fault.label(&names));
    }

    /// Replaces partition `old` by partition `new` with no gap between them
    /// but the heal itself (both steps are recorded).
    pub fn switch(&self, old: &Fault, new: &Fault, note: Value) {
        let names = self.names();
        (self.log)(&format!("nemesis {}: {note}", new.label(&names)));
        let r = &self.recorder;
        let (stop_f, start_f) = (
            format!("stop-{}", old.kind()),
            format!("start-{}", new.kind()),
        );
        let (v_old, v_new) = (old.describe(&names), new.describe(&names));
        r.record_nemesis(OpType::Invoke, &stop_f, v_old.clone(), None);
        r.record_nemesis(OpType::Invoke, &start_f, v_new.clone(), None);
        let error = stop(&*self.cluster, old)
            .and_then(|()| start(&*self.cluster, new))
            .err()
            .map(|e| format!("{e:#}"));
        (self.log)(&format!("nemesis {stop_f} {v_old}, {start_f} {v_new}"));
        if let Some(e) = &error {
            self.problems
                .lock()
                .unwrap()
                .push(format!("nemesis {start_f}: {e}"));
        }
        r.record_nemesis(OpType::Info, &stop_f, v_old, error.clone());
        r.record_nemesis(OpType::Info, &start_f, v_new, error);
        let mut live = self.live.faults.lock().unwrap();
        live.retain(|l| *l != old.label(&names));
        live.push(new.label(&names));
    }

    /// Ends `fault`.
    pub fn stop(&self, fault: &Fault) {
        let names = self.names();
        self.step(
            &format!("stop-{}", fault.kind()),
            fault.describe(&names),
            |c| stop(c, fault),
        );
        let label = fault.label(&names);
        let mut live = self.live.faults.lock().unwrap();
        if let Some(i) = live.iter().position(|l| *l == label) {
            live.remove(i);
        }
    }
}

impl Stepper {
    /// Puts `fault` in force for `hold` (less if the phase ends), then ends it.
    pub fn hold(&self, fault: &Fault, hold: Duration, until: &super::Until) {
        self.start(fault, Value::Null);
        until.sleep(hold);
        self.stop(fault);
    }

    /// The cluster's node names, in node order.
    pub fn names(&self) -> Vec<String> {
        self.cluster
            .nodes()
            .iter()
            .map(|n| n.name.clone())
            .collect()
    }
}
