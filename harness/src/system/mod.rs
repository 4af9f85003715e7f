//! User systems described by a TOML file.

pub mod template;
