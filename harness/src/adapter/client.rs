//! [`AdapterClient`]: a [`Client`] whose transport is an adapter process.
//!
//! One op is in flight at a time (the controller's workers invoke one op after
//! another). Anything the adapter does wrong — exits, hangs past the op's
//! timeout, prints something that is not a completion, answers an id that was
//! not asked — ends the op in flight as `info` (it may or may not have reached
//! the system), is logged with what happened, and the adapter is replaced by a
//! fresh process before the next op. The run goes on.

use super::process::{AdapterProcess, Launch, Output};
use super::EventLog;
use crate::client::{BoxFuture, Client, Completion, Request};
use faultline_protocol::{decode_completion, request_line};
use std::time::{Duration, Instant};

pub struct AdapterClient {
    launch: Launch,
    /// Where warnings go besides tracing (the run's faultline.log).
    log: Option<EventLog>,
    /// For messages: "adapter for worker 3 (node n2)".
    label: String,
    process: Option<AdapterProcess>,
    next_id: u64,
    restarts: u64,
    /// The node the adapter was opened for (its `FAULTLINE_NODE_NAME`).
    node: Option<String>,
    /// The node the last op ended at: the completion's `node`, else `node`.
    last_node: Option<String>,
}

impl AdapterClient {
    /// Starts the adapter now, so a command that cannot run is reported
    /// before the first op.
    pub fn start(launch: Launch, label: String) -> anyhow::Result<AdapterClient> {
        let process =
            AdapterProcess::spawn(&launch).map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
        Ok(AdapterClient {
            launch,
            log: None,
            label,
            process: Some(process),
            next_id: 1,
            restarts: 0,
            node: None,
            last_node: None,
        })
    }

    /// The node this adapter talks to, recorded with each op unless the
    /// adapter's completion names another (`"node":"n3"`).
    pub fn with_node(mut self, node: String) -> AdapterClient {
        self.node = Some(node);
        self
    }

    /// Also send this client's warnings to `log`.
    pub fn with_log(mut self, log: Option<EventLog>) -> AdapterClient {
        self.log = log;
        self
    }

    fn warn(&self, message: String) {
        tracing::warn!("{message}");
        if let Some(log) = &self.log {
            (log.0)(&message);
        }
    }

    /// How many times the adapter process was replaced.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// The pid of the adapter process now running, if any.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(AdapterProcess::pid)
    }

    /// Kills the adapter process (it is started again at the next op).
    pub async fn shutdown(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill().await;
        }
    }

    /// A running adapter that has said nothing out of turn, starting one if needed.
    async fn ready_process(&mut self) -> anyhow::Result<&mut AdapterProcess> {
        if let Some(process) = self.process.as_mut() {
            // Anything but blank lines since the last op is out of turn.
            let mut what = None;
            while let Some(output) = process.pending() {
                what = match output {
                    Output::Line(line) if line.trim().is_empty() => continue,
                    Output::Line(line) => Some(format!(
                        "printed {} while no op was in flight",
                        excerpt(&line)
                    )),
                    Output::TooLong => Some("printed an over-long line".to_string()),
                    Output::Closed => Some(format!(
                        "exited between ops ({})",
                        process.exit_status().await
                    )),
                };
                break;
            }
            if let Some(what) = what {
                let pid = process.pid();
                let ended = process.kill().await;
                let stderr = process.stderr_tail();
                let message = format!(
                    "{} (pid {pid}) {what}; restarting it ({ended}){}",
                    self.label,
                    stderr_note(&stderr)
                );
                self.warn(message);
                self.process = None;
            }
        }
        if self.process.is_none() {
            let process = AdapterProcess::spawn(&self.launch)?;
            self.restarts += 1;
            tracing::info!(
                "{}: started adapter pid {} (restart {})",
                self.label,
                process.pid(),
                self.restarts
            );
            self.process = Some(process);
        }
        Ok(self.process.as_mut().expect("just started"))
    }

    async fn perform(&mut self, request: &Request, timeout: Duration) -> Completion {
        self.last_node.clone_from(&self.node);
        let deadline = Instant::now() + timeout;
        let id = self.next_id;
        self.next_id += 1;
        let label = self.label.clone();
        let process = match self.ready_process().await {
            Ok(process) => process,
            Err(e) => {
                // Nothing was sent: the op certainly did not happen.
                self.warn(format!("{label}: {e:#}"));
                return Completion::Fail {
                    error: format!("adapter could not start: {e:#}"),
                };
            }
        };
        let pid = process.pid();
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, process.send(&request_line(id, request))).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let ended = process.exit_status().await;
                return self.broken(format!(
                    "adapter (pid {pid}) could not be sent op {id}: {e} ({ended})"
                ));
            }
            Err(_) => {
                return self.broken(format!(
                    "adapter (pid {pid}) did not read op {id} from its stdin within {:.1}s",
                    timeout.as_secs_f64()
                ))
            }
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let process = self.process.as_mut().expect("running");
            let output = match process.next(left).await {
                Some(output) => output,
                None => {
                    let ended = process.kill().await;
                    let stderr = process.stderr_tail();
                    let message = format!(
                        "{label} (pid {pid}) did not answer op {id} ({}) within {:.1}s; \
                         killed it ({ended}) and will restart it{}",
                        request.f,
                        timeout.as_secs_f64(),
                        stderr_note(&stderr)
                    );
                    self.warn(message);
                    self.process = None;
                    return Completion::Info {
                        error: "timeout".into(),
                    };
                }
            };
            let line = match output {
                Output::Line(line) if line.trim().is_empty() => continue,
                Output::Line(line) => line,
                Output::TooLong => {
                    return self.broken(format!(
                        "adapter (pid {pid}) printed an over-long line while op {id} was in flight"
                    ))
                }
                Output::Closed => {
                    let ended = process.exit_status().await;
                    return self.broken(format!(
                        "adapter (pid {pid}) exited while op {id} was in flight ({ended})"
                    ));
                }
            };
            return match decode_completion(line.as_bytes()) {
                Ok(reply) if reply.id == id => {
                    if reply.node.is_some() {
                        self.last_node = reply.node;
                    }
                    reply.completion
                }
                Ok(reply) => self.broken(format!(
                    "adapter (pid {pid}) answered unknown id {} while op {id} was in flight: {}",
                    reply.id,
                    excerpt(&line)
                )),
                Err(bad) => self.broken(format!(
                    "adapter (pid {pid}) wrote a line that is not a completion ({bad}) \
                     while op {id} was in flight: {}",
                    excerpt(&line)
                )),
            };
        }
    }

    /// The adapter broke the protocol with an op in flight: the op's outcome
    /// is unknown, and the adapter is replaced.
    fn broken(&mut self, what: String) -> Completion {
        let stderr = self
            .process
            .as_ref()
            .map(AdapterProcess::stderr_tail)
            .unwrap_or_default();
        // Dropping the process kills its group; the next op starts a new one.
        if let Some(mut process) = self.process.take() {
            tokio::spawn(async move {
                process.kill().await;
            });
        }
        self.warn(format!(
            "{}: {what}; restarting it{}",
            self.label,
            stderr_note(&stderr)
        ));
        Completion::Info { error: what }
    }
}

fn stderr_note(stderr: &str) -> String {
    if stderr.is_empty() {
        String::new()
    } else {
        format!("; its stderr ended with: {stderr}")
    }
}

/// A line shortened for a log message.
pub(crate) fn excerpt(line: &str) -> String {
    const MAX: usize = 200;
    let line = line.trim_end();
    if line.chars().count() <= MAX {
        format!("{line:?}")
    } else {
        let cut: String = line.chars().take(MAX).collect();
        format!("{cut:?}... ({} bytes)", line.len())
    }
}

impl Client for AdapterClient {
    fn next_node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    fn last_node(&self) -> Option<&str> {
        self.last_node.as_deref()
    }

    fn invoke<'a>(
        &'a mut self,
        request: &'a Request,
        timeout: Duration,
    ) -> BoxFuture<'a, Completion> {
        Box::pin(self.perform(request, timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::excerpt;

    #[test]
    fn excerpts_are_bounded() {
        let long = "x".repeat(1000);
        assert!(excerpt(&long).len() < 260);
        assert_eq!(excerpt("ab\n"), "\"ab\"");
    }
}
