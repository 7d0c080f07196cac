//! Counters the daemon keeps for `status`: traffic, peaks, and why clients
//! went away.

use std::io;
use std::time::Instant;

/// Why a connection ended, as counted and as told to the client's peers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    Quit,
    Closed,
    Reset,
    PingTimeout,
    RegistrationTimeout,
    SendQ,
    Flood,
    TooManyConnections,
    BadPassword,
    /// Too many failed SASL logins on one connection.
    LoginFailures,
    /// `server.require_account` and no account.
    AccountRequired,
    Shutdown,
    Kicked,
    /// `KILL` by a server operator.
    Killed,
    /// A K-line matched, at connect, at registration or when it was set.
    Klined,
    Tls,
    WebSocket,
    Other,
}

impl DisconnectReason {
    pub const ALL: [DisconnectReason; 18] = [
        DisconnectReason::Quit,
        DisconnectReason::Closed,
        DisconnectReason::Reset,
        DisconnectReason::PingTimeout,
        DisconnectReason::RegistrationTimeout,
        DisconnectReason::SendQ,
        DisconnectReason::Flood,
        DisconnectReason::TooManyConnections,
        DisconnectReason::BadPassword,
        DisconnectReason::LoginFailures,
        DisconnectReason::AccountRequired,
        DisconnectReason::Shutdown,
        DisconnectReason::Kicked,
        DisconnectReason::Killed,
        DisconnectReason::Klined,
        DisconnectReason::Tls,
        DisconnectReason::WebSocket,
        DisconnectReason::Other,
    ];

    /// The quit reason peers see for disconnects the server detects.
    pub fn text(self) -> &'static str {
        match self {
            DisconnectReason::Quit => "Client Quit",
            DisconnectReason::Closed => "Connection closed",
            DisconnectReason::Reset => "Connection reset",
            DisconnectReason::PingTimeout => "Ping timeout",
            DisconnectReason::RegistrationTimeout => "Registration timeout",
            DisconnectReason::SendQ => "SendQ exceeded",
            DisconnectReason::Flood => "Excess Flood",
            DisconnectReason::TooManyConnections => "Too many connections",
            DisconnectReason::BadPassword => "Bad password",
            DisconnectReason::LoginFailures => "Too many failed logins",
            DisconnectReason::AccountRequired => {
                "This server requires an account: log in with SASL (CAP REQ sasl, AUTHENTICATE PLAIN)"
            }
            DisconnectReason::Shutdown => "Server shutting down",
            DisconnectReason::Kicked => "Kicked",
            DisconnectReason::Killed => "Killed",
            DisconnectReason::Klined => "K-lined",
            DisconnectReason::Tls => "TLS error",
            DisconnectReason::WebSocket => "WebSocket error",
            DisconnectReason::Other => "Connection error",
        }
    }

    /// The name in `status` output.
    pub fn key(self) -> &'static str {
        match self {
            DisconnectReason::Quit => "quit",
            DisconnectReason::Closed => "closed",
            DisconnectReason::Reset => "reset",
            DisconnectReason::PingTimeout => "ping_timeout",
            DisconnectReason::RegistrationTimeout => "registration_timeout",
            DisconnectReason::SendQ => "sendq_exceeded",
            DisconnectReason::Flood => "flood",
            DisconnectReason::TooManyConnections => "too_many_connections",
            DisconnectReason::BadPassword => "bad_password",
            DisconnectReason::LoginFailures => "login_failures",
            DisconnectReason::AccountRequired => "account_required",
            DisconnectReason::Shutdown => "shutdown",
            DisconnectReason::Kicked => "kicked",
            DisconnectReason::Killed => "killed",
            DisconnectReason::Klined => "klined",
            DisconnectReason::Tls => "tls_error",
            DisconnectReason::WebSocket => "websocket_error",
            DisconnectReason::Other => "other",
        }
    }

    pub fn from_io(error: &io::Error) -> DisconnectReason {
        if error
            .get_ref()
            .is_some_and(|inner| inner.is::<crate::transport::TlsFailure>())
        {
            return DisconnectReason::Tls;
        }
        if error
            .get_ref()
            .is_some_and(|inner| inner.is::<crate::web::websocket::Failure>())
        {
            return DisconnectReason::WebSocket;
        }
        match error.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => DisconnectReason::Reset,
            _ => DisconnectReason::Other,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Stats {
    pub started: Instant,
    pub accepted: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub lines_in: u64,
    pub lines_out: u64,
    pub lines_too_long: u64,
    pub peak_queued: usize,
    /// Times accepting paused because descriptors ran out.
    pub descriptor_shortages: u64,
    /// How long the loop's turns take, for `/metrics`.
    pub turns: TurnTimes,
    disconnects: [u64; DisconnectReason::ALL.len()],
}

/// Upper bounds (seconds) of the turn-time histogram's buckets: from an
/// idle turn's microseconds up to a turn that stalls every client.
pub const TURN_BUCKETS: [f64; 12] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
];

/// A fixed-bucket histogram of loop turn times (the work between two
/// polls, not the sleep), cheap enough to record every turn.
#[derive(Debug, Clone, Default)]
pub struct TurnTimes {
    /// Turns per bucket of [`TURN_BUCKETS`], not cumulative; longer turns
    /// are counted in `count` only.
    pub buckets: [u64; TURN_BUCKETS.len()],
    pub count: u64,
    pub sum_seconds: f64,
}

impl TurnTimes {
    pub fn record(&mut self, turn: std::time::Duration) {
        let seconds = turn.as_secs_f64();
        if let Some(slot) = TURN_BUCKETS.iter().position(|&bound| seconds <= bound) {
            self.buckets[slot] += 1;
        }
        self.count += 1;
        self.sum_seconds += seconds;
    }
}

impl Stats {
    pub fn new() -> Stats {
        Stats {
            started: Instant::now(),
            accepted: 0,
            bytes_in: 0,
            bytes_out: 0,
            lines_in: 0,
            lines_out: 0,
            lines_too_long: 0,
            peak_queued: 0,
            descriptor_shortages: 0,
            turns: TurnTimes::default(),
            disconnects: [0; DisconnectReason::ALL.len()],
        }
    }

    pub fn count_disconnect(&mut self, reason: DisconnectReason) {
        self.disconnects[reason as usize] += 1;
    }

    pub fn disconnects(&self, reason: DisconnectReason) -> u64 {
        self.disconnects[reason as usize]
    }
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new()
    }
}
