//! The control interface: a unix socket taking one command per connection,
//! a line of text, and answering one line, `ok ...` or `err ...`.
//!
//! Commands: `power-loss`, `torn-write`, `fsync-error` (`fsync-error off`
//! disarms it), `disk-full on`, `disk-full off`, `status` (answers `ok {json}`
//! with what is unsynced, what is armed, and how many EIO/ENOSPC were returned).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::state::State;

/// Carries out one command on the filesystem's state.
pub fn apply(state: &Mutex<State>, cmd: &str) -> Result<String, String> {
    let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
    match cmd.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["power-loss"] => {
            let (files, undone) = st.power_loss();
            Ok(format!(
                "restored {files} files, undid {undone} directory changes"
            ))
        }
        ["torn-write"] => Ok(st.torn_write()),
        ["fsync-error"] => {
            st.faults.fsync_error = true;
            Ok("the next fsync fails with EIO and drops its pages".into())
        }
        ["fsync-error", "off"] => {
            st.faults.fsync_error = false;
            Ok("fsync succeeds again".into())
        }
        ["disk-full", "on"] => {
            st.faults.disk_full = true;
            Ok("writes fail with ENOSPC".into())
        }
        ["disk-full", "off"] => {
            st.faults.disk_full = false;
            Ok("writes succeed again".into())
        }
        ["status"] => Ok(st.status().to_string()),
        _ => Err(format!(
            "unknown command {cmd:?}; expected power-loss, torn-write, fsync-error, \
             fsync-error off, disk-full on|off or status"
        )),
    }
}

/// Serves the control socket at `path` in a background thread.
pub fn serve(path: &Path, state: Arc<Mutex<State>>) -> Result<()> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)
        .with_context(|| format!("binding control socket {}", path.display()))?;
    std::thread::Builder::new()
        .name("diskfs-control".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                let mut line = String::new();
                let mut reader = BufReader::new(&conn);
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let answer = match apply(&state, line.trim()) {
                    Ok(s) => format!("ok {s}\n"),
                    Err(e) => format!("err {e}\n"),
                };
                let _ = (&conn).write_all(answer.as_bytes());
            }
        })?;
    Ok(())
}

/// Sends one command to the control socket at `path`; returns the text after
/// `ok`, or the filesystem's error.
pub fn send(path: &Path, cmd: &str) -> Result<String> {
    let mut conn = UnixStream::connect(path)
        .with_context(|| format!("connecting to diskfs control socket {}", path.display()))?;
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    conn.write_all(format!("{cmd}\n").as_bytes())?;
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line)?;
    let line = line.trim_end();
    if let Some(rest) = line.strip_prefix("ok") {
        Ok(rest.trim_start().to_string())
    } else if let Some(rest) = line.strip_prefix("err ") {
        bail!("diskfs at {}: {rest}", path.display())
    } else {
        bail!("diskfs at {}: unexpected answer {line:?}", path.display())
    }
}
