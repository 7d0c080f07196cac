//! Channel operators over real sockets: who is op, modes that keep people
//! out or quiet, bans, INVITE and KICK, as clients see them on the wire.

mod common;

use common::{Daemon, NO_FLOOD_CONTROL};

#[test]
fn the_maker_of_a_channel_runs_it_and_the_lobby_has_no_operators() {
    let daemon = Daemon::start(NO_FLOOD_CONTROL);
    let mut alice = daemon.connect();
    alice.send("CAP LS 302");
    alice.send("CAP REQ :multi-prefix invite-notify");
    alice.send("CAP END");
    alice.send("NICK alice\r\nUSER alice 0 * :Alice");
    let burst = alice.collect_until(" 366 ");
    let isupport = burst
        .iter()
        .filter(|l| l.contains(" 005 "))
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    for token in [
        "PREFIX=(ov)@+",
        "CHANMODES=be,k,l,imnt",
        "MODES=4",
        "EXCEPTS=e",
    ] {
        assert!(isupport.contains(token), "{token} in {isupport}");
    }
    assert!(
        burst
            .iter()
            .any(|l| l.ends_with(" 353 alice = #lobby :alice"))
    );

    alice.send("JOIN #ops");
    alice.expect(" 353 alice = #ops :@alice");
    let mut bob = daemon.register("bob");
    bob.send("JOIN #ops");
    bob.expect(" 353 bob = #ops :@alice bob");

    alice.send("MODE #ops +v bob");
    let voiced = ":alice!alice@127.0.0.1 MODE #ops +v :bob";
    alice.expect(voiced);
    bob.expect(voiced);
    bob.send("MODE #ops +m");
    bob.expect(" 482 bob #ops :You're not channel operator");
    bob.send("TOPIC #ops :bob was here");
    bob.expect(" 482 bob #ops ");
    alice.send("MODE #ops +o bob");
    alice.send("NAMES #ops");
    alice.expect(" 353 alice = #ops :@alice @+bob");
}

#[test]
fn invite_only_keyed_and_banned_channels_keep_people_out() {
    let daemon = Daemon::start(NO_FLOOD_CONTROL);
    let mut alice = daemon.register("alice");
    let mut bob = daemon.register("bob");
    let mut carol = daemon.register("carol");
    alice.send("JOIN #den");
    alice.expect(" 366 ");
    alice.send("MODE #den +ik sesame");
    alice.expect("MODE #den +ik :sesame");

    bob.send("JOIN #den sesame");
    bob.expect(" 473 bob #den :Cannot join channel (+i)");
    alice.send("INVITE bob #den");
    alice.expect(" 341 alice bob :#den");
    bob.expect(":alice!alice@127.0.0.1 INVITE bob :#den");
    bob.send("JOIN #den");
    bob.expect(" 475 bob #den :Cannot join channel (+k)");
    bob.send("JOIN #den sesame");
    bob.expect(" 366 bob #den ");

    alice.send("MODE #den -i+b carol");
    alice.expect("MODE #den -i+b :carol!*@*");
    carol.send("JOIN #den sesame");
    carol.expect(" 474 carol #den :Cannot join channel (+b)");
    alice.send("MODE #den b");
    alice.expect(" 367 alice #den carol!*@* alice!alice@127.0.0.1 ");
    alice.expect(" 368 alice #den :End of channel ban list");
}

#[test]
fn banned_members_are_silent_and_kicked_members_are_out() {
    let daemon = Daemon::start(NO_FLOOD_CONTROL);
    let mut alice = daemon.register("alice");
    let mut bob = daemon.register("bob");
    let mut carol = daemon.register("carol");
    alice.send("JOIN #room");
    alice.expect(" 366 ");
    for client in [&mut bob, &mut carol] {
        client.send("JOIN #room");
        client.expect(" 366 ");
    }
    alice.send("MODE #room +b bob");
    carol.expect("MODE #room +b :bob!*@*");
    bob.send("PRIVMSG #room :can anyone hear me");
    bob.expect(" 404 bob #room :Cannot send to channel");
    bob.send("NICK robert");
    bob.expect(" 435 bob robert #room :");

    alice.send("KICK #room bob :behave");
    let kick = ":alice!alice@127.0.0.1 KICK #room bob :behave";
    alice.expect(kick);
    bob.expect(kick);
    carol.expect(kick);
    // Out of the channel, bob's nick is free to change.
    bob.send("NICK robert");
    bob.expect(":bob!bob@127.0.0.1 NICK :robert");
    carol.send("PRIVMSG #room :bob is gone");
    alice.expect("PRIVMSG #room :bob is gone");
}

#[test]
fn whowas_and_the_server_commands_answer() {
    let daemon = Daemon::start(NO_FLOOD_CONTROL);
    let mut alice = daemon.register("alice");
    let mut bob = daemon.register("bob");
    bob.send("QUIT :bye");
    alice.expect(" QUIT :Quit: bye");
    alice.send("WHOWAS bob");
    alice.expect(" 314 alice bob bob 127.0.0.1 * :bob's real name");
    alice.expect(" 369 alice bob :End of WHOWAS");
    alice.send("TIME");
    alice.expect(" 391 alice ");
    alice.send("VERSION");
    alice.expect(" 351 alice groupchatd-");
    alice.expect(" 005 alice ");
    alice.send("ADMIN");
    alice.expect(" 259 alice :");
    alice.send("INFO");
    alice.expect(" 374 alice :End of INFO list");
}

#[test]
fn an_empty_default_channel_turns_auto_join_off() {
    let daemon = Daemon::start("[server]\ndefault_channel = \"\"\n");
    let mut alice = daemon.connect();
    alice.send("NICK alice\r\nUSER alice 0 * :Alice");
    let burst = alice.collect_until(" 422 ");
    assert!(!burst.iter().any(|l| l.contains(" JOIN ")), "{burst:#?}");
    alice.send("LIST");
    let list = alice.collect_until(" 323 ");
    assert_eq!(list.len(), 2, "no channels: {list:#?}");
}

#[test]
fn utf8_nicks_and_channels_over_the_wire() {
    let daemon = Daemon::start(NO_FLOOD_CONTROL);
    let mut joao = daemon.register("João");
    let mut other = daemon.connect();
    other.send("NICK joão");
    other.expect(" 433 * joão :Nickname is already in use");
    // Invalid UTF-8 is no nick.
    other.send_raw(b"NICK Jo\xe3o\r\n");
    other.expect(" 432 * Jo\u{fffd}o :Erroneous nickname");
    let _cop = daemon.register("cop");
    // `cop` in Cyrillic letters.
    other.send("NICK \u{441}\u{43e}\u{440}");
    other.expect(" 433 * \u{441}\u{43e}\u{440} :Nickname looks like cop, which is in use");
    // `paypal` with a Cyrillic `а`: refused whatever is in use.
    other.send("NICK p\u{430}ypal");
    other.expect(" 432 * p\u{430}ypal :Erroneous nickname: it mixes letters of scripts");
    other.send("NICK Zoë\r\nUSER zoe 0 * :Zoë");
    other.expect(" 366 Zoë #lobby ");
    let mut zoe = other;

    zoe.send("PRIVMSG joão :olá, tudo bem?");
    joao.expect(":Zoë!zoe@127.0.0.1 PRIVMSG João :olá, tudo bem?");
    joao.send("PRIVMSG ZOË :tudo");
    zoe.expect(":João!Joo@127.0.0.1 PRIVMSG Zoë :tudo");

    joao.send("JOIN #Café");
    joao.expect(" 366 João #Café ");
    zoe.send("JOIN #CAFÉ");
    zoe.expect(" 353 Zoë = #Café :@João Zoë");
    zoe.send("PRIVMSG #café :oi");
    joao.expect(":Zoë!zoe@127.0.0.1 PRIVMSG #Café :oi");
}
