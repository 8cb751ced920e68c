//! The per-packet check: CRC32C over header and payload, and each link's policy
//! ([`Check`], [`LinkCheck`]).

use super::*;

/// CRC32C over the header (with the checksum field taken as zero) and the payload.
///
/// Takes the two parts separately because the DPDK driver prepends the header in an
/// mbuf's headroom while the payload stays in the data room. `header` must be at least
/// [`HEADER_LEN`] bytes; only the first `HEADER_LEN` are covered.
pub fn compute_checksum(header: &[u8], payload: &[u8]) -> u32 {
    let h = &header[..HEADER_LEN.min(header.len())];
    let before = &h[..field::CHECKSUM.start.min(h.len())];
    let mut crc = crc32c::crc32c(before);
    crc = crc32c::crc32c_append(crc, &[0u8; 4]);
    crc32c::crc32c_append(crc, payload)
}

/// Stores the CRC32C of `header` + `payload` into the header's checksum field.
///
/// # Panics
/// If `header` is shorter than [`HEADER_LEN`] (a driver bug, never wire input).
pub fn fill_checksum(header: &mut [u8], payload: &[u8]) {
    let crc = compute_checksum(header, payload);
    header[field::CHECKSUM].copy_from_slice(&crc.to_be_bytes());
}

/// Checks the CRC32C stored in `header` against `header` + `payload`.
/// Returns false (never panics) if the header is too short.
pub fn verify_checksum(header: &[u8], payload: &[u8]) -> bool {
    if header.len() < HEADER_LEN {
        return false;
    }
    let stored = u32::from_be_bytes(header[field::CHECKSUM].try_into().unwrap_or_default());
    compute_checksum(header, payload) == stored
}

/// The per-packet check of a link, as each end configures it for itself (the data plane
/// decides it per member port).
///
/// Sending: [`Check::Crc32c`] fills the CRC32C; [`Check::Off`] sets [`Flags::NO_CHECK`] and
/// leaves the field zero, saving a pass over every byte. Receiving: [`Check::Crc32c`]
/// refuses packets without a CRC ([`WireError::MissingChecksum`]); [`Check::Off`] accepts
/// them. A packet that carries a CRC is verified under either policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Check {
    /// CRC32C over header and payload, sent and required.
    #[default]
    Crc32c,
    /// No per-packet check: for links that cannot corrupt (the end-to-end digest stays).
    Off,
}

/// One end's check state for one link: its own policy, and whether the peer's latest
/// packet on the link said it accepts unchecked packets. Sending is unchecked only when
/// both allow it, so ends with different policies (or a peer that predates the flags) keep
/// the CRC both ways; the first packets on a link, before the peer has said anything,
/// carry it too. A forged or corrupted advertisement can change only what this end
/// *sends*, within its own policy; what it accepts is its policy alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct LinkCheck {
    /// What this end requires of received packets.
    pub policy: Check,
    /// The peer's latest packet on this link carried [`Flags::ACCEPTS_UNCHECKED`].
    pub peer_accepts_unchecked: bool,
}

impl LinkCheck {
    /// Always the CRC, both ways (the version-1 behaviour).
    pub const CRC32C: LinkCheck = LinkCheck { policy: Check::Crc32c, peer_accepts_unchecked: false };

    /// A link under `policy` whose peer has not been heard yet.
    pub const fn new(policy: Check) -> LinkCheck {
        LinkCheck { policy, peer_accepts_unchecked: false }
    }

    /// How the next packet goes out.
    pub fn tx(self) -> Check {
        match (self.policy, self.peer_accepts_unchecked) {
            (Check::Off, true) => Check::Off,
            _ => Check::Crc32c,
        }
    }

    /// Learns the peer's advertisement from a received datagram, before the driver hands
    /// it to the protocol. A withdrawn offer is taken at once (the safe direction); a new
    /// offer only from a packet that is itself unchecked (the peer already sends that way)
    /// or whose CRC verifies, so a bit flipped on the way cannot start unchecked sending
    /// (that costs one CRC per change of mind, not per packet). Inputs that are not a whole
    /// packet change nothing; never panics.
    pub fn learn(&mut self, datagram: &[u8]) {
        let Ok(p) = Packet::new_checked(datagram) else { return };
        let flags = Flags(p.flags_raw());
        if !flags.accepts_unchecked() {
            self.peer_accepts_unchecked = false;
        } else if !self.peer_accepts_unchecked && (flags.no_check() || p.verify_checksum()) {
            self.peer_accepts_unchecked = true;
        }
    }
}

/// Checks a received packet (header and payload as separate slices) against the receiving
/// link's policy: a packet with a CRC must match it ([`WireError::BadChecksum`]); a packet
/// marked [`Flags::NO_CHECK`] passes only under [`Check::Off`]
/// ([`WireError::MissingChecksum`] otherwise). Never panics (a short header is
/// [`WireError::Truncated`]).
pub fn verify_check(header: &[u8], payload: &[u8], policy: Check) -> Result<(), WireError> {
    let Some(&flags) = header.get(field::FLAGS).filter(|_| header.len() >= HEADER_LEN) else {
        return Err(WireError::Truncated { have: header.len(), need: HEADER_LEN });
    };
    if Flags(flags).no_check() {
        return match policy {
            Check::Off => Ok(()),
            Check::Crc32c => Err(WireError::MissingChecksum),
        };
    }
    if verify_checksum(header, payload) {
        Ok(())
    } else {
        Err(WireError::BadChecksum)
    }
}
