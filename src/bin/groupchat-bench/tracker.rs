//! Delivery bookkeeping for one fan-out round: which (receiver, sender, seq)
//! arrived, how late, and which losses the server explained by disconnecting
//! someone.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::irc::Payload;
use crate::report::{FanoutReport, Latency, SenderReport};

/// Width of one deliveries-per-second sample.
pub const BUCKET_NS: u64 = 100_000_000;

#[derive(Default, Clone)]
struct Pair {
    /// One bit per sequence number, allocated on first delivery.
    seen: Vec<u64>,
    received: u32,
    /// Highest sequence number seen plus one (0: none yet).
    next: u32,
    dup: u32,
    ooo: u32,
}

/// How a member left during the round.
pub struct Departure {
    pub reason: String,
    /// The server said why (ERROR line or a QUIT reason other members saw), or
    /// the member was a designated slow reader, whose disconnection is the
    /// point of the test.
    pub explained: bool,
}

pub struct Tracker {
    pub round: u32,
    pub messages: u32,
    members: usize,
    present: Vec<bool>,
    /// Members whose deliveries this tracker records (with `--threads`,
    /// those of its own event loop); the others are another tracker's.
    receivers: Vec<bool>,
    slow: Vec<bool>,
    /// Messages each sender has put on the wire.
    pub sent: Vec<u32>,
    pairs: Vec<Pair>,
    gone: Vec<Option<Departure>>,
    hist: Histogram<u64>,
    timeline: Vec<u64>,
    start_ns: u64,
    /// Last delivery to a measured receiver: the end of the rate's span.
    last_ns: u64,
    pub received: u64,
    received_fast: u64,
    stray: u64,
}

impl Tracker {
    /// Members are ids `0..present.len()`; sender `s` is member `s`.
    pub fn new(
        round: u32,
        senders: usize,
        messages: u32,
        present: Vec<bool>,
        slow: Vec<bool>,
        start_ns: u64,
    ) -> Self {
        let members = present.len();
        let mut pairs = Vec::new();
        pairs.resize_with(members * senders, Pair::default);
        let mut gone = Vec::new();
        gone.resize_with(members, || None);
        Tracker {
            round,
            messages,
            members,
            receivers: vec![true; members],
            present,
            slow,
            sent: vec![0; senders],
            pairs,
            gone,
            // Three significant digits, auto-resizing: no latency is clipped.
            hist: Histogram::new(3).expect("3 significant digits is a valid precision"),
            timeline: Vec::new(),
            start_ns,
            last_ns: start_ns,
            received: 0,
            received_fast: 0,
            stray: 0,
        }
    }

    fn senders(&self) -> usize {
        self.sent.len()
    }

    /// Records and expects deliveries only for the members marked true.
    pub fn set_receivers(&mut self, receivers: Vec<bool>) {
        if receivers.len() == self.members {
            self.receivers = receivers;
        }
    }

    /// Takes over another loop's receivers (same round, same members):
    /// their deliveries, latencies and the departures it saw.
    pub fn absorb(&mut self, other: Tracker) {
        let senders = self.senders();
        if other.members != self.members || other.senders() != senders {
            return;
        }
        for r in (0..self.members).filter(|&r| other.receivers[r]) {
            let range = r * senders..(r + 1) * senders;
            for (mine, theirs) in self.pairs[range.clone()]
                .iter_mut()
                .zip(&other.pairs[range])
            {
                *mine = theirs.clone();
            }
            self.receivers[r] = true;
        }
        for (mine, theirs) in self.gone.iter_mut().zip(other.gone) {
            if mine.is_none() {
                *mine = theirs;
            }
        }
        for (mine, &theirs) in self.sent.iter_mut().zip(&other.sent) {
            *mine = (*mine).max(theirs);
        }
        let _ = self.hist.add(&other.hist);
        if self.timeline.len() < other.timeline.len() {
            self.timeline.resize(other.timeline.len(), 0);
        }
        for (mine, theirs) in self.timeline.iter_mut().zip(&other.timeline) {
            *mine += theirs;
        }
        self.start_ns = self.start_ns.min(other.start_ns);
        self.last_ns = self.last_ns.max(other.last_ns);
        self.received += other.received;
        self.received_fast += other.received_fast;
        self.stray += other.stray;
    }

    pub fn record(&mut self, receiver: u32, p: Payload, now_ns: u64) {
        let (r, s) = (receiver as usize, p.sender as usize);
        if p.round != self.round
            || r >= self.members
            || s >= self.senders()
            || p.seq >= self.messages
        {
            self.stray += 1;
            return;
        }
        let senders = self.senders();
        let pair = &mut self.pairs[r * senders + s];
        if pair.seen.is_empty() {
            pair.seen = vec![0; (self.messages as usize).div_ceil(64)];
        }
        let (word, bit) = ((p.seq / 64) as usize, 1u64 << (p.seq % 64));
        if pair.seen[word] & bit != 0 {
            pair.dup += 1;
            return;
        }
        pair.seen[word] |= bit;
        pair.received += 1;
        if p.seq + 1 < pair.next {
            pair.ooo += 1;
        } else {
            pair.next = p.seq + 1;
        }
        self.received += 1;
        if !self.slow[r] {
            self.last_ns = self.last_ns.max(now_ns);
            self.received_fast += 1;
            // Clock skew is impossible (one process, one monotonic clock), but
            // a saturating difference keeps a bogus payload from panicking.
            let _ = self.hist.record(now_ns.saturating_sub(p.sent_ns).max(1));
            let b = (now_ns.saturating_sub(self.start_ns) / BUCKET_NS) as usize;
            if self.timeline.len() <= b {
                self.timeline.resize(b + 1, 0);
            }
            self.timeline[b] += 1;
        }
    }

    pub fn depart(&mut self, member: u32, d: Departure) {
        if let Some(slot) = self.gone.get_mut(member as usize)
            && slot.is_none()
        {
            *slot = Some(d);
        }
    }

    fn expected_pair(&self, r: usize, s: usize) -> bool {
        r != s && self.receivers[r] && self.present[r] && self.present[s]
    }

    /// True when every member still connected (slow ones only if
    /// `with_slow`) has everything its senders managed to send.
    pub fn complete(&self, with_slow: bool) -> bool {
        let senders = self.senders();
        (0..self.members)
            .filter(|&r| self.gone[r].is_none() && (with_slow || !self.slow[r]))
            .all(|r| {
                (0..senders).all(|s| {
                    !self.expected_pair(r, s)
                        || self.pairs[r * senders + s].received >= self.sent[s]
                })
            })
    }

    pub fn expected(&self) -> u64 {
        let senders = self.senders();
        let pairs = (0..self.members)
            .flat_map(|r| (0..senders).map(move |s| (r, s)))
            .filter(|&(r, s)| self.expected_pair(r, s))
            .count();
        pairs as u64 * u64::from(self.messages)
    }

    pub fn report(&self, end_ns: u64) -> FanoutReport {
        let senders = self.senders();
        let mut per_sender: Vec<SenderReport> = (0..senders)
            .map(|s| SenderReport {
                sender: s as u32,
                sent: self.sent[s],
                ..SenderReport::default()
            })
            .collect();
        let (mut lost_explained, mut lost_silent) = (0u64, 0u64);
        for r in 0..self.members {
            for (s, ps) in per_sender.iter_mut().enumerate() {
                if !self.expected_pair(r, s) {
                    continue;
                }
                let pair = &self.pairs[r * senders + s];
                let missing = u64::from(self.messages.saturating_sub(pair.received));
                ps.lost += missing;
                ps.duplicated += u64::from(pair.dup);
                ps.out_of_order += u64::from(pair.ooo);
                let explained = [r, s]
                    .iter()
                    .any(|&m| self.gone[m].as_ref().is_some_and(|d| d.explained));
                if explained {
                    lost_explained += missing;
                } else {
                    lost_silent += missing;
                }
            }
        }
        let mut disconnects: BTreeMap<String, u64> = BTreeMap::new();
        for d in self.gone.iter().flatten() {
            *disconnects.entry(d.reason.clone()).or_default() += 1;
        }
        let span_ns = self.last_ns.saturating_sub(self.start_ns).max(1);
        let q = |v: f64| self.hist.value_at_quantile(v) as f64 / 1000.0;
        let latency = (!self.hist.is_empty()).then(|| Latency {
            p50_us: q(0.5),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: self.hist.max() as f64 / 1000.0,
        });
        FanoutReport {
            members: self.present.iter().filter(|&&p| p).count() as u64,
            senders: senders as u64,
            messages_per_sender: self.messages,
            sent: self.sent.iter().map(|&s| u64::from(s)).sum(),
            expected: self.expected(),
            received: self.received,
            lost: lost_explained + lost_silent,
            lost_explained,
            lost_silent,
            duplicated: per_sender.iter().map(|p| p.duplicated).sum(),
            out_of_order: per_sender.iter().map(|p| p.out_of_order).sum(),
            stray: self.stray,
            measured_deliveries: self.received_fast,
            deliveries_per_s: self.received_fast as f64 * 1e9 / span_ns as f64,
            duration_s: end_ns.saturating_sub(self.start_ns) as f64 / 1e9,
            latency,
            disconnects,
            per_sender,
        }
    }

    /// Latency histogram of the measured (not slow) receivers.
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }

    /// Deliveries to measured receivers per [`BUCKET_NS`] since the round began.
    pub fn timeline(&self) -> &[u64] {
        &self.timeline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(sender: u32, seq: u32) -> Payload {
        Payload {
            round: 1,
            sender,
            seq,
            sent_ns: 10,
        }
    }

    #[test]
    fn counts_loss_duplicates_and_reordering() {
        // 3 members, sender 0, 4 messages: members 1 and 2 expect 4 each.
        let mut t = Tracker::new(1, 1, 4, vec![true; 3], vec![false; 3], 0);
        t.sent[0] = 4;
        for seq in [0, 1, 3, 2, 2] {
            t.record(1, p(0, seq), 100);
        }
        t.record(2, p(0, 0), 100);
        t.record(
            2,
            Payload {
                round: 9,
                ..p(0, 1)
            },
            100,
        );
        let r = t.report(200);
        assert_eq!(r.expected, 8);
        assert_eq!(r.received, 5);
        assert_eq!(r.duplicated, 1);
        assert_eq!(r.out_of_order, 1);
        assert_eq!(r.stray, 1);
        assert_eq!((r.lost, r.lost_silent), (3, 3));
        assert!(!t.complete(true));
    }

    #[test]
    fn explained_departures_are_not_silent_loss() {
        let mut t = Tracker::new(1, 1, 2, vec![true; 3], vec![false; 3], 0);
        t.sent[0] = 2;
        t.record(1, p(0, 0), 5);
        t.record(1, p(0, 1), 5);
        t.depart(
            2,
            Departure {
                reason: "SendQ exceeded".into(),
                explained: true,
            },
        );
        assert!(t.complete(true));
        let r = t.report(10);
        assert_eq!((r.lost, r.lost_explained, r.lost_silent), (2, 2, 0));
        assert_eq!(r.disconnects.get("SendQ exceeded"), Some(&1));
    }
}
