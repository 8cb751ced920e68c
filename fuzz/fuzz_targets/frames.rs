//! The frame parsers a hostile member link feeds: Ethernet, 802.1Q, ARP, IPv4, IPv6,
//! UDP, ICMP and ICMPv6 (echo, neighbour discovery), through the data plane's
//! `classify` as each kind of member (IPv4 or IPv6, tagged or not) sees them, plus the
//! in-place echo answer. None may panic; a tag, an IPv6 header or an ND message that
//! parses must emit back to what it parsed from.
//!
//! Input: byte 0 picks the member (bit 0: IPv6, bit 1: VLAN 210); the rest is the frame.

#![no_main]

use std::net::{IpAddr, Ipv6Addr};

use libfuzzer_sys::fuzz_target;
use stripecat::dataplane::addr::MemberNet;
use stripecat::dataplane::framing::{classify, echo_reply_in_place, udp_offset};
use stripecat::wire::{icmpv6, ipv6, vlan};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, frame)) = data.split_first() else { return };
    let local: IpAddr = if pick & 1 == 0 { "198.18.0.2".parse().unwrap() } else { "2001:2::2".parse().unwrap() };
    let prefix = if local.is_ipv4() { 24 } else { 64 };
    let net = MemberNet { vlan: (pick & 2 != 0).then_some(210), ..MemberNet::flat(local, prefix, None) };
    let _ = classify(frame, &net, 47100..47104);
    let _ = udp_offset(frame);
    let mut copy = frame.to_vec();
    let _ = echo_reply_in_place(&mut copy);

    // The views and their Repr round trips, at the network layer of an untagged or a
    // tagged frame.
    let tagged = frame.get(12..14) == Some(&[0x81, 0x00][..]);
    let body = frame.get(if tagged { 18.. } else { 14.. }).unwrap_or_default();
    if let Some(tag) = frame.get(14..).filter(|_| tagged) {
        round_trip_tag(tag);
    }

    if let Ok(p) = ipv6::Packet::new_checked(body) {
        let repr = ipv6::Repr::parse(&p);
        let mut out = [0u8; ipv6::HEADER_LEN];
        repr.emit(&mut out);
        let mut whole = out.to_vec();
        whole.resize(ipv6::HEADER_LEN + repr.payload_len as usize, 0);
        assert_eq!(ipv6::Repr::parse(&ipv6::Packet::new_checked(&whole[..]).unwrap()), repr);
        let (src, dst) = (p.src(), p.dst());
        if let Ok(msg) = icmpv6::Repr::parse(p.payload(), src, dst) {
            round_trip_icmpv6(msg, src, dst);
        }
    }
});

/// A tag that parses emits to bytes that parse to the same tag.
fn round_trip_tag(bytes: &[u8]) {
    let Ok(tag) = vlan::Tag::new_checked(bytes) else { return };
    let repr = vlan::Repr::parse(&tag);
    let mut out = [0u8; vlan::HEADER_LEN];
    repr.emit(&mut vlan::Tag::new_checked(&mut out[..]).unwrap());
    assert_eq!(vlan::Repr::parse(&vlan::Tag::new_checked(&out[..]).unwrap()), repr);
}

/// An ICMPv6 message that parsed emits to bytes that parse to the same message
/// (echo requests are answered in place, never emitted).
fn round_trip_icmpv6(msg: icmpv6::Repr, src: Ipv6Addr, dst: Ipv6Addr) {
    if matches!(msg, icmpv6::Repr::EchoRequest) {
        return;
    }
    let mut out = vec![0u8; msg.buffer_len()];
    msg.emit(&mut out, src, dst);
    assert_eq!(icmpv6::Repr::parse(&out, src, dst), Ok(msg));
}
