//! A resuming sender in its handshake fed arbitrary packets (HELLO-ACKs with hostile
//! resume points, lengths and digests above all), then checked against prefixes of any
//! length and digest; and a resuming receiver fed arbitrary packets. Never panics, never
//! sends without bound, and never takes data before the prefix check.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stripecat_proto::digest::PrefixDigest;
use stripecat_proto::time::{Duration, Instant};
use stripecat_proto::wire::DigestAlgorithm;
use stripecat_proto::{PushError, Receiver, ReceiverConfig, Sender, SenderConfig, SharedBytes, StreamDigest};
use stripecat_proto_fuzz::records;

const SESSION: u64 = 0x0fed_cba9_8765_4321;

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::ZERO;
    let config = SenderConfig { paths: 2, chunk_size: 512, resume: true, ..Default::default() };
    let mut tx: Sender<SharedBytes> = Sender::new(config, SESSION, t0);
    let mut held = PrefixDigest::default();
    held.update(data.get(..64).unwrap_or(data));
    let mut rx: Receiver<SharedBytes> =
        Receiver::new(ReceiverConfig { paths: 2, window: 64 * 1024, resume: Some(held), ..Default::default() });
    while tx.poll_transmit(t0).is_some() {}
    let mut now = t0;
    for record in records(data) {
        let (flags, rest) = (record.flags, record.rest);
        let pkt = record.packet(SESSION);
        if flags & 4 != 0 {
            now = now + Duration::from_micros(flags as u64 * 997);
        }
        let _ = tx.handle_datagram(now, &pkt);
        let _ = rx.handle_datagram(now, SharedBytes::from(pkt));
        if let Some(point) = tx.resume_point() {
            // Data waits for the check.
            assert!(matches!(tx.write(SharedBytes::from(vec![1u8; 512])), Err(PushError::QueueFull(_))));
            if flags & 16 != 0 {
                let mut d = StreamDigest::new(if flags & 32 != 0 { DigestAlgorithm::Blake3 } else { point.algorithm });
                d.update(&rest[..rest.len().min(16)]);
                let read = if flags & 64 != 0 { point.len } else { point.len / 2 };
                tx.resume_with(d, read);
            }
        }
        for (t, r) in [(tx.poll_timeout(), false), (rx.poll_timeout(), true)] {
            if t.is_some_and(|t| t <= now) {
                if r {
                    rx.handle_timeout(now);
                } else {
                    tx.handle_timeout(now);
                }
            }
        }
        let mut sent = 0;
        while let Some(t) = tx.poll_transmit(now) {
            let _ = t.to_vec();
            sent += 1;
            assert!(sent < 256, "unbounded output");
        }
        while let Some(t) = rx.poll_transmit(now) {
            let _ = t.to_vec();
            sent += 1;
            assert!(sent < 512, "unbounded output");
        }
        while rx.poll_deliver().is_some() {}
    }
});
