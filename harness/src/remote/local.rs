//! This machine as a [`Remote`], optionally inside a network namespace.

use super::{Output, Remote};
use anyhow::Context;
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs commands with `sh -c` here, or in namespace `netns` through
/// `ip netns exec`. Files are the local file system (namespaces share it).
pub struct LocalRemote {
    name: String,
    netns: Option<String>,
}

impl LocalRemote {
    /// This machine's own network.
    pub fn host() -> Self {
        LocalRemote {
            name: "localhost".into(),
            netns: None,
        }
    }

    /// Inside network namespace `netns`.
    pub fn netns(netns: &str) -> Self {
        LocalRemote {
            name: format!("netns {netns}"),
            netns: Some(netns.to_string()),
        }
    }
}

impl Remote for LocalRemote {
    fn host(&self) -> &str {
        &self.name
    }

    fn run_shell(&self, script: &str) -> anyhow::Result<Output> {
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "sh", "-c", script]);
                c
            }
            None => {
                let mut c = Command::new("sh");
                c.args(["-c", script]);
                c
            }
        };
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("{}: running `{script}`", self.name))?;
        Ok(Output {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }

    fn write_file(&self, path: &Path, contents: &[u8], mode: i32) -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("{}: creating {}", self.name, parent.display()))?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, contents)
            .with_context(|| format!("{}: writing {}", self.name, tmp.display()))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode as u32))?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("{}: renaming to {}", self.name, path.display()))
    }

    fn read_file(&self, path: &Path) -> anyhow::Result<Vec<u8>> {
        std::fs::read(path).with_context(|| format!("{}: reading {}", self.name, path.display()))
    }
}
