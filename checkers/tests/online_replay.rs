//! The online check on a real run's history that once kept it busy for
//! minutes: a paxos-register run (seed 11, register workload, partitions,
//! kills and pauses, 3 nodes, 12 s) whose many crashed writes make each
//! return scan a large frontier. Before each return was bounded in time the
//! replay below took over a minute per hundred ops; it must now end (the
//! suite's slow-timeout would stop it otherwise), and report nothing, since
//! the whole history is linearizable.

use faultline_checkers::linearizability::online::Online;
use faultline_checkers::linearizability::{check_named, Options};
use faultline_checkers::models::{ModelConfig, ModelKind};
use faultline_checkers::{History, Op, Verdict};

fn history() -> History {
    let text = include_str!("data/paxos-register-crashes.jsonl");
    History::new(
        text.lines()
            .map(|l| serde_json::from_str::<Op>(l).expect("a history line"))
            .collect(),
    )
}

#[test]
fn a_crash_heavy_register_history_is_followed_or_left_never_spun_on() {
    let h = history();
    let final_check = check_named(&h, "cas-register", None, &Options::default()).unwrap();
    assert_eq!(
        final_check.verdict,
        Verdict::Valid,
        "{}",
        final_check.summary
    );
    let mut online = Online::new(ModelKind::CasRegister, None, ModelConfig::default()).unwrap();
    for op in &h.ops {
        assert_eq!(online.push(op), None, "an anomaly on a valid history");
    }
    // Whether the key was left to the final check depends on this
    // machine's speed (100 ms an op); either way the replay ended.
    assert_eq!(online.parts().0, 1);
}
