//! The client op protocol, as the targets use it: one JSON object a line,
//! replies carry the request id. The types and the codec are
//! `faultline-protocol`'s; this module names them as the targets do.

/// The reply to a line that is not a valid request.
pub use faultline_protocol::bad_request_line;
/// How an op ended, and the reply line that says so.
pub use faultline_protocol::Outcome;
/// A client request as a server reads it, e.g. `{"id":17,"f":"cas","key":"k1","value":[5,6]}`.
pub use faultline_protocol::RequestLine as Request;
