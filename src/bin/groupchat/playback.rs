//! The server's history as the client shows it (IRCv3 `batch` and
//! `draft/chathistory`): the earlier lines played back on joining, and
//! after a reconnect the lines missed while away. Pure: it is handed lines
//! already rendered, decides which to show and how, and says which
//! `CHATHISTORY` requests to send.
//!
//! Every line carries a `msgid` that grows over the whole server, so "seen
//! already" is a comparison and a set, never a text match. After a
//! reconnect a channel's JOIN brings its playback batch (the last few
//! lines) and the client asks `CHATHISTORY AFTER` the last msgid it saw.
//! The server answers a client's requests in order, so the first
//! `chathistory` batch for that channel is the playback, which the answers
//! cover, and the next ones are the answers: shown as missed, oldest first,
//! each once.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::irc;
use crate::render::Shown;

/// Lines per `CHATHISTORY` request when the server's ISUPPORT does not say
/// (`CHATHISTORY=N`).
pub const DEFAULT_PAGE: usize = 100;

pub struct Playback {
    /// Lines per request; an answer this long may have more after it.
    page: usize,
    /// Open `chathistory` batches, by reference.
    batches: HashMap<String, Batch>,
    /// The newest msgid seen in each channel (lowercased), live or
    /// played back.
    last: HashMap<String, u64>,
    /// Channels (lowercased) to be joined again after a reconnect: their
    /// JOIN starts a catch-up.
    due: Vec<String>,
    /// Catch-ups under way, by lowercased channel.
    catch_ups: HashMap<String, CatchUp>,
}

struct Batch {
    channel: String,
    role: Role,
    lines: usize,
    newest: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Earlier lines, shown as such.
    History,
    /// A rejoin's playback during a catch-up: the answers show its lines.
    Skipped,
    /// A `CHATHISTORY AFTER` answer: missed lines.
    Missed,
}

struct CatchUp {
    /// The batches still to come for this channel, in the order the server
    /// sends them.
    expected: VecDeque<Role>,
    /// Msgids shown since the reconnect, live ones included: a line said
    /// just after the rejoin arrives live and again in the answer.
    shown: HashSet<u64>,
    /// The "missed" header is out, so the end marker is owed.
    header: bool,
}

impl Playback {
    pub fn new() -> Playback {
        Playback {
            page: DEFAULT_PAGE,
            batches: HashMap::new(),
            last: HashMap::new(),
            due: Vec::new(),
            catch_ups: HashMap::new(),
        }
    }

    /// The server's `CHATHISTORY=N`: the most lines one request returns.
    pub fn set_page(&mut self, lines: usize) {
        self.page = lines.clamp(1, DEFAULT_PAGE);
    }

    /// The connection is gone; `rejoin` are the channels to join again.
    pub fn lost(&mut self, rejoin: &[String]) {
        self.batches.clear();
        self.catch_ups.clear();
        self.due = rejoin.iter().map(|c| c.to_ascii_lowercase()).collect();
    }

    /// We joined `channel`. After a reconnect, with `chathistory`, returns
    /// the request for what was missed; `playback` is whether the server
    /// plays the last lines back on joining (it does with `batch` and
    /// `server-time`).
    pub fn joined(&mut self, channel: &str, chathistory: bool, playback: bool) -> Option<String> {
        let key = channel.to_ascii_lowercase();
        let was_due = self.due.contains(&key);
        self.due.retain(|c| *c != key);
        let last = *self.last.get(&key)?;
        if !was_due || !chathistory {
            return None;
        }
        let mut expected = VecDeque::new();
        if playback {
            expected.push_back(Role::Skipped);
        }
        expected.push_back(Role::Missed);
        self.catch_ups.insert(
            key,
            CatchUp {
                expected,
                shown: HashSet::new(),
                header: false,
            },
        );
        Some(self.request(channel, last))
    }

    /// We left `channel`: a catch-up there is moot.
    pub fn left(&mut self, channel: &str) {
        let key = channel.to_ascii_lowercase();
        self.catch_ups.remove(&key);
        self.due.retain(|c| *c != key);
    }

    /// A live line with `msgid` in `channel`.
    pub fn live(&mut self, channel: &str, msgid: u64) {
        let key = channel.to_ascii_lowercase();
        if let Some(catch_up) = self.catch_ups.get_mut(&key) {
            catch_up.shown.insert(msgid);
        }
        self.saw(key, msgid);
    }

    /// `BATCH +reference kind target…`; only `chathistory` batches are
    /// followed.
    pub fn start(&mut self, reference: &str, kind: &str, target: &str) {
        if kind != "chathistory" || !irc::is_channel(target) {
            return;
        }
        let key = target.to_ascii_lowercase();
        let role = self
            .catch_ups
            .get_mut(&key)
            .and_then(|c| c.expected.pop_front())
            .unwrap_or(Role::History);
        self.batches.insert(
            reference.to_string(),
            Batch {
                channel: target.to_string(),
                role,
                lines: 0,
                newest: None,
            },
        );
    }

    pub fn is_open(&self, reference: &str) -> bool {
        self.batches.contains_key(reference)
    }

    /// One line of batch `reference`, as rendered (`None`: nothing to
    /// show, like a CTCP); returns what to show now.
    pub fn line(
        &mut self,
        reference: &str,
        msgid: Option<u64>,
        ms: Option<i64>,
        shown: Option<Shown>,
    ) -> Vec<Shown> {
        let Some(batch) = self.batches.get_mut(reference) else {
            return Vec::new();
        };
        batch.lines += 1;
        if msgid.is_some() {
            batch.newest = batch.newest.max(msgid);
        }
        let (key, role) = (batch.channel.to_ascii_lowercase(), batch.role);
        let past = |line| Shown::Past {
            ms,
            line: Box::new(line),
        };
        let mut out = Vec::new();
        match role {
            Role::History => {
                // Seen already: a rejoin without chathistory, or /join again.
                let seen = msgid.is_some_and(|id| self.last.get(&key).is_some_and(|&l| id <= l));
                if !seen {
                    out.extend(shown.map(past));
                }
            }
            Role::Skipped => {}
            Role::Missed => {
                if let Some(catch_up) = self.catch_ups.get_mut(&key) {
                    let fresh = msgid.is_none_or(|id| catch_up.shown.insert(id));
                    if let (true, Some(line)) = (fresh, shown) {
                        if !std::mem::replace(&mut catch_up.header, true) {
                            out.push(Shown::Event("missed while disconnected:".to_string()));
                        }
                        out.push(past(line));
                    }
                }
            }
        }
        if let Some(id) = msgid {
            self.saw(key, id);
        }
        out
    }

    /// `BATCH -reference`: returns what to show, and the next request when
    /// a full page says more may follow.
    pub fn end(&mut self, reference: &str) -> (Vec<Shown>, Option<String>) {
        let Some(batch) = self.batches.remove(reference) else {
            return (Vec::new(), None);
        };
        if batch.role != Role::Missed {
            return (Vec::new(), None);
        }
        let key = batch.channel.to_ascii_lowercase();
        if let (true, Some(newest)) = (batch.lines >= self.page, batch.newest)
            && let Some(catch_up) = self.catch_ups.get_mut(&key)
        {
            catch_up.expected.push_back(Role::Missed);
            return (Vec::new(), Some(self.request(&batch.channel, newest)));
        }
        (self.finish(&key), None)
    }

    /// The server refused a `CHATHISTORY` request: no answer is coming, so
    /// every catch-up ends with what it has.
    pub fn failed(&mut self) -> Vec<Shown> {
        let keys: Vec<String> = self.catch_ups.keys().cloned().collect();
        keys.iter().flat_map(|k| self.finish(k)).collect()
    }

    fn finish(&mut self, key: &str) -> Vec<Shown> {
        match self.catch_ups.remove(key) {
            Some(c) if c.header => vec![Shown::Event("end of missed lines".to_string())],
            _ => Vec::new(),
        }
    }

    fn request(&self, channel: &str, after: u64) -> String {
        format!("CHATHISTORY AFTER {channel} msgid={after} {}", self.page)
    }

    fn saw(&mut self, key: String, msgid: u64) {
        let last = self.last.entry(key).or_insert(msgid);
        *last = (*last).max(msgid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(text: &str) -> Option<Shown> {
        Some(Shown::Event(text.to_string()))
    }

    fn texts(shown: &[Shown]) -> Vec<String> {
        shown
            .iter()
            .map(|s| match s {
                Shown::Past { line, .. } => match &**line {
                    Shown::Event(t) => format!("past {t}"),
                    other => format!("{other:?}"),
                },
                Shown::Event(t) => t.clone(),
                other => format!("{other:?}"),
            })
            .collect()
    }

    /// Plays one batch; returns what it showed and the request it made.
    fn batch(p: &mut Playback, lines: &[(u64, &str)]) -> (Vec<String>, Option<String>) {
        p.start("r", "chathistory", "#lobby");
        let mut shown = Vec::new();
        for &(id, text) in lines {
            shown.extend(p.line("r", Some(id), Some(0), chat(text)));
        }
        let (end, request) = p.end("r");
        shown.extend(end);
        (texts(&shown), request)
    }

    #[test]
    fn join_playback_is_history_and_not_shown_twice() {
        let mut p = Playback::new();
        assert_eq!(p.joined("#lobby", true, true), None);
        let (shown, request) = batch(&mut p, &[(1, "a"), (2, "b")]);
        assert_eq!(shown, ["past a", "past b"]);
        assert_eq!(request, None);
        p.live("#lobby", 3);
        let (again, _) = batch(&mut p, &[(2, "b"), (3, "c"), (4, "d")]);
        assert_eq!(again, ["past d"]);
    }

    #[test]
    fn a_reconnect_fetches_what_was_missed_once_each() {
        let mut p = Playback::new();
        p.joined("#lobby", true, true);
        p.live("#lobby", 5);
        p.lost(&["#Lobby".to_string()]);
        assert_eq!(
            p.joined("#LOBBY", true, true).as_deref(),
            Some("CHATHISTORY AFTER #LOBBY msgid=5 100")
        );
        // The playback comes first and is left to the answer.
        assert_eq!(
            batch(&mut p, &[(5, "old"), (7, "m1"), (9, "m2")]).0.len(),
            0
        );
        // A line said after the rejoin comes live, then in the answer too.
        p.live("#lobby", 11);
        let (shown, request) = batch(&mut p, &[(7, "m1"), (9, "m2"), (11, "live")]);
        assert_eq!(
            shown,
            [
                "missed while disconnected:",
                "past m1",
                "past m2",
                "end of missed lines"
            ]
        );
        assert_eq!(request, None);
        // Caught up: later batches are history again.
        assert_eq!(batch(&mut p, &[(9, "m2"), (12, "new")]).0, ["past new"]);
    }

    #[test]
    fn full_pages_are_followed_by_the_next() {
        let mut p = Playback::new();
        p.set_page(2);
        p.live("#lobby", 1);
        p.lost(&["#lobby".to_string()]);
        assert!(p.joined("#lobby", true, false).is_some());
        let (shown, request) = batch(&mut p, &[(2, "a"), (3, "b")]);
        assert_eq!(shown, ["missed while disconnected:", "past a", "past b"]);
        assert_eq!(
            request.as_deref(),
            Some("CHATHISTORY AFTER #lobby msgid=3 2")
        );
        let (rest, request) = batch(&mut p, &[(4, "c")]);
        assert_eq!(rest, ["past c", "end of missed lines"]);
        assert_eq!(request, None);
    }

    #[test]
    fn no_catch_up_without_chathistory_or_a_known_msgid() {
        let mut p = Playback::new();
        p.lost(&["#lobby".to_string()]);
        assert_eq!(p.joined("#lobby", true, true), None);
        p.live("#lobby", 4);
        p.lost(&["#lobby".to_string()]);
        assert_eq!(p.joined("#lobby", false, true), None);
        // Without chathistory the playback shows only what is new.
        assert_eq!(batch(&mut p, &[(4, "seen"), (6, "new")]).0, ["past new"]);
    }

    #[test]
    fn a_refusal_ends_the_catch_up() {
        let mut p = Playback::new();
        p.live("#lobby", 1);
        p.lost(&["#lobby".to_string()]);
        p.joined("#lobby", true, false);
        assert!(p.failed().is_empty());
        assert_eq!(batch(&mut p, &[(2, "x")]).0, ["past x"]);
    }
}
