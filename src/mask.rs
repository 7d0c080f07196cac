//! Ban and exception masks: `nick!user@host` with `*` (any run) and `?`
//! (any one character) wildcards, compared the way the server folds nicks
//! ([`crate::names::fold`]), so `+b BOB!*@*` bans `bob`.
//!
//! A mask is a [`Mask`], not a string, so that other kinds can join the
//! host masks later without touching who calls them: an `$a:account`
//! extban becomes another [`Mask`] variant matched against a field that
//! [`Subject`] grows for it.

use crate::names::fold;

/// Longest mask the server keeps; longer ones are refused, so that a list
/// reply and a MODE line carrying one always fit in one IRC line.
pub const MAX_MASK_LEN: usize = 120;

/// What a mask is matched against: one client as the channel sees it.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// `nick!user@host`, already folded: the caller folds it once for all
    /// the masks of a list.
    pub folded_prefix: &'a str,
}

/// One entry of a ban or exception list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mask {
    /// `nick!user@host` with wildcards.
    Host {
        /// As shown in lists and MODE lines, completed to all three parts.
        text: String,
        /// `text` folded, for matching.
        folded: String,
    },
}

impl Mask {
    /// Reads a mask as a client gives it, completing the missing parts the
    /// usual way: `bob` is `bob!*@*`, `*@host` is `*!*@host`, `bob!u` is
    /// `bob!u@*`. `None` for what cannot be a mask: empty, too long, with a
    /// space, a comma or a leading `:`, or an extban (`$…`) the server does
    /// not know.
    pub fn parse(text: &str) -> Option<Mask> {
        if text.is_empty()
            || text.starts_with([':', '$'])
            || text.contains([' ', ',', '\0', '\r', '\n'])
        {
            return None;
        }
        let text = match (text.find('!'), text.find('@')) {
            (None, None) => format!("{text}!*@*"),
            (None, Some(_)) => format!("*!{text}"),
            (Some(_), None) => format!("{text}@*"),
            (Some(_), Some(_)) => text.to_string(),
        };
        if text.len() > MAX_MASK_LEN {
            return None;
        }
        let folded = fold(&text);
        Some(Mask::Host { text, folded })
    }

    /// The mask as lists and MODE lines show it.
    pub fn text(&self) -> &str {
        match self {
            Mask::Host { text, .. } => text,
        }
    }

    /// Whether two masks are the same entry of a list (`+b BOB` then
    /// `+b bob` adds nothing; `-b BOB` removes `bob!*@*`).
    pub fn same_as(&self, other: &Mask) -> bool {
        match (self, other) {
            (Mask::Host { folded: a, .. }, Mask::Host { folded: b, .. }) => a == b,
        }
    }

    pub fn matches(&self, who: Subject) -> bool {
        match self {
            Mask::Host { folded, .. } => glob(folded, who.folded_prefix),
        }
    }
}

/// Wildcard matching, `*` and `?`, in O(pattern × text) at worst: on a
/// mismatch only the last `*` is retried, one character further each time.
/// `?` takes one character, however many bytes it is in UTF-8; literal
/// characters compare byte by byte, which UTF-8 makes the same as comparing
/// characters, and every step that is not such a comparison moves `t` a whole
/// character, so `t` is on a character boundary whenever one is needed.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (pattern, bytes) = (pattern.as_bytes(), text.as_bytes());
    let char_len = |at: usize| text[at..].chars().next().map_or(1, char::len_utf8);
    let (mut p, mut t) = (0, 0);
    let mut retry: Option<(usize, usize)> = None;
    while t < bytes.len() {
        match pattern.get(p) {
            Some(b'*') => {
                retry = Some((p, t));
                p += 1;
            }
            Some(b'?') => {
                p += 1;
                t += char_len(t);
            }
            Some(&c) if c == bytes[t] => {
                p += 1;
                t += 1;
            }
            _ => match retry {
                Some((star, from)) => {
                    let next = from + char_len(from);
                    p = star + 1;
                    t = next;
                    retry = Some((star, next));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bans(mask: &str, prefix: &str) -> bool {
        let mask = Mask::parse(mask).expect("a mask");
        mask.matches(Subject {
            folded_prefix: &fold(prefix),
        })
    }

    #[test]
    fn masks_are_completed_to_three_parts() {
        let text = |m: &str| Mask::parse(m).map(|m| m.text().to_string());
        assert_eq!(text("bob").as_deref(), Some("bob!*@*"));
        assert_eq!(text("*@10.0.0.1").as_deref(), Some("*!*@10.0.0.1"));
        assert_eq!(text("bob!u").as_deref(), Some("bob!u@*"));
        assert_eq!(text("a!b@c").as_deref(), Some("a!b@c"));
        for bad in ["", ":x", "a b", "a,b", "$a:acct", &"x".repeat(200)] {
            assert_eq!(text(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn wildcards_and_case() {
        assert!(bans("BOB", "bob!b@127.0.0.1"));
        assert!(bans("*!*@127.0.0.*", "Alice!al@127.0.0.1"));
        assert!(bans("b?b!*@*", "bOb!x@h"));
        assert!(!bans("b?b!*@*", "bb!x@h"));
        assert!(bans("*!*@*", "x!y@z"));
        assert!(!bans("alice", "alicia!a@h"));
        assert!(bans("al*e!*@*", "alice!a@h"));
        assert!(bans("*a*a*a*!*@*", "aaa!x@h"));
        assert!(!bans("*a*a*a*a!*@*", "aaa!x@h"));
        // `?` is one character, of any length in UTF-8, and case folds
        // beyond ASCII.
        assert!(bans("jo?o", "JOÃO!j@h"));
        assert!(bans("*?ão!*@*", "joão!j@h"));
        assert!(!bans("jo??o", "joão!j@h"));
        assert!(bans("李?", "李雷!l@h"));
    }

    #[test]
    fn same_entries_fold() {
        let a = Mask::parse("BOB").expect("mask");
        let b = Mask::parse("bob!*@*").expect("mask");
        assert!(a.same_as(&b));
    }
}
