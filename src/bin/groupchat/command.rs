//! What the person typed -> what they asked for. Pure.

/// One line of input, understood.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Text for the current channel.
    Say(String),
    Msg {
        to: String,
        text: String,
    },
    Me(String),
    Who,
    Names,
    Kick {
        nick: String,
        reason: Option<String>,
    },
    /// MODE of the current channel (or of the channel named first): /op,
    /// /ban and the like are spelled as the mode change they are.
    Mode(Vec<String>),
    Join(String),
    Part(Option<String>),
    Nick(String),
    Topic(Option<String>),
    Quit(Option<String>),
    Help,
}

/// The `/help` text, one entry a line.
pub const HELP: &[&str] = &[
    "Type a line to talk in the current channel. Commands:",
    "  /msg NICK TEXT   send a private message",
    "  /me TEXT         act: \"* you TEXT\"",
    "  /who             who is in the current channel",
    "  /join #CHANNEL   join a channel and talk there",
    "  /part [REASON]   leave the current channel",
    "  /nick NEW        change your nickname",
    "  /topic [TEXT]    show or set the channel topic",
    "Channel operators (@) can, in the current channel:",
    "  /op NICK, /deop NICK        give or take operator status",
    "  /voice NICK, /devoice NICK  give or take voice (+, to talk when moderated)",
    "  /kick NICK [REASON]         remove someone from the channel",
    "  /ban MASK|NICK, /unban MASK ban (a nick bans NICK!*@*) or lift a ban",
    "  /mode ARGS...               any mode change, e.g. /mode +m or /mode +l 20",
    "  /quit [REASON]   leave (so does an empty line or Ctrl-D)",
    "  /help            this list; start a line with // to say something beginning with /",
];

/// Parses one non-empty line; the error is a sentence for the person.
pub fn parse(line: &str) -> Result<Command, String> {
    let Some(rest) = line.strip_prefix('/') else {
        return Ok(Command::Say(line.to_string()));
    };
    if rest.starts_with('/') {
        return Ok(Command::Say(rest.to_string()));
    }
    let (name, args) = rest.split_once(' ').unwrap_or((rest, ""));
    let args = args.trim();
    let optional = || (!args.is_empty()).then(|| args.to_string());
    let word = |usage: &str| match args.split_whitespace().collect::<Vec<_>>()[..] {
        [w] => Ok(w.to_string()),
        _ => Err(format!("usage: {usage}")),
    };
    match name.to_ascii_lowercase().as_str() {
        "msg" | "query" => match args.split_once(' ') {
            Some((to, text)) if !text.trim().is_empty() => Ok(Command::Msg {
                to: to.to_string(),
                text: text.trim_start().to_string(),
            }),
            _ => Err("usage: /msg NICK TEXT".to_string()),
        },
        "me" if !args.is_empty() => Ok(Command::Me(args.to_string())),
        "me" => Err("usage: /me TEXT".to_string()),
        "who" => Ok(Command::Who),
        "kick" => match args.split_once(' ') {
            _ if args.is_empty() => Err("usage: /kick NICK [REASON]".to_string()),
            Some((nick, reason)) => Ok(Command::Kick {
                nick: nick.to_string(),
                reason: Some(reason.trim_start().to_string()),
            }),
            None => Ok(Command::Kick {
                nick: args.to_string(),
                reason: None,
            }),
        },
        "op" | "deop" | "voice" | "devoice" => {
            let (change, name) = match name.to_ascii_lowercase().as_str() {
                "op" => ("+o", "/op"),
                "deop" => ("-o", "/deop"),
                "voice" => ("+v", "/voice"),
                _ => ("-v", "/devoice"),
            };
            word(&format!("{name} NICK")).map(|nick| mode(change, nick))
        }
        "ban" => word("/ban MASK|NICK").map(|m| mode("+b", ban_mask(m))),
        "unban" => word("/unban MASK|NICK").map(|m| mode("-b", ban_mask(m))),
        "mode" => Ok(Command::Mode(
            args.split_whitespace().map(str::to_string).collect(),
        )),
        "names" => Ok(Command::Names),
        "join" => word("/join #CHANNEL").map(|c| Command::Join(crate::irc::channel_name(&c))),
        "part" | "leave" => Ok(Command::Part(optional())),
        "nick" => word("/nick NEW").map(Command::Nick),
        "topic" => Ok(Command::Topic(optional())),
        "quit" | "exit" | "bye" => Ok(Command::Quit(optional())),
        "help" | "?" => Ok(Command::Help),
        _ => Err(format!("unknown command /{name}; /help lists the commands")),
    }
}

fn mode(change: &str, arg: String) -> Command {
    Command::Mode(vec![change.to_string(), arg])
}

/// A ban mask as typed, where a bare nick means everyone using that nick:
/// the server matches masks against `nick!user@host`.
fn ban_mask(mask: String) -> String {
    if mask.contains(['!', '@']) {
        mask
    } else {
        format!("{mask}!*@*")
    }
}

/// A nickname the person typed, checked enough to avoid a pointless round
/// trip; the server has the final word (and says why in a 432).
pub fn check_nick(nick: &str) -> Result<&str, String> {
    let nick = nick.trim();
    if nick.is_empty() {
        Err("a nickname cannot be empty".to_string())
    } else if nick.contains(' ') {
        Err("a nickname is one word, without spaces".to_string())
    } else if nick.starts_with(['#', ':', '/', '&']) {
        Err(format!("a nickname cannot start with {:?}", &nick[..1]))
    } else {
        Ok(nick)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_and_escaped_slash_are_said() {
        assert_eq!(parse("hello"), Ok(Command::Say("hello".into())));
        assert_eq!(
            parse("//etc/passwd"),
            Ok(Command::Say("/etc/passwd".into()))
        );
    }

    #[test]
    fn commands_with_arguments() {
        assert_eq!(
            parse("/msg bob  hi there"),
            Ok(Command::Msg {
                to: "bob".into(),
                text: "hi there".into()
            })
        );
        assert_eq!(parse("/me waves"), Ok(Command::Me("waves".into())));
        assert_eq!(parse("/join dev"), Ok(Command::Join("#dev".into())));
        assert_eq!(parse("/JOIN #dev"), Ok(Command::Join("#dev".into())));
        assert_eq!(parse("/nick bobby"), Ok(Command::Nick("bobby".into())));
        assert_eq!(parse("/topic"), Ok(Command::Topic(None)));
        assert_eq!(parse("/topic a b"), Ok(Command::Topic(Some("a b".into()))));
        assert_eq!(parse("/quit"), Ok(Command::Quit(None)));
        assert_eq!(
            parse("/quit see you"),
            Ok(Command::Quit(Some("see you".into())))
        );
        assert_eq!(parse("/part"), Ok(Command::Part(None)));
        assert_eq!(parse("/who"), Ok(Command::Who));
        assert_eq!(parse("/help"), Ok(Command::Help));
    }

    #[test]
    fn operator_commands_are_mode_changes_and_kicks() {
        let mode = |args: &[&str]| Ok(Command::Mode(args.iter().map(|a| a.to_string()).collect()));
        assert_eq!(parse("/op bob"), mode(&["+o", "bob"]));
        assert_eq!(parse("/DEOP bob"), mode(&["-o", "bob"]));
        assert_eq!(parse("/voice bob"), mode(&["+v", "bob"]));
        assert_eq!(parse("/devoice bob"), mode(&["-v", "bob"]));
        assert_eq!(parse("/ban bob"), mode(&["+b", "bob!*@*"]));
        assert_eq!(
            parse("/ban *!*@spam.example"),
            mode(&["+b", "*!*@spam.example"])
        );
        assert_eq!(parse("/unban bob!*@*"), mode(&["-b", "bob!*@*"]));
        assert_eq!(parse("/mode +l 20"), mode(&["+l", "20"]));
        assert_eq!(parse("/mode"), mode(&[]));
        assert_eq!(
            parse("/kick bob  that will do"),
            Ok(Command::Kick {
                nick: "bob".into(),
                reason: Some("that will do".into())
            })
        );
        assert_eq!(
            parse("/kick bob"),
            Ok(Command::Kick {
                nick: "bob".into(),
                reason: None
            })
        );
        assert!(parse("/kick").unwrap_err().contains("usage"));
        assert!(parse("/op").unwrap_err().contains("/op NICK"));
        assert!(parse("/ban a b").unwrap_err().contains("usage"));
    }

    #[test]
    fn mistakes_get_a_usage_line() {
        assert!(parse("/msg bob").unwrap_err().contains("usage"));
        assert!(parse("/me").unwrap_err().contains("usage"));
        assert!(parse("/nick a b").unwrap_err().contains("usage"));
        assert!(parse("/join").unwrap_err().contains("usage"));
        assert!(parse("/frobnicate").unwrap_err().contains("/help"));
    }

    #[test]
    fn nick_checks() {
        assert_eq!(check_nick(" bob "), Ok("bob"));
        assert!(check_nick("").is_err());
        assert!(check_nick("a b").is_err());
        assert!(check_nick("#x").is_err());
    }
}
