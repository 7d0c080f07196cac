//! The person's side: reading lines (with line editing on a terminal, plain
//! lines from a pipe) and printing what happens, without ever clobbering a
//! half-typed input line.

use std::collections::VecDeque;
use std::io::{self, BufRead, IsTerminal, Write};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rustyline::{DefaultEditor, ExternalPrinter};

use crate::render::{Shown, Style};

/// What the reading thread should ask for next.
pub struct Prompt {
    pub text: String,
    /// Erase the typed line once entered, because the conversation shows it
    /// again as `HH:MM <nick> text`.
    pub erase: bool,
}

/// What the person did with a prompt.
pub enum Input {
    Line(String),
    /// Ctrl-D, Ctrl-C, or the end of piped input.
    End,
}

/// Colors only for a terminal that can show them and a person who has not
/// opted out (https://no-color.org).
pub fn colors_wanted() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var("TERM").is_ok_and(|t| t == "dumb");
    io::stdout().is_terminal() && !no_color && !dumb
}

/// Local wall-clock time as "HH:MM", the way people read chat logs.
pub fn clock() -> String {
    // SAFETY: time(NULL) has no preconditions.
    clock_at(unsafe { libc::time(std::ptr::null_mut()) })
}

/// The local "HH:MM" of `secs` since the epoch: history lines are shown in
/// the same local time as live ones.
fn clock_at(secs: libc::time_t) -> String {
    // SAFETY: localtime_r writes only into the zeroed `tm` we own and
    // returns NULL on failure, which is handled.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return "--:--".to_string();
        }
        format!("{:02}:{:02}", tm.tm_hour, tm.tm_min)
    }
}

/// The clock a line is shown with: now, or when a history line was said.
fn clock_for(shown: &Shown) -> String {
    match shown {
        Shown::Past { ms: Some(ms), .. } => clock_at(ms.div_euclid(1000)),
        Shown::Past { ms: None, .. } => "--:--".to_string(),
        _ => clock(),
    }
}

/// Terminal settings saved at start, so that leaving while the line editor
/// holds the terminal in raw mode (the server went away) does not leave the
/// person's shell unusable.
pub struct SavedTerminal(Option<libc::termios>);

impl SavedTerminal {
    pub fn save() -> Self {
        // SAFETY: tcgetattr writes into the zeroed struct we own.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            SavedTerminal((libc::tcgetattr(libc::STDIN_FILENO, &mut t) == 0).then_some(t))
        }
    }

    fn restore(&self) {
        if let Some(t) = &self.0 {
            // SAFETY: restores settings tcgetattr gave us for the same fd.
            unsafe {
                libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, t);
            }
        }
    }
}

impl Drop for SavedTerminal {
    fn drop(&mut self) {
        self.restore();
    }
}

/// How long a stopping [`Printer`] may take to hand over what it holds.
const PRINTER_DRAIN: Duration = Duration::from_secs(1);
/// The line editor shows handed-over lines from its own thread; this is its
/// time to do so before the terminal is taken back from it.
const EDITOR_GRACE: Duration = Duration::from_millis(50);

/// Lines on their way to the line editor.
#[derive(Default)]
struct Outbox {
    lines: VecDeque<String>,
    closed: bool,
}

/// Hands lines to rustyline's external printer from a thread of its own.
/// That printer can block (its queue holds one line, emptied only while the
/// editor reads input): blocking here instead of in the main thread keeps
/// the client from deadlocking with the editor, which waits for the main
/// thread's next prompt.
struct Printer {
    outbox: Arc<(Mutex<Outbox>, Condvar)>,
    thread: thread::JoinHandle<()>,
}

impl Printer {
    fn start(mut external: impl ExternalPrinter + Send + 'static) -> Self {
        let outbox = Arc::new((Mutex::new(Outbox::default()), Condvar::new()));
        let shared = Arc::clone(&outbox);
        let thread = thread::spawn(move || {
            let (lock, wake) = &*shared;
            loop {
                let line = {
                    let Ok(mut out) = lock.lock() else { return };
                    while out.lines.is_empty() && !out.closed {
                        out = match wake.wait(out) {
                            Ok(out) => out,
                            Err(_) => return,
                        };
                    }
                    match out.lines.front() {
                        Some(line) => line.clone(),
                        None => return,
                    }
                };
                // An error means the terminal is gone; nothing to tell.
                drop(external.print(line));
                if let Ok(mut out) = lock.lock() {
                    out.lines.pop_front();
                }
            }
        });
        Printer { outbox, thread }
    }

    fn print(&self, line: String) {
        let (lock, wake) = &*self.outbox;
        if let Ok(mut out) = lock.lock() {
            out.lines.push_back(line);
            wake.notify_one();
        }
    }

    /// Lets the thread hand over what it holds, for a bounded time, and
    /// returns the lines it did not get to.
    fn stop(self) -> Vec<String> {
        let (lock, wake) = &*self.outbox;
        if let Ok(mut out) = lock.lock() {
            out.closed = true;
        }
        wake.notify_one();
        let deadline = Instant::now() + PRINTER_DRAIN;
        while !self.thread.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        lock.lock()
            .map(|mut out| out.lines.drain(..).collect())
            .unwrap_or_default()
    }
}

/// Where lines for the person go.
pub struct Screen {
    /// Set on a terminal: prints above the input line and redraws it.
    printer: Option<Printer>,
    style: Style,
}

impl Screen {
    /// Takes the terminal back from a line editor that is still waiting for
    /// input, for last words before exiting: the editor prints asynchronously
    /// and would lose them when the process ends.
    pub fn take_back(&mut self, saved: &SavedTerminal) {
        if let Some(printer) = self.printer.take() {
            let left = printer.stop();
            thread::sleep(EDITOR_GRACE);
            saved.restore();
            let mut out = io::stdout().lock();
            drop(write!(out, "\r\x1b[K{}", left.concat()).and_then(|()| out.flush()));
        }
    }

    /// Prints whatever is still on its way, before the process ends.
    pub fn close(&mut self) {
        if let Some(printer) = self.printer.take() {
            let mut out = io::stdout().lock();
            drop(write!(out, "{}", printer.stop().concat()).and_then(|()| out.flush()));
        }
    }

    /// Something that happened in the conversation.
    pub fn show(&mut self, shown: &Shown) {
        let line = self.style.format(shown, &clock_for(shown));
        match &self.printer {
            Some(p) => p.print(format!("{line}\n")),
            None => drop(writeln!(io::stdout().lock(), "{line}")),
        }
    }

    /// The client's own news (connecting, goodbye): with the conversation on
    /// a terminal, on stderr when stdout is a script's data.
    pub fn status(&mut self, shown: &Shown) {
        if self.printer.is_some() {
            self.show(shown);
        } else {
            drop(writeln!(
                io::stderr().lock(),
                "{}",
                self.style.format(shown, &clock_for(shown))
            ));
        }
    }
}

/// Starts the thread that reads the person's lines, one per [`Prompt`] it is
/// given, so that nothing is read before the client can act on it. Line
/// editing needs a terminal on both sides; without one (or on a terminal
/// the editor cannot drive) lines are read plainly.
pub fn start(
    style: Style,
    prompts: Receiver<Prompt>,
    deliver: impl Fn(Input) + Send + 'static,
) -> Screen {
    let (ready_tx, ready_rx) = mpsc::channel();
    thread::spawn(move || {
        if io::stdin().is_terminal()
            && io::stdout().is_terminal()
            && let Ok(mut editor) = DefaultEditor::new()
            && let Ok(external) = editor.create_external_printer()
        {
            if ready_tx.send(Some(Printer::start(external))).is_ok() {
                read_edited(&mut editor, &prompts, &deliver);
            }
            return;
        }
        if ready_tx.send(None).is_ok() {
            read_plain(&prompts, &deliver);
        }
    });
    Screen {
        // The thread always answers unless it died, which leaves plain output.
        printer: ready_rx.recv().ok().flatten(),
        style,
    }
}

fn read_plain(prompts: &Receiver<Prompt>, deliver: &impl Fn(Input)) {
    let stdin = io::stdin();
    let mut buf = Vec::new();
    while prompts.recv().is_ok() {
        buf.clear();
        match stdin.lock().read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => return deliver(Input::End),
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                deliver(Input::Line(line.trim_end_matches(['\n', '\r']).to_string()));
            }
        }
    }
}

fn read_edited(editor: &mut DefaultEditor, prompts: &Receiver<Prompt>, deliver: &impl Fn(Input)) {
    while let Ok(prompt) = prompts.recv() {
        match editor.readline(&prompt.text) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    // History is a convenience; failing to record is harmless.
                    drop(editor.add_history_entry(line.as_str()));
                    if prompt.erase {
                        erase_entered(&prompt.text, &line);
                    }
                }
                deliver(Input::Line(line));
            }
            // Ctrl-D and Ctrl-C leave, and so does a terminal that broke.
            Err(_) => return deliver(Input::End),
        }
    }
}

/// Moves up over the rows the prompt and the entered line took and clears
/// them. Skipped when the terminal width is unknown, rather than guessing and
/// erasing something else.
fn erase_entered(prompt: &str, line: &str) {
    // SAFETY: TIOCGWINSZ writes a winsize into the zeroed struct we own.
    let cols = unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut ws) != 0 {
            return;
        }
        usize::from(ws.ws_col)
    };
    if cols == 0 {
        return;
    }
    let width = prompt.chars().count() + line.chars().count();
    let rows = width.div_ceil(cols).max(1);
    let mut out = io::stdout().lock();
    drop(write!(out, "\x1b[{rows}A\r\x1b[J").and_then(|()| out.flush()));
}
