//! Logging in through the SSH agent (no --ssh-key). Its own test binary: it
//! sets SSH_AUTH_SOCK for the whole process.

#[path = "support/netfaults.rs"]
mod support;

use faultline::remote::ssh::{SshConfig, SshRemote};
use faultline::remote::Remote;
use std::process::Command;
use support::Hosts;

#[test]
fn login_through_the_agent() {
    if !support::prerequisites() {
        return;
    }
    let hosts = Hosts::up(1);
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("agent.sock");
    let agent = Command::new("ssh-agent")
        .args(["-D", "-a"])
        .arg(&sock)
        .spawn()
        .expect("ssh-agent (openssh-client)");
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _agent = Stop(agent);
    assert!(support::eventually(
        std::time::Duration::from_secs(5),
        || sock.exists()
    ));
    std::env::set_var("SSH_AUTH_SOCK", &sock);
    let cfg = SshConfig::new(&hosts.user, None, hosts.known_hosts.clone());

    // An empty agent cannot log in; the error names the host.
    let err = format!(
        "{:#}",
        SshRemote::connect(&hosts.nodes[0], &cfg)
            .err()
            .expect("login without a key")
    );
    assert!(
        err.contains(&hosts.nodes[0]) && err.contains("agent"),
        "{err}"
    );

    let added = Command::new("ssh-add")
        .arg(&hosts.key)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .unwrap();
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let r = SshRemote::connect(&hosts.nodes[0], &cfg).unwrap();
    assert_eq!(r.run_ok(&["echo", "via agent"]).unwrap(), "via agent\n");
}
