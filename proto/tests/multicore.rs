//! The multi-core split with real threads: a reader thread, one thread per sending path,
//! one per receiving path, and a reassembler thread, sharing only `SenderShared` and
//! `ReceiverShared`. Channels stand in for the links (every 61st DATA packet is dropped
//! so resends cross paths). Time is the wall clock in microseconds, as the DPDK loop
//! feeds it. The handshake is done by hand (control is single-owner and tested elsewhere).

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;

use stripecat_proto::config::SenderConfig;
use stripecat_proto::time::Instant;
use stripecat_proto::wire::{Frame, Packet, Repr};
use stripecat_proto::{
    PathReceiver, PathSender, Payload, Piece, PushError, Reassembler, ReceiverShared, SenderShared, SharedBytes,
};

const PATHS: u16 = 3;
const CHUNK: usize = 4096;
const LEN: usize = 4 << 20;
const SESSION: u64 = 99;

fn clock(start: std::time::Instant) -> Instant {
    Instant::from_micros(start.elapsed().as_micros() as u64)
}

#[test]
fn lcores_share_only_the_lock_free_parts() {
    let start = std::time::Instant::now();
    let deadline = std::time::Duration::from_secs(60);
    let input: Vec<u8> = (0..LEN).map(|i| (i * 7 + i / 4099) as u8).collect();
    let input = SharedBytes::from(input);
    let window = 256 * CHUNK as u64;

    let cfg = SenderConfig { paths: PATHS, chunk_size: CHUNK as u16, ..Default::default() };
    let tx_shared: Arc<SenderShared<SharedBytes>> = Arc::new(SenderShared::new(SESSION, CHUNK as u16, 512));
    let rx_shared: Arc<ReceiverShared<SharedBytes>> = Arc::new(ReceiverShared::new(1024));
    rx_shared.serve(SESSION, CHUNK as u64, window, None);
    tx_shared.on_feedback(0, window);
    tx_shared.set_established();

    let mut handles = vec![];
    // Reader: pushes chunks as credit and queue room allow.
    {
        let shared = tx_shared.clone();
        let input = input.clone();
        handles.push(thread::spawn(move || {
            let mut off = 0;
            while off < LEN {
                let c = input.slice(off..(off + CHUNK).min(LEN));
                match shared.push(c) {
                    Ok(o) => {
                        assert_eq!(o, off as u64);
                        off += CHUNK;
                    }
                    Err(PushError::NoCredit(_) | PushError::QueueFull(_)) => thread::yield_now(),
                    Err(e) => panic!("push: {e}"),
                }
                assert!(start.elapsed() < deadline, "reader stuck");
            }
            shared.finish();
        }));
    }
    for p in 0..PATHS {
        let (data_tx, data_rx) = mpsc::channel::<Vec<u8>>();
        let (ack_tx, ack_rx) = mpsc::channel::<Vec<u8>>();
        // Sending lcore for path p.
        let shared = tx_shared.clone();
        let cfg = cfg.clone();
        handles.push(thread::spawn(move || {
            let mut path: PathSender<SharedBytes> = PathSender::new(p, &cfg);
            let mut n = 0u64;
            loop {
                let now = clock(start);
                while let Ok(bytes) = ack_rx.try_recv() {
                    let repr = Repr::parse(&Packet::new_checked(&bytes[..]).unwrap()).unwrap();
                    if let Frame::Ack(a) = &repr.frame {
                        path.handle_ack(now, &repr.header, a, &shared);
                    }
                }
                if path.poll_timeout().is_some_and(|t| t <= now) {
                    path.handle_timeout(now, &shared);
                }
                for _ in 0..32 {
                    let Some(t) = path.poll_transmit(now, &shared) else { break };
                    n += 1;
                    if !n.is_multiple_of(61) || t.payload.is_none() {
                        let _ = data_tx.send(t.to_vec());
                    }
                }
                if shared.end().is_some_and(|e| shared.acked() >= e) {
                    return; // drops this path's channels: the receiving lcore stops too
                }
                assert!(start.elapsed() < deadline, "sending lcore {p} stuck");
                thread::yield_now();
            }
        }));
        // Receiving lcore for path p.
        let shared = rx_shared.clone();
        handles.push(thread::spawn(move || {
            let mut path = PathReceiver::new(p, 16, stripecat_proto::Duration::from_micros(250));
            loop {
                let now = clock(start);
                loop {
                    let bytes = match data_rx.try_recv() {
                        Ok(b) => b,
                        Err(mpsc::TryRecvError::Empty) => break,
                        Err(mpsc::TryRecvError::Disconnected) => return,
                    };
                    let (repr, range) = {
                        let pkt = Packet::new_checked(&bytes[..]).unwrap();
                        (Repr::parse(&pkt).unwrap(), pkt.payload_range())
                    };
                    let payload = SharedBytes::from(bytes).narrow(range);
                    let _ = match repr.frame {
                        Frame::Data => path.handle_chunk(now, &repr.header, Piece::Bytes(payload), &shared),
                        Frame::Ping => path.handle_ping(now, &repr.header),
                        _ => Ok(()),
                    };
                }
                while let Some(t) = path.poll_transmit::<SharedBytes>(now, &shared, SESSION) {
                    let _ = ack_tx.send(t.to_vec());
                }
                assert!(start.elapsed() < deadline, "receiving lcore {p} stuck");
                thread::yield_now();
            }
        }));
    }
    // Reassembler / writer: owns the window, delivers in order, checks the bytes.
    let mut reasm: Reassembler<SharedBytes> = Reassembler::new(CHUNK as u64, window);
    let mut out = 0usize;
    while out < LEN {
        reasm.drain_inbox(&rx_shared);
        while let Some(b) = reasm.poll_deliver(&rx_shared) {
            assert_eq!(b.as_ref(), &input.as_ref()[out..out + b.len()], "bytes differ at offset {out}");
            out += b.len();
        }
        assert!(reasm.held() <= 256, "window bound");
        assert!(start.elapsed() < deadline, "reassembler stuck at {out}");
        thread::yield_now();
    }
    for h in handles {
        h.join().expect("thread panicked");
    }
    assert_eq!(tx_shared.acked(), LEN as u64);
}
