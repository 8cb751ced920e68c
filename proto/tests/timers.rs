//! Boundary pairs for every timer: just inside the limit the session lives, just outside
//! it fails the documented way. Driven through the public API with hand-delivered
//! datagrams, so the instants are exact.

use stripecat_proto::path_sender::PathHealth;
use stripecat_proto::time::{Duration, Instant};
use stripecat_proto::wire::{AckRanges, AckRepr, Flags, Frame, HeaderRepr, PacketType, Repr, ResetReason};
use stripecat_proto::{
    Receiver, ReceiverConfig, ReceiverError, ReceiverState, Sender, SenderConfig, SenderError, SenderState,
    SharedBytes, Transmit,
};

const US: Duration = Duration::from_micros(1);

fn bytes(t: Transmit<SharedBytes>) -> Vec<u8> {
    t.to_vec()
}

/// A sender and receiver after the handshake at time zero.
fn connected(tx_cfg: SenderConfig, rx_cfg: ReceiverConfig) -> (Sender<SharedBytes>, Receiver<SharedBytes>) {
    let t0 = Instant::ZERO;
    let mut tx = Sender::new(tx_cfg, 0xabcd, t0);
    let mut rx = Receiver::new(rx_cfg);
    let hello = bytes(tx.poll_transmit(t0).unwrap());
    rx.handle_datagram(t0, hello.into()).unwrap();
    let ack = bytes(rx.poll_transmit(t0).unwrap());
    tx.handle_datagram(t0, &ack).unwrap();
    assert_eq!(tx.state(), SenderState::Transfer);
    (tx, rx)
}

fn ping(session: u64, path: u16, pn: u64) -> Vec<u8> {
    let header = HeaderRepr {
        packet_type: PacketType::Ping,
        flags: Flags::empty(),
        path_id: path,
        session_id: session,
        packet_number: pn,
        offset: 0,
        length: 0,
        timestamp: 0,
        timestamp_echo: 0,
    };
    let repr = Repr { header, frame: Frame::Ping };
    let mut v = vec![0u8; repr.buffer_len()];
    repr.emit(&mut v, &[]);
    v
}

fn ack(session: u64, path: u16, lo: u64, hi: u64, delivered: u64) -> Vec<u8> {
    let mut ranges = AckRanges::new();
    ranges.push(lo, hi);
    let frame = Frame::Ack(Box::new(AckRepr { ranges, ack_delay: 0, delivered, max_offset: 1 << 30 }));
    let header = HeaderRepr {
        packet_type: PacketType::Ack,
        flags: Flags::empty(),
        path_id: path,
        session_id: session,
        packet_number: 0,
        offset: 0,
        length: frame.body_len() as u16,
        timestamp: 0,
        timestamp_echo: 0,
    };
    let repr = Repr { header, frame };
    let mut v = vec![0u8; repr.buffer_len()];
    repr.emit(&mut v, &[]);
    v
}

fn chunk(len: usize, fill: u8) -> SharedBytes {
    SharedBytes::from(vec![fill; len])
}

// ---------------------------------------------------------------- idle timeout

fn idle_pair(gap: Duration) -> Receiver<SharedBytes> {
    let idle = Duration::from_millis(100);
    let (_tx, mut rx) = connected(SenderConfig::default(), ReceiverConfig { idle_timeout: idle, ..Default::default() });
    // A packet `gap` after the handshake, then a check `gap` after that packet.
    let t1 = Instant::ZERO + gap;
    if gap < idle {
        rx.handle_datagram(t1, ping(0xabcd, 0, 0).into()).unwrap();
    }
    rx.handle_timeout(t1);
    rx
}

#[test]
fn idle_timeout_just_inside_keeps_the_session() {
    let idle = Duration::from_millis(100);
    let mut rx = idle_pair(idle - US);
    assert_eq!(rx.state(), ReceiverState::Receiving);
    let t1 = Instant::ZERO + (idle - US);
    assert_eq!(rx.poll_timeout(), Some(t1 + idle).min(rx.poll_timeout()));
    rx.handle_timeout(t1 + idle - US);
    assert_eq!(rx.state(), ReceiverState::Receiving, "one microsecond before the limit");
}

#[test]
fn idle_timeout_just_outside_fails_with_reset() {
    let idle = Duration::from_millis(100);
    let mut rx = idle_pair(idle);
    assert_eq!(rx.state(), ReceiverState::Failed(ReceiverError::IdleTimeout { delivered: 0, idle }));
    let reset = rx.poll_transmit(Instant::ZERO + idle).expect("a RESET goes out");
    match reset.repr.frame {
        Frame::Reset(r) => assert_eq!(r.reason, ResetReason::IdleTimeout),
        other => panic!("expected RESET, got {other:?}"),
    }
}

// ---------------------------------------------------------------- give-up bound

fn give_up_run(ack_at: Option<Duration>) -> (Sender<SharedBytes>, Instant, Vec<Frame>) {
    let g = Duration::from_millis(200);
    let tx_cfg = SenderConfig { chunk_size: 1024, give_up_after: g, ..Default::default() };
    let rx_cfg = ReceiverConfig { ack_every: 1, ..Default::default() };
    let (mut tx, mut rx) = connected(tx_cfg, rx_cfg);
    let t0 = Instant::ZERO;
    // More than the first flight, so something stays outstanding after any ACK.
    for i in 0..16 {
        tx.write(chunk(1024, i)).unwrap();
    }
    let mut first_flight = vec![];
    while let Some(t) = tx.poll_transmit(t0) {
        first_flight.push(bytes(t));
    }
    assert!(!first_flight.is_empty());
    let mut acked = false;
    let mut now = t0;
    let mut last = vec![];
    while !tx.is_finished() && now < Instant::from_secs(2) {
        let next = tx.poll_timeout().expect("a failing sender always has a timer");
        if let Some(at) = ack_at.map(|d| t0 + d) {
            if !acked && next > at {
                // The first flight arrives late; its ACK reaches the sender at `at`.
                for d in &first_flight {
                    let _ = rx.handle_datagram(at, d.clone().into());
                }
                while rx.poll_deliver().is_some() {}
                while let Some(t) = rx.poll_transmit(at) {
                    let _ = tx.handle_datagram(at, &bytes(t));
                }
                acked = true;
                now = at;
                continue;
            }
        }
        now = next;
        tx.handle_timeout(now);
        last.clear();
        while let Some(t) = tx.poll_transmit(now) {
            last.push(t.repr.frame); // everything is lost
        }
    }
    (tx, now, last)
}

#[test]
fn give_up_just_outside_fails_saying_how_far_it_got() {
    let g = Duration::from_millis(200);
    let (tx, at, last) = give_up_run(None);
    assert_eq!(at, Instant::ZERO + g, "gives up exactly at the bound");
    let e = SenderError::GaveUp { acked: 0, written: 16384, idle: g };
    assert_eq!(tx.state(), SenderState::Failed(e));
    assert!(e.to_string().contains("0 of 16384 bytes"), "{e}");
    assert!(matches!(last.as_slice(), [Frame::Reset(r)] if r.reason == ResetReason::GiveUp), "{last:?}");
}

#[test]
fn give_up_just_inside_progress_restarts_the_bound() {
    let g = Duration::from_millis(200);
    let (tx, at, _) = give_up_run(Some(g - US));
    // Progress one microsecond before the bound: the next give-up is a full bound later.
    match tx.state() {
        SenderState::Failed(SenderError::GaveUp { acked, idle, .. }) => {
            assert_eq!(acked, 8192, "the first flight of 8 chunks was acknowledged");
            assert_eq!(idle, g);
            assert_eq!(at, Instant::ZERO + (g - US) + g);
        }
        other => panic!("expected a later give-up, got {other:?}"),
    }
}

// ---------------------------------------------------------------- path down after K PTOs

/// One path, K = 3. Returns the sender after PTO number `k - 1` with the time of the
/// K-th PTO deadline.
fn until_pto(k: u64) -> (Sender<SharedBytes>, Instant) {
    let tx_cfg = SenderConfig { chunk_size: 1024, pto_down_threshold: 3, ..Default::default() };
    let (mut tx, _rx) = connected(tx_cfg, ReceiverConfig::default());
    let t0 = Instant::ZERO;
    tx.write(chunk(1024, 1)).unwrap();
    assert!(tx.poll_transmit(t0).is_some());
    loop {
        let next = tx.poll_timeout().unwrap();
        if tx.path(0).stats().ptos == k - 1 {
            return (tx, next);
        }
        let now = next;
        tx.handle_timeout(now);
        while tx.poll_transmit(now).is_some() {}
        assert!(now < Instant::from_secs(5));
    }
}

#[test]
fn path_down_just_outside_after_k_ptos() {
    let (mut tx, deadline) = until_pto(3);
    assert_eq!(tx.path(0).health(), PathHealth::Up, "still up after K-1 PTOs");
    tx.handle_timeout(deadline - US);
    assert_eq!(tx.path(0).health(), PathHealth::Up);
    tx.handle_timeout(deadline);
    assert_eq!(tx.path(0).health(), PathHealth::Down, "down at the K-th PTO");
    assert_eq!(tx.path(0).stats().ptos, 3);
    // Its data went back to the shared resend queue for other paths.
    assert_eq!(tx.shared().resend_len(), 1);
}

#[test]
fn path_down_just_inside_an_ack_before_the_kth_pto_keeps_it_up() {
    let (mut tx, deadline) = until_pto(3);
    // Acknowledge packet 0 one microsecond before the K-th PTO.
    tx.handle_datagram(deadline - US, &ack(0xabcd, 0, 0, 0, 1024)).unwrap();
    tx.handle_timeout(deadline);
    assert_eq!(tx.path(0).health(), PathHealth::Up);
    assert_eq!(tx.path(0).stats().ptos, 2);
}

// ---------------------------------------------------------------- ACK delay and frequency

fn data_packets(n: usize) -> (Receiver<SharedBytes>, Vec<Vec<u8>>) {
    let tx_cfg = SenderConfig { chunk_size: 1024, ..Default::default() };
    let rx_cfg = ReceiverConfig { ack_every: 16, max_ack_delay: Duration::from_micros(250), ..Default::default() };
    let (mut tx, rx) = connected(tx_cfg, rx_cfg);
    let t0 = Instant::ZERO;
    let mut out = vec![];
    let mut now = t0;
    while out.len() < n {
        let _ = tx.write(chunk(1024, out.len() as u8));
        match tx.poll_transmit(now) {
            Some(t) => out.push(bytes(t)),
            None => now += Duration::from_micros(100),
        }
        let _ = tx.handle_datagram(now, &ack(0xabcd, 0, 0, out.len().saturating_sub(1) as u64, 0));
    }
    (rx, out)
}

#[test]
fn ack_delay_pair() {
    let (mut rx, pkts) = data_packets(1);
    let t = Instant::from_millis(1);
    rx.handle_datagram(t, pkts[0].clone().into()).unwrap();
    assert!(rx.poll_transmit(t + Duration::from_micros(249)).is_none(), "just inside the delay: no ACK yet");
    assert_eq!(rx.poll_timeout(), Some(t + Duration::from_micros(250)));
    let a = rx.poll_transmit(t + Duration::from_micros(250)).expect("ACK at the delay");
    match a.repr.frame {
        Frame::Ack(ack) => {
            assert_eq!(ack.ranges.largest(), Some(0));
            assert_eq!(ack.ack_delay, 250);
        }
        other => panic!("expected ACK, got {other:?}"),
    }
}

#[test]
fn ack_frequency_pair() {
    let (mut rx, pkts) = data_packets(16);
    let t = Instant::from_millis(1);
    for p in &pkts[..15] {
        rx.handle_datagram(t, p.clone().into()).unwrap();
    }
    assert!(rx.poll_transmit(t).is_none(), "15 packets: below the ACK frequency");
    rx.handle_datagram(t, pkts[15].clone().into()).unwrap();
    assert!(matches!(rx.poll_transmit(t).map(|a| a.repr.frame), Some(Frame::Ack(_))), "16th packet: ACK now");
}

// ---------------------------------------------------------------- HELLO, FIN and probe retransmission

fn frames(tx: &mut Sender<SharedBytes>, now: Instant) -> Vec<(u16, Frame)> {
    let mut v = vec![];
    while let Some(t) = tx.poll_transmit(now) {
        v.push((t.path, t.repr.frame));
    }
    v
}

#[test]
fn hello_retransmit_pair_rotates_paths_and_backs_off() {
    let cfg = SenderConfig { paths: 2, hello_interval: Duration::from_millis(20), ..Default::default() };
    let mut tx: Sender<SharedBytes> = Sender::new(cfg, 1, Instant::ZERO);
    assert!(matches!(frames(&mut tx, Instant::ZERO).as_slice(), [(0, Frame::Hello(_))]));
    let first = Instant::from_millis(20);
    tx.handle_timeout(first - US);
    assert!(frames(&mut tx, first - US).is_empty(), "just inside the interval: nothing");
    tx.handle_timeout(first);
    assert!(matches!(frames(&mut tx, first).as_slice(), [(1, Frame::Hello(_))]), "retransmitted on the next path");
    // Second retry after twice the interval.
    let second = first + Duration::from_millis(40);
    tx.handle_timeout(second - US);
    assert!(frames(&mut tx, second - US).is_empty());
    tx.handle_timeout(second);
    assert!(matches!(frames(&mut tx, second).as_slice(), [(0, Frame::Hello(_))]));
}

#[test]
fn fin_retransmit_pair() {
    let tx_cfg = SenderConfig { chunk_size: 1024, fin_interval: Duration::from_millis(20), ..Default::default() };
    let (mut tx, mut rx) = connected(tx_cfg, ReceiverConfig::default());
    let t0 = Instant::ZERO;
    tx.write(chunk(100, 9)).unwrap(); // a short chunk ends the stream
    tx.finish();
    let data = bytes(tx.poll_transmit(t0).unwrap());
    rx.handle_datagram(t0, data.into()).unwrap();
    while rx.poll_deliver().is_some() {}
    let ack = bytes(rx.poll_transmit(t0).expect("the last chunk is acknowledged at once"));
    tx.handle_datagram(t0, &ack).unwrap();
    assert_eq!(tx.state(), SenderState::Closing);
    assert!(matches!(frames(&mut tx, t0).as_slice(), [(0, Frame::Fin(f))] if f.total_len == 100));
    let again = t0 + Duration::from_millis(20);
    tx.handle_timeout(again - US);
    assert!(!frames(&mut tx, again - US).iter().any(|f| matches!(f.1, Frame::Fin(_))), "just inside: no FIN");
    tx.handle_timeout(again);
    let fin = tx.poll_transmit(again).expect("FIN retransmitted at the interval");
    assert!(matches!(fin.repr.frame, Frame::Fin(_)));
    rx.handle_datagram(again, bytes(fin).into()).unwrap();
    let fin_ack = bytes(rx.poll_transmit(again).unwrap());
    tx.handle_datagram(again, &fin_ack).unwrap();
    assert_eq!(tx.state(), SenderState::Done);
    assert_eq!(rx.state(), ReceiverState::Complete);
}

#[test]
fn down_path_probe_interval_pair() {
    let (mut tx, deadline) = until_pto(3);
    tx.handle_timeout(deadline);
    assert_eq!(tx.path(0).health(), PathHealth::Down);
    while tx.poll_transmit(deadline).is_some() {}
    let probe_at = deadline + SenderConfig::default().probe_interval;
    assert_eq!(tx.poll_timeout(), Some(probe_at));
    tx.handle_timeout(probe_at - US);
    assert!(tx.poll_transmit(probe_at - US).is_none(), "just inside the probe interval: silent");
    tx.handle_timeout(probe_at);
    let probe = tx.poll_transmit(probe_at).expect("a probe at the interval");
    assert!(matches!(probe.repr.frame, Frame::Ping));
    // The probe's ACK brings the path back.
    let pn = probe.repr.header.packet_number;
    tx.handle_datagram(probe_at, &ack(0xabcd, 0, pn, pn, 0)).unwrap();
    assert_eq!(tx.path(0).health(), PathHealth::Up);
}

// ---------------------------------------------------------------- slow application (flow control)

/// A receiver with one chunk received but not yet taken by its application.
fn slow_app_pair(idle: Duration) -> Receiver<SharedBytes> {
    let tx_cfg = SenderConfig { chunk_size: 1024, ..Default::default() };
    let (mut tx, mut rx) = connected(tx_cfg, ReceiverConfig { idle_timeout: idle, ..Default::default() });
    let t0 = Instant::ZERO;
    tx.write(chunk(1024, 1)).unwrap();
    let data = bytes(tx.poll_transmit(t0).unwrap());
    rx.handle_datagram(t0, data.into()).unwrap();
    rx
}

#[test]
fn idle_timeout_waits_while_the_application_has_not_taken_the_data() {
    let idle = Duration::from_millis(100);
    let mut rx = slow_app_pair(idle);
    // Nothing arrives for many idle timeouts, but a chunk waits for the application:
    // the application is slow, not the network.
    for k in 1..=5u64 {
        rx.handle_timeout(Instant::ZERO + idle.saturating_mul(k));
        assert_eq!(rx.state(), ReceiverState::Receiving, "after {k} idle timeouts");
    }
    // The application takes it; one idle timeout later the session fails.
    assert!(rx.poll_deliver().is_some());
    // The last check (at 5 idle) re-armed the timer for one more idle timeout.
    let t = Instant::ZERO + idle.saturating_mul(6);
    rx.handle_timeout(t - US);
    assert_eq!(rx.state(), ReceiverState::Receiving, "just inside");
    rx.handle_timeout(t);
    assert!(
        matches!(rx.state(), ReceiverState::Failed(ReceiverError::IdleTimeout { delivered: 1024, .. })),
        "{:?}",
        rx.state()
    );
}

#[test]
fn idle_timeout_waits_while_delivered_bytes_are_not_written() {
    let idle = Duration::from_millis(100);
    let mut rx = slow_app_pair(idle);
    assert!(rx.poll_deliver().is_some());
    rx.set_written(0); // the writer has the chunk but has not written it yet
    rx.handle_timeout(Instant::ZERO + idle);
    rx.handle_timeout(Instant::ZERO + idle.saturating_mul(2));
    assert_eq!(rx.state(), ReceiverState::Receiving, "the writer is behind");
    rx.set_written(1024);
    rx.handle_timeout(Instant::ZERO + idle.saturating_mul(3));
    assert!(
        matches!(rx.state(), ReceiverState::Failed(ReceiverError::IdleTimeout { delivered: 1024, .. })),
        "{:?}",
        rx.state()
    );
}

/// Sender in Closing whose receiver has everything but is still writing it. FINs go out
/// every 20 ms for `span`; the receiver gets them only if `fins_arrive`. Returns both.
fn closing_with_slow_writer(
    span: Duration,
    fins_arrive: bool,
) -> (Sender<SharedBytes>, Receiver<SharedBytes>, Instant) {
    let g = Duration::from_millis(200);
    let tx_cfg = SenderConfig {
        chunk_size: 1024,
        give_up_after: g,
        fin_interval: Duration::from_millis(20),
        ..Default::default()
    };
    let (mut tx, mut rx) = connected(tx_cfg, ReceiverConfig::default());
    let t0 = Instant::ZERO;
    tx.write(chunk(100, 9)).unwrap();
    tx.finish();
    rx.set_written(0);
    let data = bytes(tx.poll_transmit(t0).unwrap());
    rx.handle_datagram(t0, data.into()).unwrap();
    while rx.poll_deliver().is_some() {}
    while let Some(t) = rx.poll_transmit(t0) {
        tx.handle_datagram(t0, &bytes(t)).unwrap();
    }
    assert_eq!(tx.state(), SenderState::Closing);
    let mut now = t0;
    while now < t0 + span && !tx.is_finished() {
        while let Some(t) = tx.poll_transmit(now) {
            if fins_arrive {
                let fin = bytes(t);
                rx.handle_datagram(now, fin.into()).unwrap();
                while let Some(a) = rx.poll_transmit(now) {
                    assert!(
                        matches!(a.repr.frame, Frame::Ack(_)),
                        "no FIN-ACK before the data is written: {:?}",
                        a.repr.frame
                    );
                    tx.handle_datagram(now, &bytes(a)).unwrap();
                }
            }
        }
        now = tx.poll_timeout().expect("a closing sender has timers");
        tx.handle_timeout(now);
    }
    (tx, rx, now)
}

#[test]
fn closing_sender_waits_for_a_receiver_that_is_still_writing() {
    // Five give-up bounds pass while the receiver's writer is behind: its ACKs to the
    // FINs keep the sender waiting. Once written, the next FIN gets the FIN-ACK.
    let (mut tx, mut rx, end) = closing_with_slow_writer(Duration::from_secs(1), true);
    assert_eq!(tx.state(), SenderState::Closing);
    rx.set_written(100);
    let mut now = end;
    while !tx.is_finished() {
        while let Some(f) = tx.poll_transmit(now) {
            rx.handle_datagram(now, bytes(f).into()).unwrap();
            while let Some(a) = rx.poll_transmit(now) {
                let _ = tx.handle_datagram(now, &bytes(a));
            }
        }
        if tx.is_finished() {
            break;
        }
        now = tx.poll_timeout().unwrap();
        tx.handle_timeout(now);
        assert!(now < end + Duration::from_millis(100), "{:?} at {now:?}", tx.state());
    }
    assert_eq!(tx.state(), SenderState::Done);
    assert_eq!(rx.state(), ReceiverState::Complete);
}

#[test]
fn closing_sender_gives_up_when_the_fins_go_unanswered() {
    // The same, but the FINs are lost: nothing answers, the give-up bound holds.
    let (tx, _rx, now) = closing_with_slow_writer(Duration::from_secs(1), false);
    assert!(matches!(tx.state(), SenderState::Failed(SenderError::GaveUp { acked: 100, .. })), "{:?}", tx.state());
    assert_eq!(now, Instant::ZERO + Duration::from_millis(200));
}

/// A sender whose receiver has every packet but delivers nothing (its reader stopped):
/// time runs to `span`; the sender's packets reach the receiver only if `answered`.
/// Returns the sender, the time it stopped at and the PINGs it sent.
fn stalled_reader(span: Duration, answered: bool) -> (Sender<SharedBytes>, Instant, usize) {
    let g = Duration::from_millis(200);
    let tx_cfg = SenderConfig { chunk_size: 1024, give_up_after: g, ..Default::default() };
    let (mut tx, mut rx) = connected(tx_cfg, ReceiverConfig { ack_every: 1, ..Default::default() });
    let t0 = Instant::ZERO;
    for i in 0..4 {
        tx.write(chunk(1024, i)).unwrap();
    }
    let (mut now, mut pings) = (t0, 0);
    loop {
        while let Some(t) = tx.poll_transmit(now) {
            if matches!(t.repr.frame, Frame::Ping) {
                pings += 1;
                if !answered {
                    continue;
                }
            }
            let _ = rx.handle_datagram(now, bytes(t).into());
            // The receiving application never calls poll_deliver.
            while let Some(a) = rx.poll_transmit(now) {
                let _ = tx.handle_datagram(now, &bytes(a));
            }
        }
        let Some(next) = tx.poll_timeout() else { break };
        if tx.is_finished() || next > t0 + span {
            break;
        }
        now = next;
        tx.handle_timeout(now);
    }
    (tx, now, pings)
}

#[test]
fn stalled_reader_the_sender_keeps_waiting_while_the_receiver_answers() {
    // Ten give-up bounds without any delivery: each time the sender asks with a PING,
    // the receiver answers, and the sender waits on.
    let (tx, _, pings) = stalled_reader(Duration::from_secs(2), true);
    assert_eq!(tx.state(), SenderState::Transfer);
    assert!(pings >= 9, "{pings} keep-alive PINGs in 2 s");
}

#[test]
fn stalled_reader_the_sender_gives_up_when_the_keepalive_goes_unanswered() {
    // The same, but nothing reaches the receiver any more after the data: the sender
    // gives up one grace (here the 200 ms bound, below the 1 s cap) after the bound.
    let (tx, at, pings) = stalled_reader(Duration::from_secs(2), false);
    assert!(
        matches!(tx.state(), SenderState::Failed(SenderError::GaveUp { acked: 0, written: 4096, .. })),
        "{:?}",
        tx.state()
    );
    assert_eq!(at, Instant::ZERO + Duration::from_millis(400));
    assert!(pings >= 1);
}
