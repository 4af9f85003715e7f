//! What a user of faultline implements, in a crate cheap to depend on: the
//! [`Client`] that performs ops on the system under test and the [`Db`] that
//! says how to run its nodes. The harness (`faultline`) re-exports these at
//! `faultline::client` and `faultline::cluster`; a client crate needs only
//! this one (and [`faultline_protocol`], whose [`Request`] and [`Completion`]
//! are the ops' wire types).

pub mod client;
pub mod db;

pub use client::{BoxFuture, Client, ClientFactory};
pub use db::{Db, NodeInfo, NodeLaunch, ReadyCheck, Step};
pub use faultline_protocol::{Completion, Request};
