//! The WebSocket framing of IRC lines (RFC 6455, IRCv3 WebSocket): client
//! frames decoded into the byte stream the line framer already reads, and
//! server frame headers for the write path. Frame headers are parsed and
//! formatted by `tungstenite`; this module holds the state between reads
//! and the rules: one IRC line per message, no line break inside one,
//! text messages in UTF-8, every client frame masked, sizes bounded.

use std::io::Cursor;
use tungstenite::protocol::frame::FrameHeader;
use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};

/// Most frames one message may come in: enough for any real client, few
/// enough that empty fragments cannot keep the loop busy.
pub const MAX_FRAGMENTS: usize = 16;
/// Longest server frame header: 2 bytes, then a 64-bit length (no mask).
pub const MAX_HEADER: usize = 10;

pub const NORMAL: u16 = 1000;
pub const GOING_AWAY: u16 = 1001;
pub const PROTOCOL_ERROR: u16 = 1002;
pub const INVALID_DATA: u16 = 1007;
pub const POLICY: u16 = 1008;
pub const TOO_BIG: u16 = 1009;
pub const SERVER_ERROR: u16 = 1011;

/// Why we close a connection: the code and reason of our close frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure {
    pub code: u16,
    pub reason: &'static str,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebSocket error: {} ({})", self.reason, self.code)
    }
}

impl std::error::Error for Failure {}

fn fail(code: u16, reason: &'static str) -> Failure {
    Failure { code, reason }
}

/// What a feed ended with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded {
    /// More frames may come.
    Open,
    /// The peer sent a close frame (answered in the replies): the end of
    /// its stream.
    Closed,
}

/// The frame being read.
#[derive(Debug)]
struct Frame {
    opcode: OpCode,
    is_final: bool,
    mask: [u8; 4],
    /// Payload bytes still to come.
    left: usize,
    /// Payload bytes read so far (the mask's position).
    done: usize,
}

/// Decodes the frames a client sends. Between reads it keeps only what
/// cannot be handed on yet: a header cut in two, the message or control
/// frame being received.
#[derive(Debug)]
pub struct Decoder {
    /// Longest message taken (an IRC line with its tags); longer is 1009.
    max_message: usize,
    /// The start of a frame header cut by a read.
    head: Vec<u8>,
    frame: Option<Frame>,
    /// The data message being received, unmasked; its kind once started.
    message: Vec<u8>,
    kind: Option<Data>,
    fragments: usize,
    /// The payload of the control frame being received.
    control: Vec<u8>,
}

impl Decoder {
    pub fn new(max_message: usize) -> Decoder {
        Decoder {
            max_message,
            head: Vec::new(),
            frame: None,
            message: Vec::new(),
            kind: None,
            fragments: 0,
            control: Vec::new(),
        }
    }

    /// Decodes `data`: each complete message is appended to `lines` as one
    /// line ending in LF; answers to control frames (pong, the close
    /// handshake) are appended to `replies`. On a protocol violation the
    /// close frame saying why is appended to `replies` and returned.
    pub fn feed(
        &mut self,
        mut data: &[u8],
        lines: &mut Vec<u8>,
        replies: &mut Vec<u8>,
    ) -> Result<Decoded, Failure> {
        let result = (|| -> Result<Decoded, Failure> {
            while !data.is_empty() {
                if self.frame.is_none() {
                    let used = self.read_header(data)?;
                    data = &data[used..];
                }
                if let Some(frame) = &mut self.frame {
                    let take = frame.left.min(data.len());
                    let target = if matches!(frame.opcode, OpCode::Control(_)) {
                        &mut self.control
                    } else {
                        &mut self.message
                    };
                    let start = target.len();
                    target.extend_from_slice(&data[..take]);
                    unmask(&mut target[start..], frame.mask, frame.done);
                    frame.left -= take;
                    frame.done += take;
                    data = &data[take..];
                    if frame.left == 0 && self.finish_frame(lines, replies)? == Decoded::Closed {
                        return Ok(Decoded::Closed);
                    }
                }
            }
            Ok(Decoded::Open)
        })();
        if let Err(failure) = result {
            close_frame(failure.code, failure.reason, replies);
        }
        result
    }

    /// Reads a frame header from the start of `data` (after any part kept
    /// from the read before); returns the bytes of `data` it took.
    fn read_header(&mut self, data: &[u8]) -> Result<usize, Failure> {
        let kept = self.head.len();
        let parsed = if kept == 0 {
            FrameHeader::parse(&mut Cursor::new(data))
        } else {
            // A header is at most 14 bytes, so this completes any header.
            let add = data.len().min(14 - kept);
            self.head.extend_from_slice(&data[..add]);
            FrameHeader::parse(&mut Cursor::new(&self.head[..]))
        };
        match parsed {
            Err(_) => Err(fail(PROTOCOL_ERROR, "bad frame header")),
            // Still short of a whole header: all of `data` is kept.
            Ok(None) => {
                if kept == 0 {
                    self.head.extend_from_slice(data);
                }
                Ok(data.len())
            }
            Ok(Some((header, length))) => {
                let used = header.len(length) - kept;
                self.head = Vec::new();
                self.start_frame(header, length)?;
                Ok(used)
            }
        }
    }

    /// Checks a new frame's header against the rules and the limits.
    fn start_frame(&mut self, header: FrameHeader, length: u64) -> Result<(), Failure> {
        if header.rsv1 || header.rsv2 || header.rsv3 {
            return Err(fail(PROTOCOL_ERROR, "reserved bits set"));
        }
        let Some(mask) = header.mask else {
            return Err(fail(PROTOCOL_ERROR, "unmasked client frame"));
        };
        let length = usize::try_from(length).unwrap_or(usize::MAX);
        match header.opcode {
            OpCode::Control(_) if !header.is_final || length > 125 => {
                return Err(fail(PROTOCOL_ERROR, "bad control frame"));
            }
            OpCode::Control(_) => {}
            OpCode::Data(Data::Continue) if self.kind.is_none() => {
                return Err(fail(PROTOCOL_ERROR, "continuation without a message"));
            }
            OpCode::Data(Data::Continue) => {}
            OpCode::Data(_) if self.kind.is_some() => {
                return Err(fail(PROTOCOL_ERROR, "new message inside a fragmented one"));
            }
            OpCode::Data(kind) => self.kind = Some(kind),
        }
        if !matches!(header.opcode, OpCode::Control(_)) {
            if length > self.max_message.saturating_sub(self.message.len()) {
                return Err(fail(TOO_BIG, "message too long"));
            }
            self.fragments += 1;
            if self.fragments > MAX_FRAGMENTS {
                return Err(fail(POLICY, "too many fragments"));
            }
        }
        self.frame = Some(Frame {
            opcode: header.opcode,
            is_final: header.is_final,
            mask,
            left: length,
            done: 0,
        });
        Ok(())
    }

    /// A frame's payload is complete: acts on it.
    fn finish_frame(
        &mut self,
        lines: &mut Vec<u8>,
        replies: &mut Vec<u8>,
    ) -> Result<Decoded, Failure> {
        let Some(frame) = self.frame.take() else {
            return Ok(Decoded::Open);
        };
        match frame.opcode {
            OpCode::Control(Control::Ping) => {
                control_frame(Control::Pong, &self.control, replies);
            }
            OpCode::Control(Control::Close) => {
                let (code, _) = parse_close(&self.control)?;
                match code {
                    Some(code) => close_frame(code, "", replies),
                    None => control_frame(Control::Close, &[], replies),
                }
                self.control = Vec::new();
                return Ok(Decoded::Closed);
            }
            OpCode::Control(_) => {}
            OpCode::Data(_) if frame.is_final => self.finish_message(lines)?,
            OpCode::Data(_) => {}
        }
        self.control = Vec::new();
        Ok(Decoded::Open)
    }

    /// A message is complete: checks it and hands it on as a line.
    fn finish_message(&mut self, lines: &mut Vec<u8>) -> Result<(), Failure> {
        let message = std::mem::take(&mut self.message);
        let kind = self.kind.take();
        self.fragments = 0;
        if kind == Some(Data::Text) && std::str::from_utf8(&message).is_err() {
            return Err(fail(INVALID_DATA, "text message not in UTF-8"));
        }
        // A line ending at the very end is forgiven; anywhere else it
        // would smuggle in a second line.
        let line = message
            .strip_suffix(b"\n")
            .map(|m| m.strip_suffix(b"\r").unwrap_or(m))
            .unwrap_or(&message);
        if line.iter().any(|&b| b == b'\r' || b == b'\n') {
            return Err(fail(PROTOCOL_ERROR, "line break inside a message"));
        }
        lines.extend_from_slice(line);
        lines.push(b'\n');
        Ok(())
    }
}

/// A close frame's code (`None` when it has none) and reason, checked as
/// RFC 6455 section 7.4 asks.
fn parse_close(payload: &[u8]) -> Result<(Option<u16>, &str), Failure> {
    match payload {
        [] => Ok((None, "")),
        [_] => Err(fail(PROTOCOL_ERROR, "bad close frame")),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            if !CloseCode::from(code).is_allowed() {
                return Err(fail(PROTOCOL_ERROR, "bad close code"));
            }
            let reason = std::str::from_utf8(reason)
                .map_err(|_| fail(INVALID_DATA, "close reason not in UTF-8"))?;
            Ok((Some(code), reason))
        }
    }
}

/// Client payloads are XORed with the frame's 4-byte mask, cycling from
/// the payload's first byte (`offset`: where this piece starts in the
/// payload). tungstenite keeps its own unmasking private.
fn unmask(data: &mut [u8], mask: [u8; 4], offset: usize) {
    for (i, byte) in data.iter_mut().enumerate() {
        *byte ^= mask[(offset + i) & 3];
    }
}

/// The header of an unmasked server frame of `length` payload bytes: it
/// depends on nothing else, so a line shared by many recipients is framed
/// by a header of its own per write, and never copied.
pub fn header(binary: bool, length: usize) -> ([u8; MAX_HEADER], usize) {
    let opcode = OpCode::Data(if binary { Data::Binary } else { Data::Text });
    control_or_data_header(opcode, length)
}

fn control_or_data_header(opcode: OpCode, length: usize) -> ([u8; MAX_HEADER], usize) {
    let header = FrameHeader {
        opcode,
        ..FrameHeader::default()
    };
    let mut bytes = [0u8; MAX_HEADER];
    let length = length as u64;
    let size = header.len(length);
    // Cannot fail: an unmasked header fits MAX_HEADER bytes.
    let _ = header.format(length, &mut &mut bytes[..]);
    (bytes, size)
}

fn control_frame(control: Control, payload: &[u8], out: &mut Vec<u8>) {
    let (head, size) = control_or_data_header(OpCode::Control(control), payload.len());
    out.extend_from_slice(&head[..size]);
    out.extend_from_slice(payload);
}

/// Appends a close frame with `code` and `reason` (cut to fit a control
/// frame's 125 bytes) to `out`.
pub fn close_frame(code: u16, reason: &str, out: &mut Vec<u8>) {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    control_frame(Control::Close, &payload, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame.
    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = vec![first];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n < 65536 => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
        out
    }

    const TEXT: u8 = 0x81;
    const BINARY: u8 = 0x82;

    fn decode(input: &[u8]) -> (Vec<u8>, Vec<u8>, Result<Decoded, Failure>) {
        let mut decoder = Decoder::new(512 + 4094);
        let (mut lines, mut replies) = (Vec::new(), Vec::new());
        let result = decoder.feed(input, &mut lines, &mut replies);
        (lines, replies, result)
    }

    #[test]
    fn messages_become_lines_however_the_input_is_cut() {
        let mut input = frame(TEXT, b"NICK alice");
        input.extend(frame(BINARY, b"USER a 0 * :\xff\xfe\r\n"));
        input.extend(frame(0x01, b"PRIVMSG #lobby "));
        input.extend(frame(0x89, b"ping!"));
        input.extend(frame(0x80, b":hello"));
        input.extend(frame(BINARY, &vec![b'x'; 300]));
        let expected_lines: Vec<u8> = [
            &b"NICK alice\n"[..],
            b"USER a 0 * :\xff\xfe\n",
            b"PRIVMSG #lobby :hello\n",
            &[b'x'; 300],
            b"\n",
        ]
        .concat();
        for cut in [1, 2, 3, 7, 13, input.len()] {
            let mut decoder = Decoder::new(4606);
            let (mut lines, mut replies) = (Vec::new(), Vec::new());
            for piece in input.chunks(cut) {
                assert_eq!(
                    decoder.feed(piece, &mut lines, &mut replies),
                    Ok(Decoded::Open)
                );
            }
            assert_eq!(lines, expected_lines, "cut {cut}");
            assert_eq!(replies, b"\x8a\x05ping!", "cut {cut}");
        }
    }

    #[test]
    fn violations_close_with_their_code() {
        let unmasked = [TEXT, 2, b'h', b'i'];
        let cases: [(Vec<u8>, u16); 8] = [
            (frame(TEXT, b"\xc3\x28"), INVALID_DATA),
            (frame(BINARY, b"PRIVMSG a :x\r\nQUIT"), PROTOCOL_ERROR),
            (frame(TEXT, b"a\nb"), PROTOCOL_ERROR),
            (unmasked.to_vec(), PROTOCOL_ERROR),
            (frame(TEXT, &vec![b'x'; 5000]), TOO_BIG),
            (frame(0x00, b"x"), PROTOCOL_ERROR),
            (frame(0xc1, b"x"), PROTOCOL_ERROR),
            (frame(0x09, b"x"), PROTOCOL_ERROR),
        ];
        for (input, code) in cases {
            let (_, replies, result) = decode(&input);
            assert_eq!(result.map_err(|f| f.code), Err(code), "{input:x?}");
            assert_eq!(replies[0], 0x88, "a close frame");
            assert_eq!(u16::from_be_bytes([replies[2], replies[3]]), code);
        }
        let mut flood = frame(0x01, b"");
        for _ in 0..MAX_FRAGMENTS {
            flood.extend(frame(0x00, b""));
        }
        assert_eq!(decode(&flood).2.map_err(|f| f.code), Err(POLICY));
        let mut big = frame(0x01, &[b'x'; 4000]);
        big.extend(frame(0x80, &[b'x'; 700]));
        assert_eq!(decode(&big).2.map_err(|f| f.code), Err(TOO_BIG));
    }

    #[test]
    fn the_close_handshake_echoes_the_code() {
        let (_, replies, result) = decode(&frame(0x88, b"\x03\xe8bye"));
        assert_eq!(result, Ok(Decoded::Closed));
        assert_eq!(replies, b"\x88\x02\x03\xe8");
        let (_, replies, result) = decode(&frame(0x88, b""));
        assert_eq!(
            (result, replies),
            (Ok(Decoded::Closed), b"\x88\x00".to_vec())
        );
        let (_, _, result) = decode(&frame(0x88, b"\x03\xed"));
        assert_eq!(result.map_err(|f| f.code), Err(PROTOCOL_ERROR));
    }

    #[test]
    fn server_headers_depend_on_length_only() {
        assert_eq!(header(false, 5), ([0x81, 5, 0, 0, 0, 0, 0, 0, 0, 0], 2));
        let (bytes, size) = header(true, 300);
        assert_eq!(&bytes[..size], [0x82, 126, 1, 44]);
        let (bytes, size) = header(false, 70_000);
        assert_eq!(&bytes[..size], [0x81, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
    }
}
