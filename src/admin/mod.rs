//! The admin socket: a local Unix socket on which `groupchatctl` (or any
//! script) asks the running daemon for its status and gives it orders.
//!
//! One JSON object per line each way, so a shell one-liner with `socat` can
//! use it as well as `groupchatctl`. The reactor serves it; this module holds
//! what both ends share: the wire format, where the socket lives, and who may
//! use it.

pub mod access;
pub mod path;
pub mod protocol;
