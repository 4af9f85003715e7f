//! The client abstraction: how a worker sends one operation to the system under
//! test and learns its outcome. The traits live in `faultline-api` (so a
//! user's client crate need not build the harness) and the wire types in
//! `faultline-protocol`; they are re-exported here at their usual paths.
//!
//! There is one abstraction and several transports: the op protocol over TCP to a
//! bundled target ([`crate::tcp_client`]), an adapter process speaking the same
//! protocol on its stdin/stdout ([`crate::adapter`]), or a Rust implementation
//! embedded by a library user.

pub use faultline_api::{BoxFuture, Client, ClientFactory, Completion, Request};
