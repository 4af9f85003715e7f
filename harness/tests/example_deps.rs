//! A user's client crate can depend on faultline's traits without building
//! the harness: `examples/rust-client`'s normal dependencies hold none of the
//! harness's heavy ones (the web UI's axum, SSH's ssh2, the plots' plotters),
//! nor the harness itself.

use std::path::Path;
use std::process::Command;

#[test]
fn the_rust_client_example_builds_without_the_harness() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(cargo)
        .current_dir(&root)
        .args(["tree", "--offline", "-e", "normal", "--prefix", "none"])
        .args(["-p", "faultline-example-rust-client"])
        .output()
        .unwrap();
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(crates.contains(&"faultline-api"), "{tree}");
    for heavy in ["axum", "ssh2", "plotters", "faultline"] {
        assert!(!crates.contains(&heavy), "{heavy} in:\n{tree}");
    }
}
