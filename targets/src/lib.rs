//! faultline-targets: bundled reference servers.
//!
//! The binaries share this library: `raft-kv` and `lock-service` run the
//! [`raft`] module with different state machines ([`kv`], [`lock`]);
//! `paxos-register` runs [`paxos`] (CASPaxos per key); `primary-backup` runs
//! [`primary_backup`] (a primary that streams its log to backups, with
//! failover) on the same [`kv`] state; `dispatcher` runs [`dispatcher`] (task
//! assignment to workers, on [`raft`]); `sharded-kv` runs [`sharded`] (keys
//! spread over Raft groups by a consistent-hash ring, with shard handoff). All of them speak the
//! newline-JSON op protocol of [`wire`] and exchange one-way peer messages over
//! [`transport`].

pub mod config;
pub mod dispatcher;
pub mod kv;
pub mod lock;
pub mod paxos;
pub mod primary_backup;
pub mod raft;
pub mod raft_storage;
pub mod server;
pub mod sharded;
pub mod transport;
pub mod wire;
