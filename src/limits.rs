//! Process resource limits.

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use std::io;

/// Descriptors kept for everything but clients: listeners, the poll and
/// signal descriptors, the admin socket and its connections, syslog.
const RESERVED_DESCRIPTORS: u64 = 64;

/// How many clients `descriptors` open files leave room for.
pub fn client_room(descriptors: u64) -> u64 {
    descriptors.saturating_sub(RESERVED_DESCRIPTORS).max(1)
}

/// Raises the soft limit on open descriptors to the hard limit, since every
/// client costs one; returns the new limit.
pub fn raise_nofile() -> io::Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(hard)
}
