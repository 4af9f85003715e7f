//! Writing a run into the store as it goes: the run directory, `test.json`,
//! `history.jsonl` (one line per op, handed to the OS at least every 10 ms,
//! so a killed controller leaves a checkable history), `faultline.log`, `results.json`,
//! and the `latest` symlink.

use crate::spec::TestSpec;
use anyhow::Context;
use faultline_checkers::history::{History, Op, OpType, Process};
use faultline_checkers::Results;
use serde::Serialize;
use serde_json::Value;
use std::cell::RefCell;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `YYYYMMDDTHHMMSS` (UTC) for a time.
pub fn timestamp(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// A run directory being written.
pub struct RunDir {
    pub path: PathBuf,
}

impl RunDir {
    /// Creates `store/<test>/<timestamp>/` (with a `-2`, `-3`... suffix when a
    /// run of the same second exists), writes `test.json` and points
    /// `store/latest` at it.
    pub fn create(store: &Path, spec: &TestSpec) -> anyhow::Result<Self> {
        let base = timestamp(SystemTime::now());
        let test_dir = store.join(&spec.name);
        fs::create_dir_all(&test_dir)
            .with_context(|| format!("--store: cannot create {}", test_dir.display()))?;
        let mut name = base.clone();
        let mut n = 1;
        let path = loop {
            let p = test_dir.join(&name);
            match fs::create_dir(&p) {
                Ok(()) => break p,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    n += 1;
                    name = format!("{base}-{n}");
                }
                Err(e) => return Err(e).with_context(|| format!("create {}", p.display())),
            }
        };
        fs::write(path.join("test.json"), serde_json::to_vec_pretty(spec)?)?;
        let latest = store.join("latest");
        let _ = fs::remove_file(&latest);
        #[cfg(unix)]
        let _ = std::os::unix::fs::symlink(Path::new(&spec.name).join(&name), &latest);
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path.join("faultline.log"))?;
        crate::logging::to_file(log);
        Ok(RunDir { path })
    }

    /// A line for `faultline.log`: an `info` event of the run, which the log
    /// subscriber (see [`crate::logging`]) writes there with every other event.
    pub fn log(&self, line: impl AsRef<str>) {
        tracing::info!(target: "faultline::run", "{}", line.as_ref());
    }

    pub fn write_results(&self, results: &Results) -> anyhow::Result<()> {
        write_results(&self.path, results)
    }
}

/// Writes `results.json` into a run directory.
pub fn write_results(run_dir: &Path, results: &Results) -> anyhow::Result<()> {
    let path = run_dir.join("results.json");
    let json = serde_json::to_string_pretty(results)? + "\n";
    fs::write(&path, json).with_context(|| format!("writing {}", path.display()))
}

/// Counts of completed client ops, for the progress line.
#[derive(Default)]
pub struct Counts {
    pub ok: AtomicU64,
    pub fail: AtomicU64,
    pub info: AtomicU64,
}

/// How often recorded lines reach the OS at the latest. Writing every line
/// costs a syscall an op (and a lock held across it); a flusher thread hands
/// what accumulated to the OS this often instead, which bounds what a killed
/// controller loses even when no op is being recorded.
const FLUSH_EVERY: Duration = Duration::from_millis(10);

/// Records ops into `history.jsonl` and memory, numbering and timestamping them.
///
/// `record` only encodes its line and appends it to a buffer under a short
/// lock; a flusher thread writes that buffer out every [`FLUSH_EVERY`].
pub struct Recorder {
    shared: Arc<Shared>,
    flusher: Option<JoinHandle<()>>,
    started: Instant,
    pub counts: Counts,
}

struct Shared {
    log: Mutex<Log>,
    /// The file, locked for a whole drain so chunks reach it in order.
    file: Mutex<Option<FileOut>>,
    error: Mutex<Option<String>>,
    stop: AtomicBool,
    /// Whether a subscriber takes a copy of every op (see [`Recorder::subscribe`]).
    subscribed: AtomicBool,
    /// The subscriber fell behind by a whole channel and was cut off.
    overflowed: AtomicBool,
}

/// What `record` appends to.
struct Log {
    ops: Vec<Op>,
    /// Encoded lines not yet handed to the file.
    pending: Vec<u8>,
    /// Where a copy of each op goes, in index order (the online check).
    subscriber: Option<std::sync::mpsc::SyncSender<Op>>,
}

struct FileOut {
    file: File,
    /// The previous chunk's buffer, swapped back in so its capacity is reused.
    spare: Vec<u8>,
}

/// One op to record: an [`Op`] without `index` and `time`, which the
/// recorder assigns.
pub struct Entry<'a> {
    pub kind: OpType,
    pub process: Process,
    pub f: &'a str,
    pub key: Option<&'a str>,
    pub value: Value,
    pub error: Option<String>,
    /// The node a client op was sent to or answered by.
    pub node: Option<&'a str>,
}

/// An op line without `index` and `time`, which are only known under the lock.
#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: OpType,
    process: Process,
    f: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Value::is_null")]
    value: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<&'a str>,
}

thread_local! {
    /// Each thread's buffer for encoding op lines, so recording allocates less.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn push_u64(out: &mut Vec<u8>, n: u64) {
    serde_json::to_writer(out, &n).expect("a number encodes");
}

impl Shared {
    /// Hands the pending lines to the OS.
    fn drain(&self) {
        let mut out = self.file.lock().unwrap();
        let Some(out) = out.as_mut() else { return };
        let failed = self.error.lock().unwrap().is_some();
        {
            let mut log = self.log.lock().unwrap();
            if failed {
                // After a failed write the file keeps the prefix it has, with
                // no gap; the ops stay in memory and `finish` reports the error.
                log.pending.clear();
                return;
            }
            if log.pending.is_empty() {
                return;
            }
            std::mem::swap(&mut log.pending, &mut out.spare);
        }
        if let Err(e) = out.file.write_all(&out.spare) {
            self.error.lock().unwrap().get_or_insert(e.to_string());
        }
        out.spare.clear();
    }
}

impl Recorder {
    /// Records to `path` (`None`: memory only, for benchmarks and tests).
    pub fn create(path: Option<&Path>) -> anyhow::Result<Self> {
        let file = match path {
            Some(p) => Some(FileOut {
                file: File::create(p).with_context(|| format!("create {}", p.display()))?,
                spare: Vec::new(),
            }),
            None => None,
        };
        let on_disk = file.is_some();
        let shared = Arc::new(Shared {
            log: Mutex::new(Log {
                ops: Vec::new(),
                pending: Vec::new(),
                subscriber: None,
            }),
            file: Mutex::new(file),
            error: Mutex::new(None),
            stop: AtomicBool::new(false),
            subscribed: AtomicBool::new(false),
            overflowed: AtomicBool::new(false),
        });
        let flusher = on_disk
            .then(|| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name("history-flusher".into())
                    .spawn(move || loop {
                        std::thread::park_timeout(FLUSH_EVERY);
                        let stopping = shared.stop.load(Ordering::Acquire);
                        shared.drain();
                        if stopping {
                            return;
                        }
                    })
            })
            .transpose()
            .context("start the history flusher")?;
        Ok(Recorder {
            shared,
            flusher,
            started: Instant::now(),
            counts: Counts::default(),
        })
    }

    /// Records one nemesis op (no key, no node); returns its index.
    pub fn record_nemesis(
        &self,
        kind: OpType,
        f: &str,
        value: Value,
        error: Option<String>,
    ) -> u64 {
        self.record(Entry {
            kind,
            process: Process::Nemesis,
            f,
            key: None,
            value,
            error,
            node: None,
        })
    }

    /// Records one op; returns its index.
    pub fn record(&self, entry: Entry<'_>) -> u64 {
        let Entry {
            kind,
            process,
            f,
            key,
            value,
            error,
            node,
        } = entry;
        if kind != OpType::Invoke && process != Process::Nemesis {
            match kind {
                OpType::Fail => &self.counts.fail,
                OpType::Info => &self.counts.info,
                _ => &self.counts.ok,
            }
            .fetch_add(1, Ordering::Relaxed);
        }
        let mut op = Op {
            index: 0,
            time: 0,
            kind,
            process,
            f: f.to_string(),
            key: key.map(str::to_string),
            value,
            error,
            node: node.map(str::to_string),
        };
        let on_disk = self.flusher.is_some();
        // The subscriber's copy is made before the lock, like the line.
        let mut copy = self
            .shared
            .subscribed
            .load(Ordering::Relaxed)
            .then(|| op.clone());
        SCRATCH.with_borrow_mut(|body| {
            // Encode before taking the lock, so it is held briefly.
            body.clear();
            if on_disk {
                let b = Body {
                    kind,
                    process,
                    f,
                    key,
                    value: &op.value,
                    error: op.error.as_deref(),
                    node,
                };
                serde_json::to_writer(&mut *body, &b).expect("an op encodes");
            }
            let mut log = self.shared.log.lock().unwrap();
            // Timed under the lock, so times rise with the index.
            op.time = self.started.elapsed().as_nanos() as u64;
            op.index = log.ops.len() as u64;
            if on_disk {
                // `body` is `{"type":...}`: splice index and time in after its brace.
                let out = &mut log.pending;
                out.extend_from_slice(b"{\"index\":");
                push_u64(out, op.index);
                out.extend_from_slice(b",\"time\":");
                push_u64(out, op.time);
                out.push(b',');
                out.extend_from_slice(&body[1..]);
                out.push(b'\n');
            }
            let index = op.index;
            if let (Some(tx), Some(c)) = (&log.subscriber, copy.as_mut()) {
                c.index = op.index;
                c.time = op.time;
                // Sent under the lock, so copies arrive in index order; a
                // subscriber that fell a whole channel behind is cut off
                // rather than ever slowing a client down.
                if tx.try_send(copy.take().expect("a copy")).is_err() {
                    log.subscriber = None;
                    self.shared.subscribed.store(false, Ordering::Relaxed);
                    self.shared.overflowed.store(true, Ordering::Relaxed);
                }
            }
            log.ops.push(op);
            index
        })
    }

    /// Writes out what is pending and returns the history recorded so far, or
    /// the first write error.
    pub fn finish(&self) -> anyhow::Result<History> {
        self.shared.drain();
        if let Some(e) = &*self.shared.error.lock().unwrap() {
            anyhow::bail!("writing history.jsonl: {e}");
        }
        Ok(History::new(self.shared.log.lock().unwrap().ops.clone()))
    }

    /// A copy of every op recorded from now on, in index order, through a
    /// channel of `capacity` ops; it closes at [`Recorder::unsubscribe`], or
    /// when the subscriber falls `capacity` ops behind
    /// ([`Recorder::overflowed`]).
    pub fn subscribe(&self, capacity: usize) -> std::sync::mpsc::Receiver<Op> {
        let (tx, rx) = std::sync::mpsc::sync_channel(capacity);
        self.shared.log.lock().unwrap().subscriber = Some(tx);
        self.shared.subscribed.store(true, Ordering::Relaxed);
        rx
    }

    /// Closes the subscriber's channel (after what was sent).
    pub fn unsubscribe(&self) {
        self.shared.subscribed.store(false, Ordering::Relaxed);
        self.shared.log.lock().unwrap().subscriber = None;
    }

    /// Whether the subscriber was cut off for falling behind.
    pub fn overflowed(&self) -> bool {
        self.shared.overflowed.load(Ordering::Relaxed)
    }

    /// Time since the history started (the time base of its ops).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub fn len(&self) -> usize {
        self.shared.log.lock().unwrap().ops.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Some(t) = self.flusher.take() {
            self.shared.stop.store(true, Ordering::Release);
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_civil_utc() {
        assert_eq!(timestamp(UNIX_EPOCH), "19700101T000000");
        // 2000-02-29 12:34:56 UTC = 951827696
        assert_eq!(
            timestamp(UNIX_EPOCH + Duration::from_secs(951_827_696)),
            "20000229T123456"
        );
    }

    #[test]
    fn recorded_history_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("history.jsonl");
        let r = Recorder::create(Some(&p)).unwrap();
        r.record(Entry {
            kind: OpType::Invoke,
            process: Process::Client(0),
            f: "read",
            key: Some("r"),
            value: Value::Null,
            error: None,
            node: None,
        });
        r.record(Entry {
            kind: OpType::Ok,
            process: Process::Client(0),
            f: "read",
            key: Some("r"),
            value: serde_json::json!(3),
            error: None,
            node: None,
        });
        let h = r.finish().unwrap();
        let back = faultline_checkers::jsonl::read_file(&p).unwrap();
        assert_eq!(back.history, h);
        assert_eq!(r.counts.ok.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn lines_match_the_op_encoding() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("history.jsonl");
        let r = Recorder::create(Some(&p)).unwrap();
        r.record(Entry {
            kind: OpType::Invoke,
            process: Process::Client(7),
            f: "cas",
            key: Some("k\"1"),
            value: serde_json::json!([1, 2]),
            error: None,
            node: None,
        });
        r.record(Entry {
            kind: OpType::Info,
            process: Process::Nemesis,
            f: "start-kill",
            key: None,
            value: serde_json::json!({"n1": ["n2"]}),
            error: Some("timeout".into()),
            node: None,
        });
        r.record(Entry {
            kind: OpType::Fail,
            process: Process::Client(7),
            f: "cas",
            key: None,
            value: Value::Null,
            error: None,
            node: None,
        });
        let h = r.finish().unwrap();
        let expected: String = h
            .ops
            .iter()
            .map(|op| serde_json::to_string(op).unwrap() + "\n")
            .collect();
        assert_eq!(fs::read_to_string(&p).unwrap(), expected);
        assert_eq!(r.counts.fail.load(Ordering::Relaxed), 1);
        assert_eq!(r.counts.ok.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn lines_reach_the_file_without_finish() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("history.jsonl");
        let r = Recorder::create(Some(&p)).unwrap();
        r.record(Entry {
            kind: OpType::Invoke,
            process: Process::Client(0),
            f: "read",
            key: None,
            value: Value::Null,
            error: None,
            node: None,
        });
        // No further record and no finish: the flusher alone writes it out.
        let started = std::time::Instant::now();
        while fs::read_to_string(&p).unwrap().is_empty() {
            assert!(started.elapsed() < Duration::from_secs(5), "never flushed");
            std::thread::sleep(Duration::from_millis(5));
        }
        let back = faultline_checkers::jsonl::read_file(&p).unwrap();
        assert_eq!(back.history.ops.len(), 1);
    }

    #[test]
    fn a_failed_write_is_reported_by_finish() {
        let full = Path::new("/dev/full");
        if !full.exists() {
            return;
        }
        let r = Recorder::create(Some(full)).unwrap();
        r.record(Entry {
            kind: OpType::Invoke,
            process: Process::Client(0),
            f: "read",
            key: None,
            value: Value::Null,
            error: None,
            node: None,
        });
        let e = r.finish().unwrap_err().to_string();
        assert!(e.contains("writing history.jsonl"), "{e}");
        assert_eq!(r.len(), 1, "the ops stay in memory");
    }
}
