//! What the daemon answers to an HTTP request: a WebSocket upgrade (the
//! IRCv3 WebSocket subprotocols), the health check, the metrics, the web
//! client's files, or an error status. Pure: the caller gives it what it
//! needs to know and writes out the answer.

use super::assets;
use super::http::Request;
use crate::config::{AddrRange, WebConfig};
use std::net::IpAddr;

/// The page's policy: only our own scripts, styles and sockets.
const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; \
    style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// How messages travel on an upgraded connection (IRCv3 WebSocket).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subprotocol {
    /// `text.ircv3.net`, or nothing agreed: text frames, UTF-8 only.
    Text,
    /// `binary.ircv3.net`: binary frames, any bytes but CR, LF and NUL.
    Binary,
}

/// The answer to a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// Switch to WebSocket: the 101 response, and how messages travel.
    Upgrade {
        response: Vec<u8>,
        subprotocol: Subprotocol,
    },
    /// A plain HTTP response, after which the connection closes; `status`
    /// for the access log.
    Respond { status: u16, response: Vec<u8> },
}

/// What routing needs besides the request.
pub struct Context<'a> {
    pub web: &'a WebConfig,
    pub peer: IpAddr,
}

/// Answers `request`; `metrics` renders `/metrics`, only when it is served.
pub fn route(request: &Request, context: &Context<'_>, metrics: impl FnOnce() -> String) -> Reply {
    let head = request.method == "HEAD";
    if request.upgrade.is_some() || request.ws_key.is_some() || has_token(request, "upgrade") {
        return upgrade(request, context);
    }
    if request.method != "GET" && !head {
        return error(405, "Method Not Allowed", &[("Allow", "GET, HEAD")], false);
    }
    let (content_type, body): (&str, Vec<u8>) = match request.path.as_str() {
        "/healthz" => ("text/plain; charset=utf-8", b"ok\n".to_vec()),
        "/metrics" if allowed(&context.web.metrics_from, context.peer) => (
            "text/plain; version=0.0.4; charset=utf-8",
            metrics().into_bytes(),
        ),
        "/metrics" => return error(403, "Forbidden", &[], head),
        path => match assets::get(path) {
            Some(asset) => return file(asset, request.gzip, head),
            None => return error(404, "Not Found", &[], head),
        },
    };
    let headers = [
        ("Content-Type", content_type),
        ("Cache-Control", "no-store"),
    ];
    respond(200, "OK", &headers, &body, head)
}

/// The WebSocket handshake (RFC 6455 section 4.2), checked in the order a
/// client can best act on.
fn upgrade(request: &Request, context: &Context<'_>) -> Reply {
    if request.method != "GET" {
        return error(405, "Method Not Allowed", &[("Allow", "GET")], false);
    }
    if request.upgrade.as_deref() != Some("websocket") || !has_token(request, "upgrade") {
        return error(400, "Bad Request", &[], false);
    }
    if request.ws_version.as_deref() != Some("13") {
        return error(
            426,
            "Upgrade Required",
            &[("Sec-WebSocket-Version", "13")],
            false,
        );
    }
    let Some(key) = request.ws_key.as_deref().filter(|k| valid_key(k)) else {
        return error(400, "Bad Request", &[], false);
    };
    if let Some(origin) = &request.origin
        && !origin_allowed(origin, request.host.as_deref(), context)
    {
        return error(403, "Forbidden", &[], false);
    }
    let chosen = request.ws_protocols.iter().find_map(|p| match p.as_str() {
        "text.ircv3.net" => Some((Subprotocol::Text, p)),
        "binary.ircv3.net" => Some((Subprotocol::Binary, p)),
        _ => None,
    });
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n"
    );
    if let Some((_, name)) = chosen {
        response.push_str(&format!("Sec-WebSocket-Protocol: {name}\r\n"));
    }
    response.push_str("\r\n");
    Reply::Upgrade {
        response: response.into_bytes(),
        subprotocol: chosen.map_or(Subprotocol::Text, |(p, _)| p),
    }
}

fn has_token(request: &Request, token: &str) -> bool {
    request.connection.iter().any(|t| t == token)
}

/// A key is 16 random bytes in base64: 24 characters ending in `==`.
fn valid_key(key: &str) -> bool {
    key.len() == 24
        && key.ends_with("==")
        && key[..22]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// Whether a page from `origin` may open a socket: listed (or `*`), or,
/// with no list, the daemon's own origin: the page came from the Host
/// the request is addressed to. Checked because a browser lets any page
/// open a WebSocket to any server; only the Origin tells them apart.
pub fn origin_allowed(origin: &str, host: Option<&str>, context: &Context<'_>) -> bool {
    let listed = &context.web.allowed_origins;
    if !listed.is_empty() {
        return listed
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin));
    }
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => ":80",
        "https" => ":443",
        _ => return false,
    };
    let normal = |a: &str| {
        let a = a.to_ascii_lowercase();
        a.strip_suffix(default_port)
            .map(str::to_string)
            .unwrap_or(a)
    };
    host.is_some_and(|host| normal(host) == normal(authority))
}

fn allowed(ranges: &[AddrRange], peer: IpAddr) -> bool {
    ranges.iter().any(|r| r.contains(peer))
}

fn file(asset: assets::Asset, gzip_ok: bool, head: bool) -> Reply {
    let mut headers = vec![
        ("Content-Type", asset.content_type),
        ("Content-Security-Policy", CSP),
        ("Cache-Control", "no-cache"),
        ("Vary", "Accept-Encoding"),
    ];
    let body = match asset.gzip {
        Some(gzip) if gzip_ok => {
            headers.push(("Content-Encoding", "gzip"));
            gzip
        }
        _ => asset.body,
    };
    respond(200, "OK", &headers, body, head)
}

/// An error page; for a HEAD request only its head, as for any answer
/// to HEAD (RFC 9110, 9.3.2).
fn error(status: u16, text: &str, extra: &[(&str, &str)], head: bool) -> Reply {
    let mut headers = vec![("Content-Type", "text/plain; charset=utf-8")];
    headers.extend_from_slice(extra);
    let body = format!("{status} {text}\n");
    respond(status, text, &headers, body.as_bytes(), head)
}

/// Answers that need no request: a head too large or malformed, or too slow.
pub fn refusal(status: u16) -> Vec<u8> {
    let text = match status {
        400 => "Bad Request",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    };
    match error(status, text, &[], false) {
        Reply::Respond { response, .. } | Reply::Upgrade { response, .. } => response,
    }
}

/// A whole response: every one carries the hardening headers and closes
/// the connection (no keep-alive: a page load is a handful of requests).
fn respond(status: u16, text: &str, headers: &[(&str, &str)], body: &[u8], head: bool) -> Reply {
    let mut response = format!("HTTP/1.1 {status} {text}\r\n");
    for (name, value) in headers {
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str(&format!(
        "Content-Length: {}\r\nX-Content-Type-Options: nosniff\r\n\
         Referrer-Policy: no-referrer\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    let mut response = response.into_bytes();
    if !head {
        response.extend_from_slice(body);
    }
    Reply::Respond { status, response }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(lines: &str) -> Request {
        let head = format!("{lines}\r\n\r\n")
            .replace('\n', "\r\n")
            .replace("\r\r", "\r");
        super::super::http::parse(head.as_bytes())
            .expect("valid")
            .expect("complete")
            .0
    }

    fn answer(web: &WebConfig, peer: &str, lines: &str) -> (u16, String) {
        let context = Context {
            web,
            peer: peer.parse().expect("ip"),
        };
        match route(&request(lines), &context, || "metrics here\n".into()) {
            Reply::Upgrade { response, .. } => (101, String::from_utf8_lossy(&response).into()),
            Reply::Respond { status, response } => {
                (status, String::from_utf8_lossy(&response).into())
            }
        }
    }

    const UPGRADE: &str = "GET / HTTP/1.1\nHost: chat.lan:8080\nUpgrade: websocket\n\
        Connection: Upgrade\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13";

    #[test]
    fn upgrades_with_the_first_supported_subprotocol() {
        let web = WebConfig::default();
        let (status, text) = answer(
            &web,
            "192.0.2.1",
            &format!("{UPGRADE}\nSec-WebSocket-Protocol: foo, binary.ircv3.net, text.ircv3.net"),
        );
        assert_eq!(status, 101, "{text}");
        // The RFC 6455 example key and its answer.
        assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(
            text.contains("Sec-WebSocket-Protocol: binary.ircv3.net\r\n"),
            "{text}"
        );
        let (_, text) = answer(&web, "192.0.2.1", UPGRADE);
        assert!(!text.contains("Sec-WebSocket-Protocol"), "{text}");
    }

    #[test]
    fn checks_version_key_and_origin() {
        let web = WebConfig::default();
        let (status, text) = answer(&web, "::1", &UPGRADE.replace(": 13", ": 8"));
        assert_eq!(status, 426);
        assert!(text.contains("Sec-WebSocket-Version: 13\r\n"));
        let no_upgrade = UPGRADE.replace("Upgrade: websocket\n", "");
        assert_eq!(answer(&web, "::1", &no_upgrade).0, 400);
        let bad_key = UPGRADE.replace("dGhlIHNhbXBsZSBub25jZQ==", "short");
        assert_eq!(answer(&web, "::1", &bad_key).0, 400);
        for (origin, status) in [
            ("http://chat.lan:8080", 101),
            ("HTTP://Chat.Lan:8080", 101),
            ("https://chat.lan:8080", 101),
            ("http://evil.example:8080", 403),
            ("http://chat.lan", 403),
            ("null", 403),
        ] {
            let lines = format!("{UPGRADE}\nOrigin: {origin}");
            assert_eq!(answer(&web, "::1", &lines).0, status, "{origin}");
        }
        let default_port = "GET / HTTP/1.1\nHost: chat.lan\nOrigin: https://chat.lan:443\n\
            Upgrade: websocket\nConnection: Upgrade\n\
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13";
        assert_eq!(answer(&web, "::1", default_port).0, 101);
        let listed = WebConfig {
            allowed_origins: vec!["https://app.example".into()],
            ..WebConfig::default()
        };
        let lines = format!("{UPGRADE}\nOrigin: https://app.example");
        assert_eq!(answer(&listed, "::1", &lines).0, 101);
        let lines = format!("{UPGRADE}\nOrigin: http://chat.lan:8080");
        assert_eq!(answer(&listed, "::1", &lines).0, 403);
        let any = WebConfig {
            allowed_origins: vec!["*".into()],
            ..WebConfig::default()
        };
        let lines = format!("{UPGRADE}\nOrigin: https://anything.example");
        assert_eq!(answer(&any, "::1", &lines).0, 101);
    }

    #[test]
    fn serves_health_metrics_and_files() {
        let web = WebConfig::default();
        let (status, text) = answer(&web, "127.0.0.1", "GET /healthz HTTP/1.1\nHost: x");
        assert_eq!(status, 200);
        assert!(text.ends_with("\r\n\r\nok\n") && text.contains("Connection: close"));
        let (status, text) = answer(&web, "127.0.0.1", "GET /metrics HTTP/1.1");
        assert_eq!((status, text.ends_with("metrics here\n")), (200, true));
        assert_eq!(answer(&web, "192.0.2.1", "GET /metrics HTTP/1.1").0, 403);
        let (status, text) = answer(&web, "192.0.2.1", "GET / HTTP/1.1");
        assert_eq!(status, 200);
        for header in [
            "Content-Security-Policy: default-src 'self'; connect-src 'self' ws: wss:;",
            "X-Content-Type-Options: nosniff",
            "Referrer-Policy: no-referrer",
            "Content-Type: text/html",
        ] {
            assert!(text.contains(header), "{header}: {text}");
        }
        let (status, text) = answer(&web, "192.0.2.1", "HEAD / HTTP/1.1");
        assert!(status == 200 && text.ends_with("\r\n\r\n"), "{text}");
        assert_eq!(answer(&web, "192.0.2.1", "GET /nothing HTTP/1.1").0, 404);
        // An error answer to HEAD is a head too, its length still told.
        let (status, text) = answer(&web, "192.0.2.1", "HEAD /nothing HTTP/1.1");
        assert!(
            status == 404 && text.ends_with("Connection: close\r\n\r\n"),
            "{text}"
        );
        assert!(text.contains("Content-Length: 14\r\n"), "{text}");
        let (status, text) = answer(&web, "192.0.2.1", "HEAD /metrics HTTP/1.1");
        assert!(status == 403 && text.ends_with("\r\n\r\n"), "{text}");
        let (status, text) = answer(&web, "192.0.2.1", "POST / HTTP/1.1");
        assert!(
            status == 405 && text.contains("Allow: GET, HEAD\r\n"),
            "{text}"
        );
    }
}
