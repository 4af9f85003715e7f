//! Where the harness's `tracing` events go: warnings and errors to stderr,
//! and everything at `--log-level` (or `RUST_LOG`, else `info`) into the
//! current run's `faultline.log`.
//!
//! The run log is one file per run; [`RunDir`](crate::store::writer::RunDir)
//! points the file layer at its `faultline.log` when it creates the run, and
//! its own lines (`RunDir::log`) are `tracing` events like any other.

use crate::exit::bad_input;
use std::fs::File;
use std::io::Write;
use std::sync::Mutex;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// The current run's `faultline.log`, if a run is going.
static RUN_LOG: Mutex<Option<File>> = Mutex::new(None);

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Installs the subscriber (once, from `main`). A `--log-level` that is
/// neither a level nor a filter directive is bad input.
pub fn init(level: Option<&str>) -> anyhow::Result<()> {
    let filter = match level {
        Some(l) => {
            let plain_word = !l.contains(['=', ',', ':', '[']);
            if plain_word && !LEVELS.contains(&l.to_ascii_lowercase().as_str()) {
                return Err(bad_input(format!(
                    "--log-level {l:?}: not a level; levels: {}, or a filter such as faultline=debug",
                    LEVELS.join(", ")
                )));
            }
            EnvFilter::try_new(l).map_err(|e| bad_input(format!("--log-level {l:?}: {e}")))?
        }
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .with_filter(LevelFilter::WARN);
    let file = fmt::layer()
        .with_writer(RunLogWriter)
        .with_ansi(false)
        .with_timer(fmt::time::uptime())
        .with_filter(filter);
    tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init()
        .map_err(|e| anyhow::anyhow!("installing the log subscriber: {e}"))
}

/// Sends the file layer's lines to `file` (a run's `faultline.log`) from now on.
pub fn to_file(file: File) {
    *RUN_LOG.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
}

struct RunLogWriter;

impl<'a> MakeWriter<'a> for RunLogWriter {
    type Writer = RunLogLine;

    fn make_writer(&'a self) -> RunLogLine {
        RunLogLine
    }
}

/// One formatted event, written through to the run's log (or dropped when
/// no run is going).
struct RunLogLine;

impl Write for RunLogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Some(file) = RUN_LOG.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            file.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
