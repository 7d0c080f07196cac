//! What each [`Query`] means, in one place.
//!
//! Every query is one or two [`Pick`]s: "the `limit` oldest (or newest)
//! entries of a target within these bounds". An engine only implements a
//! pick; [`run`] composes picks into the answer of a query, so all engines
//! (and the recent window's [`try_answer`](super::MemoryBackend::try_answer))
//! agree by construction on the parts that are easy to get subtly wrong:
//! which side is exclusive, what AROUND and BETWEEN do.
//!
//! Bounds compare a [`Selector`] with one field of an entry: `Seq(s)` with
//! `entry.seq`, `Time(t)` with `entry.time_ms`. Order is always by seq, even
//! with time bounds: a clock that steps back can make `time_ms` go down
//! while seq goes up, and the bounds are then plain filters on the
//! seq-ordered history, never positions in it.

use super::{Entry, Query, Selector};

/// Which end of the matching entries a pick takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Oldest,
    Newest,
}

/// The lower bound of a pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lower {
    /// Entries strictly after the selector.
    After(Selector),
    /// Entries at or after the selector.
    From(Selector),
}

/// One read of one target: the `limit` entries at `end` among those within
/// `lower` and `before` (and of the kinds `events` admits), returned
/// oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick<'a> {
    pub target: &'a str,
    /// Joins, parts and quits count too (`draft/event-playback`); else
    /// only messages do, so a limit is a number of messages.
    pub events: bool,
    pub lower: Option<Lower>,
    /// The upper bound, always exclusive.
    pub before: Option<Selector>,
    pub end: End,
    pub limit: usize,
}

impl Selector {
    /// How `entry` compares with this point: by seq or by time.
    pub fn compare(self, entry: &Entry) -> std::cmp::Ordering {
        match self {
            Selector::Seq(s) => entry.seq.cmp(&s),
            Selector::Time(t) => entry.time_ms.cmp(&t),
        }
    }
}

impl Pick<'_> {
    /// Whether `entry` (of this target) lies within the bounds.
    pub fn matches(&self, entry: &Entry) -> bool {
        use std::cmp::Ordering::*;
        let lower = match self.lower {
            None => true,
            Some(Lower::After(sel)) => sel.compare(entry) == Greater,
            Some(Lower::From(sel)) => sel.compare(entry) != Less,
        };
        lower
            && self.before.is_none_or(|sel| sel.compare(entry) == Less)
            && (self.events || !entry.kind.is_event())
    }
}

/// Answers `q` with `pick`, oldest first:
/// - `Latest { after: None }`: the newest `limit`; with `after`, the newest
///   `limit` of those strictly after it.
/// - `Before`: the newest `limit` strictly before `sel`.
/// - `After`: the oldest `limit` strictly after `sel`.
/// - `Around`: the newest `limit / 2` strictly before `sel`, then the
///   oldest of those at or after `sel`, as many as fill `limit` (so with
///   little before `sel`, more comes after it, as with Ergo).
/// - `Between`: the oldest `limit` strictly after `from` and strictly
///   before `to`; when there are none, the newest `limit` strictly before
///   `from` and strictly after `to`. For selectors of one kind this is
///   exactly "from `from`'s side": when from < to the second set is empty
///   by definition, when from > to the first is. It also gives mixed kinds
///   (a msgid and a timestamp) a meaning without comparing them.
///
/// `limit` 0 gives nothing. An unknown target gives nothing. Without
/// `events`, joins, parts and quits are left out before the limit counts.
pub fn run<E>(
    q: &Query,
    events: bool,
    mut pick: impl FnMut(&Pick<'_>) -> Result<Vec<Entry>, E>,
) -> Result<Vec<Entry>, E> {
    let newest = |target, lower, before, limit| Pick {
        target,
        events,
        lower,
        before,
        end: End::Newest,
        limit,
    };
    let oldest = |target, lower, before, limit| Pick {
        target,
        events,
        lower,
        before,
        end: End::Oldest,
        limit,
    };
    match q {
        Query::Latest {
            target,
            after,
            limit,
        } => pick(&newest(target, after.map(Lower::After), None, *limit)),
        Query::Before { target, sel, limit } => pick(&newest(target, None, Some(*sel), *limit)),
        Query::After { target, sel, limit } => {
            pick(&oldest(target, Some(Lower::After(*sel)), None, *limit))
        }
        Query::Around { target, sel, limit } => {
            let mut found = pick(&newest(target, None, Some(*sel), limit / 2))?;
            let rest = limit.saturating_sub(found.len());
            found.extend(pick(&oldest(target, Some(Lower::From(*sel)), None, rest))?);
            Ok(found)
        }
        Query::Between {
            target,
            from,
            to,
            limit,
        } => {
            let forward = pick(&oldest(
                target,
                Some(Lower::After(*from)),
                Some(*to),
                *limit,
            ))?;
            if !forward.is_empty() {
                return Ok(forward);
            }
            pick(&newest(
                target,
                Some(Lower::After(*to)),
                Some(*from),
                *limit,
            ))
        }
    }
}
