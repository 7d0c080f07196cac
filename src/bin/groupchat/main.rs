//! groupchat: the terminal client for groupchatd (or any IRC server).
//!
//! Start it, type your name, chat; an empty line leaves. Three threads keep
//! it simple without an event library: one reads the person's lines, one per
//! connection reads the server's, and the main thread owns all state and acts
//! on their events in order.

mod caps;
mod cli;
mod command;
mod irc;
mod members;
mod playback;
mod render;
mod sasl;
mod server;
mod session;
mod terminal;
mod transport;

use std::io::{self, BufRead, BufReader, ErrorKind, IsTerminal, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::cli::Args;
use crate::render::{Shown, Style};
use crate::server::Server;
use crate::session::{Effect, Session};
use crate::terminal::{Input, Prompt, Screen};
use crate::transport::Dialer;

/// Longer lines than any server sends are cut here, so a broken server cannot
/// make the client buffer without bound.
const MAX_LINE: u64 = 16 * 1024;
/// How long to wait for a channel JOIN after registering before letting the
/// person type anyway (a server that does not auto-join).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long to wait, after QUIT, for the server to close the connection.
const QUIT_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection silent this long gets a PING; silent twice as long, it is
/// taken for dead (a vanished peer sends no close).
const IDLE: Duration = Duration::from_secs(90);
/// How many times a reconnect appends "_" to a nickname still held by the
/// server; the cap ends the loop when the nick is refused for its length.
const MAX_RENAMES: u8 = 3;
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Everything the main thread waits for.
enum Event {
    Person(Input),
    /// A line from connection number `.0`.
    Server(u64, String),
    /// Connection number `.0` has been silent for [`IDLE`].
    Idle(u64),
    /// Connection number `.0` closed, for the reason given.
    Closed(u64, String),
}

enum Timer {
    Settle,
    Reconnect,
    Quit,
}

struct Connection {
    id: u64,
    writer: Box<dyn Write + Send>,
    /// To shut the connection down when a write fails, which wakes the
    /// reader thread.
    socket: TcpStream,
}

struct Client {
    /// Plain or TLS, the same on every reconnect.
    dialer: Dialer,
    interactive: bool,
    reconnect: bool,
    session: Session,
    screen: Screen,
    events: Receiver<Event>,
    /// Restored when leaving, whatever state the line editor left it in.
    saved: terminal::SavedTerminal,
    /// Handed to each connection's reader thread.
    event_tx: Sender<Event>,
    prompts: Sender<Prompt>,
    /// Whether the input thread holds a prompt, so at most one is out.
    prompting: bool,
    /// The next line the person enters is a nickname.
    asking_nick: bool,
    conn: Option<Connection>,
    connections: u64,
    timer: Option<(Instant, Timer)>,
    backoff: Duration,
    /// Say who the person is once the first channel is joined on each
    /// connection (not after every /join).
    announce: bool,
    /// Nicknames varied automatically on this connection (see
    /// [`MAX_RENAMES`]).
    renames: u8,
    /// A script's line read just as the connection dropped, sent once back.
    held: Option<String>,
    leaving: bool,
    exit: Option<ExitCode>,
    /// Why the client gave up before it ever got connected: printed on
    /// stderr once the screen is closed, like a usage error.
    fatal: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Logging in to an account means being known by its name, unless
    // another nick is asked for.
    let nick = args.nick.as_deref().or(args.account.as_deref());
    let nick_missing = nick.is_none();
    let nick = match nick.map(command::check_nick).transpose() {
        Ok(nick) => nick.unwrap_or_default().to_string(),
        Err(e) => {
            eprintln!("groupchat: --nick: {e}");
            return ExitCode::FAILURE;
        }
    };
    let dialer = Server::parse(&args.server, args.tls || args.ca.is_some())
        .and_then(|server| Dialer::new(&server, args.ca.as_deref()));
    let dialer = match dialer {
        Ok(dialer) => dialer,
        Err(e) => {
            eprintln!("groupchat: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Before the input thread starts, which would take the password's line.
    let login = match &args.account {
        Some(account) => match groupchatd::secret::read(args.password_file.as_deref(), false) {
            Ok(password) => Some(sasl::Login::new(account.clone(), password)),
            Err(e) => {
                eprintln!("groupchat: {e}");
                return ExitCode::FAILURE;
            }
        },
        None => None,
    };
    let mut session = Session::new(nick, args.channel.as_deref().map(irc::channel_name));
    if let Some(login) = login {
        session = session.with_login(login);
    }
    // A person types (an empty line leaves, the nickname is asked for); a
    // script's input is just lines to send.
    let interactive = io::stdin().is_terminal();
    let saved = terminal::SavedTerminal::save();
    let style = Style {
        color: terminal::colors_wanted(),
    };
    let (event_tx, events) = mpsc::channel();
    let (prompts, prompt_rx) = mpsc::channel();
    let person = event_tx.clone();
    let screen = terminal::start(style, prompt_rx, move |input| {
        drop(person.send(Event::Person(input)));
    });
    let mut client = Client {
        dialer,
        interactive,
        reconnect: !args.no_reconnect,
        session,
        screen,
        events,
        saved,
        event_tx,
        prompts,
        prompting: false,
        asking_nick: nick_missing,
        conn: None,
        connections: 0,
        timer: None,
        backoff: FIRST_BACKOFF,
        announce: false,
        renames: 0,
        held: None,
        leaving: false,
        exit: None,
        fatal: None,
    };
    client.run()
}

impl Client {
    fn run(&mut self) -> ExitCode {
        if !self.asking_nick {
            self.first_connect();
        } else if self.interactive {
            self.status("Welcome! What is your name?");
        }
        let code = self.event_loop();
        self.screen.close();
        if let Some(fatal) = &self.fatal {
            eprintln!("groupchat: {fatal}");
        }
        code
    }

    fn event_loop(&mut self) -> ExitCode {
        loop {
            if let Some(code) = self.exit {
                return code;
            }
            self.offer_prompt();
            let event = match &self.timer {
                Some((at, _)) => {
                    match self
                        .events
                        .recv_timeout(at.saturating_duration_since(Instant::now()))
                    {
                        Ok(event) => event,
                        Err(RecvTimeoutError::Timeout) => {
                            self.on_timer();
                            continue;
                        }
                        Err(RecvTimeoutError::Disconnected) => return ExitCode::FAILURE,
                    }
                }
                None => match self.events.recv() {
                    Ok(event) => event,
                    Err(_) => return ExitCode::FAILURE,
                },
            };
            match event {
                Event::Person(Input::Line(line)) => {
                    self.prompting = false;
                    self.on_line(line);
                }
                Event::Person(Input::End) => self.on_input_end(),
                Event::Server(id, line) if self.is_current(id) => self.on_server(&line),
                Event::Idle(id) if self.is_current(id) => self.send("PING :keepalive"),
                Event::Closed(id, reason) if self.is_current(id) => self.on_closed(&reason),
                // Leftovers from a connection already given up.
                Event::Server(..) | Event::Idle(..) | Event::Closed(..) => {}
            }
        }
    }

    fn is_current(&self, id: u64) -> bool {
        self.conn.as_ref().is_some_and(|c| c.id == id)
    }

    fn status(&mut self, text: &str) {
        self.screen.status(&Shown::Info(text.to_string()));
    }

    /// Asks the input thread for the next line once the client can use one:
    /// a nickname when it needs one, chat once in a channel, and (on a
    /// terminal) while reconnecting, so the person can still leave.
    fn offer_prompt(&mut self) {
        if self.prompting || self.leaving {
            return;
        }
        let prompt = if self.asking_nick {
            Prompt {
                text: "Nickname: ".to_string(),
                erase: false,
            }
        } else if self.session.is_ready() || (self.interactive && self.conn.is_none()) {
            Prompt {
                text: format!("{}> ", render::clean(self.session.current().unwrap_or(""))),
                erase: true,
            }
        } else {
            return;
        };
        self.prompting = self.prompts.send(prompt).is_ok();
    }

    fn on_line(&mut self, line: String) {
        if line.contains('\n') {
            // A multi-line paste: each line is said, and blank ones are not a
            // request to leave.
            for part in line.lines().filter(|l| !l.trim().is_empty()) {
                self.on_line(part.to_string());
            }
            return;
        }
        if self.asking_nick {
            return self.on_nick(&line);
        }
        if line.trim().is_empty() {
            // The classroom way to leave; blank lines in a script are just
            // spacing.
            if self.interactive {
                self.leave();
            }
            return;
        }
        match command::parse(&line) {
            Ok(cmd)
                if self.session.is_registered()
                    || matches!(cmd, command::Command::Quit(_) | command::Command::Help) =>
            {
                let effects = self.session.on_command(cmd);
                self.apply(effects);
            }
            // A script's line waits for the reconnect; a person is told, and
            // decides whether it is still worth saying.
            Ok(_) if !self.interactive => self.held = Some(line),
            Ok(_) => self.screen.show(&Shown::Error(
                "not connected right now; nothing was sent".to_string(),
            )),
            Err(e) => self.screen.show(&Shown::Error(e)),
        }
    }

    fn on_nick(&mut self, line: &str) {
        if line.trim().is_empty() {
            return self.leave();
        }
        let nick = match command::check_nick(line) {
            Ok(nick) => nick,
            Err(e) => return self.screen.status(&Shown::Error(e)),
        };
        self.asking_nick = false;
        let effects = self.session.set_nick(nick);
        self.apply(effects);
        if self.connections == 0 {
            // The first connection waits for the name, as the classroom one
            // did.
            self.first_connect();
        }
    }

    /// A server that cannot be reached at start is most likely a wrong
    /// address (or, over TLS, an untrusted certificate): say so and stop,
    /// rather than retry forever.
    fn first_connect(&mut self) {
        if let Err(e) = self.connect() {
            self.fatal = Some(e);
            self.exit = Some(ExitCode::FAILURE);
        }
    }

    fn on_input_end(&mut self) {
        self.prompting = false;
        self.leave();
    }

    fn leave(&mut self) {
        let effects = self.session.on_command(command::Command::Quit(None));
        self.apply(effects);
    }

    fn on_server(&mut self, line: &str) {
        let Some(msg) = irc::Message::parse(line) else {
            return;
        };
        let effects = self.session.on_line(&msg);
        self.apply(effects);
    }

    fn on_closed(&mut self, reason: &str) {
        self.conn = None;
        self.session.lost();
        if self.leaving {
            return self.goodbye();
        }
        if !self.reconnect {
            self.screen.take_back(&self.saved);
        }
        self.screen
            .status(&Shown::Error(format!("connection lost: {reason}")));
        if self.reconnect {
            self.schedule_reconnect();
        } else {
            self.exit = Some(ExitCode::FAILURE);
        }
    }

    fn schedule_reconnect(&mut self) {
        self.status(&format!("reconnecting in {}s", self.backoff.as_secs()));
        self.timer = Some((Instant::now() + self.backoff, Timer::Reconnect));
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
    }

    fn on_timer(&mut self) {
        let Some((_, timer)) = self.timer.take() else {
            return;
        };
        match timer {
            Timer::Settle => {
                let effects = self.session.settle();
                self.carry_out(effects);
            }
            Timer::Reconnect => {
                if let Err(e) = self.connect() {
                    self.screen.status(&Shown::Error(e));
                    self.schedule_reconnect();
                }
            }
            Timer::Quit => self.goodbye(),
        }
    }

    fn goodbye(&mut self) {
        self.conn = None;
        self.status("Goodbye!");
        self.exit.get_or_insert(ExitCode::SUCCESS);
    }

    /// Connects, starts the reader thread and registers; the error is worded
    /// for the person.
    fn connect(&mut self) -> Result<(), String> {
        let over = if self.dialer.is_tls() {
            " over TLS"
        } else {
            ""
        };
        self.status(&format!("connecting to {}{over}...", self.dialer.addr()));
        let link = self.dialer.dial().map_err(|e| e.to_string())?;
        // Without the timeout a dead peer is only noticed when the kernel
        // gives up; reading still works, so a failure here is not worth
        // stopping for.
        drop(link.socket.set_read_timeout(Some(IDLE)));
        self.connections += 1;
        let id = self.connections;
        let events = self.event_tx.clone();
        let reader = link.reader;
        thread::spawn(move || read_server(id, reader, &events));
        self.conn = Some(Connection {
            id,
            writer: link.writer,
            socket: link.socket,
        });
        self.announce = true;
        self.renames = 0;
        let effects = self.session.register();
        self.apply(effects);
        Ok(())
    }

    fn apply(&mut self, effects: Vec<Effect>) {
        self.carry_out(effects);
        // Waiting for a channel join or part: not forever, whatever the
        // server does.
        let waiting = self.session.is_registered() && !self.session.is_ready();
        if waiting && self.timer.is_none() && !self.leaving {
            self.timer = Some((Instant::now() + SETTLE_TIMEOUT, Timer::Settle));
        }
    }

    fn carry_out(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Send(line) => self.send(&line),
                Effect::Show(shown) => self.screen.show(&shown),
                Effect::Echo(shown) if self.interactive => self.screen.show(&shown),
                Effect::Echo(_) => {}
                Effect::NickRefused if self.connections > 1 && self.renames < MAX_RENAMES => {
                    // Most likely our own lost connection, which the server
                    // has not noticed yet: carry on under a variant rather
                    // than interrupt the person (or fail the script).
                    self.renames += 1;
                    let old = self.session.nick().to_string();
                    let new = format!("{old}_");
                    self.status(&format!("{old} is still taken; trying {new}"));
                    let effects = self.session.set_nick(&new);
                    self.carry_out(effects);
                }
                Effect::NickRefused if self.interactive => {
                    self.status("please choose another nickname");
                    self.asking_nick = true;
                }
                Effect::NickRefused => {
                    self.screen.status(&Shown::Error(
                        "nickname refused; pass another with --nick".to_string(),
                    ));
                    self.exit = Some(ExitCode::FAILURE);
                }
                Effect::Ready => {
                    self.backoff = FIRST_BACKOFF;
                    if matches!(self.timer, Some((_, Timer::Settle))) {
                        self.timer = None;
                    }
                    if std::mem::take(&mut self.announce) {
                        let nick = self.session.nick();
                        let text = match self.session.current() {
                            Some(channel) => format!(
                                "you are {nick}, talking in {channel}; /help lists the commands"
                            ),
                            None => format!("you are {nick}; /help lists the commands"),
                        };
                        self.status(&text);
                    }
                    if let Some(line) = self.held.take() {
                        self.on_line(line);
                    }
                }
                Effect::LoginFailed => {
                    self.screen.status(&Shown::Error(
                        "not logged in; leaving rather than chat as a guest".to_string(),
                    ));
                    self.send("QUIT :login failed");
                    self.exit = Some(ExitCode::FAILURE);
                }
                Effect::Leaving => {
                    self.leaving = true;
                    if self.conn.is_some() {
                        self.timer = Some((Instant::now() + QUIT_TIMEOUT, Timer::Quit));
                    } else {
                        self.goodbye();
                    }
                }
            }
        }
    }

    /// Writes one line; a failure is noticed (and reported) by the reader
    /// thread when the connection closes, so it is not reported twice.
    fn send(&mut self, line: &str) {
        if let Some(conn) = &mut self.conn
            && conn
                .writer
                .write_all(format!("{line}\r\n").as_bytes())
                .is_err()
        {
            drop(conn.socket.shutdown(Shutdown::Both));
        }
    }
}

/// The reader thread of one connection: every line becomes an event, then
/// the reason it ended.
fn read_server(id: u64, stream: Box<dyn Read + Send>, events: &Sender<Event>) {
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::new();
    let mut pinged = false;
    let reason = loop {
        match (&mut reader).take(MAX_LINE).read_until(b'\n', &mut buf) {
            Ok(0) => break "the server closed the connection".to_string(),
            Ok(_) => {
                pinged = false;
                let line = String::from_utf8_lossy(&buf);
                let line = line.trim_end_matches(['\r', '\n']).to_string();
                buf.clear();
                if events.send(Event::Server(id, line)).is_err() {
                    return;
                }
            }
            // A partial line stays in `buf` until the rest arrives.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if pinged {
                    break format!("no reply from the server in {}s", 2 * IDLE.as_secs());
                }
                pinged = true;
                if events.send(Event::Idle(id)).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => break e.to_string(),
        }
    };
    drop(events.send(Event::Closed(id, reason)));
}
