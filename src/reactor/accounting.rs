//! Property test of the output accounting: whatever happens to the
//! connections (sends, partial writes, peers that stop reading or reset,
//! closes, kills), the total the output cap reads is the exact sum of what
//! every connection holds, and 0 once nobody is connected. Real loopback
//! sockets with small buffers give the partial writes and the errors.

use super::{Limits, Net};
use crate::config::Config;
use crate::connection::Connection;
use crate::hub::Outbox;
use crate::stats::{DisconnectReason, Stats};
use crate::transport::Transport;
use proptest::prelude::*;
use slab::Slab;
use std::collections::VecDeque;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::time::Duration;

#[derive(Debug, Clone)]
enum Op {
    Send { to: usize, len: usize },
    Flush(usize),
    PeerReads(usize),
    PeerResets(usize),
    Close(usize),
    Kill(usize),
    Remove(usize),
}

const CLIENTS: usize = 4;

fn op() -> impl Strategy<Value = Op> {
    let who = 0..CLIENTS;
    prop_oneof![
        6 => (who.clone(), 1usize..4000).prop_map(|(to, len)| Op::Send { to, len }),
        4 => who.clone().prop_map(Op::Flush),
        3 => who.clone().prop_map(Op::PeerReads),
        1 => who.clone().prop_map(Op::PeerResets),
        1 => who.clone().prop_map(Op::Close),
        1 => who.clone().prop_map(Op::Kill),
        1 => who.prop_map(Op::Remove),
    ]
}

/// A server-side connection with a tiny send buffer, and its peer.
fn pair(listener: &TcpListener) -> (Connection, Option<TcpStream>) {
    let peer = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    socket2::SockRef::from(&peer)
        .set_recv_buffer_size(4096)
        .expect("rcvbuf");
    let (server, addr) = listener.accept().expect("accept");
    socket2::SockRef::from(&server)
        .set_send_buffer_size(4096)
        .expect("sndbuf");
    server.set_nonblocking(true).expect("nonblocking");
    peer.set_read_timeout(Some(Duration::from_millis(1)))
        .expect("timeout");
    let stream = mio::net::TcpStream::from_std(server);
    (Connection::new(stream, addr, Transport::Plain), Some(peer))
}

fn check(net: &Net) {
    let sum: usize = net.conns.iter().map(|(_, c)| c.queued()).sum();
    assert_eq!(net.queued_total, sum, "the total drifted from the queues");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn queued_total_is_the_sum_of_the_queues(ops in proptest::collection::vec(op(), 1..120)) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut net = Net {
            conns: Slab::new(),
            flush_list: VecDeque::new(),
            overflowed: Vec::new(),
            watched: Vec::new(),
            queued_total: 0,
            limits: Limits::new(&Config::default()),
            stats: Stats::new(),
        };
        let mut peers = Vec::new();
        for _ in 0..CLIENTS {
            let (conn, peer) = pair(&listener);
            net.conns.insert(conn);
            peers.push(peer);
        }
        let mut sink = vec![0u8; 8192];
        for op in ops {
            match op {
                Op::Send { to, len } => {
                    let mut line = vec![b'x'; len];
                    line.extend_from_slice(b"\r\n");
                    net.send(to, &Rc::from(line));
                }
                Op::Flush(id) => {
                    if net.write(id, |_| {}).is_err() {
                        net.remove(id);
                    }
                }
                Op::PeerReads(id) => {
                    if let Some(peer) = peers[id].as_mut() {
                        let _ = peer.read(&mut sink);
                    }
                }
                Op::PeerResets(id) => {
                    if let Some(peer) = peers[id].take() {
                        let _ = socket2::SockRef::from(&peer).set_linger(Some(Duration::ZERO));
                    }
                }
                Op::Close(id) => net.close(id, DisconnectReason::Quit, "bye"),
                Op::Kill(id) => {
                    let _ = net.write(id, |conn| {
                        conn.queue.drop_unstarted();
                        conn.queue.push(&conn.closing_line("killed"));
                    });
                    net.remove(id);
                }
                Op::Remove(id) => {
                    net.remove(id);
                }
            }
            check(&net);
        }
        for id in 0..CLIENTS {
            net.remove(id);
        }
        prop_assert_eq!(net.queued_total, 0);
    }
}
