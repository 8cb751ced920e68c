//! Whole-packet tests: header, bodies, checks and hostile bytes together.

use super::*;

#[test]
fn checksum_split_equals_contiguous() {
    let mut buf = vec![0u8; HEADER_LEN + 5];
    let repr = HeaderRepr {
        packet_type: PacketType::Data,
        flags: Flags::empty(),
        path_id: 3,
        session_id: 9,
        packet_number: 1,
        offset: 0,
        length: 5,
        timestamp: 0,
        timestamp_echo: 0,
    };
    repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
    buf[HEADER_LEN..].copy_from_slice(b"hello");
    let mut p = Packet::new_unchecked(&mut buf[..]);
    p.fill_checksum();
    let c1 = p.checksum();
    let (h, pl) = buf.split_at(HEADER_LEN);
    assert!(verify_checksum(h, pl));
    assert_eq!(compute_checksum(h, pl), c1);
    // CRC32C catches every single-bit flip anywhere in header or payload.
    for bit in 0..buf.len() * 8 {
        let mut b = buf.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        let (h, pl) = b.split_at(HEADER_LEN);
        assert!(!verify_checksum(h, pl), "flip of bit {bit} not caught");
    }
}

// Whole control packets, assembled by hand; CRC32C values from an independent
// bitwise reference implementation.
static HELLO_PACKET: [u8; 64] = [
    0x53, 0x54, 0x02, 0x01, 0x00, 0x00, 0x00, 0x01, // magic, v2, HELLO, flags, rsv, path 1
    0xfe, 0xed, 0xfa, 0xce, 0xca, 0xfe, 0xbe, 0xef, // session
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, // control sequence 1
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // offset
    0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x03, 0xe8, // length 16, rsv, timestamp 1000
    0x00, 0x00, 0x00, 0x00, 0x7c, 0x4f, 0x0e, 0xc6, // echo, CRC32C
    0x05, 0x78, 0x00, 0x03, 0x02, 0x00, 0x00, 0x00, // chunk 1400, 3 paths, BLAKE3, options 0
    0x00, 0x00, 0x00, 0x00, 0x00, 0x98, 0x96, 0x80, // total 10 000 000
];
static PING_PACKET: [u8; 48] = [
    0x53, 0x54, 0x02, 0x08, 0x01, 0x00, 0x00, 0x03, // PING, ACK_NOW, path 3
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, // session
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // pn 42
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // offset
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4d, // length 0, rsv, timestamp 77
    0x00, 0x00, 0x00, 0x42, 0x46, 0x8c, 0x9a, 0x68, // echo 66, CRC32C
];

fn hello_repr() -> Repr {
    Repr {
        header: HeaderRepr {
            packet_type: PacketType::Hello,
            flags: Flags::empty(),
            path_id: 1,
            session_id: 0xfeed_face_cafe_beef,
            packet_number: 1,
            offset: 0,
            length: 16,
            timestamp: 1000,
            timestamp_echo: 0,
        },
        frame: Frame::Hello(Box::new(HelloRepr {
            chunk_size: 1400,
            paths: 3,
            digest: DigestAlgorithm::Blake3,
            options: 0,
            total_len: Some(10_000_000),
            key_epoch: 0,
            handshake: None,
        })),
    }
}

fn ping_repr() -> Repr {
    Repr {
        header: HeaderRepr {
            packet_type: PacketType::Ping,
            flags: Flags(Flags::ACK_NOW),
            path_id: 3,
            session_id: 0x1122_3344_5566_7788,
            packet_number: 42,
            offset: 0,
            length: 0,
            timestamp: 77,
            timestamp_echo: 66,
        },
        frame: Frame::Ping,
    }
}

#[test]
fn control_packets_parse_and_emit() {
    for (bytes, repr) in [(&HELLO_PACKET[..], hello_repr()), (&PING_PACKET[..], ping_repr())] {
        let p = Packet::new_checked(bytes).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(Repr::parse(&p).unwrap(), repr);
        let mut out = vec![0xaau8; repr.buffer_len()];
        assert_eq!(repr.emit(&mut out, &[]), bytes.len());
        assert_eq!(out, bytes);
    }
    // A PING with a body and a HELLO with a short body are malformed.
    let mut bad = HELLO_PACKET;
    bad[33] = 15;
    let mut p = Packet::new_unchecked(&mut bad[..]);
    p.fill_checksum();
    assert!(matches!(Repr::parse(&Packet::new_checked(&bad[..]).unwrap()), Err(WireError::Malformed { .. })));
}

// The PING above on a link where both ends allow no check: NO_CHECK (0x02) and
// ACCEPTS_UNCHECKED (0x04) join ACK_NOW, the CRC field is zero.
static PING_NO_CHECK: [u8; 48] = [
    0x53, 0x54, 0x02, 0x08, 0x07, 0x00, 0x00, 0x03, // PING, ACK_NOW | NO_CHECK | ACCEPTS_UNCHECKED, path 3
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, // session
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // pn 42
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // offset
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4d, // length 0, rsv, timestamp 77
    0x00, 0x00, 0x00, 0x42, 0x00, 0x00, 0x00, 0x00, // echo 66, no CRC
];

const BOTH_OFF: LinkCheck = LinkCheck { policy: Check::Off, peer_accepts_unchecked: true };

fn data_packet(link: LinkCheck, payload: &[u8]) -> Vec<u8> {
    let repr = Repr {
        header: HeaderRepr {
            packet_type: PacketType::Data,
            flags: Flags::empty(),
            path_id: 1,
            session_id: 5,
            packet_number: 9,
            offset: 4096,
            length: payload.len() as u16,
            timestamp: 1,
            timestamp_echo: 2,
        },
        frame: Frame::Data,
    };
    let mut b = vec![0u8; HEADER_LEN + payload.len()];
    assert_eq!(repr.emit_with(&mut b, payload, link), HEADER_LEN);
    b[HEADER_LEN..].copy_from_slice(payload);
    b
}

#[test]
fn emit_and_parse_with_and_without_check() {
    // Without check: the flag is set, the field zero, and either policy that allows it parses.
    let mut out = [0xaau8; 48];
    ping_repr().emit_with(&mut out, &[], BOTH_OFF);
    assert_eq!(out, PING_NO_CHECK);
    let p = Packet::new_checked(&PING_NO_CHECK[..]).unwrap();
    let parsed = Repr::parse_with(&p, Check::Off).unwrap();
    assert!(parsed.header.flags.no_check() && parsed.header.flags.ack_now());
    assert_eq!(parsed.frame, Frame::Ping);
    // ... and is refused, with its own error, where a check is required (the default).
    assert_eq!(Repr::parse(&p), Err(WireError::MissingChecksum));
    assert_eq!(Repr::parse_with(&p, Check::Crc32c), Err(WireError::MissingChecksum));
    // Re-emitting the parsed header with the check on clears the flag and fills the CRC.
    let mut again = [0u8; 48];
    parsed.emit(&mut again, &[]);
    assert_eq!(again, PING_PACKET);

    // With check: identical to what version 1 always sent, accepted under both policies.
    let payload = b"stripe me";
    let b = data_packet(LinkCheck::CRC32C, payload);
    let p = Packet::new_checked(&b[..]).unwrap();
    assert!(!Flags(p.flags_raw()).no_check() && !Flags(p.flags_raw()).accepts_unchecked());
    assert!(p.verify_checksum());
    for policy in [Check::Crc32c, Check::Off] {
        assert_eq!(Repr::parse_with(&p, policy).unwrap().frame, Frame::Data);
    }
    // Our policy allows no check but the peer has not said it does: CRC, and the offer.
    let b = data_packet(LinkCheck::new(Check::Off), payload);
    let p = Packet::new_checked(&b[..]).unwrap();
    assert!(!Flags(p.flags_raw()).no_check() && Flags(p.flags_raw()).accepts_unchecked());
    assert!(p.verify_checksum());
    // The peer accepts unchecked, but our policy wants the CRC: CRC, no offer.
    let b = data_packet(LinkCheck { policy: Check::Crc32c, peer_accepts_unchecked: true }, payload);
    let p = Packet::new_checked(&b[..]).unwrap();
    assert_eq!(p.flags_raw() & (Flags::NO_CHECK | Flags::ACCEPTS_UNCHECKED), 0);
    assert!(p.verify_checksum());
    let b = data_packet(BOTH_OFF, payload);
    let p = Packet::new_checked(&b[..]).unwrap();
    assert_eq!(p.checksum(), 0);
    assert_eq!(p.payload(), payload);
    assert_eq!(Repr::parse_with(&p, Check::Off).unwrap().frame, Frame::Data);
    assert_eq!(Repr::parse_with(&p, Check::Crc32c), Err(WireError::MissingChecksum));
}

#[test]
fn crc_catches_corruption_under_either_policy() {
    let b = data_packet(LinkCheck::CRC32C, &[0x5a; 64]);
    for byte in 0..b.len() {
        for bit in 0..8 {
            let mut c = b.clone();
            c[byte] ^= 1 << bit;
            let Ok(p) = Packet::new_checked(&c[..]) else { continue }; // a length flip
            let required = Repr::parse_with(&p, Check::Crc32c);
            assert!(required.is_err(), "flip of bit {bit} in byte {byte} accepted where a CRC is required");
            // Flipping NO_CHECK on is the one flip a link without corruption would let
            // through; where the CRC is required, it is refused as missing.
            if byte == field::FLAGS && 1 << bit == Flags::NO_CHECK {
                assert_eq!(required, Err(WireError::MissingChecksum));
                continue;
            }
            let relaxed = Repr::parse_with(&p, Check::Off);
            assert!(relaxed.is_err(), "flip of bit {bit} in byte {byte} accepted on a CRC'd packet");
        }
    }
}

#[test]
fn hostile_flags_and_bytes_do_not_panic_under_either_policy() {
    // Deterministic junk: every flags value on every type byte, then random buffers.
    let base = data_packet(LinkCheck::CRC32C, &[1, 2, 3, 4]);
    for ty in 0..=255u8 {
        for flags in 0..=255u8 {
            let mut b = base.clone();
            b[field::TYPE] = ty;
            b[field::FLAGS] = flags;
            let p = Packet::new_checked(&b[..]).unwrap();
            let strict = Repr::parse_with(&p, Check::Crc32c);
            if flags & Flags::NO_CHECK != 0 && PacketType::from_u8(ty).is_ok() {
                assert_eq!(strict, Err(WireError::MissingChecksum));
            }
            let _ = Repr::parse_with(&p, Check::Off);
        }
    }
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = (x % 120) as usize;
        let mut b: Vec<u8> = (0..len).map(|i| (x >> (i % 57)) as u8).collect();
        if len >= HEADER_LEN {
            b[..4].copy_from_slice(&[0x53, 0x54, VERSION, (x % 10) as u8]);
            b[field::LENGTH].copy_from_slice(&((len - HEADER_LEN) as u16).to_be_bytes());
        }
        for policy in [Check::Crc32c, Check::Off] {
            if let Ok(p) = Packet::new_checked(&b[..]) {
                let _ = Repr::parse_with(&p, policy);
            }
            let _ = verify_check(&b, &[], policy);
        }
    }
    assert!(matches!(verify_check(&[0u8; 5], &[], Check::Off), Err(WireError::Truncated { .. })));
    let mut link = LinkCheck::new(Check::Off);
    link.learn(&[0xff; 10]);
    assert!(!link.peer_accepts_unchecked, "a short datagram teaches nothing");
}

#[test]
fn link_check_learns_the_peer_and_sends_unchecked_only_when_both_allow() {
    let offer = data_packet(LinkCheck::new(Check::Off), &[9; 8]);
    let plain = data_packet(LinkCheck::CRC32C, &[9; 8]);
    for policy in [Check::Crc32c, Check::Off] {
        let mut link = LinkCheck::new(policy);
        assert_eq!(link.tx(), Check::Crc32c, "nothing heard yet");
        link.learn(&offer);
        assert_eq!(link.tx(), policy);
        link.learn(&plain);
        assert_eq!(link.tx(), Check::Crc32c, "the peer took its offer back");
    }
    // An offer in a packet whose CRC fails (a flipped bit) is not taken up.
    let mut bad = offer.clone();
    bad[HEADER_LEN] ^= 1;
    let mut link = LinkCheck::new(Check::Off);
    link.learn(&bad);
    assert_eq!(link.tx(), Check::Crc32c);
    let mut flipped = plain.clone();
    flipped[field::FLAGS] |= Flags::ACCEPTS_UNCHECKED;
    link.learn(&flipped);
    assert_eq!(link.tx(), Check::Crc32c, "an offer flipped on by corruption");
    // An unchecked packet with the offer is taken at its word (the peer sends so).
    link.learn(&data_packet(BOTH_OFF, &[1; 4]));
    assert_eq!(link.tx(), Check::Off);
}

#[test]
fn short_and_hostile_inputs_do_not_panic() {
    for len in 0..HEADER_LEN {
        assert!(matches!(Packet::new_checked(&vec![0u8; len][..]), Err(WireError::Truncated { .. })));
    }
    let mut b = [0u8; HEADER_LEN];
    b[field::LENGTH].copy_from_slice(&100u16.to_be_bytes());
    assert_eq!(
        Packet::new_checked(&b[..]).unwrap_err(),
        WireError::Truncated { have: HEADER_LEN, need: HEADER_LEN + 100 }
    );
    assert!(!verify_checksum(&b[..10], &[]));
}
