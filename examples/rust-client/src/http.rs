//! Just enough HTTP/1.1 for etcd's JSON gateway: one POST per connection.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How far a request got before it went wrong; decides `fail` vs `info`.
#[derive(Debug)]
pub enum HttpError {
    /// The connection could not be made: nothing was sent.
    Connect(std::io::Error),
    /// Sent (maybe partly), but no complete answer.
    Exchange(std::io::Error),
    /// An answer that is not HTTP we understand.
    Garbled(String),
}

/// POSTs `body` (JSON) to `http://addr/path`; the status and the body.
pub async fn post(addr: &str, path: &str, body: &str) -> Result<(u16, Vec<u8>), HttpError> {
    let mut stream = TcpStream::connect(addr).await.map_err(HttpError::Connect)?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(HttpError::Exchange)?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .map_err(HttpError::Exchange)?;
    parse(&response)
}

fn parse(response: &[u8]) -> Result<(u16, Vec<u8>), HttpError> {
    let garbled = |what: &str| HttpError::Garbled(what.to_string());
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| garbled("no end of headers"))?;
    let head = String::from_utf8_lossy(&response[..split]);
    let body = &response[split + 4..];
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| garbled("no status"))?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body = if chunked {
        dechunk(body).ok_or_else(|| garbled("bad chunked body"))?
    } else {
        body.to_vec()
    };
    Ok((status, body))
}

fn dechunk(mut body: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&body[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(body.get(..size)?);
        body = body.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plain_and_chunked_bodies() {
        let (status, body) = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").unwrap();
        assert_eq!((status, body.as_slice()), (200, b"{}".as_slice()));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{\"a\r\n3\r\n\":1\r\n1\r\n}\r\n0\r\n\r\n";
        let (_, body) = parse(chunked).unwrap();
        assert_eq!(body, b"{\"a\":1}");
        assert!(parse(b"garbage").is_err());
    }
}
