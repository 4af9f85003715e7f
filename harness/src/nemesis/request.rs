//! One op-protocol request to a node on a fresh connection: how the nemesis
//! asks a node for its status (leader-aware faults) or a change of its
//! configuration (membership, rebalance), outside the clients' connections.

use faultline_protocol::{decode_completion, request_line, Completion, Request};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Connects to `addr` and writes one request; the stream to read its answer.
pub fn send(addr: &str, req: &Request, timeout: Duration) -> Option<TcpStream> {
    let sock = addr.to_socket_addrs().ok()?.next()?;
    let mut s = TcpStream::connect_timeout(&sock, timeout).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    s.write_all(request_line(1, req).as_bytes()).ok()?;
    Some(s)
}

/// The answer on `s`, if it comes before `end`.
pub fn answer(s: TcpStream, end: Instant) -> Option<Completion> {
    let left = end.saturating_duration_since(Instant::now());
    s.set_read_timeout(Some(left.max(Duration::from_millis(1))))
        .ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    Some(decode_completion(line.as_bytes()).ok()?.completion)
}

/// One request on a fresh connection; `None` if no reply came in time.
pub fn ask(addr: &str, req: &Request, timeout: Duration) -> Option<Completion> {
    let s = send(addr, req, timeout)?;
    answer(s, Instant::now() + timeout)
}
