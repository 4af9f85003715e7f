//! A generated kv history checked straight from its `history.jsonl` file
//! (`linearizability::file`, what `faultline check FILE --model kv` runs).
//!
//! Run: `cargo bench -p faultline-checkers --bench scale` (add `-- quick`
//! for one run): writes 1,000,000 ops (1,000 keys, 20 clients, about 1%
//! info) to a temporary file, checks it, prints a table of medians with the
//! peak RSS. `-- write FILE N` only writes N ops to FILE (what
//! `scripts/benchmarks/scale` checks with the binary at 10,000,000).

use faultline_checkers::jsonl::JsonlWriter;
use faultline_checkers::linearizability::{file, Options};
use faultline_checkers::models::ModelKind;
use faultline_checkers::Verdict;
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

#[allow(dead_code)] // the benchmark writes valid histories only
mod generated;
mod measure;
use generated::{generate_into, Spec, Values};
use measure::peak_rss_mb;

/// Writes `n_ops` generated kv ops to `path`.
fn write(path: &Path, n_ops: usize) -> std::io::Result<()> {
    let mut w = JsonlWriter::new(File::create(path)?, false);
    let mut result = Ok(());
    generate_into(Spec::new(n_ops, 1_000, 20, 42, Values::Few), |op| {
        if result.is_ok() {
            result = w.write(&op);
        }
    });
    result?;
    w.flush()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "write") {
        let (Some(path), Some(n)) = (args.get(at + 1), args.get(at + 2)) else {
            panic!("usage: write FILE N_OPS");
        };
        let n: usize = n.replace(',', "").parse().expect("N_OPS is a number");
        let t = Instant::now();
        write(Path::new(path), n).unwrap_or_else(|e| panic!("{path}: {e}"));
        eprintln!(
            "wrote {n} ops to {path} in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        return;
    }
    let runs = if args.iter().any(|a| a == "quick") {
        1
    } else {
        3
    };
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("history.jsonl");
    let n = 1_000_000;
    let t = Instant::now();
    write(&path, n).expect("the history is written");
    let written = t.elapsed();
    let size_mb = std::fs::metadata(&path).map_or(0, |m| m.len()) as f64 / (1 << 20) as f64;
    let mut times: Vec<Duration> = Vec::new();
    let mut verdict = Verdict::Unknown;
    for _ in 0..runs {
        let t = Instant::now();
        let checked = file::check_file(&path, ModelKind::Kv, None, &Options::default())
            .expect("the file reads");
        verdict = checked.result.expect("the checker runs").verdict;
        times.push(t.elapsed());
    }
    assert_eq!(
        verdict,
        Verdict::Valid,
        "the generated history is linearizable"
    );
    times.sort();
    println!("\n| case | goal | median | runs | notes |\n|---|---|---|---|---|");
    println!(
        "| 1,000,000 generated kv ops read from a {size_mb:.0} MB file and checked | | {:.1} ms | {runs} | peak RSS {:.0} MB (written in {:.1} s); 10,000,000: scripts/benchmarks/scale |",
        times[times.len() / 2].as_secs_f64() * 1000.0,
        peak_rss_mb(),
        written.as_secs_f64(),
    );
}
