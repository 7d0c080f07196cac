//! Logging in to an account with SASL PLAIN, as IRCv3 has clients do it:
//! `AUTHENTICATE PLAIN`, the server's `AUTHENTICATE +`, then the
//! credentials in base64, cut into 400-byte lines. Pure.

use base64::Engine;

/// The longest `AUTHENTICATE` parameter; a payload that fills its last line
/// exactly is followed by `AUTHENTICATE +` so the server knows it ended.
const CHUNK: usize = 400;

/// An account and its password, held for every (re)connection.
pub struct Login {
    pub account: String,
    password: String,
}

impl std::fmt::Debug for Login {
    /// Never the password, whatever ends up printing a session.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl Login {
    pub fn new(account: String, password: String) -> Self {
        Login { account, password }
    }

    /// The `AUTHENTICATE` lines answering the server's go-ahead.
    pub fn payload(&self) -> Vec<String> {
        // authzid (empty: the same as authcid) NUL authcid NUL password.
        let plain = format!("\0{}\0{}", self.account, self.password);
        let encoded = base64::engine::general_purpose::STANDARD.encode(plain);
        let mut lines: Vec<String> = encoded
            .as_bytes()
            .chunks(CHUNK)
            .map(|chunk| format!("AUTHENTICATE {}", String::from_utf8_lossy(chunk)))
            .collect();
        if encoded.len() % CHUNK == 0 {
            lines.push("AUTHENTICATE +".to_string());
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_payload_is_one_line() {
        let login = Login::new("alice".into(), "secret".into());
        assert_eq!(login.payload(), ["AUTHENTICATE AGFsaWNlAHNlY3JldA=="]);
        assert!(!format!("{login:?}").contains("secret"));
    }

    #[test]
    fn a_long_payload_is_cut_at_400_bytes_and_ended_when_it_fills_a_line() {
        // 2 NULs + 5 + 293 = 300 bytes -> exactly 400 base64 characters.
        let login = Login::new("alice".into(), "x".repeat(293));
        let lines = login.payload();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), "AUTHENTICATE ".len() + 400);
        assert_eq!(lines[1], "AUTHENTICATE +");
        let login = Login::new("alice".into(), "x".repeat(400));
        let lines = login.payload();
        assert_eq!(lines.len(), 2);
        assert!(lines[1].len() < "AUTHENTICATE ".len() + 400);
    }
}
