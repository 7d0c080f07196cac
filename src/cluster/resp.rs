//! RESP2, the Redis protocol, by the `redis-protocol` crate used sans-IO:
//! commands are encoded into the link's output buffer, and replies decoded
//! from its input buffer as they complete. Nothing here touches a socket.

pub use redis_protocol::resp2::types::OwnedFrame as Frame;
use redis_protocol::resp2::types::Resp2Frame;

/// Appends `args` as one command (an array of bulk strings) to `out`.
pub fn encode(args: &[&[u8]], out: &mut Vec<u8>) -> Result<(), String> {
    let frame = Frame::Array(args.iter().map(|a| Frame::BulkString(a.to_vec())).collect());
    let start = out.len();
    out.resize(start + frame.encode_len(false), 0);
    match redis_protocol::resp2::encode::encode(&mut out[start..], &frame, false) {
        Ok(n) => {
            out.truncate(start + n);
            Ok(())
        }
        Err(e) => {
            out.truncate(start);
            Err(format!("cannot encode a Redis command: {e}"))
        }
    }
}

/// The first complete reply in `input` and the bytes it took; `None` while
/// it is incomplete. An error means the stream is not RESP.
pub fn decode(input: &[u8]) -> Result<Option<(Frame, usize)>, String> {
    redis_protocol::resp2::decode::decode(input)
        .map_err(|e| format!("Redis sent something that is not RESP: {e}"))
}

/// A reply to HGETALL as field/value pairs, if it is one.
pub fn pairs(frame: &Frame) -> Option<Vec<(String, String)>> {
    let Frame::Array(items) = frame else {
        return None;
    };
    let text = |f: &Frame| match f {
        Frame::BulkString(b) | Frame::SimpleString(b) => String::from_utf8(b.clone()).ok(),
        _ => None,
    };
    items
        .chunks(2)
        .map(|pair| match pair {
            [k, v] => Some((text(k)?, text(v)?)),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_round_trips() {
        let mut out = b"x".to_vec();
        encode(&[b"HSET", b"k", b"f", b"v v"], &mut out).expect("encode");
        assert_eq!(
            out,
            b"x*4\r\n$4\r\nHSET\r\n$1\r\nk\r\n$1\r\nf\r\n$3\r\nv v\r\n"
        );
        let (frame, used) = decode(&out[1..]).expect("decode").expect("complete");
        assert_eq!(used, out.len() - 1);
        assert!(matches!(frame, Frame::Array(ref a) if a.len() == 4));
    }

    #[test]
    fn replies_come_whole_or_not_at_all() {
        let reply = b"*2\r\n$1\r\na\r\n$3\r\n1 2\r\n+OK\r\n";
        for cut in 0..16 {
            assert_eq!(decode(&reply[..cut]).expect("incomplete, not wrong"), None);
        }
        let (frame, used) = decode(reply).expect("decode").expect("complete");
        assert_eq!(pairs(&frame), Some(vec![("a".into(), "1 2".into())]));
        let (ok, _) = decode(&reply[used..]).expect("decode").expect("complete");
        assert_eq!(ok, Frame::SimpleString(b"OK".to_vec()));
        assert!(decode(b"?what\r\n").is_err());
        assert_eq!(pairs(&ok), None);
        assert_eq!(pairs(&Frame::Array(vec![Frame::Integer(1)])), None);
    }
}
