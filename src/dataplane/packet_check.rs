//! The per-packet check of each member port, decided in one place.
//!
//! Every stripecat packet used to carry a CRC32C over header and payload: one more pass
//! over every byte on each end. It buys something only where a frame can be corrupted
//! between the two ends' memory. The end-to-end digest in the FIN stays in every mode.
//!
//! | port | `auto` |
//! | --- | --- |
//! | `net_memif`, `net_ring` (shared memory: a frame is the peer's buffer) | none |
//! | anything with `--impair corrupt=...` (the impairer models a wire) | CRC32C |
//! | a port with UDP checksum offload offered *and enabled* on tx and rx | UDP checksum (hardware) |
//! | everything else (`net_af_packet`, `net_pcap`, `net_null`, PCI) | CRC32C |
//!
//! `--packet-check crc32c|none` forces one mode on every member. The choice is per end:
//! a receiver on a CRC32C port refuses packets that claim to carry no check
//! (`missing_checksum` drops), whatever its peer chose, so a hostile frame cannot switch
//! checking off where it is wanted. See docs/PROTOCOL.md ("Per-packet check").

use stripecat_proto::wire::{Check, LinkCheck};

use super::members::Member;
use crate::impair::Impairment;

/// How a member port checks each packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketCheck {
    /// The protocol's CRC32C, computed in software on both ends.
    Crc32c,
    /// No per-packet check (links that cannot corrupt); the end-to-end digest stays.
    None,
    /// The UDP checksum, computed and verified by the NIC; the protocol's CRC is omitted.
    UdpChecksum,
}

impl PacketCheck {
    /// The name in `--stats-json` and docs/STATS.md.
    pub fn name(self) -> &'static str {
        match self {
            PacketCheck::Crc32c => "crc32c",
            PacketCheck::None => "none",
            PacketCheck::UdpChecksum => "udp_checksum",
        }
    }

    /// The protocol's policy for the link: whether this end does without the CRC32C (and
    /// says so to the peer in every packet, see `wire::LinkCheck`).
    pub fn policy(self) -> Check {
        match self {
            PacketCheck::Crc32c => Check::Crc32c,
            PacketCheck::None | PacketCheck::UdpChecksum => Check::Off,
        }
    }

    /// The protocol's policy for one received frame (`frame`: the whole Ethernet frame,
    /// already classified as a stripe datagram). Under UDP checksum offload a frame may
    /// come without the CRC only if its UDP checksum is set (a zero UDP checksum means
    /// "none", and `framing::classify` has verified a set one), so a frame that has
    /// neither is refused as `missing_checksum`.
    pub fn rx(self, frame: &[u8]) -> Check {
        match self {
            PacketCheck::Crc32c => Check::Crc32c,
            PacketCheck::None => Check::Off,
            PacketCheck::UdpChecksum if udp_checksum_set(frame) => Check::Off,
            PacketCheck::UdpChecksum => Check::Crc32c,
        }
    }
}

/// Where the UDP header starts in a frame (VLAN tag, IPv4 options and IPv6 honoured).
fn udp_at(frame: &[u8]) -> Option<usize> {
    super::framing::udp_offset(frame)
}

/// Whether the frame's UDP checksum field is non-zero; false for anything malformed.
fn udp_checksum_set(frame: &[u8]) -> bool {
    let Some(at) = udp_at(frame).map(|u| u + 6) else { return false };
    matches!(frame.get(at..at + 2), Some(c) if c != [0, 0])
}

/// The stripe datagram (UDP payload) of a frame; empty when malformed.
fn datagram(frame: &[u8]) -> &[u8] {
    udp_at(frame).and_then(|u| frame.get(u + 8..)).unwrap_or_default()
}

/// What `--packet-check` asks for: a per-port choice, or one check forced on every port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CheckPolicy {
    /// Per port: none on shared memory, UDP checksum where offloaded, CRC32C elsewhere.
    #[default]
    Auto,
    /// CRC32C on every port.
    Crc32c,
    /// No per-packet check on any port (the end-to-end digest stays).
    None,
}

/// What kind of link a member is, from its driver's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PortKind {
    Memif,
    Ring,
    AfPacket,
    Pcap,
    Null,
    /// A PCI device or any other driver: a real wire.
    Other,
}

impl PortKind {
    pub const ALL: [PortKind; 6] =
        [PortKind::Memif, PortKind::Ring, PortKind::AfPacket, PortKind::Pcap, PortKind::Null, PortKind::Other];

    pub fn from_driver(driver: &str) -> PortKind {
        match driver {
            "net_memif" => PortKind::Memif,
            "net_ring" => PortKind::Ring,
            "net_af_packet" => PortKind::AfPacket,
            "net_pcap" => PortKind::Pcap,
            "net_null" => PortKind::Null,
            _ => PortKind::Other,
        }
    }

    /// Frames are handed over in memory the peer reads directly: nothing can flip a bit.
    fn shared_memory(self) -> bool {
        matches!(self, PortKind::Memif | PortKind::Ring)
    }
}

/// The port's UDP checksum offload: `offered` when the device lists both
/// `RTE_ETH_TX_OFFLOAD_UDP_CKSUM` and `RTE_ETH_RX_OFFLOAD_UDP_CKSUM`, `enabled` when the
/// port was configured with both (see `Port::udp_checksum_offload`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UdpOffload {
    pub offered: bool,
    pub enabled: bool,
}

/// A member's mode and why it was chosen (both in `--stats-json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub mode: PacketCheck,
    pub reason: &'static str,
}

/// The decision, for one port. The only place it is made.
pub fn decide(kind: PortKind, offload: UdpOffload, impair_corrupts: bool, forced: CheckPolicy) -> Choice {
    let c = |mode, reason| Choice { mode, reason };
    match forced {
        CheckPolicy::Crc32c => return c(PacketCheck::Crc32c, "forced"),
        CheckPolicy::None => return c(PacketCheck::None, "forced"),
        CheckPolicy::Auto => {}
    }
    if impair_corrupts {
        // The impairer flips bits in software, before a NIC would compute a UDP checksum
        // and after it verified one: only the protocol's own CRC sees them.
        return c(PacketCheck::Crc32c, "impair corrupts");
    }
    if kind.shared_memory() {
        return c(PacketCheck::None, "shared memory");
    }
    match offload {
        UdpOffload { offered: true, enabled: true } => c(PacketCheck::UdpChecksum, "udp checksum offload"),
        UdpOffload { offered: true, enabled: false } => c(PacketCheck::Crc32c, "udp checksum offload not enabled"),
        UdpOffload { offered: false, .. } => c(PacketCheck::Crc32c, "wire"),
    }
}

/// Decides every member's mode (`impair`: the `--impair` spec applied to every member).
pub fn assign(members: &mut [Member], forced: CheckPolicy, impair: Option<Impairment>) {
    let corrupts = impair.is_some_and(|i| i.is_active() && i.corrupt > 0.0);
    for m in members {
        let (offered, enabled) = m.port.udp_checksum_offload();
        let kind = PortKind::from_driver(&m.port.info().driver);
        let choice = decide(kind, UdpOffload { offered, enabled }, corrupts, forced);
        m.check = choice.mode;
        m.check_reason = choice.reason;
    }
}

impl Member {
    /// The link's check state for frames this member sends: without the CRC only when
    /// this port's policy allows it and the peer's latest frame here offered it too.
    #[inline]
    pub fn tx_check(&self) -> LinkCheck {
        LinkCheck { policy: self.check.policy(), peer_accepts_unchecked: self.peer_accepts_unchecked }
    }

    /// The protocol's check policy for `frame` (a stripe datagram received on this
    /// member), and learning the peer's offer from it. Learnt before the packet is
    /// verified: a forged or corrupted offer can make this end send unchecked only where
    /// its own policy already allows it (and a frame the peer then refuses is resent);
    /// what this end accepts is its own policy alone.
    #[inline]
    pub fn rx_check(&mut self, frame: &[u8]) -> Check {
        if self.check != PacketCheck::Crc32c {
            let mut link = self.tx_check();
            link.learn(datagram(frame));
            self.peer_accepts_unchecked = link.peer_accepts_unchecked;
        }
        self.check.rx(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFLOADS: [UdpOffload; 3] = [
        UdpOffload { offered: false, enabled: false },
        UdpOffload { offered: true, enabled: false },
        UdpOffload { offered: true, enabled: true },
    ];

    #[test]
    fn every_kind_impair_offload_and_forced_option() {
        for kind in PortKind::ALL {
            for offload in OFFLOADS {
                for corrupts in [false, true] {
                    for forced in [CheckPolicy::Auto, CheckPolicy::Crc32c, CheckPolicy::None] {
                        let got = decide(kind, offload, corrupts, forced);
                        let want = match forced {
                            CheckPolicy::Crc32c => PacketCheck::Crc32c,
                            CheckPolicy::None => PacketCheck::None,
                            CheckPolicy::Auto if corrupts => PacketCheck::Crc32c,
                            CheckPolicy::Auto if matches!(kind, PortKind::Memif | PortKind::Ring) => PacketCheck::None,
                            CheckPolicy::Auto if offload.offered && offload.enabled => PacketCheck::UdpChecksum,
                            CheckPolicy::Auto => PacketCheck::Crc32c,
                        };
                        assert_eq!(got.mode, want, "{kind:?} {offload:?} corrupts={corrupts} {forced:?}");
                        assert!(!got.reason.is_empty());
                    }
                }
            }
        }
    }

    #[test]
    fn the_table_in_words() {
        let none = UdpOffload::default();
        let auto = CheckPolicy::Auto;
        assert_eq!(
            decide(PortKind::Memif, none, false, auto),
            Choice { mode: PacketCheck::None, reason: "shared memory" }
        );
        assert_eq!(decide(PortKind::Ring, none, false, auto).mode, PacketCheck::None);
        for wire in [PortKind::AfPacket, PortKind::Pcap, PortKind::Null, PortKind::Other] {
            assert_eq!(decide(wire, none, false, auto), Choice { mode: PacketCheck::Crc32c, reason: "wire" });
        }
        // Offered but not switched on: falls back to the CRC.
        let offered = UdpOffload { offered: true, enabled: false };
        assert_eq!(decide(PortKind::Other, offered, false, auto).mode, PacketCheck::Crc32c);
        let on = UdpOffload { offered: true, enabled: true };
        assert_eq!(decide(PortKind::Other, on, false, auto).mode, PacketCheck::UdpChecksum);
        // Memif with corruption impaired keeps the CRC; so does an offloading NIC.
        assert_eq!(decide(PortKind::Memif, none, true, auto).mode, PacketCheck::Crc32c);
        assert_eq!(decide(PortKind::Other, on, true, auto).mode, PacketCheck::Crc32c);
    }

    #[test]
    fn driver_names_map_to_kinds() {
        assert_eq!(PortKind::from_driver("net_memif"), PortKind::Memif);
        assert_eq!(PortKind::from_driver("net_ring"), PortKind::Ring);
        assert_eq!(PortKind::from_driver("net_af_packet"), PortKind::AfPacket);
        assert_eq!(PortKind::from_driver("net_pcap"), PortKind::Pcap);
        assert_eq!(PortKind::from_driver("net_null"), PortKind::Null);
        assert_eq!(PortKind::from_driver("net_ice"), PortKind::Other);
        assert_eq!(PortKind::from_driver(""), PortKind::Other);
    }

    fn frame(udp_cksum: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 8 + 48];
        f[12] = 0x08; // IPv4
        f[14] = 0x45;
        f[14 + 20 + 6..14 + 20 + 8].copy_from_slice(&udp_cksum.to_be_bytes());
        f
    }

    #[test]
    fn receive_policies() {
        for f in [frame(0), frame(0xbeef)] {
            assert_eq!(PacketCheck::Crc32c.rx(&f), Check::Crc32c);
            assert_eq!(PacketCheck::None.rx(&f), Check::Off);
        }
        assert_eq!(PacketCheck::UdpChecksum.rx(&frame(0xbeef)), Check::Off);
        assert_eq!(PacketCheck::UdpChecksum.rx(&frame(0)), Check::Crc32c);
        for len in 0..40 {
            assert_eq!(PacketCheck::UdpChecksum.rx(&frame(0xbeef)[..len]), Check::Crc32c, "len {len}");
        }
        assert_eq!(PacketCheck::Crc32c.policy(), Check::Crc32c);
        assert_eq!(PacketCheck::None.policy(), Check::Off);
        assert_eq!(PacketCheck::UdpChecksum.policy(), Check::Off);
        // The datagram starts after Ethernet, IPv4 (IHL) and UDP.
        let mut f = frame(0);
        f[14 + 20 + 8 + 4] = 0x04;
        assert_eq!(datagram(&f).len(), 48);
        assert_eq!(datagram(&f)[4], 0x04);
        assert!(datagram(&f[..20]).is_empty());
    }
}
