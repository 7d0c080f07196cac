//! groupchatd: a small, fast group-chat server speaking the IRC client
//! protocol, built on one mio event loop.
//!
//! The layers, each in its own module:
//! - [`reactor`]: sockets, tokens and readiness; knows no chat rules.
//! - [`connection`]: one client's buffers, framing, write queue and limits.
//! - [`transport`]: plain TCP or TLS between a connection's socket and its
//!   framing.
//! - [`message`], [`numeric`], [`names`], [`framing`]: the protocol, pure.
//! - [`hub`]: nicks, channels, membership and who receives what, pure.
//! - [`history`]: what was said, kept on a helper thread's SQLite file.
//! - [`accounts`]: names and Argon2id password hashes, in the same file,
//!   hashed and checked on a helper thread of their own.
//! - [`helper`]: what those helper threads share: answering the loop
//!   through a channel and its waker.
//! - [`secret`]: how the command-line tools read a password.
//! - [`web`]: HTTP endpoints and IRC over WebSocket, for the web listeners,
//!   and the browser client's files.

pub mod accounts;
pub mod admin;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod connection;
pub mod flood;
pub mod framing;
pub mod helper;
pub mod history;
pub mod hub;
pub mod kline;
pub mod limits;
pub mod listener;
pub mod logging;
pub mod mask;
pub mod message;
pub mod names;
pub mod numeric;
pub mod outqueue;
pub mod reactor;
pub mod sd_notify;
pub mod secret;
pub mod stats;
pub mod tags;
pub mod transport;
pub mod web;
