//! Resume (`OPT_RESUME`): a receiver whose output holds the stream's prefix gets only the
//! rest, through the simulator with loss and with keys; a prefix that differs, or a
//! sender that does not resume, ends both ends before a byte is delivered.

use stripecat_proto::sim::{LinkConfig, Report, Scenario};
use stripecat_proto::time::Duration;
use stripecat_proto::wire::{DigestAlgorithm, ResetReason};
use stripecat_proto::{Psk, ReceiverError, ReceiverState, SenderError, SenderState};

const MB: u64 = 1 << 20;

fn scenario(seed: u64) -> Scenario {
    Scenario::new(seed, 2, LinkConfig::clean(1000, Duration::from_micros(500), 1), 4 * MB + 123)
}

fn run(sc: &Scenario) -> Report {
    let r = sc.build().run();
    println!("{}", r.summary());
    r
}

#[test]
fn a_resumed_stream_sends_only_the_rest_and_verifies_the_whole() {
    for (seed, held, alg) in [
        (1, MB + 7, DigestAlgorithm::Xxh3_128),
        (2, 3 * MB, DigestAlgorithm::Blake3),
        (3, 0, DigestAlgorithm::Xxh3_128),
        (4, 4 * MB + 123, DigestAlgorithm::None),
    ] {
        let mut sc = scenario(seed).resume_after(held);
        sc.sender.digest = alg;
        let mut sim = sc.build();
        while sim.step() && !sim.is_done() {}
        let r = sim.report();
        r.assert_intact();
        assert_eq!(sim.sender.resumed_from(), Some(held), "seed {seed}");
        assert_eq!(sim.receiver.resumed_from(), Some(held), "seed {seed}");
        // Only the rest crossed: the receiver delivered the stream's length less the prefix.
        assert_eq!(r.receiver.delivered, 4 * MB + 123 - held, "seed {seed}: {}", r.summary());
        // Fresh DATA packets: the rest's chunks (and a few probes), not the whole stream's.
        let fresh = r.sender.paths.packets - r.sender.paths.resends;
        let chunks = (4 * MB + 123 - held).div_ceil(4096);
        assert!(fresh <= chunks + 16, "seed {seed}: {fresh} fresh packets for {chunks} chunks: {}", r.summary());
    }
}

#[test]
fn resume_survives_loss_and_keys() {
    let mut sc = scenario(5).resume_after(2 * MB + 1);
    for l in &mut sc.forward {
        l.loss = 0.02;
    }
    let psk = Psk::from_bytes([7; 32]);
    sc.sender.key = Some(psk.clone());
    sc.receiver.key = Some(psk);
    let r = run(&sc);
    r.assert_intact();
    assert!(r.sender.paths.resends > 0, "seed 5: no loss happened: {}", r.summary());
    assert_eq!(r.receiver.delivered, 4 * MB + 123 - (2 * MB + 1));
}

#[test]
fn a_prefix_that_differs_fails_both_ends_before_any_delivery() {
    // One byte changed in the middle of what the receiver holds; then a receiver holding
    // more than the whole input.
    let mut changed = scenario(6).resume_after(MB);
    changed.held.as_mut().unwrap()[MB as usize / 2] ^= 1;
    let mut longer = scenario(7).resume_after(4 * MB + 123);
    longer.held.as_mut().unwrap().extend_from_slice(b"tail");
    for (seed, sc, input) in [(6, changed, None), (7, longer, Some(4 * MB + 123))] {
        let r = run(&sc);
        let held = sc.held.as_ref().unwrap().len() as u64;
        assert_eq!(r.sender_state, SenderState::Failed(SenderError::ResumeMismatch { held, input }), "seed {seed}");
        assert!(
            matches!(
                r.receiver_state,
                ReceiverState::Failed(ReceiverError::PeerReset { reason: ResetReason::ResumeMismatch, .. })
            ),
            "seed {seed}: {:?}",
            r.receiver_state
        );
        assert_eq!(r.receiver.delivered, 0, "seed {seed}");
    }
}

#[test]
fn a_receiver_holding_bytes_refuses_a_sender_that_does_not_resume() {
    let mut sc = scenario(8).resume_after(MB);
    sc.sender.resume = false;
    let r = run(&sc);
    assert_eq!(r.sender_state, SenderState::Failed(SenderError::ResumeRequired));
    assert_eq!(r.receiver_state, ReceiverState::Failed(ReceiverError::ResumeRequired { held: MB }));
    assert_eq!(r.receiver.delivered, 0);
    // Holding nothing, it serves any sender, from 0.
    let mut empty = scenario(9).resume_after(0);
    empty.sender.resume = false;
    let r = run(&empty);
    r.assert_intact();
}

#[test]
fn a_sender_that_resumes_against_a_receiver_that_does_not_sends_everything() {
    let mut sc = scenario(10);
    sc.sender.resume = true;
    let mut sim = sc.build();
    while sim.step() && !sim.is_done() {}
    sim.report().assert_intact();
    assert_eq!(sim.sender.resumed_from(), None);
    assert_eq!(sim.receiver.resumed_from(), None);
    assert!(sim.sender.resume_declined());
}

#[test]
fn a_slow_prefix_check_keeps_the_session_alive() {
    // The driver takes 12 s of virtual time to read the prefix (a big image on a slow
    // disk): the sender's keep-alive PINGs hold the receiver's 5 s idle timeout off.
    let sc = scenario(11).resume_after(2 * MB);
    let mut sim = sc.build();
    sim.hold_resume_check = Some(Duration::from_secs(12));
    while sim.step() && !sim.is_done() {}
    let r = sim.report();
    r.assert_intact();
    assert!(r.ended_at.total_micros() > 12_000_000, "the check did not wait: {}", r.summary());
}

#[test]
fn a_resume_point_the_sender_did_not_ask_for_or_in_another_digest_is_dropped() {
    use stripecat_proto::wire::{Flags, Frame, HeaderRepr, HelloAckRepr, HelloRepr, PacketType, Repr, ResumeRepr};
    use stripecat_proto::{DropReason, Sender, SenderConfig, SharedBytes};
    let answer = |session: u64, alg: DigestAlgorithm| {
        let ack = HelloAckRepr {
            reject: None,
            options: HelloRepr::OPT_RESUME,
            chunk_size: 0,
            window: 1 << 20,
            resume: Some(ResumeRepr { len: 4096, algorithm: alg, digest: [7; 32] }),
            handshake: None,
        };
        let header = HeaderRepr {
            packet_type: PacketType::HelloAck,
            flags: Flags::empty(),
            path_id: 0,
            session_id: session,
            packet_number: 1,
            offset: 0,
            length: ack.body_len() as u16,
            timestamp: 0,
            timestamp_echo: 0,
        };
        let repr = Repr { header, frame: Frame::HelloAck(Box::new(ack)) };
        let mut b = vec![0u8; repr.buffer_len()];
        repr.emit(&mut b, &[]);
        b
    };
    let now = stripecat_proto::Instant::ZERO;
    for (resume, alg) in [(false, DigestAlgorithm::Xxh3_128), (true, DigestAlgorithm::Blake3)] {
        let config = SenderConfig { resume, digest: DigestAlgorithm::Xxh3_128, ..SenderConfig::default() };
        let mut tx: Sender<SharedBytes> = Sender::new(config, 99, now);
        while tx.poll_transmit(now).is_some() {}
        assert_eq!(tx.handle_datagram(now, &answer(99, alg)), Err(DropReason::Unexpected), "resume {resume}, {alg:?}");
        assert_eq!(tx.resume_point(), None);
        assert_eq!(tx.state(), SenderState::Handshake);
    }
    // The point it asked for, in its digest: pending until the driver checks it.
    let config = SenderConfig { resume: true, ..SenderConfig::default() };
    let mut tx: Sender<SharedBytes> = Sender::new(config, 99, now);
    while tx.poll_transmit(now).is_some() {}
    assert_eq!(tx.handle_datagram(now, &answer(99, DigestAlgorithm::Xxh3_128)), Ok(()));
    assert_eq!(tx.resume_point().map(|p| p.len), Some(4096));
}
