//! `SshRemote` against namespace hosts running a real sshd (scripts/netns-hosts).

#[path = "support/netfaults.rs"]
mod support;

use faultline::remote::daemon::{Daemon, ProcState};
use faultline::remote::parallel::on_all;
use faultline::remote::ssh::{SshConfig, SshRemote};
use faultline::remote::Remote;
use std::path::Path;
use support::Hosts;

fn config(hosts: &Hosts) -> SshConfig {
    SshConfig::new(
        &hosts.user,
        Some(hosts.key.clone()),
        hosts.known_hosts.clone(),
    )
}

#[test]
fn commands_files_daemons_and_reconnects_over_ssh() {
    if !support::prerequisites() {
        return;
    }
    let hosts = Hosts::up(2);
    let cfg = config(&hosts);
    let remotes: Vec<SshRemote> = on_all(&hosts.nodes, |_, h| SshRemote::connect(h, &cfg)).unwrap();
    let r = &remotes[1];

    // Commands run on the host (its own address), arguments arrive intact.
    let addrs = r
        .run_ok(&["ip", "-o", "-4", "addr", "show", "dev", "eth0"])
        .unwrap();
    assert!(addrs.contains(&hosts.nodes[1]), "{addrs}");
    let out = r
        .run(&["printf", "%s|", "a b", "it's", "$(id)", ""])
        .unwrap();
    assert_eq!(out.stdout, "a b|it's|$(id)||");
    let err = r
        .run_ok(&["sh", "-c", "echo boom >&2; exit 3"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&hosts.nodes[1]) && err.contains("status 3") && err.contains("boom"),
        "{err}"
    );

    // Files up and down, directories created.
    let dir = tempfile::tempdir().unwrap();
    let remote_dir = dir.path().join("remote side");
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    r.write_file(&remote_dir.join("sub/blob"), &payload, 0o750)
        .unwrap();
    assert_eq!(r.read_file(&remote_dir.join("sub/blob")).unwrap(), payload);
    let mode = r
        .run_ok(&[
            "stat",
            "-c",
            "%a",
            &remote_dir.join("sub/blob").to_string_lossy(),
        ])
        .unwrap();
    assert_eq!(mode.trim(), "750");
    r.write_file(&remote_dir.join("a.log"), b"log line\n", 0o644)
        .unwrap();
    let local = dir.path().join("collected");
    assert_eq!(r.download_dir(&remote_dir, &local).unwrap(), 2);
    assert_eq!(std::fs::read(local.join("sub/blob")).unwrap(), payload);
    assert_eq!(
        std::fs::read_to_string(local.join("a.log")).unwrap(),
        "log line\n"
    );
    let missing = r
        .read_file(Path::new("/nonexistent/file"))
        .unwrap_err()
        .to_string();
    assert!(missing.contains(&hosts.nodes[1]), "{missing}");

    // A daemon outlives the command that started it; signals reach it.
    let d = Daemon {
        argv: vec!["sleep".into(), "60".into()],
        env: vec![],
        cwd: dir.path().join("d"),
        pidfile: dir.path().join("d/pid"),
        stdout: dir.path().join("d/stdout.log"),
        stderr: dir.path().join("d/stderr.log"),
    };
    let pid = d.start(r).unwrap();
    let in_ns = std::process::Command::new("ip")
        .args(["netns", "pids", &hosts.netns(1)])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&in_ns.stdout)
        .lines()
        .any(|l| l == pid.to_string()));
    assert_eq!(d.state(r).unwrap(), ProcState::Running);
    d.signal(r, "STOP").unwrap();
    assert!(support::eventually(
        std::time::Duration::from_secs(5),
        || d.state(r).unwrap() == ProcState::Stopped
    ));
    d.signal(r, "CONT").unwrap();
    d.kill(r).unwrap();
    assert_eq!(d.state(r).unwrap(), ProcState::Gone);

    // A dropped connection: kill the sshd process serving our session. The
    // command in flight fails; the next one reconnects.
    let kill_session = r#"p=$$
        while :; do
          case $(cat /proc/$p/comm) in sshd*) break ;; esac
          p=$(cut -d' ' -f4 /proc/$p/stat)
        done
        kill -9 $p; sleep 2"#;
    let dropped = r.run(&["sh", "-c", kill_session]);
    assert!(dropped.is_err(), "{dropped:?}");
    assert_eq!(r.run_ok(&["echo", "back"]).unwrap(), "back\n");
}

#[test]
fn a_host_with_a_wrong_key_in_known_hosts_is_refused_by_name() {
    if !support::prerequisites() {
        return;
    }
    let hosts = Hosts::up(2);
    let dir = tempfile::tempdir().unwrap();
    // known_hosts where host 2's line carries host 1's key.
    let text = std::fs::read_to_string(&hosts.known_hosts).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let key1 = lines[0].split_once(' ').unwrap().1;
    let wrong = dir.path().join("known_hosts");
    std::fs::write(
        &wrong,
        format!("{}\n{} {}\n", lines[0], hosts.nodes[1], key1),
    )
    .unwrap();
    let mut cfg = config(&hosts);
    cfg.known_hosts = wrong.clone();

    assert!(SshRemote::connect(&hosts.nodes[0], &cfg).is_ok());
    let err = format!(
        "{:#}",
        SshRemote::connect(&hosts.nodes[1], &cfg)
            .err()
            .expect("wrong key accepted")
    );
    assert!(
        err.contains(&hosts.nodes[1]) && err.contains("MISMATCH"),
        "{err}"
    );

    // Through the command line too: the error names the host.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args([
            "heal",
            "--cluster",
            "ssh",
            "--nodes",
            &hosts.nodes.join(","),
        ])
        .args([
            "--ssh-user",
            &hosts.user,
            "--ssh-key",
            &hosts.key.to_string_lossy(),
        ])
        .args(["--known-hosts", &wrong.to_string_lossy()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "heal connected to a host with the wrong key"
    );
    assert!(
        stderr.contains(&hosts.nodes[1]) && stderr.contains("MISMATCH"),
        "{stderr}"
    );

    // A host missing from known_hosts is refused too, by name.
    let only_first = dir.path().join("known_hosts_1");
    std::fs::write(&only_first, format!("{}\n", lines[0])).unwrap();
    cfg.known_hosts = only_first;
    let err = format!(
        "{:#}",
        SshRemote::connect(&hosts.nodes[1], &cfg)
            .err()
            .expect("unknown key accepted")
    );
    assert!(
        err.contains(&hosts.nodes[1]) && err.contains("unknown"),
        "{err}"
    );

    // The explicit opt-out connects anyway.
    cfg.insecure_accept_host_keys = true;
    let r = SshRemote::connect(&hosts.nodes[1], &cfg).unwrap();
    assert_eq!(r.run_ok(&["true"]).unwrap(), "");
}
