//! History engines against each other and against a model, on real SQLite
//! files in temporary directories.

use super::*;
use proptest::prelude::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A temporary directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "groupchatd-history-test-{}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    fn db(&self) -> PathBuf {
        self.0.join("history.sqlite3")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn entry(seq: u64, time_ms: i64, target: &str, nick: &str) -> Entry {
    Entry {
        seq,
        time_ms,
        target: target.into(),
        kind: Kind::Privmsg,
        prefix: format!("{nick}!u@h").into(),
        nick: nick.into(),
        to: target.into(),
        text: format!("line {seq}").into(),
        tags: if seq.is_multiple_of(2) {
            "+draft/react=x".into()
        } else {
            "".into()
        },
    }
}

/// Seqs 1..=20 alternating between #a (odd) and #b (even), time = seq * 1000.
fn fixture() -> Vec<Entry> {
    (1..=20)
        .map(|s| {
            entry(
                s,
                s as i64 * 1000,
                if s % 2 == 1 { "#a" } else { "#b" },
                "n",
            )
        })
        .collect()
}

/// Runs `check` on a memory and an SQLite engine holding `entries`.
fn on_both(entries: &[Entry], check: impl Fn(&mut dyn Backend)) {
    let mut memory = MemoryBackend::new();
    memory.append(entries).expect("append");
    check(&mut memory);
    let dir = TempDir::new();
    let mut sqlite = SqliteBackend::open(&dir.db()).expect("open");
    sqlite.append(entries).expect("append");
    check(&mut sqlite);
}

fn seqs(backend: &mut dyn Backend, q: Query) -> Vec<u64> {
    let found = backend.query(&q, false).expect("query");
    found.iter().map(|e| e.seq).collect()
}

#[test]
fn each_query_on_both_engines() {
    use Selector::{Seq, Time};
    let a = || "#a".to_string();
    on_both(&fixture(), |b| {
        let latest = |after, limit| Query::Latest {
            target: a(),
            after,
            limit,
        };
        assert_eq!(seqs(b, latest(None, 3)), [15, 17, 19]);
        assert_eq!(seqs(b, latest(None, 100)).len(), 10);
        assert_eq!(seqs(b, latest(Some(Seq(15)), 10)), [17, 19]);
        assert_eq!(seqs(b, latest(Some(Time(14_000)), 2)), [17, 19]);
        assert_eq!(seqs(b, latest(None, 0)), Vec::<u64>::new());
        let before = |sel, limit| Query::Before {
            target: a(),
            sel,
            limit,
        };
        assert_eq!(seqs(b, before(Seq(7), 2)), [3, 5]);
        assert_eq!(seqs(b, before(Seq(8), 2)), [5, 7]);
        assert_eq!(seqs(b, before(Time(7_000), 10)), [1, 3, 5]);
        assert_eq!(seqs(b, before(Seq(1), 10)), Vec::<u64>::new());
        let after = |sel, limit| Query::After {
            target: a(),
            sel,
            limit,
        };
        assert_eq!(seqs(b, after(Seq(7), 2)), [9, 11]);
        assert_eq!(seqs(b, after(Time(16_500), 5)), [17, 19]);
        assert_eq!(seqs(b, after(Seq(u64::MAX), 5)), Vec::<u64>::new());
        let around = |sel, limit| Query::Around {
            target: a(),
            sel,
            limit,
        };
        assert_eq!(seqs(b, around(Seq(9), 4)), [5, 7, 9, 11]);
        assert_eq!(seqs(b, around(Seq(9), 5)), [5, 7, 9, 11, 13]);
        assert_eq!(seqs(b, around(Seq(10), 4)), [7, 9, 11, 13]);
        assert_eq!(seqs(b, around(Time(3_000), 6)), [1, 3, 5, 7, 9, 11]);
        assert_eq!(seqs(b, around(Seq(9), 1)), [9]);
        assert_eq!(seqs(b, around(Seq(9), 0)), Vec::<u64>::new());
        let between = |from, to, limit| Query::Between {
            target: a(),
            from,
            to,
            limit,
        };
        assert_eq!(seqs(b, between(Seq(3), Seq(15), 3)), [5, 7, 9]);
        assert_eq!(seqs(b, between(Seq(15), Seq(3), 3)), [9, 11, 13]);
        assert_eq!(seqs(b, between(Time(3_000), Time(9_000), 10)), [5, 7]);
        assert_eq!(seqs(b, between(Seq(5), Time(9_000), 10)), [7]);
        assert_eq!(seqs(b, between(Seq(5), Seq(5), 10)), Vec::<u64>::new());
        assert_eq!(seqs(b, between(Seq(3), Seq(15), 0)), Vec::<u64>::new());
        let unknown = Query::Latest {
            target: "#nowhere".into(),
            after: None,
            limit: 10,
        };
        assert_eq!(seqs(b, unknown), Vec::<u64>::new());
        // Everything comes back as it went in.
        let all = b.query(&latest(None, 1), false).expect("query");
        assert_eq!(all, [fixture()[18].clone()]);
    });
}

#[test]
fn time_selectors_filter_even_when_the_clock_stepped_back() {
    let entries = [
        entry(1, 5_000, "#a", "n"),
        entry(2, 1_000, "#a", "n"),
        entry(3, 6_000, "#a", "n"),
    ];
    on_both(&entries, |b| {
        let q = Query::Before {
            target: "#a".into(),
            sel: Selector::Time(5_500),
            limit: 10,
        };
        assert_eq!(seqs(b, q), [1, 2]);
        let q = Query::After {
            target: "#a".into(),
            sel: Selector::Time(2_000),
            limit: 10,
        };
        assert_eq!(seqs(b, q), [1, 3]);
    });
}

#[test]
fn purge_by_nick_takes_what_it_said_and_its_private_conversations() {
    let ab = private_key("bob", "al");
    assert_eq!(ab, "al bob");
    assert_eq!(private_parties(&ab), Some(("al", "bob")));
    assert_eq!(private_parties("#a"), None);
    let entries = [
        entry(1, 1, "#a", "al"),
        entry(2, 2, "#a", "bob"),
        entry(3, 3, &ab, "bob"),
        entry(4, 4, &private_key("al", "cy"), "cy"),
        entry(5, 5, &private_key("bob", "cy"), "cy"),
        entry(6, 6, "#b", "al"),
        entry(7, 7, &private_key("ali", "bob"), "bob"),
    ];
    on_both(&entries, |b| {
        assert_eq!(b.purge_nick("al").expect("purge"), 4);
        let left: Vec<u64> = ["#a", "#b", "al bob", "al cy", "bob cy", "ali bob"]
            .iter()
            .flat_map(|t| {
                let q = Query::Latest {
                    target: t.to_string(),
                    after: None,
                    limit: 10,
                };
                seqs(b, q)
            })
            .collect();
        assert_eq!(left, [2, 5, 7]);
        assert_eq!(b.purge_target("bob cy").expect("purge"), 1);
        assert_eq!(b.purge_target("bob cy").expect("purge"), 0);
        assert_eq!(b.count().expect("count"), 2);
    });
}

#[test]
fn targets_lists_channels_and_own_private_conversations_by_activity() {
    let entries = [
        entry(1, 100, "#a", "x"),
        entry(2, 300, "#b", "x"),
        entry(3, 200, "al bob", "bob"),
        entry(4, 250, "#a", "x"),
        entry(5, 400, "bob cy", "cy"),
        entry(6, 900, "#a", "x"),
        entry(7, 150, "#c", "x"),
    ];
    let ask = |channels: &[&str], nick: &str, from_ms, to_ms, limit| TargetsQuery {
        channels: channels.iter().map(|c| c.to_string()).collect(),
        nick: nick.to_string(),
        from_ms,
        to_ms,
        limit,
    };
    on_both(&entries, |b| {
        let chans = ["#a", "#b"];
        let found = b.targets(&ask(&chans, "bob", 0, 500, 10)).expect("targets");
        let names: Vec<(&str, i64)> = found
            .iter()
            .map(|t| (t.target.as_str(), t.latest_ms))
            .collect();
        assert_eq!(
            names,
            [("al bob", 200), ("#a", 250), ("#b", 300), ("bob cy", 400)]
        );
        let found = b.targets(&ask(&chans, "bob", 500, 0, 2)).expect("targets");
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].target, "al bob");
        let none = b.targets(&ask(&[], "al", 201, 1000, 10)).expect("t");
        assert!(none.is_empty());
    });
}

#[test]
fn retention_by_age_and_by_count() {
    let entries: Vec<Entry> = (1..=30)
        .map(|s| entry(s, s as i64 * 10, if s <= 20 { "#a" } else { "#b" }, "n"))
        .collect();
    on_both(&entries, |b| {
        // Older than 300 - 100 = 200 ms: seqs 1..=19 go.
        assert_eq!(b.retain(300, 100, 0, Scope::All).expect("retain"), 19);
        assert_eq!(b.count().expect("count"), 11);
        // Keep 4 per target: #a has 1 left, #b 10 → 6 go.
        assert_eq!(b.retain(300, 0, 4, Scope::All).expect("retain"), 6);
        let q = Query::Latest {
            target: "#b".into(),
            after: None,
            limit: 100,
        };
        assert_eq!(seqs(b, q), [27, 28, 29, 30]);
        assert_eq!(b.retain(300, 0, 0, Scope::All).expect("retain"), 0);
        // Retention never lowers the seq high-water mark.
        assert_eq!(b.max_seq().expect("max_seq"), 30);
    });
}

#[test]
fn the_count_limit_trims_only_the_targets_in_scope() {
    let entries: Vec<Entry> = (1..=20)
        .map(|s| entry(s, s as i64, if s % 2 == 0 { "#a" } else { "#b" }, "n"))
        .collect();
    on_both(&entries, |b| {
        let written: std::collections::HashSet<String> = ["#a".to_string()].into();
        assert_eq!(
            b.retain(100, 0, 4, Scope::Only(&written)).expect("retain"),
            6
        );
        let latest = |target: &str| Query::Latest {
            target: target.into(),
            after: None,
            limit: 100,
        };
        assert_eq!(seqs(b, latest("#a")), [14, 16, 18, 20]);
        assert_eq!(seqs(b, latest("#b")).len(), 10);
        // A target in scope with nothing stored is no error.
        let gone: std::collections::HashSet<String> = ["#gone".to_string()].into();
        assert_eq!(b.retain(100, 0, 4, Scope::Only(&gone)).expect("retain"), 0);
        assert_eq!(b.retain(100, 0, 4, Scope::All).expect("retain"), 6);
        assert_eq!(b.count().expect("count"), 8);
    });
}

#[test]
fn sqlite_retention_works_in_bounded_calls() {
    let dir = TempDir::new();
    let mut db = SqliteBackend::open(&dir.db()).expect("open");
    let n = RETAIN_PER_CALL + 500;
    let entries: Vec<Entry> = (1..=n).map(|s| entry(s, 1, "#a", "n")).collect();
    db.append(&entries).expect("append");
    assert_eq!(
        db.retain(1000, 10, 0, Scope::All).expect("retain"),
        RETAIN_PER_CALL
    );
    assert_eq!(db.retain(1000, 10, 0, Scope::All).expect("retain"), 500);
    assert_eq!(db.count().expect("count"), 0);
}

#[test]
fn max_seq_survives_reopen_and_purges() {
    let dir = TempDir::new();
    {
        let mut db = SqliteBackend::open(&dir.db()).expect("open");
        assert_eq!(db.max_seq().expect("max_seq"), 0);
        db.append(&fixture()).expect("append");
        db.purge_target("#b").expect("purge");
    }
    let mut db = SqliteBackend::open(&dir.db()).expect("reopen");
    assert_eq!(db.max_seq().expect("max_seq"), 20);
    assert_eq!(db.count().expect("count"), 10);
    let bytes = db.bytes().expect("bytes");
    assert!(bytes > 0);
}

#[test]
fn a_batch_is_stored_whole_or_not_at_all() {
    let dir = TempDir::new();
    let mut db = SqliteBackend::open(&dir.db()).expect("open");
    db.append(&[entry(1, 1, "#a", "n")]).expect("append");
    // A seq SQLite cannot hold: the batch fails, and its first entry is
    // not kept.
    let err = db
        .append(&[entry(2, 2, "#a", "n"), entry(u64::MAX, 1, "#a", "n")])
        .expect_err("a seq past i64");
    assert!(err.to_string().contains(&dir.db().display().to_string()));
    assert_eq!(db.count().expect("count"), 1);
    assert_eq!(db.max_seq().expect("max_seq"), 1);
}

#[test]
fn a_file_that_is_not_a_database_is_named_in_the_error() {
    let dir = TempDir::new();
    std::fs::write(dir.db(), vec![0x5a; 8192]).expect("write");
    let err = SqliteBackend::open(&dir.db())
        .err()
        .expect("garbage must not open");
    let text = err.to_string();
    assert!(text.contains(&dir.db().display().to_string()), "{text}");
    assert!(text.contains("not a database"), "{text}");
}

#[test]
fn a_missing_directory_is_reported_not_created() {
    let dir = TempDir::new();
    let path = dir.0.join("nope").join("history.sqlite3");
    let err = SqliteBackend::open(&path).err().expect("must fail");
    let text = err.to_string();
    assert!(text.contains("does not exist"), "{text}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    assert!(!dir.0.join("nope").exists());
}

#[test]
fn a_window_answers_only_what_it_knows() {
    // The store held seqs up to 100 at start: the window starts at 101.
    let mut window = MemoryBackend::with_cap(3, 101);
    let latest = |limit| Query::Latest {
        target: "#a".into(),
        after: None,
        limit,
    };
    // Nothing since start: older history may be on disk.
    assert_eq!(window.try_answer(&latest(1), false), None);
    assert_eq!(window.try_answer(&latest(0), false), Some(vec![]));
    let batch: Vec<Entry> = (101..=105).map(|s| entry(s, 1, "#a", "n")).collect();
    window.append(&batch).expect("append");
    let found = window.try_answer(&latest(3), false).expect("certain");
    assert_eq!(
        found.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [103, 104, 105]
    );
    // Asking for more than it keeps needs the store.
    assert_eq!(window.try_answer(&latest(4), false), None);
    // After a seq it holds everything past: certain.
    let after = |s| Query::After {
        target: "#a".into(),
        sel: Selector::Seq(s),
        limit: 10,
    };
    assert!(window.try_answer(&after(102), false).is_some());
    assert_eq!(window.try_answer(&after(101), false), None);
    // A target never seen: it could have history from before start.
    let other = Query::Latest {
        target: "#b".into(),
        after: Some(Selector::Seq(100)),
        limit: 5,
    };
    assert_eq!(window.try_answer(&other, false), Some(vec![]));
    // Time bounds cannot rule out older entries.
    let by_time = Query::After {
        target: "#a".into(),
        sel: Selector::Time(0),
        limit: 1,
    };
    assert_eq!(window.try_answer(&by_time, false), None);
    // An uncapped memory store knows everything.
    let mut full = MemoryBackend::new();
    full.append(&batch).expect("append");
    assert!(full.try_answer(&by_time, false).is_some());
}

/// The model: every entry in a sorted Vec, each query as plain filters.
fn model(all: &[Entry], q: &Query, events: bool) -> Vec<Entry> {
    use std::cmp::Ordering::*;
    let of = |t: &str| -> Vec<Entry> {
        all.iter()
            .filter(|e| &*e.target == t && (events || !e.kind.is_event()))
            .cloned()
            .collect()
    };
    let newest = |v: Vec<Entry>, n: usize| v[v.len().saturating_sub(n)..].to_vec();
    let oldest = |v: Vec<Entry>, n: usize| v.into_iter().take(n).collect::<Vec<_>>();
    let after = |v: &[Entry], s: Selector| -> Vec<Entry> {
        v.iter()
            .filter(|e| s.compare(e) == Greater)
            .cloned()
            .collect()
    };
    let before = |v: &[Entry], s: Selector| -> Vec<Entry> {
        v.iter().filter(|e| s.compare(e) == Less).cloned().collect()
    };
    match q {
        Query::Latest {
            target,
            after: None,
            limit,
        } => newest(of(target), *limit),
        Query::Latest {
            target,
            after: Some(s),
            limit,
        } => newest(after(&of(target), *s), *limit),
        Query::Before { target, sel, limit } => newest(before(&of(target), *sel), *limit),
        Query::After { target, sel, limit } => oldest(after(&of(target), *sel), *limit),
        Query::Around { target, sel, limit } => {
            let mut got = newest(before(&of(target), *sel), limit / 2);
            let rest = limit - got.len();
            let from: Vec<Entry> = of(target)
                .into_iter()
                .filter(|e| sel.compare(e) != Less)
                .collect();
            got.extend(oldest(from, rest));
            got
        }
        Query::Between {
            target,
            from,
            to,
            limit,
        } => {
            let forward = oldest(before(&after(&of(target), *from), *to), *limit);
            if forward.is_empty() {
                newest(before(&after(&of(target), *to), *from), *limit)
            } else {
                forward
            }
        }
    }
}

fn selector() -> impl Strategy<Value = Selector> {
    prop_oneof![
        // Steps of 100 as `engines_agree_with_the_model` gives them, and
        // the late seqs just past them.
        (0u64..70, 0u64..3).prop_map(|(s, late)| Selector::Seq(s * 100 + late)),
        (0i64..700).prop_map(Selector::Time),
    ]
}

fn query() -> impl Strategy<Value = Query> {
    let target = prop_oneof![Just("#a"), Just("#b"), Just("al bob")].prop_map(String::from);
    let limit = 0usize..12;
    prop_oneof![
        (
            target.clone(),
            proptest::option::of(selector()),
            limit.clone()
        )
            .prop_map(|(target, after, limit)| Query::Latest {
                target,
                after,
                limit
            }),
        (target.clone(), selector(), limit.clone())
            .prop_map(|(target, sel, limit)| Query::Before { target, sel, limit }),
        (target.clone(), selector(), limit.clone()).prop_map(|(target, sel, limit)| Query::After {
            target,
            sel,
            limit
        }),
        (target.clone(), selector(), limit.clone())
            .prop_map(|(target, sel, limit)| Query::Around { target, sel, limit }),
        (target, selector(), selector(), limit).prop_map(|(target, from, to, limit)| {
            Query::Between {
                target,
                from,
                to,
                limit,
            }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random batches over three targets (times mostly rising, sometimes
    /// stepping back; some channel entries joins, parts or quits; some
    /// appended late with an older seq, as lines from other nodes are),
    /// random queries with and without events: the engines and the model
    /// agree, and a capped window of the messages, when it answers, agrees
    /// too.
    #[test]
    fn engines_agree_with_the_model(
        old in prop::collection::vec((0usize..3, -20i64..30, 0usize..6, Just(0u64)), 0..20),
        batches in prop::collection::vec(
            prop::collection::vec((0usize..3, -20i64..30, 0usize..6, 0u64..4), 1..8),
            1..6,
        ),
        cap in 1usize..6,
        queries in prop::collection::vec((query(), any::<bool>()), 1..30),
    ) {
        let targets = ["#a", "#b", "al bob"];
        let kinds = [Kind::Join, Kind::Part, Kind::Quit];
        let mut time = 0i64;
        let mut step_no = 0u64;
        let mut late = HashSet::new();
        // A step's seq is 100 times its number; a late entry takes the
        // first free seq after the one `back` steps before.
        let mut make = |(t, step, kind, back): (usize, i64, usize, u64)| {
            time += step;
            let seq = match back {
                0 => {
                    step_no += 1;
                    step_no * 100
                }
                back => {
                    let mut seq = step_no.saturating_sub(back) * 100 + 1;
                    while !late.insert(seq) {
                        seq += 1;
                    }
                    seq
                }
            };
            let mut e = entry(seq, time, targets[t], "n");
            if t < 2 && kind < kinds.len() {
                e.kind = kinds[kind];
            }
            e
        };
        // Entries stored before the window started.
        let old: Vec<Entry> = old.into_iter().map(&mut make).collect();
        let batches: Vec<Vec<Entry>> = batches
            .into_iter()
            .map(|b| b.into_iter().map(&mut make).collect())
            .collect();
        let dir = TempDir::new();
        let mut sqlite = SqliteBackend::open(&dir.db()).expect("open");
        let mut memory = MemoryBackend::new();
        let start = old.iter().map(|e| e.seq).max().unwrap_or(0) + 1;
        let mut window = MemoryBackend::with_cap(cap, start);
        let mut all = old.clone();
        if !old.is_empty() {
            sqlite.append(&old).expect("append");
            memory.append(&old).expect("append");
        }
        for batch in &batches {
            sqlite.append(batch).expect("append");
            memory.append(batch).expect("append");
            // As the reactor does: the window holds messages only.
            let messages: Vec<Entry> =
                batch.iter().filter(|e| !e.kind.is_event()).cloned().collect();
            window.append(&messages).expect("append");
            all.extend(batch.iter().cloned());
        }
        all.sort_by_key(|e| e.seq);
        for (q, events) in &queries {
            let want = model(&all, q, *events);
            prop_assert_eq!(&memory.query(q, *events).expect("memory"), &want, "memory {:?}", q);
            prop_assert_eq!(&sqlite.query(q, *events).expect("sqlite"), &want, "sqlite {:?}", q);
            if !events && let Some(got) = window.try_answer(q, false) {
                prop_assert_eq!(&got, &want, "window {:?}", q);
            }
        }
    }
}

/// A worker over `backend` with a real poll and waker.
fn spawn(backend: Box<dyn Backend>) -> (History, mio::Poll) {
    let poll = mio::Poll::new().expect("poll");
    let waker = mio::Waker::new(poll.registry(), mio::Token(0)).expect("waker");
    let retention = Retention {
        max_age_ms: 0,
        max_messages: 0,
    };
    let history = History::spawn(backend, std::sync::Arc::new(waker), retention).expect("spawn");
    (history, poll)
}

/// Polls (as the loop does) and collects Dones until `enough` says so.
fn wait_for(
    history: &mut History,
    poll: &mut mio::Poll,
    enough: impl Fn(&[Done]) -> bool,
) -> Vec<Done> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut events = mio::Events::with_capacity(4);
    let mut done = Vec::new();
    while !enough(&done) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        assert!(!left.is_zero(), "no wake-up in time; got {done:?}");
        poll.poll(&mut events, Some(left)).expect("poll");
        if !events.is_empty() {
            done.extend(history.take_done());
        }
    }
    done
}

#[test]
fn worker_commits_answers_and_closes_with_everything_sent() {
    let dir = TempDir::new();
    let db = SqliteBackend::open(&dir.db()).expect("open");
    let (mut history, mut poll) = spawn(Box::new(db));
    for e in fixture().into_iter().take(10) {
        history.append(e);
    }
    assert_eq!(history.health().queued, 10);
    history.flush();
    history.flush();
    // Ten entries, one batch (the second flush has nothing to send).
    let done = wait_for(&mut history, &mut poll, |d| d.contains(&Done::Committed(1)));
    assert_eq!(done, [Done::Committed(1)]);
    assert_eq!(history.committed(), 1);
    let health = history.health();
    assert!(health.ok);
    assert_eq!((health.stored, health.batches, health.queued), (10, 1, 0));
    let q = Query::Latest {
        target: "#a".into(),
        after: None,
        limit: 2,
    };
    history.query(7, q, false);
    let done = wait_for(&mut history, &mut poll, |d| !d.is_empty());
    let want: Vec<Entry> = fixture()
        .into_iter()
        .filter(|e| [7, 9].contains(&e.seq))
        .collect();
    assert_eq!(
        done,
        [Done::Answer {
            ticket: 7,
            result: Ok(want)
        }]
    );
    history.purge(8, Purge::Target("#b".into()));
    let done = wait_for(&mut history, &mut poll, |d| !d.is_empty());
    assert_eq!(
        done,
        [Done::Purged {
            ticket: 8,
            result: Ok(5)
        }]
    );
    // Sent but never acknowledged: close still commits it.
    for e in fixture().into_iter().skip(10) {
        history.append(e);
    }
    history.close();
    let mut db = SqliteBackend::open(&dir.db()).expect("reopen");
    assert_eq!(db.max_seq().expect("max_seq"), 20);
    assert_eq!(db.count().expect("count"), 15);
}

#[test]
fn a_failing_batch_is_reported_and_the_next_good_one_recovers() {
    let failing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let backend = Scripted {
        failing: failing.clone(),
        panics: true,
        ..Scripted::default()
    };
    let (mut history, mut poll) = spawn(Box::new(backend));
    history.append(entry(1, 1, "#a", "n"));
    history.append(entry(2, 2, "#a", "n"));
    history.flush();
    let done = wait_for(&mut history, &mut poll, |d| !d.is_empty());
    let [Done::Failed { through: 1, error }] = &done[..] else {
        panic!("expected one failure, got {done:?}");
    };
    assert!(error.contains("disk is full"), "{error}");
    let health = history.health().clone();
    assert!(!health.ok);
    assert_eq!(
        (health.failures, health.failed_entries, health.queued),
        (1, 2, 0)
    );
    assert_eq!(history.committed(), 1);
    // A panic in the backend is an error answer, not a dead worker.
    let q = Query::Latest {
        target: "#a".into(),
        after: None,
        limit: 1,
    };
    history.query(1, q, false);
    let done = wait_for(&mut history, &mut poll, |d| !d.is_empty());
    let [
        Done::Answer {
            ticket: 1,
            result: Err(why),
        },
    ] = &done[..]
    else {
        panic!("expected an error answer, got {done:?}");
    };
    assert!(why.contains("a bug in a query"), "{why}");
    failing.store(false, Ordering::SeqCst);
    history.append(entry(3, 3, "#a", "n"));
    history.flush();
    let done = wait_for(&mut history, &mut poll, |d| !d.is_empty());
    assert_eq!(done, [Done::Committed(2)]);
    let health = history.health();
    assert!(health.ok);
    assert_eq!(health.stored, 1);
    assert!(health.last_error.is_some());
    history.close();
}

/// A memory backend with the faults and the timing the worker's tests
/// need: appends fail while `failing` is set (a full disk), queries panic
/// when `panics` (a bug), the first query waits for `go` when given (a
/// busy worker), and calls are logged in order.
#[derive(Default)]
struct Scripted {
    inner: MemoryBackend,
    failing: std::sync::Arc<std::sync::atomic::AtomicBool>,
    panics: bool,
    calls: std::sync::Arc<std::sync::Mutex<Vec<&'static str>>>,
    /// Told when the first query starts, which then waits for the second.
    gate: Option<(std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<()>)>,
}

impl Scripted {
    fn log(&self, call: &'static str) {
        self.calls.lock().expect("calls").push(call);
    }
}

impl Backend for Scripted {
    fn append(&mut self, batch: &[Entry]) -> Result<u64, StoreError> {
        self.log("append");
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::new(
                "history test.sqlite3: database or disk is full",
            ));
        }
        self.inner.append(batch)
    }
    fn query(&mut self, q: &Query, events: bool) -> Result<Vec<Entry>, StoreError> {
        self.log("query");
        assert!(!self.panics, "a bug in a query");
        if let Some((entered, go)) = self.gate.take() {
            let _ = entered.send(());
            let _ = go.recv();
        }
        self.inner.query(q, events)
    }
    fn targets(&mut self, q: &TargetsQuery) -> Result<Vec<TargetActivity>, StoreError> {
        self.inner.targets(q)
    }
    fn purge_nick(&mut self, nick: &str) -> Result<u64, StoreError> {
        self.inner.purge_nick(nick)
    }
    fn purge_target(&mut self, target: &str) -> Result<u64, StoreError> {
        self.log("purge");
        self.inner.purge_target(target)
    }
    fn retain(
        &mut self,
        now: i64,
        age: i64,
        count: usize,
        scope: Scope<'_>,
    ) -> Result<u64, StoreError> {
        self.inner.retain(now, age, count, scope)
    }
    fn max_seq(&mut self) -> Result<u64, StoreError> {
        self.inner.max_seq()
    }
    fn count(&mut self) -> Result<u64, StoreError> {
        self.inner.count()
    }
    fn bytes(&mut self) -> Result<u64, StoreError> {
        self.inner.bytes()
    }
}

#[test]
fn writes_overtake_waiting_queries_and_keep_their_own_order() {
    let calls = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (entered_tx, entered) = std::sync::mpsc::channel();
    let (go, go_rx) = std::sync::mpsc::channel();
    let backend = Scripted {
        calls: calls.clone(),
        gate: Some((entered_tx, go_rx)),
        ..Scripted::default()
    };
    let (mut history, mut poll) = spawn(Box::new(backend));
    let latest = || Query::Latest {
        target: "#a".into(),
        after: None,
        limit: 5,
    };
    history.query(0, latest(), false);
    entered
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("the first query started");
    for ticket in 1..=3 {
        history.query(ticket, latest(), false);
    }
    history.append(entry(1, 1, "#a", "n"));
    history.flush();
    history.purge(9, Purge::Target("#a".into()));
    history.append(entry(2, 2, "#a", "n"));
    history.flush();
    go.send(()).expect("go");
    let done = wait_for(&mut history, &mut poll, |d| {
        d.iter()
            .filter(|d| matches!(d, Done::Answer { .. }))
            .count()
            == 4
    });
    assert_eq!(
        *calls.lock().expect("calls"),
        [
            "query", "append", "purge", "append", "query", "query", "query"
        ],
        "{done:?}"
    );
    // The queries that waited see every write sent before them.
    let Some(Done::Answer {
        result: Ok(found), ..
    }) = done.last()
    else {
        panic!("{done:?}");
    };
    assert_eq!(found.iter().map(|e| e.seq).collect::<Vec<_>>(), [2]);
}

#[test]
fn the_last_checkpoint_leaves_no_wal_behind() {
    let dir = TempDir::new();
    let mut db = SqliteBackend::open(&dir.db()).expect("open");
    for e in fixture() {
        db.append(std::slice::from_ref(&e)).expect("append");
    }
    let wal = PathBuf::from(format!("{}-wal", dir.db().display()));
    assert!(wal.exists(), "commits go to the WAL");
    drop(db);
    let left = std::fs::metadata(&wal).map_or(0, |m| m.len());
    assert_eq!(left, 0, "the last checkpoint empties the WAL");
    let mut db = SqliteBackend::open(&dir.db()).expect("reopen");
    assert_eq!(db.count().expect("count"), fixture().len() as u64);
}

#[test]
fn commits_are_told_by_batch_so_an_older_seq_sent_later_still_waits() {
    let dir = TempDir::new();
    let db = SqliteBackend::open(&dir.db()).expect("open");
    let (mut history, mut poll) = spawn(Box::new(db));
    history.append(entry(100, 100, "#a", "n"));
    assert_eq!(history.next_batch(), 1);
    history.flush();
    let done = wait_for(&mut history, &mut poll, |d| !d.is_empty());
    assert_eq!(done, [Done::Committed(1)]);
    // A line heard from another node keeps the older msgid it was given
    // there: it is not committed because seq 100 is.
    history.append(entry(50, 50, "#a", "n"));
    assert_eq!(history.next_batch(), 2);
    assert!(history.committed() < history.next_batch());
    history.flush();
    let done = wait_for(&mut history, &mut poll, |d| !d.is_empty());
    assert_eq!(done, [Done::Committed(2)]);
    history.close();
    let mut db = SqliteBackend::open(&dir.db()).expect("reopen");
    assert_eq!(db.count().expect("count"), 2);
    assert_eq!(db.max_seq().expect("max_seq"), 100);
}

#[test]
fn a_seq_kept_already_keeps_its_first_line_and_the_batch_goes_in() {
    let dir = TempDir::new();
    let mut sqlite = SqliteBackend::open(&dir.db()).expect("open");
    let mut memory = MemoryBackend::new();
    let first = entry(7, 1, "#a", "n");
    let mut twin = entry(7, 2, "#a", "n");
    twin.text = "a second line under one msgid".into();
    // The same line again (heard live, then read from a channel's log),
    // and another line under its msgid (nodes with one number).
    let batch = [first.clone(), first.clone(), twin, entry(8, 3, "#a", "n")];
    let latest = Query::Latest {
        target: "#a".into(),
        after: None,
        limit: 10,
    };
    for engine in [&mut sqlite as &mut dyn Backend, &mut memory] {
        // Two added, so the worker's count of entries stays true.
        assert_eq!(engine.append(&batch).expect("append"), 2);
        let got = engine.query(&latest, false).expect("query");
        assert_eq!(got, [first.clone(), entry(8, 3, "#a", "n")]);
    }
}
