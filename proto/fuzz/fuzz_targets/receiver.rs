//! A receiver fed arbitrary packets after a valid HELLO. The input is a sequence of
//! `[len_hi, len_lo, flags, bytes...]` records; flag bit 0 fixes up the CRC (so the
//! fuzzer reaches the logic behind the checksum), bit 1 forces the session id, bit 2
//! advances time. Must never panic, and memory stays bounded by the window.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stripecat_proto::time::{Duration, Instant};
use stripecat_proto::{Receiver, ReceiverConfig, Sender, SenderConfig, SharedBytes};
use stripecat_proto_fuzz::records;

const SESSION: u64 = 0x1234_5678_9abc_def0;

fuzz_target!(|data: &[u8]| {
    let rc = ReceiverConfig { paths: 4, window: 64 * 1024, inbox_chunks: 64, ..Default::default() };
    let mut rx: Receiver<SharedBytes> = Receiver::new(rc);
    let mut tx: Sender<SharedBytes> =
        Sender::new(SenderConfig { paths: 4, chunk_size: 1024, ..Default::default() }, SESSION, Instant::ZERO);
    let hello = tx.poll_transmit(Instant::ZERO).unwrap().to_vec();
    rx.handle_datagram(Instant::ZERO, hello.into()).unwrap();
    let mut now = Instant::ZERO;
    for record in records(data) {
        let flags = record.flags;
        let pkt = record.packet(SESSION);
        if flags & 4 != 0 {
            now = now + Duration::from_micros(flags as u64 * 1000);
        }
        let _ = rx.handle_datagram(now, pkt.into());
        if rx.poll_timeout().is_some_and(|t| t <= now) {
            rx.handle_timeout(now);
        }
        while rx.poll_deliver().is_some() {}
        let mut sent = 0;
        while let Some(t) = rx.poll_transmit(now) {
            let _ = t.to_vec();
            sent += 1;
            assert!(sent < 64, "unbounded output");
        }
        assert!(rx.held() <= 64, "window bound broken");
    }
});
