//! The one-node register server of tests/fixtures/single_register_node.py
//! as a `Db`: durable (fsync before each answer) or forgetful (state in
//! memory, lost on SIGKILL).

use faultline::cluster::{Db, NodeLaunch};
use std::path::Path;

pub struct PyRegister {
    pub durable: bool,
}

impl Db for PyRegister {
    fn name(&self) -> &str {
        "py-register"
    }
    fn command(&self, node: &NodeLaunch) -> anyhow::Result<Vec<String>> {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/single_register_node.py");
        let mut cmd = vec![
            "python3".to_string(),
            script.display().to_string(),
            "--id".into(),
            node.name.clone(),
            "--listen".into(),
            node.listen.clone(),
            "--data-dir".into(),
            node.data_dir.display().to_string(),
        ];
        if self.durable {
            cmd.push("--durable".into());
        }
        Ok(cmd)
    }
}

/// Whether python3 runs here; in CI its absence fails the test.
pub fn python_available() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "pass"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python3 is required in CI"
        );
        eprintln!("SKIPPED: install python3");
    }
    ok
}
