//! User systems described by a TOML file (`faultline test --system FILE`):
//! the node lifecycle as templated commands ([`SystemDb`], a [`crate::cluster::Db`])
//! and the adapter that talks to the nodes ([`crate::adapter`]).

pub mod config;
pub mod db;
pub mod run;
pub mod template;

pub use config::SystemConfig;
pub use db::SystemDb;
pub use run::UserSystem;
