//! IPv6 headers (RFC 8200): the fixed 40-byte header. Extension headers are not
//! followed (the data plane neither sends nor needs them): a packet whose next header
//! is one is left to the caller to refuse.

use std::net::Ipv6Addr;

use super::WireError;

mod field {
    stripecat_proto::layout! { VER_TC_FLOW: 4, PAYLOAD_LEN: 2, NEXT_HEADER: byte, HOP_LIMIT: byte, SRC: 16, DST: 16 }
}

pub const HEADER_LEN: usize = field::END;
pub const NEXT_UDP: u8 = 17;
pub const NEXT_ICMPV6: u8 = 58;

super::view!(
    /// A view over an IPv6 packet.
    Packet, header HEADER_LEN
);

fn addr(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    Ipv6Addr::from(a)
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks the version and that the payload length fits the buffer (which may be
    /// longer: Ethernet pads short frames).
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let p = Self::at_least(buf)?;
        if p.version() != 6 {
            return Err(WireError::Malformed);
        }
        if HEADER_LEN + p.payload_len() as usize > p.buf.as_ref().len() {
            return Err(WireError::Truncated);
        }
        Ok(p)
    }

    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }

    pub fn version(&self) -> u8 {
        self.b()[field::VER_TC_FLOW.start] >> 4
    }

    pub fn payload_len(&self) -> u16 {
        self.be16(field::PAYLOAD_LEN)
    }

    pub fn next_header(&self) -> u8 {
        self.b()[field::NEXT_HEADER]
    }

    pub fn hop_limit(&self) -> u8 {
        self.b()[field::HOP_LIMIT]
    }

    pub fn src(&self) -> Ipv6Addr {
        addr(&self.b()[field::SRC])
    }

    pub fn dst(&self) -> Ipv6Addr {
        addr(&self.b()[field::DST])
    }

    /// The payload, without Ethernet padding.
    pub fn payload(&self) -> &[u8] {
        &self.b()[HEADER_LEN..HEADER_LEN + self.payload_len() as usize]
    }
}

/// The parsed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: u8,
    pub payload_len: u16,
    pub hop_limit: u8,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Repr {
        Repr {
            src: p.src(),
            dst: p.dst(),
            next_header: p.next_header(),
            payload_len: p.payload_len(),
            hop_limit: p.hop_limit(),
        }
    }

    /// Writes the 40-byte header (traffic class and flow label zero) into the first
    /// [`HEADER_LEN`] bytes of `buf`.
    pub fn emit(&self, buf: &mut [u8]) {
        let h = &mut buf[..HEADER_LEN];
        h[field::VER_TC_FLOW].copy_from_slice(&[0x60, 0, 0, 0]);
        h[field::PAYLOAD_LEN].copy_from_slice(&self.payload_len.to_be_bytes());
        h[field::NEXT_HEADER] = self.next_header;
        h[field::HOP_LIMIT] = self.hop_limit;
        h[field::SRC].copy_from_slice(&self.src.octets());
        h[field::DST].copy_from_slice(&self.dst.octets());
    }
}

/// The solicited-node multicast address of `a` (RFC 4291 2.7.1): ff02::1:ffXX:XXXX.
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00 | o[13] as u16, u16::from_be_bytes([o[14], o[15]]))
}

/// The Ethernet multicast MAC of IPv6 multicast address `a` (RFC 2464 7): 33:33 and its last four bytes.
pub fn multicast_mac(a: Ipv6Addr) -> super::Mac {
    let o = a.octets();
    super::Mac([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2001:2::1 -> 2001:2::2, UDP, 8 bytes of payload, hop limit 64.
    const BYTES: [u8; 40] = [
        0x60, 0x00, 0x00, 0x00, 0x00, 0x08, 0x11, 0x40, //
        0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, //
        0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
    ];
    const A: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1);
    const B: Ipv6Addr = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2);

    #[test]
    fn deconstruct_parse_emit() {
        let mut full = BYTES.to_vec();
        full.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 0xee, 0xee]); // payload + padding
        let p = Packet::new_checked(&full[..]).unwrap();
        let r = Repr::parse(&p);
        assert_eq!(r, Repr { src: A, dst: B, next_header: NEXT_UDP, payload_len: 8, hop_limit: 64 });
        assert_eq!(p.payload(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        let mut out = [0xffu8; 40];
        r.emit(&mut out);
        assert_eq!(out, BYTES);
    }

    #[test]
    fn hostile_headers_are_refused() {
        assert_eq!(Packet::new_checked(&BYTES[..39]).unwrap_err(), WireError::Truncated);
        // payload length beyond the buffer
        assert_eq!(Packet::new_checked(&BYTES[..]).unwrap_err(), WireError::Truncated);
        let mut v4 = BYTES.to_vec();
        v4.extend_from_slice(&[0; 8]);
        v4[0] = 0x45;
        assert_eq!(Packet::new_checked(&v4[..]).unwrap_err(), WireError::Malformed);
    }

    #[test]
    fn solicited_node_address_and_mac() {
        let a = Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0xabcd, 0x1234);
        assert_eq!(solicited_node(a), "ff02::1:ffcd:1234".parse::<Ipv6Addr>().unwrap());
        assert_eq!(multicast_mac(solicited_node(a)).0, [0x33, 0x33, 0xff, 0xcd, 0x12, 0x34]);
    }
}
