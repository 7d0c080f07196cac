//! The web listeners' input path: a request head through httparse and the
//! routes, then WebSocket frames through the decoder into lines, and lines
//! back out as frames; read from an in-memory socket that the input cuts
//! anywhere.
//!
//! The input: byte 0 picks the read size (its low 7 bits + 1) and, with
//! its high bit set, puts a valid upgrade head in front of the rest so
//! that most runs reach the frames; byte 1's low bit picks the binary
//! subprotocol; the rest is the client's bytes.
//!
//! Checked: no panic and no hang; every decoded line ends in LF and has no
//! CR or LF inside; text-mode lines are UTF-8; what the session holds is
//! exactly what a write then takes; the frames it writes parse back into
//! the lines queued, in order.

#![no_main]

use groupchatd::config::WebConfig;
use groupchatd::outqueue::OutQueue;
use groupchatd::transport::{Arrived, WebSession};
use groupchatd::web::route::{self, Context, Reply};
use libfuzzer_sys::fuzz_target;
use std::io::{self, Read};
use std::rc::Rc;

const UPGRADE: &[u8] = b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: PROTOCOL\r\n\r\n";

struct Pipe {
    data: Vec<u8>,
    at: usize,
    step: usize,
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.at == self.data.len() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.step).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fuzz_target!(|input: &[u8]| {
    let [cut, mode, rest @ ..] = input else {
        return;
    };
    let binary = mode & 1 == 1;
    let mut data = Vec::new();
    if cut & 0x80 != 0 {
        let protocol = if binary { "binary.ircv3.net" } else { "text.ircv3.net" };
        let head = String::from_utf8_lossy(UPGRADE).replace("PROTOCOL", protocol);
        data.extend_from_slice(head.as_bytes());
    }
    data.extend_from_slice(rest);
    let mut pipe = Pipe {
        data,
        at: 0,
        step: usize::from(cut & 0x7f) + 1,
    };
    let mut session = WebSession::new(512 + 4094);
    let web = WebConfig::default();
    let mut lines = Vec::new();
    let mut buf = [0u8; 4096];
    let mut upgraded = None;
    loop {
        match session.read(&mut pipe, &mut buf) {
            Ok(0) => break,
            Ok(n) => lines.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let Some(arrived) = session.take_arrived() else {
                    break;
                };
                let request = match arrived {
                    Arrived::Request(request) => request,
                    Arrived::Refused(status) => {
                        session.respond(&route::refusal(status));
                        continue;
                    }
                };
                let context = Context {
                    web: &web,
                    peer: [127, 0, 0, 1].into(),
                };
                match route::route(&request, &context, String::new) {
                    Reply::Respond { response, .. } => session.respond(&response),
                    Reply::Upgrade {
                        response,
                        subprotocol,
                    } => {
                        session.upgrade(&response, subprotocol);
                        upgraded = Some(subprotocol);
                    }
                }
            }
            Err(_) => break,
        }
    }
    if !lines.is_empty() {
        assert!(upgraded.is_some(), "lines before an upgrade");
        assert_eq!(lines.last(), Some(&b'\n'));
    }
    for line in lines.split(|&b| b == b'\n') {
        assert!(!line.contains(&b'\r'), "CR inside a line: {line:?}");
        if upgraded == Some(route::Subprotocol::Text) {
            assert!(std::str::from_utf8(line).is_ok(), "text line not UTF-8");
        }
    }
    // What the session holds goes out with the queue's lines as frames.
    let mut queue = OutQueue::default();
    let sent: Vec<&[u8]> = lines.split(|&b| b == b'\n').filter(|l| !l.is_empty()).take(8).collect();
    for line in &sent {
        queue.push(&Rc::from([*line, b"\r\n"].concat()));
    }
    let held = session.held();
    let mut out = Vec::new();
    session.write(&mut out, &mut queue).expect("a Vec takes everything");
    assert_eq!(session.held(), 0);
    if upgraded.is_none() {
        assert_eq!(out.len(), held);
        return;
    }
    let frames = &out[held..];
    let mut at = 0;
    for line in &sent {
        let mut cursor = io::Cursor::new(&frames[at..]);
        let (header, length) = tungstenite::protocol::frame::FrameHeader::parse(&mut cursor)
            .expect("a valid header")
            .expect("a whole header");
        assert!(header.mask.is_none() && header.is_final);
        let start = at + cursor.position() as usize;
        let body = &frames[start..start + length as usize];
        if upgraded == Some(route::Subprotocol::Binary) || std::str::from_utf8(line).is_ok() {
            assert_eq!(body, *line);
        }
        at = start + length as usize;
    }
    assert_eq!(at, frames.len());
});
