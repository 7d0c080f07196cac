//! The few bits of the IRC client protocol the harness needs, on raw bytes so
//! that parsing a delivered line costs no allocation.

use std::io::Write;

/// One server line split into its parts; `params` keeps the trailing part
/// unsplit because only PRIVMSG/QUIT/ERROR texts are ever looked into.
pub struct Line<'a> {
    /// IRCv3 message tags, without the `@` (empty when there are none).
    pub tags: &'a [u8],
    pub prefix: &'a [u8],
    pub command: &'a [u8],
    pub params: &'a [u8],
}

pub fn parse(line: &[u8]) -> Line<'_> {
    let (tags, line) = match line.strip_prefix(b"@") {
        Some(t) => split_word(t),
        None => (&b""[..], line),
    };
    let (prefix, rest) = match line.strip_prefix(b":") {
        Some(p) => split_word(p),
        None => (&b""[..], line),
    };
    let (command, params) = split_word(rest);
    Line {
        tags,
        prefix,
        command,
        params,
    }
}

fn split_word(s: &[u8]) -> (&[u8], &[u8]) {
    match s.iter().position(|&b| b == b' ') {
        Some(i) => (&s[..i], trim_spaces(&s[i + 1..])),
        None => (s, &b""[..]),
    }
}

fn trim_spaces(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| b != b' ').unwrap_or(s.len());
    &s[start..]
}

/// The nick part of a `nick!user@host` prefix.
pub fn prefix_nick(prefix: &[u8]) -> &[u8] {
    match prefix.iter().position(|&b| b == b'!') {
        Some(i) => &prefix[..i],
        None => prefix,
    }
}

/// The last parameter: the text after ` :`, or the last word when a server
/// omits the colon (legal for single-word parameters).
pub fn last_param(params: &[u8]) -> &[u8] {
    if let Some(t) = params.strip_prefix(b":") {
        return t;
    }
    if let Some(i) = params.windows(2).position(|w| w == b" :") {
        return &params[i + 2..];
    }
    match params.iter().rposition(|&b| b == b' ') {
        Some(i) => &params[i + 1..],
        None => params,
    }
}

/// The parameters after the first.
pub fn rest_params(params: &[u8]) -> &[u8] {
    split_word(params).1
}

/// The first parameter (a channel or target), without a leading colon.
pub fn first_param(params: &[u8]) -> &[u8] {
    let p = params.strip_prefix(b":").unwrap_or(params);
    split_word(p).0
}

/// The value of tag `key` (escapes left as they are: the harness only
/// reads msgids and batch references, which have none), or `None`.
pub fn tag<'a>(tags: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    tags.split(|&b| b == b';').find_map(|t| {
        let (k, v) = match t.iter().position(|&b| b == b'=') {
            Some(i) => (&t[..i], &t[i + 1..]),
            None => (t, &b""[..]),
        };
        (k == key).then_some(v)
    })
}

/// A decimal msgid (groupchatd's form) as a number.
pub fn msgid(tags: &[u8]) -> Option<u64> {
    tag(tags, b"msgid").and_then(parse_u64)
}

/// What every benchmark message carries in its text, so that each receiver
/// can attribute it, check its order and compute its latency on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    pub round: u32,
    pub sender: u32,
    pub seq: u32,
    pub sent_ns: u64,
}

const MARK: &[u8] = b"GCB";

/// Appends `PRIVMSG <channel> :GCB<round> <sender> <seq> <ns> xxx…` so that the
/// text is `size` bytes long (or just the header when `size` is smaller).
pub fn write_privmsg(out: &mut Vec<u8>, channel: &str, p: Payload, size: usize) {
    out.extend_from_slice(b"PRIVMSG ");
    out.extend_from_slice(channel.as_bytes());
    out.extend_from_slice(b" :");
    let text_start = out.len();
    out.extend_from_slice(MARK);
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{} {} {} {}", p.round, p.sender, p.seq, p.sent_ns);
    let used = out.len() - text_start;
    if size > used + 1 {
        out.push(b' ');
        out.resize(text_start + size, b'x');
    }
    out.extend_from_slice(b"\r\n");
}

pub fn parse_payload(text: &[u8]) -> Option<Payload> {
    let rest = text.strip_prefix(MARK)?;
    let mut words = rest.split(|&b| b == b' ');
    let mut num = || words.next().and_then(parse_u64);
    let round = u32::try_from(num()?).ok()?;
    let sender = u32::try_from(num()?).ok()?;
    let seq = u32::try_from(num()?).ok()?;
    let sent_ns = num()?;
    Some(Payload {
        round,
        sender,
        seq,
        sent_ns,
    })
}

fn parse_u64(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    s.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// Parses the digits after `prefix` in a nick, giving back the client id the
/// harness encoded in it; nicks of other users give `None`.
pub fn nick_id(nick: &[u8], prefix: &str) -> Option<u32> {
    let digits = nick.strip_prefix(prefix.as_bytes())?;
    u32::try_from(parse_u64(digits)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prefix_command_params() {
        let l = parse(b":srv.example 001 gb1 :Welcome");
        assert_eq!(l.prefix, b"srv.example");
        assert_eq!(l.command, b"001");
        assert_eq!(last_param(l.params), b"Welcome");
        let l = parse(b"PING :abc def");
        assert_eq!(l.prefix, b"");
        assert_eq!(l.command, b"PING");
        assert_eq!(l.params, b":abc def");
        let l = parse(b":gb3!~u@h JOIN #bench");
        assert_eq!(prefix_nick(l.prefix), b"gb3");
        assert_eq!(first_param(l.params), b"#bench");
        assert_eq!(last_param(l.params), b"#bench");
        assert_eq!(first_param(b":#bench"), b"#bench");
        let end = parse(b":srv 366 gb1 #lobby :End of /NAMES list");
        assert_eq!(first_param(rest_params(end.params)), b"#lobby");
    }

    #[test]
    fn splits_off_tags() {
        let l = parse(b"@batch=7;msgid=42;time=x :n!u@h PRIVMSG #b :hi there");
        assert_eq!(l.prefix, b"n!u@h");
        assert_eq!(l.command, b"PRIVMSG");
        assert_eq!(tag(l.tags, b"batch"), Some(&b"7"[..]));
        assert_eq!(msgid(l.tags), Some(42));
        assert_eq!(tag(l.tags, b"label"), None);
        assert_eq!(last_param(l.params), b"hi there");
        let l = parse(b"@draft/x :srv BATCH -7");
        assert_eq!(tag(l.tags, b"draft/x"), Some(&b""[..]));
        assert_eq!(l.command, b"BATCH");
        assert_eq!(parse(b"PING :x").tags, b"");
    }

    #[test]
    fn payload_round_trips_at_requested_size() {
        let p = Payload {
            round: 2,
            sender: 7,
            seq: 41,
            sent_ns: 123_456_789,
        };
        let mut out = Vec::new();
        write_privmsg(&mut out, "#b", p, 100);
        let line = out.strip_suffix(b"\r\n").unwrap_or(&out);
        let l = parse(line);
        assert_eq!(l.command, b"PRIVMSG");
        let text = last_param(l.params);
        assert_eq!(text.len(), 100);
        assert_eq!(parse_payload(text), Some(p));
        out.clear();
        write_privmsg(&mut out, "#b", p, 1);
        assert_eq!(parse_payload(last_param(&out[10..out.len() - 2])), Some(p));
    }

    #[test]
    fn rejects_foreign_text_and_nicks() {
        assert_eq!(parse_payload(b"hello"), None);
        assert_eq!(parse_payload(b"GCB1 2 x 4"), None);
        assert_eq!(nick_id(b"gb12", "gb"), Some(12));
        assert_eq!(nick_id(b"alice", "gb"), None);
    }
}
