//! The IRC wire format as a client sees it: parsing what the server sends
//! (prefix included, since the prefix says who spoke) and building what the
//! client sends. Pure functions, no I/O.

/// RFC 2812 limits a line to 512 bytes with CRLF; leaving room for the prefix
/// the server puts in front when relaying keeps our text from being cut.
const MAX_TEXT_BYTES: usize = 400;

/// One line from the server, parsed by the daemon's own parser; the methods
/// here are the client's views of it.
#[derive(Debug, PartialEq, Eq)]
pub struct Message<'a>(groupchatd::message::Message<'a>);

impl<'a> std::ops::Deref for Message<'a> {
    type Target = groupchatd::message::Message<'a>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl<'a> Message<'a> {
    /// Parses one line without its line ending; `None` when it holds no command.
    pub fn parse(line: &'a str) -> Option<Self> {
        groupchatd::message::Message::parse(line).map(Message)
    }

    /// Who sent it: the nick part of the prefix (or the whole server name).
    pub fn source(&self) -> &'a str {
        self.prefix.split(['!', '@']).next().unwrap_or(self.prefix)
    }

    /// The parameter at `index`, or `""` when the server left it out, so that
    /// display code can treat a missing parameter like an empty one.
    pub fn param(&self, index: usize) -> &'a str {
        self.params.get(index).copied().unwrap_or("")
    }

    /// The last parameter: the human-readable text of most replies.
    pub fn text(&self) -> &'a str {
        self.params.last().copied().unwrap_or("")
    }
}

/// Builds one outgoing line without its CRLF. Every parameter but the last must
/// be a single word; the last goes out as a trailing parameter so it may hold
/// spaces. Line breaks and NULs are replaced by spaces so that no input can
/// smuggle a second command onto the wire.
pub fn build(command: &str, params: &[&str]) -> String {
    let mut out = String::new();
    groupchatd::message::write_line(&mut out, "", command, params);
    out.truncate(out.trim_end_matches("\r\n").len());
    out
}

/// Splits a long text into pieces that each fit in one PRIVMSG, at character
/// boundaries and preferably at spaces, so that long pastes arrive whole
/// instead of being cut off by the server.
pub fn split_text(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > MAX_TEXT_BYTES {
        let mut cut = MAX_TEXT_BYTES;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if let Some(space) = rest[..cut].rfind(' ').filter(|&s| s > 0) {
            cut = space;
        }
        pieces.push(&rest[..cut]);
        rest = rest[cut..].strip_prefix(' ').unwrap_or(&rest[cut..]);
    }
    pieces.push(rest);
    pieces
}

/// Equality as groupchatd compares nicks and channels (`CASEMAPPING=precis`,
/// which is `ascii` for ASCII names). Other servers' mappings are not
/// followed: `rfc1459`'s `[` = `{` is not, nor Unicode case on `ascii` ones.
pub fn same_name(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    groupchatd::names::fold(a) == groupchatd::names::fold(b)
}

/// Whether a target names a channel rather than a person.
pub fn is_channel(target: &str) -> bool {
    target.starts_with(['#', '&', '+', '!'])
}

/// A channel name as people type it ("dev") made one the server knows
/// ("#dev").
pub fn channel_name(name: &str) -> String {
    if is_channel(name) {
        name.to_string()
    } else {
        format!("#{name}")
    }
}

/// CTCP ACTION (`/me`) as sent inside a PRIVMSG.
pub fn action(text: &str) -> String {
    format!("\x01ACTION {text}\x01")
}

/// The text of a CTCP ACTION, or `None` when the message is not one.
pub fn parse_action(text: &str) -> Option<&str> {
    let inner = text.strip_prefix('\x01')?;
    let inner = inner.strip_suffix('\x01').unwrap_or(inner);
    inner
        .strip_prefix("ACTION")
        .map(|a| a.strip_prefix(' ').unwrap_or(a))
}

/// Whether a PRIVMSG/NOTICE text is a CTCP request (ACTION or otherwise).
pub fn is_ctcp(text: &str) -> bool {
    text.starts_with('\x01')
}

/// One change of a channel MODE line: `+o bob` is `add`, `'o'`, `bob`.
#[derive(Debug, PartialEq, Eq)]
pub struct ModeChange<'a> {
    pub add: bool,
    pub mode: char,
    pub arg: Option<&'a str>,
}

/// The changes of a channel MODE line's parameters (after the channel),
/// each with its argument: list modes, member statuses and the key always
/// take one, the limit only when set, as groupchatd (and most servers)
/// announce them.
pub fn mode_changes<'a>(params: &[&'a str]) -> Vec<ModeChange<'a>> {
    let Some((modes, args)) = params.split_first() else {
        return Vec::new();
    };
    let mut args = args.iter().copied();
    let mut add = true;
    let mut changes = Vec::new();
    for mode in modes.chars() {
        match mode {
            '+' | '-' => add = mode == '+',
            _ => {
                let takes_arg = "beIkovhqa".contains(mode) || (mode == 'l' && add);
                changes.push(ModeChange {
                    add,
                    mode,
                    arg: takes_arg.then(|| args.next()).flatten(),
                });
            }
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_changes_take_their_arguments() {
        let changes = mode_changes(&["+ol-vkm", "bob", "5", "carol", "key"]);
        let shown: Vec<_> = changes.iter().map(|c| (c.add, c.mode, c.arg)).collect();
        assert_eq!(
            shown,
            [
                (true, 'o', Some("bob")),
                (true, 'l', Some("5")),
                (false, 'v', Some("carol")),
                (false, 'k', Some("key")),
                (false, 'm', None)
            ]
        );
        assert!(mode_changes(&[]).is_empty());
    }

    #[test]
    fn names_compare_as_the_server_folds_them() {
        assert!(same_name("Alice", "aLICE"));
        assert!(!same_name("a[b", "a{b"));
        assert!(same_name("JOÃO", "joa\u{303}o"));
        assert!(same_name("#Café", "#CAFÉ"));
        assert!(!same_name("joão", "joao"));
    }

    #[test]
    fn parses_prefix_command_and_params() {
        let m = Message::parse(":bob!b@host PRIVMSG #lobby :hello there").unwrap();
        assert_eq!(m.prefix, "bob!b@host");
        assert_eq!(m.source(), "bob");
        assert_eq!(m.command, "PRIVMSG");
        assert_eq!(m.params, ["#lobby", "hello there"]);
        assert_eq!(m.text(), "hello there");
    }

    #[test]
    fn parses_lines_without_prefix_or_with_tags() {
        let m = Message::parse("PING :irc.local").unwrap();
        assert_eq!((m.prefix, m.command, m.param(0)), ("", "PING", "irc.local"));
        let m = Message::parse("@time=x :srv 001 me :Welcome").unwrap();
        assert_eq!(
            (m.source(), m.command, m.param(1)),
            ("srv", "001", "Welcome")
        );
        assert_eq!(m.param(5), "");
    }

    #[test]
    fn rejects_lines_without_command() {
        assert_eq!(Message::parse(""), None);
        assert_eq!(Message::parse(":only.prefix"), None);
        assert_eq!(Message::parse("   "), None);
    }

    #[test]
    fn builds_with_trailing_parameter_and_no_injection() {
        assert_eq!(
            build("PRIVMSG", &["#a", "hi there"]),
            "PRIVMSG #a :hi there"
        );
        assert_eq!(build("QUIT", &[]), "QUIT");
        assert_eq!(build("NICK", &["x\r\nQUIT"]), "NICK :x  QUIT");
    }

    #[test]
    fn splits_long_text_at_spaces_and_char_boundaries() {
        assert_eq!(split_text("short"), ["short"]);
        let words = "word ".repeat(200);
        let pieces = split_text(words.trim_end());
        assert!(pieces.len() > 1);
        assert!(
            pieces
                .iter()
                .all(|p| p.len() <= MAX_TEXT_BYTES && !p.starts_with(' '))
        );
        assert_eq!(pieces.join(" "), words.trim_end());
        let wide = "é".repeat(500);
        let pieces = split_text(&wide);
        assert_eq!(pieces.concat(), wide);
    }

    #[test]
    fn recognises_actions() {
        assert_eq!(parse_action(&action("waves")), Some("waves"));
        assert_eq!(parse_action("\x01ACTION waves"), Some("waves"));
        assert_eq!(parse_action("\x01VERSION\x01"), None);
        assert_eq!(parse_action("plain"), None);
        assert!(is_ctcp("\x01VERSION\x01"));
    }

    #[test]
    fn channel_names_get_their_hash() {
        assert_eq!(channel_name("dev"), "#dev");
        assert_eq!(channel_name("#dev"), "#dev");
        assert_eq!(channel_name("&local"), "&local");
    }
}
