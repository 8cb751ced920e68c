//! Unit tests of `crypto`.

use super::*;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

#[test]
fn hkdf_matches_rfc5869_test_case_1() {
    let ikm = [0x0bu8; 22];
    let salt = hex("000102030405060708090a0b0c");
    let info = hex("f0f1f2f3f4f5f6f7f8f9");
    let mut okm = [0u8; 42];
    hkdf_sha256(&salt, &ikm, &info, &mut okm);
    assert_eq!(
        okm.to_vec(),
        hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
    );
}

#[test]
fn key_file_text_parses_and_refuses() {
    let k = Psk::parse_hex(&format!("{}\n", "aB".repeat(32))).unwrap();
    assert_eq!(k.to_hex(), "ab".repeat(32));
    assert_eq!(Psk::parse_hex(&"a".repeat(63)), Err(KeyError::WrongLength(63)));
    assert_eq!(Psk::parse_hex(""), Err(KeyError::WrongLength(0)));
    assert_eq!(Psk::parse_hex(&format!("  {}x", "0".repeat(64))), Err(KeyError::NotHex(66)));
    assert_eq!(Psk::parse_hex("00 11"), Err(KeyError::NotHex(2)));
    assert_eq!(format!("{k:?}"), "Psk(..)");
}

#[test]
fn nonces_differ_across_spaces_paths_and_numbers() {
    let k = DirectionKey::new(&[7; 32], [0x5a; 12]);
    let mut seen = std::collections::HashSet::new();
    for space in [Space::Path, Space::Control] {
        for path in [0u16, 1, 255, u16::MAX] {
            for pn in [0u64, 1, 2, 1 << 32, u64::MAX - 1] {
                assert!(seen.insert(k.nonce_bytes(space, path, pn)), "{space:?} {path} {pn}");
            }
        }
    }
    // Control and path packets of one path with the same number: different nonces.
    assert_ne!(k.nonce_bytes(Space::Path, 3, 1), k.nonce_bytes(Space::Control, 3, 1));
    assert_eq!(Space::of(PacketType::Ack), Space::Path);
    assert_eq!(Space::of(PacketType::Fin), Space::Control);
}

fn pair() -> (SessionKeys, SessionKeys) {
    let psk = Psk::from_bytes([3; 32]);
    let body = [1u8; 16];
    let mut i = Initiator::new(&psk, 42, &body, 20).unwrap();
    let (rk, msg2) = respond(&psk, (42, 20), &body, i.message(), &[9; 16]).unwrap();
    let (ik, ack) = i.finish(msg2.as_bytes()).unwrap();
    assert_eq!(ack.as_bytes(), [9; 16]);
    (ik, rk)
}

#[test]
fn handshake_gives_matching_keys_per_direction() {
    let (i, r) = pair();
    let header = [0xabu8; 48];
    let mut body = *b"a control body..";
    let payload = b"and a payload held elsewhere";
    let mut out = vec![0u8; payload.len() + TAG_LEN];
    i.tx.seal((Space::Path, 1, 5), &header, &mut body, payload, &mut out).unwrap();
    let mut wire = body.to_vec();
    wire.extend_from_slice(&out);
    assert_ne!(&wire[16..16 + payload.len()], payload);
    let mut open = wire.clone();
    let n = r.rx.open((Space::Path, 1, 5), &header, &mut open).unwrap();
    assert_eq!(&open[..16], b"a control body..");
    assert_eq!(&open[16..n], payload);
    // The other direction's key does not open it.
    assert!(r.tx.open((Space::Path, 1, 5), &header, &mut wire.clone()).is_err());
    assert!(i.rx.open((Space::Path, 1, 5), &header, &mut wire.clone()).is_err());
}

#[test]
fn tampered_header_payload_tag_or_number_is_refused() {
    let (i, r) = pair();
    let header = [0x11u8; 48];
    let payload = [0x22u8; 100];
    let mut out = vec![0u8; payload.len() + TAG_LEN];
    i.tx.seal((Space::Path, 0, 9), &header, &mut [], &payload, &mut out).unwrap();
    for bit in 0..out.len() * 8 {
        let mut c = out.clone();
        c[bit / 8] ^= 1 << (bit % 8);
        assert!(r.rx.open((Space::Path, 0, 9), &header, &mut c).is_err(), "payload/tag bit {bit}");
    }
    for byte in 0..header.len() {
        let mut h = header;
        h[byte] ^= 0x80;
        assert!(r.rx.open((Space::Path, 0, 9), &h, &mut out.clone()).is_err(), "header byte {byte}");
    }
    for key in [(Space::Path, 0, 10), (Space::Path, 1, 9), (Space::Control, 0, 9)] {
        assert!(r.rx.open(key, &header, &mut out.clone()).is_err(), "{key:?}");
    }
    assert!(r.rx.open((Space::Path, 0, 9), &header, &mut out[..TAG_LEN - 1].to_vec()).is_err());
    assert!(r.rx.open((Space::Path, 0, 9), &header, &mut out.clone()).is_ok());
}

#[test]
fn wrong_psk_fails_the_handshake_at_the_first_message() {
    let body = [1u8; 16];
    let i = Initiator::new(&Psk::from_bytes([1; 32]), 7, &body, 20).unwrap();
    let r = respond(&Psk::from_bytes([2; 32]), (7, 20), &body, i.message(), &[0; 16]);
    assert_eq!(r.err(), Some(HandshakeError::WrongKey));
    // Same key, but the session id or the HELLO body changed on the way: refused.
    let psk = Psk::from_bytes([1; 32]);
    let i = Initiator::new(&psk, 7, &body, 20).unwrap();
    assert_eq!(respond(&psk, (8, 20), &body, i.message(), &[0; 16]).err(), Some(HandshakeError::WrongKey));
    assert_eq!(respond(&psk, (7, 20), &[2; 16], i.message(), &[0; 16]).err(), Some(HandshakeError::WrongKey));
    assert_eq!(respond(&psk, (7, 20), &body, &i.message()[1..], &[0; 16]).err(), Some(HandshakeError::Malformed));
}

#[test]
fn a_forged_or_replayed_answer_does_not_complete_the_handshake() {
    let psk = Psk::from_bytes([1; 32]);
    let body = [1u8; 16];
    let mut i = Initiator::new(&psk, 7, &body, 20).unwrap();
    // An answer to another HELLO (a replay from an earlier session) does not verify.
    let other = Initiator::new(&psk, 7, &body, 20).unwrap();
    let (_, stale) = respond(&psk, (7, 20), &body, other.message(), &[0; 16]).unwrap();
    assert_eq!(i.finish(stale.as_bytes()).err(), Some(HandshakeError::WrongKey));
    let mut junk = [0u8; HELLO_ACK_HANDSHAKE_LEN];
    junk[0] = 9;
    assert!(i.finish(&junk).is_err());
}

#[test]
fn keys_change_every_epoch_and_both_ends_follow() {
    let psk = Psk::from_bytes([4; 32]);
    let body = [1u8; 16];
    let mut i = Initiator::new(&psk, 9, &body, 4).unwrap();
    let (r, msg2) = respond(&psk, (9, 4), &body, i.message(), &[0; 16]).unwrap();
    let (i, _) = i.finish(msg2.as_bytes()).unwrap();
    let header = [0u8; 48];
    let payload = [0x33u8; 64];
    // The same plaintext under numbers 15 (epoch 0) and 16 (epoch 1): different keys.
    let mut last = None;
    for pn in [15u64, 16, 31, 32, 16 * (MAX_EPOCHS as u64 - 1)] {
        let mut out = vec![0u8; payload.len() + TAG_LEN];
        i.tx.seal((Space::Path, 0, pn), &header, &mut [], &payload, &mut out).unwrap();
        assert_eq!(r.rx.open((Space::Path, 0, pn), &header, &mut out.clone()).unwrap(), payload.len(), "pn {pn}");
        // Under the other epoch's key (a forged number) it does not open.
        assert!(r.rx.open((Space::Path, 0, pn ^ 16), &header, &mut out.clone()).is_err());
        assert_ne!(Some(out.clone()), last);
        last = Some(out);
    }
    assert_eq!(i.tx.epoch_of(16), 1);
    assert!(i.tx.key(16 * MAX_EPOCHS as u64).is_none(), "past the last epoch: nothing seals");
    let k0 = i.tx.key(0).unwrap().nonce_bytes(Space::Path, 0, 0);
    let k1 = i.tx.key(16).unwrap().nonce_bytes(Space::Path, 0, 0);
    assert_ne!(k0, k1, "each epoch has its own IV too");
    // Every key seals at most 2^23 packets, whatever the number of paths.
    for paths in [1u16, 2, 3, 4, 16, 255, 256, 1024] {
        let per_key = (1u64 << epoch_log2_for(paths)) * paths as u64;
        assert!(per_key <= 1 << 23 || epoch_log2_for(paths) == 4, "{paths}: {per_key}");
    }
    assert_eq!(epoch_log2_for(1), 23);
    assert_eq!(epoch_log2_for(2), 22);
    assert_eq!(epoch_log2_for(256), 15);
}

#[test]
fn replay_window_edges() {
    let mut w = ReplayWindow::default();
    assert!(w.accept(0));
    assert!(!w.accept(0));
    assert!(w.accept(5));
    assert!(w.accept(3));
    assert!(!w.accept(3) && !w.accept(5));
    assert!(w.accept(1000));
    assert!(!w.accept(1000 - ReplayWindow::WIDTH), "just outside the window");
    assert!(w.accept(1000 - ReplayWindow::WIDTH + 1), "just inside");
    assert!(!w.accept(1000 - ReplayWindow::WIDTH + 1));
    assert!(!w.accept(5), "long gone");
    assert!(w.accept(1000 + 2 * ReplayWindow::WIDTH));
    assert!(!w.accept(1000));
    assert!(!w.accept(u64::MAX));
}

#[test]
fn keyring_keeps_a_few_pending_and_clears_them_on_establish() {
    let ring = Keyring::new(Some(Psk::from_bytes([0; 32])));
    for s in 0..(MAX_PENDING as u64 + 1) {
        let (_, r) = pair();
        ring.add_pending(s, Arc::new(r));
    }
    assert!(ring.pending(0).is_none(), "the oldest went first");
    assert!(ring.pending(MAX_PENDING as u64).is_some());
    let (_, r) = pair();
    ring.establish(2, Arc::new(r));
    assert!(ring.pending(3).is_none() && ring.session(2).is_some() && ring.session(3).is_none());
}
