//! Every reference history in `../shared/data/porcupine` gets the verdict its
//! `expected.csv` gives, read through the importers as a user's file would be.

use faultline_checkers::history::OpType;
use faultline_checkers::import::read_any;
use faultline_checkers::linearizability::{check_named, Options};
use faultline_checkers::Verdict;
use std::path::{Path, PathBuf};

/// The data directory: `$FAULTLINE_PORCUPINE_DATA`, or `shared/data/porcupine`
/// beside the repository (or any directory above the crate).
fn data_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("FAULTLINE_PORCUPINE_DATA") {
        return Some(PathBuf::from(dir));
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .ancestors()
        .map(|a| a.join("shared/data/porcupine"))
        .find(|d| d.join("expected.csv").is_file())
}

#[test]
fn every_reference_history_gets_its_expected_verdict() {
    let Some(dir) = data_dir() else {
        let msg = "shared/data/porcupine not found beside the repository (or set FAULTLINE_PORCUPINE_DATA)";
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg}");
        }
        eprintln!("skipping: {msg}");
        return;
    };
    let csv = std::fs::read_to_string(dir.join("expected.csv")).unwrap();
    let mut checked = 0;
    let mut wrong = Vec::new();
    for (i, row) in csv.lines().enumerate().skip(1) {
        let fields: Vec<&str> = row.trim().split(',').collect();
        let [file, ops, linearizable] = fields[..] else {
            panic!("expected.csv:{}: expected file,ops,linearizable", i + 1);
        };
        let path = dir.join(file);
        let read = read_any(&path, None).unwrap_or_else(|e| panic!("{e}"));
        assert!(read.warnings.is_empty(), "{file}: {:?}", read.warnings);
        let invocations = read
            .history
            .ops
            .iter()
            .filter(|o| o.kind == OpType::Invoke)
            .count();
        assert_eq!(invocations.to_string(), ops, "{file}: op count");
        let model = read
            .format
            .default_model()
            .expect("reference formats fix a model");
        let opts = Options {
            nil_read_is_unknown: read.format.nil_read_is_unknown(),
            ..Options::default()
        };
        let started = std::time::Instant::now();
        let result = check_named(&read.history, model.name(), None, &opts).unwrap();
        // Slow files are named (not failed: speed goals live in the benchmark).
        if started.elapsed().as_millis() > 200 {
            eprintln!("{file}: checked in {:?}", started.elapsed());
        }
        let want = if linearizable == "true" {
            Verdict::Valid
        } else {
            Verdict::Invalid
        };
        if result.verdict != want {
            wrong.push(format!(
                "{file}: {} (want {want}): {}",
                result.verdict, result.summary
            ));
        }
        checked += 1;
    }
    assert_eq!(checked, 108, "expected.csv lists 102 etcd and 6 kv files");
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
}
