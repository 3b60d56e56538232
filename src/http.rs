//! Just enough HTTP/1.x for the inspect page, static files, the metrics endpoint and the
//! load generator: request heads parsed by `httparse` (bounded: 16 KiB, 100 headers; bare
//! LF line ends accepted, as RFC 9112 allows), [`read_request`] that reads one off any
//! connection within a time limit, and the responses tlscat writes.

use std::io;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::conn::{self, Read};
use crate::error::{Phase, Result};

/// Largest request head read (request line and headers).
pub const MAX_HEAD: usize = 16 * 1024;
/// Most header lines accepted.
const MAX_HEADERS: usize = 100;
/// Methods a client may start with (for telling HTTP from other protocols).
const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "CONNECT", "TRACE",
];

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target as sent (`/json?x=1`).
    pub target: String,
    /// `HTTP/1.0` or `HTTP/1.1`.
    pub version: String,
    /// Header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The target without its query string.
    pub fn path(&self) -> &str {
        self.target.split(['?', '#']).next().unwrap_or("")
    }

    /// Whether the client wants the connection kept open after the response: HTTP/1.1
    /// unless `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    pub fn keep_alive(&self) -> bool {
        let has = |token: &str| {
            self.headers
                .iter()
                .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
                .flat_map(|(_, value)| value.split(','))
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        if self.version == "HTTP/1.1" {
            !has("close")
        } else {
            has("keep-alive")
        }
    }

    /// Whether a body follows the head (`Content-Length` above 0 or `Transfer-Encoding`).
    pub fn has_body(&self) -> bool {
        self.header("transfer-encoding").is_some()
            || self
                .header("content-length")
                .is_some_and(|length| length.trim() != "0")
    }

    /// Whether the client asks for JSON rather than HTML.
    pub fn wants_json(&self) -> bool {
        self.path() == "/json"
            || self
                .header("accept")
                .is_some_and(|accept| accept.contains("application/json"))
    }
}

/// Outcome of parsing the start of a byte stream as a request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Head {
    /// A request whose head is `length` bytes long.
    Complete { request: Request, length: usize },
    /// Could still become a valid head: more bytes needed.
    Incomplete,
    /// Not a valid request head; the reason, in words.
    Invalid(String),
}

/// Whether the bytes start like an HTTP request (a known method, then a space).
pub fn looks_like_http(bytes: &[u8]) -> bool {
    METHODS.iter().any(|method| {
        let with_space = format!("{method} ");
        let n = bytes.len().min(with_space.len());
        n > 0 && bytes[..n] == with_space.as_bytes()[..n]
    })
}

/// Parses a request head at the start of `bytes`.
pub fn parse_head(bytes: &[u8]) -> Head {
    let too_long = || Head::Invalid(format!("request head longer than {MAX_HEAD} bytes"));
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let length = match request.parse(bytes) {
        Ok(httparse::Status::Complete(length)) if length > MAX_HEAD => return too_long(),
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) if bytes.len() >= MAX_HEAD => return too_long(),
        Ok(httparse::Status::Partial) => return Head::Incomplete,
        Err(httparse::Error::TooManyHeaders) => {
            return Head::Invalid(format!("more than {MAX_HEADERS} header lines"));
        }
        Err(e) => return Head::Invalid(format!("malformed request head: {e}")),
    };
    let (Some(method), Some(target), Some(minor)) = (request.method, request.path, request.version)
    else {
        return Head::Invalid("malformed request line".into());
    };
    if std::str::from_utf8(target.as_bytes()).is_err() || target.contains('\0') {
        return Head::Invalid(format!("malformed request target {target:?}"));
    }
    Head::Complete {
        request: Request {
            method: method.to_string(),
            target: target.to_string(),
            version: format!("HTTP/1.{minor}"),
            headers: request
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_string(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect(),
        },
        length,
    }
}

/// The request line at the start of `bytes`, when there is a whole one: what an HTTP
/// client sends first (`GET / HTTP/1.1`), told apart from any other message.
pub fn request_line(bytes: &[u8]) -> Option<(String, String)> {
    let end = bytes.iter().position(|&b| b == b'\n')?;
    let line = [&bytes[..=end], b"\r\n"].concat();
    match parse_head(&line) {
        Head::Complete { request, .. } => Some((request.method, request.target)),
        _ => None,
    }
}

/// A response head's status code and `Content-Length`, and the head's length; `None`
/// while incomplete.
pub fn parse_response_head(bytes: &[u8]) -> Result<Option<ResponseHead>, String> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(bytes) {
        Ok(httparse::Status::Complete(length)) => Ok(Some(ResponseHead {
            length,
            status: response.code.unwrap_or(0),
            content_length: response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok()),
        })),
        Ok(httparse::Status::Partial) if bytes.len() > MAX_HEAD => {
            Err(format!("a response head over {} KiB", MAX_HEAD / 1024))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(format!("no HTTP/1.x response head ({e})")),
    }
}

/// What [`parse_response_head`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHead {
    pub length: usize,
    pub status: u16,
    pub content_length: Option<u64>,
}

/// A connection a request head can be read from, a little at a time. Two plain methods
/// rather than an `async` one: [`read_request`]'s future, which an idle keep-alive
/// connection waits in, then holds no more than one read's state.
pub trait Source {
    /// Polls for more bytes, appended to `buf`.
    fn poll_more(&mut self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<usize>>;
    /// What a finished read means: data, the peer's close (clean or not), or a failure.
    fn outcome(&mut self, read: io::Result<usize>) -> Result<Read>;
}

/// What came in on a connection where a request was expected.
#[derive(Debug)]
pub enum Incoming {
    Request(Request),
    /// The first bytes are not an HTTP request (another protocol).
    NotHttp,
    /// A malformed request head; why, in words.
    Invalid(String),
    /// The peer closed cleanly (close_notify, or end of file) before a request began.
    Closed,
    /// The peer vanished without closing cleanly.
    Truncated,
}

/// Reads one request head into `pending` (which may already hold bytes from a previous
/// read) and takes it out, leaving what follows (a pipelined request). The whole head must
/// arrive within `limit`, however slowly it trickles.
pub async fn read_request<S: Source>(
    source: &mut S,
    pending: &mut Vec<u8>,
    limit: Duration,
) -> Result<Incoming> {
    let deadline = Instant::now() + limit;
    loop {
        if !pending.is_empty() {
            if !looks_like_http(pending) {
                return Ok(Incoming::NotHttp);
            }
            match parse_head(pending) {
                Head::Complete { request, length } => {
                    pending.drain(..length);
                    return Ok(Incoming::Request(request));
                }
                Head::Invalid(reason) => return Ok(Incoming::Invalid(reason)),
                Head::Incomplete => {}
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let read = std::future::poll_fn(|cx| source.poll_more(cx, pending));
        let read = conn::within(Phase::Read, left, read).await?;
        match source.outcome(read)? {
            Read::Data(_) => {}
            Read::Closed => return Ok(Incoming::Closed),
            Read::Truncated => return Ok(Incoming::Truncated),
        }
    }
}

/// The reason phrase of the statuses tlscat sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        _ => "Error",
    }
}

/// A complete response that closes the connection. `head_only` (for HEAD) leaves the
/// body out but keeps its length.
pub fn response(status: u16, content_type: &str, body: &[u8], head_only: bool) -> Vec<u8> {
    let reason = reason(status);
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_heads_parse_with_headers_and_length() {
        let bytes = b"GET /json?x=1 HTTP/1.1\r\nHost: localhost\r\nAccept:  text/html \r\n\r\nbody";
        let Head::Complete { request, length } = parse_head(bytes) else {
            panic!("{:?}", parse_head(bytes));
        };
        assert_eq!(length, bytes.len() - 4);
        assert_eq!(request.method, "GET");
        assert_eq!(request.path(), "/json");
        assert_eq!(request.header("ACCEPT"), Some("text/html"));
        assert!(request.wants_json());
        assert_eq!(
            parse_head(b"GET / HTTP/1.1\r\nHost: x\r\n"),
            Head::Incomplete
        );
    }

    #[test]
    fn bare_line_feeds_end_lines_too() {
        let bytes = b"GET / HTTP/1.0\n\n";
        let Head::Complete { request, length } = parse_head(bytes) else {
            panic!("{:?}", parse_head(bytes));
        };
        assert_eq!(length, bytes.len());
        assert_eq!(request.version, "HTTP/1.0");
    }

    #[test]
    fn malformed_heads_are_invalid_with_a_reason() {
        for bad in [
            &b"GET / HTTP/2.0\r\n\r\n"[..],
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"GET / HTTP/1.1\r\nNo colon\r\n\r\n",
            b"GET / HTTP/1.1\r\n Folded: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad\x01: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
        ] {
            assert!(matches!(parse_head(bad), Head::Invalid(_)), "{bad:?}");
        }
        let too_long = [b"GET / HTTP/1.1\r\nX: ".as_slice(), &[b'a'; MAX_HEAD]].concat();
        assert!(matches!(parse_head(&too_long), Head::Invalid(_)));
        let many: String = (0..=MAX_HEADERS).map(|i| format!("H{i}: v\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(parse_head(many.as_bytes()), Head::Invalid(_)));
    }

    #[test]
    fn keep_alive_follows_the_version_and_connection_header() {
        let request = |head: &str| match parse_head(head.as_bytes()) {
            Head::Complete { request, .. } => request,
            other => panic!("{other:?}"),
        };
        assert!(request("GET / HTTP/1.1\r\nHost: x\r\n\r\n").keep_alive());
        assert!(!request("GET / HTTP/1.1\r\nConnection: Close\r\n\r\n").keep_alive());
        assert!(!request("GET / HTTP/1.0\r\n\r\n").keep_alive());
        assert!(request("GET / HTTP/1.0\r\nConnection: x, keep-alive\r\n\r\n").keep_alive());
        assert!(request("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n").has_body());
        assert!(!request("GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").has_body());
    }

    #[test]
    fn http_is_told_apart_from_other_first_bytes() {
        assert!(looks_like_http(b"GET / HTTP/1.1"));
        assert!(looks_like_http(b"HEA"));
        assert!(!looks_like_http(b"Hello from the client!"));
        assert!(!looks_like_http(b"GETTY"));
        assert!(!looks_like_http(b""));
        assert_eq!(
            request_line(b"GET /a HTTP/1.1\r\nHost: x\r\n"),
            Some(("GET".into(), "/a".into()))
        );
        assert_eq!(
            request_line(b"GET / HTTP/1.0\n"),
            Some(("GET".into(), "/".into()))
        );
        assert_eq!(request_line(b"Hello from the client!"), None);
        assert_eq!(request_line(b"GET /"), None);
    }

    #[test]
    fn response_heads_give_status_and_length() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 42\r\nX: y\r\n\r\nbody";
        assert_eq!(
            parse_response_head(head),
            Ok(Some(ResponseHead {
                length: head.len() - 4,
                status: 200,
                content_length: Some(42)
            }))
        );
        assert_eq!(parse_response_head(b"HTTP/1.1 404 Not"), Ok(None));
        assert!(parse_response_head(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }

    #[test]
    fn responses_carry_length_and_close() {
        let full = response(200, "text/plain", b"ok", false);
        assert!(full.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert!(full.ends_with(b"Connection: close\r\n\r\nok"));
        let head = response(200, "text/plain", b"ok", true);
        assert!(head.ends_with(
            b"Content-Length: 2\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
        ));
    }
}
