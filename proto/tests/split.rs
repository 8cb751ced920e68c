//! The control owners (`Sender`, `Receiver`) with some paths split off to a second
//! lane ("another lcore"), driven in one thread on virtual time the way the DPDK data
//! plane drives them across lcores: every datagram is parsed once (`Incoming`) and
//! routed by the protocol's own rule (`sender_route`, `receiver_route`); a full
//! session (HELLO, data, FIN) where the split-off paths carry data and ACKs, control
//! frames stay on the paths the owners kept, and the stats are whole once the lanes
//! are joined again.

use stripecat_proto::config::{ReceiverConfig, SenderConfig};
use stripecat_proto::time::{Duration, Instant};
use stripecat_proto::wire::{Frame, Packet, Repr};
use stripecat_proto::{
    Incoming, Receiver, ReceiverLane, ReceiverState, Route, Sender, SenderLane, SenderState, SharedBytes,
};

const PATHS: u16 = 4;
const CHUNK: u16 = 1000;

struct Split {
    sender: Sender<SharedBytes>,
    receiver: Receiver<SharedBytes>,
    /// The sender's second lane (odd path ids).
    tx_lane: SenderLane<SharedBytes>,
    /// The receiver's second lane (ids 2 and 3: a different split from the
    /// sender's, as two hosts with different lcore counts have).
    rx_lane: ReceiverLane<SharedBytes>,
    control_paths: Vec<u16>,
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
        let tx_lane = sender.split_lane(remote_tx);
        let mut receiver = Receiver::new(ReceiverConfig { paths: PATHS, ..Default::default() });
        let rx_lane = receiver.split_lane(remote_rx);
        Split { sender, receiver, tx_lane, rx_lane, control_paths: Vec::new() }
    }

    /// Everything the sender side emits at `now`, as (path, bytes).
    fn sender_out(&mut self, now: Instant) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        if self.sender.poll_timeout().is_some_and(|t| t <= now) {
            self.sender.handle_timeout(now);
        }
        while let Some(t) = self.sender.poll_transmit(now) {
            assert!(self.sender.is_local(t.path as usize), "the owner sent on split-off path {}", t.path);
            if t.payload.is_none() && !matches!(t.repr.frame, Frame::Ping) {
                self.control_paths.push(t.path);
            }
            out.push((t.path, t.to_vec()));
        }
        if self.tx_lane.poll_timeout().is_some_and(|t| t <= now) {
            self.tx_lane.handle_timeout(now);
        }
        while let Some(t) = self.tx_lane.poll_transmit(now) {
            assert!(remote_tx(t.path), "the second lane sent on path {}", t.path);
            out.push((t.path, t.to_vec()));
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
        while let Some(t) = self.rx_lane.poll_transmit(now) {
            out.push((t.path, t.to_vec()));
        }
        out
    }

    /// Routes a datagram to the receiver side as the data plane does: parsed once,
    /// to the lane that drives its path or to the owner.
    fn route_to_receiver(&mut self, now: Instant, _path: u16, bytes: Vec<u8>) {
        let incoming = Incoming::parse(&bytes).expect("the simulator sends valid packets");
        let _ = match incoming.receiver_route() {
            Route::Path(p) if remote_rx(p) => self.rx_lane.handle_incoming(now, &incoming, SharedBytes::from(bytes)),
            _ => self.receiver.handle_incoming(now, &incoming, SharedBytes::from(bytes)),
        };
    }

    fn route_to_sender(&mut self, now: Instant, _path: u16, bytes: Vec<u8>) {
        let incoming = Incoming::parse(&bytes).expect("the simulator sends valid packets");
        let _ = match incoming.sender_route() {
            Route::Path(p) if remote_tx(p) => self.tx_lane.handle_incoming(now, &incoming),
            _ => self.sender.handle_incoming(now, &incoming),
        };
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
fn split_off_paths_carry_the_data_and_control_stays_home() {
    let len = 3 * 1000 * 1000 + 17;
    let (mut s, input) = run(len);
    assert_eq!(s.sender.state(), SenderState::Done, "sender: {:?}", s.sender.state());
    assert_eq!(s.receiver.state(), ReceiverState::Complete);
    // HELLO and FIN went out on the paths the owner kept.
    assert!(!s.control_paths.is_empty());
    assert!(s.control_paths.iter().all(|&p| !remote_tx(p)), "{:?}", s.control_paths);
    // Split-off paths carried their share.
    for p in s.tx_lane.paths() {
        assert!(p.stats().packets > 100, "path {} sent {}", p.id(), p.stats().packets);
    }
    for p in s.rx_lane.paths() {
        assert!(p.stats().packets > 100, "rx path {} got {}", p.id(), p.stats().packets);
    }
    let sent_local = s.sender.stats().paths.packets;
    let tx_lane = s.sender.split_lane(|_| false);
    s.sender.join_lane(std::mem::replace(&mut s.tx_lane, tx_lane));
    let rx_lane = s.receiver.split_lane(|_| false);
    s.receiver.join_lane(std::mem::replace(&mut s.rx_lane, rx_lane));
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
fn a_split_off_paths_ack_at_the_owner_is_dropped_not_applied() {
    // Routing a split-off path's ACK to the owner is a driver bug; the owner
    // reports it (UnknownPath) instead of feeding a path it does not drive.
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
fn a_path_belongs_to_one_lane_only() {
    let cfg = SenderConfig { paths: 4, ..Default::default() };
    let mut sender: Sender<SharedBytes> = Sender::new(cfg, 1, Instant::ZERO);
    let a = sender.split_lane(|p| p == 1);
    let b = sender.split_lane(|p| p == 1 || p == 2);
    assert!(a.drives(1) && !b.drives(1), "path 1 went to the first lane");
    assert!(b.drives(2) && !sender.is_local(1) && !sender.is_local(2) && sender.is_local(0));
    sender.join_lane(a);
    sender.join_lane(b);
    assert!((0..4).all(|p| sender.is_local(p)));
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
