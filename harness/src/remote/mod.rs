//! Running things on the hosts a cluster lives on: commands, files, daemons.
//!
//! A [`Remote`] is one host. [`ssh::SshRemote`] reaches a real host over SSH;
//! [`local::LocalRemote`] runs on this machine, optionally inside a network
//! namespace (`ip netns exec`), so the namespace and SSH clusters share code.
//! Commands are argument vectors; they are shell-quoted ([`quote`]) before
//! they reach a shell, never spliced in raw.

pub mod daemon;
pub mod local;
pub mod parallel;
pub mod quote;
pub mod ssh;

use std::path::Path;

/// What a finished command left behind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Output {
    /// Exit status (-1 when the remote side gave none, e.g. killed by a signal).
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == 0
    }
}

/// One host that commands run on and files move to and from.
pub trait Remote: Send + Sync {
    /// The host's name for messages (`198.18.0.11`, `db3.example`, `netns fl-1-n2`).
    fn host(&self) -> &str;

    /// Run a shell command line. Callers build it from [`quote::command_line`];
    /// use [`Remote::run`] unless a pipe or redirection is needed.
    fn run_shell(&self, script: &str) -> anyhow::Result<Output>;

    /// Write `contents` to `path` on the host (replacing it atomically, so a
    /// running binary can be replaced) with the given permission bits.
    fn write_file(&self, path: &Path, contents: &[u8], mode: i32) -> anyhow::Result<()>;

    /// Read a file from the host.
    fn read_file(&self, path: &Path) -> anyhow::Result<Vec<u8>>;

    /// Run a command given as an argument vector; every argument is quoted.
    fn run(&self, argv: &[&str]) -> anyhow::Result<Output> {
        self.run_shell(&quote::command_line(argv))
    }

    /// Run a command and fail, naming the host, command and its stderr, if it
    /// exits non-zero.
    fn run_ok(&self, argv: &[&str]) -> anyhow::Result<String> {
        let out = self.run(argv)?;
        if !out.success() {
            anyhow::bail!(
                "{}: `{}` exited with status {}: {}",
                self.host(),
                quote::command_line(argv),
                out.status,
                out.stderr.trim()
            );
        }
        Ok(out.stdout)
    }

    /// Copy a local file to the host.
    fn upload(&self, local: &Path, remote: &Path, mode: i32) -> anyhow::Result<()> {
        let contents = std::fs::read(local)
            .map_err(|e| anyhow::anyhow!("reading {} to upload: {e}", local.display()))?;
        self.write_file(remote, &contents, mode)
    }

    /// Copy a file from the host to a local path (parent directories created).
    fn download(&self, remote: &Path, local: &Path) -> anyhow::Result<()> {
        let contents = self.read_file(remote)?;
        if let Some(parent) = local.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(local, contents)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", local.display()))
    }

    /// Copy every regular file under a remote directory into a local one,
    /// keeping relative paths. A missing remote directory copies nothing.
    fn download_dir(&self, remote: &Path, local: &Path) -> anyhow::Result<usize> {
        let dir = remote.to_string_lossy();
        let script = format!(
            "test -d {d} && cd {d} && find . -type f -print0",
            d = quote::quote(&dir)
        );
        let out = self.run_shell(&script)?;
        let mut n = 0;
        for rel in out.stdout.split('\0').filter(|s| !s.is_empty()) {
            let rel = rel.trim_start_matches("./");
            self.download(&remote.join(rel), &local.join(rel))?;
            n += 1;
        }
        Ok(n)
    }
}
