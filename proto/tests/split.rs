//! The control owners (`Sender`, `Receiver`) with some paths detached to
//! "other lcores", driven in one thread on virtual time the way the DPDK data
//! plane drives them across lcores: a full session (HELLO, data, FIN) where
//! the detached paths carry data and ACKs, control frames stay on the paths
//! the owners kept, and the stats are whole once the paths are attached again.

use stripecat_proto::config::{ReceiverConfig, SenderConfig};
use stripecat_proto::time::{Duration, Instant};
use stripecat_proto::wire::{Frame, Packet, Repr};
use stripecat_proto::{PathReceiver, PathSender, Payload, Receiver, ReceiverState, Sender, SenderState, SharedBytes};

const PATHS: u16 = 4;
const CHUNK: u16 = 1000;

struct Split {
    sender: Sender<SharedBytes>,
    receiver: Receiver<SharedBytes>,
    /// Sender paths on the "other lcore" (odd ids).
    tx_paths: Vec<PathSender<SharedBytes>>,
    /// Receiver paths on its "other lcore" (ids 2 and 3: a different split
    /// from the sender's, as two hosts with different lcore counts have).
    rx_paths: Vec<PathReceiver>,
    control_paths: Vec<u16>,
    seeded: bool,
}

fn remote_tx(p: u16) -> bool {
    p % 2 == 1
}
fn remote_rx(p: u16) -> bool {
    p >= 2
}

impl Split {
    fn new(len: usize) -> Split {
        let now = Instant::ZERO;
        let cfg = SenderConfig { paths: PATHS, chunk_size: CHUNK, total_len: Some(len as u64), ..Default::default() };
        let mut sender = Sender::new(cfg, 7, now);
        let tx_paths = (0..PATHS).filter(|&p| remote_tx(p)).map(|p| sender.detach_path(p as usize)).collect();
        let mut receiver = Receiver::new(ReceiverConfig { paths: PATHS, ..Default::default() });
        let rx_paths = (0..PATHS).filter(|&p| remote_rx(p)).map(|p| receiver.detach_path(p as usize)).collect();
        Split { sender, receiver, tx_paths, rx_paths, control_paths: Vec::new(), seeded: false }
    }

    /// Everything the sender side emits at `now`, as (path, bytes).
    fn sender_out(&mut self, now: Instant) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        if self.sender.poll_timeout().is_some_and(|t| t <= now) {
            self.sender.handle_timeout(now);
        }
        while let Some(t) = self.sender.poll_transmit(now) {
            assert!(self.sender.is_local(t.path as usize), "the owner sent on detached path {}", t.path);
            if t.payload.is_none() && !matches!(t.repr.frame, Frame::Ping) {
                self.control_paths.push(t.path);
            }
            out.push((t.path, t.to_vec()));
        }
        let shared = self.sender.shared().clone();
        if shared.is_established() && !self.seeded {
            // The handshake's RTT reaches the detached paths through the shared part.
            self.seeded = true;
            let rtt = shared.handshake_rtt().expect("HELLO-ACK measured the handshake");
            for p in &mut self.tx_paths {
                p.seed_rtt(now, rtt);
            }
        }
        for p in &mut self.tx_paths {
            if p.poll_timeout().is_some_and(|t| t <= now) {
                p.handle_timeout(now, &shared);
            }
            while let Some(t) = p.poll_transmit(now, &shared) {
                out.push((t.path, t.to_vec()));
            }
        }
        out
    }

    fn receiver_out(&mut self, now: Instant) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        if self.receiver.poll_timeout().is_some_and(|t| t <= now) {
            self.receiver.handle_timeout(now);
        }
        while let Some(t) = self.receiver.poll_transmit(now) {
            out.push((t.path, t.to_vec()));
        }
        let shared = self.receiver.shared().clone();
        if let Some(session) = shared.session() {
            for p in &mut self.rx_paths {
                while let Some(t) = p.poll_transmit::<SharedBytes>(now, &shared, session) {
                    out.push((t.path, t.to_vec()));
                }
            }
        }
        out
    }

    /// Routes a datagram to the receiver side: DATA/PING of a detached path
    /// to its lcore, everything else to the owner.
    fn route_to_receiver(&mut self, now: Instant, path: u16, bytes: Vec<u8>) {
        let (repr, range) = {
            let pkt = Packet::new_checked(&bytes[..]).unwrap();
            (Repr::parse(&pkt).unwrap(), pkt.payload_range())
        };
        let shared = self.receiver.shared().clone();
        if remote_rx(path) && matches!(repr.frame, Frame::Data | Frame::Ping) {
            let p = self.rx_paths.iter_mut().find(|p| p.id() == path).unwrap();
            if shared.session() != Some(repr.header.session_id) {
                return;
            }
            let _ = match repr.frame {
                Frame::Data => p.handle_data(now, &repr.header, SharedBytes::from(bytes).narrow(range), &shared),
                _ => p.handle_ping(now, &repr.header),
            };
            self.receiver.note_activity(now);
        } else {
            let _ = self.receiver.handle_datagram(now, SharedBytes::from(bytes));
        }
    }

    fn route_to_sender(&mut self, now: Instant, path: u16, bytes: Vec<u8>) {
        let repr = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap();
        match (&repr.frame, remote_tx(path)) {
            (Frame::Ack(ack), true) => {
                let shared = self.sender.shared().clone();
                let p = self.tx_paths.iter_mut().find(|p| p.id() == path).unwrap();
                p.handle_ack(now, &repr.header, ack, &shared);
            }
            _ => {
                let _ = self.sender.handle_datagram(now, &bytes);
            }
        }
    }
}

fn run(len: usize) -> (Split, Vec<u8>) {
    let input: Vec<u8> = (0..len).map(|i| (i * 31 + i / 997) as u8).collect();
    let mut s = Split::new(len);
    let mut now = Instant::ZERO;
    let mut written = 0;
    let mut output = Vec::new();
    let step = Duration::from_micros(50);
    for _ in 0..2_000_000 {
        while written < len {
            let end = (written + CHUNK as usize).min(len);
            match s.sender.write(SharedBytes::from(input[written..end].to_vec())) {
                Ok(_) => written = end,
                Err(_) => break,
            }
        }
        if written == len {
            s.sender.finish();
        }
        for (p, b) in s.sender_out(now) {
            s.route_to_receiver(now, p, b);
        }
        while let Some(b) = s.receiver.poll_deliver() {
            output.extend_from_slice(b.as_ref());
        }
        s.receiver.set_written(output.len() as u64);
        for (p, b) in s.receiver_out(now) {
            s.route_to_sender(now, p, b);
        }
        if s.sender.is_finished() {
            break;
        }
        now += step;
    }
    (s, input)
}

#[test]
fn detached_paths_carry_the_data_and_control_stays_home() {
    let len = 3 * 1000 * 1000 + 17;
    let (mut s, input) = run(len);
    assert_eq!(s.sender.state(), SenderState::Done, "sender: {:?}", s.sender.state());
    assert_eq!(s.receiver.state(), ReceiverState::Complete);
    // HELLO and FIN went out on the paths the owner kept.
    assert!(!s.control_paths.is_empty());
    assert!(s.control_paths.iter().all(|&p| !remote_tx(p)), "{:?}", s.control_paths);
    // Detached paths carried their share.
    for p in &s.tx_paths {
        assert!(p.stats().packets > 100, "path {} sent {}", p.id(), p.stats().packets);
    }
    for p in &s.rx_paths {
        assert!(p.stats().packets > 100, "rx path {} got {}", p.id(), p.stats().packets);
    }
    let sent_local = s.sender.stats().paths.packets;
    for p in std::mem::take(&mut s.tx_paths) {
        s.sender.attach_path(p);
    }
    for p in std::mem::take(&mut s.rx_paths) {
        s.receiver.attach_path(p);
    }
    assert!(s.sender.stats().paths.packets > sent_local, "attached paths count in the stats");
    assert!((0..PATHS as usize).all(|p| s.sender.is_local(p) && s.receiver.is_local(p)));
    let _ = input;
}

#[test]
fn output_is_the_input() {
    let len = 200_000 + 3;
    let input: Vec<u8> = (0..len).map(|i| (i * 31 + i / 997) as u8).collect();
    let mut s = Split::new(len);
    let mut now = Instant::ZERO;
    let mut written = 0;
    let mut output = Vec::new();
    for _ in 0..1_000_000 {
        while written < len {
            let end = (written + CHUNK as usize).min(len);
            match s.sender.write(SharedBytes::from(input[written..end].to_vec())) {
                Ok(_) => written = end,
                Err(_) => break,
            }
        }
        if written == len {
            s.sender.finish();
        }
        let out = s.sender_out(now);
        // Lose every 13th DATA packet so resends cross between the lcores'
        // paths through the shared resend queue.
        for (i, (p, b)) in out.into_iter().enumerate() {
            if i % 13 != 12 {
                s.route_to_receiver(now, p, b);
            }
        }
        while let Some(b) = s.receiver.poll_deliver() {
            output.extend_from_slice(b.as_ref());
        }
        s.receiver.set_written(output.len() as u64);
        for (p, b) in s.receiver_out(now) {
            s.route_to_sender(now, p, b);
        }
        if s.sender.is_finished() {
            break;
        }
        now += Duration::from_micros(50);
    }
    assert_eq!(s.sender.state(), SenderState::Done);
    assert_eq!(output.len(), input.len());
    assert!(output == input, "bytes differ");
}

#[test]
fn a_detached_paths_ack_at_the_owner_is_dropped_not_applied() {
    // Routing a detached path's ACK to the owner is a driver bug; the owner
    // reports it (UnknownPath) instead of feeding a placeholder path.
    let len = 100_000;
    let mut s = Split::new(len);
    let mut now = Instant::ZERO;
    let data = vec![5u8; len];
    let mut written = 0;
    let mut misrouted = None;
    for _ in 0..10_000 {
        while written < len {
            let end = (written + CHUNK as usize).min(len);
            match s.sender.write(SharedBytes::from(data[written..end].to_vec())) {
                Ok(_) => written = end,
                Err(_) => break,
            }
        }
        for (p, b) in s.sender_out(now) {
            s.route_to_receiver(now, p, b);
        }
        while s.receiver.poll_deliver().is_some() {}
        for (p, b) in s.receiver_out(now) {
            let is_ack = matches!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap().frame, Frame::Ack(_));
            if is_ack && remote_tx(p) && misrouted.is_none() {
                misrouted = Some(s.sender.handle_datagram(now, &b));
            }
            s.route_to_sender(now, p, b);
        }
        if misrouted.is_some() {
            break;
        }
        now += Duration::from_micros(50);
    }
    assert_eq!(misrouted, Some(Err(stripecat_proto::DropReason::UnknownPath)));
}

#[test]
#[should_panic(expected = "already detached")]
fn detaching_twice_is_a_driver_bug() {
    let cfg = SenderConfig { paths: 2, ..Default::default() };
    let mut sender: Sender<SharedBytes> = Sender::new(cfg, 1, Instant::ZERO);
    let _a = sender.detach_path(1);
    let _b = sender.detach_path(1);
}

#[test]
fn the_sender_tells_the_receiver_it_has_the_verdict() {
    let (mut s, _) = run(50_000);
    assert_eq!(s.sender.state(), SenderState::Done);
    assert!(!s.receiver.peer_closed(), "not before the RESET(Closed) arrives");
    let now = Instant::from_micros(10_000_000);
    let out = s.sender_out(now);
    let closed: Vec<_> = out
        .iter()
        .filter(|(_, b)| {
            matches!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap().frame,
            Frame::Reset(r) if r.reason == stripecat_proto::wire::ResetReason::Closed)
        })
        .collect();
    assert_eq!(closed.len(), 1, "one RESET(Closed) after the verdict: {out:?}");
    for (p, b) in out {
        s.route_to_receiver(now, p, b);
    }
    assert!(s.receiver.peer_closed());
    assert_eq!(s.receiver.state(), ReceiverState::Complete, "Closed is not a failure");
    // And nothing more goes out from the sender.
    assert!(s.sender_out(now).is_empty());
}

#[test]
fn closed_before_the_verdict_is_ignored() {
    let mut s = Split::new(1_000_000);
    let mut now = Instant::ZERO;
    // Handshake only.
    for _ in 0..10 {
        for (p, b) in s.sender_out(now) {
            s.route_to_receiver(now, p, b);
        }
        for (p, b) in s.receiver_out(now) {
            s.route_to_sender(now, p, b);
        }
        now += Duration::from_micros(100);
    }
    assert_eq!(s.receiver.state(), ReceiverState::Receiving);
    use stripecat_proto::wire::{Flags, HeaderRepr, PacketType, ResetReason, ResetRepr};
    let session = s.receiver.session_id().unwrap();
    let frame = Frame::Reset(ResetRepr { reason: ResetReason::Closed, offset: 0 });
    let repr = Repr {
        header: HeaderRepr {
            packet_type: PacketType::Reset,
            flags: Flags::empty(),
            path_id: 0,
            session_id: session,
            packet_number: 99,
            offset: 0,
            length: frame.body_len() as u16,
            timestamp: 0,
            timestamp_echo: 0,
        },
        frame,
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut buf, &[]);
    assert_eq!(s.receiver.handle_datagram(now, SharedBytes::from(buf)), Err(stripecat_proto::DropReason::Unexpected));
    assert_eq!(s.receiver.state(), ReceiverState::Receiving);
    assert!(!s.receiver.peer_closed());
}
