//! Unit tests of `control`: each control frame's bytes, parsed and emitted.

use super::*;

static HELLO: [u8; 16] = [
    0x20, 0x00, // chunk 8192
    0x00, 0x04, // 4 paths
    0x01, 0x00, // xxh3, reserved
    0x00, 0x00, // options
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // total unknown
];

#[test]
fn hello_parse_emit() {
    let r = HelloRepr::parse(&HELLO).unwrap();
    assert_eq!(
        r,
        HelloRepr {
            chunk_size: 8192,
            paths: 4,
            digest: DigestAlgorithm::Xxh3_128,
            options: 0,
            total_len: None,
            key_epoch: 0,
            handshake: None
        }
    );
    let mut b = [0xaau8; 16];
    r.emit(&mut b);
    assert_eq!(b, HELLO);
    let mut bad = HELLO;
    bad[4] = 7;
    assert!(matches!(HelloRepr::parse(&bad), Err(WireError::Malformed { .. })));
    assert!(HelloRepr::parse(&HELLO[..15]).is_err());
}

static HELLO_ACK_REJECT: [u8; 16] = [0x01, 0, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
static HELLO_ACK_OK: [u8; 16] = [0x00, 0, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0];

#[test]
fn hello_ack_parse_emit() {
    let rej = HelloAckRepr::parse(&HELLO_ACK_REJECT).unwrap();
    assert_eq!(
        rej,
        HelloAckRepr {
            reject: Some(RejectReason::Busy),
            options: 0,
            chunk_size: 0,
            window: 0,
            resume: None,
            handshake: None
        }
    );
    let ok = HelloAckRepr::parse(&HELLO_ACK_OK).unwrap();
    assert_eq!(
        ok,
        HelloAckRepr { reject: None, options: 0, chunk_size: 0, window: 64 << 20, resume: None, handshake: None }
    );
    let mut b = [0x55u8; 16];
    ok.emit(&mut b);
    assert_eq!(b, HELLO_ACK_OK);
    rej.emit(&mut b);
    assert_eq!(b, HELLO_ACK_REJECT);
    let mut bad = HELLO_ACK_OK;
    bad[0] = 99;
    assert!(HelloAckRepr::parse(&bad).is_err());
}

// Accepted with the settle option, the chunk size settled at 1458 (0x05b2).
static HELLO_ACK_SETTLED: [u8; 16] = [0x00, 0, 0x00, 0x01, 0x05, 0xb2, 0, 0, 0, 0, 0, 0, 0x04, 0, 0, 0];

#[test]
fn a_resuming_hello_ack_carries_the_prefix_length_and_digest() {
    let mut digest = [0u8; 32];
    digest[..16].copy_from_slice(&[0xab; 16]);
    let point = ResumeRepr { len: 0x0102_0304_0506, algorithm: DigestAlgorithm::Xxh3_128, digest };
    let ack = HelloAckRepr {
        reject: None,
        options: HelloRepr::OPT_RESUME,
        chunk_size: 0,
        window: 1 << 20,
        resume: Some(point),
        handshake: None,
    };
    assert_eq!(ack.body_len(), 16 + 48);
    let mut b = vec![0x55u8; ack.body_len()];
    ack.emit(&mut b);
    assert_eq!(&b[16..24], &[0, 0, 1, 2, 3, 4, 5, 6]);
    assert_eq!(b[24], 1);
    assert_eq!(&b[25..32], &[0; 7]);
    assert_eq!(HelloAckRepr::parse(&b).unwrap(), ack);
    // The authenticated body (a keyed answer's payload) is the same 64 bytes.
    let (auth, n) = ack.authenticated_body();
    assert_eq!(&auth[..n], &b[..]);
    assert_eq!(HelloAckRepr::parse_authenticated(&auth[..n]).unwrap(), ack);
    // The resume bit without its point, or a point without the bit: malformed.
    assert!(HelloAckRepr::parse(&b[..16]).is_err());
    assert!(HelloAckRepr::parse_authenticated(&b[..16]).is_err());
    let mut no_bit = b.clone();
    no_bit[3] = 0;
    assert!(HelloAckRepr::parse(&no_bit).is_err());
    assert!(HelloAckRepr::parse(&b[..63]).is_err());
    let mut bad_alg = b.clone();
    bad_alg[24] = 9;
    assert!(HelloAckRepr::parse(&bad_alg).is_err());
}

#[test]
fn hello_ack_carries_a_settled_chunk_size() {
    let r = HelloAckRepr::parse(&HELLO_ACK_SETTLED).unwrap();
    let want = HelloAckRepr {
        reject: None,
        options: HelloRepr::OPT_SETTLE_CHUNK,
        chunk_size: 1458,
        window: 64 << 20,
        resume: None,
        handshake: None,
    };
    assert_eq!(r, want);
    let mut b = [0x55u8; 16];
    want.emit(&mut b);
    assert_eq!(b, HELLO_ACK_SETTLED);
}

#[test]
fn fin_parse_emit() {
    let mut bytes = [0u8; 48];
    bytes[..8].copy_from_slice(&[0, 0, 0, 0, 0, 0, 0x03, 0xe8]); // 1000 bytes
    bytes[8] = 2; // blake3
    for (i, b) in bytes[16..48].iter_mut().enumerate() {
        *b = i as u8;
    }
    let r = FinRepr::parse(&bytes).unwrap();
    assert_eq!(r.total_len, 1000);
    assert_eq!(r.algorithm, DigestAlgorithm::Blake3);
    assert_eq!(r.digest[31], 31);
    let mut out = [0xffu8; 48];
    r.emit(&mut out);
    assert_eq!(out, bytes);
}

#[test]
fn fin_ack_and_reset_parse_emit() {
    let fa = [2u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00];
    let r = FinAckRepr::parse(&fa).unwrap();
    assert_eq!(r, FinAckRepr { verdict: Verdict::DigestMismatch, received_len: 256 });
    let mut out = [9u8; 16];
    r.emit(&mut out);
    assert_eq!(out, fa);

    let rs = [0u8, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10];
    let r = ResetRepr::parse(&rs).unwrap();
    assert_eq!(r, ResetRepr { reason: ResetReason::IdleTimeout, offset: 16 });
    r.emit(&mut out);
    assert_eq!(out, rs);
    let mut unknown = rs;
    unknown[1] = 77;
    assert_eq!(ResetRepr::parse(&unknown).unwrap().reason, ResetReason::Other(77));
}
