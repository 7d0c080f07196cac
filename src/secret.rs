//! Reading a password the way the command-line tools (groupchatctl and the
//! groupchat client) all do: never from the command line, where other users
//! could read it in the process list and it would stay in shell history,
//! but from the first line of a file, or asked for on the terminal without
//! echo, or else the first line of standard input (for scripts).

use std::io::{self, BufRead, IsTerminal};
use std::path::Path;

/// The password from `file` ("-" meaning standard input), or standard
/// input: its first line, without the line ending. On a terminal it is
/// asked for without echo, twice when `confirm` (a new password, where a
/// typo would lock its owner out).
pub fn read(file: Option<&Path>, confirm: bool) -> Result<String, String> {
    let line = match file {
        Some(path) if path != Path::new("-") => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read the password from {}: {e}", path.display()))?;
            text.lines().next().unwrap_or_default().to_string()
        }
        _ if io::stdin().is_terminal() => {
            let first = ask_hidden("Password: ")?;
            if confirm && ask_hidden("Again: ")? != first {
                return Err("the two passwords differ".into());
            }
            first
        }
        _ => {
            let mut line = String::new();
            io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    if line.is_empty() {
        return Err("the password is empty".into());
    }
    Ok(line)
}

/// Asks on the terminal with echo off, restoring it after.
fn ask_hidden(prompt: &str) -> Result<String, String> {
    use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
    let stdin = io::stdin();
    let saved =
        tcgetattr(&stdin).map_err(|e| format!("cannot read the terminal's settings: {e}"))?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    tcsetattr(&stdin, SetArg::TCSANOW, &quiet)
        .map_err(|e| format!("cannot turn the terminal's echo off: {e}"))?;
    eprint!("{prompt}");
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(&stdin, SetArg::TCSANOW, &saved);
    eprintln!();
    read.map_err(|e| format!("cannot read the password: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
