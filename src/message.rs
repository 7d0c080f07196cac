//! IRC lines: parsing what clients send and building what the server sends.
//!
//! Pure functions, no I/O. A parsed [`Message`] borrows from the input line so
//! the hot path does not allocate per parameter; outgoing lines are built once
//! into a shared [`Line`] that every recipient's queue holds by reference.

use std::fmt::Write as _;
use std::rc::Rc;

/// Bytes of one outgoing line, CRLF included, shared by every recipient.
pub type Line = Rc<[u8]>;

/// RFC 1459/2812: the longest line, CRLF included.
pub const MAX_LINE: usize = 512;

/// RFC 2812 allows at most 15 parameters; extra words fold into the last one.
const MAX_PARAMS: usize = 15;

/// One IRC line. The server ignores any prefix a client sends (relayed
/// lines carry a prefix the server builds itself); a client reads it to
/// know who spoke.
#[derive(Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// IRCv3 message tags as sent, without the `@` (see [`crate::tags`]);
    /// empty when the line has none.
    pub tags: &'a str,
    /// `nick!user@host` or a server name; empty when the line has none.
    pub prefix: &'a str,
    pub command: &'a str,
    pub params: Vec<&'a str>,
}

impl<'a> Message<'a> {
    /// Parses one line without its line ending. Returns `None` for a line that
    /// holds no command (empty, blanks, or only a prefix), which IRC servers
    /// ignore silently.
    pub fn parse(line: &'a str) -> Option<Message<'a>> {
        let mut rest = line.trim_start_matches(' ');
        let mut tags = "";
        if let Some(t) = rest.strip_prefix('@') {
            (tags, rest) = split_word(t);
        }
        rest = rest.trim_start_matches(' ');
        let mut prefix = "";
        if let Some(p) = rest.strip_prefix(':') {
            (prefix, rest) = split_word(p);
        }
        let (command, mut rest) = split_word(rest.trim_start_matches(' '));
        if command.is_empty() {
            return None;
        }
        let mut params = Vec::new();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                params.push(trailing);
                break;
            }
            if params.len() == MAX_PARAMS - 1 {
                params.push(rest);
                break;
            }
            let (word, after) = split_word(rest);
            params.push(word);
            rest = after;
        }
        Some(Message {
            tags,
            prefix,
            command,
            params,
        })
    }

    /// The parameter at `index`, if the client sent it and it is not empty.
    pub fn param(&self, index: usize) -> Option<&'a str> {
        self.params.get(index).copied().filter(|p| !p.is_empty())
    }
}

fn split_word(s: &str) -> (&str, &str) {
    s.split_once(' ').unwrap_or((s, ""))
}

/// Builds one outgoing line. Every parameter but the last must be a single
/// word; the last is sent as a trailing parameter (`:` prefixed) so it may hold
/// spaces or be empty. Line breaks and NULs in any parameter are replaced by
/// spaces, so a relayed text can never inject a second line, and a line that
/// would be longer than [`MAX_LINE`] is cut at its end (see [`write_line`]).
pub fn build(prefix: &str, command: &str, params: &[&str]) -> Line {
    let mut out = String::with_capacity(
        prefix.len() + command.len() + params.iter().map(|p| p.len() + 2).sum::<usize>() + 4,
    );
    write_line(&mut out, prefix, command, params);
    Rc::from(out.into_bytes())
}

/// Appends one line (CRLF included) to `out`; see [`build`].
///
/// A client may send a text of up to 512 bytes, and relaying it puts the
/// sender's `nick!user@host` in front, as echoing a word back in a numeric
/// puts the server name and target in front: the result can be longer than
/// IRC allows, and clients may drop or split such a line. Like other servers,
/// the end is cut (on a character boundary) so it stays within [`MAX_LINE`].
pub fn write_line(out: &mut String, prefix: &str, command: &str, params: &[&str]) {
    let start = out.len();
    if !prefix.is_empty() {
        out.push(':');
        out.push_str(prefix);
        out.push(' ');
    }
    out.push_str(command);
    write_params(out, start, params);
}

/// Builds a numeric reply: `:server NNN target params…`.
pub fn numeric(server: &str, code: u16, target: &str, params: &[&str]) -> Line {
    let mut out = String::with_capacity(64);
    let _ = write!(out, ":{server} {code:03} {target}");
    write_params(&mut out, 0, params);
    Rc::from(out.into_bytes())
}

/// Writes the parameters and the CRLF of the line that starts at `start`.
fn write_params(out: &mut String, start: usize, params: &[&str]) {
    if let Some((last, middle)) = params.split_last() {
        for p in middle {
            out.push(' ');
            push_clean(out, p);
        }
        out.push_str(" :");
        push_clean(out, last);
    }
    let mut end = start + MAX_LINE - 2;
    if out.len() > end {
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    out.push_str("\r\n");
}

fn push_clean(out: &mut String, text: &str) {
    // Bytes, not chars: the three are ASCII, and a byte scan is a tight
    // loop where a char pattern decodes every character.
    if text.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) {
        out.extend(text.chars().map(|c| {
            if matches!(c, '\r' | '\n' | '\0') {
                ' '
            } else {
                c
            }
        }));
    } else {
        out.push_str(text);
    }
}

/// Commands whose parameters are credentials: `PASS` (the server
/// password), `AUTHENTICATE` (SASL, a password in base64) and `REGISTER`.
const SECRET_COMMANDS: [&str; 3] = ["PASS", "AUTHENTICATE", "REGISTER"];

/// A client's line as a log line may show it: as it came, except that the
/// parameters of a command carrying credentials are replaced by `<hidden>`,
/// so that even trace-level logs never hold a password.
pub fn loggable(line: &[u8]) -> std::borrow::Cow<'_, str> {
    let text = String::from_utf8_lossy(line);
    let mut words = text.split(' ').filter(|w| !w.is_empty());
    let mut shown: Vec<&str> = Vec::new();
    let mut word = words.next();
    for mark in ['@', ':'] {
        if let Some(w) = word.filter(|w| w.starts_with(mark)) {
            shown.push(w);
            word = words.next();
        }
    }
    match word {
        Some(command)
            if SECRET_COMMANDS
                .iter()
                .any(|c| c.eq_ignore_ascii_case(command)) =>
        {
            shown.push(command);
            shown.push("<hidden>");
            std::borrow::Cow::Owned(shown.join(" "))
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> (String, Vec<String>) {
        let m = Message::parse(line).expect("a command");
        (
            m.command.to_string(),
            m.params.iter().map(|p| p.to_string()).collect(),
        )
    }

    #[test]
    fn parses_command_and_params() {
        assert_eq!(
            parse("PRIVMSG #lobby :hello there"),
            (
                "PRIVMSG".into(),
                vec!["#lobby".into(), "hello there".into()]
            )
        );
        assert_eq!(parse("NICK alice"), ("NICK".into(), vec!["alice".into()]));
        assert_eq!(parse("QUIT"), ("QUIT".into(), vec![]));
    }

    #[test]
    fn separates_tags_and_prefix() {
        let line = ":evil!x@y PRIVMSG bob :hi";
        assert_eq!(Message::parse(line).map(|m| m.prefix), Some("evil!x@y"));
        assert_eq!(
            parse(":evil!x@y PRIVMSG bob :hi"),
            ("PRIVMSG".into(), vec!["bob".into(), "hi".into()])
        );
        assert_eq!(
            parse("@time=1 :a PING x"),
            ("PING".into(), vec!["x".into()])
        );
        let m = Message::parse("@+a=1;label=x  TAGMSG #c").expect("a command");
        assert_eq!((m.tags, m.command), ("+a=1;label=x", "TAGMSG"));
    }

    #[test]
    fn tolerates_extra_spaces_and_empty_trailing() {
        assert_eq!(
            parse("  USER  u 0   * :Real Name "),
            (
                "USER".into(),
                vec!["u".into(), "0".into(), "*".into(), "Real Name ".into()]
            )
        );
        assert_eq!(
            parse("TOPIC #c :"),
            ("TOPIC".into(), vec!["#c".into(), "".into()])
        );
    }

    #[test]
    fn empty_lines_hold_no_command() {
        assert_eq!(Message::parse(""), None);
        assert_eq!(Message::parse("   "), None);
        assert_eq!(Message::parse(":prefix-only"), None);
    }

    #[test]
    fn folds_params_past_fifteen_into_the_last() {
        let line = (1..=20)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        let line = format!("CMD {line}");
        let m = Message::parse(&line).expect("a command");
        assert_eq!(m.params.len(), 15);
        assert_eq!(m.params[14], "15 16 17 18 19 20");
    }

    #[test]
    fn builds_lines_with_trailing_param() {
        let line = build("a!u@h", "PRIVMSG", &["#c", "hi there"]);
        assert_eq!(&*line, b":a!u@h PRIVMSG #c :hi there\r\n");
        let line = build("", "PING", &["srv"]);
        assert_eq!(&*line, b"PING :srv\r\n");
    }

    #[test]
    fn built_lines_cannot_carry_a_second_line() {
        let line = build("a!u@h", "PRIVMSG", &["#c", "x\r\nQUIT :pwned\0"]);
        assert_eq!(&*line, b":a!u@h PRIVMSG #c :x  QUIT :pwned \r\n");
    }

    #[test]
    fn over_long_lines_are_cut_to_512_bytes_on_a_char_boundary() {
        // 33 bytes of prefix, command and target, 476 ASCII bytes, then
        // two-byte characters: byte 510, where the cut goes, is inside one.
        let text = format!("{}{}", "x".repeat(476), "é".repeat(20));
        let line = build("nick!user@127.0.0.1", "PRIVMSG", &["#c", &text]);
        assert_eq!(line.len(), MAX_LINE - 1, "the split character is left out");
        let text = std::str::from_utf8(&line).expect("still UTF-8");
        assert!(text.starts_with(":nick!user@127.0.0.1 PRIVMSG #c :xxx"));
        assert!(text.ends_with("x\r\n"));
        let reply = numeric("srv", 421, "nick", &[&"y".repeat(600), "Unknown command"]);
        assert_eq!(reply.len(), MAX_LINE);
        assert!(reply.ends_with(b"yyy\r\n"));
        // write_line cuts the line it appends, not what was there before.
        let mut out = "z".repeat(600);
        write_line(&mut out, "", "PRIVMSG", &["#c", &"w".repeat(600)]);
        assert_eq!(out.len(), 600 + MAX_LINE);
    }

    #[test]
    fn numerics_are_three_digits() {
        let line = numeric("srv", 1, "alice", &["Welcome"]);
        assert_eq!(&*line, b":srv 001 alice :Welcome\r\n");
    }

    #[test]
    fn built_lines_parse_back() {
        let line = build("n!u@h", "PRIVMSG", &["#chan", "some text: with colon"]);
        let text = std::str::from_utf8(&line).expect("utf8");
        let m = Message::parse(text.trim_end()).expect("a command");
        assert_eq!(m.command, "PRIVMSG");
        assert_eq!(m.params, vec!["#chan", "some text: with colon"]);
    }

    #[test]
    fn credentials_are_hidden_from_logs() {
        assert_eq!(loggable(b"PRIVMSG #a :hi"), "PRIVMSG #a :hi");
        assert_eq!(
            loggable(b"AUTHENTICATE AGFsaWNlAHB3"),
            "AUTHENTICATE <hidden>"
        );
        assert_eq!(
            loggable(b"register * * hunter2hunter2"),
            "register <hidden>"
        );
        assert_eq!(loggable(b"@label=1 PASS secret"), "@label=1 PASS <hidden>");
        assert_eq!(loggable(b":me PASS :a secret"), ":me PASS <hidden>");
        assert_eq!(loggable(b"PASSWORDS are fine"), "PASSWORDS are fine");
    }
}
