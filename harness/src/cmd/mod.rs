//! One file a subcommand.

pub mod check;
pub mod heal;
pub mod ls;
pub mod serve;
pub mod show;
pub mod test;
