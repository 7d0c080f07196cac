//! History in memory: a full engine for tests and small setups, and,
//! capped, the loop's window of recent entries.
//!
//! As a window it answers the common queries (join playback, `LATEST *`)
//! on the reactor thread without a round trip to the worker, but only when
//! it can prove the answer is the one the full store would give: see
//! [`MemoryBackend::try_answer`].

use super::select::{self, End, Lower, Pick};
use super::{
    Backend, Entry, Query, Scope, Selector, StoreError, TargetActivity, TargetsQuery, is_party,
};
use std::collections::{HashMap, VecDeque};

/// Entries per target, each target's sorted by seq.
#[derive(Debug, Clone)]
pub struct MemoryBackend {
    targets: HashMap<String, Window>,
    /// Entries kept per target; `None` keeps everything.
    cap: Option<usize>,
    /// The first seq appended since start: every stored entry older than
    /// this was stored before the window existed, so the window knows
    /// nothing of it.
    start_seq: u64,
    max_seq: u64,
}

/// One target's entries.
#[derive(Debug, Clone)]
struct Window {
    /// Sorted by seq; every one has `seq >= complete_from`.
    entries: VecDeque<Entry>,
    /// Every entry of the target with `seq >= complete_from` in the full
    /// store is here; older ones may be missing.
    complete_from: u64,
}

/// Rough heap cost of an entry beyond its text, for [`Backend::size`].
const ENTRY_OVERHEAD: u64 = 160;

impl Default for MemoryBackend {
    fn default() -> Self {
        MemoryBackend::new()
    }
}

impl MemoryBackend {
    /// A whole store in memory: keeps everything, knows everything.
    pub fn new() -> MemoryBackend {
        MemoryBackend::with_cap_from(None, 1)
    }

    /// The loop's window: keeps the newest `per_target` entries of each
    /// target. `start_seq` is the first seq the loop will append (the
    /// store's `max_seq` at open, plus one): a target first seen after start
    /// is complete from it, since nothing of it with a higher seq can be
    /// on disk.
    pub fn with_cap(per_target: usize, start_seq: u64) -> MemoryBackend {
        MemoryBackend::with_cap_from(Some(per_target), start_seq)
    }

    fn with_cap_from(cap: Option<usize>, start_seq: u64) -> MemoryBackend {
        MemoryBackend {
            targets: HashMap::new(),
            cap,
            start_seq,
            max_seq: start_seq.saturating_sub(1),
        }
    }

    /// Answers `q` only when certain the full store would give the same
    /// (assuming every entry appended here reaches the store, and that the
    /// store sees the same purges), else `None`.
    ///
    /// Why it can be certain: a target's entries missing here all have
    /// `seq < complete_from`, so they are older (by seq) than every entry
    /// here. A pick is certain when
    /// - nothing is missing (`complete_from` 1: the store started empty or
    ///   this is an uncapped store), or its limit is 0;
    /// - its lower bound is a seq at or past `complete_from`, so no missing
    ///   entry is in range; or
    /// - it takes the newest and found its full `limit` here: missing
    ///   entries, all older, could only come after those.
    ///
    /// A time bound never rules missing entries out: their times are
    /// unknown here, and clocks step back. A query is certain when each of
    /// its picks is (see [`select::run`]).
    pub fn try_answer(&self, q: &Query, events: bool) -> Option<Vec<Entry>> {
        select::run(q, events, |p| {
            let found = self.pick(p);
            if self.certain(p, found.len()) {
                Ok(found)
            } else {
                Err(())
            }
        })
        .ok()
    }

    /// See [`MemoryBackend::try_answer`].
    fn certain(&self, p: &Pick<'_>, found: usize) -> bool {
        let complete_from = self
            .targets
            .get(p.target)
            .map_or(self.start_seq, |w| w.complete_from);
        let excludes_missing = match p.lower {
            Some(Lower::After(Selector::Seq(s))) => s.saturating_add(1) >= complete_from,
            Some(Lower::From(Selector::Seq(s))) => s >= complete_from,
            _ => false,
        };
        complete_from <= 1
            || p.limit == 0
            || excludes_missing
            || (p.end == End::Newest && found >= p.limit)
    }

    /// What this store holds for `p`: seq bounds narrow the range by binary
    /// search, then every bound filters.
    fn pick(&self, p: &Pick<'_>) -> Vec<Entry> {
        let Some(window) = self.targets.get(p.target) else {
            return Vec::new();
        };
        let entries = &window.entries;
        let start = match p.lower {
            Some(Lower::After(Selector::Seq(s))) => entries.partition_point(|e| e.seq <= s),
            Some(Lower::From(Selector::Seq(s))) => entries.partition_point(|e| e.seq < s),
            _ => 0,
        };
        let end = match p.before {
            Some(Selector::Seq(s)) => entries.partition_point(|e| e.seq < s),
            _ => entries.len(),
        };
        let range = entries.range(start..end.max(start));
        match p.end {
            End::Oldest => range
                .filter(|e| p.matches(e))
                .take(p.limit)
                .cloned()
                .collect(),
            End::Newest => {
                let mut found: Vec<Entry> = range
                    .rev()
                    .filter(|e| p.matches(e))
                    .take(p.limit)
                    .cloned()
                    .collect();
                found.reverse();
                found
            }
        }
    }

    /// Stores one entry in seq order (lines heard from other nodes may come
    /// after newer ones), then trims to the cap. Like the SQLite engine it
    /// keeps the first of two entries with one seq. Whether it was kept.
    fn insert(&mut self, entry: Entry) -> bool {
        let start_seq = self.start_seq;
        self.max_seq = self.max_seq.max(entry.seq);
        // The key is cloned only for a target seen for the first time.
        if !self.targets.contains_key(&*entry.target) {
            let window = Window {
                entries: VecDeque::new(),
                complete_from: start_seq,
            };
            self.targets.insert(entry.target.to_string(), window);
        }
        let Some(window) = self.targets.get_mut(&*entry.target) else {
            return false;
        };
        // Older than what the window vouches for: keeping it would break
        // "everything here is newer than anything missing".
        if entry.seq < window.complete_from {
            return false;
        }
        let at = window.entries.partition_point(|e| e.seq < entry.seq);
        if window.entries.get(at).is_some_and(|e| e.seq == entry.seq) {
            return false;
        }
        window.entries.insert(at, entry);
        if let Some(cap) = self.cap {
            while window.entries.len() > cap {
                if let Some(gone) = window.entries.pop_front() {
                    window.complete_from = window.complete_from.max(gone.seq + 1);
                }
            }
        }
        true
    }
}

impl Backend for MemoryBackend {
    fn append(&mut self, batch: &[Entry]) -> Result<u64, StoreError> {
        let kept = batch.iter().filter(|e| self.insert((*e).clone())).count();
        Ok(kept as u64)
    }

    fn query(&mut self, q: &Query, events: bool) -> Result<Vec<Entry>, StoreError> {
        select::run(q, events, |p| Ok(self.pick(p)))
    }

    fn targets(&mut self, q: &TargetsQuery) -> Result<Vec<TargetActivity>, StoreError> {
        let range = q.from_ms.min(q.to_ms)..=q.from_ms.max(q.to_ms);
        let (channels, nick) = (&q.channels, q.nick.as_str());
        let mut found: Vec<TargetActivity> = self
            .targets
            .iter()
            .filter(|(key, _)| channels.contains(key) || is_party(key, nick))
            .filter_map(|(key, window)| {
                let latest = window
                    .entries
                    .iter()
                    .map(|e| e.time_ms)
                    .filter(|t| range.contains(t))
                    .max()?;
                Some(TargetActivity {
                    target: key.clone(),
                    latest_ms: latest,
                })
            })
            .collect();
        found.sort_by(|a, b| (a.latest_ms, &a.target).cmp(&(b.latest_ms, &b.target)));
        found.truncate(q.limit);
        Ok(found)
    }

    fn purge_nick(&mut self, nick: &str) -> Result<u64, StoreError> {
        let mut gone = 0;
        self.targets.retain(|key, window| {
            if is_party(key, nick) {
                gone += window.entries.len() as u64;
                return false;
            }
            let before = window.entries.len();
            window.entries.retain(|e| &*e.nick != nick);
            gone += (before - window.entries.len()) as u64;
            true
        });
        Ok(gone)
    }

    fn purge_target(&mut self, target: &str) -> Result<u64, StoreError> {
        Ok(self
            .targets
            .remove(target)
            .map_or(0, |w| w.entries.len() as u64))
    }

    fn retain(
        &mut self,
        now_ms: i64,
        max_age_ms: i64,
        max_messages: usize,
        scope: Scope<'_>,
    ) -> Result<u64, StoreError> {
        let cutoff = (max_age_ms > 0).then(|| now_ms.saturating_sub(max_age_ms));
        let mut gone = 0;
        for (target, window) in &mut self.targets {
            let before = window.entries.len();
            if let Some(cutoff) = cutoff {
                window.entries.retain(|e| e.time_ms >= cutoff);
            }
            if max_messages > 0 && window.entries.len() > max_messages && scope.includes(target) {
                let excess = window.entries.len() - max_messages;
                window.entries.drain(..excess);
            }
            gone += (before - window.entries.len()) as u64;
        }
        Ok(gone)
    }

    fn max_seq(&mut self) -> Result<u64, StoreError> {
        Ok(self.max_seq)
    }

    fn count(&mut self) -> Result<u64, StoreError> {
        Ok(self.targets.values().map(|w| w.entries.len() as u64).sum())
    }

    fn bytes(&mut self) -> Result<u64, StoreError> {
        let entries = self.targets.values().flat_map(|w| w.entries.iter());
        Ok(entries
            .map(|e| {
                let text = e.target.len() + e.prefix.len() + e.nick.len() + e.to.len();
                ENTRY_OVERHEAD + (text + e.text.len() + e.tags.len()) as u64
            })
            .sum())
    }
}
