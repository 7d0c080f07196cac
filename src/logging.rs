//! Logging through `log`: to stderr in the foreground, or to syslog.
//!
//! Client-supplied text can end up in log lines (nicks, quit reasons), so
//! control characters are escaped: a client must not be able to forge log
//! lines or send terminal escapes to an operator's screen.

use crate::config::LogTarget;
use log::{LevelFilter, Log, Metadata, Record};
use std::io::Write;

struct StderrLogger;

impl Log for StderrLogger {
    fn enabled(&self, _: &Metadata) -> bool {
        true
    }

    fn log(&self, record: &Record) {
        let text = escape_controls(&record.args().to_string());
        let _ = writeln!(
            std::io::stderr().lock(),
            "groupchatd: {:<5} {text}",
            record.level()
        );
    }

    fn flush(&self) {}
}

/// Replaces control characters with their `\x..` escapes.
pub fn escape_controls(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Installs the logger; the level can be changed later with
/// `log::set_max_level`.
pub fn init(target: LogTarget, level: LevelFilter) -> Result<(), String> {
    let logger: Box<dyn Log> = match target {
        LogTarget::Stderr => Box::new(StderrLogger),
        LogTarget::Syslog => {
            let formatter = syslog::Formatter3164 {
                facility: syslog::Facility::LOG_DAEMON,
                hostname: None,
                process: "groupchatd".into(),
                pid: std::process::id(),
            };
            let writer =
                syslog::unix(formatter).map_err(|e| format!("cannot connect to syslog: {e}"))?;
            Box::new(syslog::BasicLogger::new(writer))
        }
    };
    log::set_boxed_logger(logger).map_err(|e| e.to_string())?;
    log::set_max_level(level);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("plain"), "plain");
        assert_eq!(escape_controls("a\r\nb\x1b[31m"), "a\\r\\nb\\u{1b}[31m");
    }
}
