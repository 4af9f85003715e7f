//! Every anomaly type the transactional checker names, planted 3 times into
//! a valid generated history of 3,000 txns with the bench's generator and
//! gadgets (benches/txn/), is named; and nothing else is found but what the
//! plant implies or cycles through planted txns. The bench does the same at
//! 100,000 and 1,000,000 txns.

#[allow(dead_code)]
#[path = "../benches/txn/generate.rs"]
mod generate;
#[allow(dead_code)]
#[path = "../benches/txn/plant.rs"]
mod plant;

use faultline_checkers::txn::{self, TxnWorkload};
use generate::{generate, Db, Plant};
use plant::{relate, Relation};
use std::path::Path;

const TXNS: usize = 3_000;

fn check(w: TxnWorkload, plant: Option<Plant>) -> (Vec<(String, u64, Relation)>, String) {
    let gadget = plant.as_ref().map(|p| p.gadget);
    let mut text = Vec::new();
    let planted = generate(&mut text, TXNS, w, Db::Serial, 256, 7, plant).unwrap();
    let read = txn::jsonl::read(&text[..], Path::new("generated.jsonl"), w).unwrap();
    let r = txn::check_txns(&read.txns, w, &txn::Options::default()).unwrap();
    let evidence = r.details.txn().unwrap();
    let found = relate(gadget, &planted.into_iter().collect(), evidence);
    (found, evidence.explanation.clone())
}

#[test]
fn a_valid_generated_history_passes() {
    for w in [TxnWorkload::ListAppend, TxnWorkload::RwRegister] {
        let (found, text) = check(w, None);
        assert!(found.is_empty(), "{}: {found:?}\n{text}", w.name());
    }
}

#[test]
fn each_planted_type_is_named_and_nothing_unexplained() {
    let mut wrong = Vec::new();
    for w in [TxnWorkload::ListAppend, TxnWorkload::RwRegister] {
        for gadget in plant::gadgets(w) {
            let (found, text) = check(w, Some(Plant { gadget, times: 3 }));
            let named = found
                .iter()
                .any(|(k, n, r)| *r == Relation::Planted && k == gadget.kind && *n >= 3);
            let unexplained = found.iter().any(|f| f.2 == Relation::Unexplained);
            if !named || unexplained {
                wrong.push(format!("{} {}: {found:?}\n{text}", w.name(), gadget.kind));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
