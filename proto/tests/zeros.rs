//! ZEROS records: all-zero chunks carried as their length (HELLO option `OPT_ZEROS`),
//! through the simulator with loss, against a receiver that does not take them, and
//! hostile records (too long, past the end, off a chunk boundary, unasked for).

use stripecat_proto::sim::{Direction, LinkConfig, Report, Scenario, Sim};
use stripecat_proto::time::{Duration, Instant};
use stripecat_proto::wire::{Flags, Frame, HeaderRepr, PacketType, Repr, ZerosRepr};
use stripecat_proto::{DropReason, ReceiverState, SenderState};

const MB: u64 = 1 << 20;
const CHUNK: u64 = 4096;

fn link() -> LinkConfig {
    LinkConfig::clean(1000, Duration::from_micros(500), 1)
}

/// 4 MiB with zero runs at the start, in the middle (not on chunk boundaries) and at the
/// end: 3 MiB of the 4 are zeros.
fn sparse(seed: u64) -> Scenario {
    let mut sc = Scenario::new(seed, 2, link(), 4 * MB + 100);
    sc.zero_runs = vec![(0, MB), (MB + 1000, 2 * MB + 1000), (3 * MB, 4 * MB + 100)];
    sc
}

fn run(sc: &Scenario) -> Report {
    let r = sc.build().run();
    println!("{}", r.summary());
    r
}

#[test]
fn zero_chunks_go_as_records_and_the_stream_is_intact() {
    let r = run(&sparse(1));
    r.assert_intact();
    // Every whole zero chunk (and the short zero tail) is a record: 3 MiB of zeros
    // minus the two partial chunks of the middle run.
    let records = r.sender.paths.zero_records;
    assert!(records >= 3 * MB / CHUNK - 2, "seed 1: {records} zero records: {}", r.summary());
    let wire: u64 = r.forward.iter().map(|l| l.offered_bytes).sum();
    assert!(wire < 2 * MB, "seed 1: {wire} bytes on the wire for 1 MiB of data: {}", r.summary());
}

#[test]
fn zero_records_survive_loss() {
    let mut sc = sparse(2);
    for l in &mut sc.forward {
        l.loss = 0.02;
    }
    let r = run(&sc);
    r.assert_intact();
    assert!(r.sender.paths.resends > 0, "seed 2: no loss happened: {}", r.summary());
    assert!(r.sender.paths.zero_records >= 3 * MB / CHUNK - 2, "seed 2: {}", r.summary());
}

#[test]
fn without_the_option_on_either_end_zeros_go_as_data() {
    for (tx, rx) in [(false, true), (true, false)] {
        let mut sc = sparse(3);
        sc.sender.zeros = tx;
        sc.receiver.zeros = rx;
        let r = run(&sc);
        r.assert_intact();
        assert_eq!(r.sender.paths.zero_records, 0, "seed 3 (sender {tx}, receiver {rx})");
        let wire: u64 = r.forward.iter().map(|l| l.offered_bytes).sum();
        assert!(wire > 4 * MB, "seed 3: {wire}");
    }
}

/// A ZEROS record of the running session on path 0 with a packet number the sender
/// will not reach.
fn zeros_packet(sim: &Sim, pn: u64, offset: u64, len: u32) -> Vec<u8> {
    let header = HeaderRepr {
        packet_type: PacketType::Zeros,
        flags: Flags::empty(),
        path_id: 0,
        session_id: sim.receiver.session_id().expect("a session"),
        packet_number: pn,
        offset,
        length: ZerosRepr::BODY_LEN as u16,
        timestamp: 0,
        timestamp_echo: 0,
    };
    let repr = Repr { header, frame: Frame::Zeros(ZerosRepr { len }) };
    let mut b = vec![0u8; repr.buffer_len()];
    repr.emit(&mut b, &[]);
    b
}

#[test]
fn hostile_zero_records_are_dropped_as_bad_chunks() {
    let mut sc = Scenario::new(4, 2, link(), 2 * MB + 10);
    sc.sender.total_len = Some(2 * MB + 10);
    let mut sim = sc.build();
    sim.run_until(Instant::from_millis(50), |s| s.receiver.session_id().is_some());
    let far = 1 << 40;
    // Longer than a chunk, far longer than any chunk, off a chunk boundary, past the
    // announced end, and a chunk that would overrun the end.
    let bad = [(0, CHUNK as u32 + 1), (0, u32::MAX), (CHUNK + 1, 16), (4 * MB, 16), (2 * MB, CHUNK as u32)];
    for (i, (offset, len)) in bad.into_iter().enumerate() {
        let p = zeros_packet(&sim, far + i as u64, offset, len);
        sim.inject(Direction::Forward, 0, p);
    }
    // A body of the wrong shape.
    let mut short = zeros_packet(&sim, far + 10, 0, 16);
    short.truncate(short.len() - 1);
    sim.inject(Direction::Forward, 0, short);
    let r = sim.run();
    println!("{}", r.summary());
    r.assert_intact();
    assert_eq!(r.receiver.drops.get(DropReason::BadChunk), 5, "seed 4: {}", r.summary());
    assert!(r.receiver.drops.get(DropReason::Truncated) + r.receiver.drops.get(DropReason::Malformed) >= 1);
}

#[test]
fn zero_records_in_a_session_that_did_not_take_them_are_unexpected() {
    let mut sc = Scenario::new(5, 2, link(), 2 * MB);
    sc.receiver.zeros = false;
    let mut sim = sc.build();
    sim.run_until(Instant::from_millis(50), |s| s.receiver.session_id().is_some());
    let p = zeros_packet(&sim, 1 << 40, 0, CHUNK as u32);
    sim.inject(Direction::Forward, 0, p);
    let r = sim.run();
    r.assert_intact();
    assert_eq!(r.sender_state, SenderState::Done);
    assert_eq!(r.receiver_state, ReceiverState::Complete);
    assert_eq!(r.receiver.drops.get(DropReason::Unexpected), 1, "seed 5: {}", r.summary());
}
