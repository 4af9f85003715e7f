//! The online check of a run: a thread fed a copy of every op by the
//! recorder runs the linearizability check as the history grows
//! (`faultline_checkers::linearizability::online`), shows the first anomaly
//! on the progress line as soon as it is found, logs it, and (with
//! `--stop-on-anomaly`) ends the main phase.
//!
//! It costs the clients one copy of each op and a non-blocking channel send;
//! the checking itself runs on its own thread. A thread that falls a whole
//! channel behind is cut off (the final check decides alone).

use crate::controller::Live;
use crate::store::writer::Recorder;
use faultline_checkers::linearizability::online::{Online, OnlineAnomaly};
use faultline_checkers::models::ModelConfig;
use faultline_checkers::registry::CheckerKind;
use faultline_checkers::verdict::{OnlineAnomalyReport, OnlineReport};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Ops the recorder may be ahead of the check before it is cut off (about
/// 100 bytes an op in the channel at most).
const CHANNEL: usize = 200_000;

/// The checker the online check runs.
const CHECKER: &str = "linearizable";

/// A running online check.
pub struct OnlineCheck {
    thread: Option<JoinHandle<Outcome>>,
    recorder: Arc<Recorder>,
}

/// The thread's result: its first anomaly, parts followed, parts given up.
type Outcome = (Option<OnlineAnomalyReport>, usize, usize);

/// Starts the online check of a workload checked for linearizability (any
/// model); `None` for other workloads. `on_anomaly` runs once, on the
/// check's thread, when the first anomaly is found.
pub fn start(
    workload: &dyn faultline_workloads::Workload,
    recorder: Arc<Recorder>,
    live: Arc<Live>,
    log: crate::controller::Log,
    on_anomaly: Box<dyn FnOnce() + Send>,
) -> Option<OnlineCheck> {
    if !workload.checkers().contains(&CheckerKind::Linearizable) {
        return None;
    }
    let mut online = Online::new(workload.model()?, None, ModelConfig::default()).ok()?;
    let ops = recorder.subscribe(CHANNEL);
    let rec = recorder.clone();
    let thread = std::thread::Builder::new()
        .name("online-check".into())
        .spawn(move || {
            let mut first = None;
            let mut on_anomaly = Some(on_anomaly);
            // Ends when the recorder closes the channel.
            for op in ops {
                let Some(found) = online.push(&op) else {
                    continue;
                };
                if first.is_some() {
                    continue;
                }
                let report = report_of(&found, rec.elapsed().as_secs_f64());
                let line = describe(&report);
                log(&format!("online check: {line}"));
                *live.anomaly.lock().unwrap() = Some(line);
                first = Some(report);
                if let Some(f) = on_anomaly.take() {
                    f();
                }
            }
            for (key, why) in &online.gave_up {
                log(&format!(
                    "online check: key {} left to the final check: {why}",
                    key.as_deref().unwrap_or("-")
                ));
            }
            let (parts, gave_up) = online.parts();
            (first, parts, gave_up)
        })
        .ok()?;
    Some(OnlineCheck {
        thread: Some(thread),
        recorder,
    })
}

impl OnlineCheck {
    /// Closes the channel, lets the thread finish what it was sent, and
    /// reports. `stopping_until`: with `--stop-on-anomaly`, when the main
    /// phase would have ended (seconds since the run started); an anomaly
    /// reported before then ended the run.
    pub fn finish(mut self, stopping_until: Option<f64>) -> OnlineReport {
        self.recorder.unsubscribe();
        let thread = self.thread.take().expect("finished once");
        let (first_anomaly, parts, gave_up) = thread.join().unwrap_or_default();
        OnlineReport {
            checker: CHECKER.into(),
            parts,
            gave_up,
            fell_behind: self.recorder.overflowed(),
            stopped_run: first_anomaly
                .as_ref()
                .zip(stopping_until)
                .is_some_and(|(a, until)| a.reported_s < until),
            first_anomaly,
        }
    }
}

impl Drop for OnlineCheck {
    /// A run that ends on an error still lets the thread go.
    fn drop(&mut self) {
        self.recorder.unsubscribe();
    }
}

fn report_of(a: &OnlineAnomaly, reported_s: f64) -> OnlineAnomalyReport {
    OnlineAnomalyReport {
        checker: CHECKER.into(),
        key: a.key.clone(),
        op: a.op,
        completion: a.completion,
        what: a.what.clone(),
        time_s: a.time_ns as f64 / 1e9,
        reported_s,
    }
}

/// "linearizable: key r: read -> 1 (op 1234) at 4.2 s, found at 4.9 s".
pub fn describe(r: &OnlineAnomalyReport) -> String {
    format!(
        "{}: {}{} (op {}) at {:.1} s, found at {:.1} s",
        r.checker,
        r.key
            .as_deref()
            .map(|k| format!("key {k}: "))
            .unwrap_or_default(),
        r.what,
        r.op,
        r.time_s,
        r.reported_s
    )
}
