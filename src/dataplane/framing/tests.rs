//! Unit tests of `framing`.

use super::*;

const V4: Encap = Encap { vlan: None, v6: false };

fn ep(last: u8, port: u16) -> Endpoint {
    Endpoint { mac: Mac([2, 0, 0, 0, 0, last]), ip: IpAddr::V4(Ipv4Addr::new(198, 18, 0, last)), port }
}

fn ep6(last: u16, port: u16) -> Endpoint {
    Endpoint {
        mac: Mac([2, 0, 0, 0, 0, last as u8]),
        ip: IpAddr::V6(Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, last)),
        port,
    }
}

fn net(ip: &str, vlan: Option<u16>) -> MemberNet {
    let ip: IpAddr = ip.parse().unwrap();
    MemberNet { vlan, ..MemberNet::flat(ip, if ip.is_ipv4() { 24 } else { 64 }, None) }
}

fn us() -> MemberNet {
    net("198.18.0.2", None)
}

fn frame_with(encap: Encap, src: &Endpoint, dst: &Endpoint, payload: &[u8]) -> Vec<u8> {
    let lead = encap.l2_l4_len();
    let mut f = vec![0u8; lead + payload.len()];
    write_l2_l4(&mut f, encap, src, dst, payload.len(), 7);
    f[lead..].copy_from_slice(payload);
    if encap.v6 {
        fill_udp6_checksum(&mut f, encap, src, dst, None);
    }
    f
}

fn udp_frame(dst_ip: Ipv4Addr, dst_port: u16, payload: &[u8]) -> Vec<u8> {
    let mut dst = ep(2, dst_port);
    dst.ip = IpAddr::V4(dst_ip);
    frame_with(V4, &ep(1, 47101), &dst, payload)
}

#[test]
fn stripe_datagram_is_found_with_its_sender() {
    let f = udp_frame(Ipv4Addr::new(198, 18, 0, 2), 47100, b"stripe!");
    match classify(&f, &us(), 47100..47101) {
        Classified::Stripe { from, to_port, range } => {
            assert_eq!(from, ep(1, 47101));
            assert_eq!(to_port, 47100);
            assert_eq!(&f[range], b"stripe!");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_echo_too_short_for_its_header_is_refused_not_answered() {
    // IPv4 carrying 2 bytes of ICMP, and IPv6 carrying 4 of ICMPv6 (found by fuzz/frames).
    let mut f = vec![0u8; ethernet::HEADER_LEN + 20 + 2];
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    f[14] = 0x45;
    f[16..18].copy_from_slice(&22u16.to_be_bytes());
    f[22] = 64;
    f[23] = 1;
    ipv4::Packet::new_checked(&mut f[ethernet::HEADER_LEN..]).unwrap().fill_checksum();
    let before = f.clone();
    assert!(!echo_reply_in_place(&mut f));
    assert_eq!(f, before, "a refused frame is left as it was");
    let mut f = vec![0u8; ethernet::HEADER_LEN + ipv6::HEADER_LEN + 4];
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    f[14] = 0x60;
    f[18..20].copy_from_slice(&4u16.to_be_bytes());
    f[20] = ipv6::NEXT_ICMPV6;
    f[21] = 64;
    assert!(!echo_reply_in_place(&mut f));
}

#[test]
fn foreign_frames_are_dropped_by_reason() {
    let us = us();
    let me = Ipv4Addr::new(198, 18, 0, 2);
    let f = udp_frame(Ipv4Addr::new(198, 18, 0, 9), 47100, b"x");
    assert_eq!(classify(&f, &us, 47100..47101), Classified::Drop(FrameDrop::NotForUs));
    let f = udp_frame(me, 5000, b"x");
    assert_eq!(classify(&f, &us, 47100..47101), Classified::Drop(FrameDrop::WrongPort));
    let mut f = udp_frame(me, 47100, b"x");
    f[ethernet::HEADER_LEN + 8] ^= 1; // TTL without checksum fix
    assert_eq!(classify(&f, &us, 47100..47101), Classified::Drop(FrameDrop::BadIpChecksum));
    let mut f = udp_frame(me, 47100, b"x");
    f[12] = 0x86;
    f[13] = 0xdd;
    assert_eq!(classify(&f, &us, 47100..47101), Classified::Drop(FrameDrop::OtherEthertype));
    let f = udp_frame(me, 47100, b"xyz");
    assert_eq!(classify(&f[..20], &us, 47100..47101), Classified::Drop(FrameDrop::Malformed));
    assert_eq!(classify(&f[..L2_L4_LEN + 1], &us, 47100..47101), Classified::Drop(FrameDrop::Malformed));
    // Random bytes never panic, whatever the member's family and tag.
    let nets = [us, net("2001:2::2", None), net("198.18.0.2", Some(210)), net("2001:2::2", Some(7))];
    let mut x = 0x1234_5678u32;
    for len in 0..300 {
        let mut junk = crate::wire::junk(&mut x, len);
        for n in &nets {
            // Give some junk plausible EtherTypes and tags so the deeper parsers see it.
            if len > 18 {
                let kinds = [[0x08, 0x00], [0x86, 0xdd], [0x08, 0x06], [0x81, 0x00]];
                junk[12..14].copy_from_slice(&kinds[len % 4]);
                junk[16..18].copy_from_slice(&kinds[(len / 4) % 3]);
            }
            let _ = classify(&junk, n, 47100..47101);
            let mut copy = junk.clone();
            let _ = echo_reply_in_place(&mut copy);
            let _ = udp_offset(&junk);
        }
    }
}

#[test]
fn udp_checksum_when_present_must_verify() {
    let me = Ipv4Addr::new(198, 18, 0, 2);
    let mut f = udp_frame(me, 47100, b"abc");
    let src = Ipv4Addr::new(198, 18, 0, 1);
    let off = ethernet::HEADER_LEN + ipv4::HEADER_LEN;
    crate::wire::udp::fill_checksum(&mut f[off..], src, me);
    assert!(matches!(classify(&f, &us(), 47100..47101), Classified::Stripe { .. }));
    f[L2_L4_LEN] ^= 0xff;
    assert_eq!(classify(&f, &us(), 47100..47101), Classified::Drop(FrameDrop::BadUdpChecksum));
}

#[test]
fn vlan_frames_match_their_member_only() {
    let tagged = Encap { vlan: Some(210), v6: false };
    let mut dst = ep(2, 47100);
    dst.ip = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));
    let f = frame_with(tagged, &ep(1, 47101), &dst, b"tagged");
    // dst src 8100 00d2 0800: the tag right after the MACs.
    assert_eq!(&f[12..18], &[0x81, 0x00, 0x00, 0xd2, 0x08, 0x00]);
    match classify(&f, &net("198.18.0.2", Some(210)), 47100..47101) {
        Classified::Stripe { range, .. } => assert_eq!(&f[range], b"tagged"),
        other => panic!("{other:?}"),
    }
    assert_eq!(classify(&f, &net("198.18.0.2", Some(211)), 47100..47101), Classified::Drop(FrameDrop::WrongVlan));
    assert_eq!(classify(&f, &us(), 47100..47101), Classified::Drop(FrameDrop::WrongVlan));
    let plain = udp_frame(Ipv4Addr::new(198, 18, 0, 2), 47100, b"x");
    assert_eq!(classify(&plain, &net("198.18.0.2", Some(210)), 47100..47101), Classified::Drop(FrameDrop::WrongVlan));
    assert_eq!(udp_offset(&f), Some(18 + 20));
}

#[test]
fn ipv6_datagrams_carry_a_checksum_that_must_verify() {
    let e = Encap { vlan: Some(7), v6: true };
    let (a, b) = (ep6(1, 47101), ep6(2, 47100));
    let mut f = frame_with(e, &a, &b, b"over v6");
    let me = net("2001:2::2", Some(7));
    match classify(&f, &me, 47100..47101) {
        Classified::Stripe { from, range, .. } => {
            assert_eq!(from, a);
            assert_eq!(&f[range], b"over v6");
        }
        other => panic!("{other:?}"),
    }
    // A zero checksum is not "none" over IPv6.
    let at = 18 + 40 + 6;
    let keep = [f[at], f[at + 1]];
    f[at..at + 2].copy_from_slice(&[0, 0]);
    assert_eq!(classify(&f, &me, 47100..47101), Classified::Drop(FrameDrop::BadUdpChecksum));
    f[at..at + 2].copy_from_slice(&keep);
    let last = f.len() - 1;
    f[last] ^= 1;
    assert_eq!(classify(&f, &me, 47100..47101), Classified::Drop(FrameDrop::BadUdpChecksum));
    assert_eq!(classify(&f, &net("198.18.0.2", Some(7)), 47100..47101), Classified::Drop(FrameDrop::OtherEthertype));
}

#[test]
fn a_chained_payload_is_summed_into_the_v6_checksum() {
    let e = Encap { vlan: None, v6: true };
    let (a, b) = (ep6(1, 47101), ep6(2, 47100));
    // A chained payload starts at an even offset of the datagram (header 8 + 48 bytes).
    let whole = frame_with(e, &a, &b, b"head+tail");
    let lead = e.l2_l4_len();
    let mut first = vec![0u8; lead + 4];
    write_l2_l4(&mut first, e, &a, &b, 9, 7);
    first[lead..].copy_from_slice(b"head");
    fill_udp6_checksum(&mut first, e, &a, &b, Some(b"+tail"));
    assert_eq!(&first[..lead + 4], &whole[..lead + 4]);
}

#[test]
fn neighbour_discovery_is_kept_with_its_sender() {
    let me = net("2001:2::2", None);
    let (us6, them) = (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2), Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1));
    let msg = icmpv6::Repr::NeighborSolicit { target: us6, source_mac: Some(Mac([2, 0, 0, 0, 0, 1])) };
    let group = ipv6::solicited_node(us6);
    let mut f = vec![0u8; 14 + 40 + msg.buffer_len()];
    Encap { vlan: None, v6: true }.write_l2(
        &mut f,
        Mac([2, 0, 0, 0, 0, 1]),
        ipv6::multicast_mac(group),
        ethernet::ETHERTYPE_IPV6,
    );
    ipv6::Repr { src: them, dst: group, next_header: 58, payload_len: msg.buffer_len() as u16, hop_limit: 255 }
        .emit(&mut f[14..]);
    msg.emit(&mut f[54..], them, group);
    assert_eq!(classify(&f, &me, 1..2), Classified::Nd { msg, ip: them, mac: Mac([2, 0, 0, 0, 0, 1]) });
    // Forwarded by a router (hop limit below 255): refused.
    f[14 + 7] = 254;
    assert_eq!(classify(&f, &me, 1..2), Classified::Drop(FrameDrop::Icmp));
}

#[test]
fn arp_for_us_and_replies_are_kept() {
    let me = Ipv4Addr::new(198, 18, 0, 2);
    let req = arp::Repr {
        operation: arp::OP_REQUEST,
        sender_mac: Mac([2, 0, 0, 0, 0, 1]),
        sender_ip: Ipv4Addr::new(198, 18, 0, 1),
        target_mac: Mac::ZERO,
        target_ip: me,
    };
    let mut f = vec![0u8; 60];
    let at = V4.write_l2(&mut f, req.sender_mac, Mac::BROADCAST, ethernet::ETHERTYPE_ARP);
    req.emit(&mut f[at..]);
    assert_eq!(classify(&f, &us(), 1..2), Classified::Arp(req));
    assert_eq!(classify(&f, &net("198.18.0.3", None), 1..2), Classified::Drop(FrameDrop::Arp));
    assert_eq!(classify(&f, &net("2001:2::2", None), 1..2), Classified::Drop(FrameDrop::OtherEthertype));
}

#[test]
fn echo_request_gets_a_valid_reply() {
    let me = Ipv4Addr::new(198, 18, 0, 2);
    let icmp_msg = [0x08, 0x00, 0x7d, 0x61, 0x12, 0x34, 0x00, 0x01, b'h', b'i'];
    let mut f = vec![0u8; ethernet::HEADER_LEN + ipv4::HEADER_LEN + icmp_msg.len()];
    V4.write_l2(&mut f, Mac([2, 0, 0, 0, 0, 1]), Mac([2, 0, 0, 0, 0, 2]), ethernet::ETHERTYPE_IPV4);
    ipv4::Repr {
        src: Ipv4Addr::new(198, 18, 0, 1),
        dst: me,
        protocol: ipv4::PROTO_ICMP,
        payload_len: icmp_msg.len() as u16,
        ttl: 3,
        ident: 1,
    }
    .emit(&mut f[ethernet::HEADER_LEN..]);
    f[ethernet::HEADER_LEN + ipv4::HEADER_LEN..].copy_from_slice(&icmp_msg);
    assert_eq!(classify(&f, &us(), 1..2), Classified::EchoRequest);
    assert!(echo_reply_in_place(&mut f));
    let e = ethernet::Frame::new_checked(&f[..]).unwrap();
    assert_eq!(e.dst(), Mac([2, 0, 0, 0, 0, 1]));
    let ip = ipv4::Packet::new_checked(e.payload()).unwrap();
    assert!(ip.checksum_ok());
    assert_eq!((ip.src(), ip.dst()), (me, Ipv4Addr::new(198, 18, 0, 1)));
    assert_eq!(ip.payload()[0], icmp::ECHO_REPLY);
    assert_eq!(crate::wire::checksum::checksum(ip.payload()), 0);
}

#[test]
fn icmpv6_echo_on_a_vlan_gets_a_valid_reply() {
    let e = Encap { vlan: Some(300), v6: true };
    let (a, b) = (Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 1), Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 2));
    let mut msg = vec![icmpv6::ECHO_REQUEST, 0, 0, 0, 0x12, 0x34, 0, 1, b'h', b'i'];
    icmpv6::fill_checksum(&mut msg, a, b);
    let mut f = vec![0u8; 18 + 40 + msg.len()];
    e.write_l2(&mut f, Mac([2, 0, 0, 0, 0, 1]), Mac([2, 0, 0, 0, 0, 2]), ethernet::ETHERTYPE_IPV6);
    ipv6::Repr { src: a, dst: b, next_header: 58, payload_len: msg.len() as u16, hop_limit: 64 }.emit(&mut f[18..]);
    f[58..].copy_from_slice(&msg);
    let me = net("2001:2::2", Some(300));
    assert_eq!(classify(&f, &me, 1..2), Classified::EchoRequest);
    assert!(echo_reply_in_place(&mut f));
    let p = ipv6::Packet::new_checked(&f[18..]).unwrap();
    assert_eq!((p.src(), p.dst()), (b, a));
    assert_eq!(p.payload()[0], icmpv6::ECHO_REPLY);
    assert!(icmpv6::checksum_ok(p.payload(), b, a));
    assert_eq!(&f[12..16], &[0x81, 0x00, 0x01, 0x2c]);
}
