//! A keyed receiver and a keyed sender fed arbitrary datagrams, after a real handshake:
//! hostile HELLOs (with and without a handshake message), sealed packets with forged or
//! mangled headers, tags and bodies, and mutations of the session's own sealed packets.
//! The input is a sequence of `[len_hi, len_lo, flags, bytes...]` records; flag bit 0
//! takes the next genuine sealed packet and XORs the record's bytes into it, bit 1 sends
//! the record to the sender instead, bit 2 advances time. Must never panic, never deliver
//! a byte that was not sent, and never serve a session that did not authenticate.
#![no_main]
use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use stripecat_proto::time::{Duration, Instant};
use stripecat_proto::wire::Check;
use stripecat_proto::{Incoming, Psk, Receiver, ReceiverConfig, Sender, SenderConfig, SharedBytes};
use stripecat_proto_fuzz::{records, Record};

const SESSION: u64 = 0x1234_5678_9abc_def0;

fuzz_target!(|data: &[u8]| {
    let key = || Some(Psk::from_bytes([7; 32]));
    let rc = ReceiverConfig { paths: 4, window: 64 * 1024, inbox_chunks: 64, key: key(), ..Default::default() };
    let mut rx: Receiver<SharedBytes> = Receiver::new(rc);
    let sc = SenderConfig { paths: 4, chunk_size: 1024, key: key(), key_epoch_log2: Some(4), ..Default::default() };
    let mut tx: Sender<SharedBytes> = Sender::new(sc, SESSION, Instant::ZERO);
    let mut now = Instant::ZERO;
    let input: Vec<u8> = (0..8192u32).map(|i| (i * 7) as u8).collect();
    let _ = tx.write(SharedBytes::new(Arc::from(&input[..1024])));
    let mut genuine: Vec<Vec<u8>> = Vec::new();
    let mut out = Vec::new();
    let step = |rx: &mut Receiver<SharedBytes>, tx: &mut Sender<SharedBytes>, now, genuine: &mut Vec<Vec<u8>>| {
        while let Some(t) = tx.poll_transmit(now) {
            if let Some(mut v) = t.to_vec_keyed(tx.shared().keyring()) {
                genuine.push(v.clone());
                if let Ok(inc) = Incoming::open(&mut v, Check::Crc32c, rx.shared().keyring()) {
                    let _ = rx.handle_incoming(now, &inc, SharedBytes::new(Arc::from(v)));
                }
            }
        }
        while let Some(t) = rx.poll_transmit(now) {
            if let Some(v) = t.to_vec_keyed(rx.shared().keyring()) {
                let _ = tx.handle_datagram(now, &v);
            }
        }
    };
    step(&mut rx, &mut tx, now, &mut genuine);
    step(&mut rx, &mut tx, now, &mut genuine);
    for Record { flags, bytes: record, .. } in records(data) {
        let len = record.len();
        let mut pkt = if flags & 1 != 0 && !genuine.is_empty() {
            let mut g = genuine[(len + flags as usize) % genuine.len()].clone();
            for (b, x) in g.iter_mut().zip(record) {
                *b ^= x;
            }
            g
        } else {
            record.to_vec()
        };
        if flags & 4 != 0 {
            now += Duration::from_micros(flags as u64 * 1000);
        }
        if flags & 2 != 0 {
            let _ = tx.handle_datagram(now, &pkt);
        } else if let Ok(inc) = Incoming::open(&mut pkt, Check::Crc32c, rx.shared().keyring()) {
            let _ = rx.handle_incoming(now, &inc, SharedBytes::new(Arc::from(pkt)));
        }
        while let Some(c) = rx.poll_deliver() {
            out.extend_from_slice(c.as_ref());
        }
        assert!(input.starts_with(&out), "delivered bytes that were not sent");
        if let Some(s) = rx.session_id() {
            assert_eq!(s, SESSION, "served a session that did not authenticate");
        }
        step(&mut rx, &mut tx, now, &mut genuine);
        if rx.poll_timeout().is_some_and(|t| t <= now) {
            rx.handle_timeout(now);
        }
        if tx.poll_timeout().is_some_and(|t| t <= now) {
            tx.handle_timeout(now);
        }
    }
});
