//! Ethernet/IPv4/UDP framing around the striping protocol, and the
//! classification of every received frame (stripe datagram, ARP, ping, or a
//! counted drop). Frames off the wire are untrusted: everything goes through
//! the `wire` views' checked constructors.

use std::net::Ipv4Addr;

use stripecat_proto::wire::LinkCheck;
use stripecat_proto::Transmit;

use super::addr::Endpoint;
use super::payload::MbufPayload;
use crate::dpdk::{Mbuf, Mempool};
use crate::wire::{arp, ethernet, icmp, ipv4, udp, Mac};

/// Bytes in front of every striping-protocol datagram.
pub const L2_L4_LEN: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN;
/// Ethernet's minimum frame (without FCS); shorter frames are padded.
const MIN_FRAME: usize = 60;
const TTL: u8 = 64;

/// Why a received frame was not for the protocol (counted, then freed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameDrop {
    /// Neither IPv4 nor ARP (IPv6, LLDP, ...).
    OtherEthertype,
    /// Truncated or malformed L2-L4 headers.
    Malformed,
    /// IPv4 header checksum wrong.
    BadIpChecksum,
    /// UDP checksum present and wrong.
    BadUdpChecksum,
    /// IPv4 addressed to someone else.
    NotForUs,
    /// IPv4 but neither UDP nor ICMP.
    OtherProtocol,
    /// UDP to a port we do not serve.
    WrongPort,
    /// ARP we do not answer (not for our address, unsupported).
    Arp,
    /// ICMP other than an echo request.
    Icmp,
}

impl FrameDrop {
    pub const ALL: [FrameDrop; 9] = [
        FrameDrop::OtherEthertype,
        FrameDrop::Malformed,
        FrameDrop::BadIpChecksum,
        FrameDrop::BadUdpChecksum,
        FrameDrop::NotForUs,
        FrameDrop::OtherProtocol,
        FrameDrop::WrongPort,
        FrameDrop::Arp,
        FrameDrop::Icmp,
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
    /// An ICMP echo request to us (answer with [`echo_reply_in_place`]).
    EchoRequest,
    /// Not for us; count and free.
    Drop(FrameDrop),
}

/// Classifies one frame for a host at `our_ip` serving UDP ports `ports`.
pub fn classify(frame: &[u8], our_ip: Ipv4Addr, ports: core::ops::Range<u16>) -> Classified {
    use Classified::Drop;
    let Ok(eth) = ethernet::Frame::new_checked(frame) else { return Drop(FrameDrop::Malformed) };
    match eth.ethertype() {
        ethernet::ETHERTYPE_ARP => match arp::Repr::parse(eth.payload()) {
            Ok(a) if a.operation == arp::OP_REPLY || a.target_ip == our_ip => Classified::Arp(a),
            _ => Drop(FrameDrop::Arp),
        },
        ethernet::ETHERTYPE_IPV4 => {
            let Ok(ip) = ipv4::Packet::new_checked(eth.payload()) else { return Drop(FrameDrop::Malformed) };
            let Ok(ipr) = ipv4::Repr::parse(&ip) else { return Drop(FrameDrop::BadIpChecksum) };
            if ipr.dst != our_ip {
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
                    let start = ethernet::HEADER_LEN + ip.header_len() + udp::HEADER_LEN;
                    let end = start + u.payload().len();
                    Classified::Stripe {
                        from: Endpoint { mac: eth.src(), ip: ipr.src, port: u.src_port() },
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
        _ => Drop(FrameDrop::OtherEthertype),
    }
}

/// Writes Ethernet + IPv4 + UDP headers for a UDP payload of `udp_payload`
/// bytes into the first [`L2_L4_LEN`] bytes of `buf`.
pub fn write_l2_l4(buf: &mut [u8], src: &Endpoint, dst: &Endpoint, udp_payload: usize, ident: u16) {
    let (eth, rest) = buf.split_at_mut(ethernet::HEADER_LEN);
    let mut f = ethernet::Frame::new_checked(eth).expect("14 bytes");
    ethernet::Repr { dst: dst.mac, src: src.mac, ethertype: ethernet::ETHERTYPE_IPV4 }.emit(&mut f);
    let udp_len = udp::HEADER_LEN + udp_payload;
    ipv4::Repr { src: src.ip, dst: dst.ip, protocol: ipv4::PROTO_UDP, payload_len: udp_len as u16, ttl: TTL, ident }
        .emit(rest);
    udp::Repr { src_port: src.port, dst_port: dst.port, payload_len: udp_payload as u16 }
        .emit(&mut rest[ipv4::HEADER_LEN..]);
}

/// Why a frame could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildError {
    /// The header pool is empty (back-pressure: try again later).
    NoBuffer,
    /// The frame does not fit the buffer.
    TooBig,
}

/// Builds the frame for one protocol transmit. DATA payloads are chained
/// as their own segment (zero copy) when `chain` is allowed; otherwise
/// (drivers without multi-segment transmit) the payload is copied after the
/// header. `check` is the member's link check state (`Member::tx_check`): when it sends
/// without the CRC, the CRC is not computed and the payload not read.
pub fn build_transmit(
    pool: &Mempool,
    t: &Transmit<MbufPayload>,
    src: &Endpoint,
    dst: &Endpoint,
    ident: u16,
    chain: bool,
    check: LinkCheck,
) -> Result<Mbuf, BuildError> {
    let mut m = pool.alloc().ok_or(BuildError::NoBuffer)?;
    let hdr = t.header_len();
    let payload_len = t.payload.as_ref().map_or(0, |p| p.len());
    // A path-MTU probe asks for zero padding inside the datagram (counted in the UDP
    // length); Ethernet's minimum-frame padding comes after it.
    let probe_pad = t.padding();
    let udp_payload = hdr + payload_len + probe_pad;
    let pad = MIN_FRAME.saturating_sub(L2_L4_LEN + udp_payload);
    // Chaining needs the payload to be a whole mbuf and the frame to need no
    // padding (padding must follow the payload). DATA frames are never short.
    let chained = chain && pad == 0 && probe_pad == 0 && t.payload.as_ref().is_some_and(|p| p.is_whole());
    let in_first = L2_L4_LEN + hdr + if chained { 0 } else { payload_len } + probe_pad + pad;
    {
        let buf = m.append(in_first).ok_or(BuildError::TooBig)?;
        write_l2_l4(buf, src, dst, udp_payload, ident);
        let written = t.emit_with(&mut buf[L2_L4_LEN..], check);
        debug_assert_eq!(written, hdr);
        let mut end = L2_L4_LEN + hdr;
        if let (Some(p), false) = (&t.payload, chained) {
            buf[end..end + payload_len].copy_from_slice(p.as_ref());
            end += payload_len;
        }
        buf[end..].fill(0);
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

/// Builds an ARP frame (request or reply) in a fresh mbuf.
pub fn build_arp(pool: &Mempool, src_mac: Mac, dst_mac: Mac, a: &arp::Repr) -> Option<Mbuf> {
    let mut m = pool.alloc()?;
    let buf = m.append(MIN_FRAME)?;
    buf.fill(0);
    let mut f = ethernet::Frame::new_checked(&mut buf[..]).ok()?;
    ethernet::Repr { dst: dst_mac, src: src_mac, ethertype: ethernet::ETHERTYPE_ARP }.emit(&mut f);
    a.emit(f.payload_mut());
    Some(m)
}

/// Turns a received echo request frame into its reply, in place (swap MACs
/// and IPs, fix checksums). False if the frame is not writable or malformed.
pub fn echo_reply_in_place(frame: &mut [u8]) -> bool {
    if frame.len() < ethernet::HEADER_LEN + ipv4::HEADER_LEN {
        return false;
    }
    let (eth, rest) = frame.split_at_mut(ethernet::HEADER_LEN);
    let mut macs = [0u8; 12];
    macs.copy_from_slice(&eth[..12]);
    eth[..6].copy_from_slice(&macs[6..12]);
    eth[6..12].copy_from_slice(&macs[..6]);
    let (hl, total) = {
        let Ok(p) = ipv4::Packet::new_checked(&rest[..]) else { return false };
        (p.header_len(), p.total_len() as usize)
    };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(last: u8, port: u16) -> Endpoint {
        Endpoint { mac: Mac([2, 0, 0, 0, 0, last]), ip: Ipv4Addr::new(198, 18, 0, last), port }
    }

    fn udp_frame(dst_ip: Ipv4Addr, dst_port: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; L2_L4_LEN + payload.len()];
        let mut dst = ep(2, dst_port);
        dst.ip = dst_ip;
        write_l2_l4(&mut f, &ep(1, 47101), &dst, payload.len(), 7);
        f[L2_L4_LEN..].copy_from_slice(payload);
        f
    }

    #[test]
    fn stripe_datagram_is_found_with_its_sender() {
        let f = udp_frame(Ipv4Addr::new(198, 18, 0, 2), 47100, b"stripe!");
        match classify(&f, Ipv4Addr::new(198, 18, 0, 2), 47100..47101) {
            Classified::Stripe { from, to_port, range } => {
                assert_eq!(from, ep(1, 47101));
                assert_eq!(to_port, 47100);
                assert_eq!(&f[range], b"stripe!");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn foreign_frames_are_dropped_by_reason() {
        let us = Ipv4Addr::new(198, 18, 0, 2);
        let f = udp_frame(Ipv4Addr::new(198, 18, 0, 9), 47100, b"x");
        assert_eq!(classify(&f, us, 47100..47101), Classified::Drop(FrameDrop::NotForUs));
        let f = udp_frame(us, 5000, b"x");
        assert_eq!(classify(&f, us, 47100..47101), Classified::Drop(FrameDrop::WrongPort));
        let mut f = udp_frame(us, 47100, b"x");
        f[ethernet::HEADER_LEN + 8] ^= 1; // TTL without checksum fix
        assert_eq!(classify(&f, us, 47100..47101), Classified::Drop(FrameDrop::BadIpChecksum));
        let mut f = udp_frame(us, 47100, b"x");
        f[12] = 0x86;
        f[13] = 0xdd;
        assert_eq!(classify(&f, us, 47100..47101), Classified::Drop(FrameDrop::OtherEthertype));
        let f = udp_frame(us, 47100, b"xyz");
        assert_eq!(classify(&f[..20], us, 47100..47101), Classified::Drop(FrameDrop::Malformed));
        assert_eq!(classify(&f[..L2_L4_LEN + 1], us, 47100..47101), Classified::Drop(FrameDrop::Malformed));
        // Random bytes never panic.
        let mut x = 0x1234_5678u32;
        for len in 0..200 {
            let junk: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let _ = classify(&junk, us, 47100..47101);
        }
    }

    #[test]
    fn udp_checksum_when_present_must_verify() {
        let us = Ipv4Addr::new(198, 18, 0, 2);
        let mut f = udp_frame(us, 47100, b"abc");
        let src = Ipv4Addr::new(198, 18, 0, 1);
        let off = ethernet::HEADER_LEN + ipv4::HEADER_LEN;
        crate::wire::udp::fill_checksum(&mut f[off..], src, us);
        assert!(matches!(classify(&f, us, 47100..47101), Classified::Stripe { .. }));
        f[L2_L4_LEN] ^= 0xff;
        assert_eq!(classify(&f, us, 47100..47101), Classified::Drop(FrameDrop::BadUdpChecksum));
    }

    #[test]
    fn arp_for_us_and_replies_are_kept() {
        let us = Ipv4Addr::new(198, 18, 0, 2);
        let req = arp::Repr {
            operation: arp::OP_REQUEST,
            sender_mac: Mac([2, 0, 0, 0, 0, 1]),
            sender_ip: Ipv4Addr::new(198, 18, 0, 1),
            target_mac: Mac::ZERO,
            target_ip: us,
        };
        let mut f = vec![0u8; 60];
        let mut e = ethernet::Frame::new_checked(&mut f[..]).unwrap();
        ethernet::Repr { dst: Mac::BROADCAST, src: req.sender_mac, ethertype: ethernet::ETHERTYPE_ARP }.emit(&mut e);
        req.emit(e.payload_mut());
        assert_eq!(classify(&f, us, 1..2), Classified::Arp(req));
        assert_eq!(classify(&f, Ipv4Addr::new(198, 18, 0, 3), 1..2), Classified::Drop(FrameDrop::Arp));
    }

    #[test]
    fn echo_request_gets_a_valid_reply() {
        let us = Ipv4Addr::new(198, 18, 0, 2);
        let icmp_msg = [0x08, 0x00, 0x7d, 0x61, 0x12, 0x34, 0x00, 0x01, b'h', b'i'];
        let mut f = vec![0u8; ethernet::HEADER_LEN + ipv4::HEADER_LEN + icmp_msg.len()];
        {
            let mut e = ethernet::Frame::new_checked(&mut f[..]).unwrap();
            ethernet::Repr {
                dst: Mac([2, 0, 0, 0, 0, 2]),
                src: Mac([2, 0, 0, 0, 0, 1]),
                ethertype: ethernet::ETHERTYPE_IPV4,
            }
            .emit(&mut e);
        }
        ipv4::Repr {
            src: Ipv4Addr::new(198, 18, 0, 1),
            dst: us,
            protocol: ipv4::PROTO_ICMP,
            payload_len: icmp_msg.len() as u16,
            ttl: 3,
            ident: 1,
        }
        .emit(&mut f[ethernet::HEADER_LEN..]);
        f[ethernet::HEADER_LEN + ipv4::HEADER_LEN..].copy_from_slice(&icmp_msg);
        assert_eq!(classify(&f, us, 1..2), Classified::EchoRequest);
        assert!(echo_reply_in_place(&mut f));
        let e = ethernet::Frame::new_checked(&f[..]).unwrap();
        assert_eq!(e.dst(), Mac([2, 0, 0, 0, 0, 1]));
        let ip = ipv4::Packet::new_checked(e.payload()).unwrap();
        assert!(ip.checksum_ok());
        assert_eq!((ip.src(), ip.dst()), (us, Ipv4Addr::new(198, 18, 0, 1)));
        assert_eq!(ip.payload()[0], icmp::ECHO_REPLY);
        assert_eq!(crate::wire::checksum::checksum(ip.payload()), 0);
    }
}
