//! History for clients: `CHATHISTORY` (IRCv3 draft/chathistory) and the
//! lines played back on joining a channel.
//!
//! The hub only checks a request and decides who may read what; it hands
//! the question to the outbox ([`Outbox::ask`]) and the reactor answers it,
//! from memory at once or from the store later, through
//! [`Hub::history_answer`], which presents the entries to that client.

use super::{Cap, ClientId, Hub, Outbox};
use crate::clock::{format_hh_mm, format_iso, parse_iso};
use crate::history::{
    Entry, Kind, Query, Selector, TargetActivity, TargetsQuery, private_key, private_parties,
};
use crate::message::{Line, build};
use crate::names::fold;
use crate::tags::{Stamp, stamped, with_tags};

/// Most entries one CHATHISTORY reply holds (`CHATHISTORY=` in ISUPPORT).
pub const MAX_CHATHISTORY: usize = 100;

/// A question for history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// Entries of one conversation; joins, parts and quits too when
    /// `events` (the client has `draft/event-playback`).
    Query {
        query: Query,
        events: bool,
    },
    Targets(TargetsQuery),
}

impl Ask {
    /// The conversation asked about; empty for TARGETS, which asks about
    /// several.
    pub fn target(&self) -> &str {
        match self {
            Ask::Query { query, .. } => query.target(),
            Ask::Targets(_) => "",
        }
    }
}

/// How the answer is to be shown, kept with the question until it comes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answering {
    form: Form,
    /// The label of the CHATHISTORY command, for labeled-response.
    label: Option<String>,
}

impl Answering {
    /// The answer will be the reply to a labelled command.
    pub(super) fn label(&mut self, label: &str) -> bool {
        if matches!(self.form, Form::Playback { .. }) {
            return false;
        }
        self.label = Some(label.to_string());
        true
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Form {
    /// A `chathistory` batch for `target`, as the client named it.
    Batch {
        target: String,
    },
    /// The lines before a join, in `channel`.
    Playback {
        channel: String,
    },
    Targets,
}

/// What history found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    Entries(Vec<Entry>),
    Targets(Vec<TargetActivity>),
}

impl Hub {
    pub(super) fn chathistory(
        &mut self,
        id: ClientId,
        msg: &crate::message::Message,
        out: &mut dyn Outbox,
    ) {
        let Some(sub) = msg.param(0).map(str::to_ascii_uppercase) else {
            self.fail_chathistory(id, &["NEED_MORE_PARAMS", "Missing parameters"], out);
            return;
        };
        if !self.config.history {
            self.fail_chathistory(
                id,
                &[
                    "MESSAGE_ERROR",
                    &sub,
                    "History is turned off on this server",
                ],
                out,
            );
            return;
        }
        let params = &msg.params[1..];
        let ask = if sub == "TARGETS" {
            self.targets_request(id, params)
        } else {
            self.query_request(id, &sub, params)
        };
        match ask {
            Ok((ask, form)) => out.ask(id, ask, Answering { form, label: None }),
            Err(fail) => {
                let fail: Vec<&str> = fail.iter().map(String::as_str).collect();
                self.fail_chathistory(id, &fail, out);
            }
        }
    }

    /// `FAIL CHATHISTORY <code> [<context>…] :<description>`.
    fn fail_chathistory(&self, id: ClientId, params: &[&str], out: &mut dyn Outbox) {
        let mut all = vec!["CHATHISTORY"];
        all.extend_from_slice(params);
        self.fail(id, &all, out);
    }

    fn query_request(
        &self,
        id: ClientId,
        sub: &str,
        params: &[&str],
    ) -> Result<(Ask, Form), Vec<String>> {
        let wanted = match sub {
            "LATEST" | "BEFORE" | "AFTER" | "AROUND" => 3,
            "BETWEEN" => 4,
            _ => {
                return Err(vec![
                    "INVALID_PARAMS".into(),
                    sub.into(),
                    "Unknown subcommand".into(),
                ]);
            }
        };
        if params.len() < wanted {
            return Err(vec![
                "NEED_MORE_PARAMS".into(),
                sub.into(),
                "Missing parameters".into(),
            ]);
        }
        let name = params[0];
        let invalid = |what: &str| {
            vec![
                "INVALID_PARAMS".into(),
                sub.into(),
                format!("Invalid {what}"),
            ]
        };
        let limit = limit(params[wanted - 1]).ok_or_else(|| invalid("limit"))?;
        let target = self.readable_target(id, name).ok_or_else(|| {
            vec![
                "INVALID_TARGET".into(),
                sub.into(),
                name.into(),
                "No such channel or conversation".into(),
            ]
        })?;
        let sel = |i: usize| selector(params[i]).ok_or_else(|| invalid("message reference"));
        let query = match sub {
            "LATEST" => Query::Latest {
                target,
                after: if params[1] == "*" {
                    None
                } else {
                    Some(sel(1)?)
                },
                limit,
            },
            "BEFORE" => Query::Before {
                target,
                sel: sel(1)?,
                limit,
            },
            "AFTER" => Query::After {
                target,
                sel: sel(1)?,
                limit,
            },
            "AROUND" => Query::Around {
                target,
                sel: sel(1)?,
                limit,
            },
            _ => Query::Between {
                target,
                from: sel(1)?,
                to: sel(2)?,
                limit,
            },
        };
        let events = self
            .client(id)
            .is_some_and(|c| c.caps.has(Cap::EventPlayback));
        Ok((
            Ask::Query { query, events },
            Form::Batch {
                target: name.to_string(),
            },
        ))
    }

    fn targets_request(&self, id: ClientId, params: &[&str]) -> Result<(Ask, Form), Vec<String>> {
        let invalid = |what: &str| {
            vec![
                "INVALID_PARAMS".into(),
                "TARGETS".into(),
                format!("Invalid {what}"),
            ]
        };
        if params.len() < 3 {
            return Err(vec![
                "NEED_MORE_PARAMS".into(),
                "TARGETS".into(),
                "Missing parameters".into(),
            ]);
        }
        let time = |p: &str| match selector(p) {
            Some(Selector::Time(ms)) => Ok(ms),
            _ => Err(invalid("timestamp")),
        };
        let (a, b) = (time(params[0])?, time(params[1])?);
        let limit = limit(params[2]).ok_or_else(|| invalid("limit"))?;
        let client = self.client(id).ok_or_else(Vec::new)?;
        let channels = client
            .channels
            .iter()
            .filter_map(|&c| self.channels.get(c))
            .map(|c| fold(&c.name))
            .collect();
        let ask = Ask::Targets(TargetsQuery {
            channels,
            nick: fold(&client.nick),
            from_ms: a.min(b),
            to_ms: a.max(b),
            limit,
        });
        Ok((ask, Form::Targets))
    }

    /// The history key of `name` if this client may read it: a channel it
    /// is in, or its private conversation with the nick `name`.
    fn readable_target(&self, id: ClientId, name: &str) -> Option<String> {
        let client = self.client(id)?;
        let folded = fold(name);
        if name.starts_with('#') {
            let chan = *self.channel_ids.get(&folded)?;
            client.channels.contains(&chan).then_some(folded)
        } else if crate::names::valid_nick(name, usize::MAX) {
            Some(private_key(&fold(&client.nick), &folded))
        } else {
            None
        }
    }

    /// Asks for the lines said in a channel before `id` joined it, that is
    /// before msgid `joined`.
    pub(super) fn play_back(
        &mut self,
        id: ClientId,
        channel: &str,
        joined: u64,
        out: &mut dyn Outbox,
    ) {
        let limit = self.config.join_playback;
        if !self.config.history || limit == 0 {
            return;
        }
        let query = Query::Before {
            target: fold(channel),
            sel: Selector::Seq(joined),
            limit,
        };
        let form = Form::Playback {
            channel: channel.to_string(),
        };
        // Events only in a batch: framed NOTICEs show messages alone.
        let events = self.client(id).is_some_and(|c| {
            let caps = c.caps;
            caps.has(Cap::EventPlayback) && caps.has(Cap::Batch) && caps.has(Cap::ServerTime)
        });
        out.ask(
            id,
            Ask::Query { query, events },
            Answering { form, label: None },
        );
    }

    /// Records a join, part or quit (`kind`) of `prefix` in `channel`'s
    /// history, for `draft/event-playback`. Unlike a message it holds no
    /// output back: the durability promise is about what was said.
    pub(super) fn record_event(
        &mut self,
        prefix: &str,
        kind: Kind,
        channel: &str,
        reason: &str,
        (time_ms, seq): (i64, u64),
        out: &mut dyn Outbox,
    ) {
        if !self.config.history {
            return;
        }
        out.record(Entry {
            seq,
            time_ms,
            target: fold(channel).into(),
            kind,
            prefix: prefix.into(),
            nick: fold(prefix.split('!').next().unwrap_or_default()).into(),
            to: channel.into(),
            text: reason.into(),
            tags: "".into(),
        });
    }

    /// History's answer to what `id` asked, shown to it as `answering` says.
    pub fn history_answer(
        &mut self,
        id: ClientId,
        answering: Answering,
        found: Result<Found, String>,
        out: &mut dyn Outbox,
    ) {
        let Some(client) = self.client(id) else {
            return;
        };
        let caps = client.caps;
        let server = self.config.server_name.clone();
        let label = answering.label.as_deref().map(|l| format!("label={l}"));
        let labelled = |line: Line| match &label {
            Some(label) => with_tags(label, &line),
            None => line,
        };
        let found = match found {
            Ok(found) => found,
            Err(error) => {
                log::warn!("history could not answer {}: {error}", client.nick);
                let line = self.fail_line(&[
                    "CHATHISTORY",
                    "MESSAGE_ERROR",
                    "Messages could not be retrieved",
                ]);
                out.send(id, &labelled(line));
                return;
            }
        };
        // The batch's reference first: each stored line is built once,
        // with its batch tag in the same buffer.
        let reference = caps.has(Cap::Batch).then(|| self.next_batch_ref());
        let inside = reference.as_ref().map(|r| format!("batch={r}"));
        let Some(client) = self.client(id) else {
            return;
        };
        let mut lines: Vec<Line> = Vec::new();
        let (batch_type, batch_target) = match (&answering.form, found) {
            (Form::Targets, Found::Targets(targets)) => {
                let me = fold(&client.nick);
                for t in targets {
                    let name = match private_parties(&t.target) {
                        Some((a, b)) => if a == me { b } else { a }.to_string(),
                        None => self
                            .channel_ids
                            .get(&t.target)
                            .and_then(|&c| self.channels.get(c))
                            .map_or(t.target.clone(), |c| c.name.clone()),
                    };
                    let time = format!("timestamp={}", format_iso(t.latest_ms));
                    let line = build(&server, "CHATHISTORY", &["TARGETS", &name, &time]);
                    lines.push(match &inside {
                        Some(inside) => with_tags(inside, &line),
                        None => line,
                    });
                }
                ("draft/chathistory-targets", None)
            }
            (Form::Playback { channel }, Found::Entries(entries))
                if !(caps.has(Cap::Batch) && caps.has(Cap::ServerTime)) =>
            {
                if entries.is_empty() {
                    return;
                }
                let notice = |text: &str| build(&server, "NOTICE", &[channel, text]);
                let count = entries.len();
                let plural = if count == 1 { "" } else { "s" };
                lines.push(notice(&format!("--- {count} earlier message{plural} ---")));
                for e in entries.iter().filter(|e| e.kind != Kind::Tagmsg) {
                    let nick = e.prefix.split('!').next().unwrap_or_default();
                    let who = if e.kind == Kind::Notice {
                        format!("-{nick}-")
                    } else {
                        format!("<{nick}>")
                    };
                    lines.push(notice(&format!(
                        "[{}] {who} {}",
                        format_hh_mm(e.time_ms),
                        e.text
                    )));
                }
                lines.push(notice("--- end of earlier messages ---"));
                for line in &lines {
                    out.send(id, line);
                }
                return;
            }
            (
                Form::Playback { channel } | Form::Batch { target: channel },
                Found::Entries(entries),
            ) => {
                if entries.is_empty() && matches!(answering.form, Form::Playback { .. }) {
                    return;
                }
                let first = inside.as_deref().unwrap_or_default();
                for e in entries
                    .iter()
                    .filter(|e| e.kind != Kind::Tagmsg || caps.has(Cap::MessageTags))
                {
                    lines.push(replayed(first, e, caps.wants()));
                }
                ("chathistory", Some(channel.clone()))
            }
            (_, _) => return,
        };
        // The lines carry their batch tag already, if there is a batch.
        let Some(reference) = reference else {
            for line in lines {
                out.send(id, &line);
            }
            return;
        };
        let mut start = vec![format!("+{reference}"), batch_type.to_string()];
        start.extend(batch_target);
        let start: Vec<&str> = start.iter().map(String::as_str).collect();
        out.send(id, &labelled(build(&server, "BATCH", &start)));
        for line in &lines {
            out.send(id, line);
        }
        out.send(id, &build(&server, "BATCH", &[&format!("-{reference}")]));
    }
}

/// An entry as a line, with `first` (its batch tag, or nothing) and the
/// tags this client takes, built in one buffer.
fn replayed(first: &str, e: &Entry, wants: crate::tags::Wants) -> Line {
    let (text, to) = ([&*e.text], [&*e.to]);
    let both = [&*e.to, &*e.text];
    let params: &[&str] = match e.kind {
        Kind::Quit => &text,
        Kind::Join | Kind::Tagmsg => &to,
        Kind::Part if e.text.is_empty() => &to,
        _ => &both,
    };
    let stamp = Stamp {
        seq: e.seq,
        time_ms: e.time_ms,
        client_tags: &e.tags,
        account: None,
    };
    stamped(first, &stamp, wants, &e.prefix, e.kind.as_str(), params)
}

/// A positive number of entries, capped at [`MAX_CHATHISTORY`].
fn limit(text: &str) -> Option<usize> {
    let n: usize = text.parse().ok()?;
    (n > 0).then_some(n.min(MAX_CHATHISTORY))
}

/// `msgid=…` or `timestamp=…`.
fn selector(text: &str) -> Option<Selector> {
    let (kind, value) = text.split_once('=')?;
    match kind {
        "msgid" => value.parse().ok().map(Selector::Seq),
        "timestamp" => parse_iso(value).map(Selector::Time),
        _ => None,
    }
}
