//! The cluster link over a real `redis-server` on loopback: nodes see each
//! other, a killed node is lost, and Redis going away, stopping or
//! refusing the password is handled as the README says. Skipped without
//! `redis-server` (Debian's redis-server package), failed under
//! `GROUPCHATD_REQUIRE_TOOLS=1`.

mod common;

use common::{Client, Daemon, NO_FLOOD_CONTROL, PATIENCE, TempDir, have_tool, tag};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn have_redis() -> bool {
    have_tool(
        "redis-server",
        &["--version"],
        "the cluster tests need Debian's redis-server package",
    )
}

/// A `redis-server` on a free loopback port, with nothing saved to disk;
/// killed when dropped.
struct Redis {
    child: Child,
    port: u16,
    password: Option<String>,
    /// More `redis-server` options, as on its command line.
    options: Vec<String>,
    dir: TempDir,
}

impl Redis {
    fn start(password: Option<&str>) -> Redis {
        Redis::start_with(password, &[])
    }

    fn start_with(password: Option<&str>, options: &[&str]) -> Redis {
        let options: Vec<String> = options.iter().map(|o| o.to_string()).collect();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = TempDir::new();
        let child = Redis::spawn(port, password, &options, &dir);
        let redis = Redis {
            child,
            port,
            password: password.map(str::to_string),
            options,
            dir,
        };
        redis.wait_serving();
        redis
    }

    fn spawn(port: u16, password: Option<&str>, options: &[String], dir: &TempDir) -> Child {
        let mut command = Command::new("redis-server");
        command
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(options)
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir.path)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(password) = password {
            command.args(["--requirepass", password]);
        }
        command.spawn().expect("start redis-server")
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Waits until it answers PING.
    fn wait_serving(&self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                let mut reply = [0u8; 64];
                if stream.write_all(b"PING\r\n").is_ok()
                    && stream.read(&mut reply).is_ok_and(|n| n > 0)
                {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "redis-server never served");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends one command, as RESP, and returns the start of the answer.
    fn command(&self, args: &[&[u8]]) -> String {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to redis");
        stream.write_all(&out).expect("send to redis");
        let _ = stream.set_read_timeout(Some(PATIENCE));
        let mut reply = [0u8; 256];
        let n = stream.read(&mut reply).expect("redis answers");
        String::from_utf8_lossy(&reply[..n]).into_owned()
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts it again on the same port, empty.
    fn restart(&mut self) {
        self.kill();
        self.child = Redis::spawn(
            self.port,
            self.password.as_deref(),
            &self.options,
            &self.dir,
        );
        self.wait_serving();
    }

    fn signal(&self, signal: i32) {
        let pid = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: kill(2) takes plain integers; a stale pid at worst
        // signals nothing (the child is ours and not yet waited for).
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0, "kill");
    }
}

/// A free loopback port.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Three `redis-server`s made one Redis Cluster of three masters with
/// `redis-cli --cluster create`, once each says the cluster is ok.
fn redis_cluster() -> Vec<Redis> {
    let masters: Vec<Redis> = (0..3)
        .map(|_| {
            let bus = free_port().to_string();
            let options = ["--cluster-enabled", "yes", "--cluster-port", &bus];
            Redis::start_with(None, &options)
        })
        .collect();
    let addrs: Vec<String> = masters
        .iter()
        .map(|m| format!("127.0.0.1:{}", m.port))
        .collect();
    let made = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdout(Stdio::null())
        .status()
        .expect("run redis-cli");
    assert!(made.success(), "redis-cli --cluster create failed");
    let deadline = Instant::now() + PATIENCE;
    for master in &masters {
        while !master
            .command(&[b"CLUSTER", b"INFO"])
            .contains("cluster_state:ok")
        {
            assert!(Instant::now() < deadline, "the Redis Cluster never got ok");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    masters
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A config that makes a node named `name` of the cluster at `redis`,
/// with short timings so that tests wait seconds, not minutes.
fn node_config(name: &str, redis: &str) -> String {
    format!(
        "{NO_FLOOD_CONTROL}[history]\nenabled = false\n[cluster]\nredis = {redis:?}\nnode_name = {name:?}\nheartbeat = \"1s\"\nnode_timeout = \"2s\"\n"
    )
}

fn node_names(status: &serde_json::Value) -> Vec<String> {
    let nodes = status["cluster"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    nodes
        .iter()
        .filter_map(|n| n["name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn nodes_see_each_other_and_a_killed_node_is_lost() {
    if !have_redis() {
        return;
    }
    let redis = Redis::start(None);
    let a = Daemon::start(&node_config("a", &redis.url()));
    let b = Daemon::start(&node_config("b", &redis.url()));
    let _alice = b.register("alice");
    let status = a.wait_status(|s| node_names(s) == ["a", "b"]);
    assert_eq!(status["cluster"]["state"], "up");
    assert!(status["cluster"]["rtt_us"].as_u64().is_some(), "{status}");
    let nodes = a.ctl_json(&["nodes"]);
    let b_row = &nodes["nodes"]["nodes"][1];
    assert_eq!(b_row["name"], "b");
    // b's heartbeat carries its client count once alice is in.
    a.wait_status(|s| s["cluster"]["nodes"][1]["clients"] == 1);
    let table = String::from_utf8_lossy(&a.ctl(&["nodes"]).stdout).into_owned();
    assert!(
        table.contains("a (this one)") && table.contains("\nb "),
        "{table}"
    );
    drop(b); // SIGKILL
    a.wait_status(|s| node_names(s) == ["a"]);
    a.expect_log("node b lost");
}

#[test]
fn redis_going_away_leaves_local_chat_alone_and_the_link_comes_back() {
    if !have_redis() {
        return;
    }
    let mut redis = Redis::start(None);
    let a = Daemon::start(&node_config("a", &redis.url()));
    a.wait_status(|s| s["cluster"]["state"] == "up" && node_names(s) == ["a"]);
    redis.kill();
    let status = a.wait_status(|s| s["cluster"]["state"] != "up");
    assert!(status["cluster"]["error"].is_string(), "{status}");
    a.expect_log("link to Redis at");
    let mut alice = a.register("alice");
    let mut bob = a.register("bob");
    alice.send("PRIVMSG #lobby :redis or not");
    bob.expect(":redis or not");
    // Back, empty: the node comes up again and announces itself anew.
    redis.restart();
    a.wait_status(|s| s["cluster"]["state"] == "up" && node_names(s) == ["a"]);
}

#[test]
fn a_redis_that_stops_answering_is_noticed_by_the_timeout() {
    if !have_redis() {
        return;
    }
    let redis = Redis::start(None);
    let a = Daemon::start(&node_config("a", &redis.url()));
    a.wait_status(|s| s["cluster"]["state"] == "up");
    redis.signal(libc::SIGSTOP);
    // A stopped Redis still accepts connections: "up" needs an answer.
    let status = a.wait_status(|s| s["cluster"]["state"] != "up");
    let error = status["cluster"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("no answer"), "{status}");
    let mut alice = a.register("alice");
    let mut bob = a.register("bob");
    alice.send("PRIVMSG #lobby :still here");
    bob.expect(":still here");
    redis.signal(libc::SIGCONT);
    a.wait_status(|s| s["cluster"]["state"] == "up");
}

#[test]
fn a_wrong_redis_password_stops_the_start_and_the_right_one_logs_in() {
    if !have_redis() {
        return;
    }
    let redis = Redis::start(Some("s3cret-pass"));
    let dir = TempDir::new();
    let wrong = dir.path.join("wrong");
    std::fs::write(&wrong, "not-it\n").expect("write");
    let config = format!(
        "{}password_file = {wrong:?}\n",
        node_config("a", &redis.url())
    );
    let path = dir.path.join("groupchatd.toml");
    std::fs::write(&path, config).expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_groupchatd"))
        .arg("--config")
        .arg(&path)
        .args(["--listen", "127.0.0.1:0"])
        .arg("--admin-socket")
        .arg(dir.path.join("admin.sock"))
        .output()
        .expect("run groupchatd");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("refused the login"), "{said}");
    assert!(!said.contains("not-it"), "the password in the log: {said}");
    let right = dir.path.join("right");
    std::fs::write(&right, "s3cret-pass\n").expect("write");
    let config = format!(
        "{}password_file = {right:?}\n",
        node_config("a", &redis.url())
    );
    let a = Daemon::start(&config);
    a.wait_status(|s| s["cluster"]["state"] == "up" && node_names(s) == ["a"]);
}

#[test]
fn a_node_started_while_redis_is_down_joins_when_it_comes_back() {
    if !have_redis() {
        return;
    }
    let mut redis = Redis::start(None);
    redis.kill();
    let a = Daemon::start(&node_config("a", &redis.url()));
    let mut alice = a.register("alice");
    let mut bob = a.register("bob");
    alice.send("PRIVMSG #lobby :alone for now");
    bob.expect(":alone for now");
    assert_ne!(a.status()["cluster"]["state"], "up");
    redis.restart();
    a.wait_status(|s| s["cluster"]["state"] == "up" && node_names(s) == ["a"]);
}

/// Two nodes of one Redis, both up and each listing the other.
fn two_nodes(redis: &str) -> (Daemon, Daemon) {
    two_nodes_of(|name| node_config(name, redis))
}

/// Two nodes "a" and "b" of the configs `config` gives them, both up and
/// each listing the other.
fn two_nodes_of(config: impl Fn(&str) -> String) -> (Daemon, Daemon) {
    let a = Daemon::start(&config("a"));
    let b = Daemon::start(&config("b"));
    for node in [&a, &b] {
        node.wait_status(|s| s["cluster"]["state"] == "up" && node_names(s) == ["a", "b"]);
    }
    (a, b)
}

#[test]
fn nodes_over_a_redis_cluster_shard_their_channels_over_its_masters() {
    let why = "the Redis Cluster test needs redis-cli (Debian's redis-tools package)";
    if !have_redis() || !have_tool("redis-cli", &["--version"], why) {
        return;
    }
    let masters = redis_cluster();
    let (a, b) = two_nodes(&masters[0].url());
    let status = a.status();
    assert_eq!(status["cluster"]["redis_masters"], 3, "{status}");
    a.expect_log("is a Redis Cluster of 3 masters");
    let (mut alice, mut bob) = alice_and_bob(&a, &b);
    // Channels whose names hash to slots all over the masters.
    let channels: Vec<String> = (0..8).map(|n| format!("#room{n}")).collect();
    for channel in &channels {
        alice.send(&format!("JOIN {channel}"));
        bob.send(&format!("JOIN {channel}"));
        alice.expect(&format!(":bob!bob@127.0.0.1 JOIN :{channel}"));
    }
    for channel in &channels {
        alice.send(&format!("PRIVMSG {channel} :hello {channel}"));
        bob.expect(&format!(
            ":alice!alice@127.0.0.1 PRIVMSG {channel} :hello {channel}"
        ));
    }
    bob.send("PRIVMSG alice :psst, from b");
    alice.expect(":bob!bob@127.0.0.1 PRIVMSG alice :psst, from b");
    // Each master carries the channels of its slots, by sharded pub/sub.
    let carrying = masters
        .iter()
        .filter(|m| {
            m.command(&[b"PUBSUB", b"SHARDCHANNELS", b"groupchatd:chan:*"])
                .contains("groupchatd:chan:")
        })
        .count();
    assert!(carrying >= 2, "the channels sit on {carrying} master(s)");
    // One nick on the network, held in the slot of its name.
    let mut other = b.connect();
    other.send("NICK alice\r\nUSER x 0 * :x");
    other.expect(" 433 * alice ");
    // a is killed: b sees alice go, and her nick is free again once b
    // swept a's claims, master by master.
    drop(a);
    bob.expect(":alice!alice@127.0.0.1 QUIT :Quit: node a lost");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut again = b.connect();
        again.send("NICK alice\r\nUSER x 0 * :x");
        let reply = again.expect(" alice ");
        if reply.contains(" 001 ") {
            break;
        }
        assert!(Instant::now() < deadline, "alice stays held: {reply}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// alice on `a` and bob on `b`, once alice has seen bob arrive.
fn alice_and_bob(a: &Daemon, b: &Daemon) -> (Client, Client) {
    let mut alice = a.register("alice");
    let bob = b.register("bob");
    alice.expect(":bob!bob@127.0.0.1 JOIN :#lobby");
    (alice, bob)
}

/// What a client that reads history asks for.
const READER_CAPS: &str = "batch server-time message-tags draft/chathistory draft/event-playback echo-message labeled-response";

/// A CHATHISTORY request's lines as every node must give them: msgid,
/// time and the line without its tags (the batch reference is each
/// connection's own). Labelled, so that a join's playback is not taken
/// for the answer.
fn history(client: &mut Client, request: &str) -> Vec<String> {
    client
        .chathistory(request)
        .iter()
        .map(|line| {
            let (msgid, time) = (tag(line, "msgid"), tag(line, "time"));
            let bare = line.split_once(' ').map_or("", |(_, rest)| rest);
            format!("{} {} {bare}", msgid.unwrap_or("-"), time.unwrap_or("-"))
        })
        .collect()
}

/// A node of the cluster at `redis` that keeps history.
fn keeping_node(name: &str, redis: &str) -> String {
    node_config(name, redis).replace("[history]\nenabled = false\n", "")
}

/// The messages (not joins, parts or quits) of a [`history`] answer.
fn messages(lines: &[String]) -> Vec<String> {
    let said = lines.iter().filter(|l| l.contains(" PRIVMSG "));
    said.cloned().collect()
}

/// Joins `channel` and returns the messages of its join playback.
fn join_and_play_back(client: &mut Client, channel: &str) -> Vec<String> {
    client.send(&format!("JOIN {channel}"));
    let start = client.expect(&format!(" chathistory :{channel}"));
    let lines = messages(&client.batch_after(&start));
    let texts = lines.iter().filter_map(|l| l.rsplit_once(" :"));
    texts.map(|(_, text)| text.to_string()).collect()
}

#[test]
fn a_node_fills_its_history_from_a_channels_log_on_coming_to_it_or_back() {
    if !have_redis() {
        return;
    }
    let redis = Redis::start(None);
    let (a, b) = two_nodes_of(|name| keeping_node(name, &redis.url()));
    // alice talks alone in #x: no node follows it but a, yet it is logged.
    let mut alice = a.register_with_caps("alice", READER_CAPS);
    alice.send("JOIN #x");
    alice.expect(" 366 alice #x ");
    for n in 0..3 {
        alice.send(&format!("PRIVMSG #x :early {n}"));
        alice.expect(&format!(":early {n}"));
    }
    // bob comes to #x on b: his playback has what b never heard.
    let mut bob = b.register_with_caps("bob", READER_CAPS);
    assert_eq!(
        join_and_play_back(&mut bob, "#x"),
        ["early 0", "early 1", "early 2"]
    );
    let on_b = messages(&history(&mut bob, "LATEST #x * 10"));
    assert_eq!(on_b, messages(&history(&mut alice, "LATEST #x * 10")));
    // bob leaves #x and b stops following it; coming back, b reads what
    // the log got since (XRANGE from after the last entry it read).
    bob.send("PART #x");
    alice.expect(":bob!bob@127.0.0.1 PART ");
    alice.send("PRIVMSG #x :while bob was out");
    alice.expect(":while bob was out");
    let played = join_and_play_back(&mut bob, "#x");
    assert_eq!(
        played,
        ["early 0", "early 1", "early 2", "while bob was out"]
    );
    // b goes away; what is said meanwhile is there when it comes back.
    b.signal(libc::SIGKILL);
    alice.expect(":bob!bob@127.0.0.1 QUIT :Quit: node b lost");
    alice.send("PRIVMSG #x :while b was away");
    alice.expect(":while b was away");
    let b = b.restart();
    b.wait_status(|s| s["cluster"]["state"] == "up" && node_names(s) == ["a", "b"]);
    let mut bob = b.register_with_caps("bob", READER_CAPS);
    let played = join_and_play_back(&mut bob, "#x");
    let said = ["early 0", "early 1", "early 2", "while bob was out"];
    assert_eq!(played[..4], said);
    assert_eq!(played[4..], ["while b was away"]);
    let on_a = messages(&history(&mut alice, "LATEST #x * 10"));
    assert_eq!(messages(&history(&mut bob, "LATEST #x * 10")), on_a);
    let log = redis.command(&[b"XLEN", b"groupchatd:log:{#x}"]);
    assert_eq!(log, ":5\r\n");
}

#[test]
fn every_node_answers_chathistory_alike_with_the_msgids_lines_had() {
    if !have_redis() {
        return;
    }
    let redis = Redis::start(None);
    let (a, b) = two_nodes_of(|name| keeping_node(name, &redis.url()));
    let mut alice = a.register_with_caps("alice", READER_CAPS);
    let mut bob = b.register_with_caps("bob", READER_CAPS);
    alice.expect(":bob!bob@127.0.0.1 JOIN :#lobby");
    // Turns, each seen by the other before the next: the msgid a line has
    // live is the one it has on the other node.
    let mut msgids = Vec::new();
    for turn in 0..6 {
        let (from, to, nick) = match turn % 2 {
            0 => (&mut alice, &mut bob, "alice"),
            _ => (&mut bob, &mut alice, "bob"),
        };
        from.send(&format!("PRIVMSG #lobby :turn {turn}"));
        let echoed = from.expect(&format!("PRIVMSG #lobby :turn {turn}"));
        let heard = to.expect(&format!(
            ":{nick}!{nick}@127.0.0.1 PRIVMSG #lobby :turn {turn}"
        ));
        assert_eq!(
            tag(&echoed, "msgid"),
            tag(&heard, "msgid"),
            "{echoed} / {heard}"
        );
        assert_eq!(tag(&echoed, "time"), tag(&heard, "time"));
        msgids.push(tag(&heard, "msgid").unwrap_or_default().to_string());
    }
    bob.send("PRIVMSG alice :psst");
    alice.expect(":bob!bob@127.0.0.1 PRIVMSG alice :psst");
    // The same answer on both nodes, joins included, in the order things
    // were said and done.
    let on_a = history(&mut alice, "LATEST #lobby * 10");
    let on_b = history(&mut bob, "LATEST #lobby * 10");
    assert_eq!(on_a, on_b);
    let joins: Vec<&String> = on_a.iter().filter(|l| l.contains(" JOIN ")).collect();
    assert!(
        joins[0].ends_with(":alice!alice@127.0.0.1 JOIN :#lobby"),
        "{on_a:?}"
    );
    assert!(
        joins[1].ends_with(":bob!bob@127.0.0.1 JOIN :#lobby"),
        "{on_a:?}"
    );
    let said: Vec<&str> = on_a
        .iter()
        .filter(|l| l.contains(" PRIVMSG "))
        .map(|l| l.split(' ').next().unwrap_or_default())
        .collect();
    assert_eq!(said, msgids);
    assert_eq!(
        history(&mut alice, "LATEST bob * 5"),
        history(&mut bob, "LATEST alice * 5")
    );
    // Reconnecting to the other node loses nothing: alice's last msgid
    // means the same line on b.
    drop(alice);
    let mut again = b.register_with_caps("alice2", READER_CAPS);
    let missed = history(&mut again, &format!("AFTER #lobby msgid={} 10", msgids[3]));
    assert_eq!(missed[..2], on_a[on_a.len() - 2..]);
    // Then alice's quit, stamped by a, and alice2's join here.
    assert!(
        missed[2].ends_with(":alice!alice@127.0.0.1 QUIT :Connection closed"),
        "{missed:?}"
    );
    let node_of = |msgid: &str| msgid.parse().map(groupchatd::history::msgid::node_of).ok();
    let quit = missed[2].split(' ').next().unwrap_or_default();
    assert_eq!(
        node_of(quit),
        node_of(&msgids[0]),
        "given by a, as alice's turns were"
    );
}

#[test]
fn users_of_two_nodes_chat_as_one_network() {
    if !have_redis() {
        return;
    }
    let redis = Redis::start(None);
    let (a, b) = two_nodes(&redis.url());
    let (mut alice, mut bob) = alice_and_bob(&a, &b);
    alice.send("NAMES #lobby");
    let names = alice.expect(" 353 ");
    assert!(names.ends_with(":alice bob"), "{names}");
    alice.send("PRIVMSG #lobby :hello from a");
    bob.expect(":alice!alice@127.0.0.1 PRIVMSG #lobby :hello from a");
    bob.send("PRIVMSG alice :psst, from b");
    alice.expect(":bob!bob@127.0.0.1 PRIVMSG alice :psst, from b");
    alice.send("JOIN #rust");
    alice.expect(" 366 alice #rust ");
    bob.send("JOIN #rust");
    alice.expect(":bob!bob@127.0.0.1 JOIN :#rust");
    alice.send("TOPIC #rust :crabs");
    bob.expect(":alice!alice@127.0.0.1 TOPIC #rust :crabs");
    alice.send("WHOIS bob");
    alice.expect(" 311 alice bob bob 127.0.0.1 ");
    // One network, one nick: known here, or held in Redis by a node.
    let mut other = a.connect();
    other.send("NICK bob");
    other.expect(" 433 * bob ");
    redis.command(&[b"SET", b"groupchatd:nick:{mallory}", b"c"]);
    other.send("NICK mallory");
    other.send("USER m 0 * :m");
    other.expect(" 433 * mallory :Nickname is already in use on the network");
    bob.send("PART #rust :off to b things");
    alice.expect(":bob!bob@127.0.0.1 PART #rust :off to b things");
    alice.send("LUSERS");
    alice.expect(":There are 2 users and 0 invisible on 2 servers");
    let clients = String::from_utf8_lossy(&a.ctl(&["clients"]).stdout).into_owned();
    assert!(clients.contains("on node b"), "{clients}");
    let wall = a.ctl(&["wall", "from the admin of a"]);
    assert!(wall.status.success(), "{wall:?}");
    bob.expect(" NOTICE * :from the admin of a");
    let mut carol = b.register("carol");
    alice.expect(":carol!carol@127.0.0.1 JOIN :#lobby");
    let kick = a.ctl(&["kick", "carol", "from", "afar"]);
    assert!(kick.status.success(), "{kick:?}");
    carol.expect("ERROR :Closing Link: 127.0.0.1 (Kicked by admin: from afar)");
    alice.expect(":carol!carol@127.0.0.1 QUIT :Kicked by admin: from afar");
    let status = a.status();
    assert!(status["cluster"]["heard"].as_u64() > Some(0), "{status}");
    assert_eq!(status["cluster"]["following"], 2, "{status}");
    // b dies: its users leave the network, and their nicks are free.
    drop(b);
    alice.expect(":bob!bob@127.0.0.1 QUIT :Quit: node b lost");
    other.send("NICK bob");
    other.send("USER bob 0 * :the new bob");
    other.expect(" 001 bob ");
}

#[test]
fn after_redis_restarts_the_nodes_resync_and_say_what_may_be_lost() {
    if !have_redis() {
        return;
    }
    let mut redis = Redis::start(None);
    let (a, b) = two_nodes(&redis.url());
    let mut alice = a.register("alice");
    let mut bob = b.register("bob");
    let mut carl = b.register("carl");
    alice.expect(":carl!carl@127.0.0.1 JOIN :#lobby");
    redis.kill();
    alice.expect("messages from other nodes may have been missed");
    // Apart: local chat goes on; carl leaves and dave arrives unseen by a.
    carl.send("QUIT :bye");
    let mut dave = b.register("dave");
    bob.send("PRIVMSG #lobby :b alone");
    dave.expect(":bob!bob@127.0.0.1 PRIVMSG #lobby :b alone");
    redis.restart();
    alice.expect(":dave!dave@127.0.0.1 JOIN :#lobby");
    alice.send("NAMES #lobby");
    let names = alice.expect(" 353 ");
    assert!(names.ends_with(":alice bob dave"), "{names}");
    alice.send("PRIVMSG #lobby :together again");
    bob.expect(":together again");
    dave.expect(":together again");
    a.wait_status(|s| s["cluster"]["state"] == "up" && node_names(s) == ["a", "b"]);
}

#[test]
fn a_node_redis_drops_as_a_slow_subscriber_resubscribes_and_says_so() {
    if !have_redis() {
        return;
    }
    // Redis cuts a subscriber that has 256 KiB waiting for it.
    let limit = ["--client-output-buffer-limit", "pubsub 262144 0 0"];
    let redis = Redis::start_with(None, &limit);
    // A node_timeout long enough for b to be stopped without being lost.
    let config = |name: &str| {
        node_config(name, &redis.url()).replace("node_timeout = \"2s\"", "node_timeout = \"30s\"")
    };
    let a = Daemon::start(&config("a"));
    let b = Daemon::start(&config("b"));
    for node in [&a, &b] {
        node.wait_status(|s| s["cluster"]["state"] == "up" && node_names(s) == ["a", "b"]);
    }
    let (mut alice, mut bob) = alice_and_bob(&a, &b);
    // b reads nothing for a while; alice says 4 MB meanwhile.
    b.signal(libc::SIGSTOP);
    let text = "x".repeat(400);
    let mut burst = String::new();
    for i in 0..10_000 {
        burst.push_str(&format!("PRIVMSG #lobby :{i} {text}\r\n"));
    }
    alice.send_raw(burst.as_bytes());
    alice.send("PING :burst-done");
    alice.expect("PONG");
    a.wait_status(|s| s["cluster"]["published"].as_u64() >= Some(10_000));
    b.signal(libc::SIGCONT);
    bob.expect("messages from other nodes may have been missed");
    b.expect_log("Redis closed the connection");
    b.wait_status(|s| s["cluster"]["state"] == "up");
    alice.send("PRIVMSG #lobby :after the gap");
    bob.expect(":alice!alice@127.0.0.1 PRIVMSG #lobby :after the gap");
}

#[test]
fn foreign_and_oversized_payloads_are_logged_and_dropped() {
    if !have_redis() {
        return;
    }
    let redis = Redis::start(None);
    let (a, b) = two_nodes(&redis.url());
    let (mut alice, mut bob) = alice_and_bob(&a, &b);
    for junk in [
        &b"not an irc line at all \x00\xff"[..],
        b"@n=x :who!u@h FROB #lobby",
    ] {
        redis.command(&[b"PUBLISH", b"groupchatd:net", junk]);
    }
    a.expect_log("dropped a payload that is not a groupchatd line");
    // Far longer than any line: the link is cut and comes back, no memory kept.
    let huge = vec![b'x'; 5 << 20];
    redis.command(&[b"PUBLISH", b"groupchatd:net", &huge]);
    for node in [&a, &b] {
        node.expect_log("Redis sent a reply of over");
        node.wait_status(|s| s["cluster"]["state"] == "up");
    }
    alice.send("PRIVMSG #lobby :still one network");
    bob.expect(":alice!alice@127.0.0.1 PRIVMSG #lobby :still one network");
}

#[test]
fn a_node_frozen_past_node_timeout_comes_back_and_a_split_channel_gives_no_ops() {
    if !have_redis() {
        return;
    }
    let redis = Redis::start(None);
    let (a, b) = two_nodes(&redis.url());
    let (mut alice, mut bob) = alice_and_bob(&a, &b);
    alice.send("JOIN #x");
    alice.expect(" 366 alice #x ");
    // a stops answering for longer than node_timeout: b gives it up...
    a.signal(libc::SIGSTOP);
    bob.expect(":alice!alice@127.0.0.1 QUIT :Quit: node a lost");
    // ...and bob makes #x anew on b, node_timeout (2 s) after alice's.
    bob.send("JOIN #x");
    bob.expect(" 353 bob = #x :@bob");
    // a comes back and tells everything again: alice is back, and the
    // older #x wins, so bob's @ from the split goes.
    a.signal(libc::SIGCONT);
    a.expect_log("announcing it again");
    let seen = bob.collect_until(":alice!alice@127.0.0.1 JOIN :#x");
    assert!(
        seen.iter().any(|l| l.ends_with("MODE #x -o :bob")),
        "{seen:#?}"
    );
    bob.send("MODE #x +m");
    bob.expect(" 482 bob #x ");
    alice.send("PRIVMSG #x :I was away");
    bob.expect(":alice!alice@127.0.0.1 PRIVMSG #x :I was away");
}

/// CPU seconds a process has used, from /proc (utime + stime).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    // SAFETY: sysconf takes a constant and has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

#[test]
fn a_node_waiting_for_redis_sleeps_between_tries() {
    if !have_redis() {
        return;
    }
    let mut redis = Redis::start(None);
    let a = Daemon::start(&node_config("a", &redis.url()));
    a.wait_status(|s| s["cluster"]["state"] == "up");
    redis.kill();
    let status = a.wait_status(|s| s["cluster"]["state"] != "up");
    let error = status["cluster"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("refused") || error.contains("closed"),
        "{status}"
    );
    // Down, with heartbeats overdue: the loop waits for the next retry
    // instead of spinning (it did, at a full core). Idle, it uses a few
    // milliseconds of CPU in these two seconds; spinning, about two.
    let before = cpu_seconds(a.pid());
    std::thread::sleep(Duration::from_secs(2));
    let used = cpu_seconds(a.pid()) - before;
    assert!(used < 0.5, "{used} s of CPU in 2 s while Redis is down");
}
