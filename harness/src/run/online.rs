//! The online check of a run: a thread fed a copy of every op by the
//! recorder runs the linearizability check as the history grows
//! (`faultline_checkers::linearizability::online`), shows the first anomaly
//! on the progress line as soon as it is found, logs it, and (with
//! `--stop-on-anomaly`) ends the main phase.
//!
//! It costs the clients one copy of each op and a non-blocking channel send;
//! the checking itself runs on its own thread. A thread that falls a whole
//! channel behind is cut off (the final check decides alone), and the run
//! waits for it at most [`FINISH_LIMIT`] at the end: the online check only
//! reports early what the final check decides anyway.

use crate::controller::Live;
use crate::store::writer::Recorder;
use faultline_checkers::linearizability::online::{Online, OnlineAnomaly};
use faultline_checkers::models::ModelConfig;
use faultline_checkers::registry::CheckerKind;
use faultline_checkers::verdict::{OnlineAnomalyReport, OnlineReport};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

/// Ops the recorder may be ahead of the check before it is cut off (about
/// 100 bytes an op in the channel at most).
const CHANNEL: usize = 200_000;

/// The checker the online check runs.
const CHECKER: &str = "linearizable";

/// How long the end of a run waits for the check to walk what it was sent.
/// Each op costs it at most 100 ms (`online::MAX_RETURN_TIME`), so it can
/// only be slower on a backlog; then it is cancelled and its parts are
/// counted as given up.
const FINISH_LIMIT: Duration = Duration::from_secs(5);

/// A running online check.
pub struct OnlineCheck {
    done: mpsc::Receiver<Outcome>,
    /// Its first anomaly as soon as found, for a check cancelled later.
    first: Arc<Mutex<Option<OnlineAnomalyReport>>>,
    cancel: Arc<AtomicBool>,
    recorder: Arc<Recorder>,
}

/// The thread's result: parts followed, parts given up, CPU seconds spent.
type Outcome = (usize, usize, f64);

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
    let cancel = Arc::new(AtomicBool::new(false));
    let cancelled = cancel.clone();
    let (send_done, done) = mpsc::sync_channel(1);
    let first_found = Arc::new(Mutex::new(None));
    let first_shared = first_found.clone();
    std::thread::Builder::new()
        .name("online-check".into())
        .spawn(move || {
            let mut on_anomaly = Some(on_anomaly);
            // Ends when the recorder closes the channel, or on cancel.
            for op in ops {
                if cancelled.load(Ordering::Relaxed) {
                    log("online check: cancelled (the run ended and it was still behind)");
                    break;
                }
                let Some(found) = online.push(&op) else {
                    continue;
                };
                let mut first = first_shared.lock().unwrap();
                if first.is_some() {
                    continue;
                }
                let report = report_of(&found, rec.elapsed().as_secs_f64());
                let line = describe(&report);
                log(&format!("online check: {line}"));
                *live.anomaly.lock().unwrap() = Some(line);
                *first = Some(report);
                drop(first);
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
            // The run may have stopped waiting: nobody to tell then.
            let _ = send_done.send((parts, gave_up, thread_cpu_seconds()));
        })
        .ok()?;
    Some(OnlineCheck {
        done,
        first: first_found,
        cancel,
        recorder,
    })
}

impl OnlineCheck {
    /// Closes the channel, lets the thread finish what it was sent (for at
    /// most [`FINISH_LIMIT`]), and reports. `stopping_until`: with
    /// `--stop-on-anomaly`, when the main phase would have ended (seconds
    /// since the run started); an anomaly reported before then ended the run.
    pub fn finish(self, stopping_until: Option<f64>) -> OnlineReport {
        self.recorder.unsubscribe();
        let (parts, gave_up, cpu_s, unfinished) = match self.done.recv_timeout(FINISH_LIMIT) {
            Ok((parts, gave_up, cpu_s)) => (parts, gave_up, cpu_s, false),
            Err(_) => {
                // Left to end on its own (within one op's budget).
                self.cancel.store(true, Ordering::Relaxed);
                (0, 0, 0.0, true)
            }
        };
        let first_anomaly = self.first.lock().unwrap().clone();
        OnlineReport {
            checker: CHECKER.into(),
            parts,
            gave_up,
            cpu_s,
            unfinished,
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
        self.cancel.store(true, Ordering::Relaxed);
        self.recorder.unsubscribe();
    }
}

/// CPU time the calling thread has used, in seconds.
fn thread_cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a pointer to a live timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } != 0 {
        return 0.0;
    }
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
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
