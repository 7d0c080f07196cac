//! The server's history as the client shows it (IRCv3 `batch` and
//! `draft/chathistory`): the earlier lines played back on joining, and
//! after a reconnect the lines missed while away. Pure: it is handed lines
//! already rendered, decides which to show and how, and says which
//! `CHATHISTORY` requests to send.
//!
//! Every line carries a `msgid` that grows over the whole server, so "seen
//! already" is a comparison and a set, never a text match. After a
//! reconnect a channel's JOIN may bring its playback batch (the last few
//! lines), and the client asks `CHATHISTORY AFTER` the last msgid it saw;
//! both answers are `chathistory` batches for the channel. With
//! `labeled-response` the request carries a label that the server puts on
//! the answer's `BATCH` line, so the answer is known whatever the order and
//! whether or not a playback comes. Without it, the server answering a
//! client's requests in order is all there is: the first batch for that
//! channel is taken for the playback (when the server plays back) and the
//! next ones for the answers. Either way the answer covers the playback,
//! whose lines are left to it; the answer's are shown as missed, oldest
//! first, each once.
//!
//! Private conversations have no JOIN: with labels, a reconnect asks
//! `CHATHISTORY TARGETS` which conversations were active since the last
//! line seen, then `CHATHISTORY AFTER` that time in each.

use std::collections::{HashMap, HashSet, VecDeque};

use groupchatd::clock::format_iso;
use groupchatd::names::fold;

use crate::irc;
use crate::render::Shown;

/// Lines per `CHATHISTORY` request when the server's ISUPPORT does not say
/// (`CHATHISTORY=N`).
pub const DEFAULT_PAGE: usize = 100;

/// Most conversations one `CHATHISTORY TARGETS` request lists.
const MAX_TARGETS: usize = 50;

pub struct Playback {
    /// Lines per request; an answer this long may have more after it.
    page: usize,
    /// Requests go out labelled (`labeled-response` with `batch`).
    labels: bool,
    /// The number in the last label made on this connection.
    labelled: u64,
    /// Labelled requests whose answer is still to come, by label.
    awaited: HashMap<String, Awaited>,
    /// Open batches followed here, by reference.
    batches: HashMap<String, Batch>,
    /// The newest msgid seen in each conversation (a channel or a nick,
    /// folded as the server folds names), live or played back.
    last: HashMap<String, u64>,
    /// The newest msgid and server time seen anywhere.
    newest: Option<u64>,
    newest_ms: Option<i64>,
    /// Channels (folded) to be joined again after a reconnect: their
    /// JOIN starts a catch-up.
    due: Vec<String>,
    /// After a reconnect: the newest msgid and server time seen before the
    /// cut, from which private conversations are to be caught up.
    private_due: Option<(Option<u64>, i64)>,
    /// Catch-ups under way, by folded channel or nick.
    catch_ups: HashMap<String, CatchUp>,
    /// Msgids shown since the reconnect while catching up, live ones
    /// included: a line said just after the reconnect arrives live and
    /// again in the answer.
    shown: HashSet<u64>,
}

/// What a labelled request asked for.
enum Awaited {
    /// The lines after the last one seen in the conversation (folded).
    Missed(String),
    /// The private conversations active since this time, and the newest
    /// msgid seen before the cut.
    Targets { since_ms: i64, cut: Option<u64> },
}

struct Batch {
    /// The channel or nick, as the server named it.
    target: String,
    role: Role,
    lines: usize,
    newest: Option<u64>,
    /// The private conversations listed, in a `Role::Targets` batch.
    names: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Earlier lines, shown as such.
    History,
    /// A rejoin's playback during a catch-up: the answers show its lines.
    Skipped,
    /// A `CHATHISTORY AFTER` answer: missed lines.
    Missed,
    /// A `CHATHISTORY TARGETS` answer.
    Targets { since_ms: i64, cut: Option<u64> },
}

struct CatchUp {
    /// Unlabelled: the batches still to come for this channel, in the
    /// order the server sends them.
    expected: VecDeque<Role>,
    /// Lines up to this msgid were seen before the cut.
    after: Option<u64>,
    private: bool,
    /// The "missed" header is out, so the end marker is owed.
    header: bool,
}

impl Playback {
    pub fn new() -> Playback {
        Playback {
            page: DEFAULT_PAGE,
            labels: false,
            labelled: 0,
            awaited: HashMap::new(),
            batches: HashMap::new(),
            last: HashMap::new(),
            newest: None,
            newest_ms: None,
            due: Vec::new(),
            private_due: None,
            catch_ups: HashMap::new(),
            shown: HashSet::new(),
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
        self.awaited.clear();
        self.shown.clear();
        self.due = rejoin.iter().map(|c| fold(c)).collect();
        // A private catch-up cut short starts again from where it started.
        if self.private_due.is_none() {
            self.private_due = self.newest_ms.map(|ms| (self.newest, ms));
        }
    }

    /// Registered on a fresh connection; `labels`: requests can go out
    /// labelled (the server has `labeled-response` and `batch`). After a
    /// reconnect, with `chathistory` and labels, returns the request for
    /// the conversations active from the last line seen to `now_ms`.
    pub fn registered(&mut self, labels: bool, chathistory: bool, now_ms: i64) -> Option<String> {
        self.labels = labels;
        let (cut, since_ms) = self.private_due?;
        if !(labels && chathistory) {
            self.private_due = None;
            return None;
        }
        let label = self.label(Awaited::Targets { since_ms, cut });
        Some(format!(
            "@label={label} CHATHISTORY TARGETS timestamp={} timestamp={} {MAX_TARGETS}",
            format_iso(since_ms),
            format_iso(now_ms)
        ))
    }

    /// We joined `channel`. After a reconnect, with `chathistory`, returns
    /// the request for what was missed; `playback` is whether the server
    /// plays the last lines back on joining (it does with `batch` and
    /// `server-time`, unless told not to: only labels tell for sure).
    pub fn joined(&mut self, channel: &str, chathistory: bool, playback: bool) -> Option<String> {
        let key = fold(channel);
        let was_due = self.due.contains(&key);
        self.due.retain(|c| *c != key);
        let last = *self.last.get(&key)?;
        if !was_due || !chathistory {
            return None;
        }
        let mut expected = VecDeque::new();
        if !self.labels {
            if playback {
                expected.push_back(Role::Skipped);
            }
            expected.push_back(Role::Missed);
        }
        self.catch_ups.insert(
            key,
            CatchUp {
                expected,
                after: Some(last),
                private: false,
                header: false,
            },
        );
        Some(self.request(channel, &format!("msgid={last}")))
    }

    /// We left `channel`: a catch-up there is moot.
    pub fn left(&mut self, channel: &str) {
        let key = fold(channel);
        self.catch_ups.remove(&key);
        self.due.retain(|c| *c != key);
    }

    /// A live line with `msgid` in the conversation `with` (a channel, or
    /// the other person), said at `ms`.
    pub fn live(&mut self, with: &str, msgid: u64, ms: Option<i64>) {
        if !self.catch_ups.is_empty() || !self.awaited.is_empty() {
            self.shown.insert(msgid);
        }
        self.saw(fold(with), msgid, ms);
    }

    /// `BATCH +reference kind target…`, with the `label` of its start line;
    /// only `chathistory` batches and the answers to our requests are
    /// followed.
    pub fn start(&mut self, reference: &str, kind: &str, target: &str, label: Option<&str>) {
        let key = fold(target);
        let role = match (kind, label.and_then(|l| self.awaited.remove(l))) {
            ("draft/chathistory-targets", Some(Awaited::Targets { since_ms, cut })) => {
                Role::Targets { since_ms, cut }
            }
            ("chathistory", Some(Awaited::Missed(_))) => Role::Missed,
            ("chathistory", None) if irc::is_channel(target) => {
                match self.catch_ups.get_mut(&key) {
                    // The answers are known by their label: this is the
                    // playback.
                    Some(_) if self.labels => Role::Skipped,
                    Some(catch_up) => catch_up.expected.pop_front().unwrap_or(Role::History),
                    None => Role::History,
                }
            }
            _ => return,
        };
        self.batches.insert(
            reference.to_string(),
            Batch {
                target: target.to_string(),
                role,
                lines: 0,
                newest: None,
                names: Vec::new(),
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
        let key = fold(&batch.target);
        let past = |line| Shown::Past {
            ms,
            line: Box::new(line),
        };
        let mut out = Vec::new();
        match batch.role {
            Role::History => {
                // Seen already: a rejoin without chathistory, or /join again.
                let seen = msgid.is_some_and(|id| self.last.get(&key).is_some_and(|&l| id <= l));
                if !seen {
                    out.extend(shown.map(past));
                }
            }
            // Left to the answer, which has every line after the last seen.
            Role::Skipped | Role::Targets { .. } => return out,
            Role::Missed => {
                if let Some(catch_up) = self.catch_ups.get_mut(&key) {
                    let fresh = msgid.is_none_or(|id| {
                        catch_up.after.is_none_or(|after| id > after) && self.shown.insert(id)
                    });
                    if let (true, Some(line)) = (fresh, shown) {
                        if !std::mem::replace(&mut catch_up.header, true) {
                            out.push(Shown::Event(if catch_up.private {
                                format!(
                                    "private messages from {} missed while disconnected:",
                                    batch.target
                                )
                            } else {
                                "missed while disconnected:".to_string()
                            }));
                        }
                        out.push(past(line));
                    }
                }
            }
        }
        if let Some(id) = msgid {
            self.saw(key, id, ms);
        }
        out
    }

    /// A conversation listed in a `CHATHISTORY TARGETS` answer.
    pub fn target(&mut self, reference: &str, name: &str) {
        if let Some(batch) = self.batches.get_mut(reference)
            && matches!(batch.role, Role::Targets { .. })
            && !irc::is_channel(name)
        {
            batch.names.push(name.to_string());
        }
    }

    /// `BATCH -reference`: returns what to show, and the requests to send:
    /// the next page when a full one says more may follow, and each private
    /// conversation's missed lines.
    pub fn end(&mut self, reference: &str) -> (Vec<Shown>, Vec<String>) {
        let Some(batch) = self.batches.remove(reference) else {
            return (Vec::new(), Vec::new());
        };
        match batch.role {
            Role::History | Role::Skipped => (Vec::new(), Vec::new()),
            Role::Targets { since_ms, cut } => {
                // AFTER a time is strictly after it, and another line may
                // have been said in the millisecond of the last one seen:
                // from a millisecond earlier, the msgids tell what was seen.
                let from = format!("timestamp={}", format_iso(since_ms.saturating_sub(1)));
                let mut requests = Vec::new();
                for name in &batch.names {
                    let catch_up = CatchUp {
                        expected: VecDeque::new(),
                        after: cut,
                        private: true,
                        header: false,
                    };
                    self.catch_ups.insert(fold(name), catch_up);
                    requests.push(self.request(name, &from));
                }
                self.settle();
                (Vec::new(), requests)
            }
            Role::Missed => {
                let key = fold(&batch.target);
                if let (true, Some(newest)) = (batch.lines >= self.page, batch.newest)
                    && let Some(catch_up) = self.catch_ups.get_mut(&key)
                {
                    if !self.labels {
                        catch_up.expected.push_back(Role::Missed);
                    }
                    let next = self.request(&batch.target, &format!("msgid={newest}"));
                    return (Vec::new(), vec![next]);
                }
                (self.finish(&key), Vec::new())
            }
        }
    }

    /// The server refused a `CHATHISTORY` request: no answer is coming, so
    /// the catch-up it was for ends with what it has. Without a label that
    /// says which, every catch-up does (unless ours are all labelled).
    pub fn failed(&mut self, label: Option<&str>) -> Vec<Shown> {
        match label.and_then(|l| self.awaited.remove(l)) {
            Some(Awaited::Missed(key)) => self.finish(&key),
            Some(Awaited::Targets { .. }) => {
                self.settle();
                Vec::new()
            }
            None if self.labels => Vec::new(),
            None => {
                let keys: Vec<String> = self.catch_ups.keys().cloned().collect();
                keys.iter().flat_map(|k| self.finish(k)).collect()
            }
        }
    }

    fn finish(&mut self, key: &str) -> Vec<Shown> {
        let shown = match self.catch_ups.remove(key) {
            Some(c) if c.header => vec![Shown::Event("end of missed lines".to_string())],
            _ => Vec::new(),
        };
        self.settle();
        shown
    }

    /// Forgets what a finished catch-up needed.
    fn settle(&mut self) {
        let targets = self
            .awaited
            .values()
            .any(|a| matches!(a, Awaited::Targets { .. }));
        if !targets && !self.catch_ups.values().any(|c| c.private) {
            self.private_due = None;
        }
        if self.catch_ups.is_empty() && self.awaited.is_empty() {
            self.shown.clear();
        }
    }

    /// `CHATHISTORY AFTER target from`, labelled when labels are in use.
    fn request(&mut self, target: &str, from: &str) -> String {
        let request = format!("CHATHISTORY AFTER {target} {from} {}", self.page);
        if !self.labels {
            return request;
        }
        let label = self.label(Awaited::Missed(fold(target)));
        format!("@label={label} {request}")
    }

    /// A fresh label for a request awaiting `awaited`.
    fn label(&mut self, awaited: Awaited) -> String {
        self.labelled += 1;
        let label = format!("gc{}", self.labelled);
        self.awaited.insert(label.clone(), awaited);
        label
    }

    fn saw(&mut self, key: String, msgid: u64, ms: Option<i64>) {
        let last = self.last.entry(key).or_insert(msgid);
        *last = (*last).max(msgid);
        self.newest = self.newest.max(Some(msgid));
        self.newest_ms = self.newest_ms.max(ms);
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

    /// Plays one unlabelled batch for #lobby; returns what it showed and
    /// the request it made.
    fn batch(p: &mut Playback, lines: &[(u64, &str)]) -> (Vec<String>, Option<String>) {
        let (shown, mut requests) = labelled(p, None, "#lobby", lines);
        assert!(requests.len() <= 1, "{requests:?}");
        (shown, requests.pop())
    }

    /// Plays one `chathistory` batch for `target` with `label` on its
    /// start; returns what it showed and the requests it made.
    fn labelled(
        p: &mut Playback,
        label: Option<&str>,
        target: &str,
        lines: &[(u64, &str)],
    ) -> (Vec<String>, Vec<String>) {
        p.start("r", "chathistory", target, label);
        let mut shown = Vec::new();
        for &(id, text) in lines {
            shown.extend(p.line("r", Some(id), Some(0), chat(text)));
        }
        let (end, requests) = p.end("r");
        shown.extend(end);
        (texts(&shown), requests)
    }

    #[test]
    fn join_playback_is_history_and_not_shown_twice() {
        let mut p = Playback::new();
        assert_eq!(p.joined("#lobby", true, true), None);
        let (shown, request) = batch(&mut p, &[(1, "a"), (2, "b")]);
        assert_eq!(shown, ["past a", "past b"]);
        assert_eq!(request, None);
        p.live("#lobby", 3, None);
        let (again, _) = batch(&mut p, &[(2, "b"), (3, "c"), (4, "d")]);
        assert_eq!(again, ["past d"]);
    }

    #[test]
    fn a_reconnect_fetches_what_was_missed_once_each() {
        let mut p = Playback::new();
        p.joined("#lobby", true, true);
        p.live("#lobby", 5, None);
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
        p.live("#lobby", 11, None);
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
        p.live("#lobby", 1, None);
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
        p.live("#lobby", 4, None);
        p.lost(&["#lobby".to_string()]);
        assert_eq!(p.joined("#lobby", false, true), None);
        // Without chathistory the playback shows only what is new.
        assert_eq!(batch(&mut p, &[(4, "seen"), (6, "new")]).0, ["past new"]);
    }

    #[test]
    fn a_refusal_ends_the_catch_up() {
        let mut p = Playback::new();
        p.live("#lobby", 1, None);
        p.lost(&["#lobby".to_string()]);
        p.joined("#lobby", true, false);
        assert!(p.failed(None).is_empty());
        assert_eq!(batch(&mut p, &[(2, "x")]).0, ["past x"]);
    }

    /// After a reconnect with labels, with #lobby seen up to msgid 5.
    fn rejoined_with_labels() -> Playback {
        let mut p = Playback::new();
        assert_eq!(p.registered(true, true, 0), None);
        p.live("#lobby", 5, None);
        p.lost(&["#lobby".to_string()]);
        assert_eq!(
            p.registered(true, true, 0),
            None,
            "no time seen, no TARGETS"
        );
        assert_eq!(
            p.joined("#lobby", true, true).as_deref(),
            Some("@label=gc1 CHATHISTORY AFTER #lobby msgid=5 100")
        );
        p
    }

    const MISSED: [&str; 4] = [
        "missed while disconnected:",
        "past m1",
        "past m2",
        "end of missed lines",
    ];

    #[test]
    fn the_labelled_answer_is_missed_lines_with_no_playback() {
        let mut p = rejoined_with_labels();
        // join_playback = 0: the answer is the first batch and the only one.
        let (shown, requests) = labelled(&mut p, Some("gc1"), "#lobby", &[(6, "m1"), (7, "m2")]);
        assert_eq!(shown, MISSED);
        assert!(requests.is_empty());
        assert_eq!(batch(&mut p, &[(7, "m2"), (8, "new")]).0, ["past new"]);
    }

    #[test]
    fn the_labelled_answer_is_known_before_or_after_the_playback() {
        let mut p = rejoined_with_labels();
        // The playback first: left to the answer.
        assert!(batch(&mut p, &[(5, "old"), (6, "m1")]).0.is_empty());
        let answer = labelled(&mut p, Some("gc1"), "#LOBBY", &[(6, "m1"), (7, "m2")]);
        assert_eq!(answer.0, MISSED);

        // The answer first: the playback after it has nothing new.
        let mut p = rejoined_with_labels();
        let answer = labelled(&mut p, Some("gc1"), "#lobby", &[(6, "m1"), (7, "m2")]);
        assert_eq!(answer.0, MISSED);
        assert!(
            batch(&mut p, &[(5, "old"), (6, "m1"), (7, "m2")])
                .0
                .is_empty()
        );
    }

    #[test]
    fn another_label_is_not_the_answer_and_a_labelled_refusal_ends_only_its_own() {
        let mut p = rejoined_with_labels();
        assert!(
            labelled(&mut p, Some("other"), "#lobby", &[(6, "m1")])
                .0
                .is_empty()
        );
        assert!(p.failed(None).is_empty());
        assert!(p.failed(Some("other")).is_empty());
        assert_eq!(
            labelled(&mut p, Some("gc1"), "#lobby", &[(6, "m1"), (7, "m2")]).0,
            MISSED
        );

        let mut p = rejoined_with_labels();
        assert!(p.failed(Some("gc1")).is_empty());
        assert_eq!(batch(&mut p, &[(6, "x")]).0, ["past x"]);
    }

    #[test]
    fn labelled_pages_follow_with_labels() {
        let mut p = rejoined_with_labels();
        p.set_page(1);
        let (shown, requests) = labelled(&mut p, Some("gc1"), "#lobby", &[(6, "m1")]);
        assert_eq!(shown, ["missed while disconnected:", "past m1"]);
        assert_eq!(requests, ["@label=gc2 CHATHISTORY AFTER #lobby msgid=6 1"]);
        let (rest, _) = labelled(&mut p, Some("gc2"), "#lobby", &[]);
        assert_eq!(rest, ["end of missed lines"]);
    }

    #[test]
    fn private_conversations_are_caught_up_from_the_last_line_seen() {
        let mut p = Playback::new();
        p.registered(true, true, 0);
        p.live("#lobby", 5, Some(1_000));
        p.live("bob", 6, Some(2_000));
        p.lost(&["#lobby".to_string()]);
        assert_eq!(
            p.registered(true, true, 5_000).as_deref(),
            Some(
                "@label=gc1 CHATHISTORY TARGETS timestamp=1970-01-01T00:00:02.000Z \
                 timestamp=1970-01-01T00:00:05.000Z 50"
            )
        );
        p.start("t", "draft/chathistory-targets", "", Some("gc1"));
        p.target("t", "#lobby");
        p.target("t", "Bob");
        assert_eq!(
            p.end("t").1,
            ["@label=gc2 CHATHISTORY AFTER Bob timestamp=1970-01-01T00:00:01.999Z 100"]
        );
        // Said just after the reconnect: shown live, then in the answer.
        p.live("bob", 9, Some(6_000));
        let (shown, requests) = labelled(
            &mut p,
            Some("gc2"),
            "Bob",
            &[(6, "seen"), (8, "m1"), (9, "live")],
        );
        assert_eq!(
            shown,
            [
                "private messages from Bob missed while disconnected:",
                "past m1",
                "end of missed lines"
            ]
        );
        assert!(requests.is_empty());
    }

    #[test]
    fn no_private_catch_up_without_labels_or_chathistory() {
        for (labels, chathistory) in [(false, true), (true, false)] {
            let mut p = Playback::new();
            p.live("bob", 6, Some(2_000));
            p.lost(&[]);
            assert_eq!(p.registered(labels, chathistory, 5_000), None);
        }
    }
}
