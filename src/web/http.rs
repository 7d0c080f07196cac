//! HTTP/1.1 requests as the web listeners receive them: parsed by
//! `httparse`, kept only as far as routing needs them, and bounded in size
//! so that a client cannot make the daemon hold more than a few KiB.

/// Largest request head (request line and headers) taken; past it the
/// answer is 431.
pub const MAX_HEAD: usize = 8 * 1024;
/// Most header lines a request may have.
const MAX_HEADERS: usize = 48;

/// The parts of a request the daemon looks at. Header values are kept
/// lossily as text: none the routes read may carry anything but ASCII.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    pub host: Option<String>,
    pub origin: Option<String>,
    /// `Upgrade` (lower-cased).
    pub upgrade: Option<String>,
    /// `Connection` tokens (lower-cased).
    pub connection: Vec<String>,
    pub ws_key: Option<String>,
    pub ws_version: Option<String>,
    /// `Sec-WebSocket-Protocol` values, in the client's order of preference.
    pub ws_protocols: Vec<String>,
    /// Whether `Accept-Encoding` allows gzip.
    pub gzip: bool,
}

/// Why a request head could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Malformed: 400.
    Bad,
    /// Over [`MAX_HEAD`] or [`MAX_HEADERS`]: 431.
    TooLarge,
}

/// Parses a request head from the start of `data`: `Ok(None)` while it is
/// incomplete, else the request and the bytes it took.
pub fn parse(data: &[u8]) -> Result<Option<(Request, usize)>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let used = match parsed.parse(data) {
        Ok(httparse::Status::Complete(used)) => used,
        Ok(httparse::Status::Partial) if data.len() >= MAX_HEAD => {
            return Err(HeadError::TooLarge);
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Bad),
    };
    if used > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    let (Some(method), Some(target)) = (parsed.method, parsed.path) else {
        return Err(HeadError::Bad);
    };
    let mut request = Request {
        method: method.to_string(),
        path: target
            .split(['?', '#'])
            .next()
            .unwrap_or_default()
            .to_string(),
        ..Request::default()
    };
    for header in parsed.headers.iter() {
        let value = String::from_utf8_lossy(header.value).trim().to_string();
        let list = || value.split(',').map(|v| v.trim().to_string());
        match header.name.to_ascii_lowercase().as_str() {
            "host" => request.host = Some(value),
            "origin" => request.origin = Some(value),
            "upgrade" => request.upgrade = Some(value.to_ascii_lowercase()),
            "connection" => request
                .connection
                .extend(list().map(|t| t.to_ascii_lowercase())),
            "sec-websocket-key" => request.ws_key = Some(value),
            "sec-websocket-version" => request.ws_version = Some(value),
            "sec-websocket-protocol" => {
                request
                    .ws_protocols
                    .extend(list().filter(|p| !p.is_empty()));
            }
            "accept-encoding" => request.gzip = accepts_gzip(&value),
            _ => {}
        }
    }
    Ok(Some((request, used)))
}

/// Whether an `Accept-Encoding` value allows gzip (and does not refuse it
/// with `q=0`).
fn accepts_gzip(value: &str) -> bool {
    value.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or_default();
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_a_websocket_upgrade() {
        let head = b"GET /chat?x=1 HTTP/1.1\r\nHost: chat.lan:8080\r\nUpgrade: WebSocket\r\n\
            Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
            Sec-WebSocket-Version: 13\r\nOrigin: http://chat.lan:8080\r\n\
            Sec-WebSocket-Protocol: binary.ircv3.net, text.ircv3.net\r\n\r\nleft";
        let (request, used) = parse(head).expect("valid").expect("complete");
        assert_eq!(used, head.len() - 4);
        assert_eq!(request.path, "/chat");
        assert_eq!(request.upgrade.as_deref(), Some("websocket"));
        assert_eq!(request.connection, ["keep-alive", "upgrade"]);
        assert_eq!(request.ws_protocols, ["binary.ircv3.net", "text.ircv3.net"]);
        assert_eq!(request.origin.as_deref(), Some("http://chat.lan:8080"));
    }

    #[test]
    fn waits_for_the_end_of_the_head_and_bounds_it() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n"), Ok(None));
        let mut long = b"GET / HTTP/1.1\r\nX-Pad: ".to_vec();
        long.resize(MAX_HEAD, b'a');
        assert_eq!(parse(&long), Err(HeadError::TooLarge));
        let many: String = (0..60).map(|i| format!("X-{i}: y\r\n")).collect();
        let head = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(parse(head.as_bytes()), Err(HeadError::TooLarge));
        assert_eq!(parse(b"NOT HTTP\r\n\r\n"), Err(HeadError::Bad));
    }

    #[test]
    fn reads_gzip_from_accept_encoding() {
        assert!(accepts_gzip("gzip, deflate, br"));
        assert!(accepts_gzip("br;q=1.0, gzip;q=0.8"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("identity"));
    }
}
