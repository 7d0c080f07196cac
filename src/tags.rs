//! IRCv3 message tags (<https://ircv3.net/specs/extensions/message-tags>):
//! checking what a client sends, reading single tags such as `label`, and
//! building the tagged variants of a relayed line.
//!
//! Tags are kept in their escaped wire form from parse to relay: client-only
//! tags (`+name`) are passed on byte for byte, and the one value the server
//! reads, `label`, is echoed as it came.

use crate::clock::write_iso;
use crate::message::Line;
use std::fmt::Write;
use std::rc::Rc;

/// The most tag bytes a client may send, `@` and the space after included.
pub const MAX_CLIENT_TAGS: usize = 4094;

/// Why a client's tags were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagError {
    /// Over [`MAX_CLIENT_TAGS`]: the spec's answer is ERR_INPUTTOOLONG.
    TooLong,
    /// A tag with an empty or invalid key.
    Malformed,
}

/// Checks the raw tags of a client's line (without the `@`).
pub fn check(raw: &str) -> Result<(), TagError> {
    if raw.len() + 2 > MAX_CLIENT_TAGS {
        return Err(TagError::TooLong);
    }
    if raw.is_empty() {
        return Ok(());
    }
    if raw.split(';').all(|tag| valid_key(key(tag))) {
        Ok(())
    } else {
        Err(TagError::Malformed)
    }
}

fn key(tag: &str) -> &str {
    tag.split_once('=').map_or(tag, |(k, _)| k)
}

/// `[+][vendor/]name`: the vendor a host name, the name letters, digits
/// and hyphens.
fn valid_key(key: &str) -> bool {
    let key = key.strip_prefix('+').unwrap_or(key);
    let (vendor, name) = key.rsplit_once('/').unwrap_or(("", key));
    let name_ok = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let vendor_ok = vendor
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    name_ok && vendor_ok && (vendor.is_empty() || !key.starts_with('/'))
}

/// The escaped value of tag `name` (the last one wins, as the spec says);
/// `Some("")` for a tag without a value.
pub fn get<'a>(raw: &'a str, name: &str) -> Option<&'a str> {
    raw.rsplit(';')
        .find(|tag| key(tag) == name)
        .map(|tag| tag.split_once('=').map_or("", |(_, v)| v))
}

/// The client-only tags (`+name[=value]`) of a client's raw tags, joined
/// with `;`, as they are relayed.
pub fn client_only(raw: &str) -> String {
    let mut out = String::new();
    for tag in raw.split(';').filter(|t| t.starts_with('+')) {
        if !out.is_empty() {
            out.push(';');
        }
        out.push_str(tag);
    }
    out
}

/// Which tags a recipient takes: the capabilities that decide its variant
/// of a relayed line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Wants {
    /// `message-tags`: `msgid` and the sender's client-only tags.
    pub message_tags: bool,
    /// `server-time`: `time`.
    pub server_time: bool,
    /// `account-tag`: `account`, when the sender is logged in.
    pub account: bool,
}

impl Wants {
    fn index(self) -> usize {
        usize::from(self.message_tags)
            | usize::from(self.server_time) << 1
            | usize::from(self.account) << 2
    }
}

/// What the server's tags on a relayed or stored line say: its msgid,
/// time, the sender's client-only tags and account.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    /// The msgid, as a number.
    pub seq: u64,
    pub time_ms: i64,
    pub client_tags: &'a str,
    /// The sender's account, for `account-tag`.
    pub account: Option<&'a str>,
}

impl Stamp<'_> {
    /// Appends the tags a recipient that `wants` them takes, each after a
    /// `;` unless it is the first and `out` holds no tag before it.
    fn write(&self, out: &mut String, wants: Wants, mut first: bool) {
        let mut tag = |out: &mut String, name: &str| {
            if !first {
                out.push(';');
            }
            first = false;
            out.push_str(name);
        };
        if wants.server_time {
            tag(out, "time=");
            write_iso(out, self.time_ms);
        }
        if wants.message_tags {
            tag(out, "msgid=");
            // Writing to a String cannot fail.
            let _ = write!(out, "{}", self.seq);
            if !self.client_tags.is_empty() {
                out.push(';');
                out.push_str(self.client_tags);
            }
        }
        if let Some(account) = self.account.filter(|_| wants.account) {
            tag(out, "account=");
            out.push_str(account);
        }
    }
}

/// A stored line as one recipient takes it, built in one buffer: `first`
/// (another tag, such as `batch=b1`, or nothing), the tags the recipient
/// `wants`, then the line itself. A history answer builds each of its
/// lines once, for one client, so there is nothing to share and no
/// reason to build the line twice.
pub fn stamped(
    first: &str,
    stamp: &Stamp,
    wants: Wants,
    prefix: &str,
    command: &str,
    params: &[&str],
) -> Line {
    let body = prefix.len() + command.len() + params.iter().map(|p| p.len() + 2).sum::<usize>();
    let mut out = String::with_capacity(first.len() + stamp.client_tags.len() + body + 80);
    out.push('@');
    out.push_str(first);
    stamp.write(&mut out, wants, first.is_empty());
    if out.len() == 1 {
        out.clear();
    } else {
        out.push(' ');
    }
    crate::message::write_line(&mut out, prefix, command, params);
    Rc::from(out.into_bytes())
}

/// One relayed line in up to eight variants, by the tags each recipient
/// takes. Each variant is built the first time a recipient needs it and
/// then shared, so a broadcast still formats its bytes once per kind of
/// recipient, never once per recipient.
pub struct Tagged<'a> {
    untagged: Line,
    stamp: Stamp<'a>,
    variants: [Option<Line>; 8],
}

impl<'a> Tagged<'a> {
    /// `untagged` is the line as a client without tags sees it.
    pub fn new(untagged: Line, seq: u64, time_ms: i64, client_tags: &'a str) -> Tagged<'a> {
        Tagged {
            untagged,
            stamp: Stamp {
                seq,
                time_ms,
                client_tags,
                account: None,
            },
            variants: Default::default(),
        }
    }

    /// The sender is logged in to `account` (shown to `account-tag`
    /// recipients).
    pub fn with_account(mut self, account: Option<&'a str>) -> Tagged<'a> {
        self.stamp.account = account;
        self
    }

    /// The variant for a recipient that `wants` these tags.
    pub fn line(&mut self, mut wants: Wants) -> &Line {
        // Without an account, account-tag recipients share the plain variant.
        wants.account &= self.stamp.account.is_some();
        let i = wants.index();
        if self.variants[i].is_none() {
            let mut tags = String::new();
            self.stamp.write(&mut tags, wants, true);
            self.variants[i] = Some(with_tags(&tags, &self.untagged));
        }
        self.variants[i].get_or_insert_with(|| Rc::clone(&self.untagged))
    }
}

/// `line` with `@tags ` in front (unchanged when `tags` is empty). A line
/// that already has tags gets these added to its own.
pub fn with_tags(tags: &str, line: &Line) -> Line {
    if tags.is_empty() {
        return Rc::clone(line);
    }
    let mut out = Vec::with_capacity(tags.len() + 2 + line.len());
    out.push(b'@');
    out.extend_from_slice(tags.as_bytes());
    match line.strip_prefix(b"@") {
        Some(rest) => {
            out.push(b';');
            out.extend_from_slice(rest);
        }
        None => {
            out.push(b' ');
            out.extend_from_slice(line);
        }
    }
    Rc::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::build;

    #[test]
    fn checks_size_and_keys() {
        assert_eq!(check(""), Ok(()));
        assert_eq!(check("+example.com/foo=bar;label=12;+a"), Ok(()));
        assert_eq!(check(&format!("+a={}", "x".repeat(4089))), Ok(()));
        assert_eq!(
            check(&format!("+a={}", "x".repeat(4090))),
            Err(TagError::TooLong)
        );
        for bad in ["=x", "+", "a;;b", "+a b", "+x/", "+a=1;=2", "+é"] {
            assert_eq!(check(bad), Err(TagError::Malformed), "{bad}");
        }
    }

    #[test]
    fn reads_values() {
        let raw = r"label=a\sb\:c\\d\;+x;flag;label=last";
        assert_eq!(get(raw, "label"), Some("last"));
        assert_eq!(get(raw, "flag"), Some(""));
        assert_eq!(get(raw, "none"), None);
        assert_eq!(client_only("label=1;+a=b;msgid=x;+c"), "+a=b;+c");
    }

    #[test]
    fn variants_are_built_once_each_and_shared() {
        let line = build("a!u@h", "PRIVMSG", &["#c", "hi"]);
        let mut tagged = Tagged::new(line.clone(), 42, 1_764_062_043_250, "+x=1");
        let plain = tagged.line(Wants::default()).clone();
        assert!(Rc::ptr_eq(&plain, &line));
        let both = Wants {
            message_tags: true,
            server_time: true,
            account: false,
        };
        let first = tagged.line(both).clone();
        assert!(Rc::ptr_eq(&first, tagged.line(both)));
        assert_eq!(
            &*first,
            b"@time=2025-11-25T09:14:03.250Z;msgid=42;+x=1 :a!u@h PRIVMSG #c :hi\r\n"
        );
        let tags_only = Wants {
            message_tags: true,
            server_time: false,
            account: true,
        };
        assert_eq!(
            &**tagged.line(tags_only),
            b"@msgid=42;+x=1 :a!u@h PRIVMSG #c :hi\r\n"
        );
    }

    #[test]
    fn the_account_tag_goes_only_where_asked_and_only_with_an_account() {
        let line = build("a!u@h", "PRIVMSG", &["#c", "hi"]);
        let wants = Wants {
            account: true,
            ..Wants::default()
        };
        let mut anonymous = Tagged::new(line.clone(), 1, 0, "");
        assert!(Rc::ptr_eq(anonymous.line(wants), &line));
        let mut logged_in = Tagged::new(line.clone(), 1, 0, "").with_account(Some("Alice"));
        assert_eq!(
            &**logged_in.line(wants),
            b"@account=Alice :a!u@h PRIVMSG #c :hi\r\n"
        );
        assert!(Rc::ptr_eq(logged_in.line(Wants::default()), &line));
    }

    #[test]
    fn tags_add_to_a_tagged_line() {
        let line: Line = Rc::from(&b"@msgid=1 :a PRIVMSG b :c\r\n"[..]);
        assert_eq!(
            &*with_tags("label=x", &line),
            b"@label=x;msgid=1 :a PRIVMSG b :c\r\n"
        );
        assert!(Rc::ptr_eq(&with_tags("", &line), &line));
    }
}
