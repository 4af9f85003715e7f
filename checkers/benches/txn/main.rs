//! Transactional checker benchmark: generated list-append and rw-register
//! histories (generate.rs: 10 clients, 1-4 micro-ops a txn, an exponential
//! choice among 10 active keys, a key retired after `max_writes` writes,
//! values unique per key), valid ones, ones with stale reads, and valid ones
//! with an anomaly of one type planted 3 times at random points (plant.rs:
//! every type the checker names, per workload), written to a JSON-lines
//! file and checked from it as `faultline check` would (read straight into
//! txns, then checked). Prints a table of median times (read, check, both;
//! of 3 runs), the peak RSS of those runs, and for a plant whether its type
//! was named and what else was (a type the plant does not imply is marked);
//! asserts nothing about time. A planted type not named, or a type no plant
//! implies, is printed as WRONG and the bench exits 1 after the table.
//!
//! `cargo bench -p faultline-checkers --bench txn [-- SIZES]`, e.g. `-- 100000 1000000`;
//! `FAULTLINE_TXN_BENCH_CASES=0,3,G-single` runs only those cases (numbers,
//! or planted types);
//! `FAULTLINE_TXN_BENCH_DIR=DIR` keeps the generated files there and reuses
//! them (for profiling the reader on the same file again);
//! `FAULTLINE_TXN_BENCH_RUNS=1` times one run instead of 3.

mod generate;
#[path = "../measure/mod.rs"]
mod measure;
mod plant;

use faultline_checkers::txn::{self, ConsistencyModel, TxnWorkload};
use generate::{generate, Db, Plant};
use measure::peak_rss_mb;
use plant::{relate, Gadget, Relation};
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::Instant;

/// Copies of a gadget planted into one history.
const PLANTS: usize = 3;

/// CPU seconds (user + system, all threads) this process has used: on a
/// shared machine, what the check cost apart from waiting for a core.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command (which may hold spaces): utime is the 12th.
    let rest = stat.rsplit_once(')').map_or("", |r| r.1);
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    f.iter().sum::<f64>() / 100.0
}

/// Resets the peak RSS (VmHWM) to the current RSS, so the next reading is
/// the peak of what ran since.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// One history to check: the database's behaviour, and what is planted.
struct Case {
    w: TxnWorkload,
    db: Db,
    max_writes: usize,
    plant: Option<&'static Gadget>,
    models: &'static [ConsistencyModel],
}

/// The table's rows: the database valid and with stale reads (real-time,
/// process and no order), then each planted type of each workload in a valid history
/// (strict-serializable: its `-process` and `-realtime` types need it).
fn cases() -> Vec<Case> {
    use ConsistencyModel::{Serializable, StrictSerializable, StrongSessionSerializable};
    let both: &[ConsistencyModel] = &[StrictSerializable, StrongSessionSerializable, Serializable];
    let base = |w, db, max_writes| Case {
        w,
        db,
        max_writes,
        plant: None,
        models: both,
    };
    let mut out = vec![
        base(TxnWorkload::ListAppend, Db::Serial, 256),
        base(TxnWorkload::ListAppend, Db::Serial, 32),
        base(TxnWorkload::ListAppend, Db::StaleReads(1000), 32),
        base(TxnWorkload::RwRegister, Db::Serial, 256),
        base(TxnWorkload::RwRegister, Db::StaleReads(1000), 256),
    ];
    for w in [TxnWorkload::ListAppend, TxnWorkload::RwRegister] {
        out.extend(plant::gadgets(w).map(|g| Case {
            w,
            db: Db::Serial,
            max_writes: 256,
            plant: Some(g),
            models: &[StrictSerializable],
        }));
    }
    out
}

/// Whether `case` (numbered `number`) is among `only` (numbers, or planted
/// types such as `G-single`).
fn chosen(only: &Option<Vec<String>>, number: usize, case: &Case) -> bool {
    only.as_ref().is_none_or(|o| {
        o.iter()
            .any(|c| c.parse() == Ok(number) || case.plant.is_some_and(|g| g.kind == c.as_str()))
    })
}

/// The row's cells: whether the planted type was named, and the types
/// found with their counts and relations to the plant; and whether the row
/// is WRONG (a planted type not named, or a type not explained).
fn judge(plant: Option<&Gadget>, found: &[(String, u64, Relation)]) -> (String, String, bool) {
    let named = match plant {
        None => "-".to_string(),
        Some(g) => match found.iter().find(|f| f.2 == Relation::Planted) {
            Some(&(_, n, _)) if n as usize == PLANTS => format!("yes, {n} of {PLANTS}"),
            Some(&(_, n, _)) => format!("yes, {n} found, {PLANTS} planted"),
            None => format!("WRONG: {} not named", g.kind),
        },
    };
    let types: Vec<String> = found
        .iter()
        .map(|(k, n, relation)| match (plant, relation) {
            (None, _) | (_, Relation::Planted) => format!("{k} ({n})"),
            (_, Relation::Implied) => format!("{k} ({n}, implied)"),
            (_, Relation::ThroughPlant) => format!("{k} ({n}, through the plant)"),
            (_, Relation::Unexplained) => format!("{k} ({n}, WRONG: unexplained)"),
        })
        .collect();
    let wrong = plant.is_some()
        && (!found.iter().any(|f| f.2 == Relation::Planted)
            || found.iter().any(|f| f.2 == Relation::Unexplained));
    let types = if types.is_empty() {
        "-".to_string()
    } else {
        types.join(", ")
    };
    (named, types, wrong)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if args.is_empty() { vec![100_000] } else { args };
    let runs = std::env::var("FAULTLINE_TXN_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let temp = tempfile::tempdir().expect("a temporary directory");
    let keep = std::env::var_os("FAULTLINE_TXN_BENCH_DIR").map(std::path::PathBuf::from);
    let dir = keep.clone().unwrap_or_else(|| temp.path().to_path_buf());
    println!(
        "| case | txns | workload | max writes/key | history | file (MB) | model | read median (s) | check median (s) | total median (s) | CPU (s) | edges | planted type named | anomaly types (count) | peak RSS (MB) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    // FAULTLINE_TXN_BENCH_CASES=0,3,G-single runs only those rows.
    let only: Option<Vec<String>> = std::env::var("FAULTLINE_TXN_BENCH_CASES")
        .ok()
        .map(|v| v.split(',').map(|c| c.trim().to_string()).collect());
    let mut wrong = Vec::new();
    for &n in &sizes {
        for (number, case) in cases().into_iter().enumerate() {
            if !chosen(&only, number, &case) {
                continue;
            }
            let Case {
                w,
                db,
                max_writes,
                plant,
                models,
            } = case;
            let path = dir.join(format!("history-{n}-{number}.jsonl"));
            // The planted txns' invocations, kept beside a kept history.
            let planted_path = path.with_extension("planted.json");
            if keep.is_none() || !path.exists() || !planted_path.exists() {
                let mut out = BufWriter::new(File::create(&path).expect("create the history"));
                let plant = plant.map(|gadget| Plant {
                    gadget,
                    times: PLANTS,
                });
                let planted =
                    generate(&mut out, n, w, db, max_writes, 42, plant).expect("write the history");
                out.flush().expect("write the history");
                std::fs::write(&planted_path, format!("{planted:?}")).expect("write the plant");
            }
            let planted_txns: BTreeSet<u64> = serde_json::from_str(
                &std::fs::read_to_string(&planted_path).expect("read the plant"),
            )
            .expect("a list of op indexes");
            let mb = std::fs::metadata(&path).map_or(0, |m| m.len() >> 20);
            for &model in models {
                let opts = txn::Options {
                    models: vec![model],
                    ..Default::default()
                };
                let mut times = Vec::new();
                let mut last = None;
                reset_peak_rss();
                for _ in 0..runs {
                    // What `check_file` does, timed in its two parts.
                    let t = Instant::now();
                    let cpu = cpu_seconds();
                    let read = txn::jsonl::read_file(&path, w).expect("a readable history");
                    let read_s = t.elapsed().as_secs_f64();
                    let r = txn::check_txns(&read.txns, w, &opts)
                        .expect("generated histories are well formed");
                    let total = t.elapsed().as_secs_f64();
                    times.push((total, read_s, total - read_s, cpu_seconds() - cpu));
                    drop(read);
                    last = Some(r);
                }
                times.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
                let (total, read_s, check_s, cpu) = times[runs / 2];
                let r = last.unwrap();
                let evidence = r.details.txn().expect("a transactional check");
                let found = relate(plant, &planted_txns, evidence);
                let (named, types, is_wrong) = judge(plant, &found);
                let history = match (db, plant) {
                    (Db::Serial, None) => "valid".to_string(),
                    (Db::StaleReads(k), _) => format!("stale reads 1/{k}"),
                    (Db::Serial, Some(g)) => format!("valid + {} x{PLANTS}", g.kind),
                };
                println!(
                    "| {number} | {n} | {} | {max_writes} | {history} | {mb} | {model} | {read_s:.3} | {check_s:.3} | {total:.3} | {cpu:.2} | {} | {named} | {types} | {} |",
                    w.name(),
                    evidence.stats.edges,
                    peak_rss_mb().round()
                );
                if is_wrong {
                    wrong.push(format!("{n} txns, case {number}: {history}"));
                }
                if db == Db::Serial && plant.is_none() {
                    assert!(
                        found.is_empty(),
                        "a serial execution must pass: {}",
                        r.summary
                    );
                }
            }
            if keep.is_none() {
                // A 1M-txn history is 1.3 GB: one at a time on the disk.
                let _ = std::fs::remove_file(&path);
            }
        }
    }
    if !wrong.is_empty() {
        eprintln!(
            "WRONG: a planted type not named, or a type the plant does not explain, in: {}",
            wrong.join("; ")
        );
        std::process::exit(1);
    }
}
