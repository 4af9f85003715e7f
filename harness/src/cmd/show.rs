//! `faultline show`.

use crate::cli::GlobalArgs;
use crate::exit::Outcome;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_global: &GlobalArgs, _args: Args) -> anyhow::Result<Outcome> {
    anyhow::bail!("faultline show is not built yet")
}
