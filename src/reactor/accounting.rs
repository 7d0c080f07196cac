//! Property test of the output accounting: whatever happens to the
//! connections (sends, partial writes, peers that stop reading or reset,
//! closes with TLS close_notify, kills), the total the output cap reads is
//! the exact sum of what every connection holds, and 0 once nobody is
//! connected. Real loopback sockets with small buffers give the partial
//! writes and the errors; the connections speak plain IRC, TLS, WebSocket
//! and WebSocket over TLS, with records and frames held below the queue.

use super::history::HistoryLink;
use super::{Limits, Net};
use crate::config::Config;
use crate::connection::Connection;
use crate::connection::Phase;
use crate::hub::Outbox;
use crate::stats::{DisconnectReason, Stats};
use crate::transport::{TlsSession, Transport, WebSession};
use crate::web::route::Subprotocol;
use proptest::prelude::*;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use slab::Slab;
use std::collections::VecDeque;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
fn pair(listener: &TcpListener, transport: Transport) -> (Connection, TcpStream) {
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
    (Connection::new(stream, addr, transport), peer)
}

/// A server config with a fresh self-signed certificate, and a client
/// config that trusts it.
fn tls_configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    let key = rcgen::KeyPair::generate().expect("key");
    let params = rcgen::CertificateParams::new(vec!["localhost".into()]).expect("params");
    let cert = params.self_signed(&key).expect("certificate");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.der().clone()).expect("root");
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}

/// Completes the TLS handshake of connection `id` with a client on `peer`,
/// through the same counted reads and writes the reactor uses.
fn handshake(net: &mut Net, id: usize, peer: &mut TcpStream, client: Arc<rustls::ClientConfig>) {
    let name = ServerName::try_from("localhost").expect("name");
    let mut client = rustls::ClientConnection::new(client, name).expect("client");
    let mut buf = [0u8; 4096];
    while client.is_handshaking() || !net.conns[id].transport.carries_lines() {
        while client.wants_write() {
            client.write_tls(peer).expect("client writes");
        }
        while net.read(id, &mut buf).is_ok() {}
        net.write(id, |_| {}).expect("server writes");
        if client.read_tls(peer).is_ok() {
            client.process_new_packets().expect("handshake");
        }
        check(net);
    }
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
            bulk_list: VecDeque::new(),
            answering_history: false,
            overflowed: Vec::new(),
            watched: Vec::new(),
            queued_total: 0,
            limits: Limits::new(&Config::default()),
            stats: Stats::new(),
            history: HistoryLink::new(&Config::default().history),
            accounts: super::accounts::AccountsLink::new(&Config::default()),
            held: Vec::new(),
            cluster: None,
        };
        let mut peers = Vec::new();
        let (server_tls, client_tls) = tls_configs();
        for i in 0..CLIENTS {
            let (tls, web) = (i % 2 == 1, i >= 2);
            let mut transport = if tls {
                let session = TlsSession::new(Arc::clone(&server_tls)).expect("session");
                Transport::tls(session)
            } else {
                Transport::plain()
            };
            if web {
                transport = transport.with_web(WebSession::new(4096));
            }
            let (conn, mut peer) = pair(&listener, transport);
            let id = net.conns.insert(conn);
            if tls {
                handshake(&mut net, id, &mut peer, Arc::clone(&client_tls));
            }
            let before = net.conns[id].queued();
            if let Some(web) = net.conns[id].transport.web() {
                web.upgrade(b"HTTP/1.1 101 Switching Protocols\r\n\r\n", Subprotocol::Text);
            }
            net.queued_total += net.conns[id].queued() - before;
            check(&net);
            peers.push(Some(peer));
        }
        let mut sink = vec![0u8; 8192];
        for op in ops {
            match op {
                Op::Send { to, len } => {
                    let mut line = vec![b'x'; len];
                    if len % 5 == 0 {
                        // Not UTF-8: a text frame carries a lossy copy.
                        line[0] = 0xff;
                    }
                    line.extend_from_slice(b"\r\n");
                    net.send(to, &Rc::from(line));
                }
                Op::Flush(id) => {
                    if net.write(id, |_| {}).is_err() {
                        net.remove(id);
                    } else if let Some(conn) = net.conns.get(id)
                        && matches!(conn.phase, Phase::Closing { .. })
                        && conn.queued() == 0
                    {
                        net.finish_closing(id, Instant::now());
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
