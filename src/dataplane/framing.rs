//! Ethernet (optionally 802.1Q-tagged) / IPv4 or IPv6 / UDP framing around the
//! striping protocol, and the classification of every received frame (stripe
//! datagram, ARP, neighbour discovery, ping, or a counted drop). Frames off the
//! wire are untrusted: everything goes through the `wire` views' checked
//! constructors.
//!
//! A member's [`Encap`] says how its frames are wrapped: `dst src [8100 TCI] type`,
//! then a 20-byte IPv4 or 40-byte IPv6 header, then UDP (its checksum zero over IPv4,
//! always filled over IPv6).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use stripecat_proto::wire::LinkCheck;
use stripecat_proto::Keyring;
use stripecat_proto::Transmit;

use super::addr::{Endpoint, MemberNet};
use super::payload::MbufPayload;
use crate::dpdk::{Mbuf, Mempool};
use crate::wire::{arp, checksum, ethernet, icmp, icmpv6, ipv4, ipv6, udp, vlan, Mac};

/// Bytes in front of every striping-protocol datagram on an untagged IPv4 member.
pub const L2_L4_LEN: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN;
/// The most bytes in front of a datagram: a tagged IPv6 member.
pub const MAX_L2_L4_LEN: usize = ethernet::HEADER_LEN + vlan::TAG_LEN + ipv6::HEADER_LEN + udp::HEADER_LEN;
/// Ethernet's minimum frame (without FCS); shorter frames are padded.
const MIN_FRAME: usize = 60;
const TTL: u8 = 64;

/// How a member's frames are wrapped below UDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Encap {
    /// 802.1Q VLAN id, or untagged.
    pub vlan: Option<u16>,
    /// IPv6 instead of IPv4.
    pub v6: bool,
}

impl Encap {
    /// The member's wrapping.
    pub fn of(net: &MemberNet) -> Encap {
        Encap { vlan: net.vlan, v6: net.is_v6() }
    }

    /// Ethernet header bytes (with the tag).
    pub fn l2_len(&self) -> usize {
        ethernet::HEADER_LEN + if self.vlan.is_some() { vlan::TAG_LEN } else { 0 }
    }

    /// IP header bytes.
    pub fn ip_len(&self) -> usize {
        if self.v6 {
            ipv6::HEADER_LEN
        } else {
            ipv4::HEADER_LEN
        }
    }

    /// Bytes in front of a datagram.
    pub fn l2_l4_len(&self) -> usize {
        self.l2_len() + self.ip_len() + udp::HEADER_LEN
    }

    /// Writes the Ethernet header (and tag) for `ethertype`; returns its length.
    pub fn write_l2(&self, buf: &mut [u8], src: Mac, dst: Mac, ethertype: u16) -> usize {
        let outer = if self.vlan.is_some() { ethernet::ETHERTYPE_VLAN } else { ethertype };
        let mut f = ethernet::Frame::new_checked(&mut buf[..]).expect("room for the header");
        ethernet::Repr { dst, src, ethertype: outer }.emit(&mut f);
        if let Some(vid) = self.vlan {
            let mut t = vlan::Tag::new_checked(&mut buf[ethernet::HEADER_LEN..]).expect("room for the tag");
            vlan::Repr { pcp: 0, dei: false, vid, ethertype }.emit(&mut t);
        }
        self.l2_len()
    }
}

/// Why a received frame was not for the protocol (counted, then freed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameDrop {
    /// Neither IPv4, IPv6 nor ARP (LLDP, ...), or the other family than the member's.
    OtherEthertype,
    /// Truncated or malformed L2-L4 headers.
    Malformed,
    /// IPv4 header checksum wrong.
    BadIpChecksum,
    /// UDP checksum present and wrong (or missing over IPv6).
    BadUdpChecksum,
    /// IP addressed to someone else.
    NotForUs,
    /// IP but neither UDP nor ICMP (IPv6 extension headers included).
    OtherProtocol,
    /// UDP to a port we do not serve.
    WrongPort,
    /// ARP we do not answer (not for our address, unsupported).
    Arp,
    /// ICMP other than an echo request, or ICMPv6 other than echo and neighbour discovery.
    Icmp,
    /// Tagged with another VLAN than the member's, or tagged on an untagged member (and
    /// the reverse).
    WrongVlan,
}

impl FrameDrop {
    pub const ALL: [FrameDrop; 10] = [
        FrameDrop::OtherEthertype,
        FrameDrop::Malformed,
        FrameDrop::BadIpChecksum,
        FrameDrop::BadUdpChecksum,
        FrameDrop::NotForUs,
        FrameDrop::OtherProtocol,
        FrameDrop::WrongPort,
        FrameDrop::Arp,
        FrameDrop::Icmp,
        FrameDrop::WrongVlan,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FrameDrop::OtherEthertype => "other_ethertype",
            FrameDrop::Malformed => "malformed_frame",
            FrameDrop::BadIpChecksum => "bad_ip_checksum",
            FrameDrop::BadUdpChecksum => "bad_udp_checksum",
            FrameDrop::NotForUs => "not_for_us",
            FrameDrop::OtherProtocol => "other_ip_protocol",
            FrameDrop::WrongPort => "wrong_udp_port",
            FrameDrop::Arp => "arp_ignored",
            FrameDrop::Icmp => "icmp_ignored",
            FrameDrop::WrongVlan => "wrong_vlan",
        }
    }
}

/// What a received frame is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// A striping-protocol datagram at `range` of the frame, from `from`,
    /// to our UDP port `to_port`.
    Stripe { from: Endpoint, to_port: u16, range: core::ops::Range<usize> },
    /// An ARP request or reply (request for our address, or any reply).
    Arp(arp::Repr),
    /// A neighbour solicitation or advertisement (hop limit 255, checksum verified),
    /// from `ip` at Ethernet source `mac`.
    Nd { msg: icmpv6::Repr, ip: Ipv6Addr, mac: Mac },
    /// An ICMP or ICMPv6 echo request to us (answer with [`echo_reply_in_place`]).
    EchoRequest,
    /// Not for us; count and free.
    Drop(FrameDrop),
}

/// The Ethernet payload of `frame` and its EtherType, past a VLAN tag, when the tag
/// matches `want` (`None`: untagged; a priority tag, VLAN 0, counts as untagged).
fn l2_payload(frame: &[u8], want: Option<u16>) -> Result<(u16, usize), FrameDrop> {
    let eth = ethernet::Frame::new_checked(frame).map_err(|_| FrameDrop::Malformed)?;
    if eth.ethertype() != ethernet::ETHERTYPE_VLAN {
        return if want.is_none() { Ok((eth.ethertype(), ethernet::HEADER_LEN)) } else { Err(FrameDrop::WrongVlan) };
    }
    let tag = vlan::Tag::new_checked(eth.payload()).map_err(|_| FrameDrop::Malformed)?;
    let vid = Some(tag.vid()).filter(|v| *v != 0);
    if vid != want {
        return Err(FrameDrop::WrongVlan);
    }
    Ok((tag.ethertype(), ethernet::HEADER_LEN + vlan::TAG_LEN))
}

/// The EtherType a frame carries and where its payload starts, past one VLAN tag.
fn l3(frame: &[u8]) -> Option<(u16, usize)> {
    let t = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    if t == ethernet::ETHERTYPE_VLAN {
        let inner = u16::from_be_bytes([*frame.get(16)?, *frame.get(17)?]);
        return Some((inner, ethernet::HEADER_LEN + vlan::TAG_LEN));
    }
    Some((t, ethernet::HEADER_LEN))
}

/// Where the UDP header (or ICMP message) starts in a frame, tag and IPv4 options
/// honoured, if the frame is IPv4 or IPv6 as far as its first bytes tell.
pub fn udp_offset(frame: &[u8]) -> Option<usize> {
    match l3(frame)? {
        (ethernet::ETHERTYPE_IPV4, at) => Some(at + ((*frame.get(at)? & 0x0f) as usize) * 4),
        (ethernet::ETHERTYPE_IPV6, at) => Some(at + ipv6::HEADER_LEN),
        _ => None,
    }
}

/// Classifies one frame for a member at `net` serving UDP ports `ports`.
pub fn classify(frame: &[u8], net: &MemberNet, ports: core::ops::Range<u16>) -> Classified {
    use Classified::Drop;
    let (ethertype, l2) = match l2_payload(frame, net.vlan) {
        Ok(x) => x,
        Err(why) => return Drop(why),
    };
    let src_mac = Mac(frame[6..12].try_into().expect("checked length"));
    let body = &frame[l2..];
    match (ethertype, net.local) {
        (ethernet::ETHERTYPE_ARP, IpAddr::V4(us)) => match arp::Repr::parse(body) {
            Ok(a) if a.operation == arp::OP_REPLY || a.target_ip == us => Classified::Arp(a),
            _ => Drop(FrameDrop::Arp),
        },
        (ethernet::ETHERTYPE_IPV4, IpAddr::V4(us)) => classify_v4(body, l2, us, src_mac, ports),
        (ethernet::ETHERTYPE_IPV6, IpAddr::V6(us)) => classify_v6(body, l2, us, src_mac, ports),
        _ => Drop(FrameDrop::OtherEthertype),
    }
}

fn classify_v4(body: &[u8], l2: usize, us: Ipv4Addr, src_mac: Mac, ports: core::ops::Range<u16>) -> Classified {
    use Classified::Drop;
    let Ok(ip) = ipv4::Packet::new_checked(body) else { return Drop(FrameDrop::Malformed) };
    let Ok(ipr) = ipv4::Repr::parse(&ip) else { return Drop(FrameDrop::BadIpChecksum) };
    if ipr.dst != us {
        return Drop(FrameDrop::NotForUs);
    }
    match ipr.protocol {
        ipv4::PROTO_UDP => {
            let Ok(u) = udp::Datagram::new_checked(ip.payload()) else { return Drop(FrameDrop::Malformed) };
            if !ports.contains(&u.dst_port()) {
                return Drop(FrameDrop::WrongPort);
            }
            if !u.checksum_ok(ipr.src, ipr.dst) {
                return Drop(FrameDrop::BadUdpChecksum);
            }
            let start = l2 + ip.header_len() + udp::HEADER_LEN;
            let end = start + u.payload().len();
            Classified::Stripe {
                from: Endpoint { mac: src_mac, ip: IpAddr::V4(ipr.src), port: u.src_port() },
                to_port: u.dst_port(),
                range: start..end,
            }
        }
        ipv4::PROTO_ICMP => match icmp::is_echo_request(ip.payload()) {
            Ok(true) => Classified::EchoRequest,
            _ => Drop(FrameDrop::Icmp),
        },
        _ => Drop(FrameDrop::OtherProtocol),
    }
}

fn classify_v6(body: &[u8], l2: usize, us: Ipv6Addr, src_mac: Mac, ports: core::ops::Range<u16>) -> Classified {
    use Classified::Drop;
    let Ok(ip) = ipv6::Packet::new_checked(body) else { return Drop(FrameDrop::Malformed) };
    let r = ipv6::Repr::parse(&ip);
    // Neighbour discovery also comes to our solicited-node group and to all nodes.
    let to_us = r.dst == us;
    let to_group = r.dst == ipv6::solicited_node(us) || r.dst == Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    if !to_us && !to_group {
        return Drop(FrameDrop::NotForUs);
    }
    match r.next_header {
        ipv6::NEXT_UDP if to_us => {
            let Ok(u) = udp::Datagram::new_checked(ip.payload()) else { return Drop(FrameDrop::Malformed) };
            if !ports.contains(&u.dst_port()) {
                return Drop(FrameDrop::WrongPort);
            }
            if !u.checksum_ok_v6(r.src, r.dst) {
                return Drop(FrameDrop::BadUdpChecksum);
            }
            let start = l2 + ipv6::HEADER_LEN + udp::HEADER_LEN;
            let end = start + u.payload().len();
            Classified::Stripe {
                from: Endpoint { mac: src_mac, ip: IpAddr::V6(r.src), port: u.src_port() },
                to_port: u.dst_port(),
                range: start..end,
            }
        }
        ipv6::NEXT_ICMPV6 => match icmpv6::Repr::parse(ip.payload(), r.src, r.dst) {
            Ok(icmpv6::Repr::EchoRequest) if to_us => Classified::EchoRequest,
            Ok(msg @ (icmpv6::Repr::NeighborSolicit { .. } | icmpv6::Repr::NeighborAdvert { .. }))
                if r.hop_limit == icmpv6::ND_HOP_LIMIT =>
            {
                Classified::Nd { msg, ip: r.src, mac: src_mac }
            }
            _ => Drop(FrameDrop::Icmp),
        },
        ipv6::NEXT_UDP => Drop(FrameDrop::NotForUs),
        _ => Drop(FrameDrop::OtherProtocol),
    }
}

/// Writes Ethernet (+ tag) + IP + UDP headers for a UDP payload of `udp_payload`
/// bytes into the first [`Encap::l2_l4_len`] bytes of `buf`. Over IPv6 the UDP
/// checksum is left zero for the caller to fill ([`fill_udp6_checksum`]).
pub fn write_l2_l4(buf: &mut [u8], encap: Encap, src: &Endpoint, dst: &Endpoint, udp_payload: usize, ident: u16) {
    let udp_len = udp::HEADER_LEN + udp_payload;
    match (src.ip, dst.ip) {
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let at = encap.write_l2(buf, src.mac, dst.mac, ethernet::ETHERTYPE_IPV6);
            ipv6::Repr { src: s, dst: d, next_header: ipv6::NEXT_UDP, payload_len: udp_len as u16, hop_limit: TTL }
                .emit(&mut buf[at..]);
        }
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let at = encap.write_l2(buf, src.mac, dst.mac, ethernet::ETHERTYPE_IPV4);
            ipv4::Repr { src: s, dst: d, protocol: ipv4::PROTO_UDP, payload_len: udp_len as u16, ttl: TTL, ident }
                .emit(&mut buf[at..]);
        }
        // The plan never mixes families on one member; a frame between them is nonsense.
        _ => debug_assert!(false, "one member, one address family"),
    }
    let at = encap.l2_len() + encap.ip_len();
    udp::Repr { src_port: src.port, dst_port: dst.port, payload_len: udp_payload as u16 }.emit(&mut buf[at..]);
}

/// Fills the IPv6 UDP checksum of a frame built by [`write_l2_l4`]: `first` is the
/// frame's first segment (headers, and everything in it), `chained` a payload that
/// follows as its own segment.
pub fn fill_udp6_checksum(first: &mut [u8], encap: Encap, src: &Endpoint, dst: &Endpoint, chained: Option<&[u8]>) {
    let (IpAddr::V6(s), IpAddr::V6(d)) = (src.ip, dst.ip) else { return };
    let at = encap.l2_len() + ipv6::HEADER_LEN;
    let extra = chained.map_or((0, 0), |p| (checksum::sum(p, 0), p.len()));
    // The UDP length field says how much of the first segment is datagram (Ethernet
    // padding after it is not).
    let udp_len = u16::from_be_bytes([first[at + 4], first[at + 5]]) as usize;
    let in_first = udp_len.saturating_sub(extra.1).min(first.len() - at);
    udp::fill_checksum_v6(&mut first[at..at + in_first], extra, s, d);
}

/// Why a frame could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildError {
    /// The header pool is empty (back-pressure: try again later).
    NoBuffer,
    /// The frame does not fit the buffer.
    TooBig,
}

/// How a member sends: whether DATA payloads may be chained, its link check state, and
/// the session keys (a sealed transmit is written whole, see [`build_transmit`]).
#[derive(Clone, Copy)]
pub struct TxWay<'a> {
    pub chain: bool,
    pub check: LinkCheck,
    pub keyring: &'a Keyring,
}

/// Builds the frame for one protocol transmit on a member wrapped as `encap`. DATA
/// payloads are chained as their own segment (zero copy) when `chain` is allowed;
/// otherwise (drivers without multi-segment transmit) the payload is copied after the
/// header. `way` says how: `check` is the member's link check state (`Member::tx_check`): when it
/// sends without the CRC, the CRC is not computed and the payload not read (over IPv6
/// the UDP checksum reads it anyway).
pub fn build_transmit(
    pool: &Mempool,
    t: &Transmit<MbufPayload>,
    encap: Encap,
    src: &Endpoint,
    dst: &Endpoint,
    ident: u16,
    way: TxWay<'_>,
) -> Result<Mbuf, BuildError> {
    let TxWay { chain, check, keyring } = way;
    let mut m = pool.alloc().ok_or(BuildError::NoBuffer)?;
    if t.is_sealed() {
        // Sealed: header, ciphertext and tag are written in one pass into this buffer;
        // the payload mbuf stays plaintext for a resend (no chaining, no extra copy).
        let lead = encap.l2_l4_len();
        let n = t.sealed_len();
        let udp_payload = n.max(t.pad_to as usize);
        let pad = MIN_FRAME.saturating_sub(lead + udp_payload);
        let buf = m.append(lead + udp_payload + pad).ok_or(BuildError::TooBig)?;
        write_l2_l4(buf, encap, src, dst, udp_payload, ident);
        t.seal(&mut buf[lead..], keyring).map_err(|_| BuildError::TooBig)?;
        buf[lead + n..].fill(0);
        if encap.v6 {
            fill_udp6_checksum(buf, encap, src, dst, None);
        }
        return Ok(m);
    }
    let hdr = t.header_len();
    let lead = encap.l2_l4_len();
    let payload_len = t.payload.as_ref().map_or(0, |p| p.len());
    // A path-MTU probe asks for zero padding inside the datagram (counted in the UDP
    // length); Ethernet's minimum-frame padding comes after it.
    let probe_pad = t.padding();
    let udp_payload = hdr + payload_len + probe_pad;
    let pad = MIN_FRAME.saturating_sub(lead + udp_payload);
    // Chaining needs the payload to be a whole mbuf and the frame to need no
    // padding (padding must follow the payload). DATA frames are never short.
    let chained = chain && pad == 0 && probe_pad == 0 && t.payload.as_ref().is_some_and(|p| p.is_whole());
    let in_first = lead + hdr + if chained { 0 } else { payload_len } + probe_pad + pad;
    {
        let buf = m.append(in_first).ok_or(BuildError::TooBig)?;
        write_l2_l4(buf, encap, src, dst, udp_payload, ident);
        let written = t.emit_with(&mut buf[lead..], check);
        debug_assert_eq!(written, hdr);
        let mut end = lead + hdr;
        if let (Some(p), false) = (&t.payload, chained) {
            buf[end..end + payload_len].copy_from_slice(p.as_ref());
            end += payload_len;
        }
        buf[end..].fill(0);
        if encap.v6 {
            let rest = t.payload.as_ref().filter(|_| chained).map(|p| p.as_ref());
            fill_udp6_checksum(buf, encap, src, dst, rest);
        }
    }
    if let (Some(p), true) = (&t.payload, chained) {
        m.chain_shared(p.mbuf()).map_err(|_| BuildError::TooBig)?;
    }
    Ok(m)
}

/// `m` in one piece: a chained frame (ring ports hand over the sender's
/// chains) is replaced by a flat copy from `pool` and counted in `joined`;
/// `None` if the pool is empty (the frame is dropped, the protocol resends).
pub fn flatten(m: Mbuf, pool: &Mempool, joined: &mut u64) -> Option<Mbuf> {
    if m.segments() <= 1 {
        return Some(m);
    }
    *joined += 1;
    flat_copy(&m, pool)
}

/// A copy of a (possibly chained) frame in one fresh buffer from `pool`:
/// for parsers that need the frame in one piece (ring ports hand over the
/// sender's chains) and for changes that must not touch shared segments.
pub fn flat_copy(m: &Mbuf, pool: &Mempool) -> Option<Mbuf> {
    let mut fresh = pool.alloc()?;
    let buf = fresh.append(m.pkt_len())?;
    let mut at = 0;
    for seg in m.segment_data() {
        buf[at..at + seg.len()].copy_from_slice(seg);
        at += seg.len();
    }
    Some(fresh)
}

/// Builds an ARP frame (request or reply) in a fresh mbuf, tagged as `encap` says.
pub fn build_arp(pool: &Mempool, encap: Encap, src_mac: Mac, dst_mac: Mac, a: &arp::Repr) -> Option<Mbuf> {
    let mut m = pool.alloc()?;
    let buf = m.append(MIN_FRAME.max(encap.l2_len() + arp::PACKET_LEN))?;
    buf.fill(0);
    let at = encap.write_l2(buf, src_mac, dst_mac, ethernet::ETHERTYPE_ARP);
    a.emit(&mut buf[at..]);
    Some(m)
}

/// Builds a neighbour discovery message (hop limit 255) from `src` to `dst` in a
/// fresh mbuf, tagged as `encap` says.
pub fn build_nd(
    pool: &Mempool,
    encap: Encap,
    (src_mac, src): (Mac, Ipv6Addr),
    (dst_mac, dst): (Mac, Ipv6Addr),
    msg: &icmpv6::Repr,
) -> Option<Mbuf> {
    let mut m = pool.alloc()?;
    let len = msg.buffer_len();
    let l2 = encap.l2_len();
    let buf = m.append(MIN_FRAME.max(l2 + ipv6::HEADER_LEN + len))?;
    buf.fill(0);
    encap.write_l2(buf, src_mac, dst_mac, ethernet::ETHERTYPE_IPV6);
    let ip = ipv6::Repr {
        src,
        dst,
        next_header: ipv6::NEXT_ICMPV6,
        payload_len: len as u16,
        hop_limit: icmpv6::ND_HOP_LIMIT,
    };
    ip.emit(&mut buf[l2..]);
    msg.emit(&mut buf[l2 + ipv6::HEADER_LEN..], src, dst);
    Some(m)
}

/// Turns a received echo request frame (ICMP or ICMPv6, tagged or not) into its reply,
/// in place (swap MACs and IPs, fix checksums). False if the frame is malformed.
pub fn echo_reply_in_place(frame: &mut [u8]) -> bool {
    let Some((ethertype, ip_at)) = l3(frame) else { return false };
    let v6 = match ethertype {
        ethernet::ETHERTYPE_IPV6 => true,
        ethernet::ETHERTYPE_IPV4 => false,
        _ => return false,
    };
    if frame.len() < ip_at + ipv4::HEADER_LEN {
        return false;
    }
    // Every check comes before the first byte changes: a refused frame is left as it was.
    if v6 {
        let (src, dst, len) = {
            let Ok(p) = ipv6::Packet::new_checked(&frame[ip_at..]) else { return false };
            (p.src(), p.dst(), p.payload_len() as usize)
        };
        let at = ip_at + ipv6::HEADER_LEN;
        if len < icmpv6::HEADER_LEN || frame.len() < at + len {
            return false;
        }
        swap_macs(frame);
        ipv6::Repr { src: dst, dst: src, next_header: ipv6::NEXT_ICMPV6, payload_len: len as u16, hop_limit: TTL }
            .emit(&mut frame[ip_at..]);
        icmpv6::make_echo_reply(&mut frame[at..at + len], src, dst);
        return true;
    }
    let rest = &mut frame[ip_at..];
    let (hl, total) = {
        let Ok(p) = ipv4::Packet::new_checked(&rest[..]) else { return false };
        (p.header_len(), p.total_len() as usize)
    };
    if total < hl + icmp::HEADER_LEN || rest.len() < total {
        return false;
    }
    swap_macs(frame);
    let rest = &mut frame[ip_at..];
    let mut ips = [0u8; 8];
    ips.copy_from_slice(&rest[12..20]);
    rest[12..16].copy_from_slice(&ips[4..8]);
    rest[16..20].copy_from_slice(&ips[..4]);
    rest[8] = TTL;
    let mut p = ipv4::Packet::new_checked(&mut rest[..]).expect("checked above");
    p.fill_checksum();
    icmp::make_echo_reply(&mut rest[hl..total]);
    true
}

/// Swaps a frame's destination and source MACs.
fn swap_macs(frame: &mut [u8]) {
    let mut macs = [0u8; 12];
    macs.copy_from_slice(&frame[..12]);
    frame[..6].copy_from_slice(&macs[6..12]);
    frame[6..12].copy_from_slice(&macs[..6]);
}

#[cfg(test)]
mod tests;
