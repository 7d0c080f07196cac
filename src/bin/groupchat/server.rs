//! Which server to talk to, and whether over TLS, from what the person typed:
//! `HOST[:PORT]`, `irc://HOST[:PORT]` or `ircs://HOST[:PORT]`, with `--tls`.
//!
//! The rules follow IRC custom: plain IRC is on 6667 and TLS on 6697, so a
//! bare port 6697 means TLS. An explicit scheme wins over the port, and
//! asking for TLS with an `irc://` URL is an error rather than a guess: the
//! client never falls back to plaintext behind the person's back.

/// The customary port of plain IRC.
const PLAIN_PORT: u16 = 6667;
/// The customary port of IRC over TLS (RFC 7194).
const TLS_PORT: u16 = 6697;

#[derive(Debug, PartialEq, Eq)]
pub struct Server {
    /// The host as typed, without IPv6 brackets: the name the server's
    /// certificate must carry.
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

impl Server {
    /// Reads the server argument; `want_tls` is whether the command line
    /// asked for TLS (`--tls` or `--ca`).
    pub fn parse(arg: &str, want_tls: bool) -> Result<Server, String> {
        let (scheme_tls, rest) = match arg.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("ircs") => (Some(true), rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("irc") => (Some(false), rest),
            Some((scheme, _)) => {
                return Err(format!(
                    "{arg}: unknown scheme {scheme}:// (irc:// or ircs://)"
                ));
            }
            None => (None, arg),
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains('/') {
            return Err(format!(
                "{arg}: only HOST[:PORT] is understood after the scheme (a channel goes in --channel)"
            ));
        }
        if scheme_tls == Some(false) && want_tls {
            return Err(format!(
                "{arg} is plain IRC, but TLS was asked for: use ircs:// instead"
            ));
        }
        let default_port = if scheme_tls.unwrap_or(want_tls) {
            TLS_PORT
        } else {
            PLAIN_PORT
        };
        let (host, port) = split_host_port(rest);
        let port = match port {
            None => default_port,
            Some(p) => p
                .parse()
                .map_err(|_| format!("{arg}: {p:?} is not a port number"))?,
        };
        if host.is_empty() {
            return Err(format!("{arg}: no host name"));
        }
        Ok(Server {
            host: host.to_string(),
            port,
            tls: scheme_tls.unwrap_or(want_tls || port == TLS_PORT),
        })
    }

    /// `HOST:PORT` as `to_socket_addrs` and messages take it, IPv6 literals
    /// in brackets.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Splits `HOST[:PORT]`, where HOST may be an IPv6 literal, bare (`::1`, no
/// port then) or in brackets (`[::1]:6697`).
fn split_host_port(text: &str) -> (&str, Option<&str>) {
    if let Some(inner) = text.strip_prefix('[') {
        return match inner.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => (inner, None),
        };
    }
    match text.split_once(':') {
        Some((host, port)) if !port.contains(':') => (host, Some(port)),
        _ => (text, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(arg: &str, want_tls: bool) -> (String, bool) {
        let server = Server::parse(arg, want_tls).unwrap();
        (server.addr(), server.tls)
    }

    #[test]
    fn host_and_port() {
        let plain = |addr: &str| (addr.to_string(), false);
        assert_eq!(parse("example.org", false), plain("example.org:6667"));
        assert_eq!(parse("127.0.0.1:7000", false), plain("127.0.0.1:7000"));
        assert_eq!(parse("::1", false), plain("[::1]:6667"));
        assert_eq!(parse("[::1]", false), plain("[::1]:6667"));
        assert_eq!(parse("[::1]:7000", false), plain("[::1]:7000"));
        assert_eq!(Server::parse("[::1]:7000", false).unwrap().host, "::1");
    }

    #[test]
    fn tls_from_the_flag_the_scheme_or_the_port() {
        let tls = |addr: &str| (addr.to_string(), true);
        assert_eq!(parse("example.org", true), tls("example.org:6697"));
        assert_eq!(parse("example.org:7000", true), tls("example.org:7000"));
        assert_eq!(parse("ircs://example.org", false), tls("example.org:6697"));
        assert_eq!(parse("ircs://[::1]:7000/", true), tls("[::1]:7000"));
        assert_eq!(parse("example.org:6697", false), tls("example.org:6697"));
        assert_eq!(
            parse("irc://example.org", false),
            ("example.org:6667".to_string(), false)
        );
        // An explicit scheme wins over the port's custom.
        assert_eq!(
            parse("irc://example.org:6697", false),
            ("example.org:6697".to_string(), false)
        );
    }

    #[test]
    fn contradictions_and_garbage_are_refused() {
        assert!(Server::parse("irc://example.org", true).is_err());
        assert!(Server::parse("https://example.org", false).is_err());
        assert!(Server::parse("ircs://example.org/rust", false).is_err());
        assert!(Server::parse("example.org:http", false).is_err());
        assert!(Server::parse("example.org:70000", false).is_err());
        assert!(Server::parse("ircs://", false).is_err());
        assert!(Server::parse(":6667", false).is_err());
    }
}
