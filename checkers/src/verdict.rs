//! What a checker concludes about a history, as written to `results.json`.

use crate::anomaly::FirstAnomaly;
use crate::evidence::Evidence;
use crate::stats::RunStats;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A checker's conclusion. `Unknown` means a budget ran out or the history
/// cannot be judged; it is never a silent `Valid`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Valid,
    Unknown,
    Invalid,
}

impl Verdict {
    /// Jepsen's exit codes: 0 valid, 1 invalid, 2 unknown.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Valid => 0,
            Verdict::Invalid => 1,
            Verdict::Unknown => 2,
        }
    }

    /// The verdict of several checkers together: invalid beats unknown beats valid.
    pub fn combine(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
        verdicts
            .into_iter()
            .fold(Verdict::Valid, |a, b| match (a, b) {
                (Verdict::Invalid, _) | (_, Verdict::Invalid) => Verdict::Invalid,
                (Verdict::Unknown, _) | (_, Verdict::Unknown) => Verdict::Unknown,
                _ => Verdict::Valid,
            })
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Valid => "valid",
            Verdict::Invalid => "invalid",
            Verdict::Unknown => "unknown",
        })
    }
}

/// One checker's result: the verdict, one line of words, the ops it blames
/// and its evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The checker's name: `linearizable`, `set`, `lock`, ...
    pub checker: String,
    pub verdict: Verdict,
    /// One human sentence: what was found.
    pub summary: String,
    /// Invocation indexes of the ops the checker blames, ascending: empty
    /// unless the verdict is invalid.
    #[serde(default)]
    pub blamed: Vec<u64>,
    /// When the first blamed op completed, at which node, under which fault.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_anomaly: Option<FirstAnomaly>,
    /// The checker's evidence (anomalies, counterexample, stats).
    #[serde(default)]
    pub details: Evidence,
}

impl CheckResult {
    /// A checker that could not reach a verdict at all.
    pub fn unknown(checker: &str, summary: String) -> Self {
        CheckResult {
            checker: checker.to_string(),
            verdict: Verdict::Unknown,
            summary,
            blamed: Vec::new(),
            first_anomaly: None,
            details: Evidence::default(),
        }
    }
}

/// The whole `results.json` of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    pub verdict: Verdict,
    /// The run was interrupted (Ctrl-C): the verdict covers what was recorded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// The history's op counts and span; absent in results of older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<RunStats>,
    /// The load spread across a balancing target's workers, when the
    /// history has `stats` samples (crate::load_spread).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<crate::load_spread::LoadSpread>,
    pub checks: Vec<CheckResult>,
    /// What the check while the run went on found (`faultline test`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online: Option<OnlineReport>,
}

/// The online check of a run (`linearizability::online`), as written to
/// `results.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnlineReport {
    /// The checker it ran (`linearizable`).
    pub checker: String,
    /// Parts (keys) it followed.
    pub parts: usize,
    /// Parts it left to the final check (too many ops open at once, a
    /// frontier past its cap).
    pub gave_up: usize,
    /// CPU seconds its thread used: its cost to the run.
    #[serde(default)]
    pub cpu_s: f64,
    /// It fell a whole channel behind the run and stopped there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fell_behind: bool,
    /// It had not walked everything it was sent when the run ended, and was
    /// cancelled (its parts are not counted; an anomaly it had found is).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unfinished: bool,
    /// The first anomaly it found, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_anomaly: Option<OnlineAnomalyReport>,
    /// `--stop-on-anomaly` ended the main phase at that anomaly.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stopped_run: bool,
}

/// The first anomaly found while the run went on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OnlineAnomalyReport {
    pub checker: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Invocation index of the op that cannot be placed, and its completion's.
    pub op: u64,
    pub completion: u64,
    /// The op in words (`read -> 1`).
    pub what: String,
    /// When it completed, seconds since the run started.
    pub time_s: f64,
    /// When faultline reported it, seconds since the run started.
    pub reported_s: f64,
}

impl Results {
    pub fn new(checks: Vec<CheckResult>) -> Self {
        Results {
            verdict: Verdict::combine(checks.iter().map(|c| c.verdict)),
            interrupted: false,
            stats: None,
            load: None,
            checks,
            online: None,
        }
    }
}
