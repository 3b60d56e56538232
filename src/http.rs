//! Just enough HTTP/1.x for the inspect page, static files and the metrics endpoint: a
//! bounded parser of request heads and a response writer. [`parse_head`] is a pure
//! function over bytes (fuzzed and property-tested): it never reads past its limits or
//! panics.

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
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if bytes.len() >= MAX_HEAD {
            Head::Invalid(format!("request head longer than {MAX_HEAD} bytes"))
        } else {
            Head::Incomplete
        };
    };
    let length = end + 4;
    if length > MAX_HEAD {
        return Head::Invalid(format!("request head longer than {MAX_HEAD} bytes"));
    }
    let Ok(head) = std::str::from_utf8(&bytes[..end]) else {
        return Head::Invalid("request head is not UTF-8 text".into());
    };
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Head::Invalid(format!("malformed request line {request_line:?}"));
    };
    if method.is_empty() || method.len() > 20 || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Head::Invalid(format!("malformed method {method:?}"));
    }
    if target.is_empty() || target.bytes().any(|b| b.is_ascii_control()) {
        return Head::Invalid(format!("malformed request target {target:?}"));
    }
    if version != "HTTP/1.0" && version != "HTTP/1.1" {
        return Head::Invalid(format!("unsupported protocol version {version:?}"));
    }
    let mut headers = Vec::new();
    for line in lines {
        if headers.len() == MAX_HEADERS {
            return Head::Invalid(format!("more than {MAX_HEADERS} header lines"));
        }
        let Some((name, value)) = line.split_once(':') else {
            return Head::Invalid(format!("header line without a colon: {line:?}"));
        };
        let is_token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || !name.bytes().all(is_token) {
            return Head::Invalid(format!("malformed header name {name:?}"));
        }
        let value = value.trim_matches([' ', '\t']);
        if value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Head::Invalid(format!("control character in header {name}"));
        }
        headers.push((name.to_string(), value.to_string()));
    }
    Head::Complete {
        request: Request {
            method: method.to_string(),
            target: target.to_string(),
            version: version.to_string(),
            headers,
        },
        length,
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
    fn malformed_heads_are_invalid_with_a_reason() {
        for bad in [
            &b"GET / HTTP/2.0\r\n\r\n"[..],
            b"get / HTTP/1.1\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"GET / HTTP/1.1\r\nNo colon\r\n\r\n",
            b"GET / HTTP/1.1\r\n Folded: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad\x01: x\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
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
