//! groupchat-bench: a stress harness that speaks only the IRC client protocol,
//! so the same numbers can be taken from groupchatd and from other IRC servers.
//!
//! Exit status: 0 when the run went as planned, 1 when deliveries were lost
//! without the server saying why or clients could not be set up, 2 when the
//! run could not start (bad options, limits too low, server unreachable).

mod cli;
mod engine;
mod irc;
mod plot;
mod report;
mod scenario;
mod sys;
mod tracker;
mod transport;
mod websocket;

use std::process::ExitCode;

use clap::Parser;
pub use cli::*;

pub type Error = Box<dyn std::error::Error>;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let report = match scenario::run(&cli) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("groupchat-bench: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.common.json {
        match serde_json::to_string_pretty(&report.report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("groupchat-bench: JSON: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{}", report.report.human());
    }
    if let Some(path) = &cli.common.plot {
        match &report.tracker {
            Some(t) => {
                if let Err(e) = plot::write(path, t) {
                    eprintln!("groupchat-bench: --plot {}: {e}", path.display());
                    return ExitCode::from(2);
                }
            }
            None => eprintln!("groupchat-bench: --plot: this scenario has no deliveries to plot"),
        }
    }
    if report.failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
