//! ICMP echo (ping) requests and replies.

use super::{checksum, WireError};

mod field {
    stripecat_proto::layout! { TYPE: byte, CODE: byte, CHECKSUM: 2, REST: .. }
}

pub const HEADER_LEN: usize = 8;
pub const ECHO_REPLY: u8 = 0;
pub const ECHO_REQUEST: u8 = 8;

/// Whether `msg` is a well-formed echo request (checksum verified).
pub fn is_echo_request(msg: &[u8]) -> Result<bool, WireError> {
    if msg.len() < HEADER_LEN {
        return Err(WireError::Truncated);
    }
    if checksum::checksum(msg) != 0 {
        return Err(WireError::Checksum);
    }
    Ok(msg[field::TYPE] == ECHO_REQUEST && msg[field::CODE] == 0)
}

/// Turns an echo request into its reply in place (identifier, sequence and
/// data stay; type and checksum change).
pub fn make_echo_reply(msg: &mut [u8]) {
    msg[field::TYPE] = ECHO_REPLY;
    msg[field::CODE] = 0;
    msg[field::CHECKSUM].copy_from_slice(&[0, 0]);
    let c = checksum::checksum(msg);
    msg[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    let _ = field::REST;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_becomes_reply() {
        // Echo request id 0x1234 seq 1, data "hi", checksum filled by hand:
        // 0x0800 + 0x1234 + 0x0001 + 0x6869 = 0x829e -> !0x829e = 0x7d61.
        let mut m = [0x08, 0x00, 0x7d, 0x61, 0x12, 0x34, 0x00, 0x01, b'h', b'i'];
        assert_eq!(is_echo_request(&m), Ok(true));
        make_echo_reply(&mut m);
        assert_eq!(m[0], ECHO_REPLY);
        assert_eq!(checksum::checksum(&m), 0);
        assert_eq!(&m[4..], &[0x12, 0x34, 0x00, 0x01, b'h', b'i']);
        assert_eq!(is_echo_request(&m), Ok(false));
        m[9] ^= 1;
        assert_eq!(is_echo_request(&m), Err(WireError::Checksum));
    }
}
