//! The client's side of the IRC conversation: registration, channels, the
//! current channel, and gathering multi-line replies. Pure: it turns server
//! lines and commands into [`Effect`]s that the caller carries out, so the
//! whole protocol logic is unit-tested without sockets or terminals.

use std::collections::HashMap;

use groupchatd::clock::{self, parse_iso};
use groupchatd::tags;

use crate::caps::Caps;
use crate::command::{Command, HELP};
use crate::irc::{self, Message};
use crate::members::{self, Members};
use crate::playback::Playback;
use crate::render::{self, Shown, View};
use crate::sasl::Login;

#[derive(Debug, PartialEq, Eq)]
pub enum Effect {
    /// A line for the server, without CRLF.
    Send(String),
    /// A line for the person.
    Show(Shown),
    /// What the person just said, as others see it: worth showing on a
    /// terminal, noise for a script that knows what it sent.
    Echo(Shown),
    /// The server refused the nickname during registration (the reason has
    /// been shown): another one is needed before anything else can happen.
    NickRefused,
    /// Registered and in the channel the person wanted: they can talk now.
    Ready,
    /// The account login failed or cannot happen (the reason has been
    /// shown): the client stops rather than carry on as a guest, which the
    /// person (or script) did not ask for.
    LoginFailed,
    /// QUIT has been sent: the server will close the connection.
    Leaving,
}

pub struct Session {
    nick: String,
    registered: bool,
    ready: bool,
    /// Channels we are in, in the order we joined them.
    channels: Vec<String>,
    /// Where plain text goes; survives reconnects so the person keeps talking
    /// where they were.
    current: Option<String>,
    /// A channel the person asked to join: its JOIN makes it current.
    joining: Option<String>,
    /// A channel the person asked to leave. Input waits while joining or
    /// parting, so that the next line goes where the person expects.
    parting: Option<String>,
    /// Channels to join again after a reconnect.
    rejoin: Vec<String>,
    /// NAMES (353) replies gathered until their end (366), per channel.
    names: HashMap<String, Vec<String>>,
    /// WHO (352) replies gathered until their end (315).
    who: Vec<String>,
    /// Who is an operator or voiced in the channels we are in.
    members: Members,
    /// The IRCv3 capabilities of this connection.
    caps: Caps,
    /// The account to log in to before registering, on every connection.
    login: Option<Login>,
    /// What history has been seen, and what is still to fetch.
    playback: Playback,
    /// The wall clock, in Unix milliseconds.
    now: fn() -> i64,
}

impl Session {
    pub fn new(nick: String, channel: Option<String>) -> Self {
        Session {
            nick,
            registered: false,
            ready: false,
            channels: Vec::new(),
            current: None,
            joining: channel,
            parting: None,
            rejoin: Vec::new(),
            names: HashMap::new(),
            who: Vec::new(),
            members: Members::default(),
            caps: Caps::default(),
            login: None,
            playback: Playback::new(),
            now: clock::now_ms,
        }
    }

    /// Logs in to `login`'s account on every connection, before registering.
    pub fn with_login(mut self, login: Login) -> Self {
        self.login = Some(login);
        self
    }

    pub fn nick(&self) -> &str {
        &self.nick
    }

    pub fn current(&self) -> Option<&str> {
        self.current.as_deref()
    }

    pub fn is_registered(&self) -> bool {
        self.registered
    }

    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// The connection is gone: nothing can be sent until the next
    /// registration, which rejoins the channels we were in.
    pub fn lost(&mut self) {
        self.rejoin.append(&mut self.channels);
        self.registered = false;
        self.ready = false;
        self.parting = None;
        self.names.clear();
        self.who.clear();
        self.members.clear();
        if self.joining.is_none() {
            self.joining.clone_from(&self.current);
        }
        self.playback.lost(&self.rejoin);
    }

    /// Introduces us on a fresh connection. `CAP LS` goes first so that a
    /// server with capabilities holds registration until `CAP END`.
    pub fn register(&mut self) -> Vec<Effect> {
        vec![
            Effect::Send(self.caps.start(self.login.is_some())),
            Effect::Send(irc::build("NICK", &[&self.nick])),
            Effect::Send(irc::build("USER", &[&self.nick, "0", "*", &self.nick])),
        ]
    }

    /// The nickname the person chose: sent at once when connected (after a
    /// refusal), used by [`Session::register`] otherwise.
    pub fn set_nick(&mut self, nick: &str) -> Vec<Effect> {
        nick.clone_into(&mut self.nick);
        vec![Effect::Send(irc::build("NICK", &[nick]))]
    }

    /// Gives up waiting for the channel join (a server that does not auto-join
    /// and no --channel): the person can still talk, /join included.
    pub fn settle(&mut self) -> Vec<Effect> {
        if self.registered && !self.ready {
            self.ready = true;
            self.joining = None;
            self.parting = None;
            let mut effects = Vec::new();
            if self.current.is_none() {
                effects.push(info("you are not in a channel yet: /join #CHANNEL"));
            }
            effects.push(Effect::Ready);
            effects
        } else {
            Vec::new()
        }
    }

    pub fn on_line(&mut self, msg: &Message) -> Vec<Effect> {
        let mut effects = Vec::new();
        let from_me = irc::same_name(msg.source(), &self.nick);
        if let Some(reference) = tags::get(msg.tags, "batch")
            && self.playback.is_open(reference)
        {
            return self.past_line(msg, reference);
        }
        self.members.follow(msg, &self.nick);
        if let Some(id) = msgid(msg)
            && let Some(with) = conversation(msg, from_me)
        {
            let ms = tags::get(msg.tags, "time").and_then(parse_iso);
            self.playback.live(with, id, ms);
        }
        match msg.command {
            "CAP" => {
                return match self.caps.on_cap(msg) {
                    Ok(lines) => lines.into_iter().map(Effect::Send).collect(),
                    Err(why) => login_failed(why),
                };
            }
            // A server without capabilities: it registers us all the same,
            // but as a guest.
            "421" if msg.param(1).eq_ignore_ascii_case("CAP") => {
                if self.login.is_some() {
                    return login_failed("the server does not offer account logins".into());
                }
                return effects;
            }
            "AUTHENTICATE" if msg.param(0) == "+" => {
                if let Some(login) = &self.login {
                    effects.extend(login.payload().into_iter().map(Effect::Send));
                }
                return effects;
            }
            "903" => {
                effects.extend(self.show(msg));
                effects.extend(self.caps.finish().into_iter().map(Effect::Send));
                return effects;
            }
            // Account unavailable, wrong password, payload too long, aborted.
            "902" | "904" | "905" | "906" if !self.registered => {
                effects.extend(self.show(msg));
                effects.push(Effect::LoginFailed);
                return effects;
            }
            "BATCH" => return self.on_batch(msg),
            "FAIL" if msg.param(0) == "CHATHISTORY" => {
                effects.extend(self.show(msg));
                let label = tags::get(msg.tags, "label");
                let ended = self.playback.failed(label);
                effects.extend(ended.into_iter().map(Effect::Show));
                return effects;
            }
            "005" => {
                let page = msg
                    .params
                    .iter()
                    .find_map(|p| p.strip_prefix("CHATHISTORY="));
                if let Some(lines) = page.and_then(|n| n.parse().ok()) {
                    self.playback.set_page(lines);
                }
            }
            // Our own line as delivered (echo-message): like the local echo
            // it replaces, not worth printing for a script.
            "PRIVMSG" | "NOTICE" if from_me => {
                effects.extend(self.render(msg).map(Effect::Echo));
                return effects;
            }
            "PING" => {
                effects.push(Effect::Send(irc::build("PONG", &[msg.param(0)])));
                return effects;
            }
            "001" => {
                self.registered = true;
                if !msg.param(0).is_empty() {
                    self.nick = msg.param(0).to_string();
                }
                let mut wanted = std::mem::take(&mut self.rejoin);
                if let Some(j) = &self.joining
                    && !wanted.iter().any(|c| irc::same_name(c, j))
                {
                    wanted.push(j.clone());
                }
                effects.extend(
                    wanted
                        .iter()
                        .map(|c| Effect::Send(irc::build("JOIN", &[c]))),
                );
                let labels = self.caps.has("labeled-response") && self.caps.has("batch");
                let chathistory = self.caps.has("draft/chathistory");
                let targets = self.playback.registered(labels, chathistory, (self.now)());
                effects.extend(targets.map(Effect::Send));
            }
            "431" | "432" | "433" | "436" if !self.registered => {
                effects.push(Effect::Show(Shown::Error(render::error_text(msg))));
                effects.push(Effect::NickRefused);
                return effects;
            }
            "JOIN" if from_me => {
                // Shown first, so "you joined" comes before "you can talk".
                effects.extend(self.show(msg));
                self.joined(msg.param(0), &mut effects);
                let playback = self.caps.has("batch") && self.caps.has("server-time");
                let chathistory = self.caps.has("draft/chathistory");
                if let Some(request) = self.playback.joined(msg.param(0), chathistory, playback) {
                    effects.push(Effect::Send(request));
                }
                return effects;
            }
            "PART" if from_me => {
                self.playback.left(msg.param(0));
                return self.left(msg);
            }
            "KICK" if irc::same_name(msg.param(1), &self.nick) => {
                self.playback.left(msg.param(0));
                return self.left(msg);
            }
            "NICK" if from_me => {
                effects.extend(self.show(msg));
                self.nick = msg.param(0).to_string();
                return effects;
            }
            "353" => {
                let names = msg.text().split_whitespace().map(str::to_string);
                self.names
                    .entry(msg.param(2).to_ascii_lowercase())
                    .or_default()
                    .extend(names);
            }
            "366" => {
                let names = self.names.remove(&msg.param(1).to_ascii_lowercase());
                let names = names.unwrap_or_default();
                self.members.names(msg.param(1), &names);
                effects.push(member_list(msg.param(1), names));
            }
            // The flags say H(ere) or G(one), then `*` for an IRC operator,
            // then the channel status.
            "352" => {
                let flags = msg.param(6);
                let status = ['@', '+'].into_iter().find(|p| flags.contains(*p));
                let nick = msg.param(5);
                self.who
                    .push(status.map_or(nick.to_string(), |p| format!("{p}{nick}")));
            }
            "315" => effects.push(member_list(msg.param(1), std::mem::take(&mut self.who))),
            // No such channel, too many, unavailable, not on it, full, invite
            // only, banned, bad key, bad mask, needs registration, bad name.
            "403" | "405" | "437" | "442" | "471" | "473" | "474" | "475" | "476" | "477"
            | "479"
                if !self.ready && self.registered =>
            {
                // The channel cannot be joined or left: say why, then let the
                // person talk anyway rather than wait for nothing.
                effects.extend(self.show(msg));
                effects.extend(self.settle());
                return effects;
            }
            _ => {}
        }
        effects.extend(self.show(msg));
        effects
    }

    /// `BATCH +ref kind params…` or `BATCH -ref` (either may come as a
    /// trailing parameter).
    fn on_batch(&mut self, msg: &Message) -> Vec<Effect> {
        let reference = msg.param(0);
        if let Some(started) = reference.strip_prefix('+') {
            let label = tags::get(msg.tags, "label");
            self.playback
                .start(started, msg.param(1), msg.param(2), label);
            return Vec::new();
        }
        let (shown, requests) = self.playback.end(reference.trim_start_matches('-'));
        let mut effects: Vec<Effect> = shown.into_iter().map(Effect::Show).collect();
        effects.extend(requests.into_iter().map(Effect::Send));
        effects
    }

    /// A line of a history batch: said earlier, shown as such (or, in a
    /// `CHATHISTORY TARGETS` answer, a conversation to catch up).
    fn past_line(&mut self, msg: &Message, reference: &str) -> Vec<Effect> {
        if msg.command == "CHATHISTORY" && msg.param(0) == "TARGETS" {
            self.playback.target(reference, msg.param(1));
            return Vec::new();
        }
        let ms = tags::get(msg.tags, "time").and_then(parse_iso);
        let shown = self.render(msg);
        self.playback
            .line(reference, msgid(msg), ms, shown)
            .into_iter()
            .map(Effect::Show)
            .collect()
    }

    fn show(&self, msg: &Message) -> Option<Effect> {
        self.render(msg).map(Effect::Show)
    }

    fn render(&self, msg: &Message) -> Option<Shown> {
        render::render(msg, &self.view())
    }

    fn view(&self) -> View<'_> {
        View {
            me: &self.nick,
            current: self.current.as_deref(),
            members: &self.members,
        }
    }

    fn joined(&mut self, channel: &str, effects: &mut Vec<Effect>) {
        if !self.channels.iter().any(|c| irc::same_name(c, channel)) {
            self.channels.push(channel.to_string());
        }
        let wanted = match &self.joining {
            Some(j) => irc::same_name(j, channel),
            None => self.current.is_none(),
        };
        if wanted || self.current.is_none() {
            self.current = Some(channel.to_string());
        }
        if wanted {
            self.joining = None;
            self.done_waiting(effects);
        }
    }

    fn done_waiting(&mut self, effects: &mut Vec<Effect>) {
        if self.registered && !self.ready && self.joining.is_none() && self.parting.is_none() {
            self.ready = true;
            effects.push(Effect::Ready);
        }
    }

    /// We left (PART) or were removed (KICK) from the channel `msg` names.
    fn left(&mut self, msg: &Message) -> Vec<Effect> {
        // Shown first, so "you left" comes before "now talking in".
        let mut effects: Vec<Effect> = self.show(msg).into_iter().collect();
        let channel = msg.param(0);
        self.channels.retain(|c| !irc::same_name(c, channel));
        if self
            .current
            .as_deref()
            .is_some_and(|c| irc::same_name(c, channel))
        {
            self.current = self.channels.last().cloned();
            effects.push(info(&match &self.current {
                Some(c) => format!("now talking in {c}"),
                None => "you are not in a channel now: /join #CHANNEL".to_string(),
            }));
        }
        if self
            .parting
            .as_deref()
            .is_some_and(|p| irc::same_name(p, channel))
        {
            self.parting = None;
            self.done_waiting(&mut effects);
        }
        effects
    }

    /// Carries out one command the person typed.
    pub fn on_command(&mut self, command: Command) -> Vec<Effect> {
        match command {
            Command::Say(text) => self.in_channel(|channel| self.say(channel, &text)),
            Command::Msg { to, text } => self.say(&to, &text),
            Command::Me(text) => self.in_channel(|channel| {
                let shown = Shown::Chat {
                    channel: None,
                    nick: self.view().speaker(channel, &self.nick),
                    text: text.clone(),
                    action: true,
                    mention: false,
                };
                let mut effects = vec![send("PRIVMSG", &[channel, &irc::action(&text)])];
                effects.extend(self.local_echo(shown));
                effects
            }),
            Command::Who => self.in_channel(|channel| vec![send("WHO", &[channel])]),
            Command::Kick { nick, reason } => self.in_channel(|channel| {
                let mut params = vec![channel, nick.as_str()];
                params.extend(reason.as_deref());
                vec![send("KICK", &params)]
            }),
            // `/mode #other +i` names its channel; anything else is for
            // the current one (`+`, which could start a channel name too,
            // starts a mode change here).
            Command::Mode(args) if args.first().is_some_and(|a| a.starts_with(['#', '&'])) => {
                let params: Vec<&str> = args.iter().map(String::as_str).collect();
                vec![send("MODE", &params)]
            }
            Command::Mode(args) => self.in_channel(|channel| {
                let params: Vec<&str> = std::iter::once(channel)
                    .chain(args.iter().map(String::as_str))
                    .collect();
                vec![send("MODE", &params)]
            }),
            Command::Names => self.in_channel(|channel| vec![send("NAMES", &[channel])]),
            Command::Part(reason) => {
                let effects = self.in_channel(|channel| {
                    vec![send("PART", &[channel, reason.as_deref().unwrap_or("")])]
                });
                if self.current.is_some() {
                    self.parting.clone_from(&self.current);
                    self.ready = false;
                }
                effects
            }
            Command::Topic(None) => {
                self.in_channel(|channel| vec![Effect::Send(format!("TOPIC {channel}"))])
            }
            Command::Topic(Some(text)) => {
                self.in_channel(|channel| vec![send("TOPIC", &[channel, &text])])
            }
            Command::Join(channel) => {
                if let Some(c) = self.channels.iter().find(|c| irc::same_name(c, &channel)) {
                    self.current = Some(c.clone());
                    vec![info(&format!("now talking in {c}"))]
                } else {
                    self.joining = Some(channel.clone());
                    self.ready = false;
                    vec![send("JOIN", &[&channel])]
                }
            }
            Command::Nick(nick) => vec![send("NICK", &[&nick])],
            Command::Quit(reason) => vec![
                send("QUIT", &[reason.as_deref().unwrap_or("leaving")]),
                Effect::Leaving,
            ],
            Command::Help => HELP.iter().map(|h| info(h)).collect(),
        }
    }

    /// Runs a command that needs a current channel, or says there is none.
    fn in_channel(&self, act: impl FnOnce(&str) -> Vec<Effect>) -> Vec<Effect> {
        match &self.current {
            Some(channel) => act(channel),
            None => vec![Effect::Show(Shown::Error(
                "you are not in a channel: /join #CHANNEL first".to_string(),
            ))],
        }
    }

    /// PRIVMSG to a channel or a person, in as many lines as it takes, each
    /// shown as the person will be seen saying it (servers do not echo).
    fn say(&self, to: &str, text: &str) -> Vec<Effect> {
        let view = self.view();
        irc::split_text(text)
            .into_iter()
            .flat_map(|piece| {
                let (nick, text) = (self.nick.clone(), piece.to_string());
                let shown = if irc::is_channel(to) {
                    Shown::Chat {
                        channel: view.other_channel(to),
                        nick: view.speaker(to, &nick),
                        text,
                        action: false,
                        mention: false,
                    }
                } else {
                    Shown::PrivateSent {
                        to: to.to_string(),
                        nick,
                        text,
                    }
                };
                std::iter::once(send("PRIVMSG", &[to, piece])).chain(self.local_echo(shown))
            })
            .collect()
    }

    /// What the person said, shown at once unless the server will echo it
    /// (echo-message), which shows it as delivered, and only once.
    fn local_echo(&self, shown: Shown) -> Option<Effect> {
        (!self.caps.has("echo-message")).then_some(Effect::Echo(shown))
    }
}

/// The conversation a line belongs to: its channel, or for a private
/// message the other person.
fn conversation<'a>(msg: &Message<'a>, from_me: bool) -> Option<&'a str> {
    let to = msg.param(0);
    match msg.command {
        _ if irc::is_channel(to) => Some(to),
        "PRIVMSG" | "NOTICE" if from_me => Some(to),
        "PRIVMSG" | "NOTICE" => Some(msg.source()),
        _ => None,
    }
}

/// The `msgid` tag of a line, when it has one the client can compare
/// (groupchatd's are decimal and grow over the whole server).
fn msgid(msg: &Message) -> Option<u64> {
    tags::get(msg.tags, "msgid").and_then(|id| id.parse().ok())
}

fn send(command: &str, params: &[&str]) -> Effect {
    Effect::Send(irc::build(command, params))
}

/// Why the login cannot happen, then the end of it.
fn login_failed(why: String) -> Vec<Effect> {
    vec![Effect::Show(Shown::Error(why)), Effect::LoginFailed]
}

fn info(text: &str) -> Effect {
    Effect::Show(Shown::Info(text.to_string()))
}

fn member_list(channel: &str, mut names: Vec<String>) -> Effect {
    members::sort(&mut names);
    let list = if names.is_empty() {
        "nobody".to_string()
    } else {
        names.join(", ")
    };
    Effect::Show(Shown::Event(format!("in {channel}: {list}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(s: &mut Session, line: &str) -> Vec<Effect> {
        s.on_line(&Message::parse(line).unwrap())
    }

    fn sent(effects: &[Effect]) -> Vec<&str> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Send(l) => Some(l.as_str()),
                _ => None,
            })
            .collect()
    }

    fn registered(channel: Option<&str>) -> Session {
        let mut s = Session::new("alice".into(), channel.map(String::from));
        s.register();
        feed(&mut s, ":srv 001 alice :Welcome");
        s
    }

    #[test]
    fn registers_and_becomes_ready_on_the_auto_join() {
        let mut s = Session::new("alice".into(), None);
        assert_eq!(
            sent(&s.register()),
            ["CAP LS 302", "NICK :alice", "USER alice 0 * :alice"]
        );
        // A server without capabilities says so; nothing to show for it.
        assert!(feed(&mut s, ":srv 421 * CAP :Unknown command").is_empty());
        assert!(sent(&feed(&mut s, ":srv 001 alice :Welcome")).is_empty());
        assert!(s.is_registered() && !s.is_ready());
        let effects = feed(&mut s, ":alice!a@h JOIN #lobby");
        assert!(effects.contains(&Effect::Ready));
        assert_eq!(s.current(), Some("#lobby"));
    }

    #[test]
    fn logs_in_before_registering_and_stops_when_the_login_fails() {
        let login = Login::new("alice".into(), "secret".into());
        let mut s = Session::new("alice".into(), None).with_login(login);
        s.register();
        assert_eq!(
            sent(&feed(&mut s, ":srv CAP * LS :sasl=PLAIN")),
            ["CAP REQ :sasl"]
        );
        assert_eq!(
            sent(&feed(&mut s, ":srv CAP * ACK :sasl")),
            ["AUTHENTICATE PLAIN"]
        );
        assert_eq!(
            sent(&feed(&mut s, "AUTHENTICATE +")),
            ["AUTHENTICATE AGFsaWNlAHNlY3JldA=="]
        );
        let done = feed(&mut s, ":srv 903 alice :SASL authentication successful");
        assert_eq!(sent(&done), ["CAP END"]);
        let mut s = Session::new("alice".into(), None)
            .with_login(Login::new("alice".into(), "wrong".into()));
        s.register();
        let failed = feed(&mut s, ":srv 904 * :SASL authentication failed");
        assert_eq!(
            failed,
            [
                Effect::Show(Shown::Error(
                    "login failed: SASL authentication failed".into()
                )),
                Effect::LoginFailed
            ]
        );
        let mut s = Session::new("alice".into(), None)
            .with_login(Login::new("alice".into(), "secret".into()));
        s.register();
        let guest_only = feed(&mut s, ":srv 421 * CAP :Unknown command");
        assert_eq!(guest_only.last(), Some(&Effect::LoginFailed));
    }

    /// Registered with every capability the client wants, in #lobby.
    fn with_caps() -> Session {
        let mut s = Session::new("alice".into(), None);
        s.register();
        let all = "message-tags server-time batch echo-message draft/chathistory labeled-response";
        assert_eq!(
            sent(&feed(&mut s, &format!(":srv CAP * LS :sts {all}"))),
            [format!("CAP REQ :{all}")]
        );
        assert_eq!(
            sent(&feed(&mut s, &format!(":srv CAP * ACK :{all}"))),
            ["CAP END"]
        );
        feed(&mut s, ":srv 001 alice :Welcome");
        feed(&mut s, ":srv 005 alice CHATHISTORY=50 :are supported");
        feed(&mut s, ":alice!a@h JOIN #lobby");
        s
    }

    #[test]
    fn own_lines_are_shown_once_as_echoed() {
        let mut s = with_caps();
        let effects = s.on_command(Command::Say("hi".into()));
        assert_eq!(effects, [Effect::Send("PRIVMSG #lobby :hi".into())]);
        let echo = feed(&mut s, "@msgid=3 :alice!a@h PRIVMSG #lobby :hi");
        assert!(matches!(&echo[..], [Effect::Echo(Shown::Chat { .. })]));
    }

    #[test]
    fn a_reconnect_asks_for_what_came_after_the_last_line_seen() {
        let mut s = with_caps();
        feed(&mut s, "@batch=j :srv BATCH +j chathistory #lobby");
        let past = feed(
            &mut s,
            "@batch=j;time=2026-12-03T06:45:19.123Z;msgid=4 :bob!b@h PRIVMSG #lobby :old",
        );
        assert!(matches!(
            &past[..],
            [Effect::Show(Shown::Past {
                ms: Some(1_796_280_319_123),
                ..
            })]
        ));
        feed(&mut s, ":srv BATCH :-j");
        feed(
            &mut s,
            "@time=2026-12-03T06:46:00.000Z;msgid=9 :bob!b@h PRIVMSG #lobby :live",
        );
        s.lost();
        s.register();
        feed(
            &mut s,
            ":srv CAP * LS :batch server-time message-tags draft/chathistory",
        );
        feed(
            &mut s,
            ":srv CAP * ACK :batch server-time message-tags draft/chathistory",
        );
        feed(&mut s, ":srv 001 alice :again");
        assert_eq!(
            sent(&feed(&mut s, ":alice!a@h JOIN #lobby")),
            ["CHATHISTORY AFTER #lobby msgid=9 50"]
        );
    }

    fn shown(effects: &[Effect]) -> Vec<String> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::Show(Shown::Event(t)) => Some(t.clone()),
                Effect::Show(Shown::Past { line, .. }) => Some(format!("past {line:?}")),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_labelled_reconnect_finds_its_answers_without_a_playback() {
        let mut s = with_caps();
        s.now = || 1_796_280_400_000;
        feed(
            &mut s,
            "@time=2026-12-03T06:45:19.123Z;msgid=4 :bob!b@h PRIVMSG #lobby :seen",
        );
        s.lost();
        s.register();
        let all = "batch server-time message-tags draft/chathistory labeled-response";
        feed(&mut s, &format!(":srv CAP * LS :{all}"));
        feed(&mut s, &format!(":srv CAP * ACK :{all}"));
        assert_eq!(
            sent(&feed(&mut s, ":srv 001 alice :again")),
            [
                "JOIN :#lobby",
                "@label=gc1 CHATHISTORY TARGETS timestamp=2026-12-03T06:45:19.123Z \
                 timestamp=2026-12-03T06:46:40.000Z 50"
            ]
        );
        assert_eq!(
            sent(&feed(&mut s, ":alice!a@h JOIN #lobby")),
            ["@label=gc2 CHATHISTORY AFTER #lobby msgid=4 50"]
        );
        // No playback (join_playback = 0): the first batch is the answer.
        let mut effects = feed(&mut s, "@label=gc2 :srv BATCH +b7 chathistory :#lobby");
        effects.extend(feed(
            &mut s,
            "@batch=b7;msgid=6 :bob!b@h PRIVMSG #lobby :while away",
        ));
        effects.extend(feed(&mut s, ":srv BATCH :-b7"));
        assert_eq!(
            shown(&effects)
                .iter()
                .map(|l| l.split(" {").next().unwrap_or(l))
                .collect::<Vec<_>>(),
            [
                "missed while disconnected:",
                "past Chat",
                "end of missed lines"
            ]
        );
        // The private conversations active meanwhile are caught up too.
        feed(&mut s, "@label=gc1 :srv BATCH +t draft/chathistory-targets");
        feed(
            &mut s,
            "@batch=t :srv CHATHISTORY TARGETS #lobby timestamp=2026-12-03T06:46:00.000Z",
        );
        feed(
            &mut s,
            "@batch=t :srv CHATHISTORY TARGETS carol :timestamp=2026-12-03T06:46:01.000Z",
        );
        assert_eq!(
            sent(&feed(&mut s, ":srv BATCH -t")),
            ["@label=gc3 CHATHISTORY AFTER carol timestamp=2026-12-03T06:45:19.122Z 50"]
        );
        feed(&mut s, "@label=gc3 :srv BATCH +p chathistory carol");
        let private = feed(&mut s, "@batch=p;msgid=7 :carol!c@h PRIVMSG alice :psst");
        assert!(
            matches!(
                &private[..],
                [
                    Effect::Show(Shown::Event(_)),
                    Effect::Show(Shown::Past { line, .. })
                ] if matches!(**line, Shown::Private { .. })
            ),
            "{private:?}"
        );
    }

    #[test]
    fn answers_ping() {
        let mut s = Session::new("alice".into(), None);
        assert_eq!(sent(&feed(&mut s, "PING :tok en")), ["PONG :tok en"]);
    }

    #[test]
    fn a_taken_nick_is_refused_until_registered() {
        let mut s = Session::new("bob".into(), None);
        s.register();
        let effects = feed(&mut s, ":srv 433 * bob :Nickname is already in use");
        assert!(effects.contains(&Effect::NickRefused));
        assert_eq!(sent(&s.set_nick("bob2")), ["NICK :bob2"]);
        feed(&mut s, ":srv 001 bob2 :Welcome");
        assert_eq!(s.nick(), "bob2");
        let later = feed(&mut s, ":srv 433 bob2 carol :Nickname is already in use");
        assert!(!later.contains(&Effect::NickRefused));
    }

    #[test]
    fn channel_option_joins_and_becomes_current_after_the_default() {
        let mut s = Session::new("alice".into(), Some("#dev".into()));
        s.register();
        assert_eq!(sent(&feed(&mut s, ":srv 001 alice :hi")), ["JOIN :#dev"]);
        assert!(!feed(&mut s, ":alice!a@h JOIN #lobby").contains(&Effect::Ready));
        assert_eq!(s.current(), Some("#lobby"));
        assert!(feed(&mut s, ":alice!a@h JOIN #dev").contains(&Effect::Ready));
        assert_eq!(s.current(), Some("#dev"));
    }

    #[test]
    fn an_unjoinable_channel_does_not_block_the_person() {
        let mut s = registered(Some("#secret"));
        let effects = feed(&mut s, ":srv 473 alice #secret :Cannot join channel (+i)");
        assert!(effects.contains(&Effect::Ready));
    }

    #[test]
    fn a_missing_motd_does_not_end_the_wait_for_the_auto_join() {
        let mut s = registered(None);
        assert!(!feed(&mut s, ":srv 422 alice :MOTD File is missing").contains(&Effect::Ready));
        assert!(feed(&mut s, ":alice!a@h JOIN #lobby").contains(&Effect::Ready));
    }

    #[test]
    fn being_kicked_moves_to_another_channel() {
        let mut s = registered(None);
        feed(&mut s, ":alice!a@h JOIN #lobby");
        s.on_command(Command::Join("#dev".into()));
        feed(&mut s, ":alice!a@h JOIN #dev");
        let effects = feed(&mut s, ":op!o@h KICK #dev alice :out");
        assert_eq!(s.current(), Some("#lobby"));
        assert_eq!(
            effects.first(),
            Some(&Effect::Show(Shown::Event(
                "you were kicked from #dev by op (out)".into()
            )))
        );
    }

    #[test]
    fn reconnect_rejoins_and_keeps_the_current_channel() {
        let mut s = registered(None);
        feed(&mut s, ":alice!a@h JOIN #lobby");
        s.on_command(Command::Join("#dev".into()));
        feed(&mut s, ":alice!a@h JOIN #dev");
        assert_eq!(s.current(), Some("#dev"));
        s.lost();
        assert!(!s.is_registered() && !s.is_ready());
        s.register();
        let joins = feed(&mut s, ":srv 001 alice :again");
        assert_eq!(sent(&joins), ["JOIN :#lobby", "JOIN :#dev"]);
        assert!(!feed(&mut s, ":alice!a@h JOIN #lobby").contains(&Effect::Ready));
        assert!(feed(&mut s, ":alice!a@h JOIN #dev").contains(&Effect::Ready));
        assert_eq!(s.current(), Some("#dev"));
    }

    #[test]
    fn talking_commands_go_to_the_current_channel() {
        let mut s = registered(None);
        assert!(matches!(
            &s.on_command(Command::Say("hi".into()))[..],
            [Effect::Show(Shown::Error(_))]
        ));
        feed(&mut s, ":alice!a@h JOIN #lobby");
        let effects = s.on_command(Command::Say("hi".into()));
        assert_eq!(sent(&effects), ["PRIVMSG #lobby :hi"]);
        assert_eq!(
            sent(&s.on_command(Command::Me("waves".into()))),
            ["PRIVMSG #lobby :\x01ACTION waves\x01"]
        );
        assert_eq!(sent(&s.on_command(Command::Who)), ["WHO :#lobby"]);
        let kick = Command::Kick {
            nick: "bob".into(),
            reason: None,
        };
        assert_eq!(sent(&s.on_command(kick)), ["KICK #lobby :bob"]);
        let op = Command::Mode(vec!["+o".into(), "bob".into()]);
        assert_eq!(sent(&s.on_command(op)), ["MODE #lobby +o :bob"]);
        let elsewhere = Command::Mode(vec!["#dev".into(), "+m".into()]);
        assert_eq!(sent(&s.on_command(elsewhere)), ["MODE #dev :+m"]);
        assert_eq!(sent(&s.on_command(Command::Topic(None))), ["TOPIC #lobby"]);
        assert_eq!(sent(&s.on_command(Command::Part(None))), ["PART #lobby :"]);
        let quit = s.on_command(Command::Quit(None));
        assert_eq!(quit.last(), Some(&Effect::Leaving));
    }

    #[test]
    fn private_messages_show_what_was_sent() {
        let mut s = registered(None);
        let effects = s.on_command(Command::Msg {
            to: "bob".into(),
            text: "psst".into(),
        });
        assert_eq!(sent(&effects), ["PRIVMSG bob :psst"]);
        assert!(effects.contains(&Effect::Echo(Shown::PrivateSent {
            to: "bob".into(),
            nick: "alice".into(),
            text: "psst".into()
        })));
    }

    #[test]
    fn input_waits_for_join_and_part_to_be_confirmed() {
        let mut s = registered(None);
        feed(&mut s, ":alice!a@h JOIN #lobby");
        s.on_command(Command::Join("#dev".into()));
        assert!(!s.is_ready());
        assert!(feed(&mut s, ":alice!a@h JOIN #dev").contains(&Effect::Ready));
        s.on_command(Command::Part(None));
        assert!(!s.is_ready());
        assert!(feed(&mut s, ":alice!a@h PART #dev").contains(&Effect::Ready));
        s.on_command(Command::Join("#secret".into()));
        assert!(feed(&mut s, ":srv 473 alice #secret :Cannot join").contains(&Effect::Ready));
        assert_eq!(s.current(), Some("#lobby"));
    }

    #[test]
    fn parting_the_current_channel_moves_to_another() {
        let mut s = registered(None);
        feed(&mut s, ":alice!a@h JOIN #lobby");
        s.on_command(Command::Join("#dev".into()));
        feed(&mut s, ":alice!a@h JOIN #dev");
        feed(&mut s, ":alice!a@h PART #dev");
        assert_eq!(s.current(), Some("#lobby"));
    }

    #[test]
    fn own_nick_change_is_followed() {
        let mut s = registered(None);
        feed(&mut s, ":alice!a@h NICK :al");
        assert_eq!(s.nick(), "al");
    }

    #[test]
    fn names_and_who_are_gathered_into_one_line() {
        let mut s = registered(None);
        assert!(feed(&mut s, ":srv 353 alice = #lobby :alice @bob").is_empty());
        feed(&mut s, ":srv 353 alice = #lobby :carol");
        assert_eq!(
            feed(&mut s, ":srv 366 alice #lobby :End of NAMES"),
            [Effect::Show(Shown::Event(
                "in #lobby: @bob, alice, carol".into()
            ))]
        );
        feed(&mut s, ":srv 352 alice #lobby b h srv bob H@ :0 Bob");
        feed(&mut s, ":srv 352 alice #lobby a h srv alice H :0 Al");
        feed(&mut s, ":srv 352 alice #lobby c h srv carol G*+ :0 Carol");
        assert_eq!(
            feed(&mut s, ":srv 315 alice #lobby :End of WHO"),
            [Effect::Show(Shown::Event(
                "in #lobby: @bob, +carol, alice".into()
            ))]
        );
    }
}
