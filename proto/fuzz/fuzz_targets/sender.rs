//! A sender in mid-transfer fed arbitrary packets (ACKs, HELLO-ACKs, FIN-ACKs, RESETs
//! with hostile ranges and offsets), same record format as the receiver target.
#![no_main]
use libfuzzer_sys::fuzz_target;
use stripecat_proto::time::{Duration, Instant};
use stripecat_proto::{Receiver, ReceiverConfig, Sender, SenderConfig, SharedBytes};
use stripecat_proto_fuzz::records;

const SESSION: u64 = 0x0fed_cba9_8765_4321;

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::ZERO;
    let mut tx: Sender<SharedBytes> =
        Sender::new(SenderConfig { paths: 2, chunk_size: 512, ..Default::default() }, SESSION, t0);
    let mut rx: Receiver<SharedBytes> =
        Receiver::new(ReceiverConfig { paths: 2, window: 64 * 1024, ..Default::default() });
    let hello = tx.poll_transmit(t0).unwrap().to_vec();
    rx.handle_datagram(t0, hello.into()).unwrap();
    let ack = rx.poll_transmit(t0).unwrap().to_vec();
    tx.handle_datagram(t0, &ack).unwrap();
    for i in 0..32u8 {
        let _ = tx.write(SharedBytes::from(vec![i; 512]));
    }
    let mut now = t0;
    for record in records(data) {
        let flags = record.flags;
        let pkt = record.packet(SESSION);
        if flags & 4 != 0 {
            now = now + Duration::from_micros(flags as u64 * 997);
        }
        if flags & 8 != 0 {
            tx.finish();
        }
        let _ = tx.handle_datagram(now, &pkt);
        if tx.poll_timeout().is_some_and(|t| t <= now) {
            tx.handle_timeout(now);
        }
        let mut sent = 0;
        while let Some(t) = tx.poll_transmit(now) {
            let _ = t.to_vec();
            sent += 1;
            assert!(sent < 256, "unbounded output");
        }
    }
});
