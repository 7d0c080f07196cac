//! The command line of `groupchat`, kept apart so packaging can build its
//! man page and completions from the same definition (see build.rs).

use std::path::PathBuf;

use clap::{Parser, ValueHint};

/// Chat in a group from the terminal.
///
/// An empty line, /quit or Ctrl-D leaves. When standard input is not a
/// terminal, each input line is sent to the current channel (commands work
/// too) and incoming lines are printed plainly; the client leaves at the end
/// of input.
///
/// With --account the client logs in (SASL PLAIN) before joining; if the
/// login fails it says why and exits with status 1 rather than carry on as a
/// guest.
#[derive(Parser)]
#[command(name = "groupchat", version)]
pub struct Args {
    /// Server to join: HOST[:PORT], irc://HOST[:PORT] (plain) or
    /// ircs://HOST[:PORT] (TLS). The port is 6667 when left out, 6697 with
    /// TLS; port 6697 means TLS.
    #[arg(default_value = "127.0.0.1", value_name = "SERVER")]
    pub server: String,
    /// Connect over TLS, verifying the server's certificate against the
    /// system's trusted root certificates (or --ca). A server that fails
    /// verification is refused: there is no fallback to plaintext.
    #[arg(long)]
    pub tls: bool,
    /// Trust the certificates in this PEM file instead of the system's, e.g.
    /// a self-signed server's own certificate. Implies --tls.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath)]
    pub ca: Option<PathBuf>,
    /// Your nickname; the account name with --account, else asked for when
    /// left out (read as the first input line when standard input is not a
    /// terminal).
    #[arg(long)]
    pub nick: Option<String>,
    /// Log in to this account (SASL PLAIN) on every connection. The
    /// password comes from --password-file, else it is asked for on the
    /// terminal without echo, else it is the first line of standard input.
    /// A failed login ends the client with a non-zero status.
    #[arg(long, value_name = "NAME")]
    pub account: Option<String>,
    /// Read the account's password from the first line of this file; never
    /// give a password on the command line, where others can see it.
    #[arg(long, value_name = "FILE", value_hint = ValueHint::FilePath, requires = "account")]
    pub password_file: Option<PathBuf>,
    /// Also join this channel and talk there, instead of only the server's
    /// default channel.
    #[arg(long, value_name = "#NAME")]
    pub channel: Option<String>,
    /// Exit when the connection drops instead of reconnecting.
    #[arg(long)]
    pub no_reconnect: bool,
}
