//! Nicknames and channel names: what is valid (RFC 2812 grammar, the lengths
//! the server advertises in ISUPPORT) and when two names are the same.
//!
//! The server advertises `CASEMAPPING=ascii`: only `A`–`Z` fold to `a`–`z`.
//! It is the mapping modern clients handle best and the one that cannot make
//! two visibly different names collide.

/// Folds a name so that names differing only in ASCII case compare equal.
pub fn fold(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// RFC 2812 `special`: characters allowed in a nickname beside letters.
fn is_special(c: char) -> bool {
    matches!(c, '[' | ']' | '\\' | '`' | '_' | '^' | '{' | '|' | '}')
}

/// A nickname: a letter or special first, then letters, digits, specials or
/// `-`, at most `max_len` bytes.
pub fn valid_nick(nick: &str, max_len: usize) -> bool {
    let mut chars = nick.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    nick.len() <= max_len
        && (first.is_ascii_alphabetic() || is_special(first))
        && chars.all(|c| c.is_ascii_alphanumeric() || is_special(c) || c == '-')
}

/// A channel name: `#` then at least one character, none of them NUL, BEL,
/// CR, LF, space, comma or colon (RFC 2812 `chanstring`), at most `max_len`
/// bytes in all.
pub fn valid_channel(name: &str, max_len: usize) -> bool {
    name.len() > 1
        && name.len() <= max_len
        && name.starts_with('#')
        && !name[1..].contains(['\0', '\x07', '\r', '\n', ' ', ',', ':'])
}

/// A user name from `USER`, kept to the characters that are safe in a
/// `nick!user@host` prefix and cut to `max_len`. Empty when nothing usable is
/// left, so the caller can substitute a default.
pub fn clean_user(user: &str, max_len: usize) -> String {
    user.chars()
        .filter(|c| c.is_ascii_graphic() && !matches!(c, '@' | '!' | ':'))
        .take(max_len)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nicks_follow_rfc2812() {
        for good in ["alice", "Bob", "[away]", "a-1", "x", "`quote`", "_under_"] {
            assert!(valid_nick(good, 30), "{good} should be valid");
        }
        for bad in ["", "1abc", "-dash", "has space", "é", "a!b", "a@b", "#chan"] {
            assert!(!valid_nick(bad, 30), "{bad:?} should be invalid");
        }
        assert!(valid_nick("abcdefghi", 9));
        assert!(!valid_nick("abcdefghij", 9));
    }

    #[test]
    fn channels_follow_rfc2812() {
        for good in ["#lobby", "#a", "#rust-lang", "#ünïcode"] {
            assert!(valid_channel(good, 50), "{good} should be valid");
        }
        for bad in [
            "",
            "#",
            "lobby",
            "#a b",
            "#a,b",
            "#a:b",
            "#bell\x07",
            "&local",
        ] {
            assert!(!valid_channel(bad, 50), "{bad:?} should be invalid");
        }
        assert!(!valid_channel(&format!("#{}", "x".repeat(50)), 50));
    }

    #[test]
    fn folding_is_ascii_only() {
        assert_eq!(fold("Alice[]"), "alice[]");
        assert_eq!(fold("ÄBC"), "Äbc");
        assert_eq!(fold("#Lobby"), fold("#LOBBY"));
    }

    #[test]
    fn user_names_are_cleaned() {
        assert_eq!(clean_user("al@ice!", 10), "alice");
        assert_eq!(clean_user("averyveryverylongname", 10), "averyveryv");
        assert_eq!(clean_user("@@", 10), "");
    }
}
