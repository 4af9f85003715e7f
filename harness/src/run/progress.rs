//! The progress line of a run: op counts, rate, the faults in force, and
//! the first anomaly the online check found, from the moment it is found.

use crate::controller::Live;
use crate::store::writer::Recorder;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A spinner that redraws itself until [`Progress::finish`].
pub struct Progress {
    bar: indicatif::ProgressBar,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    pub fn finish(self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}

pub fn start(rt: &tokio::runtime::Runtime, recorder: Arc<Recorder>, live: Arc<Live>) -> Progress {
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
            .expect("template"),
    );
    let b = bar.clone();
    let task = rt.spawn(async move {
        let started = Instant::now();
        loop {
            let c = &recorder.counts;
            let (ok, fail, info) = (
                c.ok.load(Ordering::Relaxed),
                c.fail.load(Ordering::Relaxed),
                c.info.load(Ordering::Relaxed),
            );
            let rate = (ok + fail + info) as f64 / started.elapsed().as_secs_f64().max(0.001);
            let faults = live.faults.lock().unwrap().join(" ");
            let anomaly = live
                .anomaly
                .lock()
                .unwrap()
                .as_ref()
                .map(|a| format!(" | ANOMALY {a}"))
                .unwrap_or_default();
            b.set_message(format!(
                "ok {ok} fail {fail} info {info} | {rate:.0} ops/s | faults: {}{anomaly}",
                if faults.is_empty() { "none" } else { &faults }
            ));
            b.tick();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    Progress { bar, task }
}
