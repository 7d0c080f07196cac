//! K-lines: server-wide bans, set by operators (`KLINE`) or the host
//! (`groupchatctl ban`), kept in the accounts' SQLite file so that they
//! outlive a restart, and held in memory by the hub so that a connection
//! is checked without waiting on the disk.
//!
//! A K-line's mask is one of: an address or a CIDR network (checked at
//! connect), `$a:account` (checked once the client is logged in), or a
//! `nick!user@host` glob as channel bans use (checked at registration,
//! once the nick and user are known).

use crate::config::AddrRange;
use crate::mask::{Mask, Subject};
use crate::names::fold;
use std::net::IpAddr;

/// One K-line as stored and listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kline {
    /// The mask as given (normalised: `bob` is `bob!*@*`).
    pub mask: String,
    pub reason: String,
    /// Who set it: an operator's nick, or `admin`.
    pub set_by: String,
    /// Unix milliseconds.
    pub set_at_ms: i64,
    /// Unix milliseconds after which it no longer applies; `None`: never.
    pub expires_ms: Option<i64>,
}

impl Kline {
    pub fn expired(&self, now_ms: i64) -> bool {
        self.expires_ms.is_some_and(|end| end <= now_ms)
    }
}

/// A change to the stored K-lines, for the accounts worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Adds a K-line, or replaces the one on the same mask.
    Save(Kline),
    /// Removes the K-line on this mask.
    Delete(String),
}

/// What a mask matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Address(AddrRange),
    /// A folded account name.
    Account(String),
    Host(Mask),
}

/// Who is being checked: what is known of a client so far.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub ip: IpAddr,
    /// `nick!user@host` folded, once registration has both.
    pub folded_prefix: Option<&'a str>,
    pub account: Option<&'a str>,
}

impl Target {
    /// Reads a mask as an operator gives it; the text it is kept under
    /// comes back with it. `None` for what cannot be one.
    pub fn parse(text: &str) -> Option<(Target, String)> {
        if let Some(account) = text.strip_prefix("$a:") {
            let valid = !account.is_empty() && !account.contains([' ', ',', '*', '?']);
            return valid.then(|| (Target::Account(fold(account)), text.to_string()));
        }
        if let Ok(range) = AddrRange::try_from(text.to_string()) {
            return Some((Target::Address(range), String::from(range)));
        }
        let mask = Mask::parse(text)?;
        let shown = mask.text().to_string();
        Some((Target::Host(mask), shown))
    }

    pub fn matches(&self, who: Who<'_>) -> bool {
        match self {
            Target::Address(range) => range.contains(who.ip),
            Target::Account(folded) => who.account.is_some_and(|a| fold(a) == *folded),
            Target::Host(mask) => who
                .folded_prefix
                .is_some_and(|folded_prefix| mask.matches(Subject { folded_prefix })),
        }
    }
}

/// How long a K-line lasts, as `KLINE` and `groupchatctl ban add` take it:
/// `<n>s|m|h|d`, or a bare number of minutes (as other servers read it).
/// `Some(0)` is forever.
pub fn parse_duration_ms(text: &str) -> Option<i64> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<i64>().ok()?.checked_mul(60_000);
    }
    crate::config::parse_age(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who<'a>(ip: &str, prefix: Option<&'a str>, account: Option<&'a str>) -> Who<'a> {
        Who {
            ip: ip.parse().expect("ip"),
            folded_prefix: prefix,
            account,
        }
    }

    #[test]
    fn masks_are_addresses_networks_accounts_or_globs() {
        let (net, shown) = Target::parse("10.0.0.0/8").expect("cidr");
        assert_eq!(shown, "10.0.0.0/8");
        assert!(net.matches(who("10.1.2.3", None, None)));
        assert!(!net.matches(who("11.1.2.3", None, None)));
        let (ip, _) = Target::parse("::1").expect("v6");
        assert!(ip.matches(who("::1", None, None)));
        let (account, _) = Target::parse("$a:Mallory").expect("account");
        assert!(account.matches(who("::1", None, Some("mallory"))));
        assert!(!account.matches(who("::1", None, None)));
        let (glob, shown) = Target::parse("Bob").expect("nick");
        assert_eq!(shown, "Bob!*@*");
        assert!(glob.matches(who("::1", Some("bob!u@h"), None)));
        assert!(!glob.matches(who("::1", None, None)));
        for bad in ["", "$a:", "$x:y", "a b"] {
            assert!(Target::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn durations_take_units_or_minutes() {
        assert_eq!(parse_duration_ms("30"), Some(30 * 60_000));
        assert_eq!(parse_duration_ms("2h"), Some(2 * 3_600_000));
        assert_eq!(parse_duration_ms("0"), Some(0));
        assert_eq!(parse_duration_ms("bob"), None);
    }
}
