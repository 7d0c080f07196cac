//! The web side of the daemon: the browser client's files.

pub mod assets;
