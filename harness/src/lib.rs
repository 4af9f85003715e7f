//! faultline: a Jepsen-style correctness and chaos test harness.
//!
//! The binary's subcommands live in [`cmd`], one file each; the concepts they
//! use (cluster, net, nemesis, controller, store, reports) are modules of their own.

pub mod adapter;
pub mod cli;
pub mod client;
pub mod clock;
pub mod cluster;
pub mod cmd;
pub mod controller;
pub mod exit;
pub mod junit;
pub mod logging;
pub mod nemesis;
pub mod net;
pub mod remote;
pub mod report;
pub mod run;
pub mod spec;
pub mod store;
pub mod system;
pub mod tcp_client;
pub mod web;
