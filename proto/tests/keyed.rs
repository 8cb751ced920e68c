//! Keyed sessions end to end through the public API: a sender and a receiver exchanging
//! real sealed datagrams (opened in place with `Incoming::open`, as the drivers do), with
//! loss, tampering and replays injected by hand.

use std::collections::HashSet;
use std::sync::Arc;

use stripecat_proto::crypto::Space;
use stripecat_proto::time::{Duration, Instant};
use stripecat_proto::wire::{Check, Flags, Packet, PacketType};
use stripecat_proto::{
    AuthError, DropReason, Incoming, Psk, Receiver, ReceiverConfig, ReceiverError, ReceiverState, Sender, SenderConfig,
    SenderError, SenderState, SharedBytes,
};

const CHUNK: u16 = 1024;

fn key(b: u8) -> Option<Psk> {
    Some(Psk::from_bytes([b; 32]))
}

/// What one run saw.
struct Run {
    tx: Sender<SharedBytes>,
    rx: Receiver<SharedBytes>,
    out: Vec<u8>,
    /// Every sealed datagram on the wire, (direction, bytes), in order.
    wire: Vec<(bool, Vec<u8>)>,
    /// Whether the receiver ever served a session before the end.
    ever_receiving: bool,
}

/// A third party on the wire: sees each datagram the sender sends, returns datagrams it
/// puts in front of the receiver's answers.
type Forger<'a> = dyn FnMut(Instant, &[u8]) -> Vec<Vec<u8>> + 'a;

/// The two ends of a run, before it starts.
fn ends(tx_key: Option<Psk>, rx_key: Option<Psk>, len: usize) -> (Sender<SharedBytes>, Receiver<SharedBytes>) {
    let tx_cfg = SenderConfig {
        paths: 2,
        chunk_size: CHUNK,
        total_len: Some(len as u64),
        key: tx_key,
        // Small epochs: every run crosses dozens of rekeys.
        key_epoch_log2: Some(4),
        ..Default::default()
    };
    let rx_cfg = ReceiverConfig { paths: 2, key: rx_key, ..Default::default() };
    (Sender::new(tx_cfg, 0x5eed_0001, Instant::ZERO), Receiver::new(rx_cfg))
}

/// Runs a transfer of `data` for at most `limit` of virtual time. `drop_nth` drops every
/// n-th sender datagram (0: none).
fn run(tx_key: Option<Psk>, rx_key: Option<Psk>, data: &[u8], drop_nth: usize, limit: Duration) -> Run {
    let (tx, rx) = ends(tx_key, rx_key, data.len());
    drive(tx, rx, data, drop_nth, limit, &mut |_, _| Vec::new())
}

/// [`run`] on the given ends. `forge` sees each datagram the sender sends (as on the
/// wire) and returns datagrams a third party puts in front of the receiver's answers.
fn drive(
    mut tx: Sender<SharedBytes>,
    mut rx: Receiver<SharedBytes>,
    data: &[u8],
    drop_nth: usize,
    limit: Duration,
    forge: &mut Forger<'_>,
) -> Run {
    let mut now = Instant::ZERO;
    let mut written = 0usize;
    let mut finished = false;
    let mut out = Vec::new();
    let mut wire = Vec::new();
    let mut ever_receiving = false;
    let mut n_sent = 0usize;
    let end = now + limit;
    while now < end {
        while !finished {
            let len = (data.len() - written).min(CHUNK as usize);
            if len == 0 {
                tx.finish();
                finished = true;
                break;
            }
            let chunk = SharedBytes::new(Arc::from(&data[written..written + len]));
            if tx.write(chunk).is_err() {
                break;
            }
            written += len;
        }
        let mut forged = Vec::new();
        while let Some(t) = tx.poll_transmit(now) {
            let Some(mut v) = t.to_vec_keyed(tx.shared().keyring()) else { continue };
            if t.is_sealed() {
                wire.push((true, v.clone()));
            }
            forged.extend(forge(now, &v));
            n_sent += 1;
            if drop_nth > 0 && n_sent.is_multiple_of(drop_nth) {
                continue;
            }
            if let Ok(inc) = Incoming::open(&mut v, Check::Crc32c, rx.shared().keyring()) {
                let _ = rx.handle_incoming(now, &inc, SharedBytes::new(Arc::from(v)));
            } else {
                rx.count_drop(DropReason::Unauthenticated);
            }
        }
        for v in forged {
            let _ = tx.handle_datagram(now, &v);
        }
        ever_receiving |= rx.state() == ReceiverState::Receiving;
        while let Some(c) = rx.poll_deliver() {
            out.extend_from_slice(c.as_ref());
        }
        rx.set_written(out.len() as u64);
        while let Some(t) = rx.poll_transmit(now) {
            let Some(v) = t.to_vec_keyed(rx.shared().keyring()) else { continue };
            if t.is_sealed() {
                wire.push((false, v.clone()));
            }
            let _ = tx.handle_datagram(now, &v);
        }
        if tx.is_finished() && !matches!(rx.state(), ReceiverState::Listening | ReceiverState::Receiving) {
            break;
        }
        now += Duration::from_micros(50);
        if tx.poll_timeout().is_some_and(|t| t <= now) {
            tx.handle_timeout(now);
        }
        if rx.poll_timeout().is_some_and(|t| t <= now) {
            rx.handle_timeout(now);
        }
    }
    Run { tx, rx, out, wire, ever_receiving }
}

/// Whether `v` is a HELLO on the wire.
fn is_hello(v: &[u8]) -> bool {
    Packet::new_checked(v).is_ok_and(|p| p.packet_type_raw() == PacketType::Hello as u8)
}

/// What a receiver holding `key` answers to `hello` (its HELLO-ACK or reject, as sent).
fn answer(rx: &mut Receiver<SharedBytes>, now: Instant, hello: &[u8]) -> Vec<Vec<u8>> {
    let mut v = hello.to_vec();
    if let Ok(inc) = Incoming::open(&mut v, Check::Crc32c, rx.shared().keyring()) {
        let _ = rx.handle_incoming(now, &inc, SharedBytes::new(Arc::from(v)));
    }
    let mut out = Vec::new();
    while let Some(t) = rx.poll_transmit(now) {
        out.extend(t.to_vec_keyed(rx.shared().keyring()));
    }
    out
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn keyed_transfer_delivers_the_bytes_with_every_nonce_used_once() {
    let input = data(300_000);
    let r = run(key(7), key(7), &input, 7, Duration::from_secs(20));
    assert_eq!(r.tx.state(), SenderState::Done, "{:?} {}", r.rx.state(), r.rx.stats().drops);
    assert_eq!(r.rx.state(), ReceiverState::Complete);
    assert_eq!(r.out, input);
    // Every sealed packet of a direction has its own (space, path, number): resends
    // included (every 7th packet was dropped and resent under a new number).
    let mut seen = HashSet::new();
    let mut types = HashSet::new();
    for (dir, v) in &r.wire {
        let p = Packet::new_checked(&v[..]).unwrap();
        assert!(Flags(p.flags_raw()).sealed());
        let kind = PacketType::from_u8(p.packet_type_raw()).unwrap();
        types.insert((*dir, p.packet_type_raw()));
        let space = Space::of(kind) as u8;
        assert!(seen.insert((*dir, space, p.path_id(), p.packet_number())), "nonce reused: {dir} {kind:?}");
        assert!(!v.windows(64).any(|w| input.windows(64).take(4).any(|i| i == w)), "plaintext on the wire");
    }
    for t in [PacketType::Data, PacketType::Confirm, PacketType::Fin] {
        assert!(types.contains(&(true, t as u8)), "no sealed {t:?}");
    }
    for t in [PacketType::Ack, PacketType::FinAck] {
        assert!(types.contains(&(false, t as u8)), "no sealed {t:?}");
    }
    assert!(r.tx.stats().paths.resends > 0, "the drops made resends");
}

#[test]
fn wrong_key_fails_the_sender_and_the_receiver_listens_on_committing_nothing() {
    let r = run(key(1), key(2), &data(10_000), 0, Duration::from_secs(2));
    assert_eq!(r.tx.state(), SenderState::Failed(SenderError::Auth(AuthError::WrongKey)));
    // The keyed receiver cannot tell a sender with another key from a forgery: it
    // refuses, counts, and listens on.
    assert_eq!(r.rx.state(), ReceiverState::Listening);
    let (n, why) = r.rx.refused();
    assert!(n >= 1 && why == Some(AuthError::WrongKey), "{n} {why:?}");
    assert!(r.rx.stats().drops.get(DropReason::Unauthenticated) >= n);
    assert!(!r.ever_receiving && r.out.is_empty() && r.rx.session_id().is_none());
}

#[test]
fn a_listening_deadline_ends_a_keyed_receiver_that_only_met_the_wrong_key() {
    let (tx, mut rx) = ends(key(1), key(2), 10_000);
    rx.listen_for(Instant::ZERO, Duration::from_millis(1500));
    let r = drive(tx, rx, &data(10_000), 0, Duration::from_secs(3), &mut |_, _| Vec::new());
    assert_eq!(r.tx.state(), SenderState::Failed(SenderError::Auth(AuthError::WrongKey)));
    match r.rx.state() {
        ReceiverState::Failed(ReceiverError::Auth { error: AuthError::WrongKey, refused }) => assert!(refused >= 1),
        other => panic!("{other:?}"),
    }
    // With no sender at all, the deadline says so.
    let mut lone: Receiver<SharedBytes> = Receiver::new(ReceiverConfig { key: key(2), ..Default::default() });
    lone.listen_for(Instant::ZERO, Duration::from_secs(1));
    lone.handle_timeout(Instant::ZERO + Duration::from_millis(999));
    assert_eq!(lone.state(), ReceiverState::Listening);
    lone.handle_timeout(Instant::ZERO + Duration::from_secs(1));
    assert_eq!(lone.state(), ReceiverState::Failed(ReceiverError::NoSender { waited: Duration::from_secs(1) }));
}

#[test]
fn no_downgrade_either_way() {
    // A keyed sender refuses an unkeyed receiver (after the grace for a forged answer);
    // the unkeyed receiver, which makes no claim against forgeries, fails at once.
    let r = run(key(1), None, &data(10_000), 0, Duration::from_secs(2));
    assert_eq!(r.tx.state(), SenderState::Failed(SenderError::Auth(AuthError::PeerHasNoKey)));
    assert_eq!(r.rx.state(), ReceiverState::Failed(ReceiverError::Auth { error: AuthError::NoKeyHere, refused: 0 }));
    assert!(!r.ever_receiving);
    // An unkeyed sender believes the keyed receiver's refusal at once; the keyed receiver
    // refuses it and listens on.
    let r = run(None, key(1), &data(10_000), 0, Duration::from_secs(2));
    assert_eq!(r.tx.state(), SenderState::Failed(SenderError::Auth(AuthError::NoKeyHere)));
    assert_eq!(r.rx.state(), ReceiverState::Listening);
    assert_eq!(r.rx.refused().1, Some(AuthError::PeerHasNoKey));
    assert!(!r.ever_receiving && r.out.is_empty());
}

#[test]
fn a_receiver_that_refused_a_wrong_key_serves_the_right_one_next() {
    let input = data(30_000);
    let (tx, mut rx) = ends(key(4), key(4), input.len());
    // A HELLO under another key reaches the idle receiver first.
    let (mut other, _) = ends(key(9), None, 10);
    let hello = other.poll_transmit(Instant::ZERO).unwrap().to_vec();
    assert!(!answer(&mut rx, Instant::ZERO, &hello).is_empty(), "no reject went back");
    assert_eq!(rx.refused(), (1, Some(AuthError::WrongKey)));
    let r = drive(tx, rx, &input, 0, Duration::from_secs(5), &mut |_, _| Vec::new());
    assert_eq!(r.tx.state(), SenderState::Done);
    assert_eq!(r.rx.state(), ReceiverState::Complete);
    assert_eq!(r.out, input);
}

#[test]
fn forged_refusals_do_not_end_a_keyed_sender_whose_receiver_answers() {
    let input = data(30_000);
    // Each forger answers every HELLO before the real receiver does.
    let forgers: Vec<(&str, Box<Forger<'static>>)> = vec![
        ("a reject from a receiver with another key", {
            let (_, mut wrong) = ends(None, key(8), 0);
            Box::new(move |now, v: &[u8]| if is_hello(v) { answer(&mut wrong, now, v) } else { Vec::new() })
        }),
        ("a reject from an unkeyed receiver", {
            let (_, mut plain) = ends(None, None, 0);
            Box::new(move |now, v: &[u8]| if is_hello(v) { answer(&mut plain, now, v) } else { Vec::new() })
        }),
        ("a HELLO-ACK whose Noise message 2 was altered", {
            let (_, mut shadow) = ends(None, key(6), 0);
            Box::new(move |now, v: &[u8]| {
                if !is_hello(v) {
                    return Vec::new();
                }
                let mut out = answer(&mut shadow, now, v);
                for a in &mut out {
                    let n = a.len();
                    a[n - 20] ^= 1;
                }
                out
            })
        }),
    ];
    for (what, mut forge) in forgers {
        let (tx, rx) = ends(key(6), key(6), input.len());
        let r = drive(tx, rx, &input, 0, Duration::from_secs(5), &mut *forge);
        assert_eq!(r.tx.state(), SenderState::Done, "{what}: {:?}", r.rx.state());
        assert_eq!(r.out, input, "{what}");
    }
}

#[test]
fn unkeyed_sessions_still_work() {
    let input = data(50_000);
    let r = run(None, None, &input, 0, Duration::from_secs(5));
    assert_eq!(r.tx.state(), SenderState::Done);
    assert_eq!(r.out, input);
    assert!(r.wire.is_empty(), "nothing sealed without a key");
}

#[test]
fn a_replayed_hello_never_becomes_a_session_and_replayed_packets_are_refused() {
    let input = data(40_000);
    let r = run(key(3), key(3), &input, 0, Duration::from_secs(5));
    assert_eq!(r.out, input);
    // Capture the HELLO a fresh sender would send, and every sealed packet of the run.
    let t0 = Instant::ZERO;
    let mut tx: Sender<SharedBytes> =
        Sender::new(SenderConfig { chunk_size: CHUNK, key: key(3), ..Default::default() }, 0x77, t0);
    let hello = tx.poll_transmit(t0).unwrap().to_vec();
    // An idle receiver with the key: the replayed HELLO is answered (keys the replayer
    // cannot derive), but nothing is served, however often it comes.
    let mut idle: Receiver<SharedBytes> = Receiver::new(ReceiverConfig { key: key(3), ..Default::default() });
    for i in 0..500u64 {
        let now = t0 + Duration::from_micros(i * 10);
        let mut v = hello.clone();
        let inc = Incoming::open(&mut v, Check::Crc32c, idle.shared().keyring()).unwrap();
        let res = idle.handle_incoming(now, &inc, SharedBytes::new(Arc::from(v)));
        assert!(res.is_ok() || res == Err(DropReason::RateLimited));
        while idle.poll_transmit(now).is_some() {}
    }
    assert_eq!(idle.state(), ReceiverState::Listening);
    assert!(idle.session_id().is_none() && idle.shared().session().is_none());
    // The old session's sealed DATA, replayed at it: refused, never delivered.
    let mut refused = 0;
    for (_, v) in r.wire.iter().filter(|(dir, _)| *dir) {
        let mut v = v.clone();
        match Incoming::open(&mut v, Check::Crc32c, idle.shared().keyring()) {
            Ok(inc) => assert!(idle.handle_incoming(t0, &inc, SharedBytes::new(Arc::from(v))).is_err()),
            Err(_) => refused += 1,
        }
    }
    assert!(refused > 0 && idle.poll_deliver().is_none());
    // The same packets replayed at the receiver that served them: replays, dropped.
    let mut rx = r.rx;
    let before = rx.stats().drops.get(DropReason::Replayed);
    for (_, v) in r.wire.iter().filter(|(dir, _)| *dir).take(20) {
        let mut v = v.clone();
        if let Ok(inc) = Incoming::open(&mut v, Check::Crc32c, rx.shared().keyring()) {
            assert!(rx.handle_incoming(t0, &inc, SharedBytes::new(Arc::from(v))).is_err());
        }
    }
    assert!(rx.stats().drops.get(DropReason::Replayed) > before);
}

#[test]
fn tampered_sealed_packets_are_refused_as_unauthenticated() {
    let input = data(20_000);
    let r = run(key(5), key(5), &input, 0, Duration::from_secs(5));
    let keyring = r.rx.shared().keyring();
    let (_, sample) = r.wire.iter().find(|(dir, v)| *dir && v[3] == PacketType::Data as u8).unwrap();
    for i in (0..sample.len()).step_by(7) {
        let mut v = sample.clone();
        v[i] ^= 0x10;
        let res = Incoming::open(&mut v, Check::Crc32c, keyring);
        assert!(res.is_err(), "flip in byte {i} accepted");
    }
    // The same packet with its seal flag cleared (a downgrade attempt) is refused too.
    let mut v = sample.clone();
    v[4] &= !Flags::SEALED;
    assert_eq!(Incoming::open(&mut v, Check::Crc32c, keyring), Err(DropReason::Unauthenticated));
}
