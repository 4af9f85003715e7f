//! Transactional checker benchmark: generated list-append and rw-register
//! histories (10 clients, 1-4 micro-ops a txn, an exponential choice among
//! 10 active keys, a key retired after `max_writes` writes, values unique per
//! key), valid ones and ones with planted anomalies, written to a JSON-lines
//! file and checked from it as `faultline check` would (read straight into
//! txns, then checked). Prints a table of median times (read, check, both;
//! of 3 runs) and the peak RSS of those runs; asserts nothing about time.
//!
//! `cargo bench -p faultline-checkers --bench txn [-- SIZES]`, e.g. `-- 100000 1000000`;
//! `FAULTLINE_TXN_BENCH_CASES=0,3` runs only those cases;
//! `FAULTLINE_TXN_BENCH_DIR=DIR` keeps the generated files there and reuses
//! them (for profiling the reader on the same file again);
//! `FAULTLINE_TXN_BENCH_RUNS=1` times one run instead of 3.

use faultline_checkers::txn::{self, ConsistencyModel, TxnWorkload};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::time::Instant;

const CLIENTS: usize = 10;
const ACTIVE_KEYS: usize = 10;

/// How the generated database behaves.
#[derive(Clone, Copy, PartialEq)]
enum Db {
    /// Each txn takes effect at once at its completion: strict serializable.
    Serial,
    /// One txn in `n` reads the state as of its invocation but writes at its
    /// completion (snapshot-like): lost updates, write skew, stale reads.
    StaleReads(u32),
}

/// Writes a generated history of `n` txns as JSON lines into `out`,
/// streaming (a History of a million txns' Value trees would take gigabytes
/// before the checker even starts).
fn generate(
    out: &mut impl Write,
    n: usize,
    w: TxnWorkload,
    db: Db,
    max_writes: usize,
    seed: u64,
) -> std::io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut state: Vec<Vec<i64>> = Vec::new();
    let mut active: Vec<usize> = Vec::new();
    let new_key = |state: &mut Vec<Vec<i64>>| {
        state.push(Vec::new());
        state.len() - 1
    };
    for _ in 0..ACTIVE_KEYS {
        let k = new_key(&mut state);
        active.push(k);
    }
    // Per client: the open txn's plan (a write's value, or None for a
    // read; and the key) and the snapshot it may read from.
    type Plan = Vec<(Option<i64>, usize)>;
    type Snapshot = Vec<(usize, Vec<i64>)>;
    let mut open: Vec<Option<(Plan, Option<Snapshot>)>> = vec![None; CLIENTS];
    let mut index = 0u64;
    let mut started = 0;
    let (wf, register) = match w {
        TxnWorkload::ListAppend => ("append", false),
        TxnWorkload::RwRegister => ("w", true),
    };
    let mut next_value = 0i64;
    let mut line = String::new();
    while started < n || open.iter().any(Option::is_some) {
        let c = rng.gen_range(0..CLIENTS);
        line.clear();
        let kind = match open[c] {
            None => "invoke",
            Some(_) => "ok",
        };
        write!(
            line,
            "{{\"index\":{index},\"time\":{},\"type\":\"{kind}\",\"process\":{c},\"f\":\"txn\",\"value\":[",
            index * 1000
        )
        .unwrap();
        match open[c].take() {
            None if started < n => {
                started += 1;
                let plan: Plan = (0..rng.gen_range(1..=4))
                    .map(|_| {
                        let mut i = 0;
                        while i + 1 < ACTIVE_KEYS && rng.gen_bool(0.5) {
                            i += 1;
                        }
                        let write = rng.gen_bool(0.5).then(|| {
                            next_value += 1;
                            next_value
                        });
                        (write, active[i])
                    })
                    .collect();
                for (i, &(write, k)) in plan.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "," };
                    match write {
                        Some(v) => write!(line, "{sep}[\"{wf}\",{k},{v}]"),
                        None => write!(line, "{sep}[\"r\",{k},null]"),
                    }
                    .unwrap();
                }
                let stale = match db {
                    Db::StaleReads(one_in) => rng.gen_ratio(1, one_in),
                    Db::Serial => false,
                };
                let snapshot = stale.then(|| {
                    plan.iter()
                        .map(|&(_, k)| (k, state[k].clone()))
                        .collect::<Vec<_>>()
                });
                open[c] = Some((plan, snapshot));
            }
            None => continue,
            Some((plan, snapshot)) => {
                let mut own: Vec<(usize, i64)> = Vec::new();
                for (i, (write, k)) in plan.into_iter().enumerate() {
                    let sep = if i == 0 { "" } else { "," };
                    if let Some(v) = write {
                        state[k].push(v);
                        own.push((k, v));
                        write!(line, "{sep}[\"{wf}\",{k},{v}]").unwrap();
                        if state[k].len() >= max_writes {
                            if let Some(slot) = active.iter().position(|&a| a == k) {
                                active[slot] = new_key(&mut state);
                            }
                        }
                    } else {
                        let fresh;
                        let seen: &[i64] = match &snapshot {
                            Some(s) => {
                                let mut l = s
                                    .iter()
                                    .find(|e| e.0 == k)
                                    .map(|e| e.1.clone())
                                    .unwrap_or_default();
                                l.extend(own.iter().filter(|o| o.0 == k).map(|o| o.1));
                                fresh = l;
                                &fresh
                            }
                            None => &state[k],
                        };
                        write!(line, "{sep}[\"r\",{k},").unwrap();
                        if register {
                            match seen.last() {
                                Some(v) => write!(line, "{v}]"),
                                None => write!(line, "null]"),
                            }
                            .unwrap();
                        } else {
                            line.push('[');
                            for (j, v) in seen.iter().enumerate() {
                                let sep = if j == 0 { "" } else { "," };
                                write!(line, "{sep}{v}").unwrap();
                            }
                            line.push_str("]]");
                        }
                    }
                }
            }
        }
        line.push_str("]}\n");
        out.write_all(line.as_bytes())?;
        index += 1;
    }
    Ok(())
}

fn peak_rss_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .unwrap_or(0)
        / 1024
}

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
        "| txns | workload | max writes/key | history | file (MB) | model | read median (s) | check median (s) | total median (s) | CPU (s) | edges | anomaly types | peak RSS (MB) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    // FAULTLINE_TXN_BENCH_CASES=0,3 runs only those rows of the table below.
    let only: Option<Vec<usize>> = std::env::var("FAULTLINE_TXN_BENCH_CASES")
        .ok()
        .map(|v| v.split(',').filter_map(|c| c.trim().parse().ok()).collect());
    for &n in &sizes {
        for (case, (w, db, max_writes)) in [
            (TxnWorkload::ListAppend, Db::Serial, 256),
            (TxnWorkload::ListAppend, Db::Serial, 32),
            (TxnWorkload::ListAppend, Db::StaleReads(1000), 32),
            (TxnWorkload::RwRegister, Db::Serial, 256),
            (TxnWorkload::RwRegister, Db::StaleReads(1000), 256),
        ]
        .into_iter()
        .enumerate()
        {
            if only.as_ref().is_some_and(|o| !o.contains(&case)) {
                continue;
            }
            let path = dir.join(format!("history-{n}-{case}.jsonl"));
            if keep.is_none() || !path.exists() {
                let mut out = BufWriter::new(File::create(&path).expect("create the history"));
                generate(&mut out, n, w, db, max_writes, 42).expect("write the history");
                out.flush().expect("write the history");
            }
            let mb = std::fs::metadata(&path).map_or(0, |m| m.len() >> 20);
            for model in [
                ConsistencyModel::StrictSerializable,
                ConsistencyModel::StrongSessionSerializable,
                ConsistencyModel::Serializable,
            ] {
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
                let types = evidence.anomaly_types.clone();
                println!(
                    "| {n} | {} | {max_writes} | {} | {mb} | {model} | {read_s:.3} | {check_s:.3} | {total:.3} | {cpu:.2} | {} | {} | {} |",
                    w.name(),
                    match db {
                        Db::Serial => "valid".to_string(),
                        Db::StaleReads(k) => format!("stale reads 1/{k}"),
                    },
                    evidence.stats.edges,
                    if types.is_empty() {
                        "-".into()
                    } else {
                        types.join(" ")
                    },
                    peak_rss_mb()
                );
                if db == Db::Serial {
                    assert!(
                        types.is_empty(),
                        "a serial execution must pass: {}",
                        r.summary
                    );
                }
            }
        }
    }
}
