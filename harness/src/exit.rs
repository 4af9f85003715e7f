//! Exit codes (Jepsen's conventions) and the error kinds that map to them.
//!
//! 0 valid, 1 invalid, 2 unknown, 254 bad arguments or input, 255 internal
//! error, 130 interrupted (Ctrl-C; the verdict of what was recorded is in
//! `results.json`).

use faultline_checkers::Verdict;
use std::fmt;

pub const BAD_INPUT: i32 = 254;
pub const INTERNAL: i32 = 255;
/// 128 + SIGINT, as a shell reports a command ended by Ctrl-C.
pub const INTERRUPTED: i32 = 130;

/// An error caused by what the user gave us (a flag, a file, a config), as
/// opposed to a fault of our own. Wrap it in `anyhow` and it exits 254.
#[derive(Debug)]
pub struct BadInput(pub String);

impl fmt::Display for BadInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BadInput {}

/// `Err(bad_input(...))` in a function returning `anyhow::Result`.
pub fn bad_input(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(BadInput(message.into()))
}

/// What a subcommand returns: the verdict it reached (or plain success).
pub enum Outcome {
    Verdict(Verdict),
    /// The run was interrupted; the verdict covers what was recorded.
    Interrupted(Verdict),
    Done,
}

/// Prints an error, if any, and turns the result into the process exit code.
pub fn code_of(result: anyhow::Result<Outcome>) -> i32 {
    match result {
        Ok(Outcome::Verdict(v)) => v.exit_code(),
        Ok(Outcome::Interrupted(_)) => INTERRUPTED,
        Ok(Outcome::Done) => 0,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.chain().any(|c| c.downcast_ref::<BadInput>().is_some()) {
                BAD_INPUT
            } else {
                INTERNAL
            }
        }
    }
}
