//! The base IRC client protocol end to end: every command of the "Modern
//! IRC Client Protocol" document (modern.ircdocs.horse; RFC 2812 where it
//! is silent) sent over a real socket to the real daemon, and the whole
//! answer checked as a client reads it: each numeric with its parameters
//! (the client's nick first, `*` before registration), each relayed
//! command with its source.
//!
//! The hub's unit tests (`src/hub/tests*.rs`) check these replies by
//! feeding lines to the hub; this file checks that they survive framing,
//! the reactor and the socket unchanged, in the order the document gives.
//!
//! Each question is followed by a `PING` with a fresh token, and the answer
//! is every line before its `PONG` ([`ask`]): so the assertions compare the
//! complete answer, and a missing, extra or reordered line fails them.
//! History is off, so that nothing answers late. One daemon per area.

mod common;

use common::{Client, Daemon, TempDir};
use std::sync::atomic::{AtomicUsize, Ordering};

const VERSION: &str = concat!("groupchatd-", env!("CARGO_PKG_VERSION"));

/// No flood control, and no history: history's answers come from another
/// thread and could arrive after the `PONG` that ends an answer.
const CONFIG: &str = "[flood]\nenabled = false\n[history]\nenabled = false\n";

/// Sends `command` (unless empty), then `PING :<token>`; returns every line
/// the server sent before the matching `PONG`.
fn ask(client: &mut Client, command: &str) -> Vec<String> {
    static TOKENS: AtomicUsize = AtomicUsize::new(0);
    let token = format!("sync{}", TOKENS.fetch_add(1, Ordering::Relaxed));
    if !command.is_empty() {
        client.send(command);
    }
    client.send(&format!("PING :{token}"));
    let mut lines = client.collect_until(&format!(" PONG groupchatd :{token}"));
    let pong = lines.pop().expect("the PONG");
    assert_eq!(pong, format!(":groupchatd PONG groupchatd :{token}"));
    lines
}

/// What has reached `client` so far (everything before a fresh `PONG`).
fn drain(client: &mut Client) -> Vec<String> {
    ask(client, "")
}

/// The number at the end of `line`, which must start with `prefix`.
fn number_after(line: &str, prefix: &str) -> u64 {
    let rest = line
        .strip_prefix(prefix)
        .unwrap_or_else(|| panic!("{line:?} does not start with {prefix:?}"));
    rest.parse()
        .unwrap_or_else(|_| panic!("{line:?}: {rest:?} is not a number"))
}

/// Registers `nick` and reads its whole welcome.
fn register(daemon: &Daemon, nick: &str) -> Client {
    let mut client = daemon.register(nick);
    drain(&mut client);
    client
}

#[test]
fn registration_commands_and_their_replies() {
    let daemon = Daemon::start(CONFIG);
    let mut alice = register(&daemon, "alice");
    let mut c = daemon.connect();

    // Before registration: `*` stands for the nick, and most commands wait.
    for command in ["PRIVMSG alice :hi", "JOIN #a", "WHOIS alice", "LUSERS"] {
        assert_eq!(
            ask(&mut c, command),
            [":groupchatd 451 * :You have not registered"],
            "{command}"
        );
    }
    assert_eq!(
        ask(&mut c, "FROB"),
        [":groupchatd 451 * :You have not registered"]
    );
    assert_eq!(
        ask(&mut c, "NICK"),
        [":groupchatd 431 * :No nickname given"]
    );
    assert_eq!(
        ask(&mut c, "NICK 9lives"),
        [":groupchatd 432 * 9lives :Erroneous nickname"]
    );
    assert_eq!(
        ask(&mut c, "NICK alice"),
        [":groupchatd 433 * alice :Nickname is already in use"]
    );
    assert_eq!(
        ask(&mut c, "PASS"),
        [":groupchatd 461 * PASS :Not enough parameters"]
    );
    assert_eq!(
        ask(&mut c, "USER carol 0 *"),
        [":groupchatd 461 * USER :Not enough parameters"]
    );
    assert_eq!(ask(&mut c, "NICK carol"), Vec::<String>::new());

    // The welcome, in the document's order: 001–005, LUSERS (without 252
    // and 253, whose counts are zero), MOTD (none here: 422), then the
    // default channel's JOIN, names and end.
    let burst = ask(&mut c, "USER carol 0 * :Carol Real");
    assert_eq!(
        burst[0],
        ":groupchatd 001 carol :Welcome to the groupchat IRC Network carol!carol@127.0.0.1"
    );
    assert_eq!(
        burst[1],
        format!(":groupchatd 002 carol :Your host is groupchatd, running version {VERSION}")
    );
    assert!(
        burst[2].starts_with(":groupchatd 003 carol :This server was created "),
        "{burst:#?}"
    );
    assert_eq!(
        burst[3],
        format!(":groupchatd 004 carol groupchatd {VERSION} iow beiklmnotv :beklov")
    );
    let isupport: Vec<&String> = burst.iter().filter(|l| l.contains(" 005 ")).collect();
    assert!(!isupport.is_empty(), "{burst:#?}");
    for line in &isupport {
        assert!(
            line.starts_with(":groupchatd 005 carol ")
                && line.ends_with(" :are supported by this server"),
            "{line}"
        );
    }
    let after: Vec<&str> = burst[4 + isupport.len()..]
        .iter()
        .map(String::as_str)
        .collect();
    assert_eq!(
        after,
        [
            ":groupchatd 251 carol :There are 2 users and 0 invisible on 1 servers",
            ":groupchatd 254 carol 1 :channels formed",
            ":groupchatd 255 carol :I have 2 clients and 0 servers",
            ":groupchatd 265 carol 2 2 :Current local users 2, max 2",
            ":groupchatd 266 carol 2 2 :Current global users 2, max 2",
            ":groupchatd 422 carol :MOTD File is missing",
            ":carol!carol@127.0.0.1 JOIN :#lobby",
            ":groupchatd 353 carol = #lobby :alice carol",
            ":groupchatd 366 carol #lobby :End of /NAMES list",
        ]
    );
    assert_eq!(drain(&mut alice), [":carol!carol@127.0.0.1 JOIN :#lobby"]);

    // Once registered: no second registration.
    assert_eq!(
        ask(&mut c, "USER carol 0 * :Again"),
        [":groupchatd 462 carol :You may not reregister"]
    );
    assert_eq!(
        ask(&mut c, "PASS secret"),
        [":groupchatd 462 carol :You may not reregister"]
    );
    assert_eq!(
        ask(&mut c, "NICK alice"),
        [":groupchatd 433 carol alice :Nickname is already in use"]
    );
    assert_eq!(
        ask(&mut c, "NICK -x"),
        [":groupchatd 432 carol -x :Erroneous nickname"]
    );

    // NICK: the user and everyone sharing a channel see the change.
    let renamed = ":carol!carol@127.0.0.1 NICK :caroline";
    assert_eq!(ask(&mut c, "NICK caroline"), [renamed]);
    assert_eq!(drain(&mut alice), [renamed]);

    // PING: the token comes back; without one, 409.
    assert_eq!(
        ask(&mut c, "PING :are you there"),
        [":groupchatd PONG groupchatd :are you there"]
    );
    assert_eq!(
        ask(&mut c, "PING"),
        [":groupchatd 409 caroline :No origin specified"]
    );
    assert_eq!(ask(&mut c, "PONG :whatever"), Vec::<String>::new());

    // QUIT: ERROR to the quitter, QUIT to the others.
    c.send("QUIT :see you");
    assert_eq!(
        c.read_to_close(),
        ["ERROR :Closing Link: 127.0.0.1 (Quit: see you)"]
    );
    assert_eq!(
        drain(&mut alice),
        [":caroline!carol@127.0.0.1 QUIT :Quit: see you"]
    );

    // PASS before NICK/USER on a server with a password; a wrong one is 464.
    let locked = Daemon::start(&format!("{CONFIG}[server]\npassword = \"letmein\"\n"));
    let mut d = locked.connect();
    d.send("PASS wrong\r\nNICK dave\r\nUSER dave 0 * :Dave");
    let lines = d.read_to_close();
    assert_eq!(lines[0], ":groupchatd 464 dave :Password incorrect");
    assert!(
        lines[1].starts_with("ERROR :Closing Link: 127.0.0.1 ("),
        "{lines:?}"
    );
    let mut e = locked.connect();
    e.send("PASS letmein");
    e.register("erin");
}

#[test]
fn channel_commands_and_their_replies() {
    let daemon = Daemon::start(CONFIG);
    let mut alice = register(&daemon, "alice");
    let mut bob = register(&daemon, "bob");
    let mut carol = register(&daemon, "carol");
    drain(&mut alice);
    drain(&mut bob);

    // JOIN a new channel: JOIN, no topic, names with the creator as op.
    assert_eq!(
        ask(&mut alice, "JOIN #room"),
        [
            ":alice!alice@127.0.0.1 JOIN :#room",
            ":groupchatd 353 alice = #room :@alice",
            ":groupchatd 366 alice #room :End of /NAMES list",
        ]
    );
    assert_eq!(
        ask(&mut alice, "JOIN"),
        [":groupchatd 461 alice JOIN :Not enough parameters"]
    );
    assert_eq!(
        ask(&mut alice, "JOIN room"),
        [":groupchatd 403 alice room :Illegal channel name"]
    );
    assert_eq!(ask(&mut alice, "JOIN #room"), Vec::<String>::new());

    // TOPIC: 331 without one, the change to members, then 332 and 333.
    assert_eq!(
        ask(&mut alice, "TOPIC #room"),
        [":groupchatd 331 alice #room :No topic is set"]
    );
    assert_eq!(
        ask(&mut alice, "TOPIC #room :hello world"),
        [":alice!alice@127.0.0.1 TOPIC #room :hello world"]
    );
    let topic = ask(&mut alice, "TOPIC #room");
    assert_eq!(topic[0], ":groupchatd 332 alice #room :hello world");
    number_after(&topic[1], ":groupchatd 333 alice #room alice :");
    assert_eq!(topic.len(), 2, "{topic:?}");
    assert_eq!(
        ask(&mut bob, "TOPIC #room"),
        [":groupchatd 442 bob #room :You're not on that channel"]
    );
    assert_eq!(
        ask(&mut bob, "TOPIC #nowhere"),
        [":groupchatd 403 bob #nowhere :No such channel"]
    );
    assert_eq!(
        ask(&mut bob, "TOPIC"),
        [":groupchatd 461 bob TOPIC :Not enough parameters"]
    );

    // JOIN an existing channel: its topic, then names; members see the JOIN.
    let joined = ask(&mut bob, "JOIN #room");
    assert_eq!(joined.len(), 5, "{joined:#?}");
    assert_eq!(joined[0], ":bob!bob@127.0.0.1 JOIN :#room");
    assert_eq!(joined[1], ":groupchatd 332 bob #room :hello world");
    number_after(&joined[2], ":groupchatd 333 bob #room alice :");
    assert_eq!(joined[3], ":groupchatd 353 bob = #room :@alice bob");
    assert_eq!(joined[4], ":groupchatd 366 bob #room :End of /NAMES list");
    assert_eq!(drain(&mut alice), [":bob!bob@127.0.0.1 JOIN :#room"]);
    assert_eq!(
        ask(&mut bob, "TOPIC #room :mine now"),
        [":groupchatd 482 bob #room :You're not channel operator"]
    );

    // NAMES: a channel, an unknown one, several, none.
    assert_eq!(
        ask(&mut carol, "NAMES #room"),
        [
            ":groupchatd 353 carol = #room :@alice bob",
            ":groupchatd 366 carol #room :End of /NAMES list",
        ]
    );
    assert_eq!(
        ask(&mut carol, "NAMES #nowhere"),
        [":groupchatd 366 carol #nowhere :End of /NAMES list"]
    );
    assert_eq!(
        ask(&mut carol, "NAMES #room,#nowhere"),
        [
            ":groupchatd 353 carol = #room :@alice bob",
            ":groupchatd 366 carol #room :End of /NAMES list",
            ":groupchatd 366 carol #nowhere :End of /NAMES list",
        ]
    );
    assert_eq!(
        ask(&mut carol, "NAMES"),
        [":groupchatd 366 carol * :End of /NAMES list"]
    );

    // LIST: 321, a 322 per channel, 323.
    assert_eq!(
        ask(&mut carol, "LIST"),
        [
            ":groupchatd 321 carol Channel :Users  Name",
            ":groupchatd 322 carol #lobby 3 :",
            ":groupchatd 322 carol #room 2 :hello world",
            ":groupchatd 323 carol :End of /LIST",
        ]
    );
    assert_eq!(
        ask(&mut carol, "LIST #room"),
        [
            ":groupchatd 321 carol Channel :Users  Name",
            ":groupchatd 322 carol #room 2 :hello world",
            ":groupchatd 323 carol :End of /LIST",
        ]
    );
    assert_eq!(
        ask(&mut carol, "LIST >2"),
        [
            ":groupchatd 321 carol Channel :Users  Name",
            ":groupchatd 322 carol #lobby 3 :",
            ":groupchatd 323 carol :End of /LIST",
        ]
    );

    // INVITE: 341 to the inviter, INVITE to the invited, the errors.
    assert_eq!(
        ask(&mut alice, "INVITE carol #room"),
        [":groupchatd 341 alice carol :#room"]
    );
    assert_eq!(
        drain(&mut carol),
        [":alice!alice@127.0.0.1 INVITE carol :#room"]
    );
    assert_eq!(
        ask(&mut carol, "INVITE"),
        [
            ":groupchatd 336 carol :#room",
            ":groupchatd 337 carol :End of /INVITE list",
        ]
    );
    assert_eq!(
        ask(&mut alice, "INVITE bob #room"),
        [":groupchatd 443 alice bob #room :is already on channel"]
    );
    assert_eq!(
        ask(&mut alice, "INVITE nobody #room"),
        [":groupchatd 401 alice nobody :No such nick/channel"]
    );
    assert_eq!(
        ask(&mut alice, "INVITE carol #nowhere"),
        [":groupchatd 403 alice #nowhere :No such channel"]
    );
    assert_eq!(
        ask(&mut carol, "INVITE alice #room"),
        [":groupchatd 442 carol #room :You're not on that channel"]
    );
    assert_eq!(
        ask(&mut alice, "INVITE carol"),
        [":groupchatd 461 alice INVITE :Not enough parameters"]
    );

    // KICK: ops only; everyone in the channel, the kicked too, sees it.
    assert_eq!(
        ask(&mut bob, "KICK #room alice"),
        [":groupchatd 482 bob #room :You're not channel operator"]
    );
    assert_eq!(
        ask(&mut alice, "KICK #room carol"),
        [":groupchatd 441 alice carol #room :They aren't on that channel"]
    );
    assert_eq!(
        ask(&mut alice, "KICK #nowhere bob"),
        [":groupchatd 403 alice #nowhere :No such channel"]
    );
    assert_eq!(
        ask(&mut carol, "KICK #room bob"),
        [":groupchatd 442 carol #room :You're not on that channel"]
    );
    assert_eq!(
        ask(&mut alice, "KICK #room"),
        [":groupchatd 461 alice KICK :Not enough parameters"]
    );
    let kick = ":alice!alice@127.0.0.1 KICK #room bob :out you go";
    assert_eq!(ask(&mut alice, "KICK #room bob :out you go"), [kick]);
    assert_eq!(drain(&mut bob), [kick]);

    // PART: the PART (with its reason) to the parter and the members.
    assert_eq!(
        ask(&mut bob, "PART #room"),
        [":groupchatd 442 bob #room :You're not on that channel"]
    );
    assert_eq!(
        ask(&mut bob, "PART #nowhere"),
        [":groupchatd 403 bob #nowhere :No such channel"]
    );
    assert_eq!(
        ask(&mut bob, "PART"),
        [":groupchatd 461 bob PART :Not enough parameters"]
    );
    carol.send("JOIN #room");
    drain(&mut carol);
    drain(&mut alice);
    let part = ":carol!carol@127.0.0.1 PART #room :so long";
    assert_eq!(ask(&mut carol, "PART #room :so long"), [part]);
    assert_eq!(drain(&mut alice), [part]);
    assert_eq!(
        ask(&mut alice, "PART #room"),
        [":alice!alice@127.0.0.1 PART :#room"]
    );
    // The channel is gone with its last member.
    assert_eq!(
        ask(&mut alice, "NAMES #room"),
        [":groupchatd 366 alice #room :End of /NAMES list"]
    );
}

#[test]
fn modes_and_lists_and_their_replies() {
    let daemon = Daemon::start(CONFIG);
    let mut alice = register(&daemon, "alice");
    let mut bob = register(&daemon, "bob");
    drain(&mut alice);
    ask(&mut alice, "JOIN #m");

    // 324 and 329; a new channel is +nt.
    let modes = ask(&mut alice, "MODE #m");
    assert_eq!(modes[0], ":groupchatd 324 alice #m :+nt");
    number_after(&modes[1], ":groupchatd 329 alice #m :");
    assert_eq!(modes.len(), 2, "{modes:?}");
    assert_eq!(
        ask(&mut alice, "MODE #nowhere"),
        [":groupchatd 403 alice #nowhere :No such channel"]
    );
    assert_eq!(
        ask(&mut alice, "MODE"),
        [":groupchatd 461 alice MODE :Not enough parameters"]
    );

    // Changes go to the members as MODE lines; the key shows to members.
    assert_eq!(
        ask(&mut alice, "MODE #m +kl sekrit 5"),
        [":alice!alice@127.0.0.1 MODE #m +kl sekrit :5"]
    );
    assert_eq!(
        ask(&mut alice, "MODE #m")[0],
        ":groupchatd 324 alice #m +ntkl sekrit :5"
    );
    assert_eq!(
        ask(&mut bob, "MODE #m")[0],
        ":groupchatd 324 bob #m +ntkl <key> :5"
    );

    // Who may not join, and why: 475, 473, 474, 471.
    assert_eq!(
        ask(&mut bob, "JOIN #m"),
        [":groupchatd 475 bob #m :Cannot join channel (+k)"]
    );
    ask(&mut alice, "MODE #m +i");
    assert_eq!(
        ask(&mut bob, "JOIN #m sekrit"),
        [":groupchatd 473 bob #m :Cannot join channel (+i)"]
    );
    ask(&mut alice, "MODE #m -i");
    assert_eq!(
        ask(&mut alice, "MODE #m +b bob!*@*"),
        [":alice!alice@127.0.0.1 MODE #m +b :bob!*@*"]
    );
    assert_eq!(
        ask(&mut bob, "JOIN #m sekrit"),
        [":groupchatd 474 bob #m :Cannot join channel (+b)"]
    );
    let bans = ask(&mut alice, "MODE #m +b");
    number_after(
        &bans[0],
        ":groupchatd 367 alice #m bob!*@* alice!alice@127.0.0.1 :",
    );
    assert_eq!(
        bans[1..],
        [":groupchatd 368 alice #m :End of channel ban list"]
    );
    ask(&mut alice, "MODE #m -b+l bob!*@* 1");
    assert_eq!(
        ask(&mut bob, "JOIN #m sekrit"),
        [":groupchatd 471 bob #m :Cannot join channel (+l)"]
    );
    assert_eq!(
        ask(&mut alice, "MODE #m -lk *"),
        [":alice!alice@127.0.0.1 MODE #m -lk :sekrit"]
    );
    ask(&mut bob, "JOIN #m");
    drain(&mut alice);

    // The exception list: 348 each, 349.
    assert_eq!(
        ask(&mut alice, "MODE #m e"),
        [":groupchatd 349 alice #m :End of channel exception list"]
    );
    ask(&mut alice, "MODE #m +e carol!*@*");
    assert_eq!(
        ask(&mut alice, "MODE #m +e"),
        [
            ":groupchatd 348 alice #m :carol!*@*",
            ":groupchatd 349 alice #m :End of channel exception list",
        ]
    );

    // Refusals: 482 to a non-op (once a command), 472, 696, 525, 401, 441.
    drain(&mut bob);
    assert_eq!(
        ask(&mut bob, "MODE #m +mi"),
        [":groupchatd 482 bob #m :You're not channel operator"]
    );
    assert_eq!(
        ask(&mut alice, "MODE #m +x"),
        [":groupchatd 472 alice x :is unknown mode char to me"]
    );
    assert_eq!(
        ask(&mut alice, "MODE #m +l many"),
        [":groupchatd 696 alice #m l many :Invalid limit"]
    );
    assert_eq!(
        ask(&mut alice, "MODE #m +k a,b"),
        [":groupchatd 525 alice #m :Key is not well-formed"]
    );
    assert_eq!(
        ask(&mut alice, "MODE #m +o nobody"),
        [":groupchatd 401 alice nobody :No such nick/channel"]
    );
    let mut carol = register(&daemon, "carol");
    drain(&mut alice);
    drain(&mut bob);
    assert_eq!(
        ask(&mut alice, "MODE #m +v carol"),
        [":groupchatd 441 alice carol #m :They aren't on that channel"]
    );
    let voiced = ":alice!alice@127.0.0.1 MODE #m +ov bob :bob";
    assert_eq!(ask(&mut alice, "MODE #m +ov bob bob"), [voiced]);
    assert_eq!(drain(&mut bob), [voiced]);
    assert_eq!(
        ask(&mut carol, "NAMES #m"),
        [
            ":groupchatd 353 carol = #m :@alice @bob",
            ":groupchatd 366 carol #m :End of /NAMES list",
        ]
    );

    // User modes: 221, the MODE echoed, 501, 502, 401.
    assert_eq!(ask(&mut alice, "MODE alice"), [":groupchatd 221 alice :+"]);
    assert_eq!(
        ask(&mut alice, "MODE alice +iw"),
        [":alice!alice@127.0.0.1 MODE alice :+iw"]
    );
    assert_eq!(
        ask(&mut alice, "MODE alice"),
        [":groupchatd 221 alice :+iw"]
    );
    assert_eq!(
        ask(&mut alice, "MODE alice +z"),
        [":groupchatd 501 alice :Unknown MODE flag"]
    );
    assert_eq!(
        ask(&mut alice, "MODE alice +o"),
        Vec::<String>::new(),
        "+o comes from OPER only"
    );
    assert_eq!(
        ask(&mut alice, "MODE bob +i"),
        [":groupchatd 502 alice :Cant change mode for other users"]
    );
    assert_eq!(
        ask(&mut alice, "MODE nobody"),
        [":groupchatd 401 alice nobody :No such nick/channel"]
    );
}

#[test]
fn messages_and_their_replies() {
    let daemon = Daemon::start(CONFIG);
    let mut alice = register(&daemon, "alice");
    let mut bob = register(&daemon, "bob");
    drain(&mut alice);

    // To a nick and to a channel: the sender hears nothing back.
    assert_eq!(ask(&mut alice, "PRIVMSG bob :hi bob"), Vec::<String>::new());
    assert_eq!(
        drain(&mut bob),
        [":alice!alice@127.0.0.1 PRIVMSG bob :hi bob"]
    );
    assert_eq!(
        ask(&mut alice, "PRIVMSG #lobby :hi all"),
        Vec::<String>::new()
    );
    assert_eq!(
        drain(&mut bob),
        [":alice!alice@127.0.0.1 PRIVMSG #lobby :hi all"]
    );
    assert_eq!(ask(&mut alice, "NOTICE bob :psst"), Vec::<String>::new());
    assert_eq!(drain(&mut bob), [":alice!alice@127.0.0.1 NOTICE bob :psst"]);

    // PRIVMSG's errors: 411, 412, 401 (a nick or a channel), 404, 407.
    assert_eq!(
        ask(&mut alice, "PRIVMSG"),
        [":groupchatd 411 alice :No recipient given (PRIVMSG)"]
    );
    assert_eq!(
        ask(&mut alice, "PRIVMSG bob"),
        [":groupchatd 412 alice :No text to send"]
    );
    assert_eq!(
        ask(&mut alice, "PRIVMSG nobody :hello?"),
        [":groupchatd 401 alice nobody :No such nick/channel"]
    );
    assert_eq!(
        ask(&mut alice, "PRIVMSG #nowhere :hello?"),
        [":groupchatd 401 alice #nowhere :No such nick/channel"]
    );
    ask(&mut bob, "JOIN #closed");
    assert_eq!(
        ask(&mut alice, "PRIVMSG #closed :let me in"),
        [":groupchatd 404 alice #closed :Cannot send to channel"]
    );
    assert_eq!(
        ask(&mut alice, "PRIVMSG n1,n2,n3,n4,n5 :hello?"),
        [
            ":groupchatd 401 alice n1 :No such nick/channel",
            ":groupchatd 401 alice n2 :No such nick/channel",
            ":groupchatd 401 alice n3 :No such nick/channel",
            ":groupchatd 401 alice n4 :No such nick/channel",
            ":groupchatd 407 alice n5 :Too many recipients. Only 4 processed",
        ]
    );

    // NOTICE never gets an error back.
    for notice in [
        "NOTICE",
        "NOTICE bob",
        "NOTICE nobody :x",
        "NOTICE #nowhere :x",
        "NOTICE #closed :x",
        "NOTICE n1,n2,n3,n4,n5 :x",
    ] {
        assert_eq!(ask(&mut alice, notice), Vec::<String>::new(), "{notice}");
    }
    assert_eq!(drain(&mut bob), Vec::<String>::new());

    // AWAY: 306, then 301 to whoever messages the away user (not for a
    // NOTICE), then 305.
    assert_eq!(
        ask(&mut bob, "AWAY :at lunch"),
        [":groupchatd 306 bob :You have been marked as being away"]
    );
    assert_eq!(
        ask(&mut alice, "PRIVMSG bob :there?"),
        [":groupchatd 301 alice bob :at lunch"]
    );
    assert_eq!(ask(&mut alice, "NOTICE bob :fyi"), Vec::<String>::new());
    assert_eq!(
        drain(&mut bob),
        [
            ":alice!alice@127.0.0.1 PRIVMSG bob :there?",
            ":alice!alice@127.0.0.1 NOTICE bob :fyi",
        ]
    );
    assert_eq!(
        ask(&mut bob, "AWAY"),
        [":groupchatd 305 bob :You are no longer marked as being away"]
    );
    assert_eq!(ask(&mut alice, "PRIVMSG bob :back?"), Vec::<String>::new());
}

#[test]
fn user_queries_and_their_replies() {
    let daemon = Daemon::start(CONFIG);
    let mut alice = register(&daemon, "alice");
    let mut bob = register(&daemon, "bob");
    let mut carol = register(&daemon, "carol");
    ask(&mut alice, "JOIN #side");
    ask(&mut bob, "JOIN #side");
    ask(&mut bob, "AWAY :busy");
    drain(&mut alice);

    // WHO: a 352 per member (H or G, then the prefix), then 315.
    assert_eq!(
        ask(&mut alice, "WHO #side"),
        [
            ":groupchatd 352 alice #side alice 127.0.0.1 groupchatd alice H@ :0 alice's real name",
            ":groupchatd 352 alice #side bob 127.0.0.1 groupchatd bob G :0 bob's real name",
            ":groupchatd 315 alice #side :End of /WHO list",
        ]
    );
    assert_eq!(
        ask(&mut alice, "WHO bob"),
        [
            ":groupchatd 352 alice * bob 127.0.0.1 groupchatd bob G :0 bob's real name",
            ":groupchatd 315 alice bob :End of /WHO list",
        ]
    );
    assert_eq!(
        ask(&mut alice, "WHO nobody"),
        [":groupchatd 315 alice nobody :End of /WHO list"]
    );
    assert_eq!(
        ask(&mut alice, "WHO #side o"),
        [":groupchatd 315 alice #side :End of /WHO list"]
    );
    // +i hides a user from the WHO and NAMES of those outside the channel.
    ask(&mut alice, "MODE alice +i");
    assert_eq!(
        ask(&mut carol, "WHO #side"),
        [
            ":groupchatd 352 carol #side bob 127.0.0.1 groupchatd bob G :0 bob's real name",
            ":groupchatd 315 carol #side :End of /WHO list",
        ]
    );
    assert_eq!(
        ask(&mut carol, "NAMES #side"),
        [
            ":groupchatd 353 carol = #side :bob",
            ":groupchatd 366 carol #side :End of /NAMES list",
        ]
    );

    // WHOIS: 311, 319, 312, 301, 317, 318.
    let whois = ask(&mut alice, "WHOIS bob");
    assert_eq!(
        whois[..4],
        [
            ":groupchatd 311 alice bob bob 127.0.0.1 * :bob's real name",
            ":groupchatd 319 alice bob :#lobby #side",
            ":groupchatd 312 alice bob groupchatd :groupchatd",
            ":groupchatd 301 alice bob :busy",
        ]
    );
    let idle = whois[4]
        .strip_prefix(":groupchatd 317 alice bob ")
        .and_then(|rest| rest.strip_suffix(" :seconds idle, signon time"))
        .unwrap_or_else(|| panic!("{whois:#?}"));
    let numbers: Vec<u64> = idle
        .split(' ')
        .map(|n| n.parse().expect("a number"))
        .collect();
    assert_eq!(numbers.len(), 2, "{idle}");
    assert_eq!(
        whois[5..],
        [":groupchatd 318 alice bob :End of /WHOIS list"]
    );
    assert_eq!(
        ask(&mut bob, "WHOIS alice")[1],
        ":groupchatd 319 bob alice :#lobby @#side"
    );
    // `WHOIS <server> <nick>` with this server: the same answer.
    let via_server = ask(&mut alice, "WHOIS groupchatd bob");
    assert_eq!(via_server.len(), whois.len(), "{via_server:#?}");
    assert_eq!(via_server[..4], whois[..4]);
    assert_eq!(via_server[5..], whois[5..]);
    assert_eq!(
        ask(&mut alice, "WHOIS irc.elsewhere.org bob"),
        [":groupchatd 402 alice irc.elsewhere.org :No such server"]
    );
    assert_eq!(
        ask(&mut alice, "WHOIS nobody"),
        [
            ":groupchatd 401 alice nobody :No such nick/channel",
            ":groupchatd 318 alice nobody :End of /WHOIS list",
        ]
    );
    assert_eq!(
        ask(&mut alice, "WHOIS"),
        [":groupchatd 431 alice :No nickname given"]
    );

    // USERHOST (`-` for away) and ISON.
    assert_eq!(
        ask(&mut alice, "USERHOST bob alice nobody"),
        [":groupchatd 302 alice :bob=-bob@127.0.0.1 alice=+alice@127.0.0.1"]
    );
    assert_eq!(
        ask(&mut alice, "USERHOST nobody"),
        [":groupchatd 302 alice :"]
    );
    assert_eq!(
        ask(&mut alice, "USERHOST"),
        [":groupchatd 461 alice USERHOST :Not enough parameters"]
    );
    assert_eq!(
        ask(&mut alice, "ISON bob nobody alice"),
        [":groupchatd 303 alice :bob alice"]
    );
    assert_eq!(
        ask(&mut alice, "ISON :BOB nobody"),
        [":groupchatd 303 alice :bob"]
    );
    assert_eq!(
        ask(&mut alice, "ISON"),
        [":groupchatd 461 alice ISON :Not enough parameters"]
    );

    // WHOWAS: 314 and 312 for each time the nick left, 406 for none, 369.
    carol.send("QUIT");
    carol.read_to_close();
    assert_eq!(
        drain(&mut alice),
        [":carol!carol@127.0.0.1 QUIT :Client Quit"]
    );
    let whowas = ask(&mut alice, "WHOWAS carol");
    assert_eq!(
        whowas[0],
        ":groupchatd 314 alice carol carol 127.0.0.1 * :carol's real name"
    );
    assert!(
        whowas[1].starts_with(":groupchatd 312 alice carol groupchatd :"),
        "{whowas:#?}"
    );
    assert_eq!(whowas[2..], [":groupchatd 369 alice carol :End of WHOWAS"]);
    assert_eq!(ask(&mut alice, "WHOWAS carol 1").len(), 3);
    assert_eq!(
        ask(&mut alice, "WHOWAS nobody"),
        [
            ":groupchatd 406 alice nobody :There was no such nickname",
            ":groupchatd 369 alice nobody :End of WHOWAS",
        ]
    );
    assert_eq!(
        ask(&mut alice, "WHOWAS"),
        [":groupchatd 431 alice :No nickname given"]
    );
}

#[test]
fn server_queries_and_their_replies() {
    let dir = TempDir::new();
    let motd = dir.path.join("motd.txt");
    std::fs::write(&motd, "first line\nsecond line\n").expect("write the motd");
    let daemon = Daemon::start(&format!(
        "{CONFIG}[server]\nmotd_file = {:?}\nadmin_location = \"Room 101\"\nadmin_email = \"root@example.org\"\n",
        motd.to_string_lossy()
    ));
    let mut alice = register(&daemon, "alice");
    let mut bob = register(&daemon, "bob");
    ask(&mut bob, "MODE bob +i");
    // One connection that has not registered.
    let mut pending = daemon.connect();
    drain(&mut pending);
    drain(&mut alice);

    let motd = [
        ":groupchatd 375 alice :- groupchatd Message of the day - ",
        ":groupchatd 372 alice :- first line",
        ":groupchatd 372 alice :- second line",
        ":groupchatd 376 alice :End of /MOTD command.",
    ];
    assert_eq!(ask(&mut alice, "MOTD"), motd);
    assert_eq!(ask(&mut alice, "MOTD groupchatd"), motd);

    let version = ask(&mut alice, "VERSION");
    assert_eq!(
        version[0],
        format!(":groupchatd 351 alice {VERSION} groupchatd :a small, fast group-chat server")
    );
    assert!(version.len() > 1, "{version:#?}");
    for line in &version[1..] {
        assert!(
            line.starts_with(":groupchatd 005 alice ")
                && line.ends_with(" :are supported by this server"),
            "{line}"
        );
    }
    assert!(version.iter().any(|l| l.contains(" NETWORK=groupchat ")));
    // A nick names that user's server: this one.
    assert_eq!(ask(&mut alice, "VERSION bob"), version);

    assert_eq!(
        ask(&mut alice, "ADMIN"),
        [
            ":groupchatd 256 alice groupchatd :Administrative info",
            ":groupchatd 257 alice :Room 101",
            &format!(":groupchatd 258 alice :{VERSION} on the groupchat network"),
            ":groupchatd 259 alice :root@example.org",
        ]
    );

    let time = ask(&mut alice, "TIME groupchat*");
    assert_eq!(time.len(), 1, "{time:?}");
    let (stamp, human) = time[0]
        .strip_prefix(":groupchatd 391 alice groupchatd ")
        .and_then(|rest| rest.split_once(" :"))
        .unwrap_or_else(|| panic!("{time:?}"));
    stamp.parse::<u64>().expect("a timestamp");
    assert!(!human.is_empty());

    let info = ask(&mut alice, "INFO");
    assert_eq!(
        info[..3],
        [
            format!(":groupchatd 371 alice :{VERSION}"),
            ":groupchatd 371 alice :A small, fast group-chat server speaking the IRC client protocol."
                .to_string(),
            ":groupchatd 371 alice :License: MIT OR Apache-2.0".to_string(),
        ]
    );
    assert!(info[3].starts_with(":groupchatd 371 alice :Started "));
    assert_eq!(info[4..], [":groupchatd 374 alice :End of INFO list"]);

    // LUSERS: 252 is left out while there are no operators.
    assert_eq!(
        ask(&mut alice, "LUSERS"),
        [
            ":groupchatd 251 alice :There are 1 users and 1 invisible on 1 servers",
            ":groupchatd 253 alice 1 :unknown connection(s)",
            ":groupchatd 254 alice 1 :channels formed",
            ":groupchatd 255 alice :I have 2 clients and 0 servers",
            ":groupchatd 265 alice 2 2 :Current local users 2, max 2",
            ":groupchatd 266 alice 2 2 :Current global users 2, max 2",
        ]
    );

    // A server that is not there: 402, and nothing else.
    for query in ["MOTD", "VERSION", "ADMIN", "TIME", "INFO"] {
        assert_eq!(
            ask(&mut alice, &format!("{query} irc.elsewhere.org")),
            [":groupchatd 402 alice irc.elsewhere.org :No such server"],
            "{query}"
        );
    }

    // Without a motd file: 422.
    let bare = Daemon::start(CONFIG);
    let mut carol = register(&bare, "carol");
    assert_eq!(
        ask(&mut carol, "MOTD"),
        [":groupchatd 422 carol :MOTD File is missing"]
    );
}

const OPER_PASSWORD: &str = "0per-pa55word";

/// A daemon with an operator `root`, its hash cheap and made here.
fn oper_daemon() -> Daemon {
    let hash = groupchatd::accounts::Hashing {
        memory_kib: 8,
        passes: 1,
    }
    .hash(&groupchatd::accounts::Secret::new(OPER_PASSWORD.into()))
    .expect("hash");
    Daemon::start(&format!(
        "{CONFIG}\n[[operators]]\nname = \"root\"\npassword_hash = \"{hash}\"\n"
    ))
}

#[test]
fn operator_commands_and_their_replies() {
    let daemon = oper_daemon();
    let mut alice = register(&daemon, "alice");
    let mut bob = register(&daemon, "bob");
    let mut carol = register(&daemon, "carol");
    drain(&mut alice);
    drain(&mut bob);

    // Not an operator: 481 for each operator command, parameters or not.
    for command in [
        "KILL alice :go",
        "KILL",
        "WALLOPS :hear ye",
        "KLINE alice!*@* :no",
        "UNKLINE alice!*@*",
    ] {
        assert_eq!(
            ask(&mut carol, command),
            [":groupchatd 481 carol :Permission Denied- You're not an IRC operator"],
            "{command}"
        );
    }

    // OPER: 461, 491 for an unknown name, 464 for a wrong password (the
    // check is done by another thread, so the answer is waited for).
    assert_eq!(
        ask(&mut bob, "OPER"),
        [":groupchatd 461 bob OPER :Not enough parameters"]
    );
    assert_eq!(
        ask(&mut bob, "OPER root"),
        [":groupchatd 461 bob OPER :Not enough parameters"]
    );
    assert_eq!(
        ask(&mut bob, "OPER nobody whatever"),
        [":groupchatd 491 bob :No O-lines for your host"]
    );
    bob.send("OPER root wrong-password");
    assert_eq!(
        bob.expect(" 464 "),
        ":groupchatd 464 bob :Password incorrect"
    );
    bob.send(&format!("OPER root {OPER_PASSWORD}"));
    assert_eq!(
        bob.collect_until(" MODE bob "),
        [
            ":groupchatd 381 bob :You are now an IRC operator",
            ":bob!bob@127.0.0.1 MODE bob :+o",
        ]
    );
    drain(&mut bob);

    // An operator shows as one: 313, `*` in USERHOST and WHO, 252.
    assert!(
        ask(&mut carol, "WHOIS bob")
            .contains(&":groupchatd 313 carol bob :is an IRC operator".to_string())
    );
    assert_eq!(
        ask(&mut carol, "USERHOST bob"),
        [":groupchatd 302 carol :bob*=+bob@127.0.0.1"]
    );
    assert_eq!(
        ask(&mut carol, "WHO bob o"),
        [
            ":groupchatd 352 carol * bob 127.0.0.1 groupchatd bob H* :0 bob's real name",
            ":groupchatd 315 carol bob :End of /WHO list",
        ]
    );
    assert!(
        ask(&mut carol, "LUSERS").contains(&":groupchatd 252 carol 1 :operator(s) online".into())
    );
    assert_eq!(
        ask(&mut carol, "MODE bob"),
        [":groupchatd 502 carol :Cant change mode for other users"]
    );

    // The operator's commands: 461 without parameters, 401 for nobody.
    for command in ["KILL", "WALLOPS", "KLINE", "UNKLINE"] {
        assert_eq!(
            ask(&mut bob, command),
            [format!(
                ":groupchatd 461 bob {command} :Not enough parameters"
            )],
            "{command}"
        );
    }
    assert_eq!(
        ask(&mut bob, "KILL nobody :x"),
        [":groupchatd 401 bob nobody :No such nick/channel"]
    );

    // WALLOPS reaches the users with +w, and only them (the sender has none).
    ask(&mut alice, "MODE alice +w");
    let wallops = ":bob!bob@127.0.0.1 WALLOPS :hear ye";
    assert_eq!(ask(&mut bob, "WALLOPS :hear ye"), Vec::<String>::new());
    assert_eq!(drain(&mut alice), [wallops]);
    assert_eq!(drain(&mut carol), Vec::<String>::new());

    // KLINE drops who it matches: 465, then ERROR; the others see a QUIT.
    assert_eq!(
        ask(&mut bob, "KLINE carol!*@* :be nice"),
        [
            ":carol!carol@127.0.0.1 QUIT :K-lined: be nice",
            ":groupchatd NOTICE bob :K-line added on carol!*@*: 1 client(s) dropped",
        ]
    );
    assert_eq!(
        carol.read_to_close(),
        [
            ":groupchatd 465 carol :You are banned from this server: be nice",
            "ERROR :Closing Link: 127.0.0.1 (K-lined: be nice)",
        ]
    );
    assert_eq!(
        drain(&mut alice),
        [":carol!carol@127.0.0.1 QUIT :K-lined: be nice"]
    );
    assert_eq!(
        ask(&mut bob, "UNKLINE carol!*@*"),
        [":groupchatd NOTICE bob :K-line on carol!*@* removed"]
    );

    // KILL: the victim gets the KILL from the operator, then ERROR.
    assert_eq!(
        ask(&mut bob, "KILL alice :enough"),
        [":alice!alice@127.0.0.1 QUIT :Killed (bob (enough))"]
    );
    assert_eq!(
        alice.read_to_close(),
        [
            ":bob!bob@127.0.0.1 KILL alice :enough",
            "ERROR :Closing Link: 127.0.0.1 (Killed (bob (enough)))",
        ]
    );

    // MODE -o: no longer an operator.
    assert_eq!(
        ask(&mut bob, "MODE bob -o"),
        [":bob!bob@127.0.0.1 MODE bob :-o"]
    );
    assert_eq!(
        ask(&mut bob, "WALLOPS :again"),
        [":groupchatd 481 bob :Permission Denied- You're not an IRC operator"]
    );
}

#[test]
fn errors_unknown_unregistered_missing_parameters_reregistering() {
    let daemon = Daemon::start(CONFIG);
    let mut c = daemon.connect();

    // 451 for every command that needs registration, and for unknown ones.
    for command in [
        "JOIN #a",
        "PART #a",
        "TOPIC #a",
        "NAMES",
        "LIST",
        "INVITE a #a",
        "KICK #a a",
        "MODE a",
        "PRIVMSG a :x",
        "NOTICE a :x",
        "WHO a",
        "WHOIS a",
        "WHOWAS a",
        "USERHOST a",
        "ISON a",
        "AWAY",
        "MOTD",
        "VERSION",
        "ADMIN",
        "TIME",
        "INFO",
        "LUSERS",
        "OPER a b",
        "KILL a",
        "WALLOPS :x",
        "KLINE a",
        "UNKLINE a",
        "FROB",
    ] {
        assert_eq!(
            ask(&mut c, command),
            [":groupchatd 451 * :You have not registered"],
            "{command}"
        );
    }
    c.register("alice");
    drain(&mut c);

    // 421, with the command as it was sent.
    assert_eq!(
        ask(&mut c, "FROB a b"),
        [":groupchatd 421 alice FROB :Unknown command"]
    );
    assert_eq!(
        ask(&mut c, "frob"),
        [":groupchatd 421 alice frob :Unknown command"]
    );

    // 461 for each command that takes parameters and got too few.
    for command in [
        "PASS",
        "USER alice 0 *",
        "JOIN",
        "PART",
        "TOPIC",
        "KICK",
        "KICK #lobby",
        "INVITE alice",
        "MODE",
        "USERHOST",
        "ISON",
        "OPER",
    ] {
        let name = command.split(' ').next().expect("a command");
        assert_eq!(
            ask(&mut c, command),
            [format!(
                ":groupchatd 461 alice {name} :Not enough parameters"
            )],
            "{command}"
        );
    }
    // The commands whose missing parameter has its own numeric.
    assert_eq!(
        ask(&mut c, "NICK"),
        [":groupchatd 431 alice :No nickname given"]
    );
    assert_eq!(
        ask(&mut c, "WHOIS"),
        [":groupchatd 431 alice :No nickname given"]
    );
    assert_eq!(
        ask(&mut c, "WHOWAS"),
        [":groupchatd 431 alice :No nickname given"]
    );
    assert_eq!(
        ask(&mut c, "PRIVMSG"),
        [":groupchatd 411 alice :No recipient given (PRIVMSG)"]
    );
    assert_eq!(
        ask(&mut c, "PING"),
        [":groupchatd 409 alice :No origin specified"]
    );

    // 462: no second registration.
    for command in ["USER alice 0 * :Alice", "PASS secret"] {
        assert_eq!(
            ask(&mut c, command),
            [":groupchatd 462 alice :You may not reregister"],
            "{command}"
        );
    }

    // 417: a line over 512 bytes is refused whole.
    let long = format!("PRIVMSG #lobby :{}", "x".repeat(600));
    assert_eq!(
        ask(&mut c, &long),
        [":groupchatd 417 alice :Input line was too long"]
    );
}
