//! The op protocol that faultline speaks with the systems it tests: one JSON
//! object a line, requests carrying an `id` that their completion echoes.
//!
//! The bundled targets speak it over TCP, adapters on their stdin and stdout;
//! both sides use the types and the codec here, so there is one rule for
//! every field, including the `error` of a `fail` or `info` that has none
//! ([`MISSING_ERROR`]).
//!
//! ```text
//! -> {"id":17,"f":"cas","key":"k1","value":[5,6]}
//! <- {"id":17,"type":"fail","error":"precondition"}
//! -> {"id":18,"f":"read","key":"k1"}
//! <- {"id":18,"type":"ok","value":5,"node":"n3"}
//! -> {"id":19,"f":"status"}
//! <- {"id":19,"type":"ok","value":{"id":"n1","role":"leader","term":3,"leader":"n1"}}
//! ```
//!
//! - [`request`]: what a client asks ([`Request`]) and the line that carries
//!   it ([`RequestLine`], [`encode_request`]).
//! - [`completion`]: how an op ended ([`Completion`]), what a server answers
//!   ([`Outcome`]) and the decoded completion line ([`Reply`]).
//! - [`status`]: the `status` op's reply ([`Status`]), which the leader-aware
//!   faults read.

pub mod completion;
pub mod request;
pub mod status;

pub use completion::{decode_completion, BadLine, Completion, Outcome, Reply, MISSING_ERROR};
pub use request::{bad_request_line, encode_request, request_line, Request, RequestLine};
pub use status::Status;
