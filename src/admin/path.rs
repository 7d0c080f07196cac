//! Where the admin socket lives when the config does not say.
//!
//! The daemon takes the first place it can create the socket in; the
//! client takes the first place a socket already exists in, so that an
//! unprivileged `groupchatctl` still finds a system daemon's socket under
//! `/run`.

use nix::unistd::{AccessFlags, Uid, access};
use std::path::{Path, PathBuf};

const SYSTEM_DIR: &str = "/run/groupchatd";
const SOCKET_NAME: &str = "admin.sock";

/// The places the socket may live, most preferred first: the system
/// runtime directory (systemd's `RuntimeDirectory=groupchatd`), the user's
/// runtime directory, then a per-user directory under `/tmp`.
pub fn candidates() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from(SYSTEM_DIR)];
    if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        dirs.push(Path::new(&runtime).join("groupchatd"));
    }
    dirs.push(std::env::temp_dir().join(format!("groupchatd-{}", Uid::effective())));
    dirs.into_iter().map(|d| d.join(SOCKET_NAME)).collect()
}

/// Where the daemon serves the socket: the system directory when it exists
/// and is writable, otherwise the first of the user-owned ones (which the
/// daemon creates, private to its user).
pub fn for_daemon() -> PathBuf {
    let mut all = candidates();
    let system_writable =
        Path::new(SYSTEM_DIR).is_dir() && access(SYSTEM_DIR, AccessFlags::W_OK).is_ok();
    // There are always at least two candidates: the system and /tmp ones.
    all.remove(if system_writable { 0 } else { 1 })
}

/// Where the client looks: the first candidate that exists, else where the
/// daemon would have put it (so the error names a sensible path).
pub fn for_client() -> PathBuf {
    candidates()
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(for_daemon)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_end_with_a_per_user_fallback() {
        let all = candidates();
        assert_eq!(all[0], Path::new("/run/groupchatd/admin.sock"));
        let last = all.last().expect("at least one");
        assert!(last.ends_with(format!("groupchatd-{}/admin.sock", Uid::effective())));
        assert!(all.len() >= 2);
    }
}
