//! Process resource limits.

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use std::io;

/// Raises the soft limit on open descriptors to the hard limit, since every
/// client costs one; returns the new limit.
pub fn raise_nofile() -> io::Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    Ok(hard)
}
