//! Ethernet II frames.

use super::{Mac, WireError};

mod field {
    stripecat_proto::layout! { DST: 6, SRC: 6, ETHERTYPE: 2, PAYLOAD: .. }
}

pub const HEADER_LEN: usize = field::END;
pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// 802.1Q tag protocol identifier: a VLAN tag follows (see `vlan`).
pub const ETHERTYPE_VLAN: u16 = 0x8100;

super::view!(
    /// A view over an Ethernet frame.
    Frame, header HEADER_LEN, length only
);

impl<T: AsRef<[u8]>> Frame<T> {
    pub fn dst(&self) -> Mac {
        Mac(self.buf.as_ref()[field::DST].try_into().expect("checked length"))
    }

    pub fn src(&self) -> Mac {
        Mac(self.buf.as_ref()[field::SRC].try_into().expect("checked length"))
    }

    pub fn ethertype(&self) -> u16 {
        self.be16(field::ETHERTYPE)
    }

    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[field::PAYLOAD..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn set_dst(&mut self, m: Mac) {
        self.buf.as_mut()[field::DST].copy_from_slice(&m.0);
    }

    pub fn set_src(&mut self, m: Mac) {
        self.buf.as_mut()[field::SRC].copy_from_slice(&m.0);
    }

    pub fn set_ethertype(&mut self, t: u16) {
        self.buf.as_mut()[field::ETHERTYPE].copy_from_slice(&t.to_be_bytes());
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buf.as_mut()[field::PAYLOAD..]
    }
}

/// Parsed Ethernet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub dst: Mac,
    pub src: Mac,
    pub ethertype: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(f: &Frame<T>) -> Repr {
        Repr { dst: f.dst(), src: f.src(), ethertype: f.ethertype() }
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, f: &mut Frame<T>) {
        f.set_dst(self.dst);
        f.set_src(self.src);
        f.set_ethertype(self.ethertype);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYTES: [u8; 16] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src
        0x08, 0x06, // ARP
        0xaa, 0xbb,
    ];

    #[test]
    fn deconstruct_and_parse() {
        let f = Frame::new_checked(&BYTES[..]).unwrap();
        let r = Repr::parse(&f);
        assert_eq!(r, Repr { dst: Mac::BROADCAST, src: Mac([2, 0, 0, 0, 0, 1]), ethertype: ETHERTYPE_ARP });
        assert_eq!(f.payload(), &[0xaa, 0xbb]);
    }

    #[test]
    fn construct_and_emit() {
        let mut buf = [0u8; 16];
        buf[14..].copy_from_slice(&[0xaa, 0xbb]);
        let mut f = Frame::new_checked(&mut buf[..]).unwrap();
        Repr { dst: Mac::BROADCAST, src: Mac([2, 0, 0, 0, 0, 1]), ethertype: ETHERTYPE_ARP }.emit(&mut f);
        assert_eq!(buf, BYTES);
    }

    #[test]
    fn truncated_is_rejected() {
        assert_eq!(Frame::new_checked(&BYTES[..13]).unwrap_err(), WireError::Truncated);
    }
}
