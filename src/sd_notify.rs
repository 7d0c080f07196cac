//! systemd's readiness protocol without libsystemd: one datagram per state
//! change to the socket named by `$NOTIFY_SOCKET` (a path, or an abstract
//! name when it starts with `@`).
//!
//! Sends never block and never fail the daemon: a lost notification is
//! logged at debug level, since systemd may be gone during shutdown.

use nix::time::{ClockId, clock_gettime};
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

pub struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// The notifier systemd asked for through the environment, if any.
    pub fn from_env() -> io::Result<Option<Notifier>> {
        let Some(name) = std::env::var_os("NOTIFY_SOCKET").filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        let addr = match name.as_bytes().strip_prefix(b"@") {
            Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name)?,
            None => SocketAddr::from_pathname(&name)?,
        };
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        Ok(Some(Notifier {
            socket,
            addr,
            watchdog: watchdog_interval(),
        }))
    }

    /// Sends one or more `KEY=value` lines.
    pub fn notify(&self, state: &str) {
        if let Err(e) = self.socket.send_to_addr(state.as_bytes(), &self.addr) {
            log::debug!("sd_notify {state:?} not sent: {e}");
        }
    }

    /// `RELOADING=1` with the monotonic timestamp systemd requires for it.
    pub fn reloading(&self) {
        let usec = clock_gettime(ClockId::CLOCK_MONOTONIC)
            .map(|t| t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1_000)
            .unwrap_or(0);
        self.notify(&format!("RELOADING=1\nMONOTONIC_USEC={usec}"));
    }

    /// How often to send `WATCHDOG=1`: half the interval systemd set, so one
    /// late tick does not get the daemon killed.
    pub fn watchdog(&self) -> Option<Duration> {
        self.watchdog
    }
}

/// `$WATCHDOG_USEC / 2`, when the watchdog is meant for this process.
fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok()? != std::process::id()
    {
        return None;
    }
    Some(Duration::from_micros(usec / 2)).filter(|d| !d.is_zero())
}
