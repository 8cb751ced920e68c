//! IEEE 802.1Q VLAN tags: the four bytes between the source MAC and the inner
//! EtherType of a tagged frame (TPID 0x8100 in the outer EtherType position).
//!
//! ```text
//!  dst (6) | src (6) | 0x8100 | PCP:3 DEI:1 VID:12 | inner EtherType (2) | payload
//!                    '---------- this view: TPID excluded, 4 bytes -------'
//! ```

use super::WireError;

mod field {
    stripecat_proto::layout! { TCI: 2, ETHERTYPE: 2 }
}

/// Bytes of the tag after the TPID (TCI and inner EtherType).
pub const HEADER_LEN: usize = field::END;
/// Bytes a tag adds to a frame (TPID and TCI).
pub const TAG_LEN: usize = 4;
/// Largest VLAN id that names a VLAN (0 is "priority only", 4095 reserved).
pub const VID_MAX: u16 = 4094;

super::view!(
    /// A view over the tag of a tagged frame (the Ethernet payload after TPID 0x8100).
    Tag, header HEADER_LEN, length only
);

impl<T: AsRef<[u8]>> Tag<T> {
    fn tci(&self) -> u16 {
        self.be16(field::TCI)
    }

    /// Priority code point (802.1p).
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop eligible indicator.
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// VLAN id.
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// The EtherType of what the tag carries.
    pub fn ethertype(&self) -> u16 {
        self.be16(field::ETHERTYPE)
    }

    /// What follows the tag.
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Tag<T> {
    fn set_tci(&mut self, tci: u16) {
        self.buf.as_mut()[field::TCI].copy_from_slice(&tci.to_be_bytes());
    }

    pub fn set_ethertype(&mut self, t: u16) {
        self.buf.as_mut()[field::ETHERTYPE].copy_from_slice(&t.to_be_bytes());
    }
}

/// A parsed tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    pub pcp: u8,
    pub dei: bool,
    pub vid: u16,
    /// The inner EtherType.
    pub ethertype: u16,
}

impl Repr {
    pub fn parse<T: AsRef<[u8]>>(t: &Tag<T>) -> Repr {
        Repr { pcp: t.pcp(), dei: t.dei(), vid: t.vid(), ethertype: t.ethertype() }
    }

    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, t: &mut Tag<T>) {
        let tci = ((self.pcp as u16 & 0x7) << 13) | ((self.dei as u16) << 12) | (self.vid & 0x0fff);
        t.set_tci(tci);
        t.set_ethertype(self.ethertype);
    }
}

/// Whether `vid` names a VLAN a member may use (1..=4094).
pub fn is_valid_vid(vid: u16) -> bool {
    (1..=VID_MAX).contains(&vid)
}

#[cfg(test)]
mod tests {
    use super::*;

    // PCP 5, DEI 0, VID 210 (0x0d2): TCI 0xa0d2; inner IPv4; then two payload bytes.
    const BYTES: [u8; 6] = [0xa0, 0xd2, 0x08, 0x00, 0xaa, 0xbb];

    /// Hand-checked tags (TCI: PCP in the top 3 bits, DEI, then the 12-bit VID) and
    /// what they say.
    const TAGS: [([u8; 4], Repr); 3] = [
        ([0xa0, 0xd2, 0x08, 0x00], Repr { pcp: 5, dei: false, vid: 210, ethertype: 0x0800 }),
        ([0x1f, 0xfe, 0x86, 0xdd], Repr { pcp: 0, dei: true, vid: 4094, ethertype: 0x86dd }),
        ([0xe0, 0x01, 0x08, 0x06], Repr { pcp: 7, dei: false, vid: 1, ethertype: 0x0806 }),
    ];

    #[test]
    fn tags_parse_and_emit_as_802_1q_lays_them_out() {
        for (bytes, repr) in TAGS {
            let t = Tag::new_checked(&bytes[..]).unwrap();
            assert_eq!((t.pcp(), t.dei(), t.vid(), t.ethertype()), (repr.pcp, repr.dei, repr.vid, repr.ethertype));
            assert_eq!(Repr::parse(&t), repr);
            let mut b = [0u8; 4];
            repr.emit(&mut Tag::new_checked(&mut b[..]).unwrap());
            assert_eq!(b, bytes, "{repr:?}");
        }
        let t = Tag::new_checked(&BYTES[..]).unwrap();
        assert_eq!(t.payload(), &[0xaa, 0xbb]);
    }

    #[test]
    fn truncated_is_rejected_and_ids_are_checked() {
        assert_eq!(Tag::new_checked(&BYTES[..3]).unwrap_err(), WireError::Truncated);
        assert!(!is_valid_vid(0) && !is_valid_vid(4095) && is_valid_vid(1) && is_valid_vid(4094));
    }
}
