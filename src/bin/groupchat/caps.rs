//! IRCv3 capability negotiation as a client does it: `CAP LS 302`, then a
//! `CAP REQ` for the capabilities we use among those offered, then
//! `CAP END`. Pure: it turns the server's `CAP` lines into lines to send.
//!
//! A server without capabilities answers `CAP LS` with 421 (unknown
//! command) and registers us anyway, so nothing here waits for it.
//!
//! With an account to log in to, `sasl` is requested too and `CAP END`
//! waits for the login (see [`Caps::finish`]): registering first would
//! make the person a guest.

use crate::irc::Message;

/// What the client makes use of, in the order it asks for them:
/// tags carry the msgid and time that history is built on, `batch` frames
/// played-back history, `echo-message` shows our own lines as the server
/// delivered them, `draft/chathistory` fetches what was missed, and
/// `labeled-response` tells its answers from the playback on joining.
const WANTED: [&str; 6] = [
    "message-tags",
    "server-time",
    "batch",
    "echo-message",
    "draft/chathistory",
    "labeled-response",
];

/// The capabilities in force on one connection, and the negotiation's
/// progress.
#[derive(Debug, Default)]
pub struct Caps {
    enabled: Vec<String>,
    /// Names offered so far by a `CAP LS` reply spread over several lines.
    offered: Vec<String>,
    /// `CAP END` is still owed: registration waits for it.
    negotiating: bool,
    /// An account login is wanted, so `sasl` is required.
    login: bool,
}

impl Caps {
    /// Starts a negotiation on a fresh connection, forgetting the last one's.
    pub fn start(&mut self, login: bool) -> String {
        *self = Caps {
            negotiating: true,
            login,
            ..Caps::default()
        };
        "CAP LS 302".to_string()
    }

    pub fn has(&self, name: &str) -> bool {
        self.enabled.iter().any(|c| c == name)
    }

    /// Handles one `CAP` line; returns what to answer, or why the login
    /// that was asked for cannot happen.
    pub fn on_cap(&mut self, msg: &Message) -> Result<Vec<String>, String> {
        let names = |text: &str| -> Vec<String> {
            text.split_whitespace()
                .map(|c| c.split_once('=').map_or(c, |(name, _)| name).to_string())
                .collect()
        };
        match msg.param(1) {
            "LS" if self.negotiating => {
                // `CAP * LS * :…` says more lines follow (302).
                let more = msg.params.len() > 3 && msg.param(2) == "*";
                self.offered.extend(names(msg.text()));
                if more {
                    return Ok(Vec::new());
                }
                let sasl = self.login.then_some("sasl");
                let wanted: Vec<&str> = WANTED
                    .into_iter()
                    .chain(sasl)
                    .filter(|w| self.offered.iter().any(|o| o == w))
                    .collect();
                if wanted.is_empty() {
                    self.end()
                } else {
                    // REQ is all or nothing, so only offered names go in it.
                    Ok(vec![format!("CAP REQ :{}", wanted.join(" "))])
                }
            }
            "ACK" => {
                for name in names(msg.text()) {
                    match name.strip_prefix('-') {
                        Some(off) => self.enabled.retain(|c| c != off),
                        None if !self.has(&name) => self.enabled.push(name),
                        None => {}
                    }
                }
                self.end()
            }
            "NAK" => self.end(),
            "DEL" => {
                let gone = names(msg.text());
                self.enabled.retain(|c| !gone.contains(c));
                Ok(Vec::new())
            }
            _ => Ok(Vec::new()),
        }
    }

    /// `CAP END` if it is still owed, unless a login comes first: then its
    /// start, or why it cannot happen.
    fn end(&mut self) -> Result<Vec<String>, String> {
        if !self.negotiating {
            Ok(Vec::new())
        } else if !self.login {
            Ok(self.finish())
        } else if self.has("sasl") {
            Ok(vec!["AUTHENTICATE PLAIN".to_string()])
        } else {
            Err("the server does not offer account logins (SASL)".to_string())
        }
    }

    /// `CAP END` if it is still owed: after a login succeeded.
    pub fn finish(&mut self) -> Vec<String> {
        if std::mem::take(&mut self.negotiating) {
            vec!["CAP END".to_string()]
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(caps: &mut Caps, line: &str) -> Vec<String> {
        caps.on_cap(&Message::parse(line).unwrap()).unwrap()
    }

    #[test]
    fn requests_only_what_is_offered_then_ends() {
        let mut caps = Caps::default();
        assert_eq!(caps.start(false), "CAP LS 302");
        assert!(feed(&mut caps, ":srv CAP * LS * :sasl=PLAIN batch message-tags").is_empty());
        assert_eq!(
            feed(
                &mut caps,
                ":srv CAP * LS :server-time draft/chathistory sts"
            ),
            ["CAP REQ :message-tags server-time batch draft/chathistory"]
        );
        assert_eq!(
            feed(
                &mut caps,
                ":srv CAP * ACK :message-tags server-time batch draft/chathistory"
            ),
            ["CAP END"]
        );
        assert!(caps.has("batch") && !caps.has("echo-message"));
        feed(&mut caps, ":srv CAP * DEL :batch");
        assert!(!caps.has("batch"));
    }

    #[test]
    fn nothing_useful_or_a_refusal_still_ends_the_negotiation() {
        let mut caps = Caps::default();
        caps.start(false);
        assert_eq!(feed(&mut caps, ":srv CAP * LS :sasl sts"), ["CAP END"]);
        caps.start(false);
        feed(&mut caps, ":srv CAP * LS :batch");
        assert_eq!(feed(&mut caps, ":srv CAP * NAK :batch"), ["CAP END"]);
        assert!(!caps.has("batch"));
        assert!(feed(&mut caps, ":srv CAP * NAK :batch").is_empty());
    }

    #[test]
    fn a_login_requests_sasl_and_holds_cap_end_until_it_is_done() {
        let mut caps = Caps::default();
        caps.start(true);
        assert_eq!(
            feed(&mut caps, ":srv CAP * LS :sasl=PLAIN batch"),
            ["CAP REQ :batch sasl"]
        );
        assert_eq!(
            feed(&mut caps, ":srv CAP * ACK :batch sasl"),
            ["AUTHENTICATE PLAIN"]
        );
        assert_eq!(caps.finish(), ["CAP END"]);
        assert!(caps.finish().is_empty());
        caps.start(true);
        let msg = Message::parse(":srv CAP * LS :batch").unwrap();
        assert_eq!(caps.on_cap(&msg), Ok(vec!["CAP REQ :batch".to_string()]));
        let msg = Message::parse(":srv CAP * ACK :batch").unwrap();
        assert!(caps.on_cap(&msg).is_err());
    }
}
