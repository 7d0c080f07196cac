//! Nicknames and channel names: what is valid and when two names are the
//! same, or look the same.
//!
//! The server advertises `CASEMAPPING=precis`, after Ergo: names compare as
//! RFC 8265's UsernameCaseMapped profile compares them, that is NFC-normalized
//! and lowercased with Unicode's rules, so that `João`, `JOÃO` and a `João`
//! typed with a combining tilde are one nick. An ASCII name folds exactly as
//! under `CASEMAPPING=ascii`, which the server advertised before.
//!
//! Where this differs from the profile: there is no width mapping (fullwidth
//! letters are not allowed in nicks, see [`valid_nick`], so it only matters
//! for channel names), no bidi rule, and [`fold`] never refuses a string: it
//! folds hosts, masks and channel names as well as nicks, which must all
//! compare the same way. What a nick may contain is [`valid_nick`]'s business.
//!
//! Look-alikes are caught by [`skeleton`] (Unicode TR39).

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use unicode_security::GeneralSecurityProfile;
use unicode_security::general_security_profile::IdentifierType;

/// Folds a name so that names differing only in case or in Unicode
/// normalization compare equal. ASCII input takes a fast path that allocates
/// once, as the ASCII-only fold did: every message to a channel folds its
/// target.
pub fn fold(name: &str) -> String {
    if name.is_ascii() {
        return name.to_ascii_lowercase();
    }
    // Character by character, so that a final sigma is not special: RFC 8265
    // asks for toLowerCase(), and `str::to_lowercase` would fold `ΣΑΣ` to
    // `σας` but `ΣΑΣA` to `σασa`.
    let lowered: String = name.chars().flat_map(char::to_lowercase).collect();
    lowered.nfc().collect()
}

/// The TR39 confusable skeleton of a name, folded: two names with the same
/// skeleton look alike (`paypal` and `pаypal` with a Cyrillic `а`).
///
/// Only non-ASCII characters are mapped to their prototypes; ASCII ones are
/// kept (folded). So the skeleton of an ASCII name is its [`fold`], and ASCII
/// names that could coexist before (`bob1` and `bobl`) still can, while any
/// name with a look-alike from another script collides with the one it
/// imitates. Folding first makes case irrelevant, as it is for nicks; the
/// price is that a skeleton is not always its own skeleton (a prototype may
/// be a capital whose small letter has a prototype of its own), which the
/// comparison of two names' skeletons does not need.
pub fn skeleton(name: &str) -> String {
    let folded = fold(name);
    if folded.is_ascii() {
        return folded;
    }
    let mut mapped = String::with_capacity(folded.len());
    let mut buf = [0; 4];
    for c in folded.nfd() {
        if c.is_ascii() {
            mapped.push(c);
        } else {
            mapped.extend(unicode_security::skeleton(c.encode_utf8(&mut buf)));
        }
    }
    // Prototypes may be capitals (`Ꭺ` to `A`).
    fold(&mapped)
}

/// RFC 2812 `special`: characters allowed in a nickname beside letters.
fn is_special(c: char) -> bool {
    matches!(c, '[' | ']' | '\\' | '`' | '_' | '^' | '{' | '|' | '}')
}

/// A character that may be in a nick. ASCII: RFC 2812's letters, digits,
/// specials and `-`. Beyond ASCII: what Unicode TR39 recommends for
/// identifiers (letters, marks and digits of scripts in modern use, in NFKC
/// form, so no fullwidth forms, symbols, punctuation, spaces, controls or
/// format characters such as the zero-width joiner). That also keeps out
/// U+FFFD, which stands for invalid UTF-8 in a decoded line.
fn is_nick_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || is_special(c) || c == '-'
    } else {
        c.identifier_type() == Some(IdentifierType::Recommended)
    }
}

/// A nickname: letters and digits of any script, RFC 2812 specials and `-`
/// (see `is_nick_char`), not starting with a digit, `-` or a combining
/// mark, not mixing scripts ([`mixes_scripts`]), at most `max_len` bytes
/// (UTF-8).
pub fn valid_nick(nick: &str, max_len: usize) -> bool {
    check_nick(nick, max_len).is_ok()
}

/// [`valid_nick`], with the `432` text that says what is wrong.
pub fn check_nick(nick: &str, max_len: usize) -> Result<(), &'static str> {
    let Some(first) = nick.chars().next() else {
        return Err("Erroneous nickname");
    };
    if nick.len() > max_len
        || first.is_numeric()
        || first == '-'
        || is_combining_mark(first)
        || !nick.chars().all(is_nick_char)
    {
        return Err("Erroneous nickname");
    }
    if mixes_scripts(nick) {
        return Err("Erroneous nickname: it mixes letters of scripts not written together");
    }
    Ok(())
}

/// Whether a name's letters come from scripts that are not written
/// together: TR39's "highly restrictive" level, which allows one script
/// (with digits and the like), or Latin with Han and the Japanese kana,
/// with Han and Bopomofo, or with Han and Hangul. So `Pаul` with a Cyrillic
/// `а` is refused even when no `Paul` is there to be imitated, while
/// `João`, `Дмитрий` and `山田Taro` are fine. ASCII punctuation, which
/// nicks may hold and TR39 does not consider, is left out of the count.
pub fn mixes_scripts(name: &str) -> bool {
    use unicode_security::{RestrictionLevel, RestrictionLevelDetection};
    if name.is_ascii() {
        return false;
    }
    let letters: String = name
        .chars()
        .filter(|c| !c.is_ascii() || c.is_ascii_alphanumeric())
        .collect();
    letters.as_str().detect_restriction_level() > RestrictionLevel::HighlyRestrictive
}

/// A channel name: `#` then at least one character, none of them a control
/// character, whitespace, comma or colon (RFC 2812 `chanstring`, with
/// Unicode's controls and spaces), nor U+FFFD, which stands for invalid
/// UTF-8 in a decoded line; at most `max_len` bytes in all.
pub fn valid_channel(name: &str, max_len: usize) -> bool {
    name.len() > 1
        && name.len() <= max_len
        && name.starts_with('#')
        && !name[1..]
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, ',' | ':' | '\u{FFFD}'))
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
        for bad in [
            "",
            "1abc",
            "-dash",
            "has space",
            "a!b",
            "a@b",
            "#chan",
            "a*",
            "a?b",
        ] {
            assert!(!valid_nick(bad, 30), "{bad:?} should be invalid");
        }
        assert!(valid_nick("abcdefghi", 9));
        assert!(!valid_nick("abcdefghij", 9));
    }

    #[test]
    fn nicks_may_be_letters_of_any_script() {
        for good in [
            "João",
            "Zoë",
            "李雷",
            "üüü",
            "é",
            "Ölçü",
            "Дмитрий",
            "a\u{303}",
            "Αθηνά",
            "नमस्ते",
        ] {
            assert!(valid_nick(good, 30), "{good} should be valid");
        }
        for bad in [
            "٣abc",       // a leading digit of another script
            "\u{303}a",   // a leading combining mark
            "a\u{200d}b", // a format character (zero-width joiner)
            "a\u{a0}b",   // a no-break space
            "a\u{85}",    // a control character
            "a\u{fffd}",  // what invalid UTF-8 decodes to
            "Ａlice",     // a fullwidth letter
            "a·b",        // punctuation beyond ASCII
            "a♥",         // a symbol
        ] {
            assert!(!valid_nick(bad, 30), "{bad:?} should be invalid");
        }
        // The limit counts bytes, as NICKLEN does.
        assert!(valid_nick("李雷", 6));
        assert!(!valid_nick("李雷", 5));
    }

    #[test]
    fn nicks_do_not_mix_scripts_that_are_not_written_together() {
        for one_writing in [
            "João_2",
            "[Дмитрий]",
            "Дмитрий-1",
            "山田Taro",
            "やまだ太郎",
            "김민준Kim",
            "Αθηνά_2",
        ] {
            assert!(!mixes_scripts(one_writing), "{one_writing}");
            assert!(valid_nick(one_writing, 30), "{one_writing}");
        }
        for mixed in [
            "Pаul",      // Latin with a Cyrillic а
            "Дmitry",    // Cyrillic with Latin
            "Αlice",     // a Greek capital alpha
            "jöhnΑ",     // Latin and Greek
            "שלוםhello", // Hebrew and Latin
        ] {
            assert!(mixes_scripts(mixed), "{mixed}");
            assert!(!valid_nick(mixed, 30), "{mixed}");
        }
        assert!(!mixes_scripts("plain[ascii]^nick"));
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
    fn ascii_folds_as_before() {
        assert_eq!(fold("Alice[]"), "alice[]");
        assert_eq!(fold("#Lobby"), fold("#LOBBY"));
        // RFC 1459's mapping is not used: `[` and `{` stay apart.
        assert_ne!(fold("a[b"), fold("a{b"));
    }

    #[test]
    fn unicode_folds_case_and_normalization() {
        assert_eq!(fold("ÄBC"), "äbc");
        assert_eq!(fold("JOÃO"), fold("joão"));
        assert_eq!(fold("#Café"), fold("#café"));
        assert_eq!(fold("ZOË"), "zoë");
        // NFC and NFD forms are one name.
        assert_eq!(fold("Jo\u{e3}o"), fold("Joa\u{303}o"));
        assert_eq!(fold("Joa\u{303}o"), "jo\u{e3}o");
        // No final-sigma special case: the same letters fold the same.
        assert_eq!(fold("ΣΑΣ"), fold("σασ"));
        assert_eq!(fold("李雷"), "李雷");
    }

    #[test]
    fn look_alikes_share_a_skeleton() {
        // Cyrillic а (U+0430) in place of Latin a.
        assert_eq!(skeleton("p\u{430}ypal"), skeleton("paypal"));
        assert_eq!(skeleton("P\u{430}YPAL"), skeleton("paypal"));
        // All Cyrillic, all Latin.
        assert_eq!(skeleton("\u{441}\u{43e}\u{440}"), skeleton("cop"));
        assert_eq!(skeleton("JOÃO"), skeleton("joão"));
        assert_ne!(skeleton("joão"), skeleton("joao"));
        // ASCII names keep today's namespace: only case folds.
        assert_eq!(skeleton("Bob1"), "bob1");
        assert_ne!(skeleton("bob1"), skeleton("bobl"));
        assert_eq!(skeleton("李雷"), skeleton("李雷"));
    }

    #[test]
    fn user_names_are_cleaned() {
        assert_eq!(clean_user("al@ice!", 10), "alice");
        assert_eq!(clean_user("averyveryverylongname", 10), "averyveryv");
        assert_eq!(clean_user("@@", 10), "");
    }
}
