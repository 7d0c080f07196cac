//! Server operators over real sockets: a hash made by `groupchatctl
//! hash-password` in `[[operators]]`, OPER right, wrong and unknown, KILL
//! by an oper and refused to others, the count of failures in status; and
//! `server.lobby_operators`: the lobby's operator by account, and nobody
//! else gaining +o.

mod common;

use common::{Client, Daemon, NO_FLOOD_CONTROL};

/// Cheap hashes for accounts, so that tests do not spend their time in
/// Argon2 (an operator's hash keeps the cost it was made with).
const CHEAP: &str = "[accounts]\nhash_memory_kib = 8\nhash_passes = 1\n";

const OPER_PASSWORD: &str = "0per-pa55word";

/// `groupchatctl <args>` with `input` on standard input; it must succeed.
fn ctl_with_input(socket: Option<&std::path::Path>, args: &[&str], input: &str) -> String {
    let out = common::ctl_with_input(socket, args, input);
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn oper_daemon() -> Daemon {
    let hash = ctl_with_input(None, &["hash-password"], OPER_PASSWORD);
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(OPER_PASSWORD));
    Daemon::start(&format!(
        "{NO_FLOOD_CONTROL}{CHEAP}\n[[operators]]\nname = \"root\"\npassword_hash = \"{hash}\"\n"
    ))
}

#[test]
fn oper_with_a_hash_from_hash_password_then_kill() {
    let daemon = oper_daemon();
    let mut bob = daemon.register("bob");
    let mut carol = daemon.register("carol");
    bob.send("OPER nobody whatever");
    bob.expect(" 491 bob ");
    bob.send("OPER root wrong-password");
    bob.expect(" 464 bob :Password incorrect");
    carol.send("KILL bob :no");
    carol.expect(" 481 carol ");
    bob.send(&format!("OPER root {OPER_PASSWORD}"));
    bob.expect(" 381 bob :You are now an IRC operator");
    bob.expect("MODE bob :+o");
    carol.send("WHOIS bob");
    carol.expect(" 313 carol bob :is an IRC operator");
    bob.send("KILL carol :bye now");
    let last = carol.read_to_close();
    assert!(
        last.iter()
            .any(|l| l.starts_with("ERROR :Closing Link: ") && l.contains("Killed (bob (bye now))")),
        "{last:?}"
    );
    let status = daemon.wait_status(|s| s["accounts"]["oper_failures"] == 1);
    assert_eq!(status["disconnects"]["killed"], 1, "{status}");
    let logged = daemon.log.lock().expect("log").join("\n");
    assert!(logged.contains("failed OPER as \"root\""), "{logged}");
    assert!(!logged.contains("wrong-password") && !logged.contains(OPER_PASSWORD));
}

#[test]
fn the_lobby_operator_gets_op_and_nobody_else_gains_it() {
    let daemon = Daemon::start(&format!(
        "{NO_FLOOD_CONTROL}{CHEAP}[server]\nlobby_operators = [\"teacher\"]\n"
    ));
    ctl_with_input(
        Some(&daemon.admin_socket),
        &["account", "add", "teacher"],
        "teacher-password",
    );
    let mut student = daemon.register("student");
    let mut teacher = Client::connect(daemon.addr);
    teacher.send("CAP REQ :sasl");
    teacher.send("NICK teacher");
    teacher.send("USER teacher 0 * :Teacher");
    teacher.send("AUTHENTICATE PLAIN");
    teacher.expect("AUTHENTICATE +");
    let plain = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "\0teacher\0teacher-password",
    );
    teacher.send(&format!("AUTHENTICATE {plain}"));
    teacher.send("CAP END");
    teacher.expect(":groupchatd MODE #lobby +o :teacher");
    student.expect(":groupchatd MODE #lobby +o :teacher");
    teacher.send("MODE #lobby +m");
    student.expect("MODE #lobby :+m");
    student.send("MODE student +o");
    student.send("MODE #lobby +o student");
    student.expect(" 482 student #lobby ");
    student.send("MODE student");
    assert_eq!(
        student.expect(" 221 student "),
        ":groupchatd 221 student :+"
    );
}
