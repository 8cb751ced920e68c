//! ARP for IPv4 over Ethernet (RFC 826): requests and replies.

use std::net::Ipv4Addr;

use super::{Mac, WireError};

mod field {
    stripecat_proto::layout! { HTYPE: 2, PTYPE: 2, HLEN: byte, PLEN: byte, OPER: 2, SHA: 6, SPA: 4, THA: 6, TPA: 4 }
}

pub const PACKET_LEN: usize = field::END;
pub const OP_REQUEST: u16 = 1;
pub const OP_REPLY: u16 = 2;

/// A parsed Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub operation: u16,
    pub sender_mac: Mac,
    pub sender_ip: Ipv4Addr,
    pub target_mac: Mac,
    pub target_ip: Ipv4Addr,
}

fn ip(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(b[0], b[1], b[2], b[3])
}

impl Repr {
    /// Parses an ARP payload; anything but Ethernet/IPv4 request or reply
    /// is refused.
    pub fn parse(b: &[u8]) -> Result<Repr, WireError> {
        if b.len() < PACKET_LEN {
            return Err(WireError::Truncated);
        }
        if b[field::HTYPE] != [0, 1] || b[field::PTYPE] != [0x08, 0x00] || b[field::HLEN] != 6 || b[field::PLEN] != 4 {
            return Err(WireError::Unsupported);
        }
        let operation = super::be16(b, field::OPER);
        if operation != OP_REQUEST && operation != OP_REPLY {
            return Err(WireError::Unsupported);
        }
        Ok(Repr {
            operation,
            sender_mac: Mac(b[field::SHA].try_into().expect("length checked")),
            sender_ip: ip(&b[field::SPA]),
            target_mac: Mac(b[field::THA].try_into().expect("length checked")),
            target_ip: ip(&b[field::TPA]),
        })
    }

    /// Writes the 28-byte packet.
    pub fn emit(&self, b: &mut [u8]) {
        let b = &mut b[..PACKET_LEN];
        b[field::HTYPE].copy_from_slice(&[0, 1]);
        b[field::PTYPE].copy_from_slice(&[0x08, 0x00]);
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
        b[field::OPER].copy_from_slice(&self.operation.to_be_bytes());
        b[field::SHA].copy_from_slice(&self.sender_mac.0);
        b[field::SPA].copy_from_slice(&self.sender_ip.octets());
        b[field::THA].copy_from_slice(&self.target_mac.0);
        b[field::TPA].copy_from_slice(&self.target_ip.octets());
    }

    /// The reply to this request from `(mac, ip)`.
    pub fn reply_from(&self, mac: Mac, ip: Ipv4Addr) -> Repr {
        Repr {
            operation: OP_REPLY,
            sender_mac: mac,
            sender_ip: ip,
            target_mac: self.sender_mac,
            target_ip: self.sender_ip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // who-has 198.18.0.2 tell 198.18.0.1 (02:00:00:00:00:01)
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, //
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 198, 18, 0, 1, //
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 198, 18, 0, 2,
    ];

    #[test]
    fn parse_and_emit_request() {
        let r = Repr::parse(&REQUEST).unwrap();
        assert_eq!(r.operation, OP_REQUEST);
        assert_eq!(r.sender_ip, Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(r.target_ip, Ipv4Addr::new(198, 18, 0, 2));
        let mut out = [0u8; 28];
        r.emit(&mut out);
        assert_eq!(out, REQUEST);
    }

    #[test]
    fn reply_swaps_roles() {
        let r = Repr::parse(&REQUEST).unwrap();
        let me = Mac([2, 0, 0, 0, 0, 2]);
        let rep = r.reply_from(me, Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(rep.operation, OP_REPLY);
        assert_eq!((rep.sender_mac, rep.target_mac), (me, Mac([2, 0, 0, 0, 0, 1])));
        assert_eq!(rep.target_ip, Ipv4Addr::new(198, 18, 0, 1));
    }

    #[test]
    fn refuses_other_hardware_and_ops() {
        let mut b = REQUEST;
        b[1] = 6;
        assert_eq!(Repr::parse(&b), Err(WireError::Unsupported));
        let mut b = REQUEST;
        b[7] = 3;
        assert_eq!(Repr::parse(&b), Err(WireError::Unsupported));
        assert_eq!(Repr::parse(&REQUEST[..27]), Err(WireError::Truncated));
    }
}
