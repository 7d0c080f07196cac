//! Listening sockets, set up the way a busy server needs them.

use mio::net::TcpListener;
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;

/// Pending connections the kernel may hold before `accept`: deep enough for
/// thousands of clients arriving at once (the kernel caps it at somaxconn).
const BACKLOG: i32 = 4096;

/// Binds a non-blocking listener with `SO_REUSEADDR` (a restart does not wait
/// out TIME_WAIT) and, for IPv6, `IPV6_V6ONLY` so `[::]` and `0.0.0.0` can
/// both be listed. The error names the address:
/// `cannot listen on 127.0.0.1:6667: Address already in use`.
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    try_bind(addr).map_err(|e| {
        let why = match e.raw_os_error() {
            Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
            None => e.to_string(),
        };
        io::Error::new(e.kind(), format!("cannot listen on {addr}: {why}"))
    })
}

fn try_bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(TcpListener::from_std(socket.into()))
}
