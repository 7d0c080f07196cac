//! Shared helpers for integration tests: start the real daemon on a free
//! loopback port and talk to it over real sockets.
#![allow(dead_code)] // each test crate uses its own subset

pub mod tls;
pub mod withholding;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The value of tag `name` in a line, if it has tags and that one.
pub fn tag<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    groupchatd::tags::get(line.strip_prefix('@')?.split(' ').next()?, name)
}

/// For tests of delivery rather than of flood control: clients may send as
/// fast as they like.
pub const NO_FLOOD_CONTROL: &str = "[flood]\nenabled = false\n";

/// Cheap password hashes, so that tests do not spend their time in Argon2.
pub const CHEAP_HASHES: &str = "[accounts]\nhash_memory_kib = 8\nhash_passes = 1\n";

/// What the daemon logs for each TLS listener, before its address.
const TLS_LISTENING: &str = "listening for TLS on ";

/// How long a test waits for something that should happen promptly.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A running `groupchatd`, killed when dropped.
pub struct Daemon {
    pub child: Child,
    pub addr: SocketAddr,
    pub log: Arc<Mutex<Vec<String>>>,
    pub config_path: PathBuf,
    /// Each daemon serves its own admin socket, so tests can run in parallel.
    pub admin_socket: PathBuf,
    pub dir: TempDir,
}

impl Daemon {
    /// Starts the daemon with `config` (TOML) on 127.0.0.1, port 0.
    pub fn start(config: &str) -> Daemon {
        Daemon::start_with(config, &[])
    }

    pub fn start_with(config: &str, extra_args: &[&str]) -> Daemon {
        Daemon::start_with_env(config, extra_args, &[])
    }

    /// Starts the daemon with extra arguments and environment variables.
    pub fn start_with_env(config: &str, extra_args: &[&str], env: &[(&str, &str)]) -> Daemon {
        Daemon::start_in(TempDir::new(), config, extra_args, env)
    }

    /// Kills the daemon (SIGKILL, if it still runs) and starts it again in
    /// the same directory with the same config, so it finds its history.
    /// Stops the daemon with SIGTERM, checks that it exits cleanly, and
    /// starts it again on the same directory and config.
    pub fn stop_and_restart(mut self) -> Daemon {
        self.signal(libc::SIGTERM);
        assert_eq!(self.wait_exit(), Some(0), "a clean exit on SIGTERM");
        self.restart()
    }

    pub fn restart(mut self) -> Daemon {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let config = std::fs::read_to_string(&self.config_path).expect("read config");
        // The directory moves to the new daemon; the old one keeps an empty
        // path, whose removal on drop fails harmlessly.
        let dir = std::mem::replace(
            &mut self.dir,
            TempDir {
                path: PathBuf::new(),
            },
        );
        Daemon::start_in(dir, &config, &[], &[])
    }

    fn start_in(dir: TempDir, config: &str, extra_args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let config_path = dir.path.join("groupchatd.toml");
        std::fs::write(&config_path, config).expect("write config");
        let admin_socket = dir.path.join("admin.sock");
        let mut child = Command::new(env!("CARGO_BIN_EXE_groupchatd"))
            .arg("--config")
            .arg(&config_path)
            .args(["--listen", "127.0.0.1:0"])
            .arg("--admin-socket")
            .arg(&admin_socket)
            .args(extra_args)
            .envs(env.iter().copied())
            // The default history file goes in the working directory.
            .current_dir(&dir.path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start groupchatd");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (port_tx, port_rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(addr) = line.split("listening on ").nth(1) {
                    let _ = port_tx.send(addr.trim().to_string());
                }
                sink.lock().expect("log lock").push(line);
            }
        });
        let addr = port_rx
            .recv_timeout(PATIENCE)
            .expect("daemon did not report its address")
            .parse()
            .expect("address");
        Daemon {
            child,
            addr,
            log,
            config_path,
            admin_socket,
            dir,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Runs `groupchatctl --json args…`, expects success and returns the
    /// daemon's reply.
    pub fn ctl_json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ctl(&all);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }

    /// Runs `groupchatctl --socket <this daemon's socket> args…`.
    pub fn ctl(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_groupchatctl"))
            .arg("--socket")
            .arg(&self.admin_socket)
            .args(args)
            .output()
            .expect("run groupchatctl")
    }

    /// `groupchatctl account <action> <name>` with the password on standard
    /// input; returns the output.
    pub fn ctl_with_password(&self, args: &[&str], password: &str) -> std::process::Output {
        ctl_with_input(Some(&self.admin_socket), args, password)
    }

    /// Creates an account (the daemon needs [`CHEAP_HASHES`] to be quick).
    pub fn add_account(&self, name: &str, password: &str) {
        let out = self.ctl_with_password(&["account", "add", name], password);
        assert!(out.status.success(), "{out:?}");
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.addr)
    }

    /// The first TLS listener's address, from the start-up log.
    pub fn tls_addr(&self) -> SocketAddr {
        self.wait_log_count(TLS_LISTENING, 1);
        self.tls_addrs()[0]
    }

    /// Every TLS listener address logged so far, oldest first.
    pub fn tls_addrs(&self) -> Vec<SocketAddr> {
        let log = self.log.lock().expect("log lock");
        log.iter()
            .filter_map(|l| l.split(TLS_LISTENING).nth(1))
            .map(|a| a.trim().parse().expect("address"))
            .collect()
    }

    /// Every address logged after `prefix` so far (`listening for web on `,
    /// `listening for web over TLS on `), oldest first; waits for one.
    pub fn logged_addrs(&self, prefix: &str) -> Vec<SocketAddr> {
        self.wait_log_count(prefix, 1);
        let log = self.log.lock().expect("log lock");
        log.iter()
            .filter_map(|l| l.split(prefix).nth(1))
            .map(|a| a.trim().parse().expect("address"))
            .collect()
    }

    /// Log lines containing `text` so far.
    pub fn count_log(&self, text: &str) -> usize {
        let log = self.log.lock().expect("log lock");
        log.iter().filter(|l| l.contains(text)).count()
    }

    /// Waits until at least `count` log lines contain `text`.
    pub fn wait_log_count(&self, text: &str, count: usize) {
        let deadline = Instant::now() + PATIENCE;
        while self.count_log(text) < count {
            assert!(
                Instant::now() < deadline,
                "fewer than {count} log lines with {text:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `groupchatctl --json status`'s status object.
    pub fn status(&self) -> serde_json::Value {
        self.ctl_json(&["status"])["status"].clone()
    }

    /// Waits until `status` satisfies `done`; returns the last status.
    pub fn wait_status(&self, done: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let status = self.status();
            if done(&status) {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "status never got there: {status}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The daemon's open descriptors and resident memory (KiB), from /proc.
    pub fn fds_and_rss(&self) -> (usize, u64) {
        let pid = self.child.id();
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .expect("fd dir")
            .count();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
        let rss_kib = status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .expect("VmRSS");
        (fds, rss_kib)
    }

    /// Connects with a 4 KiB receive buffer, so that a client that stops
    /// reading backs output up into the daemon quickly.
    pub fn connect_with_small_receive_buffer(&self) -> Client {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        socket.set_recv_buffer_size(4096).expect("rcvbuf");
        socket.connect(&self.addr.into()).expect("connect");
        Client::from_stream(socket.into())
    }

    /// Connects and registers `nick`, reading through the welcome burst.
    pub fn register(&self, nick: &str) -> Client {
        let mut client = self.connect();
        client.register(nick);
        client
    }

    /// Connects, enables the IRCv3 capabilities `caps`, and registers
    /// `nick`.
    pub fn register_with_caps(&self, nick: &str, caps: &str) -> Client {
        let mut client = self.connect();
        client.send(&format!("CAP REQ :{caps}"));
        client.send("CAP END");
        client.register(nick);
        client
    }

    /// Waits until a log line contains `text` and returns it.
    pub fn expect_log(&self, text: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(line) = self
                .log
                .lock()
                .expect("log lock")
                .iter()
                .find(|l| l.contains(text))
            {
                return line.clone();
            }
            assert!(Instant::now() < deadline, "no log line with {text:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: kill() with a pid we spawned and own; no memory involved.
        let rc = unsafe { libc::kill(self.child.id() as i32, signal) };
        assert_eq!(rc, 0, "kill failed");
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self) -> Option<i32> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(Instant::now() < deadline, "daemon did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw IRC connection with line-oriented helpers, over plain TCP or (see
/// [`tls`]) TLS.
pub struct Client<S = TcpStream> {
    pub stream: S,
    buffer: Vec<u8>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        Client::from_stream(TcpStream::connect(addr).expect("connect"))
    }

    pub fn from_stream(stream: TcpStream) -> Client {
        stream
            .set_read_timeout(Some(PATIENCE))
            .expect("read timeout");
        Client::over(stream)
    }
}

/// Whether `program args` runs successfully. When it does not, the test is
/// skipped with the reason on stderr, or fails under
/// `GROUPCHATD_REQUIRE_TOOLS=1` (set by CI, whose `.ci/run` installs it).
pub fn have_tool(program: &str, args: &[&str], why: &str) -> bool {
    let runs = Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|out| out.status.success());
    if !runs {
        let message = format!("`{program} {}` does not run: {why}", args.join(" "));
        if std::env::var_os("GROUPCHATD_REQUIRE_TOOLS").is_some_and(|v| v == "1") {
            panic!("{message} (GROUPCHATD_REQUIRE_TOOLS=1: .ci/run installs it)");
        }
        // Straight to stderr: the test harness would hide a println.
        let _ = writeln!(std::io::stderr(), "skipped: {message}");
    }
    runs
}

impl<S: Read + Write> Client<S> {
    /// Wraps a stream whose read timeout is already set.
    pub fn over(stream: S) -> Client<S> {
        Client {
            stream,
            buffer: Vec::new(),
        }
    }

    /// Registers `nick` on this connection, reading through the welcome
    /// burst.
    pub fn register(&mut self, nick: &str) {
        self.send(&format!(
            "NICK {nick}\r\nUSER {nick} 0 * :{nick}'s real name"
        ));
        self.expect(" 366 ");
    }

    /// Sends `text` followed by CRLF.
    pub fn send(&mut self, text: &str) {
        self.send_raw(format!("{text}\r\n").as_bytes());
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// The next line, or `None` once the server has closed the connection.
    pub fn line(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buffer.drain(..=end).collect();
                let text = String::from_utf8_lossy(&line);
                return Some(text.trim_end_matches(['\r', '\n']).to_string());
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return None,
                Err(e) => panic!("read failed while waiting for a line: {e}"),
            }
        }
    }

    /// Reads lines until one contains `text`; returns it. Panics on close.
    pub fn expect(&mut self, text: &str) -> String {
        loop {
            match self.line() {
                Some(line) if line.contains(text) => return line,
                Some(_) => {}
                None => panic!("connection closed while waiting for {text:?}"),
            }
        }
    }

    /// Reads lines until one contains `text`, returning all lines read.
    pub fn collect_until(&mut self, text: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self
                .line()
                .unwrap_or_else(|| panic!("closed while waiting for {text:?}; got {lines:#?}"));
            let done = line.contains(text);
            lines.push(line);
            if done {
                return lines;
            }
        }
    }

    /// The lines of the batch that `start` (its `BATCH +ref` line) opens,
    /// read up to its end, which is left out.
    pub fn batch_after(&mut self, start: &str) -> Vec<String> {
        let reference = start
            .split(" BATCH +")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .unwrap_or_else(|| panic!("a batch: {start}"));
        let mut lines = self.collect_until(&format!("BATCH :-{reference}"));
        lines.pop();
        lines
    }

    /// Sends a CHATHISTORY request with a label of its own (the client
    /// has `batch` and `labeled-response`) and returns the lines of the
    /// batch that answers it, whatever else comes (a join's playback).
    pub fn chathistory(&mut self, request: &str) -> Vec<String> {
        static LABELS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let label = LABELS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.send(&format!("@label=q{label} CHATHISTORY {request}"));
        let start = self.expect(&format!("@label=q{label} "));
        self.batch_after(&start)
    }

    /// Reads until the server closes the connection; returns the lines.
    pub fn read_to_close(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.line()).collect()
    }
}

/// A temporary directory removed when dropped.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    pub fn new() -> TempDir {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("groupchatd-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `groupchatctl [--socket SOCKET] <args>` with `input` and a newline on
/// standard input (a password, as a person would type it).
pub fn ctl_with_input(
    socket: Option<&std::path::Path>,
    args: &[&str],
    input: &str,
) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_groupchatctl"));
    if let Some(socket) = socket {
        command.arg("--socket").arg(socket);
    }
    let mut child = command
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run groupchatctl");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{input}").expect("write the password");
    drop(stdin);
    child.wait_with_output().expect("groupchatctl output")
}
