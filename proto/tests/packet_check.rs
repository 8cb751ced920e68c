//! The per-packet check (`wire::Check`, `wire::LinkCheck`) through whole sessions,
//! single-threaded on virtual time: with the check off on both ends the stream arrives
//! whole and, after the first exchange, no packet carries a CRC; ends whose policies
//! differ keep the CRC both ways and still finish; a receiver that requires the check
//! refuses every packet sent without one (a sender ignoring the advertisement, or a
//! hostile host), counts it as `MissingChecksum`, and never lets the session start.

use stripecat_proto::config::{ReceiverConfig, SenderConfig};
use stripecat_proto::time::{Duration, Instant};
use stripecat_proto::wire::{Check, Flags, LinkCheck, Packet};
use stripecat_proto::{DropReason, Receiver, ReceiverState, Sender, SenderState, SharedBytes};

const PATHS: u16 = 2;
const CHUNK: u16 = 1000;

struct Outcome {
    sender: Sender<SharedBytes>,
    receiver: Receiver<SharedBytes>,
    output: Vec<u8>,
    input: Vec<u8>,
    /// Datagrams (both directions) that carried a CRC, and that did not.
    with_crc: u64,
    without_crc: u64,
}

fn count(b: &[u8], with: &mut u64, without: &mut u64) {
    let p = Packet::new_checked(b).unwrap();
    if Flags(p.flags_raw()).no_check() {
        assert_eq!(p.checksum(), 0, "an unchecked packet leaves the CRC field zero");
        *without += 1;
    } else {
        *with += 1;
    }
}

/// One session over one link: the sender's policy is `s_policy`, the receiver's
/// `r_policy`; each end learns the other's advertisement from what it receives. With
/// `ignore_peer` the sender sends unchecked whatever the receiver said.
fn session(len: usize, s_policy: Check, r_policy: Check, ignore_peer: bool, steps: usize) -> Outcome {
    let input: Vec<u8> = (0..len).map(|i| (i * 7 + i / 331) as u8).collect();
    let now0 = Instant::ZERO;
    let cfg = SenderConfig { paths: PATHS, chunk_size: CHUNK, total_len: Some(len as u64), ..Default::default() };
    let mut sender: Sender<SharedBytes> = Sender::new(cfg, 11, now0);
    let mut receiver: Receiver<SharedBytes> = Receiver::new(ReceiverConfig { paths: PATHS, ..Default::default() });
    let (mut with_crc, mut without_crc) = (0, 0);
    let mut s_link = LinkCheck::new(s_policy);
    let mut r_link = LinkCheck::new(r_policy);
    let mut output = Vec::new();
    let mut written = 0;
    let mut now = now0;
    for _ in 0..steps {
        while written < len {
            let end = (written + CHUNK as usize).min(len);
            match sender.write(SharedBytes::from(input[written..end].to_vec())) {
                Ok(_) => written = end,
                Err(_) => break,
            }
        }
        if written == len {
            sender.finish();
        }
        if sender.poll_timeout().is_some_and(|t| t <= now) {
            sender.handle_timeout(now);
        }
        while let Some(t) = sender.poll_transmit(now) {
            let mut b = vec![0u8; t.wire_len()];
            let link =
                if ignore_peer { LinkCheck { policy: Check::Off, peer_accepts_unchecked: true } } else { s_link };
            let n = t.emit_with(&mut b, link);
            if let Some(p) = &t.payload {
                b[n..].copy_from_slice(p.as_ref());
            }
            count(&b, &mut with_crc, &mut without_crc);
            r_link.learn(&b);
            let _ = receiver.handle_datagram_with(now, SharedBytes::from(b), r_policy);
        }
        while let Some(b) = receiver.poll_deliver() {
            output.extend_from_slice(b.as_ref());
        }
        receiver.set_written(output.len() as u64);
        if receiver.poll_timeout().is_some_and(|t| t <= now) {
            receiver.handle_timeout(now);
        }
        while let Some(t) = receiver.poll_transmit(now) {
            let mut b = vec![0u8; t.wire_len()];
            t.emit_with(&mut b, r_link);
            count(&b, &mut with_crc, &mut without_crc);
            s_link.learn(&b);
            let _ = sender.handle_datagram_with(now, &b, s_policy);
        }
        if sender.is_finished() {
            break;
        }
        now += Duration::from_micros(50);
    }
    Outcome { sender, receiver, output, input, with_crc, without_crc }
}

#[test]
fn check_off_on_both_ends_moves_the_stream_whole_without_a_crc() {
    let o = session(2_000_000 + 3, Check::Off, Check::Off, false, 2_000_000);
    assert_eq!(o.sender.state(), SenderState::Done);
    assert_eq!(o.receiver.state(), ReceiverState::Complete);
    assert!(o.output == o.input, "output differs from input");
    // Only what went out before the peer's first answer carried the CRC.
    assert!(o.with_crc < 40, "{} with a CRC", o.with_crc);
    assert!(o.without_crc > 2000);
    assert_eq!(o.receiver.stats().drops.total(), 0, "{}", o.receiver.stats().drops);
}

#[test]
fn ends_with_different_policies_keep_the_crc_both_ways() {
    for (s, r) in [(Check::Crc32c, Check::Crc32c), (Check::Crc32c, Check::Off), (Check::Off, Check::Crc32c)] {
        let o = session(300_000, s, r, false, 2_000_000);
        assert_eq!(o.sender.state(), SenderState::Done, "sender {s:?}, receiver {r:?}");
        assert_eq!(o.receiver.state(), ReceiverState::Complete);
        assert!(o.output == o.input);
        assert_eq!(o.without_crc, 0, "sender {s:?}, receiver {r:?}");
        assert_eq!(o.receiver.stats().drops.total(), 0);
    }
}

#[test]
fn a_receiver_that_requires_the_check_refuses_unchecked_packets() {
    // A sender (or a hostile host) that omits the CRC although the receiver never offered
    // to do without gets nowhere: the HELLO itself is refused, with its own drop reason.
    let o = session(100_000, Check::Off, Check::Crc32c, true, 20_000);
    assert!(o.output.is_empty());
    assert_ne!(o.receiver.state(), ReceiverState::Complete);
    assert!(!o.sender.shared().is_established());
    let d = o.receiver.stats().drops;
    assert!(d.get(DropReason::MissingChecksum) > 0, "{d}");
    assert_eq!(d.get(DropReason::MissingChecksum), d.total(), "{d}");
}
