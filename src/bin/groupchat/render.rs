//! IRC line -> what the person sees. Pure: the caller supplies the clock text
//! and whether colors are wanted, so every case is unit-testable.

use crate::irc::{self, Message, ModeChange};
use crate::members::Members;

/// One line for the person, before the time and colors are added.
#[derive(Debug, PartialEq, Eq)]
pub enum Shown {
    /// Someone speaking (or, with `action`, acting with `/me`) in a channel.
    /// `channel` is set only when it is not the one the person is talking in,
    /// so the usual case stays uncluttered; `mention` when the text names the
    /// person, so it stands out.
    Chat {
        channel: Option<String>,
        nick: String,
        text: String,
        action: bool,
        mention: bool,
    },
    /// A private message (or `/me`) to the person from `nick`.
    Private {
        nick: String,
        text: String,
        action: bool,
    },
    /// A private message the person sent to `to`.
    PrivateSent {
        to: String,
        nick: String,
        text: String,
    },
    /// Who joined, left, renamed, changed the topic.
    Event(String),
    /// A NOTICE from a person or a service.
    Notice { from: String, text: String },
    /// Informational replies from the server and the client's own status.
    Info(String),
    /// Error replies (numerics 4xx/5xx) and failures.
    Error(String),
    /// A line from the server's history (played back on joining, or missed
    /// while disconnected), said at `ms` (Unix milliseconds, when the
    /// server gave the time): shown with that time and dimmed, so it never
    /// passes for something said just now.
    Past { ms: Option<i64>, line: Box<Shown> },
}

/// Whose eyes the line is for: the person's own nick and current channel
/// decide between "you joined" and "bob joined", and whether to name the
/// channel; the members' statuses put `@` or `+` before a speaker's nick.
pub struct View<'a> {
    pub me: &'a str,
    pub current: Option<&'a str>,
    pub members: &'a Members,
}

impl View<'_> {
    pub fn other_channel(&self, channel: &str) -> Option<String> {
        match self.current {
            Some(c) if irc::same_name(c, channel) => None,
            _ => Some(channel.to_string()),
        }
    }

    /// `nick` as shown speaking in `channel`: with its `@` or `+`.
    pub fn speaker(&self, channel: &str, nick: &str) -> String {
        format!("{}{nick}", self.members.prefix(channel, nick))
    }

    fn is_me(&self, nick: &str) -> bool {
        irc::same_name(self.me, nick)
    }

    /// `" {word}#channel"` when it is not the current channel, else "".
    fn where_(&self, word: &str, channel: &str) -> String {
        self.other_channel(channel)
            .map(|c| format!(" {word}{c}"))
            .unwrap_or_default()
    }
}

/// What a server line shows, or `None` for protocol chatter nobody needs to
/// read (PING, capability lists, statistics).
pub fn render(msg: &Message, view: &View) -> Option<Shown> {
    let who = msg.source();
    let p = |i| msg.param(i);
    let shown = match msg.command {
        "PRIVMSG" => return render_privmsg(msg, view),
        "NOTICE" if irc::is_ctcp(msg.text()) => return None,
        "NOTICE" => Shown::Notice {
            from: if who.is_empty() { "server" } else { who }.to_string(),
            text: msg.text().to_string(),
        },
        "JOIN" if view.is_me(who) => Shown::Event(format!("you joined {}", p(0))),
        "JOIN" => Shown::Event(format!("{who} joined{}", view.where_("", p(0)))),
        "PART" if view.is_me(who) => Shown::Event(format!("you left {}", p(0))),
        "PART" => Shown::Event(format!(
            "{who} left{}{}",
            view.where_("", p(0)),
            reason(msg.params.get(1).copied())
        )),
        "QUIT" => Shown::Event(format!("{who} left{}", reason(msg.params.first().copied()))),
        "NICK" if view.is_me(who) => Shown::Event(format!("you are now known as {}", p(0))),
        "NICK" => Shown::Event(format!("{who} is now known as {}", p(0))),
        "TOPIC" if p(1).is_empty() => Shown::Event(format!(
            "{who} cleared the topic{}",
            view.where_("of ", p(0))
        )),
        "TOPIC" => Shown::Event(format!(
            "{who} changed the topic{} to: {}",
            view.where_("of ", p(0)),
            p(1)
        )),
        "KICK" if view.is_me(p(1)) => Shown::Event(format!(
            "you were kicked from {} by {who}{}",
            p(0),
            reason(msg.params.get(2).copied())
        )),
        "KICK" => Shown::Event(format!(
            "{who} kicked {}{}{}",
            p(1),
            view.where_("from ", p(0)),
            reason(msg.params.get(2).copied())
        )),
        "INVITE" => Shown::Event(format!("{who} invites you to {}", p(1))),
        "MODE" if irc::is_channel(p(0)) => {
            let changes: Vec<String> = irc::mode_changes(&msg.params[1..])
                .iter()
                .map(describe_mode)
                .collect();
            Shown::Event(format!(
                "{who} {}{}",
                changes.join(", "),
                view.where_("in ", p(0))
            ))
        }
        "ERROR" => Shown::Info(msg.text().to_string()),
        // IRCv3 standard replies: `FAIL COMMAND CODE [context…] :text`.
        "FAIL" => Shown::Error(format!("{} failed: {}", p(0), msg.text())),
        "001" | "372" => Shown::Info(msg.text().trim_start_matches("- ").to_string()),
        "900" | "903" => Shown::Info(msg.text().to_string()),
        "902" | "904" | "905" | "906" => Shown::Error(format!("login failed: {}", msg.text())),
        "908" => Shown::Info(format!("the server offers logins by: {}", p(1))),
        "301" => Shown::Info(format!("{} is away: {}", p(1), msg.text())),
        "331" => Shown::Event(format!("{} has no topic", p(1))),
        "332" => Shown::Event(format!("topic of {}: {}", p(1), msg.text())),
        // Welcome details, statistics, MOTD frame, "no MOTD", topic setter:
        // noise for a chat. 353/366 and 352/315 are gathered by the session.
        "002" | "003" | "004" | "005" | "333" | "353" | "366" | "352" | "315" | "375" | "376"
        | "422" => return None,
        code if code.len() == 3 && code.starts_with(['4', '5']) => Shown::Error(error_text(msg)),
        code if code.len() == 3 && code.starts_with('2') => return None,
        code if code.bytes().all(|b| b.is_ascii_digit()) => {
            Shown::Info(msg.params[1.min(msg.params.len())..].join(" "))
        }
        _ => return None,
    };
    Some(shown)
}

fn render_privmsg(msg: &Message, view: &View) -> Option<Shown> {
    let nick = msg.source().to_string();
    let (target, raw) = (msg.param(0), msg.text());
    let (action, text) = match irc::parse_action(raw) {
        Some(a) => (true, a),
        None if irc::is_ctcp(raw) => return None,
        None => (false, raw),
    };
    let text = text.to_string();
    Some(if irc::is_channel(target) {
        Shown::Chat {
            channel: view.other_channel(target),
            mention: !view.is_me(&nick) && mentions(&text, view.me),
            nick: view.speaker(target, &nick),
            text,
            action,
        }
    } else if view.is_me(&nick) && !view.is_me(target) {
        // Our own private message, echoed back (echo-message).
        Shown::PrivateSent {
            to: target.to_string(),
            nick,
            text,
        }
    } else {
        Shown::Private { nick, text, action }
    })
}

/// One channel mode change in words: "gave bob operator status".
fn describe_mode(change: &ModeChange) -> String {
    let arg = change.arg.unwrap_or("");
    match (change.add, change.mode) {
        (true, 'o') => format!("gave {arg} operator status"),
        (false, 'o') => format!("removed operator status from {arg}"),
        (true, 'v') => format!("gave {arg} voice"),
        (false, 'v') => format!("removed voice from {arg}"),
        (true, 'b') => format!("banned {arg}"),
        (false, 'b') => format!("unbanned {arg}"),
        (add, mode) => {
            let sign = if add { '+' } else { '-' };
            let arg = change.arg.map(|a| format!(" {a}")).unwrap_or_default();
            format!("set mode {sign}{mode}{arg}")
        }
    }
}

/// Whether `text` names `nick` as a word ("bob:", "hi Bob!"), not inside
/// another word ("bobby").
fn mentions(text: &str, nick: &str) -> bool {
    !nick.is_empty()
        && text
            .split(|c: char| !(c.is_alphanumeric() || "-_[]\\`^{}|".contains(c)))
            .any(|word| irc::same_name(word, nick))
}

/// " (reason)" or "" when none was given.
fn reason(text: Option<&str>) -> String {
    match text {
        Some(r) if !r.is_empty() => format!(" ({r})"),
        _ => String::new(),
    }
}

/// An error numeric reads "me ARGS :text"; the person needs "ARGS: text".
pub fn error_text(msg: &Message) -> String {
    let text = msg.text();
    match msg.params.len() {
        0..=2 => text.to_string(),
        n => format!("{}: {text}", msg.params[1..n - 1].join(" ")),
    }
}

/// Removes IRC formatting codes and every control character, so that text
/// from other people can neither garble the display nor send escape sequences
/// to the person's terminal.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\x03' => {
                // mIRC color: \x03[fg[,bg]] with up to two digits each.
                let digits = |chars: &mut std::iter::Peekable<std::str::Chars>| {
                    for _ in 0..2 {
                        if chars.next_if(char::is_ascii_digit).is_none() {
                            break;
                        }
                    }
                };
                digits(&mut chars);
                if chars.peek() == Some(&',') {
                    chars.next();
                    digits(&mut chars);
                }
            }
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

const NICK_COLORS: [u8; 12] = [31, 32, 33, 34, 35, 36, 91, 92, 93, 94, 95, 96];
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[1;31m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Text styling: a no-op when colors are off, so callers never branch.
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    /// The same nick (as the server folds it) always gets the same color,
    /// which lets people follow a conversation at a glance.
    fn nick(&self, nick: &str) -> String {
        // The same color whether or not the nick has its `@` or `+` now.
        let hash = groupchatd::names::fold(nick.trim_start_matches(['@', '+']))
            .bytes()
            .fold(5381u32, |h, b| h.wrapping_mul(33) ^ u32::from(b));
        let code = NICK_COLORS[hash as usize % NICK_COLORS.len()];
        self.paint(&format!("\x1b[{code}m"), nick)
    }

    /// The full line as printed, `clock` being the local "HH:MM" (for a
    /// [`Shown::Past`] line, of when it was said).
    pub fn format(&self, shown: &Shown, clock: &str) -> String {
        match shown {
            // Dimmed as a whole, so no nick color breaks the dimming; the
            // bracketed time marks it where there are no colors.
            Shown::Past { line, .. } => {
                let plain = Style { color: false }.body(line);
                self.paint(DIM, &format!("[{clock}] {plain}"))
            }
            _ => format!("{} {}", self.paint(DIM, clock), self.body(shown)),
        }
    }

    /// The line without its time.
    fn body(&self, shown: &Shown) -> String {
        // Everything from the server is cleaned here, at the one place all
        // of it passes, whichever way it came (texts, nicks, NAMES lists).
        let c = clean;
        let place = |channel: &Option<String>| {
            channel
                .as_ref()
                .map(|ch| format!("[{}] ", c(ch)))
                .unwrap_or_default()
        };
        match shown {
            Shown::Chat {
                channel,
                nick,
                text,
                action,
                mention,
            } => {
                let text = if *mention {
                    self.paint(BOLD, &c(text))
                } else {
                    c(text)
                };
                let (open, close) = if *action { ("* ", "") } else { ("<", ">") };
                let nick = self.nick(&c(nick));
                format!("{}{open}{nick}{close} {text}", place(channel))
            }
            Shown::Private { nick, text, action } => {
                let (open, close) = if *action { ("* ", "") } else { ("<", ">") };
                format!(
                    "{} {open}{}{close} {}",
                    self.paint(BOLD, "[private]"),
                    self.nick(&c(nick)),
                    c(text)
                )
            }
            Shown::PrivateSent { to, nick, text } => format!(
                "{} <{}> {}",
                self.paint(BOLD, &format!("[private to {}]", c(to))),
                self.nick(&c(nick)),
                c(text)
            ),
            Shown::Event(text) => format!("* {}", c(text)),
            Shown::Notice { from, text } => format!(
                "{} {}",
                self.paint(BOLD, &format!("-{}-", c(from))),
                c(text)
            ),
            Shown::Info(text) => self.paint(DIM, &format!("-- {}", c(text))),
            Shown::Error(text) => self.paint(RED, &format!("!! {}", c(text))),
            Shown::Past { line, .. } => self.body(line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(line: &str) -> Option<String> {
        let msg = Message::parse(line).unwrap();
        let members = Members::default();
        let view = View {
            me: "alice",
            current: Some("#lobby"),
            members: &members,
        };
        render(&msg, &view).map(|s| Style { color: false }.format(&s, "12:34"))
    }

    #[test]
    fn chat_and_actions() {
        assert_eq!(
            show(":bob!b@h PRIVMSG #lobby :hi all").unwrap(),
            "12:34 <bob> hi all"
        );
        assert_eq!(
            show(":bob!b@h PRIVMSG #Lobby :\x01ACTION waves\x01").unwrap(),
            "12:34 * bob waves"
        );
        assert_eq!(
            show(":bob!b@h PRIVMSG #other :psst").unwrap(),
            "12:34 [#other] <bob> psst"
        );
        assert_eq!(show(":bob!b@h PRIVMSG alice :\x01VERSION\x01"), None);
    }

    #[test]
    fn mentions_of_the_person_stand_out() {
        assert!(mentions("alice: look", "alice"));
        assert!(mentions("hi Alice!", "alice"));
        assert!(!mentions("malice aforethought", "alice"));
        assert!(!mentions("anything", ""));
        let msg = Message::parse(":bob!b@h PRIVMSG #lobby :hi alice").unwrap();
        let members = Members::default();
        let view = View {
            me: "alice",
            current: Some("#lobby"),
            members: &members,
        };
        let shown = render(&msg, &view).unwrap();
        assert!(
            Style { color: true }
                .format(&shown, "12:34")
                .contains("\x1b[1mhi alice")
        );
        assert_eq!(
            Style { color: false }.format(&shown, "12:34"),
            "12:34 <bob> hi alice"
        );
    }

    #[test]
    fn private_messages_are_marked() {
        assert_eq!(
            show(":bob!b@h PRIVMSG alice :secret").unwrap(),
            "12:34 [private] <bob> secret"
        );
        assert_eq!(
            show(":bob!b@h PRIVMSG alice :\x01ACTION winks\x01").unwrap(),
            "12:34 [private] * bob winks"
        );
        let sent = Shown::PrivateSent {
            to: "bob".into(),
            nick: "alice".into(),
            text: "hi".into(),
        };
        assert_eq!(
            Style { color: false }.format(&sent, "01:02"),
            "01:02 [private to bob] <alice> hi"
        );
    }

    #[test]
    fn membership_and_nick_changes() {
        assert_eq!(show(":bob!b@h JOIN #lobby").unwrap(), "12:34 * bob joined");
        assert_eq!(
            show(":bob!b@h JOIN :#dev").unwrap(),
            "12:34 * bob joined #dev"
        );
        assert_eq!(
            show(":alice!a@h JOIN #dev").unwrap(),
            "12:34 * you joined #dev"
        );
        assert_eq!(
            show(":bob!b@h PART #lobby :lunch").unwrap(),
            "12:34 * bob left (lunch)"
        );
        assert_eq!(show(":bob!b@h PART #lobby").unwrap(), "12:34 * bob left");
        assert_eq!(
            show(":bob!b@h QUIT :Quit: bye").unwrap(),
            "12:34 * bob left (Quit: bye)"
        );
        assert_eq!(
            show(":bob!b@h NICK :robert").unwrap(),
            "12:34 * bob is now known as robert"
        );
        assert_eq!(
            show(":alice!a@h NICK al").unwrap(),
            "12:34 * you are now known as al"
        );
        assert_eq!(
            show(":bob!b@h TOPIC #lobby :rust").unwrap(),
            "12:34 * bob changed the topic to: rust"
        );
        assert_eq!(
            show(":bob!b@h TOPIC #dev :").unwrap(),
            "12:34 * bob cleared the topic of #dev"
        );
        assert_eq!(
            show(":op!o@h KICK #dev bob :spam").unwrap(),
            "12:34 * op kicked bob from #dev (spam)"
        );
        assert_eq!(
            show(":op!o@h MODE #lobby +o-v+b bob carol *!*@spam").unwrap(),
            "12:34 * op gave bob operator status, removed voice from carol, banned *!*@spam"
        );
        assert_eq!(
            show(":op!o@h MODE #dev -o+ml bob 20").unwrap(),
            "12:34 * op removed operator status from bob, set mode +m, set mode +l 20 in #dev"
        );
    }

    #[test]
    fn speakers_show_their_channel_status() {
        let mut members = Members::default();
        let joined = Message::parse(":alice!a@h JOIN #lobby").unwrap();
        members.follow(&joined, "alice");
        members.names("#lobby", &["@bob".into(), "+carol".into(), "alice".into()]);
        let view = View {
            me: "alice",
            current: Some("#lobby"),
            members: &members,
        };
        let said = |line: &str| {
            let msg = Message::parse(line).unwrap();
            let shown = render(&msg, &view).unwrap();
            Style { color: false }.format(&shown, "12:34")
        };
        assert_eq!(said(":bob!b@h PRIVMSG #lobby :hi"), "12:34 <@bob> hi");
        assert_eq!(said(":carol!c@h PRIVMSG #lobby :yo"), "12:34 <+carol> yo");
        assert_eq!(said(":alice!a@h PRIVMSG #lobby :hey"), "12:34 <alice> hey");
        assert_eq!(
            said(":bob!b@h PRIVMSG alice :psst"),
            "12:34 [private] <bob> psst"
        );
        assert_eq!(
            Style { color: true }.nick("@bob"),
            Style { color: true }.nick("bob").replace("bob", "@bob")
        );
    }

    #[test]
    fn server_replies_notices_and_errors_are_distinct() {
        assert_eq!(
            show(":srv 433 * bob :Nickname is already in use").unwrap(),
            "12:34 !! bob: Nickname is already in use"
        );
        assert_eq!(
            show(":srv 421 alice :Unknown command").unwrap(),
            "12:34 !! Unknown command"
        );
        assert_eq!(
            show(":srv NOTICE alice :maintenance at 5").unwrap(),
            "12:34 -srv- maintenance at 5"
        );
        assert_eq!(
            show(":srv 001 alice :Welcome to chat").unwrap(),
            "12:34 -- Welcome to chat"
        );
        assert_eq!(
            show(":srv 332 alice #lobby :the topic").unwrap(),
            "12:34 * topic of #lobby: the topic"
        );
        assert_eq!(show(":srv 005 alice A B :are supported"), None);
        assert_eq!(show(":srv 376 alice :End of MOTD"), None);
        assert_eq!(show("PING :x"), None);
    }

    #[test]
    fn hostile_names_cannot_reach_the_terminal_either() {
        assert_eq!(
            show(":b\x1b[2Job!b@h JOIN #lobby").unwrap(),
            "12:34 * b[2Job joined"
        );
        let names = Shown::Event("in #x: a\x07b".into());
        assert_eq!(
            Style { color: false }.format(&names, "01:02"),
            "01:02 * in #x: ab"
        );
    }

    #[test]
    fn hostile_text_cannot_reach_the_terminal() {
        assert_eq!(clean("a\x1b[2Jb\x07c"), "a[2Jbc");
        assert_eq!(clean("\x0304,12red\x03 \x02bold\x0f"), "red bold");
        assert_eq!(clean("tab\there"), "tab here");
        assert_eq!(clean("caf\u{e9} \u{9b}x"), "caf\u{e9} x");
    }

    #[test]
    fn history_lines_carry_their_time_and_are_dimmed() {
        let past = Shown::Past {
            ms: Some(0),
            line: Box::new(Shown::Chat {
                channel: None,
                nick: "bob".into(),
                text: "earlier".into(),
                action: false,
                mention: false,
            }),
        };
        assert_eq!(
            Style { color: false }.format(&past, "06:45"),
            "[06:45] <bob> earlier"
        );
        assert_eq!(
            Style { color: true }.format(&past, "06:45"),
            "\x1b[2m[06:45] <bob> earlier\x1b[0m"
        );
    }

    #[test]
    fn failures_and_own_echoed_private_messages() {
        assert_eq!(
            show(":srv FAIL CHATHISTORY INVALID_TARGET #x :No such channel").unwrap(),
            "12:34 !! CHATHISTORY failed: No such channel"
        );
        assert_eq!(
            show(":alice!a@h PRIVMSG bob :psst").unwrap(),
            "12:34 [private to bob] <alice> psst"
        );
    }

    #[test]
    fn colors_only_when_asked_and_stable_per_nick() {
        let line = Shown::Chat {
            channel: None,
            nick: "bob".into(),
            text: "hi".into(),
            action: false,
            mention: false,
        };
        let colored = Style { color: true }.format(&line, "12:34");
        assert!(colored.contains("\x1b["));
        assert_eq!(colored, Style { color: true }.format(&line, "12:34"));
        assert!(
            !Style { color: false }
                .format(&line, "12:34")
                .contains('\x1b')
        );
    }
}
