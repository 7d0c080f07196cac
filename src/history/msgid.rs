//! Msgids that are the same on every node of a network, given by each node
//! without asking anyone (as Twitter's "snowflake" ids are).
//!
//! A msgid (an entry's seq) is the time it was given, in microseconds since
//! 1970, times [`NODE_SPAN`], plus the number of the node that gave it: 0
//! on a single node, 1 to 1023 from a cluster node's name. So:
//! - one node's msgids strictly increase, across restarts too;
//! - two nodes never give the same msgid, unless their names have the same
//!   number, which they notice and log when they meet
//!   ([`Hub`](crate::hub::Hub) checks every node it hears of);
//! - a line from another node keeps the msgid it was given there, so a
//!   reply or a `CHATHISTORY AFTER` by msgid means the same line on every
//!   node, and sorting by msgid sorts by when lines were said, whichever
//!   node heard them first: every node orders a conversation the same way
//!   (given clocks synchronised well within what people notice, as a
//!   cluster needs anyway).
//!
//! Room: `u64::MAX / 1024` microseconds is year 2540, and SQLite's `i64`
//! keeps them until 2255.

/// How many node numbers a microsecond holds.
pub const NODE_SPAN: u64 = 1024;

/// The msgids one node gives.
#[derive(Debug, Clone)]
pub struct Msgids {
    node: u64,
    last: u64,
}

impl Msgids {
    /// The msgids of the node named `node` (`None`: a single node).
    pub fn new(node: Option<&str>) -> Msgids {
        Msgids {
            node: node.map_or(0, node_number),
            last: 0,
        }
    }

    /// A msgid for a line accepted at `now_ms`: above every msgid given
    /// before and every `floor`, and this node's.
    pub fn next(&mut self, now_ms: i64) -> u64 {
        let clock = u64::try_from(now_ms).unwrap_or(0).saturating_mul(1000);
        let micros = clock.max(self.last / NODE_SPAN + 1);
        self.last = micros.saturating_mul(NODE_SPAN) + self.node;
        self.last
    }

    /// The first of `n` msgids given at once, at `now_ms`: they are
    /// consecutive, the k-th being `first + k * NODE_SPAN` (see [`nth`]),
    /// so one msgid tells another node all of them.
    pub fn next_run(&mut self, now_ms: i64, n: usize) -> u64 {
        let first = self.next(now_ms);
        self.last = nth(first, n.saturating_sub(1));
        first
    }

    /// Msgids from now on are above `seq` (the highest one in history).
    pub fn floor(&mut self, seq: u64) {
        self.last = self.last.max(seq);
    }

    /// This node's number.
    pub fn node(&self) -> u64 {
        self.node
    }
}

/// The number a cluster node's msgids end in: 1 to 1023, from its name by
/// FNV-1a, which is fixed (unlike std's hasher), so that every node and
/// every version computes the same number from the same name.
pub fn node_number(name: &str) -> u64 {
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    1 + hash % (NODE_SPAN - 1)
}

/// The k-th msgid of a run that starts at `first` (see
/// [`Msgids::next_run`]).
pub fn nth(first: u64, k: usize) -> u64 {
    first.saturating_add((k as u64).saturating_mul(NODE_SPAN))
}

/// The number of the node that gave `seq`.
pub fn node_of(seq: u64) -> u64 {
    seq % NODE_SPAN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_nodes_msgids_increase_and_end_in_its_number() {
        let mut ids = Msgids::new(Some("chat-1"));
        let number = node_number("chat-1");
        assert!((1..NODE_SPAN).contains(&number));
        let a = ids.next(1_000);
        let b = ids.next(1_000);
        let c = ids.next(999);
        assert!(a < b && b < c, "{a} {b} {c}");
        for seq in [a, b, c] {
            assert_eq!(node_of(seq), number);
        }
        assert_eq!(a, 1_000_000 * NODE_SPAN + number);
    }

    #[test]
    fn a_floor_from_any_node_is_passed_and_the_number_kept() {
        let mut ids = Msgids::new(None);
        let theirs = 5_000_000 * NODE_SPAN + 7;
        ids.floor(theirs);
        let mine = ids.next(1);
        assert!(mine > theirs);
        assert_eq!(node_of(mine), 0);
        assert!(ids.next(1) > mine);
    }

    #[test]
    fn two_nodes_at_one_instant_give_different_msgids_ordered_by_number() {
        let (mut a, mut b) = (Msgids::new(Some("n1")), Msgids::new(Some("n2")));
        assert_ne!(a.node(), b.node());
        let (x, y) = (a.next(42), b.next(42));
        assert_ne!(x, y);
        assert_eq!(x / NODE_SPAN, y / NODE_SPAN);
    }

    #[test]
    fn a_run_is_told_by_its_first_msgid_and_the_next_one_follows_it() {
        let mut ids = Msgids::new(Some("a"));
        let first = ids.next_run(7, 3);
        let run: Vec<u64> = (0..3).map(|k| nth(first, k)).collect();
        assert!(run.iter().all(|&seq| node_of(seq) == ids.node()));
        assert!(run.windows(2).all(|w| w[0] < w[1]));
        assert!(ids.next(7) > run[2]);
        // A run of none is still given: what follows is above it.
        let empty = ids.next_run(7, 0);
        assert!(ids.next(7) > empty);
    }

    #[test]
    fn node_numbers_are_fixed_across_versions() {
        // FNV-1a of the name, so a change of hasher cannot renumber nodes
        // whose msgids are already stored.
        assert_eq!(node_number(""), 1 + 0xcbf2_9ce4_8422_2325 % 1023);
        assert_eq!(node_number("n1"), node_number("n1"));
    }
}
