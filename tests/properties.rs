//! Property tests: invariants that must hold for every input, not just the
//! examples in the unit tests. proptest generates the inputs, biased towards
//! the bytes that matter on the wire (CR, LF, NUL, colons, spaces, invalid
//! UTF-8, lines around the length limit), and shrinks any failure to a
//! minimal case.

use groupchatd::config::Config;
use groupchatd::framing::{Frame, LineFramer};
use groupchatd::history::Entry;
use groupchatd::hub::{Answering, Ask, Bus, ClientId, Hub, HubConfig, NickClaim, Outbox};
use groupchatd::mask::{Mask, Subject};
use groupchatd::message::{Line, MAX_LINE, Message, build, numeric};
use groupchatd::names::{fold, skeleton};
use groupchatd::stats::DisconnectReason;
use proptest::prelude::*;
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};
use unicode_normalization::UnicodeNormalization;

/// A frame with the line copied out, so frames from different feeds compare.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Owned {
    Line(Vec<u8>),
    TooLong,
}

impl From<Frame<'_>> for Owned {
    fn from(frame: Frame<'_>) -> Owned {
        match frame {
            Frame::Line(l) => Owned::Line(l.to_vec()),
            Frame::TooLong => Owned::TooLong,
        }
    }
}

/// The framing rules written out over the whole stream at once, as the
/// reference the incremental framer must agree with: lines end in LF, one CR
/// before it is dropped, a line longer than `max_line - 2` is one `TooLong`,
/// and an unfinished tail is reported once it can no longer fit (one byte
/// over the limit may still be the CR of a CRLF).
fn reference_frames(stream: &[u8], max_line: usize) -> Vec<Owned> {
    let limit = max_line.saturating_sub(2).max(1);
    let mut pieces: Vec<&[u8]> = stream.split(|&b| b == b'\n').collect();
    let tail = pieces.pop().unwrap_or_default();
    let mut frames: Vec<Owned> = pieces
        .into_iter()
        .map(|line| {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.len() > limit {
                Owned::TooLong
            } else {
                Owned::Line(line.to_vec())
            }
        })
        .collect();
    if tail.len() > limit + 1 {
        frames.push(Owned::TooLong);
    }
    frames
}

/// Bytes that make framing and parsing interesting, in runs, so that lines
/// near the limit and line endings split across chunks are common.
fn wire_bytes(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => prop::collection::vec(b'a'..=b'z', 1..40),
        2 => Just(b"\r\n".to_vec()),
        2 => Just(b"\n".to_vec()),
        1 => Just(b"\r".to_vec()),
        1 => Just(vec![0u8]),
        1 => Just(b" :".to_vec()),
        1 => prop::collection::vec(any::<u8>(), 1..8),
        1 => (1usize..700).prop_map(|n| vec![b'x'; n]),
    ];
    prop::collection::vec(piece, 0..max_len).prop_map(|pieces| pieces.concat())
}

/// Cut points for a stream of `len` bytes: sorted, may repeat (empty chunks).
fn split_at(stream: &[u8], cuts: &[prop::sample::Index]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = Vec::new();
    let mut start = 0;
    for p in points {
        chunks.push(stream[start..p].to_vec());
        start = p;
    }
    chunks.push(stream[start..].to_vec());
    chunks
}

proptest! {
    /// Any split of any byte stream gives the frames the reference gives for
    /// the whole stream, and the framer never holds more than one line.
    #[test]
    fn framing_does_not_depend_on_chunking(
        stream in wire_bytes(40),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        max_line in prop_oneof![3usize..40, Just(512usize)],
    ) {
        let mut framer = LineFramer::default();
        let mut got = Vec::new();
        for chunk in split_at(&stream, &cuts) {
            let flow = framer.feed(&chunk, max_line, |f| {
                got.push(Owned::from(f));
                ControlFlow::Continue(())
            });
            prop_assert!(flow.is_continue());
            prop_assert!(framer.pending_len() < max_line.max(3));
        }
        prop_assert_eq!(got, reference_frames(&stream, max_line));
    }

    /// Breaking out of `feed` after any frame and resuming with empty feeds
    /// loses, repeats or reorders nothing.
    #[test]
    fn breaking_and_resuming_keeps_every_frame(
        stream in wire_bytes(30),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
        break_every in 1usize..4,
        max_line in prop_oneof![3usize..40, Just(512usize)],
    ) {
        let mut framer = LineFramer::default();
        let mut got = Vec::new();
        let mut seen = 0usize;
        let mut on_frame = |f: Frame<'_>| {
            got.push(Owned::from(f));
            seen += 1;
            if seen.is_multiple_of(break_every) {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        for chunk in split_at(&stream, &cuts) {
            let mut flow = framer.feed(&chunk, max_line, &mut on_frame);
            // Each resume hands out at least one frame or finishes, so this
            // ends within as many rounds as the stream has bytes.
            while flow.is_break() {
                flow = framer.feed(&[], max_line, &mut on_frame);
            }
        }
        prop_assert_eq!(got, reference_frames(&stream, max_line));
    }
}

/// Every command word the server puts on the wire itself (numerics aside).
const COMMANDS: &[&str] = &[
    "PRIVMSG", "NOTICE", "JOIN", "PART", "QUIT", "NICK", "TOPIC", "MODE", "PING", "PONG", "CAP",
    "ERROR",
];

/// A parameter that is not the last: one non-empty word, not starting with
/// `:` (the server only puts nicks, channel names, user names, hosts,
/// numbers and fixed words there).
fn middle_param() -> impl Strategy<Value = String> {
    "[^: \r\n\0][^ \r\n\0]{0,20}"
}

/// The last parameter: any text without line breaks or NUL, possibly empty,
/// with spaces and colons anywhere.
fn trailing_param() -> impl Strategy<Value = String> {
    "[^\r\n\0]{0,60}"
}

/// A prefix as the server builds it: `nick!user@host` or a server name.
fn prefix() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z][a-z0-9.-]{0,20}",
        "[a-z][a-z0-9]{0,29}![a-z]{1,10}@[0-9a-f:.]{1,39}",
    ]
}

fn params() -> impl Strategy<Value = Vec<String>> {
    (
        prop::collection::vec(middle_param(), 0..6),
        trailing_param(),
    )
        .prop_map(|(mut mid, last)| {
            mid.push(last);
            mid
        })
}

/// The line without its CRLF, checking that the CRLF is there and alone.
fn body(line: &Line) -> Result<&str, TestCaseError> {
    let text = std::str::from_utf8(line).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let body = text
        .strip_suffix("\r\n")
        .ok_or_else(|| TestCaseError::fail(format!("no CRLF at the end of {text:?}")))?;
    prop_assert!(!body.contains(['\r', '\n', '\0']), "{body:?}");
    prop_assert!(line.len() <= MAX_LINE, "{} bytes: {body:?}", line.len());
    Ok(body)
}

proptest! {
    /// What `build` writes parses back to the same prefix, command and
    /// parameters, for every command word the server sends.
    #[test]
    fn built_lines_parse_back(
        prefix in prefix(),
        command in prop::sample::select(COMMANDS),
        params in params(),
        with_params in any::<bool>(),
    ) {
        let params: Vec<&str> = if with_params {
            params.iter().map(String::as_str).collect()
        } else {
            Vec::new()
        };
        let line = build(&prefix, command, &params);
        let m = Message::parse(body(&line)?).ok_or_else(|| TestCaseError::fail("no command"))?;
        prop_assert_eq!(m.prefix, prefix.as_str());
        prop_assert_eq!(m.command, command);
        prop_assert_eq!(m.params, params);
    }

    /// What `numeric` writes parses back as `server`, the three-digit code,
    /// the target, then the parameters.
    #[test]
    fn numerics_parse_back(
        server in "[a-z][a-z0-9.-]{0,30}",
        code in 1u16..1000,
        target in prop_oneof![Just("*".to_string()), "[a-z][a-z0-9]{0,29}"],
        params in params(),
    ) {
        let params: Vec<&str> = params.iter().map(String::as_str).collect();
        let line = numeric(&server, code, &target, &params);
        let m = Message::parse(body(&line)?).ok_or_else(|| TestCaseError::fail("no command"))?;
        prop_assert_eq!(m.prefix, server.as_str());
        prop_assert_eq!(m.command, format!("{code:03}"));
        prop_assert_eq!(m.params[0], target.as_str());
        prop_assert_eq!(&m.params[1..], &params[..]);
    }

    /// No parameter, however hostile, makes `build` write more than one
    /// line or one longer than IRC allows.
    #[test]
    fn any_text_stays_one_line(
        prefix in prefix(),
        params in prop::collection::vec(any::<String>(), 0..4),
        long in 0usize..700,
    ) {
        let mut params = params;
        params.push("x\r\ny\0".repeat(long / 5));
        let params: Vec<&str> = params.iter().map(String::as_str).collect();
        body(&build(&prefix, "PRIVMSG", &params))?;
        body(&numeric("srv", 401, "nick", &params))?;
    }
}

/// Keeps what the hub sends, per recipient, so that every line can be checked.
#[derive(Default)]
struct Recorder {
    lines: Vec<(ClientId, Line)>,
    /// Who was closed, and how many lines had been sent by then.
    closed: Vec<(ClientId, usize)>,
}

impl Outbox for Recorder {
    fn send(&mut self, to: ClientId, line: &Line) {
        self.lines.push((to, line.clone()));
    }
    fn record(&mut self, _entry: Entry) {}
    fn ask(&mut self, _id: ClientId, _ask: Ask, _answering: Answering) {}
    fn account(&mut self, _id: ClientId, _request: groupchatd::accounts::Request) {}
    fn keep(&mut self, _what: groupchatd::accounts::Keep) {}
    fn close(&mut self, who: ClientId, _why: DisconnectReason, _reason: &str) {
        self.closed.push((who, self.lines.len()));
    }
    fn publish(&mut self, _bus: Bus, _payload: &Line) {}
    fn log(&mut self, _folded: &str, _payload: &Line) {}
    fn follow(&mut self, _folded: &str, _on: bool) {}
    fn nick_claim(&mut self, _claim: NickClaim) -> bool {
        false
    }
}

impl Recorder {
    fn is_closed(&self, id: ClientId) -> bool {
        self.closed.iter().any(|&(who, _)| who == id)
    }
}

/// Addresses of the clients: the longest IPv6 text makes the longest prefix.
const HOSTS: [&str; 3] = [
    "127.0.0.1",
    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    "::1",
];

/// One thing that happens to the hub.
#[derive(Debug, Clone)]
enum Step {
    /// Client `n` sends these bytes (line endings included, or not).
    Bytes(usize, Vec<u8>),
    /// Time passes: pings, timeouts and presence summaries.
    Tick(u64),
}

/// A line a client might send: a known command or a random word, followed
/// by parameters built from the pieces that matter to the protocol.
fn client_line() -> impl Strategy<Value = Vec<u8>> {
    let command = prop_oneof![
        3 => prop::sample::select(vec![
            "PRIVMSG", "NOTICE", "JOIN", "PART", "QUIT", "NICK", "TOPIC", "MODE", "PING", "PONG",
            "CAP", "PASS", "USER", "NAMES", "LIST", "WHO", "WHOIS", "MOTD", "LUSERS", "AWAY",
            "USERHOST", "ISON", "privmsg", ":x", "", "KICK", "INVITE", "WHOWAS", "TIME",
            "VERSION", "INFO", "ADMIN",
        ])
        .prop_map(|c| c.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..12),
    ];
    let piece = prop_oneof![
        4 => prop::sample::select(vec![
            " ", " :", ":", ",", "#lobby", "#a", "#b", "c0", "c1", "c2", "LS", "END", "REQ", "+i",
            "0", "\r", "\0", "\x01", "\x1b[2J", "\u{fffd}", "é", "+ov", "+bbbb", "-b", "+e",
            "+kl", "+imnt", "*!*@*", "c0!*@*",
        ])
        .prop_map(|p| p.as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 1..6),
        1 => (1usize..600).prop_map(|n| vec![b'y'; n]),
    ];
    (command, prop::collection::vec(piece, 0..10))
        .prop_map(|(command, pieces)| [command, pieces.concat()].concat())
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        10 => (0usize..HOSTS.len(), client_line(), prop::sample::select(vec!["\r\n", "\n", ""]))
            .prop_map(|(n, line, end)| Step::Bytes(n, [line, end.as_bytes().to_vec()].concat())),
        1 => (1u64..200).prop_map(Step::Tick),
    ]
}

proptest! {
    /// Whatever clients send, every line the hub queues is one IRC line:
    /// CRLF at the end and nowhere else, no NUL, at most 512 bytes; and
    /// once the hub has closed a client, nothing more is queued for it.
    #[test]
    fn hub_output_is_always_one_valid_line(
        nick_lens in prop::collection::vec(1usize..=30, HOSTS.len()),
        large_channel in prop_oneof![Just(1usize), Just(500usize)],
        steps in prop::collection::vec(step(), 1..40),
    ) {
        let mut config = HubConfig::new(&Config::default(), None);
        config.large_channel = large_channel;
        let mut hub = Hub::new(config);
        let mut out = Recorder::default();
        let mut now = Instant::now();
        let mut framers: Vec<LineFramer> = HOSTS.iter().map(|_| LineFramer::default()).collect();
        let mut script = Vec::new();
        for (n, len) in nick_lens.iter().enumerate() {
            // The longest nicks and user names give relayed lines the
            // longest prefix the server can put in front of a text.
            let nick = format!("c{n}{}", "n".repeat(len.saturating_sub(2)));
            let login = format!("NICK {nick}\r\nUSER {} 0 * :real\r\n", "u".repeat(10));
            script.push(Step::Bytes(n, login.into_bytes()));
        }
        script.extend(steps);
        for (n, host) in HOSTS.iter().enumerate() {
            let ip: IpAddr = host.parse().map_err(|e| TestCaseError::fail(format!("{e}")))?;
            hub.connect(n, ip, false, now);
        }
        for step in script {
            match step {
                Step::Bytes(n, bytes) => {
                    // As the reactor does, a closed client's input no longer
                    // reaches the hub.
                    if out.is_closed(n) {
                        continue;
                    }
                    let _ = framers[n].feed(&bytes, 512, |frame| {
                        match frame {
                            Frame::Line(line) => hub.handle_line(n, line, now, &mut out),
                            Frame::TooLong => hub.line_too_long(n, &mut out),
                        }
                        if out.is_closed(n) {
                            ControlFlow::Break(())
                        } else {
                            ControlFlow::Continue(())
                        }
                    });
                }
                Step::Tick(secs) => {
                    now += Duration::from_secs(secs);
                    hub.tick(now, &mut out);
                }
            }
        }
        prop_assert!(!out.lines.is_empty(), "registration always answers");
        for (to, line) in &out.lines {
            prop_assert!(*to < HOSTS.len());
            body(line)?;
        }
        for &(who, sent) in &out.closed {
            prop_assert!(out.lines[sent..].iter().all(|(to, _)| *to != who));
        }
    }
}

/// The meaning of a mask written out the slow, obvious way: `*` tries every
/// split, `?` takes one character, anything else must be equal once both
/// sides are folded as the server folds nicks.
fn model_matches(mask: &[char], text: &[char]) -> bool {
    match mask.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => (0..=text.len()).any(|i| model_matches(rest, &text[i..])),
        Some((&m, rest)) => text.split_first().is_some_and(|(&t, tail)| {
            (m == '?' || fold(&m.to_string()) == fold(&t.to_string())) && model_matches(rest, tail)
        }),
    }
}

/// Masks and prefixes from a small alphabet, so that matches are common;
/// `é` and `É` for a character of two bytes that folds beyond ASCII.
fn mask_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            'a', 'A', 'é', 'É', 'b', '[', '{', '*', '?', '!', '@', '.',
        ]),
        1..10,
    )
    .prop_map(|c| c.into_iter().collect())
}

fn prefix_text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(
            prop::sample::select(vec!['a', 'A', 'é', 'É', 'b', '[', '{']),
            1..5,
        ),
        prop::collection::vec(prop::sample::select(vec!['a', 'b', 'B']), 1..4),
        prop::collection::vec(prop::sample::select(vec!['a', 'A', '.', '1']), 1..5),
    )
        .prop_map(|(n, u, h)| {
            let s = |v: Vec<char>| v.into_iter().collect::<String>();
            format!("{}!{}@{}", s(n), s(u), s(h))
        })
}

fn flip_case(text: &str, flips: &[bool]) -> String {
    text.chars()
        .zip(flips.iter().cycle())
        .map(|(c, &f)| {
            if f {
                c.to_uppercase().collect::<String>()
            } else {
                c.to_lowercase().collect()
            }
        })
        .collect()
}

proptest! {
    /// A ban mask matches exactly what the model says, after the server
    /// completes it to `nick!user@host`; and case (as the server folds it)
    /// never matters on either side.
    #[test]
    fn ban_masks_match_like_the_model(
        mask in mask_text(),
        prefix in prefix_text(),
        flips in prop::collection::vec(any::<bool>(), 1..8),
    ) {
        let Some(parsed) = Mask::parse(&mask) else {
            return Err(TestCaseError::reject("not a mask"));
        };
        let folded = fold(&prefix);
        let who = Subject { folded_prefix: &folded };
        let want = model_matches(
            &parsed.text().chars().collect::<Vec<_>>(),
            &prefix.chars().collect::<Vec<_>>(),
        );
        prop_assert_eq!(parsed.matches(who), want, "{} against {}", parsed.text(), prefix);
        let flipped = Mask::parse(&flip_case(&mask, &flips)).expect("still a mask");
        let refolded = fold(&flip_case(&prefix, &flips));
        let who = Subject { folded_prefix: &refolded };
        prop_assert_eq!(flipped.matches(who), want);
        prop_assert!(flipped.same_as(&parsed));
    }
}

proptest! {
    /// Folding is a canonical form: folding again changes nothing, and
    /// neither does the case or the Unicode normalization form it started
    /// from. A skeleton depends on the fold alone. (A skeleton is no fixed
    /// point: a prototype may fold to a letter with a prototype of its own,
    /// `₽` to `Ք`, folded `ք`, whose prototype is `f`.)
    #[test]
    fn fold_is_idempotent(name in any::<String>()) {
        let folded = fold(&name);
        prop_assert_eq!(fold(&folded), folded.clone());
        prop_assert_eq!(fold(&name.to_uppercase()), fold(&folded.to_uppercase()));
        prop_assert_eq!(fold(&name.nfd().collect::<String>()), folded.clone());
        prop_assert_eq!(fold(&name.nfc().collect::<String>()), folded.clone());
        prop_assert_eq!(skeleton(&folded), skeleton(&name));
        prop_assert_eq!(skeleton(&name.nfd().collect::<String>()), skeleton(&name));
    }

    /// An ASCII name folds exactly as under `CASEMAPPING=ascii`, and a
    /// pure ASCII name's skeleton is its fold: the ASCII namespace is as it was.
    #[test]
    fn fold_is_ascii_compatible(name in "[ -~]{0,20}") {
        prop_assert_eq!(fold(&name), name.to_ascii_lowercase());
        prop_assert_eq!(skeleton(&name), name.to_ascii_lowercase());
    }
}
