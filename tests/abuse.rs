//! Hostile input, faults and limits, over real sockets with short limits:
//! the daemon stays up, bounded, and says what happened.

mod common;

use common::{Client, Daemon, PATIENCE};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Reads `client`'s lines until `count` messages containing `marker` came,
/// checking that they are numbered 0.. in order; returns the other lines.
fn expect_in_order(client: &mut Client, marker: &str, count: usize) -> Vec<String> {
    let mut others = Vec::new();
    let mut next = 0;
    while next < count {
        let line = client
            .line()
            .unwrap_or_else(|| panic!("closed after {next} of {count}"));
        if let Some(rest) = line.split(marker).nth(1) {
            let n: usize = rest
                .trim()
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("number");
            assert_eq!(n, next, "out of order: {line}");
            next += 1;
        } else {
            others.push(line);
        }
    }
    others
}

#[test]
fn a_fast_talker_is_slowed_down_not_dropped() {
    let daemon = Daemon::start("[flood]\nburst = 5\nlines_per_second = 10\n");
    let mut alice = daemon.register("alice");
    let mut bob = daemon.register("bob");
    alice.expect(":bob!");
    let burst: String = (0..30)
        .map(|i| format!("PRIVMSG #lobby :paced {i}\r\n"))
        .collect();
    alice.send_raw(burst.as_bytes());
    expect_in_order(&mut bob, "paced ", 30);
    alice.send("PING :still-here");
    alice.expect("PONG");
    assert_eq!(daemon.status()["disconnects"]["flood"], 0);
}

#[test]
fn a_flood_past_recvq_max_is_cut_with_excess_flood() {
    let daemon = Daemon::start("[flood]\nburst = 5\nlines_per_second = 1\nrecvq_max = 4096\n");
    let mut flooder = daemon.register("flooder");
    let mut bob = daemon.register("bob");
    flooder.expect(":bob!");
    let line = format!("PRIVMSG #lobby :{}\r\n", "f".repeat(200));
    let flood = line.repeat(100);
    // The daemon may close while this is still being written.
    let _ = flooder.stream.write_all(flood.as_bytes());
    let closing = flooder.read_to_close();
    assert_eq!(
        closing.last().map(String::as_str),
        Some("ERROR :Closing Link: 127.0.0.1 (Excess Flood)"),
        "{closing:?}"
    );
    bob.expect(":flooder!flooder@127.0.0.1 QUIT :Excess Flood");
    daemon.expect_log("flooder (127.0.0.1): Excess Flood");
    assert_eq!(daemon.status()["disconnects"]["flood"], 1);
    bob.send("PING :fine");
    bob.expect("PONG");
}

#[test]
fn connections_past_the_limits_are_told_and_closed() {
    let daemon = Daemon::start("[limits]\nmax_clients_per_ip = 3\n");
    let mut first: Vec<Client> = (0..3).map(|_| daemon.connect()).collect();
    for c in &mut first {
        c.send("PING :admitted");
        c.expect("PONG");
    }
    let mut extra = daemon.connect();
    assert_eq!(
        extra.read_to_close(),
        ["ERROR :Closing Link: 127.0.0.1 (Too many connections)"]
    );
    daemon.expect_log("refused 1 connection(s): Too many connections");
    assert_eq!(daemon.status()["disconnects"]["too_many_connections"], 1);
    drop(first.pop());
    // Once the daemon has seen the close, there is room again.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut next = daemon.connect();
        next.send("PING :again");
        match next.line() {
            Some(line) if line.contains("PONG") => break,
            _ => assert!(Instant::now() < deadline, "never admitted again"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    let daemon = Daemon::start("[limits]\nmax_clients = 2\nmax_clients_per_ip = 0\n");
    let _held: Vec<Client> = (0..2)
        .map(|i| daemon.register(&format!("held{i}")))
        .collect();
    let mut extra = daemon.connect();
    assert_eq!(
        extra.read_to_close(),
        ["ERROR :Closing Link: 127.0.0.1 (Too many connections)"]
    );
}

#[test]
fn trickled_bytes_do_not_keep_a_registration_alive() {
    let daemon = Daemon::start("[timeouts]\nregistration_timeout = 2\n");
    let mut slow = daemon.connect();
    slow.stream
        .set_read_timeout(Some(Duration::from_millis(250)))
        .expect("timeout");
    // Sixty bytes, one every 250 ms: 15 s of trickle against a 2 s timeout.
    let mut got = Vec::new();
    for byte in b"NICK slowloris-with-a-very-long-and-never-ending-line-xxxxxxx".iter() {
        if slow.stream.write_all(&[*byte]).is_err() {
            break;
        }
        let mut buf = [0u8; 512];
        match slow.stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.contains("ERROR :Closing Link: 127.0.0.1 (Registration timeout)"),
        "cut before the trickle ended: {text:?}"
    );
}

#[test]
fn garbage_bytes_are_survived_and_relayed_text_stays_one_line() {
    let daemon = Daemon::start("");
    let mut alice = daemon.register("alice");
    let mut bob = daemon.register("bob");
    alice.expect(":bob!");
    alice.send_raw(b"PRIVMSG #lobby :nul\0inside\r\n");
    alice.send_raw(b"PRIVMSG #lobby :lone\rcr injected\r\n");
    alice.send_raw(b"PRIVMSG #lobby :bad utf8 \xff\xfe\xc3 end\r\n");
    alice.send_raw(b"PRIVMSG #lobby :bell\x07 and \x1b[31m escape\r\n");
    alice.send_raw(&vec![b'x'; 64 * 1024]);
    alice.send_raw(b"\r\nPRIVMSG #lobby :after the long line\r\n");
    alice.expect(" 417 alice :Input line was too long");
    let lines = bob.collect_until("after the long line");
    let relayed: Vec<&String> = lines.iter().filter(|l| l.contains("PRIVMSG")).collect();
    assert_eq!(relayed.len(), 5, "{lines:#?}");
    assert!(
        relayed[0].ends_with("PRIVMSG #lobby :nul inside"),
        "{}",
        relayed[0]
    );
    assert!(relayed[1].contains(":lone cr injected"), "{}", relayed[1]);
    assert!(relayed[2].contains("bad utf8 \u{fffd}"), "{}", relayed[2]);
    assert!(lines.iter().all(|l| !l.contains('\r') && !l.contains('\0')));
    bob.send("PING :ok");
    bob.expect("PONG");
}

#[test]
fn a_wrong_password_gets_464_and_is_closed() {
    let daemon = Daemon::start("[server]\npassword = \"sesame\"\n");
    let mut wrong = daemon.connect();
    wrong.send("PASS guess\r\nNICK intruder\r\nUSER i 0 * :i");
    let lines = wrong.read_to_close();
    assert!(lines.iter().any(|l| l.contains(" 464 ")), "{lines:?}");
    assert_eq!(
        lines.last().map(String::as_str),
        Some("ERROR :Closing Link: 127.0.0.1 (Bad password)")
    );
    let mut right = daemon.connect();
    right.send("PASS sesame\r\nNICK friend\r\nUSER f 0 * :f");
    right.expect(" 001 friend ");
}

#[test]
fn half_closed_and_killed_clients_do_not_disturb_the_others() {
    let daemon = Daemon::start("[limits]\nmax_clients_per_ip = 0\n[flood]\nenabled = false\n");
    let mut alice = daemon.register("alice");
    let mut bob = daemon.register("bob");
    alice.expect(":bob!");

    // Half-close: the last words arrive, then the quit.
    let mut leaver = daemon.register("leaver");
    bob.expect(":leaver!");
    leaver.send("PRIVMSG #lobby :last words");
    leaver
        .stream
        .shutdown(std::net::Shutdown::Write)
        .expect("half-close");
    bob.expect(":leaver!leaver@127.0.0.1 PRIVMSG #lobby :last words");
    bob.expect(":leaver!leaver@127.0.0.1 QUIT :Connection closed");

    // A client process that stops reading, killed while output is in flight.
    let mut victim = Command::new(env!("CARGO_BIN_EXE_groupchat"))
        .arg(daemon.addr.to_string())
        .args(["--nick", "victim"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start groupchat");
    bob.expect(":victim!");
    const COUNT: usize = 3000;
    let text = "k".repeat(200);
    for i in 0..COUNT {
        alice.send(&format!("PRIVMSG #lobby :inflight {i} {text}"));
        if i == COUNT / 2 {
            victim.kill().expect("SIGKILL");
        }
        if i % 100 == 99 {
            alice.send("PING :pace");
            alice.expect(" :pace");
        }
    }
    let _ = victim.wait();
    let mut others = expect_in_order(&mut bob, "inflight ", COUNT);
    if !others.iter().any(|l| l.contains(":victim!")) {
        others.extend(bob.collect_until(":victim!"));
    }
    let quit = others.iter().find(|l| l.contains(":victim!"));
    assert!(
        quit.is_some_and(|l| l.contains("QUIT :Connection")),
        "{others:?}"
    );
}

#[test]
fn ten_thousand_comings_and_goings_leak_no_descriptors() {
    let daemon =
        Daemon::start("[limits]\nmax_clients_per_ip = 0\n[timeouts]\nregistration_timeout = 1\n");
    // Warm up, so that one-time allocations are in the baseline.
    drop(daemon.register("warmup"));
    std::thread::sleep(Duration::from_millis(200));
    let (base_fds, base_rss) = daemon.fds_and_rss();
    const ROUNDS: usize = 20;
    const BATCH: usize = 500;
    for round in 0..ROUNDS {
        let clients: Vec<TcpStream> = (0..BATCH)
            .map(|_| TcpStream::connect(daemon.addr).expect("connect"))
            .collect();
        match round % 3 {
            // Cleanly: register and quit.
            0 => {
                for (i, mut c) in clients.into_iter().enumerate() {
                    let _ = write!(c, "NICK r{round}n{i}\r\nUSER u 0 * :u\r\nQUIT\r\n");
                    let mut sink = Vec::new();
                    let _ = c.read_to_end(&mut sink);
                }
            }
            // By reset: close with unread data and SO_LINGER 0.
            1 => {
                for mut c in clients {
                    let _ = c.write_all(b"NICK x\r\n");
                    let socket = socket2::Socket::from(c);
                    let _ = socket.set_linger(Some(Duration::ZERO));
                }
            }
            // By timeout: never register; the daemon cuts them.
            _ => {
                for mut c in clients {
                    c.set_read_timeout(Some(PATIENCE)).expect("timeout");
                    let mut sink = Vec::new();
                    let _ = c.read_to_end(&mut sink);
                    assert!(String::from_utf8_lossy(&sink).contains("Registration timeout"));
                }
            }
        }
    }
    let deadline = Instant::now() + PATIENCE;
    let (fds, rss) = loop {
        let (fds, rss) = daemon.fds_and_rss();
        if fds <= base_fds || Instant::now() > deadline {
            break (fds, rss);
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    println!(
        "after {} connections: fds {base_fds} -> {fds}, RSS {base_rss} KiB -> {rss} KiB",
        ROUNDS * BATCH
    );
    assert_eq!(fds, base_fds, "descriptors leaked");
    assert!(
        rss < base_rss + 16 * 1024,
        "RSS grew from {base_rss} KiB to {rss} KiB"
    );
    let s = daemon.status();
    assert_eq!(s["clients"]["connected"], 0, "{s}");
}

/// CPU time the process has used, in clock ticks (user + system).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .expect("stat format");
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

fn set_soft_nofile(pid: u32, soft: u64) {
    let status = Command::new("prlimit")
        .args(["--pid", &pid.to_string(), &format!("--nofile={soft}:")])
        .status()
        .expect("run prlimit (util-linux)");
    assert!(status.success());
}

#[test]
fn running_out_of_descriptors_pauses_accepting_and_recovers() {
    let daemon = Daemon::start("[limits]\nmax_clients_per_ip = 0\n");
    let pid = daemon.child.id();
    let (open, _) = daemon.fds_and_rss();
    // Room for three more clients, then accept() fails with EMFILE.
    set_soft_nofile(pid, open as u64 + 3);
    let mut clients: Vec<Client> = (0..10)
        .map(|i| {
            let mut c = daemon.connect();
            c.send(&format!("NICK late{i}\r\nUSER u 0 * :u"));
            c
        })
        .collect();
    daemon.expect_log("out of descriptors");
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let spent = cpu_ticks(pid) - before;
    assert!(
        spent < 50,
        "{spent} ticks of CPU in one second: spinning on accept"
    );

    let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .expect("getrlimit");
    set_soft_nofile(pid, hard);
    for c in &mut clients {
        c.expect(" 001 ");
    }
    daemon.expect_log("descriptors available again: accepting");
    let episodes = daemon
        .log
        .lock()
        .expect("log")
        .iter()
        .filter(|l| l.contains("out of descriptors"))
        .count();
    assert_eq!(episodes, 1, "logged once per episode");
    assert_eq!(daemon.status()["descriptor_shortages"], 1);
}
