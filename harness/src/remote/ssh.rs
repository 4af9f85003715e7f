//! A host reached over SSH (libssh2 through the `ssh2` crate).

use super::{quote, Output, Remote};
use anyhow::Context;
use ssh2::{CheckResult, KnownHostFileKind, Session};
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// How to reach and log in to SSH hosts (the `--ssh-*` flags).
#[derive(Clone, Debug)]
pub struct SshConfig {
    pub user: String,
    pub port: u16,
    /// Private key file; `None` asks the SSH agent.
    pub key: Option<PathBuf>,
    /// known_hosts file the host keys are checked against.
    pub known_hosts: PathBuf,
    /// Skip the host key check (`--insecure-accept-host-keys`).
    pub insecure_accept_host_keys: bool,
    pub connect_timeout: Duration,
    /// Limit for one blocking SSH call (a command, a file transfer).
    pub op_timeout: Duration,
}

impl SshConfig {
    pub fn new(user: &str, key: Option<PathBuf>, known_hosts: PathBuf) -> Self {
        SshConfig {
            user: user.to_string(),
            port: 22,
            key,
            known_hosts,
            insecure_accept_host_keys: false,
            connect_timeout: Duration::from_secs(10),
            op_timeout: Duration::from_secs(120),
        }
    }

    /// `~/.ssh/known_hosts`, the usual default.
    pub fn default_known_hosts() -> PathBuf {
        let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
        PathBuf::from(home).join(".ssh/known_hosts")
    }
}

/// One SSH host. Holds one session and opens a channel per command; a session
/// that broke (host rebooted, connection dropped) is replaced on the next call.
pub struct SshRemote {
    host: String,
    config: SshConfig,
    session: Mutex<Option<Session>>,
}

impl SshRemote {
    /// Connect and log in now, so a bad host, key or login fails early.
    pub fn connect(host: &str, config: &SshConfig) -> anyhow::Result<Self> {
        let remote = SshRemote {
            host: host.to_string(),
            config: config.clone(),
            session: Mutex::new(None),
        };
        let session = remote.open_session()?;
        *remote.session.lock().unwrap() = Some(session);
        Ok(remote)
    }

    fn open_session(&self) -> anyhow::Result<Session> {
        let host = &self.host;
        let addr = (host.as_str(), self.config.port)
            .to_socket_addrs()
            .with_context(|| format!("{host}: cannot resolve"))?
            .next()
            .with_context(|| format!("{host}: no address"))?;
        let tcp = TcpStream::connect_timeout(&addr, self.config.connect_timeout)
            .with_context(|| format!("{host}: cannot connect to {addr}"))?;
        let mut session = Session::new().context("creating an SSH session")?;
        session.set_tcp_stream(tcp);
        session.set_timeout(self.config.connect_timeout.as_millis() as u32);
        session
            .handshake()
            .with_context(|| format!("{host}: SSH handshake failed"))?;
        self.check_host_key(&session)?;
        self.authenticate(&session)?;
        session.set_timeout(self.config.op_timeout.as_millis() as u32);
        // No libssh2 keepalive: with it on, a blocking call that is still
        // waiting when the next keepalive falls due fails with "Timed out
        // waiting on socket" (libssh2 polls only until then). A dead
        // connection is found by the next call failing, and reopened.
        Ok(session)
    }

    fn check_host_key(&self, session: &Session) -> anyhow::Result<()> {
        let host = &self.host;
        if self.config.insecure_accept_host_keys {
            tracing::warn!("{host}: host key NOT checked (--insecure-accept-host-keys)");
            return Ok(());
        }
        let file = &self.config.known_hosts;
        let (key, _) = session
            .host_key()
            .with_context(|| format!("{host}: server sent no host key"))?;
        let mut known = session.known_hosts()?;
        if file.exists() {
            known
                .read_file(file, KnownHostFileKind::OpenSSH)
                .with_context(|| format!("reading known_hosts file {}", file.display()))?;
        }
        match known.check_port(host, self.config.port, key) {
            CheckResult::Match => Ok(()),
            CheckResult::NotFound => anyhow::bail!(
                "{host}: host key unknown: {host} is not in known_hosts file {} \
                 (add its key, e.g. with ssh-keyscan, or pass --insecure-accept-host-keys)",
                file.display()
            ),
            CheckResult::Mismatch => anyhow::bail!(
                "{host}: HOST KEY MISMATCH: the key {host} presented differs from the one in \
                 known_hosts file {}; refusing to connect (the host was reinstalled, or someone \
                 is in the middle)",
                file.display()
            ),
            CheckResult::Failure => {
                anyhow::bail!(
                    "{host}: could not check the host key against {}",
                    file.display()
                )
            }
        }
    }

    fn authenticate(&self, session: &Session) -> anyhow::Result<()> {
        let (host, user) = (&self.host, &self.config.user);
        match &self.config.key {
            Some(key) => {
                anyhow::ensure!(
                    key.exists(),
                    "SSH key file {} does not exist",
                    key.display()
                );
                let public = PathBuf::from(format!("{}.pub", key.display()));
                let public = public.exists().then_some(public.as_path());
                session
                    .userauth_pubkey_file(user, public, key, None)
                    .with_context(|| {
                        format!("{host}: login as {user} with key {} refused", key.display())
                    })?;
            }
            None => session
                .userauth_agent(user)
                .with_context(|| format!("{host}: login as {user} through the SSH agent failed"))?,
        }
        anyhow::ensure!(session.authenticated(), "{host}: login as {user} failed");
        Ok(())
    }

    /// Run `f` with a live session. If the session is dead before `f` could
    /// start its work (`Retry::Safe`), reconnect once and try again.
    fn with_session<T>(&self, f: impl Fn(&Session) -> Result<T, Attempt>) -> anyhow::Result<T> {
        let mut guard = self.session.lock().unwrap();
        for attempt in 0..2 {
            if guard.is_none() {
                *guard = Some(self.open_session()?);
            }
            match f(guard.as_ref().unwrap()) {
                Ok(v) => return Ok(v),
                Err(Attempt::NotStarted(e)) => {
                    // The connection is gone; nothing ran. Reconnect and retry.
                    *guard = None;
                    if attempt == 1 {
                        return Err(e.context(format!("{}: SSH connection lost", self.host)));
                    }
                    tracing::info!("{}: SSH connection lost, reconnecting", self.host);
                }
                Err(Attempt::Failed(e)) => {
                    // It may have run partly: report, and reconnect next time.
                    *guard = None;
                    return Err(e);
                }
            }
        }
        unreachable!("the loop returns on its second attempt")
    }
}

/// Why one attempt at an SSH operation failed.
enum Attempt {
    /// Before anything happened on the host (opening the channel).
    NotStarted(anyhow::Error),
    /// Part way; the operation's effect is unknown.
    Failed(anyhow::Error),
}

impl Remote for SshRemote {
    fn host(&self) -> &str {
        &self.host
    }

    fn run_shell(&self, script: &str) -> anyhow::Result<Output> {
        let host = &self.host;
        self.with_session(|s| {
            let mut ch = s
                .channel_session()
                .map_err(|e| Attempt::NotStarted(e.into()))?;
            let mut run = || -> anyhow::Result<Output> {
                // The login shell may not be POSIX (fish, csh): hand the
                // script to sh as one quoted word.
                ch.exec(&format!("sh -c {}", quote::quote(script)))?;
                // stdout, then stderr: fine for the short outputs of the
                // commands we run (node output goes to files); a command
                // writing megabytes to stderr before its stdout ends could
                // fill the channel window and stall.
                let mut stdout = String::new();
                ch.read_to_string(&mut stdout)?;
                let mut stderr = String::new();
                ch.stderr().read_to_string(&mut stderr)?;
                ch.wait_close()?;
                let status = ch.exit_status()?;
                // A command killed by a signal has no exit status (libssh2 says 0).
                let status = match ch.exit_signal()?.exit_signal {
                    Some(_) => -1,
                    None => status,
                };
                Ok(Output {
                    status,
                    stdout,
                    stderr,
                })
            };
            run().map_err(|e| Attempt::Failed(e.context(format!("{host}: running `{script}`"))))
        })
    }

    fn write_file(&self, path: &Path, contents: &[u8], mode: i32) -> anyhow::Result<()> {
        let host = &self.host;
        let dir = path.parent().unwrap_or(Path::new("/"));
        self.run_ok(&["mkdir", "-p", &dir.to_string_lossy()])?;
        // Send to a temporary name and rename: replacing a running binary in
        // place fails ("text file busy"), and a half-sent file is never seen.
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        self.with_session(|s| {
            let mut ch = s
                .scp_send(&tmp, mode, contents.len() as u64, None)
                .map_err(|e| Attempt::NotStarted(e.into()))?;
            let mut send = || -> anyhow::Result<()> {
                ch.write_all(contents)?;
                ch.send_eof()?;
                ch.wait_eof()?;
                ch.close()?;
                ch.wait_close()?;
                Ok(())
            };
            send().map_err(|e| {
                Attempt::Failed(e.context(format!("{host}: uploading to {}", tmp.display())))
            })
        })?;
        self.run_ok(&["mv", "-f", &tmp.to_string_lossy(), &path.to_string_lossy()])?;
        Ok(())
    }

    fn read_file(&self, path: &Path) -> anyhow::Result<Vec<u8>> {
        let host = &self.host;
        self.with_session(|s| {
            let (mut ch, _stat) = match s.scp_recv(path) {
                Ok(v) => v,
                // A missing file is a plain error, not a broken connection.
                Err(e) if e.code() == ssh2::ErrorCode::Session(-28) => {
                    return Err(Attempt::Failed(anyhow::anyhow!(
                        "{host}: cannot read {}: {e}",
                        path.display()
                    )))
                }
                Err(e) => return Err(Attempt::NotStarted(e.into())),
            };
            let mut recv = || -> anyhow::Result<Vec<u8>> {
                let mut buf = Vec::new();
                ch.read_to_end(&mut buf)?;
                ch.send_eof()?;
                ch.wait_eof()?;
                ch.close()?;
                ch.wait_close()?;
                Ok(buf)
            };
            recv().map_err(|e| {
                Attempt::Failed(e.context(format!("{host}: downloading {}", path.display())))
            })
        })
    }
}
