//! The command line of `groupchat-bench`, kept apart so packaging can build
//! its man page and completions from the same definition (see build.rs).

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(
    name = "groupchat-bench",
    version,
    about = "Stress harness for IRC group chat servers (loopback only)"
)]
pub struct Cli {
    #[command(flatten)]
    pub common: Common,
    #[command(subcommand)]
    pub scenario: Scenario,
}

#[derive(Args)]
pub struct Common {
    /// Server to load, host:port; must be in 127.0.0.0/8. Several (the
    /// nodes of one network, comma-separated or repeated): clients are
    /// spread over them round-robin.
    #[arg(
        long,
        global = true,
        value_delimiter = ',',
        default_value = "127.0.0.1:6667"
    )]
    pub server: Vec<String>,
    /// Channel the scenario uses.
    #[arg(long, global = true, default_value = "#bench")]
    pub channel: String,
    /// Print one JSON object on stdout instead of the table.
    #[arg(long, global = true)]
    pub json: bool,
    /// Write latency distribution and deliveries/s over time as SVG.
    #[arg(long, global = true, value_name = "FILE.svg")]
    pub plot: Option<std::path::PathBuf>,
    /// Server process to measure: CPU time of the measured phase (from
    /// /proc/PID/stat) and RSS before and after connecting. Several
    /// (comma-separated or repeated: a cluster's nodes and its Redis): the
    /// sums.
    #[arg(long, global = true, value_delimiter = ',')]
    pub server_pid: Vec<u32>,
    /// Server RSS in KiB to subtract for "RSS per client" (default: the RSS
    /// measured just before the clients connect).
    #[arg(long, global = true)]
    pub rss_baseline_kib: Option<u64>,
    /// Spread clients over this many source addresses 127.0.0.1..N
    /// (default: as many as the ephemeral port range requires).
    #[arg(long, global = true)]
    pub sources: Option<u8>,
    /// Nick prefix; nicks are PREFIX plus the client number.
    #[arg(long, global = true, default_value = "gb")]
    pub nick_prefix: String,
    /// Seconds a client may wait for connect, 001, its JOIN, or the close
    /// after its QUIT before it counts as failed.
    #[arg(long, global = true, default_value_t = 30.0)]
    pub timeout: f64,
    /// Seconds without any progress after which a delivery phase gives up.
    #[arg(long, global = true, default_value_t = 5.0)]
    pub quiet: f64,
    /// Event loops, one per thread; clients are split between them and
    /// their results merged (not for `slow`).
    #[arg(long, global = true, default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=64))]
    pub threads: u32,
    /// Speak TLS to the server. For benchmarking on loopback only: the
    /// server's certificate is NOT verified. Full handshakes (no
    /// resumption), counted in the time to connect.
    #[arg(long, global = true)]
    pub tls: bool,
    /// Speak IRC over WebSocket (ws://, subprotocol text.ircv3.net) to a
    /// web listener, wss:// with --tls: one masked text frame per line, the
    /// Upgrade request counted in the time to connect.
    #[arg(long, global = true)]
    pub websocket: bool,
    /// TLS version to offer, and the only one accepted.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "1.3",
        requires = "tls"
    )]
    pub tls_version: TlsVersion,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum TlsVersion {
    #[value(name = "1.3")]
    V13,
    #[value(name = "1.2")]
    V12,
}

#[derive(Subcommand)]
pub enum Scenario {
    /// Open and register N clients, report how long it took; optionally hold.
    Connect(ConnectArgs),
    /// N members in one channel, K of them send M messages each.
    Fanout(FanoutArgs),
    /// A fan-out round, then the same round with some members not reading.
    Slow(SlowArgs),
    /// Clients continuously connect, chat a little and leave.
    Churn(ChurnArgs),
    /// A fan-out round while Q clients ask CHATHISTORY LATEST back to back.
    History(HistoryArgs),
    /// R members drop at once, come back at once and fetch what they missed
    /// (CHATHISTORY AFTER), while observers watch a sender's latency.
    Reconnect(ReconnectArgs),
}

#[derive(Args)]
pub struct ConnectArgs {
    /// Clients to connect.
    #[arg(short = 'n', long, default_value_t = 1000)]
    pub clients: u32,
    #[command(flatten)]
    pub pace: Pace,
    /// Seconds to keep the clients connected afterwards (answering PINGs).
    #[arg(long, default_value_t = 0.0)]
    pub hold: f64,
    /// Join --channel after registering, and count a client done once its
    /// own JOIN and the end of the names list (366) have arrived.
    #[arg(long, conflicts_with = "auto_join")]
    pub join: bool,
    /// Like --join, but the server joins clients itself (groupchatd's
    /// default channel): wait for the JOIN and 366 without sending JOIN.
    #[arg(long)]
    pub auto_join: bool,
    /// Stop waiting after this many seconds and report the clients not done
    /// yet as failed (0: no limit but --timeout per client).
    #[arg(long, default_value_t = 0.0)]
    pub deadline: f64,
}

#[derive(Args, Clone, Copy)]
pub struct Pace {
    /// New connections per second (0: as fast as --concurrency allows).
    #[arg(long = "connect-rate", id = "connect_rate", default_value_t = 0.0)]
    pub rate: f64,
    /// Connections allowed to be registering at once when not rate-limited.
    #[arg(long, default_value_t = 200)]
    pub concurrency: u32,
}

#[derive(Args, Clone)]
pub struct FanoutArgs {
    /// Channel members.
    #[arg(short = 'n', long, default_value_t = 100)]
    pub members: u32,
    /// Members that send.
    #[arg(short = 'k', long, default_value_t = 10)]
    pub senders: u32,
    /// Messages per sender [default: 100; slow: 10000, enough to overflow
    /// a 1 MiB send queue per slow member].
    #[arg(short = 'm', long)]
    pub messages: Option<u32>,
    /// Message text size in bytes.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Messages per second per sender (0: as fast as the socket takes them).
    #[arg(long, default_value_t = 0.0)]
    pub rate: f64,
    #[command(flatten)]
    pub pace: Pace,
}

#[derive(Args)]
pub struct SlowArgs {
    #[command(flatten)]
    pub fanout: FanoutArgs,
    /// Members (the last ones) that stop reading in the second round.
    #[arg(long, default_value_t = 5)]
    pub slow: u32,
    /// Fixed receive buffer of slow members (no autotuning), so the server
    /// rather than the kernel has to hold what they do not read; much
    /// smaller makes them too slow to keep up even when reading.
    #[arg(long, default_value_t = 65536)]
    pub slow_rcvbuf: usize,
    /// Seconds slow members keep not reading after the fast ones have
    /// everything (servers may allow a full send queue for a while).
    #[arg(long, default_value_t = 1.0)]
    pub stall: f64,
}

#[derive(Args)]
pub struct ChurnArgs {
    /// Sessions alive at once.
    #[arg(short = 'c', long, default_value_t = 50)]
    pub concurrency: u32,
    /// Seconds to keep starting new sessions.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Channel messages each session sends before leaving.
    #[arg(short = 'm', long, default_value_t = 3)]
    pub messages: u32,
    /// Percentage of sessions that leave by reset (SO_LINGER 0) instead of QUIT.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub reset_percent: u8,
}

#[derive(Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub fanout: FanoutArgs,
    /// Clients (besides the members) that ask `CHATHISTORY LATEST <channel>
    /// * 100`, each waiting for the end of its answer before the next.
    #[arg(short = 'q', long, default_value_t = 10)]
    pub queriers: u32,
    /// Requests per second over all queriers: each asks on a steady
    /// schedule, `queriers / rate` seconds apart (never before its last
    /// answer ended), so that two servers answer the same load and the
    /// members' latency beside it can be compared. Without it they ask
    /// back to back.
    #[arg(long)]
    pub query_rate: Option<f64>,
}

#[derive(Args)]
pub struct ReconnectArgs {
    /// Channel members, sender and observers included.
    #[arg(short = 'n', long, default_value_t = 1100)]
    pub members: u32,
    /// Members (the last ones) that drop at once and come back at once.
    #[arg(short = 'r', long, default_value_t = 1000)]
    pub reconnecting: u32,
    /// Members that stay and whose latency is watched.
    #[arg(long, default_value_t = 10)]
    pub observers: u32,
    /// Messages per second the one sender keeps sending; the storm may be
    /// short, and only messages sent during it measure it.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Message text size in bytes.
    #[arg(long, default_value_t = 100)]
    pub size: usize,
    /// Seconds of talk before the drop: the observers' normal latency.
    #[arg(long, default_value_t = 5.0)]
    pub before: f64,
    /// Seconds the dropped members stay away while the talk goes on.
    #[arg(long, default_value_t = 3.0)]
    pub away: f64,
    /// Seconds of talk after the last one caught up.
    #[arg(long, default_value_t = 1.0)]
    pub after: f64,
    #[command(flatten)]
    pub pace: Pace,
}
