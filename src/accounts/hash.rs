//! Password hashes: Argon2id (memory-hard, the OWASP recommendation), kept
//! as PHC strings (`$argon2id$v=19$m=…,t=…,p=1$salt$hash`), which carry
//! their own parameters and salt: a password hashed under older settings
//! still verifies after the settings change.

use super::Secret;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

/// The cost of new hashes (`accounts.hash_memory_kib`, `hash_passes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hashing {
    pub memory_kib: u32,
    pub passes: u32,
}

impl Hashing {
    fn argon2(&self) -> Result<Argon2<'static>, String> {
        let params = Params::new(self.memory_kib, self.passes, 1, None)
            .map_err(|e| format!("bad password hash parameters: {e}"))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }

    /// A new hash of `password` with a random salt, as a PHC string.
    pub fn hash(&self, password: &Secret) -> Result<String, String> {
        self.argon2()?
            .hash_password(password.expose().as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| format!("cannot hash a password: {e}"))
    }

    /// Whether `password` matches the PHC string `phc`. A string that is not
    /// a valid hash matches nothing.
    pub fn verify(&self, password: &Secret, phc: &str) -> bool {
        // The string's own parameters apply, not ours.
        Argon2::default()
            .verify_password(password.expose().as_bytes(), phc)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: Hashing = Hashing {
        memory_kib: 8,
        passes: 1,
    };

    #[test]
    fn a_hash_verifies_its_password_only() {
        let hash = CHEAP
            .hash(&Secret::new("correct horse".into()))
            .expect("hash");
        assert!(hash.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert!(CHEAP.verify(&Secret::new("correct horse".into()), &hash));
        assert!(!CHEAP.verify(&Secret::new("correct horsE".into()), &hash));
        assert!(!CHEAP.verify(&Secret::new("correct horse".into()), "not a hash"));
    }

    #[test]
    fn two_hashes_of_one_password_differ_by_their_salt() {
        let password = Secret::new("pw".into());
        assert_ne!(CHEAP.hash(&password), CHEAP.hash(&password));
    }

    #[test]
    fn a_hash_keeps_verifying_after_the_cost_changes() {
        let hash = CHEAP.hash(&Secret::new("pw".into())).expect("hash");
        let dearer = Hashing {
            memory_kib: 64,
            passes: 2,
        };
        assert!(dearer.verify(&Secret::new("pw".into()), &hash));
    }

    #[test]
    fn secrets_do_not_print() {
        assert_eq!(
            format!("{:?}", Secret::new("hunter2".into())),
            "Secret(hidden)"
        );
    }
}
